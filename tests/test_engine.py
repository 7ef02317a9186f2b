"""The storage engine directly: power-loss replay of the journal and the orphaned-blob sweep."""
import asyncio
import os
import threading
import time

import pytest

from ossbox.storage import errors as storage_errors
from ossbox.storage import journal as journal_mod
from ossbox.storage.multipart import MIN_PART_SIZE
from ossbox.storage.drivers import open_engine
from ossbox.storage.records import BucketRecord, ObjectRecord


async def _body(*chunks):
    for c in chunks:
        yield c


def _template(bucket, key):
    return ObjectRecord(bucket=bucket, key=key, type="Normal", size=0, crc64=0, etag="", blob="", mtime=0.0)


async def _new_engine(path):
    eng = open_engine(str(path))
    await eng.start()
    await eng.create_bucket(BucketRecord(name="b", owner="1", created=time.time(), region="r"))
    return eng


async def _append(eng, key, pos, data):
    async def creation():
        return _template("b", key)
    return await eng.append_object("b", key, pos, _body(data), content_length=len(data), content_md5=None,
                                   creation=creation)


async def _lose_power(eng, rec):
    """"Power loss": stop without flushing anything, and `rec`'s blob loses its un-synced bytes."""
    blob_path = eng.blobs.path(rec.blob)
    eng._background_task.cancel()
    await eng.meta.close()
    eng.locks.close()
    eng.io.shutdown()
    with open(blob_path, "r+b") as f:
        f.truncate(0)


def test_power_loss_replays_journalled_appends(tmp_path, monkeypatch):
    """A durable small append lives in the metadata journal until its blob is fsynced. If the blob's
    page cache is lost (power loss), the next start writes the bytes back from the journal."""
    monkeypatch.setattr(journal_mod, "FLUSH_INTERVAL", 3600)  # keep the journal: nothing retires it

    async def scenario():
        eng = await _new_engine(tmp_path)
        await _append(eng, "log", 0, b"first-")
        rec = await _append(eng, "log", 6, b"second")
        await _lose_power(eng, rec)
        eng2 = open_engine(str(tmp_path))
        await eng2.start()
        rec2, reader = await eng2.open_object("b", "log")
        data = b"".join([c async for c in reader.stream(0, rec2.size)])
        assert (data, rec2.size, rec2.crc64) == (b"first-second", 12, rec.crc64)
        assert (await eng2.meta.pending_summary()) == (0, [])  # replayed, synced and retired
        await eng2.stop()

    asyncio.run(scenario())


def test_journal_of_a_data_dir_from_before_the_lean_journal_replays(tmp_path, monkeypatch):
    """A data dir written by the release before the lean journal row (its pending_chunks table
    still has the index on blob) opens, replays its journal after a power loss, and loses the
    index (which cost each append a WAL page)."""
    import sqlite3
    monkeypatch.setattr(journal_mod, "FLUSH_INTERVAL", 3600)

    async def scenario():
        eng = await _new_engine(tmp_path)
        await _append(eng, "log", 0, b"first-")
        await _lose_power(eng, await _append(eng, "log", 6, b"second"))
        db = sqlite3.connect(str(tmp_path / "meta.sqlite3"))
        db.execute("CREATE INDEX pending_chunks_blob ON pending_chunks (blob)")  # the old layout
        db.close()
        eng2 = open_engine(str(tmp_path))
        await eng2.start()
        rec2, reader = await eng2.open_object("b", "log")
        assert b"".join([c async for c in reader.stream(0, rec2.size)]) == b"first-second"
        assert (await eng2.meta.pending_summary()) == (0, [])
        await eng2.stop()
        db = sqlite3.connect(str(tmp_path / "meta.sqlite3"))
        indexes = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE tbl_name='pending_chunks' "
                                            "AND type='index'")]
        db.close()
        assert indexes == []

    asyncio.run(scenario())


def test_unacknowledged_bytes_past_the_size_stay_invisible(tmp_path):
    async def scenario():
        eng = await _new_engine(tmp_path)
        rec = await _append(eng, "k", 0, b"committed")
        with pytest.raises(storage_errors.BodyLengthMismatch) as err:  # shorter than announced
            await eng.append_object("b", "k", 9, _body(b"torn bytes"), content_length=999, content_md5=None,
                                    creation=None)
        assert (err.value.declared, err.value.received) == (999, 10)
        with open(eng.blobs.path(rec.blob), "rb") as f:
            assert f.read() == b"committedtorn bytes"  # written, but never committed
        cur, reader = await eng.open_object("b", "k")
        assert cur.size == 9 and b"".join([c async for c in reader.stream(0, cur.size)]) == b"committed"
        rec2 = await _append(eng, "k", 9, b"!")
        cur, reader = await eng.open_object("b", "k")
        assert b"".join([c async for c in reader.stream(0, cur.size)]) == b"committed!"
        assert rec2.size == 10
        await eng.stop()

    asyncio.run(scenario())


