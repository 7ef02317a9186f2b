"""GZIP-coded GetObject/HeadObject answers (ossbox/ops/gzip_encoding.py; OSS's FAQ "How do I
compress objects that I download from OSS in the GZIP format?"), through a real server with oss2,
alibabacloud-oss-v2 and raw HTTP (to see the bytes on the wire)."""
from __future__ import annotations

import http.client
import os
import zlib
from urllib.parse import urlsplit

import pytest
import requests

import oss2

from serverproc import ServerProcess

TEXT = (b"OSS compresses text objects of 1 KB and more for clients that accept gzip.\n" * 200)[:8000]


def raw_get(bucket: oss2.Bucket, key: str, headers: dict, method: str = "GET"):
    """(status, headers, raw body bytes as sent) of a presigned request: http.client decodes no
    Content-Encoding and shows whether the answer was chunked."""
    url = bucket.sign_url(method, key, 300, headers=headers)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path + "?" + parts.query, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def test_text_object_goes_gzip_coded_and_chunked(bucket):
    bucket.put_object("page.txt", TEXT)   # text/plain from the name
    stored = bucket.head_object("page.txt")
    status, headers, body = raw_get(bucket, "page.txt", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert headers["transfer-encoding"] == "chunked"
    # OSS leaves out what describes the stored bytes as sent; CRC-64 and MD5 stay (of the object)
    for gone in ("content-length", "etag", "accept-ranges"):
        assert gone not in headers
    assert headers["x-oss-hash-crc64ecma"] == str(stored.server_crc)
    assert headers["content-md5"] == stored.headers["content-md5"]
    assert len(body) < len(TEXT)
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == TEXT


def test_oss2_reads_the_decoded_object(bucket, tmp_path):
    bucket.put_object("data.json", TEXT)
    result = bucket.get_object("data.json", headers={"Accept-Encoding": "gzip"})
    assert result.headers["Content-Encoding"] == "gzip"
    assert result.content_length is None
    assert result.read() == TEXT
    # get_object_to_file skips its CRC check for gzip (the CRC is the object's), and the file
    # holds the decoded bytes
    target = str(tmp_path / "out.json")
    bucket.get_object_to_file("data.json", target, headers={"Accept-Encoding": "gzip"})
    with open(target, "rb") as f:
        assert f.read() == TEXT


def test_v2_sdk_gets_the_decoded_object(v2, bucket):
    import alibabacloud_oss_v2 as oss
    bucket.put_object("app.js", TEXT, headers={"Content-Type": "application/javascript; charset=utf-8"})
    res = v2.get_object(oss.GetObjectRequest(bucket=bucket.bucket_name, key="app.js", accept_encoding="gzip"))
    assert res.content_encoding == "gzip"
    assert res.body.read() == TEXT


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/html", "text/css", "text/xml", "text/json", "text/cache-manifest",
    "application/json", "application/javascript", "application/x-javascript", "application/rss+xml",
    "TEXT/Plain; charset=utf-8",
])
def test_every_listed_type_is_compressed(bucket, content_type):
    bucket.put_object("k", TEXT, headers={"Content-Type": content_type})
    status, headers, body = raw_get(bucket, "k", {"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip", content_type
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == TEXT


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", "application/xml",
                                          "text/javascript", "application/pdf"])
