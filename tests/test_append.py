"""AppendObject / SealAppendObject through the official SDKs against a real server."""
import base64
import hashlib
import os
import re

import crcmod
import oss2
import pytest

import alibabacloud_oss_v2 as oss

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


def raw(bucket, method, key, params, data=b"", headers=None):
    """A request through oss2's signer with exactly these query params (incl. malformed ones)."""
    return bucket._do(method, bucket.bucket_name, key, params=params, data=data, headers=headers or {})


def service_error(exc):
    """The ServiceError inside an alibabacloud-oss-v2 OperationError."""
    err = exc.unwrap() if hasattr(exc, "unwrap") else exc
    return err


# -- the basic protocol -------------------------------------------------------------------------
@pytest.mark.parametrize("signer", ["v1", "v4"])
def test_append_sequence_with_sdk_crc_checks(request, signer):
    b = request.getfixturevalue("bucket" if signer == "v1" else "bucket_v4")
    first = os.urandom(512)
    r = b.append_object("log", 0, first, init_crc=0)  # oss2 verifies the returned CRC itself
    assert r.status == 200 and r.next_position == 512 and r.crc == crc64(first)
    assert re.fullmatch(r"[0-9A-F]{32}", r.etag) and r.etag.endswith("00000000")
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as e:
        b.append_object("log", 0, b"again")
    assert e.value.status == 409 and e.value.next_position == 512
    assert e.value.code == "PositionNotEqualToLength" and e.value.ec == "0026-00000016"
    second = os.urandom(128)
    r2 = b.append_object("log", 512, second, init_crc=r.crc)
    assert r2.next_position == 640 and r2.crc == crc64(first + second) and r2.etag != r.etag
    got = b.get_object("log")
    assert got.read() == first + second
    assert got.headers["x-oss-object-type"] == "Appendable"
    assert got.headers["x-oss-next-append-position"] == "640"


def test_head_reports_appendable_state(bucket):
    r = bucket.append_object("h", 0, b"test")
    h = bucket.head_object("h")
    assert h.object_type == "Appendable" and h.content_length == 4
    assert h.headers["x-oss-next-append-position"] == "4"
    assert h.headers["x-oss-hash-crc64ecma"] == "18020588380933092773"  # the OSS docs' sample
    assert h.etag == r.etag and "Content-MD5" not in h.headers
    assert re.fullmatch(r"[0-9A-F]{24}", h.request_id)


def test_wrong_position_on_missing_key_reports_zero(bucket):
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as e:
        bucket.append_object("nothing-here", 5, b"x")
    assert e.value.next_position == 0
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object("nothing-here")


def test_append_to_normal_object_is_not_appendable(bucket):
    bucket.put_object("n", b"normal")
    for pos in (6, 0, 99):  # the type check wins over the position check
        with pytest.raises(oss2.exceptions.ObjectNotAppendable) as e:
            bucket.append_object("n", pos, b"x")
        assert isinstance(e.value, oss2.exceptions.Conflict)
        assert e.value.ec == "0026-00000017" and "x-oss-next-append-position" not in e.value.headers
    assert bucket.get_object("n").read() == b"normal"


def test_put_over_appendable_makes_it_normal(bucket):
    bucket.append_object("p", 0, b"abc")
    bucket.put_object("p", b"replaced")
    h = bucket.head_object("p")
    assert h.object_type == "Normal" and "Content-MD5" in h.headers
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object("p", 8, b"x")


def test_zero_byte_appends(bucket):
    r = bucket.append_object("z", 0, b"")
    assert r.next_position == 0 and r.crc == 0
    assert bucket.head_object("z").object_type == "Appendable"
    r1 = bucket.append_object("z", 0, b"data")  # position 0 on an empty appendable object
    r2 = bucket.append_object("z", 4, b"")
    assert (r2.next_position, r2.crc, r2.etag) == (4, r1.crc, r1.etag)


def test_chunked_streaming_append(bucket):
    parts = [os.urandom(100_000) for _ in range(5)]
    r = bucket.append_object("c", 0, iter(parts), init_crc=0)  # a generator goes out chunked
    assert r.next_position == 500_000
    assert bucket.get_object("c").read() == b"".join(parts)


def test_ranged_reads_across_append_boundaries(bucket):
    chunks = [os.urandom(n) for n in (10, 1, 4096, 333)]
    pos = 0
    for c in chunks:
        pos = bucket.append_object("r", pos, c).next_position
    data = b"".join(chunks)
    for a, z in [(0, 9), (9, 11), (10, 10), (5, 4400), (4400, len(data) - 1)]:
        got = bucket.get_object("r", byte_range=(a, z))
        assert got.status == 206 and got.read() == data[a:z + 1]
    assert bucket.get_object("r", byte_range=(None, 7)).read() == data[-7:]


