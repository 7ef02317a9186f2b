"""A 5 GiB appendable object: bodies stream (server memory stays flat) and the cap holds."""
import os
import shutil

import fastcrc
import oss2
import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

GiB = 1024 ** 3
BLOCK = os.urandom(8 * 1024 * 1024)


def _rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def _blocks(n_bytes: int):
    for _ in range(n_bytes // len(BLOCK)):
        yield BLOCK


@pytest.mark.slow
def test_five_gib_object_streams_with_flat_memory(tmp_path):
    srv = ServerProcess(str(tmp_path)).start()
    try:
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "large",
                        enable_crc=False, connect_timeout=120)
        b.create_bucket()
        baseline = _rss_kib(srv.proc.pid, "VmRSS")
        crc, pos = 0, 0
        for _ in range(5):  # 5 chunked appends of 1 GiB: 5 GiB, exactly the cap
            r = b.append_object("big", pos, _blocks(GiB))
            for _ in range(GiB // len(BLOCK)):
                crc = fastcrc.crc64.xz(BLOCK, crc)
            pos += GiB
            assert r.next_position == pos and r.crc == crc
        peak_write = _rss_kib(srv.proc.pid, "VmHWM")
        # one more byte, streamed without Content-Length: refused, object unchanged
        with pytest.raises(oss2.exceptions.OssError) as e:
            b.append_object("big", pos, iter([b"x"]))
        assert (e.value.status, e.value.code) == (400, "InvalidArgument")
        h = b.head_object("big")
        assert h.content_length == 5 * GiB and h.headers["x-oss-hash-crc64ecma"] == str(crc)
        # read it all back, streaming
        got = b.get_object("big")
        rcrc, n = 0, 0
        for chunk in got.resp.response.iter_content(8 * 1024 * 1024):
            rcrc = fastcrc.crc64.xz(chunk, rcrc)
            n += len(chunk)
        assert n == 5 * GiB and rcrc == crc
        peak = _rss_kib(srv.proc.pid, "VmHWM")
        # "flat": a few dozen MiB of buffers over the idle footprint, never the object's size
        assert peak_write - baseline < 256 * 1024, (baseline, peak_write)
        assert peak - baseline < 256 * 1024, (baseline, peak)
    finally:
        srv.stop()
        # the 5 GiB object: pytest keeps the temp dirs of its last three sessions, failed or not
        shutil.rmtree(tmp_path, ignore_errors=True)
