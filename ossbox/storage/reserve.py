"""Disk space kept back for what must still work on a full disk: start-up and deletes.

On a full disk the data itself is safe, but two things need a few fresh blocks to get out again:
SQLite's start-up (it re-creates the `-shm` wal-index, which it maps into memory and extends one
byte per 4 KiB page, so on 1 KiB-block filesystems a write through the mapping must allocate a
block: with none free the process dies of SIGBUS), and a delete (its metadata commit appends to the
WAL, and the checkpoint that lets the WAL start over may need to grow the database). Without those
blocks no object could ever be deleted to free space.

So the data dir holds `space.reserve`, a preallocated file of `--disk-reserve` bytes:
  * it is released (unlinked) before the metadata store opens on a disk with less than that much
    free, and when a delete hits a full disk (the delete is then retried);
  * while it is released the server is "full": writes that add data are refused at once with
    503 StorageFull, so they cannot eat the freed blocks; reads and deletes go on;
  * it is made again once deletes (or the operator) have freed twice its size, and writes resume.

Several processes may share the data dir: each sees the file (or its absence) within a second.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
import threading
from typing import Optional

from .errors import StorageFull

log = logging.getLogger("ossbox.space")

RESERVE_FILE = "space.reserve"
DEFAULT_RESERVE = 16 * 1024 * 1024
REFRESH_INTERVAL = 1.0
SHM_PREALLOCATE = 128 * 1024    # wal-index for ~16k WAL frames (4 regions of 32 KiB)

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, or SQLITE_FULL from SQLite."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"
    return False


def free_bytes(path: str) -> int:
    """Free space as `df` shows it (Avail). Not f_bfree, even for root: on ext4 that also counts
    the clusters the filesystem keeps for its own metadata, which no file can get."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def preallocate(fd: int, path: str, size: int) -> None:
    """Give every byte of an open file, and of at least its first `size` bytes, a real disk
    block without changing its content (fallocate fills holes only). Used on SQLite's `-shm`, whose
    holes would otherwise be filled through a memory mapping, where a full disk means SIGBUS.
    The caller keeps `fd` open while SQLite has the file open (see SqliteStore.start)."""
    try:
        os.posix_fallocate(fd, 0, max(size, os.fstat(fd).st_size))
    except OSError as exc:
        log.warning("could not preallocate %s: %s", path, exc)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, run by another user
    return True


class SpaceReserve:
    def __init__(self, data_dir: str, size: int = DEFAULT_RESERVE):
        self.dir = data_dir
        self.path = os.path.join(data_dir, RESERVE_FILE)
        self.size = size
        self.full = False          # the reserve is released: writes that add data are refused
        self._lock = threading.Lock()
        # A release (on the event loop) may come while a refresh (in a thread) is looking: the
        # count tells the refresh its view is stale. Both change `full` only under _state, which
        # is never held across I/O.
        self._state = threading.Lock()
        self._releases = 0
        self._task: Optional[asyncio.Task] = None

    # -- lifecycle -------------------------------------------------------------------------------
    def before_open(self) -> None:
        """Called before the metadata store opens: on a nearly full disk, give the blocks back now
        so SQLite's recovery and the first deletes have room."""
        self._remove_stale_temporaries()
        if self.size <= 0:
            return
        if free_bytes(self.dir) < self.size:
            self.release("less than the reserve is free at start-up")
        self.refresh()
        if self.full:
            log.warning("disk nearly full: writes are refused until %d bytes are free "
                        "(--disk-reserve %d); reads and deletes work", 2 * self.size, self.size)

    def start(self) -> None:
        if self.size > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL)
            await asyncio.to_thread(self.refresh)  # re-creating it syncs a file: not on the loop

    def _remove_stale_temporaries(self) -> None:
        """A reserve being made by a process that died (kill -9) before renaming it into place."""
        prefix = RESERVE_FILE + "."
        for name in os.listdir(self.dir):
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid = name[len(prefix):-len(".tmp")]
            if pid.isdigit() and pid.isascii() and not _alive(int(pid)):
                try:
                    os.unlink(os.path.join(self.dir, name))
                except FileNotFoundError:
                    pass

    # -- state -----------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Refuse a write that adds data while the reserve is released."""
        if self.full:
            raise StorageFull()

    def release(self, why: str) -> bool:
        """Give the reserve's blocks back to the filesystem; False if there was none to give."""
        if self.size <= 0:
            return False
        with self._state:
            self._releases += 1
            self.full = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return False
        log.warning("disk full (%s): released the %d-byte reserve; writes are refused until "
                    "%d bytes are free", why, self.size, 2 * self.size)
        return True

    def refresh(self) -> None:
        """Notice a reserve released by another process; re-create it once space is back. Runs in
        worker threads (one at a time) and never raises (an error is logged)."""
        if self.size <= 0:
            return
        with self._lock:
            releases = self._releases
            try:
                held = os.stat(self.path).st_size >= self.size
            except FileNotFoundError:
                held = False
            try:
                if not held and free_bytes(self.dir) >= 2 * self.size:
                    held = self._create()
                    if held and self.full:
                        log.warning("disk space is back: reserve re-created, writes accepted again")
            except OSError:
                log.exception("could not re-create the disk reserve")
            with self._state:
                if self._releases == releases:  # else released meanwhile: full until the next look
                    self.full = not held

    def _create(self) -> bool:
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            return True
        except OSError as exc:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if not is_disk_full(exc):
                raise
            return False