# -- request validation ------------------------------------------------------------------------
def test_missing_position(bucket):
    with pytest.raises(oss2.exceptions.OssError) as e:
        raw(bucket, "POST", "k", {"append": ""}, b"x")
    assert (e.value.status, e.value.code, e.value.ec) == (400, "MissingArgument", "0016-00000501")


@pytest.mark.parametrize("position", ["test", "-1", "1.5", "", " 1", "0x10", "99999999999999999999", "١"])
def test_invalid_position(bucket, position):
    with pytest.raises(oss2.exceptions.OssError) as e:
        raw(bucket, "POST", "k", {"append": "", "position": position}, b"x")
    assert (e.value.status, e.value.code, e.value.ec) == (400, "MissingArgument", "0016-00000502")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object("k")


def test_version_id_is_refused(bucket):
    with pytest.raises(oss2.exceptions.OssError) as e:
        raw(bucket, "POST", "k", {"append": "", "position": "0", "versionId": "v1"}, b"x")
    assert (e.value.status, e.value.code, e.value.ec) == (400, "InvalidArgument", "0016-00000504")


def test_content_md5_checked_per_append(bucket):
    good = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    bucket.append_object("m", 0, b"hello", headers={"Content-MD5": good})
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.append_object("m", 5, b"world", headers={"Content-MD5": bad})
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.append_object("m", 5, b"world", headers={"Content-MD5": "not-base64!"})
    h = bucket.head_object("m")
    assert h.content_length == 5 and h.headers["x-oss-hash-crc64ecma"] == str(crc64(b"hello"))
    assert bucket.append_object("m", 5, b"world").next_position == 10
    assert bucket.get_object("m").read() == b"helloworld"


def test_expected_crc_header_is_checked(bucket):
    bucket.append_object("e", 0, b"abc")
    with pytest.raises(oss2.exceptions.OssError) as e:
        bucket.append_object("e", 3, b"def", headers={"x-oss-hash-crc64ecma": "12345"})
    assert (e.value.status, e.value.code) == (400, "InvalidCRC64")
    assert bucket.head_object("e").content_length == 3
    ok = bucket.append_object("e", 3, b"def", headers={"x-oss-hash-crc64ecma": str(crc64(b"abcdef"))})
    assert ok.next_position == 6


def test_missing_bucket(server, oss2_auth):
    b = oss2.Bucket(oss2_auth, server.endpoint, "no-such-bucket-here")
    with pytest.raises(oss2.exceptions.NoSuchBucket) as e:
        b.append_object("k", 0, b"x")
    assert e.value.ec == "0015-00000101" and e.value.details["BucketName"] == "no-such-bucket-here"


def test_invalid_keys(bucket):
    for key in ["a" * 1024, "/leading-slash", "\\leading-backslash"]:
        with pytest.raises(oss2.exceptions.OssError) as e:
            raw(bucket, "POST", key, {"append": "", "position": "0"}, b"x")
        assert (e.value.status, e.value.code) == (400, "InvalidObjectName")
    r = bucket.append_object("a" * 1023, 0, b"ok")
    assert r.next_position == 2
    assert bucket.append_object("日志/2026 11+%25.log", 0, b"u").next_position == 1
    assert bucket.get_object("日志/2026 11+%25.log").read() == b"u"


def test_size_cap_rejected_before_body(bucket):
    """Content-Length that would pass 5 GiB is refused from the headers, no body needed."""
    import socket
    from urllib.parse import urlparse
    u = urlparse(bucket.endpoint)
    req = oss2.http.Request("POST", f"{bucket.endpoint}/{bucket.bucket_name}/big",
                            params={"append": "", "position": "0"},
                            headers={"Content-Length": str(5 * 1024 ** 3 + 1)})
    bucket.auth._sign_request(req, bucket.bucket_name, "big")
    head = f"POST /{bucket.bucket_name}/big?append&position=0 HTTP/1.1\r\nHost: {u.netloc}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "host")
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall((head + "\r\n").encode() + b"only a few bytes")
        data = b""
        while b"</Error>" not in data:  # the reply may arrive in pieces
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        reply = data.decode("latin-1")
    assert reply.startswith("HTTP/1.1 400"), reply
    assert "<Code>InvalidArgument</Code>" in reply
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object("big")