def test_other_types_are_sent_as_stored(bucket, content_type):
    bucket.put_object("k", TEXT, headers={"Content-Type": content_type})
    status, headers, body = raw_get(bucket, "k", {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in headers
    assert headers["content-length"] == str(len(TEXT)) and body == TEXT
    assert headers["etag"]


def test_size_threshold_is_1024_bytes(bucket):
    bucket.put_object("small.txt", TEXT[:1023])
    bucket.put_object("exact.txt", TEXT[:1024])
    _, small, body = raw_get(bucket, "small.txt", {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small and small["content-length"] == "1023" and body == TEXT[:1023]
    _, exact, body = raw_get(bucket, "exact.txt", {"Accept-Encoding": "gzip"})
    assert exact["content-encoding"] == "gzip"
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == TEXT[:1024]


@pytest.mark.parametrize("accept", ["gzip", "gzip, deflate", "deflate, gzip;q=0.5", "x-gzip", "GZIP"])
def test_accept_encoding_forms_that_allow_gzip(bucket, accept):
    bucket.put_object("a.txt", TEXT)
    _, headers, _ = raw_get(bucket, "a.txt", {"Accept-Encoding": accept})
    assert headers.get("content-encoding") == "gzip"


@pytest.mark.parametrize("accept", [None, "identity", "deflate", "br", "gzip;q=0"])
def test_accept_encoding_forms_that_do_not(bucket, accept):
    bucket.put_object("a.txt", TEXT)
    _, headers, body = raw_get(bucket, "a.txt", {"Accept-Encoding": accept} if accept else {})
    assert "content-encoding" not in headers and body == TEXT
    assert headers["content-length"] == str(len(TEXT))


def test_range_request_is_not_compressed(bucket):
    bucket.put_object("a.txt", TEXT)
    status, headers, body = raw_get(bucket, "a.txt", {"Accept-Encoding": "gzip", "Range": "bytes=10-2009"})
    assert status == 206 and "content-encoding" not in headers
    assert body == TEXT[10:2010]
    r = bucket.get_object("a.txt", byte_range=(0, 99), headers={"Accept-Encoding": "gzip"})
    assert r.read() == TEXT[:100]


def test_stored_content_encoding_is_not_compressed_twice(bucket):
    packed = zlib.compress(TEXT)
    bucket.put_object("pre.txt", packed, headers={"Content-Encoding": "deflate"})
    _, headers, body = raw_get(bucket, "pre.txt", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "deflate" and body == packed


def test_head_matches_get(bucket):
    bucket.put_object("a.txt", TEXT)
    status, headers, body = raw_get(bucket, "a.txt", {"Accept-Encoding": "gzip"}, method="HEAD")
    assert status == 200 and body == b""
    assert headers["content-encoding"] == "gzip"
    for gone in ("content-length", "etag", "accept-ranges"):
        assert gone not in headers
    # without Accept-Encoding HEAD is unchanged (what SDKs' downloads read)
    plain = bucket.head_object("a.txt")
    assert plain.content_length == len(TEXT) and plain.etag
    assert "Content-Encoding" not in plain.headers


def test_etag_conditions_still_apply(bucket):
    etag = bucket.put_object("a.txt", TEXT).etag
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("a.txt", headers={"Accept-Encoding": "gzip", "If-None-Match": f'"{etag}"'})


def test_appendable_object_is_compressed_whole(bucket):
    r = bucket.append_object("log.txt", 0, TEXT[:600])
    r = bucket.append_object("log.txt", r.next_position, TEXT[600:], init_crc=r.crc)
    status, headers, body = raw_get(bucket, "log.txt", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert headers["x-oss-object-type"] == "Appendable"
    assert headers["x-oss-next-append-position"] == str(len(TEXT))
    assert headers["x-oss-hash-crc64ecma"] == str(r.crc)
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == TEXT
    # a small appendable object is not compressed; once it grows past 1 KiB it is
    bucket.append_object("grow.txt", 0, TEXT[:500])
    assert "content-encoding" not in raw_get(bucket, "grow.txt", {"Accept-Encoding": "gzip"})[1]
    bucket.append_object("grow.txt", 500, TEXT[500:1500])
    _, headers, body = raw_get(bucket, "grow.txt", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert zlib.decompress(body, 16 + zlib.MAX_WBITS) == TEXT[:1500]


def test_presigned_url_download_is_chunked(bucket, tmp_path):
    """oss2's test_get_object_with_url_to_file_chunked, with a real file."""
    bucket.put_object("c.txt", b"a" * 1024)
    url = bucket.sign_url("GET", "c.txt", 240)
    target = str(tmp_path / "c.txt")
    result = bucket.get_object_with_url_to_file(url, target, headers={"Accept-Encoding": "gzip"})
    assert result.headers["Transfer-Encoding"] == "chunked"
    with open(target, "rb") as f:
        assert f.read() == b"a" * 1024


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow  # a large object through gzip (~6 s)
def test_big_object_streams_with_flat_memory(tmp_path):
    """A 256 MiB text object compressed on the way out: the server's peak memory grows by far less
    than the object (it compresses chunk by chunk, never the whole object)."""
    import oss2 as o
    from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
    srv = ServerProcess(str(tmp_path / "data"), extra_args=["--durability", "none"]).start()
    try:
        b = o.Bucket(o.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "gzip-big")
        b.create_bucket()
        size = 256 * 1024 * 1024
        line = os.urandom(48).hex().encode() + b"\n"   # text-like, compressible about 2:1

        def produce():
            sent = 0
            while sent < size:
                piece = (line * (1024 * 1024 // len(line) + 1))[: min(1024 * 1024, size - sent)]
                sent += len(piece)
                yield piece
        b.put_object("big.txt", produce())
        before = _peak_rss_kib(srv.proc.pid)
        # requests decodes as it streams (oss2's read(n) starts a new decoding iterator per call,
        # which loses the decoder's state: with gzip, oss2 reads whole objects only)
        r = requests.get(b.sign_url("GET", "big.txt", 600), headers={"Accept-Encoding": "gzip"},
                         stream=True, timeout=120)
        assert r.headers["Content-Encoding"] == "gzip" and "Content-Length" not in r.headers
        got = 0
        for chunk in r.iter_content(1024 * 1024):
            got += len(chunk)
        assert got == size
        assert _peak_rss_kib(srv.proc.pid) - before < 64 * 1024
    finally:
        assert srv.stop() == 0


def test_cors_vary_keeps_accept_encoding(bucket):
    """A CORS rule with ResponseVary adds `Vary: Origin`; a compressed answer keeps its own
    `Accept-Encoding` beside it."""
    rule = oss2.models.CorsRule(allowed_origins=["*"], allowed_methods=["GET"], allowed_headers=["*"])
    bucket.put_bucket_cors(oss2.models.BucketCors([rule], response_vary=True))
    bucket.put_object("a.txt", TEXT)
    _, headers, _ = raw_get(bucket, "a.txt", {"Accept-Encoding": "gzip", "Origin": "https://example.com"})
    assert headers["content-encoding"] == "gzip"
    assert {v.strip() for v in headers["vary"].split(",")} == {"Accept-Encoding", "Origin"}
