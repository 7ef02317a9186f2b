"""Per-object write locks that hold within one process and across processes sharing a data dir.

Inside a process an asyncio.Lock per object serialises coroutines. Across processes each object
hashes to one byte of <data>/locks, locked with an open-file-description (OFD) lock: the kernel
releases it if the holder dies (kill -9), so a crash never leaves an object locked.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import struct

_SLOTS = 1 << 20  # false sharing between two objects only costs a little waiting


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self):
        self.lock = asyncio.Lock()
        self.users = 0


class ObjectLocks:
    def __init__(self, data_dir: str):
        path = os.path.join(data_dir, "locks")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # Keyed by slot, not by name: two objects sharing a slot must also exclude each other here,
        # since OFD locks taken through one file description never conflict with each other.
        self._local: dict[int, _Entry] = {}

    def close(self) -> None:
        os.close(self._fd)

    def hold(self, bucket: str, key: str) -> "_Held":
        return _Held(self, (bucket, key))

    def _slot(self, name: tuple[str, str]) -> int:
        digest = hashlib.blake2b(f"{name[0]}\0{name[1]}".encode("utf-8", "surrogatepass"),
                                 digest_size=8).digest()
        return int.from_bytes(digest, "little") % _SLOTS

    def _fcntl(self, cmd: int, ltype: int, slot: int) -> bool:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid (must be 0 for OFD locks)
        arg = struct.pack("hhqqi4x", ltype, os.SEEK_SET, slot, 1, 0)
        try:
            fcntl.fcntl(self._fd, cmd, arg)
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise

    async def _acquire(self, name: tuple[str, str]) -> None:
        slot = self._slot(name)
        entry = self._local.get(slot)
        if entry is None:
            entry = self._local[slot] = _Entry()
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:
            self._drop(slot, entry)
            raise
        delay = 0.0002
        try:
            while not self._fcntl(fcntl.F_OFD_SETLK, fcntl.F_WRLCK, slot):
                await asyncio.sleep(delay)  # another process holds it: poll, it is short-lived
                delay = min(delay * 2, 0.01)
        except BaseException:
            entry.lock.release()
            self._drop(slot, entry)
            raise

    def _release(self, name: tuple[str, str]) -> None:
        slot = self._slot(name)
        self._fcntl(fcntl.F_OFD_SETLK, fcntl.F_UNLCK, slot)
        entry = self._local[slot]
        entry.lock.release()
        self._drop(slot, entry)

    def _drop(self, slot: int, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            self._local.pop(slot, None)


class _Held:
    __slots__ = ("locks", "name")

    def __init__(self, locks: ObjectLocks, name: tuple[str, str]):
        self.locks = locks
        self.name = name

    async def __aenter__(self):
        await self.locks._acquire(self.name)
        return self

    async def __aexit__(self, *exc):
        self.locks._release(self.name)