@pytest.mark.parametrize("header,value,code", [
    ("x-oss-object-acl", "everyone", "InvalidArgument"),
    ("x-oss-storage-class", "Glacier", "InvalidArgument"),
    ("x-oss-storage-class", "ColdArchive", "InvalidArgument"),
    ("x-oss-storage-class", "DeepColdArchive", "InvalidArgument"),
    ("x-oss-server-side-encryption", "DES", "InvalidEncryptionAlgorithmError"),
    ("x-oss-traffic-limit", "1", "InvalidArgument"),
    ("x-oss-tagging", "&".join(f"k{i}=v" for i in range(15)), "InvalidArgument"),
])
def test_bad_creation_headers(bucket, header, value, code):
    with pytest.raises(oss2.exceptions.OssError) as e:
        bucket.append_object("bad", 0, b"x", headers={header: value})
    assert (e.value.status, e.value.code) == (400, code)
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object("bad")


# -- creation headers: first append only ---------------------------------------------------------
def test_creation_headers_from_first_append_only(bucket):
    first = {
        "Content-Type": "text/plain", "Cache-Control": "no-cache", "Content-Disposition": "inline",
        "Content-Encoding": "identity", "Expires": "Wed, 01 Jan 2031 00:00:00 GMT",
        "x-oss-meta-my": "first", "x-oss-object-acl": "public-read-write", "x-oss-storage-class": "IA",
        "x-oss-server-side-encryption": "KMS", "x-oss-server-side-data-encryption": "SM4",
    }
    r = bucket.append_object("f", 0, b"one", headers=first)
    assert r.headers["x-oss-server-side-encryption"] == "KMS"
    assert r.headers["x-oss-server-side-data-encryption"] == "SM4"
    assert r.headers["x-oss-server-side-encryption-key-id"]
    later = {"Content-Type": "image/png", "Cache-Control": "max-age=1", "x-oss-meta-my": "second",
             "x-oss-meta-mine": "new", "x-oss-storage-class": "Archive",
             "x-oss-server-side-encryption": "AES256", "x-oss-object-acl": "public-read"}
    r2 = bucket.append_object("f", 3, b"two", headers=later)
    assert r2.headers["x-oss-server-side-encryption"] == "KMS"  # the stored algorithm, not the request's
    h = bucket.head_object("f")
    assert h.content_type == "text/plain" and h.headers["Cache-Control"] == "no-cache"
    assert h.headers["Content-Disposition"] == "inline" and h.headers["Expires"].startswith("Wed, 01 Jan 2031")
    assert h.headers["x-oss-meta-my"] == "first" and "x-oss-meta-mine" not in h.headers
    assert h.headers["x-oss-storage-class"] == "IA"
    assert h.headers["x-oss-server-side-encryption"] == "KMS"
    # the ACL header is the one creation header a later append still applies (Go SDK live test)
    assert bucket.get_object_acl("f").acl == "public-read"
    bucket.append_object("f", 6, b"3")
    assert bucket.get_object_acl("f").acl == "public-read"


def test_tags_from_first_append_only(bucket):
    tags = "key1=value1&" + oss2.urlquote("k" * 128) + "=" + oss2.urlquote("v" * 256) + "&" + \
        oss2.urlquote("+-/") + "=" + oss2.urlquote(":+:")
    bucket.append_object("t", 0, b"x", headers={"x-oss-tagging": tags})
    assert bucket.head_object("t").headers["x-oss-tagging-count"] == "3"
    got = {k: v for k, v in bucket.get_object_tagging("t").tag_set.tagging_rule.items()}
    assert got == {"key1": "value1", "k" * 128: "v" * 256, "+-/": ":+:"}
    many = "&".join(f"k{i}=v{i}" for i in range(15))  # invalid, but silently ignored later
    bucket.append_object("t", 1, b"y", headers={"x-oss-tagging": many})
    assert bucket.head_object("t").headers["x-oss-tagging-count"] == "3"


def test_later_append_ignores_invalid_creation_headers(bucket):
    bucket.append_object("i", 0, b"x", headers={"x-oss-storage-class": "Standard"})
    r = bucket.append_object("i", 1, b"y", headers={"x-oss-storage-class": "ColdArchive",
                                                     "x-oss-server-side-encryption": "DES"})
    assert r.next_position == 2


