"""Blob store: object bytes in files under <data>/blobs, named by random ids (never by keys).

A blob may be longer than its object: bytes past the committed size belong to an append that was
never acknowledged (crash, bad MD5, lost connection). Readers are always bounded by the size the
metadata store committed, so those bytes are never visible, and the next append overwrites them.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Optional

from .errors import DataShorterThanRecorded


class BlobStore:
    APPEND_FDS = 256  # appendable blobs kept open between appends (an open+close per append is ~7% of its CPU)

    def __init__(self, root: str):
        self.root = os.path.join(root, "blobs")
        os.makedirs(self.root, exist_ok=True)
        self._made_dirs: set[str] = set()
        self._append_fds: OrderedDict[str, int] = OrderedDict()

    def append_fd(self, blob: str, new: bool) -> int:
        """A cached read-write fd for appending to `blob` (created when `new`). The caller holds
        the object's lock and must not close it; delete() and close() do."""
        fd = self._append_fds.get(blob)
        if fd is not None:
            self._append_fds.move_to_end(blob)
            return fd
        fd = self.create(blob) if new else self.open_write(blob, create=True)
        self._append_fds[blob] = fd
        if len(self._append_fds) > self.APPEND_FDS:
            _old, old_fd = self._append_fds.popitem(last=False)
            os.close(old_fd)
        return fd

    def close(self) -> None:
        while self._append_fds:
            os.close(self._append_fds.popitem()[1])

    def path(self, blob: str) -> str:
        return os.path.join(self.root, blob[:2], blob[2:4], blob)

    def _dir(self, blob: str) -> str:
        d = os.path.join(self.root, blob[:2], blob[2:4])
        if d not in self._made_dirs:
            os.makedirs(d, exist_ok=True)
            self._made_dirs.add(d)
        return d

    def create(self, blob: str) -> int:
        """Open a new, empty blob for writing (fails if it exists)."""
        self._dir(blob)
        return os.open(self.path(blob), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def open_write(self, blob: str, create: bool = False) -> int:
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        if create:
            self._dir(blob)
        return os.open(self.path(blob), flags, 0o600)

    def open_read(self, blob: str) -> int:
        return os.open(self.path(blob), os.O_RDONLY | os.O_CLOEXEC)

    def sync_dir(self, blob: str) -> None:
        """Make a new blob's directory entry durable."""
        fd = os.open(self._dir(blob), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, blob: str) -> None:
        fd = self._append_fds.pop(blob, None)
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(self.path(blob))
        except FileNotFoundError:
            pass

    def exists(self, blob: str) -> bool:
        return os.path.exists(self.path(blob))

    def all_blob_ids(self):
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                yield name, os.path.join(dirpath, name)


class BlobReader:
    """The bytes of one committed object version, opened consistently with its record. The
    storage layer hands this out instead of a file descriptor: the caller streams a range with
    `stream` (which closes the reader when it ends) or, when it answers without a body, `close`s
    it. Blobs never change below a committed size, so the record and the bytes agree."""
    __slots__ = ("_fd",)

    def __init__(self, fd: int):
        self._fd = fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def sendable(self, end: int) -> Optional[int]:
        """The open file, for a caller that sends bytes of it as stored (no `dkey`) by itself, or
        None when the file is shorter than `end` (then `stream` raises DataShorterThanRecorded
        before the first byte). The caller closes the reader."""
        return self._fd if self._fd >= 0 and os.fstat(self._fd).st_size >= end else None

    async def stream(self, start: int, end: int, dkey=None, chunk: int = 1024 * 1024):
        """Bytes [start, end), decrypted with `dkey` (an sse.DataKey) when the object is encrypted.
        Never reads past `end`; closes the reader when done or abandoned."""
        try:
            stream = None
            if dkey is not None:
                stream = dkey.stream(start)
                chunk = min(chunk, stream.max_chunk)
            pos = start
            while pos < end:
                data = os.pread(self._fd, min(chunk, end - pos), pos)
                if not data:
                    raise DataShorterThanRecorded("object")
                pos += len(data)
                yield stream.apply(data) if stream is not None else data
        finally:
            self.close()
