"""Processes sharing a data dir share SQLite's wal-index (`-shm`), which each maps into memory.

SQLite guards it with POSIX record locks. The kernel drops all of a process's record locks on a
file when the process closes any descriptor of that file, so code beside SQLite that opens and
closes the `-shm` (ossbox preallocates it against SIGBUS on a full disk) silently released the
"dead-man switch" lock. The next process to open the database then saw nobody using the
wal-index, truncated and rebuilt it under the running server's mapping, and that server died of
SIGBUS (seen as intermittent deaths of the second of two server processes).
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import uuid

import pytest

from appendkit import new_bucket
from ossbox.storage.sqlite_store import SQLITE_FILE
from serverproc import TEST_META, ServerProcess

pytestmark = pytest.mark.skipif(bool(TEST_META), reason="SQLite's wal-index; metadata is in PostgreSQL")

# sqlite3/os_unix.c: the lock bytes of the -shm start at UNIX_SHM_BASE = (22 + SQLITE_SHM_NLOCK) * 4
# = 120; the dead-man switch is the byte after the SQLITE_SHM_NLOCK (8) slot locks.
SHM_DMS_BYTE = 128


def _lock_on(path: str, offset: int) -> tuple[int, int]:
    """(l_type, l_pid) of a record lock that would block a write lock on byte `offset`."""
    flock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
    fd = os.open(path, os.O_RDONLY)
    try:
        l_type, _whence, _start, _len, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, flock))
    finally:
        os.close(fd)
    return l_type, pid


def test_a_running_server_keeps_sqlites_wal_index_lock(tmp_path):
    srv = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = new_bucket(srv.endpoint, "walindex-" + uuid.uuid4().hex[:8])
        b.create_bucket()
        b.append_object("k", 0, b"x" * 100)
        shm = os.path.join(srv.data_dir, SQLITE_FILE + "-shm")
        assert _lock_on(shm, SHM_DMS_BYTE) == (fcntl.F_RDLCK, srv.proc.pid)

        # another process opening the database must leave the server's wal-index alone
        other = sqlite3.connect(os.path.join(srv.data_dir, SQLITE_FILE))
        try:
            assert other.execute("SELECT count(*) FROM buckets").fetchone()[0] == 1
        finally:
            other.close()
        position = 100
        for i in range(200):  # enough appends to walk the wal-index past its first page
            position = b.append_object("k", position, b"y" * 4096).next_position
        assert b.get_object("k").read() == b"x" * 100 + b"y" * 4096 * 200
        assert srv.proc.poll() is None
    finally:
        srv.stop()
