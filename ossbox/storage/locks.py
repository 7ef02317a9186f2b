"""Per-object write locks that hold within one process and across processes sharing a data dir.

Inside a process an asyncio.Lock per object name serialises coroutines. Across processes each
object maps to one byte of <data>/locks, locked with an open-file-description (OFD) lock: the
kernel releases it if the holder dies (kill -9), so a crash never leaves an object locked.

The byte is chosen by a *keyed* hash (BLAKE2b with a random secret kept in the first bytes of the
locks file) over the whole 63-bit offset range. Byte-range locks need no bytes on disk, so the
range costs nothing, and without the secret nobody can aim a key of their own at another key's
byte: a client able to write one bucket cannot find a key that makes the writers of a key in
another bucket wait behind it (with the former unkeyed 2^20 slots that took ~0.3 s of search).
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import struct
from typing import Awaitable, Callable, Optional

_SECRET_SIZE = 32
# Object bytes lie in [_SECRET_SIZE, 2^63 - 1): past the secret (whose range is locked only while
# it is created) and below OFF_MAX, so that l_start + l_len - 1 never overflows off_t.
_FIRST = _SECRET_SIZE
_SPAN = (1 << 63) - 1 - _FIRST


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self):
        self.lock = asyncio.Lock()
        self.users = 0  # holder + waiters of this name in this process


class ObjectLocks:
    """All processes serving one data dir must run this same scheme (the byte an object maps to
    is part of the on-disk contract, like the metadata schema)."""

    def __init__(self, data_dir: str):
        path = os.path.join(data_dir, "locks")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._secret = self._load_secret()
        except BaseException:
            os.close(self._fd)
            raise
        self._keyed = hashlib.blake2b(digest_size=8, key=self._secret)
        # Keyed by name: two objects never wait for each other inside one process.
        self._local: dict[tuple[str, str], _Entry] = {}
        # How many holders in this process stand on each locked byte. Two names that share a byte
        # (a 2^-63 accident, never aimable) both "get" it here, because OFD locks taken through
        # one file description never conflict with each other; so the byte is unlocked only when
        # its last holder here releases it, or the first release would let another process in
        # while the second holder is still inside. Invariant: byte o is OFD-locked by this
        # process iff o in _ranges (each change happens with no await in between).
        self._ranges: dict[int, int] = {}

    def close(self) -> None:
        os.close(self._fd)

    def _load_secret(self) -> bytes:
        """The data dir's lock secret, created by the first process that needs it. Its bytes are
        locked (blocking: a creator holds them for one write and one fsync) while it is read or
        made, so concurrent starters agree on one secret. A data dir written by an older version
        has an empty locks file and gets its secret here."""
        self._fcntl(fcntl.F_OFD_SETLKW, fcntl.F_WRLCK, 0, _SECRET_SIZE)
        try:
            secret = os.pread(self._fd, _SECRET_SIZE, 0)
            if len(secret) == _SECRET_SIZE:
                return secret
            # Empty, or torn by a power loss during its creation, which no running process can
            # have read (they wait on these bytes): a fresh one is safe.
            secret = os.urandom(_SECRET_SIZE)
            os.pwrite(self._fd, secret, 0)
            os.fsync(self._fd)
            return secret
        finally:
            self._fcntl(fcntl.F_OFD_SETLK, fcntl.F_UNLCK, 0, _SECRET_SIZE)

    def hold(self, bucket: str, key: str,
             contended: Optional[Callable[[], Awaitable[object]]] = None) -> "_Held":
        """`async with` this to hold the object's lock. If the lock is busy (another writer of the
        object here, or another process on its byte), `contended()` is awaited before waiting: it
        may raise to answer without queueing behind a writer whose body may have stalled."""
        return _Held(self, (bucket, key), self._offset(bucket, key), contended)

    def _offset(self, bucket: str, key: str) -> int:
        # Bucket names never contain NUL, so "bucket\0key" names one object only.
        h = self._keyed.copy()  # cheaper than keying a new hash each time
        h.update(f"{bucket}\0{key}".encode("utf-8", "surrogatepass"))
        return _FIRST + int.from_bytes(h.digest(), "little") % _SPAN

    def _fcntl(self, cmd: int, ltype: int, start: int, length: int = 1) -> bool:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid (must be 0 for OFD locks)
        arg = struct.pack("hhqqi4x", ltype, os.SEEK_SET, start, length, 0)
        try:
            fcntl.fcntl(self._fd, cmd, arg)
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise

    async def _acquire(self, held: "_Held") -> None:
        name = held.name
        entry = self._local.get(name)
        if entry is None:
            entry = self._local[name] = _Entry()
        entry.users += 1
        try:
            # users, not lock.locked(): right after a release the lock reads as free while a
            # woken waiter (whose body may stall next) is still ahead of us.
            if entry.users > 1:
                await held.contention()
            await entry.lock.acquire()
        except BaseException:
            self._drop(name, entry)
            raise
        offset = held.offset
        try:
            if offset not in self._ranges and not self._fcntl(fcntl.F_OFD_SETLK, fcntl.F_WRLCK, offset):
                await self._wait_for_byte(held)
        except BaseException:
            entry.lock.release()
            self._drop(name, entry)
            raise
        self._ranges[offset] = self._ranges.get(offset, 0) + 1

    async def _wait_for_byte(self, held: "_Held") -> None:
        """Another process holds the byte: poll until it is ours. Returns right after the fcntl
        that got it, so the caller counts it in _ranges with no await in between."""
        await held.contention()  # maybe the answer needs no lock at all
        delay = 0.0002
        while True:
            await asyncio.sleep(delay)  # a holder that is not stalled is brief
            if self._fcntl(fcntl.F_OFD_SETLK, fcntl.F_WRLCK, held.offset):
                return
            delay = min(delay * 2, 0.01)

    def _release(self, held: "_Held") -> None:
        offset = held.offset
        n = self._ranges[offset] - 1
        if n:
            self._ranges[offset] = n
        else:
            del self._ranges[offset]
            self._fcntl(fcntl.F_OFD_SETLK, fcntl.F_UNLCK, offset)
        entry = self._local[held.name]
        entry.lock.release()
        self._drop(held.name, entry)

    def _drop(self, name: tuple[str, str], entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            self._local.pop(name, None)


class _Held:
    __slots__ = ("locks", "name", "offset", "_contended")

    def __init__(self, locks: ObjectLocks, name: tuple[str, str], offset: int,
                 contended: Optional[Callable[[], Awaitable[object]]]):
        self.locks = locks
        self.name = name
        self.offset = offset
        self._contended = contended

    async def contention(self) -> None:
        """Run the caller's contention check (at most twice: before waiting for this process's
        holder, then before waiting for another process's; the state may have moved between)."""
        if self._contended is not None:
            await self._contended()

    async def __aenter__(self):
        await self.locks._acquire(self)
        return self

    async def __aexit__(self, *exc):
        self.locks._release(self)


class NoLocks:
    """Segment mode (--data URL): no lock outside the metadata store. Every write there is one
    guarded transaction (the append's compare-and-set on the size, the seal's re-check), and no
    byte is written in place, so nodes need not exclude each other -- a lock file on one node
    could not exclude another node anyway."""

    def hold(self, bucket: str, key: str, contended=None):
        return contextlib.nullcontext()

    def close(self) -> None:
        pass
