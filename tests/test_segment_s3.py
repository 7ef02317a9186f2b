"""`ossbox server --data s3://...`: object bytes in an S3-compatible store, driven by the official
SDKs over HTTP -- against moto's in-process S3 in the fast suite and a real Ceph RGW (tests/rgw.py)
in the slow one. Two servers share the metadata (SQLite file, or the suite's PostgreSQL) and the
bucket, and a client switches between them at every request."""
from __future__ import annotations

import os
import threading

import oss2
import pytest

from appendkit import crc64, new_bucket
from s3segments import segment_store_args
from s3test import moto_s3  # noqa: F401  (fixture)
from rgw import rgw  # noqa: F401  (fixture)
from serverproc import ServerProcess

pytestmark = pytest.mark.timeout(300)
pytest.importorskip("obstore", reason="the s3 extra (obstore) is not installed")

@pytest.fixture(params=["moto", pytest.param("rgw", marks=pytest.mark.slow)])
def servers(request, tmp_path):
    url, env = segment_store_args(request.getfixturevalue("moto_s3" if request.param == "moto" else "rgw"))
    shared = str(tmp_path / "node")  # one SQLite file (or PostgreSQL schema) for both servers
    started = []
    try:
        for _ in range(2):
            started.append(ServerProcess(shared, extra_args=["--data", url], env=env).start())
        yield started
    finally:
        for srv in started:
            assert srv.stop() == 0, "".join(srv.output)


def test_objects_appends_and_multipart_through_two_servers(servers):
    one, two = (new_bucket(s.endpoint, "seg-s3") for s in servers)
    one.create_bucket()
    small, big = b"hello segments", os.urandom(6 * 1024 * 1024 + 123)
    one.put_object("small", small)
    two.put_object("big", big)
    assert one.get_object("big").read() == big
    assert two.get_object("small").read() == small
    assert one.get_object("big", byte_range=(5 * 1024 * 1024, 6 * 1024 * 1024)).read() == \
        big[5 * 1024 * 1024:6 * 1024 * 1024 + 1]

    # appends alternate between the servers: inline ones, and one that becomes a segment
    expected, pos = b"", 0
    for i, data in enumerate([b"a" * 10, os.urandom(300 * 1024), b"tail", os.urandom(5 * 1024 * 1024 + 7)]):
        r = (one, two)[i % 2].append_object("log", pos, data)
        expected += data
        pos = r.next_position
        assert r.crc == crc64(expected)
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as info:
        one.append_object("log", 3, b"late")
    assert int(info.value.headers["x-oss-next-append-position"]) == pos
    assert two.get_object("log").read() == expected
    assert one.get_object("log", byte_range=(5, 300 * 1024 + 20)).read() == expected[5:300 * 1024 + 21]

    # multipart: parts through both servers, completed through one, read through the other
    up = one.init_multipart_upload("mp").upload_id
    p1 = one.upload_part("mp", up, 1, big[:5 * 1024 * 1024])
    p2 = two.upload_part("mp", up, 2, big[5 * 1024 * 1024:])
    two.complete_multipart_upload("mp", up, [oss2.models.PartInfo(1, p1.etag), oss2.models.PartInfo(2, p2.etag)])
    assert one.get_object("mp").read() == big

    # copies, server-side encryption, overwrite, delete
    one.copy_object("seg-s3", "big", "big-copy")
    assert two.get_object("big-copy").read() == big
    two.put_object("enc", big, headers={"x-oss-server-side-encryption": "AES256"})
    assert one.get_object("enc", byte_range=(100, 200)).read() == big[100:201]
    one.put_object("small", b"replaced")
    assert two.get_object("small").read() == b"replaced"
    two.delete_object("big")
    assert not one.object_exists("big")


def test_racing_appenders_on_two_servers_have_one_winner_per_position(servers):
    buckets = [new_bucket(s.endpoint, "seg-race") for s in servers]
    buckets[0].create_bucket()
    pos, expected = 0, b""
    for round_ in range(25):
        datas = [os.urandom(n) for n in (100, 4096, 300 * 1024, 50)]
        results: list = [None] * 4

        def racer(i):
            try:
                results[i] = buckets[i % 2].append_object("race", pos, datas[i])
            except oss2.exceptions.PositionNotEqualToLength as e:
                results[i] = e
        threads = [threading.Thread(target=racer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
        assert len(won) == 1, (round_, results)
        expected += datas[won[0]]
        pos += len(datas[won[0]])
        for r in results:
            if isinstance(r, Exception):
                assert int(r.headers["x-oss-next-append-position"]) == pos
    got = buckets[1].get_object("race")
    assert got.read() == expected
    assert int(got.headers["x-oss-hash-crc64ecma"]) == crc64(expected)
