"""Fault injection for server subprocesses under test, with no hook in production code.

A test puts this directory first on the server's PYTHONPATH and names a trigger directory in
OSSBOX_TEST_FAULTS; Python imports this module at start-up, and it wraps os.fdatasync and os.fsync:

  <dir>/wal-eio   exists: fdatasync of the SQLite `-wal` file raises OSError(EIO)
  <dir>/wal-hang  exists: fdatasync of the `-wal` file blocks until the file is removed (and
                  creates <dir>/wal-hang.waiting when it starts blocking)
  <dir>/wal-pass-once  exists: the fdatasync of the `-wal` file blocked by wal-hang (or the next
                  one) goes through, and the trigger is removed; later ones block again
  <dir>/blob-eio-once  exists: the next fdatasync of a blob file raises OSError(EIO), and the
                  trigger is removed -- Linux reports a failed writeback once, to one caller
  <dir>/blob-hang exists: fdatasync of a blob file blocks until the file is removed (and creates
                  <dir>/blob-hang.waiting when it starts blocking)
  <dir>/dir-eio-once  exists: the next fsync of a directory under blobs/ raises OSError(EIO), and
                  the trigger is removed

SQLite's own (C-level) syncs are untouched.

With PostgreSQL metadata, it also wraps psycopg's Cursor.execute:

  <dir>/pg-hang-before-commit  exists: a write transaction's COMMIT (the statement that inserts its
                  commit mark and commits) blocks until the file is removed (and creates
                  <dir>/pg-hang-before-commit.waiting): the transaction has done its UPDATEs and
                  holds their row locks, as a node cut off between UPDATE and COMMIT would

Kill points for segment mode (tests/test_multinode_kill.py): each trigger is one-shot -- removed,
then the process SIGKILLs itself -- so the restarted node runs clean:

  <dir>/kill-after-segment-put  the file segment store has just linked a new segment to its name
                  (os.link): the bytes are in the store, nothing references them yet
  <dir>/kill-after-update  a transaction is about to insert an extent row (PostgreSQL): the append's
                  compare-and-set UPDATE is done, the COMMIT never comes
  <dir>/kill-after-commit  a transaction that inserted an extent row has committed (PostgreSQL): the
                  append is durable, the client never hears of it
"""
import errno
import os
import signal
import time

_DIR = os.environ.get("OSSBOX_TEST_FAULTS")
_real_fdatasync = os.fdatasync
_real_fsync = os.fsync


def _path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _fail_once(trigger: str) -> None:
    try:
        os.unlink(os.path.join(_DIR, trigger))
    except FileNotFoundError:
        pass  # not set, or another thread took it
    else:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def _fsync(fd):
    if "/blobs/" in _path(fd) and os.path.isdir(f"/proc/self/fd/{fd}"):
        _fail_once("dir-eio-once")
    return _real_fsync(fd)


def _fdatasync(fd):
    path = _path(fd)
    if "/blobs/" in path:
        _fail_once("blob-eio-once")
        _hang(os.path.join(_DIR, "blob-hang"))
    if path.endswith("-wal"):
        if os.path.exists(os.path.join(_DIR, "wal-eio")):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        _hang(os.path.join(_DIR, "wal-hang"), "wal-pass-once")
    return _real_fdatasync(fd)


def _hang(trigger: str, pass_once: str = "") -> None:
    if os.path.exists(trigger):
        open(trigger + ".waiting", "w").close()
    while os.path.exists(trigger):
        if pass_once:
            try:
                os.unlink(os.path.join(_DIR, pass_once))
            except FileNotFoundError:
                pass
            else:
                return
        time.sleep(0.02)


def _wrap_psycopg() -> None:
    try:
        import psycopg
    except ImportError:
        return
    real_execute = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):
        commit = isinstance(query, str) and query.startswith("INSERT INTO commit_marks (token, at) VALUES")
        if commit:
            _hang(os.path.join(_DIR, "pg-hang-before-commit"))
        elif isinstance(query, str) and query.startswith("INSERT INTO extents"):
            _kill_once("kill-after-update")
            self.connection._ossbox_extent = True
        result = real_execute(self, query, *args, **kwargs)
        if commit and getattr(self.connection, "_ossbox_extent", False):
            self.connection._ossbox_extent = False
            _kill_once("kill-after-commit")
        return result
    psycopg.Cursor.execute = execute


def _kill_once(trigger: str) -> None:
    try:
        os.unlink(os.path.join(_DIR, trigger))
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


_real_link = os.link


def _link(src, dst, *args, **kwargs):
    result = _real_link(src, dst, *args, **kwargs)
    _kill_once("kill-after-segment-put")
    return result


if _DIR:
    os.fdatasync = _fdatasync
    os.fsync = _fsync
    os.link = _link
    _wrap_psycopg()