# -- SealAppendObject ----------------------------------------------------------------------------
def test_seal(v2, bucket_name):
    v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="s", position=0, body=b"abc"))
    with pytest.raises(oss.exceptions.OperationError) as e:
        v2.seal_append_object(oss.SealAppendObjectRequest(bucket=bucket_name, key="s", position=1))
    se = service_error(e.value)
    assert (se.status_code, se.code, se.ec) == (409, "PositionNotEqualToLength", "0026-00000016")
    r = v2.seal_append_object(oss.SealAppendObjectRequest(bucket=bucket_name, key="s", position=3))
    assert r.sealed_time
    again = v2.seal_append_object(oss.SealAppendObjectRequest(bucket=bucket_name, key="s", position=3))
    assert again.sealed_time == r.sealed_time
    h = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="s"))
    assert h.object_type == "Appendable" and h.headers.get("x-oss-sealed-time") == r.sealed_time
    with pytest.raises(oss.exceptions.OperationError) as e:
        v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="s", position=3, body=b"d"))
    se = service_error(e.value)  # the v2 SDK's own test_seal_append_object expects exactly this
    assert (se.status_code, se.code, se.ec) == (400, "AppendSealedObjectNotAllowed", "0026-00000019")


def test_seal_of_a_normal_object(v2, bucket_name):
    """OSS's SealAppendObject page: 409 AppendSealedObjectNotAllowed on a non-Appendable object."""
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="n", body=b"abc"))
    with pytest.raises(oss.exceptions.OperationError) as e:
        v2.seal_append_object(oss.SealAppendObjectRequest(bucket=bucket_name, key="n", position=3))
    se = service_error(e.value)
    assert (se.status_code, se.code, se.ec) == (409, "AppendSealedObjectNotAllowed", "0026-00000020")


# -- alibabacloud-oss-v2 ---------------------------------------------------------------------------
def test_v2_append_and_errors(v2, bucket_name):
    r = v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="v", position=0, body=b"hi oss,append object",
                                                 init_hash_crc64="0"))
    assert r.next_position == 20 and r.hash_crc64 == "2313496259928504459"  # Go v2 mock sample
    r = v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="v", position=20, body=b",this is a demo",
                                                 init_hash_crc64=r.hash_crc64))
    assert r.hash_crc64 == "8586970469916596321" and r.version_id is None
    with pytest.raises(oss.exceptions.OperationError) as e:
        v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="v", position=0, body=b"x"))
    se = service_error(e.value)
    assert (se.status_code, se.code, se.ec) == (409, "PositionNotEqualToLength", "0026-00000016")
    assert se.headers.get("x-oss-next-append-position") == "35" and len(se.request_id) == 24


def test_v2_append_only_file(v2, bucket_name):
    parts = [os.urandom(70_000), b"", os.urandom(3), os.urandom(1 << 20)]
    with v2.append_file(bucket_name, "aof") as f:
        for p in parts:
            f.write(p)
    with v2.append_file(bucket_name, "aof") as f:  # reopen: continues at the current length
        f.write(b"tail")
    got = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="aof"))
    assert got.body.read() == b"".join(parts) + b"tail"


def test_metadata_bytes_round_trip_exactly(server, bucket):
    """Header values come back byte for byte, whether the client sent latin-1 or UTF-8."""
    import email.utils
    import http.client
    from ossbox.auth import SignedRequest
    from signing import sign_v1_header
    from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
    n = bucket.bucket_name
    for key, raw_value in [("latin1", "caf\xe9".encode("latin-1")), ("utf8", "café 日志".encode("utf-8"))]:
        date = email.utils.formatdate(usegmt=True)
        headers = {"date": date, "x-oss-meta-note": raw_value.decode("latin-1")}
        auth = sign_v1_header(SignedRequest("POST", n, key, [("append", ""), ("position", "0")], headers),
                              ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest("POST", f"/{n}/{key}?append&position=0")
        conn.putheader("Date", date)
        conn.putheader("Authorization", auth)
        conn.putheader("x-oss-meta-note", raw_value)
        conn.putheader("Content-Length", "1")
        conn.endheaders(b"x")
        created = conn.getresponse()
        created.read()
        assert created.status == 200
        conn.request("HEAD", f"/{n}/{key}", headers=bucket_head_headers(n, key))
        r = conn.getresponse()
        r.read()
        assert r.status == 200
        assert r.getheader("x-oss-meta-note").encode("latin-1") == raw_value
        conn.close()


def bucket_head_headers(bucket_name, key):
    import email.utils
    from ossbox.auth import SignedRequest
    from signing import sign_v1_header
    from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
    date = email.utils.formatdate(usegmt=True)
    auth = sign_v1_header(SignedRequest("HEAD", bucket_name, key, [], {"date": date}),
                          ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    return {"Date": date, "Authorization": auth}
