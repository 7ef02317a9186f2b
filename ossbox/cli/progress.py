"""cp's progress bar: bytes and files of the whole run, drawn on stderr when it is a terminal."""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable

from .display import human


class Cancelled(Exception):
    """Raised from a progress callback to stop a transfer after Ctrl+C."""


class Progress:
    """Aggregate progress of a cp run; drawn on stderr only when enabled (stderr is a TTY)."""

    def __init__(self, total_bytes: int, total_files: int, enabled: bool, stream=None):
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.bytes = 0
        self.files = 0
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.cancelled = False
        self.drawn = False

    def add(self, n: int) -> None:
        if self.cancelled:
            raise Cancelled("interrupted")
        if n <= 0:
            return
        with self.lock:
            self.bytes += n
            self._draw(False)

    def callback(self) -> Callable[[int, int, int], None]:
        """An SDK progress_fn(increment, transferred, total) feeding this bar."""
        return lambda increment, _transferred, _total: self.add(increment)

    def file_done(self) -> None:
        with self.lock:
            self.files += 1
            self._draw(False)

    def rate(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return self.bytes / elapsed

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        total = max(self.total_bytes, 1)
        frac = min(self.bytes / total, 1.0) if self.total_bytes else (1.0 if self.files >= self.total_files else 0.0)
        width = 24
        filled = int(frac * width)
        bar = "#" * filled + "-" * (width - filled)
        line = (f"\r[{bar}] {frac * 100:6.2f}%  {human(self.bytes)}/{human(self.total_bytes)}  "
                f"{human(self.rate())}/s  {self.files}/{self.total_files} files")
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Erase the bar (before a prompt or a message)."""
        if self.enabled and self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False

    def close(self) -> None:
        with self.lock:
            if self.enabled:
                self._draw(True)
                self.stream.write("\n")
                self.stream.flush()
