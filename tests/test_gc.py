"""Garbage collection never removes bytes a live request may still commit (issue 9, item 1).

The collector runs at every server start on a data dir (and hourly). It used to delete every
unreferenced blob older than 10 minutes, including the blob of a PutObject, creating append or
UploadPart whose client paused before its last byte: the request then committed and answered 200,
and every later GET failed. The 10-minute pause is simulated by setting the blob's mtime back.
A genuinely abandoned blob (its writer killed with -9, its lease expired) must still be collected.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid

import oss2
import pytest

from appendkit import blob_sizes, det_bytes, new_bucket, wait_until
from serverproc import ServerProcess, meta_db

from ossbox.storage.streams import WRITE_BATCH

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOTAL = 3 * 1024 * 1024
HALF = 3 * 512 * 1024
# A large body reaches its blob in batches (storage/streams.py): the server may hold up to one
# batch of what it received in memory, so a paused write has at least this much in its blob.
WRITTEN = HALF - WRITE_BATCH
TWENTY_MINUTES = 20 * 60


class _HalfThenWait:
    """A body with Content-Length TOTAL that sends HALF bytes, then waits for `release`."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.release = threading.Event()

    def __len__(self):
        return len(self.data)

    def read(self, n=-1):
        if self.pos >= HALF and not self.release.is_set():
            assert self.release.wait(120), "the test never released the body"
        limit = len(self.data) if self.release.is_set() else HALF
        n = limit - self.pos if n is None or n < 0 else min(n, limit - self.pos)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def _blob_path(data_dir: str, blob: str) -> str:
    return os.path.join(data_dir, "blobs", blob[:2], blob[2:4], blob)


def _age(path: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


class _Rig:
    """A server on a fresh data dir with a bucket; a second server on the same dir on demand."""

    def __init__(self, data_dir: str):
        self.data_dir = data_dir
        self.first = ServerProcess(data_dir).start()
        self.second: ServerProcess | None = None
        self.body: _HalfThenWait | None = None
        self.bucket = new_bucket(self.first.endpoint, "gc-" + uuid.uuid4().hex[:10])
        self.bucket.create_bucket()

    def start_paused_write(self, op: str, key: str, data: bytes):
        """Start `op` with a body that stops after HALF bytes; return (thread, result, blob)."""
        b = self.bucket
        before = set(blob_sizes(self.data_dir))
        body = self.body = _HalfThenWait(data)
        result: dict = {}
        upload_id = b.init_multipart_upload(key).upload_id if op == "part" else None

        def run():
            try:
                if op == "put":
                    result["ok"] = b.put_object(key, body)
                elif op == "append":
                    result["ok"] = b.append_object(key, 0, body)
                else:
                    result["ok"] = b.upload_part(key, upload_id, 1, body)
            except Exception as e:  # noqa: BLE001 - checked by the caller
                result["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        blob = wait_until(lambda: next((n for n, size in blob_sizes(self.data_dir).items()
                                        if n not in before and size >= WRITTEN), None),
                          60, what="the server to write the first half into a new blob")
        result["upload_id"] = upload_id
        return t, result, blob

    def second_server_collects(self, gone: str) -> None:
        """Start a second server on the data dir, wait until blob `gone` is collected by its
        start-up collection, and stop it (so its sweep has certainly finished)."""
        self.second = ServerProcess(self.data_dir).start()
        wait_until(lambda: not os.path.exists(_blob_path(self.data_dir, gone)), 60,
                   what="the second server's start-up collection")
        assert self.second.stop() == 0, "".join(self.second.output)

    def close(self) -> None:
        if self.body is not None:
            self.body.release.set()
        for proc in (self.first, self.second):
            if proc is not None:
                proc.kill()


@pytest.fixture
def rig(tmp_path):
    r = _Rig(str(tmp_path / "data"))
    yield r
    r.close()


