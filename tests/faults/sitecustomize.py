"""Fault injection for server subprocesses under test, with no hook in production code.

A test puts this directory first on the server's PYTHONPATH and names a trigger directory in
OSSBOX_TEST_FAULTS; Python imports this module at start-up, and it wraps os.fdatasync:

  <dir>/wal-eio   exists: fdatasync of the SQLite `-wal` file raises OSError(EIO)
  <dir>/wal-hang  exists: fdatasync of the `-wal` file blocks until the file is removed (and
                  creates <dir>/wal-hang.waiting when it starts blocking)
  <dir>/blob-eio-once  exists: the next fdatasync of a blob file raises OSError(EIO), and the
                  trigger is removed -- Linux reports a failed writeback once, to one caller

SQLite's own (C-level) syncs are untouched.
"""
import errno
import os
import time

_DIR = os.environ.get("OSSBOX_TEST_FAULTS")
_real_fdatasync = os.fdatasync


def _is_wal(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").endswith("-wal")
    except OSError:
        return False


def _path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _fdatasync(fd):
    once = os.path.join(_DIR, "blob-eio-once")
    if "/blobs/" in _path(fd) and os.path.exists(once):
        try:
            os.unlink(once)
        except FileNotFoundError:
            pass  # another thread took it
        else:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
    if _is_wal(fd):
        if os.path.exists(os.path.join(_DIR, "wal-eio")):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        hang = os.path.join(_DIR, "wal-hang")
        if os.path.exists(hang):
            open(hang + ".waiting", "w").close()
        while os.path.exists(hang):
            time.sleep(0.02)
    return _real_fdatasync(fd)


if _DIR:
    os.fdatasync = _fdatasync
