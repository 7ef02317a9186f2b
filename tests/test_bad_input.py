"""Malformed requests get 4xx OSS errors (status, Code, EC), never a 5xx, and change nothing stored."""
import base64
import email.utils
import hashlib
import http.client
import os
import random
import socket
from urllib.parse import quote, urlparse

import oss2
import pytest

from ossbox.auth import SignedRequest
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from signing import sign_v1_header

REFERENCE = b"reference bytes that must never change"


@pytest.fixture
def env(server, bucket):
    bucket.append_object("ref", 0, REFERENCE)
    before = _snapshot(bucket)
    yield server, bucket
    assert _snapshot(bucket) == before, "a rejected request changed stored data"


def _snapshot(bucket):
    objs = sorted((o.key, o.size, o.etag) for o in oss2.ObjectIterator(bucket))
    h = bucket.head_object("ref")
    return objs, h.headers["x-oss-hash-crc64ecma"], bucket.get_object("ref").read()


def send(server, method, path, query="", headers=None, body=b"", sign=True, bucket=None, key=None):
    """One raw HTTP request, V1-signed for (bucket, key) unless sign=False; returns (status, headers, body)."""
    headers = dict(headers or {})
    headers.setdefault("Date", email.utils.formatdate(usegmt=True))
    if sign:
        pairs = []
        for part in filter(None, query.split("&")):
            k, _, v = part.partition("=")
            pairs.append((k, v))
        lower = {k.lower(): v for k, v in headers.items()}
        sreq = SignedRequest(method, bucket, key, pairs, lower)
        headers["Authorization"] = sign_v1_header(sreq, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    u = urlparse(server.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        conn.request(method, path + ("?" + query if query else ""), body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def assert_oss_error(result, status, code):
    st, headers, body = result
    assert st == status, (st, body)
    assert f"<Code>{code}</Code>".encode() in body, body
    assert b"<RequestId>" in body and b"<EC>" in body and headers.get("x-oss-ec")
    assert len(headers["x-oss-request-id"]) == 24


def test_malformed_xml_bodies(env):
    server, b = env
    n = b.bucket_name
    bodies = [b"", b"<not-xml", b"<Wrong/>", b"\xff\xfe garbage", b"<Delete><Object><Key>ref</Key></Object>",
              b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;'
              b'&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;'
              b'&c;&c;&c;">]><Delete><Object><Key>&d;</Key></Object></Delete>']
    for body in bodies:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        r = send(server, "POST", f"/{n}/", "delete", {"Content-MD5": md5}, body, bucket=n)
        assert r[0] == 400, (body, r)
        r = send(server, "PUT", f"/{n}/ref", "tagging", {}, body, bucket=n, key="ref")
        assert r[0] == 400, (body, r)


def test_bad_keys_and_names(env):
    server, b = env
    n = b.bucket_name
    assert_oss_error(send(server, "GET", f"/{n}/%FF%FE", bucket=n, key="\udcff"), 400, "InvalidObjectName")
    assert_oss_error(send(server, "PUT", "/Bad_Bucket/", bucket="Bad_Bucket"), 400, "InvalidBucketName")
    assert_oss_error(send(server, "PUT", "/ab/", bucket="ab"), 400, "InvalidBucketName")
    long_key = "k" * 1024
    assert_oss_error(send(server, "PUT", f"/{n}/{long_key}", body=b"x", bucket=n, key=long_key),
                     400, "InvalidObjectName")


def test_path_tricks_stay_inside_the_data_dir(env):
    server, b = env
    key = "../../../../etc/ossbox-escape"
    b.put_object(key, b"inside")
    assert b.get_object(key).read() == b"inside"
    for dirpath, _dirs, files in os.walk(server.data_dir):
        assert "ossbox-escape" not in files
    assert not os.path.exists("/etc/ossbox-escape")
    b.delete_object(key)


def test_bad_headers(env):
    server, b = env
    n = b.bucket_name
    path, q = f"/{n}/ref", "append&position=" + str(len(REFERENCE))
    for headers, code in [({"Content-MD5": "%%%"}, "InvalidDigest"),
                          ({"Content-MD5": "AAAA"}, "InvalidDigest"),
                          ({"x-oss-object-acl": "nobody"}, None),  # later append: ACL is applied, so validated
                          ({"x-oss-traffic-limit": "abc"}, "InvalidArgument"),
                          ({"x-oss-hash-crc64ecma": "notanumber"}, "InvalidArgument")]:
        r = send(server, "POST", path, q, headers, b"x", bucket=n, key="ref")
        assert_oss_error(r, 400, code or "InvalidArgument")
    # a first-append tagging header that is not URL-encoded UTF-8
    r = send(server, "POST", f"/{n}/new", "append&position=0", {"x-oss-tagging": "a=%zz%"}, b"x", bucket=n, key="new")
    assert_oss_error(r, 400, "InvalidArgument")
    # garbage Range / If-* headers are ignored as OSS does, not errors
    r = send(server, "GET", path, "", {"Range": "bytes=zz-", "If-Modified-Since": "yesterday"}, bucket=n, key="ref")
    assert r[0] == 200 and r[2] == REFERENCE


def test_wrong_methods(env):
    server, b = env
    n = b.bucket_name
    assert_oss_error(send(server, "PATCH", f"/{n}/ref", bucket=n, key="ref"), 405, "MethodNotAllowed")
    assert_oss_error(send(server, "POST", f"/{n}/ref", bucket=n, key="ref"), 405, "MethodNotAllowed")
    assert_oss_error(send(server, "PUT", "/", bucket=None), 405, "MethodNotAllowed")


def test_truncated_body_leaves_object_unchanged(env):
    server, b = env
    n = b.bucket_name
    pos = len(REFERENCE)
    sreq = SignedRequest("POST", n, "ref", [("append", ""), ("position", str(pos))],
                         {"date": email.utils.formatdate(usegmt=True)})
    auth = sign_v1_header(sreq, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    u = urlparse(server.endpoint)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall((f"POST /{n}/ref?append&position={pos} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                   f"Date: {sreq.headers['date']}\r\nAuthorization: {auth}\r\n"
                   f"Content-Length: 100000\r\n\r\n").encode() + b"partial" * 100)
    # the connection is gone mid-body: the append must not have happened (checked by the fixture)
    assert b.head_object("ref").content_length == pos


def test_random_garbage_requests(env):
    """A bounded fuzz: random methods, paths, queries and headers, signed and unsigned."""
    server, b = env
    n = b.bucket_name
    rng = random.Random(20261125)
    methods = ["GET", "PUT", "POST", "DELETE", "HEAD"]
    subs = ["append", "position=-1", "position=abc", "seal", "uploads", "uploadId=zzz", "partNumber=0",
            "acl", "tagging", "delete", "list-type=2", "max-keys=-5", "max-keys=x", "marker=%FF",
            "continuation-token=!!!", "encoding-type=bogus", "versions", "objectMeta", "location",
            "bucketInfo", "prefix=" + quote("\u2603"), "delimiter=/", "versionId=1"]
    headers_pool = [("Content-MD5", "x"), ("x-oss-storage-class", ""), ("x-oss-object-acl", "?"),
                    ("Range", "bytes=-"), ("x-oss-copy-source", "/nope"), ("x-oss-copy-source", "garbage"),
                    ("x-oss-tagging", "=" * 300), ("x-oss-meta-big", "v" * 9000), ("If-Match", '"x"'),
                    ("x-oss-range-behavior", "standard"), ("Range", "bytes=99999-"),
                    ("x-oss-forbid-overwrite", "true"), ("Content-Type", "\u00ff")]
    seen = set()
    for _ in range(300):
        method = rng.choice(methods)
        key = rng.choice([None, "ref", "fuzz-key", "dir/sub/k"])
        query = "&".join(rng.sample(subs, rng.randint(0, 3)))
        hdrs = dict(rng.sample(headers_pool, rng.randint(0, 3)))
        body = rng.choice([b"", b"x", os.urandom(rng.randint(1, 2048))])
        if key == "ref" and not (method in ("GET", "HEAD") or (method == "POST" and "append" in query)):
            key = "fuzz-key"  # keep the reference object out of legitimate writes
        path = f"/{n}/" + (quote(key) if key else "")
        status, headers, payload = send(server, method, path, query, hdrs, body, sign=rng.random() < 0.9,
                                        bucket=n, key=key)
        seen.add(status)
        if method == "HEAD" and status >= 400:
            payload = base64.b64decode(headers["x-oss-err"])  # HEAD errors travel in a header
        assert status < 500 or (status == 501 and b"<Code>NotImplemented</Code>" in payload), \
            (method, path, query, hdrs, status, payload[:300])
        if status >= 400:
            assert b"<Error>" in payload and headers.get("x-oss-ec"), (method, path, query, payload[:200])
    for k in ["fuzz-key", "dir/sub/k"]:
        try:
            b.delete_object(k)
        except oss2.exceptions.OssError:
            pass
    assert any(s >= 400 for s in seen)
