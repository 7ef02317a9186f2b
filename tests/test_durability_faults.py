"""A metadata commit whose durability is unknown must never cost referenced bytes (issue 9, item 2).

Faults are injected into real `ossbox server` subprocesses without any hook in production code:
tests/faults/sitecustomize.py wraps os.fdatasync in the server process (see its docstring). When
the fdatasync of the SQLite WAL fails (EIO) after a commit, the commit may or may not persist:

  * the request gets an OSS 5xx error, and nothing the commit references or replaced is deleted,
    so the key reads as its old or its new content -- never as a broken object;
  * the server then refuses every write with 503 (PostgreSQL's fsync-panic rule) while reads work;
  * after a restart every listed object reads back exactly.

And SIGTERM while a write waits for its WAL fsync (the server cancels the request when its graceful
shutdown times out) leaves the committed state consistent.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import uuid
from typing import Optional

import oss2
import pytest

from appendkit import det_bytes, new_bucket, wait_until
from serverproc import TEST_DATA, TEST_META, ServerProcess

# Faults injected into SQLite's WAL fdatasync: with the whole suite on PostgreSQL (OSSBOX_TEST_META)
# there is no WAL of ossbox's to fail -- the database makes its own commits durable.
pytestmark = pytest.mark.skipif(bool(TEST_META), reason="SQLite WAL fsync faults; metadata is in PostgreSQL")

FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fault_server(data_dir, triggers) -> ServerProcess:
    path = [FAULTS] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [ROOT]
    return ServerProcess(str(data_dir), env={"PYTHONPATH": os.pathsep.join(path),
                                             "OSSBOX_TEST_FAULTS": str(triggers)})


def _readable(b: oss2.Bucket, key: str, allowed: list) -> None:
    """The key reads as one of `allowed` (None: absent), through HEAD and GET."""
    try:
        b.head_object(key)
        data = b.get_object(key).read()
    except oss2.exceptions.NoSuchKey:
        data = None
    except oss2.exceptions.NotFound:
        data = None
    assert data in allowed, (f"{key}: {'absent' if data is None else f'{len(data)} bytes'}; allowed "
                             f"{['absent' if a is None else f'{len(a)} bytes' for a in allowed]}")


def _all_listed_readable(b: oss2.Bucket, expected: dict) -> list:
    keys = [o.key for o in oss2.ObjectIterator(b)]
    for key in keys:
        assert key in expected, f"unexpected object {key}"
        _readable(b, key, [v for v in expected[key] if v is not None])
    return keys


CASES = ["overwrite", "new-key", "creating-append", "append"]


@pytest.mark.parametrize("case", CASES)
def test_failed_wal_fsync_keeps_every_object_readable(tmp_path, case):
    triggers = tmp_path / "faults"
    triggers.mkdir()
    srv = fault_server(tmp_path / "data", triggers).start()
    try:
        name = "fsync-" + uuid.uuid4().hex[:10]
        b = new_bucket(srv.endpoint, name)
        b.create_bucket()
        old, new = det_bytes(f"{case}-old", 300 * 1024 + 5), det_bytes(f"{case}-new", 200 * 1024 + 3)
        other = det_bytes("other", 70 * 1024)
        b.put_object("other", other)
        expected = {"other": [other]}
        if case == "overwrite":
            b.put_object("k", old)
            expected["k"] = [old, new]
        elif case == "append":
            b.append_object("k", 0, old)
            expected["k"] = [old, old + new]
        else:
            expected["k"] = [None, new]

        (triggers / "wal-eio").touch()
        with pytest.raises(oss2.exceptions.ServerError) as failed:
            if case in ("overwrite", "new-key"):
                b.put_object("k", new)
            else:
                b.append_object("k", len(old) if case == "append" else 0, new)
        # the commit's outcome is unknown: either state, never a row without its bytes
        _readable(b, "k", expected["k"])
        _readable(b, "other", [other])
        assert (failed.value.status, failed.value.code, failed.value.ec) == (500, "InternalError", "0000-00000003")
        # no more writes (a later fsync could succeed although the failed data is lost) ...
        with pytest.raises(oss2.exceptions.ServerError) as refused:
            b.put_object("later", b"x")
        assert (refused.value.status, refused.value.code, refused.value.ec) == (
            503, "ServiceUnavailable", "0000-00000004")
        with pytest.raises(oss2.exceptions.ServerError):
            b.delete_object("other")
        # ... while reads and listings work
        assert b.get_object("other").read() == other
        _all_listed_readable(b, expected)

        # a restart recovers: every listed object reads back exactly, and writes work again
        (triggers / "wal-eio").unlink()
        assert srv.stop() == 0, "".join(srv.output)
        srv = fault_server(tmp_path / "data", triggers).start()
        b = new_bucket(srv.endpoint, name)
        assert "other" in _all_listed_readable(b, expected)
        _readable(b, "k", expected["k"])
        b.put_object("later", b"written after the restart")
        assert b.get_object("later").read() == b"written after the restart"
    finally:
        srv.kill()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_sigterm_while_a_write_waits_for_its_fsync(tmp_path):
    """The write has committed and waits for the WAL fsync when SIGTERM's graceful shutdown times
    out and uvicorn cancels it: its blob is referenced by a committed row and must survive.
    Writes that arrive while a WAL fsync is under way commit together when it ends (the group
    transaction), so a first write holds the hung fsync while the three queue behind it; one
    pass of the fsync then commits them, and the next fsync hangs with all three waiting."""
    triggers = tmp_path / "faults"
    triggers.mkdir()
    srv = fault_server(tmp_path / "data", triggers).start()
    t = None
    try:
        name = "sigterm-" + uuid.uuid4().hex[:10]
        b = new_bucket(srv.endpoint, name)
        b.create_bucket()
        old, new = det_bytes("old", 100 * 1024), det_bytes("new", 150 * 1024 + 1)
        b.put_object("k", old)
        b.append_object("log", 0, old)
        (triggers / "wal-hang").touch()
        first = threading.Thread(target=lambda: new_bucket(srv.endpoint, name).put_object("first", b"1"),
                                 daemon=True)
        first.start()
        wait_until(lambda: (triggers / "wal-hang.waiting").exists(), 30, what="a WAL fsync to hang")
        (triggers / "wal-hang.waiting").unlink()
        results = {}

        def write(key, fn):
            try:
                results[key] = fn()
            except Exception as e:  # noqa: BLE001 - either outcome is allowed; the state is checked
                results[key] = e
        t = [threading.Thread(target=write, args=("k", lambda: b.put_object("k", new)), daemon=True),
             threading.Thread(target=write, daemon=True,
                              args=("new", lambda: new_bucket(srv.endpoint, name).put_object("new", new))),
             threading.Thread(target=write, daemon=True,
                              args=("log", lambda: new_bucket(srv.endpoint, name).append_object(
                                  "log", len(old), new)))]
        for th in t:
            th.start()

        def written():  # the three bodies are in their blobs: the writes are about to commit
            sizes = sorted(p.stat().st_size for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file())
            return sizes.count(len(new)) >= 2 and len(old) + len(new) in sizes
        wait_until(written, 30, what="the three bodies to be written")
        time.sleep(0.5)  # ... and to have joined the group waiting for the hung fsync
        (triggers / "wal-pass-once").touch()
        wait_until(lambda: (triggers / "wal-hang.waiting").exists() and not (triggers / "wal-pass-once").exists(),
                   30, what="the group's WAL fsync to hang")

        def committed():  # the WAL is readable by other connections before it is synced
            db = sqlite3.connect(str(tmp_path / "data" / "meta.sqlite3"))
            try:
                rows = dict(db.execute("SELECT key, size FROM objects WHERE bucket=?", (name,)))
            finally:
                db.close()
            rows.pop("first", None)
            return rows == {"k": len(new), "new": len(new), "log": len(old) + len(new)}
        wait_until(committed, 30, what="the three writes to commit (and wait for the fsync)")
        srv.proc.send_signal(signal.SIGTERM)
        # the server waits --shutdown-timeout (30 s) for the requests, then cuts (cancels) them
        # while they wait for the fsync
        wait_until(lambda: any(line.startswith("ossbox stopped serving") and " cut (" in line
                               for line in srv.output), 90,
                   interval=0.1, what="the server to cut the waiting requests")
        (triggers / "wal-hang").unlink()
        srv.proc.wait(60)
        for th in t:
            th.join(30)

        srv = fault_server(tmp_path / "data", triggers).start()
        b = new_bucket(srv.endpoint, name)
        _readable(b, "k", [old, new])
        _readable(b, "new", [None, new])
        _readable(b, "log", [old, old + new])
        _all_listed_readable(b, {"k": [old, new], "new": [new], "log": [old, old + new], "first": [b"1"]})
    finally:
        (triggers / "wal-hang").unlink(missing_ok=True)
        srv.kill()


def test_write_cancelled_during_its_wal_fsync_keeps_its_blob(tmp_path, monkeypatch):
    """The engine directly: a PutObject that has committed and waits for the WAL fsync is
    cancelled (what uvicorn does at the end of a graceful shutdown). Its row references the new
    blob, so the blob must survive, and the old one may go only once the commit is durable."""
    import asyncio
    import time

    from ossbox.storage.drivers import open_engine
    from ossbox.storage.records import BucketRecord, ObjectRecord

    hung, release = threading.Event(), threading.Event()
    real_fdatasync = os.fdatasync

    def fdatasync(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("-wal") and not release.is_set():
            hung.set()
            release.wait(30)
        return real_fdatasync(fd)

    async def body(data):
        yield data

    async def scenario():
        eng = open_engine(str(tmp_path))
        await eng.start()
        await eng.create_bucket(BucketRecord(name="b", owner="1", created=time.time(), region="r"))
        rec = ObjectRecord(bucket="b", key="k", type="Normal", size=0, crc64=0, etag="", blob="", mtime=0.0)
        await eng.put_object(rec, body(b"old bytes"), content_length=9, content_md5=None)
        monkeypatch.setattr(os, "fdatasync", fdatasync)
        put = asyncio.ensure_future(eng.put_object(rec, body(b"new bytes!"), content_length=10,
                                                   content_md5=None))
        while not hung.is_set():  # the commit is made; the WAL fsync is under way
            await asyncio.sleep(0.005)
        put.cancel()
        await asyncio.sleep(0.05)
        release.set()
        try:
            await put
        except asyncio.CancelledError:
            pass  # delivered after the commit settled, or not at all: both are fine
        got, reader = await eng.open_object("b", "k")
        assert b"".join([c async for c in reader.stream(0, got.size)]) == b"new bytes!"
        await eng.stop()

    asyncio.run(scenario())


def _journal_rows(data_dir) -> int:
    db = sqlite3.connect(str(data_dir / "meta.sqlite3"))
    try:
        return db.execute("SELECT count(*) FROM pending_chunks").fetchone()[0]
    finally:
        db.close()


def _let_the_journal_be_retired(data_dir) -> None:
    """Give a flusher that would wrongly retire the journal rows every chance to (bounded)."""
    try:
        wait_until(lambda: _journal_rows(data_dir) == 0, 3, interval=0.1)
    except AssertionError:
        pass


def _lose_the_failed_writeback(data_dir, bucket: str, key: str, length: Optional[int]) -> None:
    """With the servers down: the bytes whose writeback failed never reached the disk (None: nor
    did the blob's directory entry)."""
    db = sqlite3.connect(str(data_dir / "meta.sqlite3"))
    try:
        blob = db.execute("SELECT blob FROM objects WHERE bucket=? AND key=?", (bucket, key)).fetchone()[0]
    finally:
        db.close()
    path = os.path.join(data_dir, "blobs", blob[:2], blob[2:4], blob)
    if length is None:
        os.unlink(path)
        return
    with open(path, "r+b") as f:
        f.write(b"\0" * length)


def _journalled_appends_meet_eio(endpoint: str, name: str, triggers,
                                 trigger: str = "blob-eio-once") -> tuple[oss2.Bucket, bytes]:
    """Small appends (acknowledged once journalled, before any blob sync) to `log`, with the next
    blob fdatasync (or with `trigger`, another sync) of the server whose trigger dir is `triggers`
    armed to fail; returns once the flusher met the failure."""
    b = new_bucket(endpoint, name)
    b.create_bucket()
    (triggers / trigger).touch()
    acked = b""
    for i in range(3):
        chunk = det_bytes(f"{name}-{i}", 3000 + i)
        b.append_object("log", len(acked), chunk)
        acked += chunk
    wait_until(lambda: not (triggers / trigger).exists(), 30,
               what="the journal flusher to meet the failed sync")
    return b, acked


@pytest.mark.skipif(bool(TEST_DATA), reason="the embedded mode's blob files and journal; segment mode has neither")
@pytest.mark.parametrize("trigger", ["blob-eio-once", "dir-eio-once"])
def test_failed_blob_fsync_keeps_the_journal_of_acknowledged_appends(tmp_path, trigger):
    """Small appends are acknowledged once journalled in the metadata commit; the flusher later
    fdatasyncs their blob (and fsyncs the directory of a blob a journalled append created) and
    retires the journal rows. When that sync fails (EIO), Linux may already have dropped the
    dirty pages (or the directory entry) and reports the error only once: a retry succeeds
    although the bytes never reached the disk. So the rows must never be retired on a later
    "successful" sync -- they are the only durable copy, replayed at the next start -- and,
    as for the WAL, writes that add data are refused until a restart."""
    triggers = tmp_path / "faults"
    triggers.mkdir()
    data_dir = tmp_path / "data"
    srv = fault_server(data_dir, triggers).start()
    try:
        name = "blobeio-" + uuid.uuid4().hex[:8]
        b, acked = _journalled_appends_meet_eio(srv.endpoint, name, triggers, trigger)
        _let_the_journal_be_retired(data_dir)
        with pytest.raises(oss2.exceptions.ServerError) as refused:
            b.append_object("log", len(acked), b"more")
        assert (refused.value.status, refused.value.ec) == (503, "0000-00000004")
        assert b.get_object("log").read() == acked  # reads go on
        srv.kill()
        _lose_the_failed_writeback(data_dir, name, "log", len(acked) if trigger == "blob-eio-once" else None)

        srv = fault_server(data_dir, triggers).start()
        b = new_bucket(srv.endpoint, name)
        assert b.get_object("log").read() == acked
        b.append_object("log", len(acked), b"after the restart")
    finally:
        srv.kill()


@pytest.mark.slow  # two server processes and a fault each (~8 s); one process is in the default suite
@pytest.mark.skipif(bool(TEST_DATA), reason="the embedded mode's blob files and journal; segment mode has neither")
def test_a_failed_blob_fsync_holds_the_journal_for_every_process(tmp_path):
    """Two servers share a data dir. Server A's flusher meets the failed fdatasync; server B's
    flusher then syncs the same blob without an error (Linux reported it once, to A) and must not
    retire the journal rows either: they are still the only durable copy of A's appends. (B's
    blob syncs are held back until A has met the error, so the order is fixed.)"""
    data_dir = tmp_path / "data"
    trig_a, trig_b = tmp_path / "faults-a", tmp_path / "faults-b"
    trig_a.mkdir()
    trig_b.mkdir()
    (trig_b / "blob-hang").touch()
    a = fault_server(data_dir, trig_a).start()
    b_srv = fault_server(data_dir, trig_b).start()
    try:
        name = "blobeio2-" + uuid.uuid4().hex[:8]
        b, acked = _journalled_appends_meet_eio(a.endpoint, name, trig_a)
        try:  # B's flusher syncs the blob (or, told to keep the journal, does not even try)
            wait_until(lambda: (trig_b / "blob-hang.waiting").exists(), 3)
        except AssertionError:
            pass
        (trig_b / "blob-hang").unlink()
        _let_the_journal_be_retired(data_dir)
        a.kill()
        b_srv.kill()
        _lose_the_failed_writeback(data_dir, name, "log", len(acked))

        a = fault_server(data_dir, trig_a).start()
        b = new_bucket(a.endpoint, name)
        assert b.get_object("log").read() == acked
    finally:
        a.kill()
        b_srv.kill()

