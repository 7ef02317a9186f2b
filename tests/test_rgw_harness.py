"""The private Ceph RGW of tests/rgw.py works as the real S3 store the scale-out suites need: object
round trips through obstore, ranged reads, LIST by prefix, conditional create, a gateway restart that
keeps the bytes, and a teardown that leaves no process or directory behind. The same round trip runs
against moto (tests/s3test.py), the fast suite's fake, so both answer alike where it matters.

The raw status codes are checked through presigned URLs (urllib), so what RGW itself answers is
pinned down, not only what the client library makes of it."""
import asyncio
import os
import urllib.error
import urllib.request

import pytest

import rgw as rgwtest
import s3test
from rgw import RgwCluster

# the two stores' fixtures, made visible to this module's tests
rgw = rgwtest.rgw
moto_s3 = s3test.moto_s3


def http(cluster, method: str, bucket: str, key: str, body: bytes = b"", headers=None):
    """(status, body) of one presigned request."""
    req = urllib.request.Request(cluster.presigned(method, bucket, key), method=method,
                                 data=body if method == "PUT" else None, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("store_fixture", [pytest.param("rgw", marks=pytest.mark.slow), "moto_s3"])
def test_object_round_trip(request, store_fixture):
    asyncio.run(object_round_trip(request.getfixturevalue(store_fixture)))


async def object_round_trip(s3) -> None:
    import obstore
    from obstore.exceptions import AlreadyExistsError

    s3.create_bucket("smoke")
    store = s3.s3_store("smoke")
    body = os.urandom(3 * 1024 * 1024 + 17)

    await obstore.put_async(store, "seg/a", body)
    got = await obstore.get_async(store, "seg/a")
    assert bytes(await got.bytes_async()) == body
    assert bytes(await obstore.get_range_async(store, "seg/a", start=1_000_000, end=1_000_100)) \
        == body[1_000_000:1_000_100]

    # streamed (multipart) upload from an async iterator, then a streamed ranged read
    async def chunks():
        for i in range(12):
            yield body[i * 512 * 1024:(i + 1) * 512 * 1024]
    await obstore.put_async(store, "seg/b", chunks(), chunk_size=5 * 1024 * 1024)
    stream = await obstore.get_async(store, "seg/b", options={"range": (100, 6 * 512 * 1024)})
    assert b"".join([bytes(c) async for c in stream]) == body[100:6 * 512 * 1024]

    await obstore.put_async(store, "segment-outside", b"x")
    listed = sorted([m["path"] async for batch in obstore.list(store, "seg/") for m in batch])
    assert listed == ["seg/a", "seg/b"]

    # conditional create: RGW 16 (and moto) answer If-None-Match: * with 412 PreconditionFailed on an
    # existing key and keeps the first body; obstore reports it as AlreadyExistsError
    await obstore.put_async(store, "seg/once", b"first", mode="create")
    with pytest.raises(AlreadyExistsError):
        await obstore.put_async(store, "seg/once", b"second", mode="create")
    assert http(s3, "PUT", "smoke", "seg/once", b"third", {"If-None-Match": "*"})[0] == 412
    assert http(s3, "PUT", "smoke", "seg/new", b"new", {"If-None-Match": "*"})[0] == 200
    assert http(s3, "GET", "smoke", "seg/once") == (200, b"first")
    assert http(s3, "GET", "smoke", "seg/once", headers={"Range": "bytes=1-3"}) == (206, b"irs")

    await obstore.delete_async(store, "seg/a")
    # obstore raises the builtin FileNotFoundError (its own NotFoundError is deprecated, never raised)
    with pytest.raises(FileNotFoundError):
        await obstore.get_async(store, "seg/a")
    assert http(s3, "GET", "smoke", "seg/a")[0] == 404
    # DELETE of a missing key succeeds (S3 semantics): GC may delete twice
    await obstore.delete_async(store, "seg/a")
    # let obstore's runtime finish its background work inside the loop: without this pause the
    # interpreter's exit sometimes aborts (SIGABRT) after all work is done (docs/byte-store-libraries.md)
    await asyncio.sleep(0.05)


@pytest.mark.slow
def test_gateway_restart_keeps_bytes(rgw):
    rgw.create_bucket("restart")
    assert http(rgw, "PUT", "restart", "k", b"kept")[0] == 200
    rgw.stop_rgw()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(rgw.endpoint + "/", timeout=5)
    rgw.start_rgw()
    assert http(rgw, "GET", "restart", "k") == (200, b"kept")


@pytest.mark.slow
def test_teardown_leaves_nothing():
    reason = RgwCluster.unavailable()
    if reason:
        pytest.skip(reason)
    cluster = RgwCluster()
    try:
        cluster.start()
        pids = [p.pid for p in cluster.procs.values()]
        assert len(pids) == 3
    finally:
        cluster.destroy()
    assert not os.path.exists(cluster.root)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"Ceph daemon {pid} still running"