def test_orphaned_blobs_are_swept_after_a_grace_period(tmp_path):
    async def scenario():
        eng = await _new_engine(tmp_path)
        live = await _append(eng, "live", 0, b"data")
        old_orphan, young_orphan = "a1" * 16, "b2" * 16
        for blob in (old_orphan, young_orphan):
            os.close(eng.blobs.create(blob))
        an_hour_ago = time.time() - 3600
        os.utime(eng.blobs.path(old_orphan), (an_hour_ago, an_hour_ago))
        os.utime(eng.blobs.path(live.blob), (an_hour_ago, an_hour_ago))
        assert await eng.collect_garbage(grace=600) == 1
        assert not eng.blobs.exists(old_orphan)
        assert eng.blobs.exists(young_orphan) and eng.blobs.exists(live.blob)
        await eng.stop()

    asyncio.run(scenario())


def test_data_dir_from_before_versioning_and_encryption_is_upgraded(tmp_path):
    """A metadata database made before the version/encryption columns existed gets them at start,
    and its objects read back as plain "null" versions."""
    import sqlite3
    db = sqlite3.connect(str(tmp_path / "meta.sqlite3"))
    db.executescript("""
        CREATE TABLE objects (
            bucket TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
            crc64 INTEGER NOT NULL, etag TEXT NOT NULL, blob TEXT NOT NULL, mtime REAL NOT NULL,
            storage_class TEXT NOT NULL, acl TEXT NOT NULL, headers TEXT NOT NULL, tags TEXT NOT NULL,
            content_md5 TEXT, sealed REAL, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
        CREATE TABLE uploads (
            upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
            storage_class TEXT NOT NULL, acl TEXT NOT NULL, headers TEXT NOT NULL, tags TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE parts (
            upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL,
            etag TEXT NOT NULL, crc64 INTEGER NOT NULL, blob TEXT NOT NULL, mtime REAL NOT NULL,
            PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
        INSERT INTO objects VALUES ('b', 'old', 'Normal', 0, 0, 'E', 'blobid', 1.0, 'Standard',
                                    'default', '{}', '[]', NULL, NULL);
    """)
    db.close()

    async def scenario():
        eng = open_engine(str(tmp_path))
        await eng.start()
        try:
            rec = await eng.get_object("b", "old")
            assert rec is not None and rec.etag == "E"
            assert rec.version_id is None and rec.sse_key is None
        finally:
            await eng.stop()
    asyncio.run(scenario())


def test_restore_state_goes_with_the_blob(tmp_path):
    """A restore row belongs to one blob: replacing or deleting the object removes it."""
    from ossbox.storage.metadata import RestoreRecord

    async def scenario():
        eng = await _new_engine(tmp_path)
        try:
            first = await _append(eng, "k", 0, b"abc")
            await eng.meta.write(lambda t: t.put_restore(RestoreRecord(first.blob, 1.0, 2.0, 3.0)))
            assert await eng.meta.get_restore(first.blob) is not None
            second = await eng.put_object(_template("b", "k"), _body(b"new"), content_length=3,
                                          content_md5=None)
            assert await eng.meta.get_restore(first.blob) is None
            await eng.meta.write(lambda t: t.put_restore(RestoreRecord(second.blob, 1.0, 2.0, 3.0)))
            await eng.delete_object("b", "k")
            assert await eng.meta.get_restore(second.blob) is None
        finally:
            await eng.stop()
    asyncio.run(scenario())


@pytest.mark.parametrize("meanwhile", ["abort", "upload the part again"])
def test_complete_racing_an_abort_or_a_part_upload_is_a_client_error(tmp_path, meanwhile):
    """CompleteMultipartUpload lists the parts, then reads their blobs. An AbortMultipartUpload (or
    UploadPart of the same number) that commits in between deletes a listed blob: the answer must
    be NoSuchUpload (or InvalidPart), not a 500. Through a real server this race is hit by a
    concurrent abort (3 of 3 tries with 4 x 32 MiB parts) but cannot be ordered; here the abort
    runs exactly when the first part is opened."""
    from ossbox.storage.records import UploadRecord

    async def scenario():
        eng = await _new_engine(tmp_path)
        up = await eng.create_upload(UploadRecord(upload_id="u1", bucket="b", key="k", initiated=time.time(),
                                                  storage_class="Standard", acl="default", headers={}))
        data = b"p" * MIN_PART_SIZE
        parts = [await eng.upload_part(up, n, _body(data), content_length=len(data), content_md5=None)
                 for n in (1, 2)]
        real_open, loop = eng.blobs.open_read, asyncio.get_running_loop()
        ready, done = asyncio.Event(), threading.Event()  # the first part is being opened / may go on

        def open_read(blob):  # runs in the engine's I/O thread
            if not ready.is_set():
                loop.call_soon_threadsafe(ready.set)
                assert done.wait(10)
            return real_open(blob)
        eng.blobs.open_read = open_read
        complete = asyncio.ensure_future(eng.complete_upload(up, [(p.part_number, p.etag) for p in parts]))
        await ready.wait()
        if meanwhile == "abort":
            await eng.abort_upload(up)
        else:
            await eng.upload_part(up, 1, _body(b"q" * len(data)), content_length=len(data), content_md5=None)
        done.set()
        with pytest.raises(storage_errors.UploadNotFound if meanwhile == "abort" else storage_errors.PartMismatch):
            await complete
        await eng.stop()

    asyncio.run(scenario())
