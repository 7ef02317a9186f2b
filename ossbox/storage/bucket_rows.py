"""A cache of bucket rows for the SQLite store, kept exact across the processes of one data dir.

Every request that names a bucket reads its row (404 before authentication, the authorizer, the
retention check of an append, x-oss-version-id): two SELECTs per append, each its own read
transaction. Bucket rows change rarely, so a row may be reused -- but only while it is provably
still the committed one, because a stale row could answer a wrong x-oss-version-id or let through
a write that a new bucket policy, retention policy or versioning status forbids.

The proof is a generation number in a small shared file next to the database (<db>-buckets),
mapped into every process that opens the store, and one byte-range lock on it:

- a transaction that changes a bucket row takes the lock exclusively (an OFD lock: released by the
  kernel if the process dies) and bumps the generation *before* its COMMIT, and keeps the lock
  until the COMMIT (or ROLLBACK) is done;
- a cache fill takes the lock shared, reads the generation, SELECTs the row, and releases it; the
  row is stored with the generation read;
- a hit is a cached row whose generation equals the current one (8 bytes read from the mapping).

So a hit means no bucket change has started since the fill, and the fill paired its generation
with the row committed at that time (no change can be between its bump and its COMMIT while the
fill holds the shared lock). A hit is thus the same answer as a SELECT at the moment of the check.
A process that dies after the bump but before (or after) its COMMIT leaves a bumped generation:
every cache refills. Anything that changes the buckets table without this store (the sqlite3
shell on a live data dir) is not seen; no part of ossbox does that.

This only works where all writers share one host's memory: PostgreSQL is shared by nodes on
different machines, so its store does not cache (checking a generation there would cost the same
round trip as reading the row).
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
from typing import Callable, Optional

_SIZE = 8          # the generation: a little-endian 64-bit counter at offset 0
_MAX_ROWS = 1024   # bucket rows cached per process (cleared when full: bucket names are unbounded)


class BucketRows:
    def __init__(self, path: str):
        # two descriptors: OFD locks taken through one file description never conflict, and a
        # fill must wait for a change made by another thread of this process as for any other
        self._wfd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._rfd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            if os.fstat(self._wfd).st_size < _SIZE:
                # racing creators both extend to 8 zero bytes: idempotent
                os.ftruncate(self._wfd, _SIZE)
            self._map = mmap.mmap(self._wfd, _SIZE)
        except BaseException:
            os.close(self._wfd)
            os.close(self._rfd)
            raise
        self._rows: dict[str, tuple[bytes, tuple]] = {}
        self._changing = False

    def close(self) -> None:
        self._map.close()
        os.close(self._rfd)
        os.close(self._wfd)

    def _lock(self, fd: int, ltype: int) -> None:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid (must be 0 for OFD locks)
        fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, struct.pack("hhqqi4x", ltype, os.SEEK_SET, 0, 1, 0))

    def row(self, name: str, select: Callable[[str], Optional[tuple]]) -> Optional[tuple]:
        """The committed row of bucket `name` (None: no such bucket); `select` reads it."""
        hit = self._rows.get(name)
        if hit is not None and hit[0] == self._map[:_SIZE]:
            return hit[1]
        self._lock(self._rfd, fcntl.F_RDLCK)
        try:
            generation = self._map[:_SIZE]
            row = select(name)
        finally:
            self._lock(self._rfd, fcntl.F_UNLCK)
        if row is None:  # not cached: requests for made-up names must not fill the cache
            self._rows.pop(name, None)
        else:
            if len(self._rows) >= _MAX_ROWS:
                self._rows.clear()
            self._rows[name] = (generation, row)
        return row

    def changing(self) -> None:
        """Called inside a write transaction before it changes a bucket row: see the module doc.
        The caller must call `changed()` once its COMMIT or ROLLBACK is done."""
        if not self._changing:
            self._lock(self._wfd, fcntl.F_WRLCK)
            self._changing = True
        (gen,) = struct.unpack_from("<Q", self._map, 0)
        struct.pack_into("<Q", self._map, 0, (gen + 1) & 0xFFFF_FFFF_FFFF_FFFF)

    def changed(self) -> None:
        if self._changing:
            self._changing = False
            self._lock(self._wfd, fcntl.F_UNLCK)