@pytest.mark.parametrize("op", ["put", "append", "part"])
def test_collector_spares_a_paused_write(rig, op):
    """The issue's reproduction: a write pauses mid-body 'for 20 minutes' while a second server
    process starts on the same data dir (its start-up collection runs); the write then finishes
    and its object must read back exactly."""
    data = det_bytes(f"paused-{op}", TOTAL)
    t, result, blob = rig.start_paused_write(op, "paused", data)
    _age(_blob_path(rig.data_dir, blob), TWENTY_MINUTES)
    # a real orphan (no row, no writer, old): once it is gone, the collection has run
    canary = _blob_path(rig.data_dir, "ca" * 16)
    os.makedirs(os.path.dirname(canary), exist_ok=True)
    open(canary, "wb").close()
    _age(canary, TWENTY_MINUTES)
    rig.second_server_collects("ca" * 16)

    rig.body.release.set()
    t.join(60)
    assert "ok" in result, f"the paused {op} failed: {result.get('error')!r}"
    if op == "part":
        parts = [oss2.models.PartInfo(1, result["ok"].etag)]
        rig.bucket.complete_multipart_upload("paused", result["upload_id"], parts)
    got = rig.bucket.get_object("paused").read()
    assert len(got) == len(data) and got == data, f"{op}: the object does not read back"


def test_collector_takes_an_abandoned_blob(rig):
    """The writer is killed with -9 mid-body: once its lease has expired (simulated by setting its
    renewal back an hour) and the blob is old, the next start-up collection removes the blob and
    its intent."""
    t, result, blob = rig.start_paused_write("put", "abandoned", det_bytes("ab", TOTAL))
    rig.first.kill()
    rig.body.release.set()
    t.join(60)
    assert "error" in result
    db = meta_db(rig.data_dir)
    try:
        assert [r[0] for r in db.execute("SELECT blob FROM blob_intents")] == [blob]
        with db:
            db.execute("UPDATE leases SET renewed = renewed - 3600")
    finally:
        db.close()
    _age(_blob_path(rig.data_dir, blob), TWENTY_MINUTES)
    rig.second_server_collects(blob)
    db = meta_db(rig.data_dir)
    try:
        assert list(db.execute("SELECT blob FROM blob_intents")) == []
        owners = [r[0] for r in db.execute("SELECT owner FROM leases")]
        assert owners == [], f"leases left behind: {owners}"  # dead one collected, live one dropped at stop
    finally:
        db.close()


def test_a_writer_taken_for_dead_cannot_commit(tmp_path, monkeypatch):
    """Fencing: if a live writer's lease lapsed (a stalled process) and a collector reclaimed its
    blob, the writer's commit must fail instead of referencing deleted bytes."""
    from ossbox.storage.errors import BlobReclaimed
    from ossbox.storage import journal as journal_mod
    from ossbox.storage.drivers import open_engine
    from ossbox.storage.records import BucketRecord, ObjectRecord

    async def scenario():
        writer, collector = open_engine(str(tmp_path)), open_engine(str(tmp_path))
        await writer.start()
        await collector.start()
        monkeypatch.setattr(journal_mod, "LEASE_RENEW", 3600)  # the writer "stalls": no renewal
        await writer.create_bucket(BucketRecord(name="b", owner="1", created=time.time(), region="r"))
        gate = asyncio.Event()

        async def body():
            yield b"first half "
            await gate.wait()
            yield b"second half"
        rec = ObjectRecord(bucket="b", key="k", type="Normal", size=0, crc64=0, etag="", blob="", mtime=0.0)
        put = asyncio.ensure_future(writer.put_object(rec, body(), content_length=22, content_md5=None))
        while not blob_sizes(str(tmp_path)):
            await asyncio.sleep(0.01)
        (blob,) = blob_sizes(str(tmp_path))
        await writer.meta.write(lambda t: t.renew_lease(writer.owner, time.time() - 3600))
        _age(_blob_path(str(tmp_path), blob), TWENTY_MINUTES)
        assert await collector.collect_garbage() == 1
        gate.set()
        with pytest.raises(BlobReclaimed):
            await put
        assert await writer.get_object("b", "k") is None
        # and the writer works again once its lease is renewed
        await writer._renew_lease()
        await writer.put_object(rec, body(), content_length=22, content_md5=None)
        got, reader = await writer.open_object("b", "k")
        assert b"".join([c async for c in reader.stream(0, got.size)]) == b"first half second half"
        await collector.stop()
        await writer.stop()

    asyncio.run(scenario())
