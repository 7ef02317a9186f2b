"""Run a real `ossbox server` subprocess on 127.0.0.1 and a free port, for tests and benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

ACCESS_KEY_ID = "LTAItestAccessKeyId0001"
ACCESS_KEY_SECRET = "testAccessKeySecret0000000001"


class ServerProcess:
    def __init__(self, data_dir: str, *, port: int = 0, extra_args=(), env=None):
        self.data_dir = data_dir
        self.port = port
        self.extra_args = list(extra_args)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.endpoint = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        cmd = [sys.executable, "-m", "ossbox", "server", "--host", "127.0.0.1", "--port", str(self.port),
               "--data-dir", self.data_dir, "--access-key-id", ACCESS_KEY_ID,
               "--access-key-secret", ACCESS_KEY_SECRET, *self.extra_args]
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("ossbox listening on "):
                self.endpoint = line.split()[-1].strip()
                self.port = int(self.endpoint.rsplit(":", 1)[1])
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.kill()
        raise RuntimeError("ossbox server did not start:\n" + "".join(self.output))

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
