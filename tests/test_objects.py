"""Object operations through the official SDKs against a real ossbox server: PutObject, GetObject,
HeadObject, GetObjectMeta, CopyObject, object tagging and object ACL."""
import base64
import datetime
import email.utils
import hashlib
import os
import time
import uuid
import xml.etree.ElementTree as ET

import alibabacloud_oss_v2 as oss
import oss2
import pytest
from oss2.models import Tagging, TaggingRule

MiB = 1024 * 1024


def crc64(data: bytes) -> int:
    c = oss2.utils.Crc64(0)
    c.update(data)
    return c.crc


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def v2_error(excinfo) -> oss.exceptions.ServiceError:
    err = excinfo.value
    if isinstance(err, oss.exceptions.OperationError):
        err = err.unwrap()
    assert isinstance(err, oss.exceptions.ServiceError), repr(err)
    return err


def raw_object(bucket: oss2.Bucket, method: str, key: str, **kw):
    """A signed request through oss2's own request path, for shapes its helpers refuse to build."""
    return bucket._Bucket__do_object(method, key, **kw)


def tagging_of(bucket: oss2.Bucket, key: str) -> dict:
    return dict(bucket.get_object_tagging(key).tag_set.tagging_rule)


def make_tagging(pairs: dict) -> Tagging:
    rule = TaggingRule()
    for k, v in pairs.items():
        rule.add(k, v)
    return Tagging(rule)


@pytest.fixture
def other_bucket(server, oss2_auth):
    name = "t-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    b.create_bucket()
    yield b
    for obj in oss2.ObjectIterator(b):
        b.delete_object(obj.key)
    b.delete_bucket()


# ================================================================================================
# PutObject / GetObject / HeadObject
# ================================================================================================
@pytest.mark.parametrize("which", ["v1", "v4"])
def test_put_get_roundtrip_crc_checked(which, bucket, bucket_v4):
    b = bucket if which == "v1" else bucket_v4
    assert b.enable_crc
    data = os.urandom(200_000)
    r = b.put_object("dir/obj.txt", data)
    assert r.etag == hashlib.md5(data).hexdigest().upper()
    assert r.crc == crc64(data)
    assert r.headers["Content-MD5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    got = b.get_object("dir/obj.txt")
    assert got.read() == data  # oss2 compares its running CRC with x-oss-hash-crc64ecma at EOF
    assert got.server_crc == crc64(data)
    assert got.content_type == "text/plain"  # oss2 derives it from the extension
    assert got.object_type == "Normal"
    assert got.etag == r.etag
    h = b.head_object("dir/obj.txt")
    assert h.content_length == len(data)
    assert h.headers["x-oss-hash-crc64ecma"] == str(crc64(data))
    assert h.headers["Content-MD5"] == r.headers["Content-MD5"]
    assert "x-oss-next-append-position" not in h.headers


def test_get_to_file_and_head(bucket, tmp_path):
    data = os.urandom(MiB + 17)
    bucket.put_object("f.bin", data)
    path = tmp_path / "out.bin"
    bucket.get_object_to_file("f.bin", str(path))
    assert path.read_bytes() == data
    assert bucket.object_exists("f.bin")
    assert not bucket.object_exists("nope")


def test_v2_put_get_head(v2, bucket_name):
    data = os.urandom(50_000)
    r = v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="v2.json", body=data,
                                           metadata={"owner": "alice"}))
    assert r.status_code == 200
    assert r.hash_crc64 == str(crc64(data))
    assert r.etag == '"%s"' % hashlib.md5(data).hexdigest().upper()
    g = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="v2.json"))
    assert g.body.read() == data
    assert g.content_type == "application/json"
    assert g.metadata == {"owner": "alice"}
    assert g.hash_crc64 == str(crc64(data))
    h = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="v2.json"))
    assert h.content_length == len(data)
    assert h.object_type == "Normal"
    assert h.storage_class == "Standard"


def test_default_content_type_without_extension(bucket, v2, bucket_name):
    bucket.put_object("noext", b"x")
    assert bucket.head_object("noext").content_type == "application/octet-stream"
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="v2noext", body=b"x"))
    h = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="v2noext"))
    assert h.content_type == "application/octet-stream"
    bucket.put_object("explicit.txt", b"x", headers={"Content-Type": "image/x-custom"})
    assert bucket.head_object("explicit.txt").content_type == "image/x-custom"


def test_zero_byte_object(bucket, bucket_v4, v2, bucket_name):
    r = bucket.put_object("empty", b"")
    assert r.etag == "D41D8CD98F00B204E9800998ECF8427E"
    assert r.crc == 0
    g = bucket.get_object("empty")
    assert g.read() == b""
    assert g.content_length == 0
    assert bucket.head_object("empty").content_length == 0
    assert bucket.get_object_meta("empty").content_length == 0
    assert bucket_v4.get_object("empty").read() == b""
    # classic: a range on an empty object is ignored; standard: unsatisfiable
    assert bucket.get_object("empty", byte_range=(0, None)).read() == b""
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.get_object("empty", byte_range=(0, None), headers={"x-oss-range-behavior": "standard"})
    assert (ei.value.status, ei.value.code) == (416, "InvalidRange")
    g2 = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="empty"))
    assert g2.body.read() == b"" and g2.content_length == 0


def test_user_metadata_roundtrip(bucket, v2, bucket_name):
    bucket.put_object("m", b"data", headers={"x-oss-meta-key1": "value1", "X-Oss-Meta-Key2": "Value 2"})
    h = bucket.head_object("m").headers
    assert h["x-oss-meta-key1"] == "value1"
    assert h["x-oss-meta-key2"] == "Value 2"
    g = bucket.get_object("m").headers
    assert g["x-oss-meta-key1"] == "value1"
    # UTF-8 values travel as raw UTF-8 bytes both ways (oss2 takes bytes header values as-is)
    text = "中文-値"
    bucket.put_object("u", b"data", headers={"x-oss-meta-name": text.encode("utf-8")})
    raw = bucket.head_object("u").headers["x-oss-meta-name"]
    assert raw.encode("latin-1").decode("utf-8") == text
    # v2 sends header values as latin-1: hand it the UTF-8 bytes in that form
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="u2", body=b"d",
                                       metadata={"city": "杭州".encode("utf-8").decode("latin-1")}))
    h2 = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="u2"))
    assert h2.metadata["city"].encode("latin-1").decode("utf-8") == "杭州"


def test_standard_http_headers_stored(bucket):
    headers = {"Cache-Control": "no-cache", "Content-Disposition": 'attachment; filename="a.txt"',
               "Content-Encoding": "identity", "Expires": "Fri, 24 Feb 2030 06:38:30 GMT",
               "Content-Language": "zh-CN"}
    bucket.put_object("h.txt", b"abc", headers=headers)
    got = bucket.get_object("h.txt").headers
    for k, v in headers.items():
        assert got[k] == v


def test_forbid_overwrite(bucket, v2, bucket_name):
    bucket.put_object("k", b"first", headers={"x-oss-forbid-overwrite": "true"})
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.put_object("k", b"second", headers={"x-oss-forbid-overwrite": "true"})
    assert (ei.value.status, ei.value.code) == (409, "FileAlreadyExists")
    assert ei.value.ec == "0017-00000901"
    assert bucket.get_object("k").read() == b"first"
    bucket.put_object("k", b"third", headers={"x-oss-forbid-overwrite": "false"})
    assert bucket.get_object("k").read() == b"third"
    with pytest.raises(Exception) as ei2:
        v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="k", body=b"x", forbid_overwrite=True))
    err = v2_error(ei2)
    assert (err.status_code, err.code) == (409, "FileAlreadyExists")


def test_put_over_appendable_makes_normal(bucket):
    bucket.append_object("a", 0, b"appended")
    assert bucket.head_object("a").object_type == "Appendable"
    bucket.put_object("a", b"normal")
    h = bucket.head_object("a")
    assert h.object_type == "Normal"
    assert "x-oss-next-append-position" not in h.headers
    assert bucket.get_object("a").read() == b"normal"


def test_content_md5(bucket, v2, bucket_name):
    data = b"hello md5"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    bucket.put_object("ok", data, headers={"Content-MD5": good})
    assert bucket.get_object("ok").read() == data
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object("bad", data, headers={"Content-MD5": wrong})
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("bad")
    # a failed overwrite leaves the old object alone
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object("ok", b"replacement", headers={"Content-MD5": wrong})
    assert bucket.get_object("ok").read() == data
    # not base64 of 16 bytes
    with pytest.raises(oss2.exceptions.InvalidDigest):
        bucket.put_object("bad", data, headers={"Content-MD5": "bm90LW1kNQ=="})
    with pytest.raises(Exception) as ei:
        v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="bad2", body=data, content_md5=wrong))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (400, "InvalidDigest")


def test_put_object_tagging_and_acl_headers(bucket, v2, bucket_name):
    bucket.put_object("t", b"x", headers={"x-oss-tagging": "k1=v1&k2=v%202&empty=",
                                          "x-oss-object-acl": "public-read"})
    assert tagging_of(bucket, "t") == {"k1": "v1", "k2": "v 2", "empty": ""}
    assert bucket.head_object("t").headers["x-oss-tagging-count"] == "3"
    assert bucket.get_object_acl("t").acl == "public-read"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_object("t2", b"x", headers={"x-oss-object-acl": "everyone"})
    too_many = "&".join(f"k{i}=v" for i in range(11))
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_object("t2", b"x", headers={"x-oss-tagging": too_many})
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("t2")
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="t3", body=b"x", tagging="a=1",
                                       acl="private"))
    r = v2.get_object_tagging(oss.GetObjectTaggingRequest(bucket=bucket_name, key="t3"))
    assert [(t.key, t.value) for t in r.tag_set.tags] == [("a", "1")]
    assert v2.get_object_acl(oss.GetObjectAclRequest(bucket=bucket_name, key="t3")).acl == "private"


def test_put_storage_class_and_sse(bucket):
    r = bucket.put_object("ia", b"x", headers={"x-oss-storage-class": "IA",
                                               "x-oss-server-side-encryption": "AES256"})
    assert r.headers["x-oss-server-side-encryption"] == "AES256"
    h = bucket.head_object("ia")
    assert h.headers["x-oss-storage-class"] == "IA"
    assert h.headers["x-oss-server-side-encryption"] == "AES256"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_object("bad", b"x", headers={"x-oss-storage-class": "Gold"})
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.put_object("bad", b"x", headers={"x-oss-server-side-encryption": "DES"})
    assert ei.value.code == "InvalidEncryptionAlgorithmError"


def test_missing_key_and_bucket(bucket, server, oss2_auth):
    with pytest.raises(oss2.exceptions.NoSuchKey) as ei:
        bucket.get_object("missing")
    assert ei.value.details["Key"] == "missing"
    with pytest.raises(oss2.exceptions.NotFound):
        bucket.head_object("missing")
    nob = oss2.Bucket(oss2_auth, server.endpoint, "t-no-such-bucket-" + uuid.uuid4().hex[:8])
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        nob.get_object("x")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        nob.put_object("x", b"1")


def test_version_id_on_unversioned_bucket(bucket):
    bucket.put_object("v", b"current")
    assert bucket.get_object("v", params={"versionId": "null"}).read() == b"current"
    assert bucket.head_object("v", params={"versionId": "null"}).status == 200
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.get_object("v", params={"versionId": "CAEQNhiBgMDJgZCA0BYiIDc4"})
    assert (ei.value.status, ei.value.code) == (404, "NoSuchVersion")
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.head_object("v", params={"versionId": "CAEQNhiBgMDJgZCA0BYiIDc4"})
    assert (ei.value.status, ei.value.code) == (404, "NoSuchVersion")


def test_put_with_expected_crc(bucket):
    data = b"crc checked upload"
    r = bucket.put_object("c", data, headers={"x-oss-hash-crc64ecma": str(crc64(data))})
    assert r.crc == crc64(data)
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.put_object("c2", data, headers={"x-oss-hash-crc64ecma": str(crc64(data) ^ 1)})
    assert (ei.value.status, ei.value.code) == (400, "InvalidCRC64")
    assert not bucket.object_exists("c2")


def test_delete_object(bucket):
    bucket.put_object("d", b"1")
    assert bucket.delete_object("d").status == 204
    assert bucket.delete_object("d").status == 204  # missing is fine
    assert not bucket.object_exists("d")
    # a version that does not exist in an unversioned bucket: no-op, the object stays
    bucket.put_object("d", b"2")
    bucket.delete_object("d", params={"versionId": "CAEQNhiBgMDJgZCA0BYiIDc4"})
    assert bucket.get_object("d").read() == b"2"


# ================================================================================================
# Ranges
# ================================================================================================
def test_range_classic(bucket):
    data = os.urandom(1000)
    bucket.put_object("r", data)

    def get(rng, **kw):
        res = bucket.get_object("r", byte_range=rng, **kw)
        return res.status, res.headers.get("Content-Range"), res.read()

    assert get((0, 499)) == (206, "bytes 0-499/1000", data[:500])
    assert get((500, None)) == (206, "bytes 500-999/1000", data[500:])
    assert get((None, 199)) == (206, "bytes 801-999/1000", data[-199:])
    assert get((3, 3)) == (206, "bytes 3-3/1000", data[3:4])
    assert get((0, 999)) == (206, "bytes 0-999/1000", data)
    # classic OSS: an out-of-range request is ignored and the whole object comes back with 200
    for rng in [(0, 1000), (1000, 2000), (1000, None), (None, 2000), (10, 5)]:
        assert get(rng) == (200, None, data), rng
    for value in ["byte=0-10", "bytes=a-b", "bytes=-", "bytes=-0", "items=0-1"]:
        res = bucket.get_object("r", headers={"Range": value})
        assert (res.status, res.read()) == (200, data), value
    res = bucket.get_object("r", headers={"Range": "bytes=0-9,20-29"})  # only the first range counts
    assert (res.status, res.headers["Content-Range"], res.read()) == (206, "bytes 0-9/1000", data[:10])


def test_range_standard(bucket, v2, bucket_name):
    data = os.urandom(1000)
    bucket.put_object("r", data)
    std = {"x-oss-range-behavior": "standard"}

    def get(rng):
        res = bucket.get_object("r", byte_range=rng, headers=std)
        return res.status, res.headers.get("Content-Range"), res.read()

    assert get((0, 499)) == (206, "bytes 0-499/1000", data[:500])
    assert get((500, 2000)) == (206, "bytes 500-999/1000", data[500:])
    assert get((None, 2000)) == (206, "bytes 0-999/1000", data)
    for rng in [(1000, 2000), (1000, None)]:
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            get(rng)
        assert (ei.value.status, ei.value.code) == (416, "InvalidRange")
    r = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="r", range_header="bytes=990-5000",
                                           range_behavior="standard"))
    assert r.status_code == 206
    assert r.content_range == "bytes 990-999/1000"
    assert r.body.read() == data[990:]
    with pytest.raises(Exception) as ei:
        v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="r", range_header="bytes=1000-",
                                           range_behavior="standard"))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (416, "InvalidRange")


@pytest.mark.parametrize("which", ["v1", "v4"])
def test_3mib_object_in_ranges(which, bucket, bucket_v4):
    b = bucket if which == "v1" else bucket_v4
    data = os.urandom(3 * MiB)
    b.put_object("big", data)
    step = 700 * 1024
    out = bytearray()
    for start in range(0, len(data), step):
        end = min(start + step, len(data)) - 1
        res = b.get_object("big", byte_range=(start, end))
        assert res.status == 206
        assert res.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert res.headers["x-oss-hash-crc64ecma"] == str(crc64(data))  # always the whole object's
        chunk = res.read()
        assert len(chunk) == end - start + 1
        out += chunk
    assert bytes(out) == data
    assert b.get_object("big").read() == data


def test_v2_ranged_reads_3mib(v2, bucket_name):
    data = os.urandom(3 * MiB)
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="big", body=data))
    out = bytearray()
    for start in range(0, len(data), MiB):
        r = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="big",
                                               range_header=f"bytes={start}-{start + MiB - 1}",
                                               range_behavior="standard"))
        assert r.status_code == 206
        out += r.body.read()
    assert bytes(out) == data
    with v2.open_file(bucket_name, "big") as f:  # ReadOnlyFile: HEAD + standard ranged GETs
        f.seek(MiB + 5)
        assert f.read(100) == data[MiB + 5:MiB + 105]


# ================================================================================================
# Conditions and response-* overrides
# ================================================================================================
def test_get_conditions(bucket):
    r = bucket.put_object("c", b"conditional")
    etag = '"%s"' % r.etag
    mtime = bucket.head_object("c").last_modified
    past, future = http_date(mtime - 3600), http_date(mtime + 3600)
    same = http_date(mtime)

    assert bucket.get_object("c", headers={"If-Match": etag}).read() == b"conditional"
    assert bucket.get_object("c", headers={"If-Match": r.etag.lower()}).status == 200
    with pytest.raises(oss2.exceptions.PreconditionFailed) as ei:
        bucket.get_object("c", headers={"If-Match": '"0000"'})
    assert ei.value.status == 412 and ei.value.details["Condition"] == "If-Match"
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-None-Match": etag})
    assert bucket.get_object("c", headers={"If-None-Match": '"0000"'}).status == 200
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-Modified-Since": same})
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-Modified-Since": future})
    assert bucket.get_object("c", headers={"If-Modified-Since": past}).status == 200
    assert bucket.get_object("c", headers={"If-Modified-Since": "not a date"}).status == 200
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers={"If-Unmodified-Since": past})
    assert bucket.get_object("c", headers={"If-Unmodified-Since": same}).status == 200
    # 412 wins over 304
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers={"If-Match": '"0000"', "If-None-Match": etag})

    # HEAD: the same conditions; 304 is a bare status, 412 comes through x-oss-err
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.head_object("c", headers={"If-None-Match": etag})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.head_object("c", headers={"If-Match": '"0000"'})
    assert bucket.head_object("c", headers={"If-Match": etag}).status == 200


def test_v2_get_conditions(v2, bucket_name):
    r = v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="c", body=b"abc"))
    with pytest.raises(Exception) as ei:
        v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="c", if_match='"0000"'))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (412, "PreconditionFailed")
    with pytest.raises(Exception) as ei:
        v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="c", if_none_match=r.etag))
    assert v2_error(ei).status_code == 304
    g = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="c", if_match=r.etag))
    assert g.body.read() == b"abc"


def test_response_overrides(bucket, bucket_v4, v2, bucket_name):
    bucket.put_object("o.txt", b"override")
    params = {"response-content-type": "application/x-test",
              "response-content-disposition": 'attachment; filename="x.bin"',
              "response-cache-control": "no-store",
              "response-content-language": "en",
              "response-expires": "Thu, 01 Feb 2030 17:00:00 GMT",
              "response-content-encoding": "identity"}
    for b in (bucket, bucket_v4):
        res = b.get_object("o.txt", params=params)
        assert res.read() == b"override"
        assert res.headers["Content-Type"] == "application/x-test"
        assert res.headers["Content-Disposition"] == 'attachment; filename="x.bin"'
        assert res.headers["Cache-Control"] == "no-store"
        assert res.headers["Content-Language"] == "en"
        assert res.headers["Expires"] == "Thu, 01 Feb 2030 17:00:00 GMT"
        assert res.headers["Content-Encoding"] == "identity"
    r = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="o.txt",
                                           response_content_type="text/x-v2"))
    assert r.content_type == "text/x-v2"
    r.body.read()
    # the stored Content-Type is untouched
    assert bucket.head_object("o.txt").content_type == "text/plain"


# ================================================================================================
# GetObjectMeta
# ================================================================================================
def test_get_object_meta(bucket, bucket_v4):
    data = os.urandom(4321)
    r = bucket.put_object("meta", data, headers={"x-oss-meta-a": "b"})
    for b in (bucket, bucket_v4):
        m = b.get_object_meta("meta")
        assert m.status == 200
        assert m.content_length == len(data)
        assert m.etag == r.etag
        assert m.last_modified == b.head_object("meta").last_modified
        assert m.headers["x-oss-hash-crc64ecma"] == str(crc64(data))
        assert "x-oss-last-access-time" not in m.headers
        assert "x-oss-meta-a" not in m.headers  # lightweight: no user metadata
    with pytest.raises(oss2.exceptions.NoSuchKey) as ei:
        bucket.get_object_meta("missing")
    assert ei.value.details["Key"] == "missing"  # decoded from x-oss-err


def test_get_object_meta_appendable(bucket, v2, bucket_name):
    bucket.append_object("ap", 0, b"12345")
    r = bucket.append_object("ap", 5, b"678")
    m = bucket.get_object_meta("ap")
    assert m.content_length == 8
    assert m.etag == r.etag
    assert m.headers["x-oss-hash-crc64ecma"] == str(crc64(b"12345678"))
    v = v2.get_object_meta(oss.GetObjectMetaRequest(bucket=bucket_name, key="ap"))
    assert v.content_length == 8
    assert v.hash_crc64 == str(crc64(b"12345678"))
    assert v.etag == '"%s"' % r.etag
    assert v.last_access_time is None
    with pytest.raises(Exception) as ei:
        v2.get_object_meta(oss.GetObjectMetaRequest(bucket=bucket_name, key="missing"))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (404, "NoSuchKey")


def test_get_object_meta_no_such_bucket(server, oss2_auth):
    b = oss2.Bucket(oss2_auth, server.endpoint, "t-nobucket-" + uuid.uuid4().hex[:8])
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_object_meta("x")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.object_exists("x")


# ================================================================================================
# CopyObject
# ================================================================================================
@pytest.mark.parametrize("which", ["v1", "v4"])
def test_copy_object_basic(which, bucket, bucket_v4):
    b = bucket if which == "v1" else bucket_v4
    data = os.urandom(100_000)
    src = b.put_object("src.txt", data, headers={"x-oss-meta-color": "red", "Cache-Control": "max-age=5"})
    r = b.copy_object(b.bucket_name, "src.txt", "dst.bin")
    assert r.status == 200
    assert r.etag == src.etag
    assert r.crc == crc64(data)
    assert r.headers["Content-Type"] == "application/xml"
    got = b.get_object("dst.bin")
    assert got.read() == data  # CRC checked by oss2
    assert got.headers["x-oss-meta-color"] == "red"
    assert got.headers["Cache-Control"] == "max-age=5"
    assert got.content_type == "text/plain"  # metadata COPY: the source's content type
    assert got.object_type == "Normal"


def test_copy_object_response_body(bucket):
    bucket.put_object("s", b"body check")
    resp = raw_object(bucket, "PUT", "d", headers={"x-oss-copy-source": f"/{bucket.bucket_name}/s"})
    body = resp.read()
    root = ET.fromstring(body)
    assert root.tag == "CopyObjectResult"
    etag = root.find("ETag").text
    assert etag == '"%s"' % hashlib.md5(b"body check").hexdigest().upper()
    assert resp.headers["ETag"] == etag
    lm = root.find("LastModified").text
    datetime.datetime.strptime(lm, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert resp.headers["x-oss-hash-crc64ecma"] == str(crc64(b"body check"))


def test_v2_copy_object(v2, bucket_name):
    data = os.urandom(10_000)
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="dir/src key+?&.dat", body=data,
                                       metadata={"m": "1"}))
    r = v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="dst/中文 copy",
                                             source_key="dir/src key+?&.dat"))
    assert r.status_code == 200
    assert r.etag == '"%s"' % hashlib.md5(data).hexdigest().upper()
    assert r.hash_crc64 == str(crc64(data))
    assert r.last_modified is not None
    g = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="dst/中文 copy"))
    assert g.body.read() == data
    assert g.metadata == {"m": "1"}
    # REPLACE with new metadata and content type
    v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="dst2", source_key="dir/src key+?&.dat",
                                         metadata_directive="REPLACE", metadata={"n": "2"},
                                         content_type="text/csv"))
    h = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="dst2"))
    assert h.metadata == {"n": "2"}
    assert h.content_type == "text/csv"
    # REPLACE without a content type: the source's stays, the other stored headers go (the v2
    # SDK's test_metadata_tagging_directive_replace)
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="typed", body=b"t", content_type="text/plain",
                                       cache_control="no-cache", metadata={"a": "1"}))
    v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="typed2", source_key="typed",
                                         metadata_directive="REPLACE"))
    h = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="typed2"))
    assert (h.content_type, h.cache_control, h.metadata) == ("text/plain", None, None)
    with pytest.raises(Exception) as ei:
        v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="x", source_key="missing"))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (404, "NoSuchKey")
    # a copy onto itself that changes nothing is accepted (OSS, unlike S3)
    r = v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="dst2", source_key="dst2"))
    assert r.status_code == 200
    assert v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="dst2")).metadata == {"n": "2"}


def test_copy_special_keys(bucket):
    for key in ["a/b/c.txt", "sp ace", "plus+sign", "q?mark", "pct%20", "中文/文件", "amp&eq=x"]:
        bucket.put_object(key, key.encode("utf-8"))
        bucket.copy_object(bucket.bucket_name, key, key + ".copy")
        assert bucket.get_object(key + ".copy").read() == key.encode("utf-8")


def test_copy_metadata_directive(bucket):
    bucket.put_object("src", b"x", headers={"x-oss-meta-a": "1", "Content-Type": "text/a"})
    bucket.copy_object(bucket.bucket_name, "src", "copy", headers={
        "x-oss-metadata-directive": "COPY", "x-oss-meta-b": "2", "Content-Type": "text/ignored"})
    h = bucket.head_object("copy").headers
    assert h["x-oss-meta-a"] == "1" and "x-oss-meta-b" not in h
    assert h["Content-Type"] == "text/a"
    bucket.copy_object(bucket.bucket_name, "src", "replace", headers={
        "x-oss-metadata-directive": "REPLACE", "x-oss-meta-b": "2", "Content-Type": "text/b"})
    h = bucket.head_object("replace").headers
    assert h["x-oss-meta-b"] == "2" and "x-oss-meta-a" not in h
    assert h["Content-Type"] == "text/b"
    bucket.copy_object(bucket.bucket_name, "src", "replace-bare",
                       headers={"x-oss-metadata-directive": "REPLACE"})
    h = bucket.head_object("replace-bare").headers
    assert "x-oss-meta-a" not in h
    assert h["Content-Type"] == "text/a"  # REPLACE without a Content-Type keeps the source's
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.copy_object(bucket.bucket_name, "src", "bad",
                           headers={"x-oss-metadata-directive": "MERGE"})
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.copy_object(bucket.bucket_name, "src", "bad", headers={"x-oss-tagging-directive": "X"})
    assert not bucket.object_exists("bad")


def test_copy_replace_keeps_client_side_encryption(bucket, oss2_auth, server):
    """A REPLACE copy of a client-side-encrypted object keeps the metadata that hold its wrapped
    data key, so the copy still decrypts (oss2's CryptoBucket copy tests)."""
    from Crypto.PublicKey import RSA
    from oss2.crypto import RsaProvider
    private = RSA.generate(2048)
    provider = RsaProvider(key_pair={"private_key": private.export_key(),
                                     "public_key": private.publickey().export_key()})
    crypto = oss2.CryptoBucket(oss2_auth, server.endpoint, bucket.bucket_name, crypto_provider=provider)
    data = os.urandom(1024)
    crypto.put_object("secret.js", data)
    src_meta = {k: v for k, v in bucket.head_object("secret.js").headers.items()
                if k.lower().startswith("x-oss-meta-client-side-encryption-")}
    assert src_meta
    bucket.copy_object(bucket.bucket_name, "secret.js", "copy.js", headers={
        "x-oss-metadata-directive": "REPLACE", "x-oss-meta-note": "n",
        "x-oss-meta-client-side-encryption-key": "bogus"})  # a request's own are ignored
    g = crypto.get_object("copy.js")
    assert g.read() == data
    assert g.headers["x-oss-meta-note"] == "n"
    assert g.headers["Content-Type"] == "application/javascript"
    copy_meta = {k: v for k, v in g.headers.items() if k.lower().startswith("x-oss-meta-client-side-encryption-")}
    assert copy_meta == src_meta
    crypto.update_object_meta("secret.js", {"x-oss-meta-note": "m"})
    assert crypto.get_object("secret.js").read() == data


def test_copy_tagging_directive(bucket):
    bucket.put_object("src", b"x", headers={"x-oss-tagging": "a=1&b=2"})
    bucket.copy_object(bucket.bucket_name, "src", "copy", headers={"x-oss-tagging": "c=3"})
    assert tagging_of(bucket, "copy") == {"a": "1", "b": "2"}
    bucket.copy_object(bucket.bucket_name, "src", "replace",
                       headers={"x-oss-tagging-directive": "Replace", "x-oss-tagging": "c=3"})
    assert tagging_of(bucket, "replace") == {"c": "3"}
    bucket.copy_object(bucket.bucket_name, "src", "replace-none",
                       headers={"x-oss-tagging-directive": "REPLACE"})
    assert tagging_of(bucket, "replace-none") == {}


def test_copy_source_conditions(bucket, v2, bucket_name):
    r = bucket.put_object("src", b"cond")
    etag = '"%s"' % r.etag
    mtime = bucket.head_object("src").last_modified
    past, future = http_date(mtime - 3600), http_date(mtime + 3600)
    ok = [{"x-oss-copy-source-if-match": etag},
          {"x-oss-copy-source-if-none-match": '"0000"'},
          {"x-oss-copy-source-if-modified-since": past},
          {"x-oss-copy-source-if-unmodified-since": future},
          {"x-oss-copy-source-if-unmodified-since": "2099-01-01T00:00:00.000Z"}]
    for i, headers in enumerate(ok):
        bucket.copy_object(bucket.bucket_name, "src", f"ok{i}", headers=headers)
        assert bucket.get_object(f"ok{i}").read() == b"cond"
    with pytest.raises(oss2.exceptions.PreconditionFailed) as failed:
        bucket.copy_object(bucket.bucket_name, "src", "no", headers={"x-oss-copy-source-if-match": '"00"'})
    assert failed.value.details["Condition"] == "x-oss-copy-source-if-match"  # the header OSS documents
    with pytest.raises(oss2.exceptions.PreconditionFailed) as failed:
        bucket.copy_object(bucket.bucket_name, "src", "no",
                           headers={"x-oss-copy-source-if-unmodified-since": past})
    assert failed.value.details["Condition"] == "x-oss-copy-source-if-unmodified-since"
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.copy_object(bucket.bucket_name, "src", "no", headers={"x-oss-copy-source-if-none-match": etag})
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.copy_object(bucket.bucket_name, "src", "no",
                           headers={"x-oss-copy-source-if-modified-since": future})
    assert not bucket.object_exists("no")
    with pytest.raises(Exception) as ei:
        v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="no", source_key="src",
                                             if_match='"0000"'))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (412, "PreconditionFailed")


def test_copy_forbid_overwrite(bucket):
    bucket.put_object("src", b"new")
    bucket.put_object("dst", b"old")
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.copy_object(bucket.bucket_name, "src", "dst", headers={"x-oss-forbid-overwrite": "true"})
    assert (ei.value.status, ei.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object("dst").read() == b"old"
    bucket.copy_object(bucket.bucket_name, "src", "fresh", headers={"x-oss-forbid-overwrite": "true"})
    assert bucket.get_object("fresh").read() == b"new"
    bucket.copy_object(bucket.bucket_name, "src", "dst")
    assert bucket.get_object("dst").read() == b"new"


def test_copy_destination_acl_class_sse(bucket):
    bucket.put_object("src", b"x", headers={"x-oss-object-acl": "public-read",
                                            "x-oss-server-side-encryption": "AES256",
                                            "x-oss-storage-class": "IA"})
    # ACL, storage class and encryption are not copied from the source
    bucket.copy_object(bucket.bucket_name, "src", "plain")
    assert bucket.get_object_acl("plain").acl == "default"
    h = bucket.head_object("plain").headers
    assert h["x-oss-storage-class"] == "Standard"
    assert "x-oss-server-side-encryption" not in h
    r = bucket.copy_object(bucket.bucket_name, "src", "set", headers={
        "x-oss-object-acl": "private", "x-oss-storage-class": "Archive",
        "x-oss-server-side-encryption": "KMS"})
    assert r.headers["x-oss-server-side-encryption"] == "KMS"
    assert r.headers["x-oss-server-side-encryption-key-id"]
    assert bucket.get_object_acl("set").acl == "private"
    h = bucket.head_object("set").headers
    assert h["x-oss-storage-class"] == "Archive"
    assert h["x-oss-server-side-encryption"] == "KMS"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.copy_object(bucket.bucket_name, "src", "bad", headers={"x-oss-object-acl": "nope"})
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.copy_object(bucket.bucket_name, "src", "bad", headers={"x-oss-storage-class": "Nope"})


def test_copy_appendable_source_becomes_normal(bucket, v2, bucket_name):
    bucket.append_object("ap", 0, b"part one;")
    r = bucket.append_object("ap", 9, b" part two")
    data = b"part one; part two"
    c = bucket.copy_object(bucket.bucket_name, "ap", "normal")
    assert c.crc == crc64(data) == r.crc
    assert c.etag == hashlib.md5(data).hexdigest().upper()
    h = bucket.head_object("normal")
    assert h.object_type == "Normal"
    assert "x-oss-next-append-position" not in h.headers
    assert h.headers["x-oss-hash-crc64ecma"] == str(crc64(data))
    assert bucket.get_object("normal").read() == data
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object("normal", len(data), b"more")
    # the source is still appendable
    bucket.append_object("ap", len(data), b"!")
    v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="normal2", source_key="ap"))
    h2 = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="normal2"))
    assert h2.object_type == "Normal"
    assert h2.hash_crc64 == str(crc64(data + b"!"))


def test_copy_to_itself(bucket):
    r = bucket.put_object("self.txt", b"same", headers={"x-oss-meta-a": "1", "x-oss-tagging": "t=1",
                                                         "Content-Type": "text/x-a"})
    before = bucket.head_object("self.txt")
    time.sleep(1.1)
    # OSS (unlike S3) accepts a copy onto itself that changes nothing: oss2's
    # update_object_meta(key, None) sends exactly that. The object is rewritten: a new mtime.
    c = bucket.update_object_meta("self.txt", None)
    assert c.status == 200 and c.etag == r.etag
    bucket.copy_object(bucket.bucket_name, "self.txt", "self.txt",
                       headers={"x-oss-metadata-directive": "COPY", "x-oss-meta-b": "2"})
    h = bucket.head_object("self.txt")
    assert h.last_modified > before.last_modified
    assert h.etag == r.etag and h.content_type == "text/x-a"
    assert h.headers["x-oss-meta-a"] == "1" and "x-oss-meta-b" not in h.headers  # COPY ignores it
    assert tagging_of(bucket, "self.txt") == {"t": "1"}
    c = bucket.update_object_meta("self.txt", {"x-oss-meta-b": "2", "Content-Type": "text/new"})
    assert c.etag == r.etag
    h = bucket.head_object("self.txt").headers
    assert h["x-oss-meta-b"] == "2" and "x-oss-meta-a" not in h
    assert h["Content-Type"] == "text/new"
    assert h["ETag"] == '"%s"' % r.etag
    assert tagging_of(bucket, "self.txt") == {"t": "1"}  # tagging directive COPY keeps the tags
    assert bucket.get_object("self.txt").read() == b"same"
    # changing the storage class of an object in place
    bucket.copy_object(bucket.bucket_name, "self.txt", "self.txt", headers={"x-oss-storage-class": "IA"})
    h = bucket.head_object("self.txt").headers
    assert h["x-oss-storage-class"] == "IA"
    assert h["x-oss-meta-b"] == "2"  # metadata COPY keeps it


def test_copy_appendable_onto_itself_stays_appendable(bucket, v2, bucket_name):
    bucket.append_object("log", 0, b"line1\n", headers={"x-oss-meta-v": "1"})
    r = bucket.append_object("log", 6, b"line2\n")
    bucket.update_object_meta("log", {"x-oss-meta-v": "2", "Content-Type": "text/plain"})
    h = bucket.head_object("log")
    assert h.object_type == "Appendable"
    assert h.headers["x-oss-meta-v"] == "2"
    assert h.headers["x-oss-next-append-position"] == "12"
    assert h.headers["x-oss-hash-crc64ecma"] == str(r.crc)
    assert h.etag == r.etag
    a = bucket.append_object("log", 12, b"line3\n", init_crc=r.crc)
    assert a.next_position == 18
    assert bucket.get_object("log").read() == b"line1\nline2\nline3\n"
    v2.copy_object(oss.CopyObjectRequest(bucket=bucket_name, key="log", source_key="log",
                                         metadata_directive="REPLACE", metadata={"v": "3"}))
    h2 = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="log"))
    assert h2.object_type == "Appendable" and h2.metadata == {"v": "3"}
    assert h2.next_append_position == 18


def test_copy_to_itself_forbid_overwrite(bucket):
    bucket.put_object("s", b"x")
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.copy_object(bucket.bucket_name, "s", "s", headers={
            "x-oss-metadata-directive": "REPLACE", "x-oss-forbid-overwrite": "true"})
    assert (ei.value.status, ei.value.code) == (409, "FileAlreadyExists")


def test_copy_cross_bucket(bucket, other_bucket):
    bucket.put_object("src", b"across")
    other_bucket.copy_object(bucket.bucket_name, "src", "dst")
    assert other_bucket.get_object("dst").read() == b"across"
    bucket.copy_object(other_bucket.bucket_name, "dst", "back")
    assert bucket.get_object("back").read() == b"across"


def test_copy_errors(bucket):
    bucket.put_object("src", b"x")
    with pytest.raises(oss2.exceptions.NoSuchKey) as ei:
        bucket.copy_object(bucket.bucket_name, "missing", "dst")
    assert ei.value.details["Key"] == "missing"
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket.copy_object("t-no-such-src-" + uuid.uuid4().hex[:8], "src", "dst")
    for bad in ["", "/", "nobucketslash", f"/{bucket.bucket_name}", f"/{bucket.bucket_name}/",
                "/Bad_Bucket/key"]:
        with pytest.raises(oss2.exceptions.InvalidArgument) as ei:
            raw_object(bucket, "PUT", "dst", headers={"x-oss-copy-source": bad})
        assert ei.value.ec == "0017-00000802", bad
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.copy_object(bucket.bucket_name, "src", "dst", params={"versionId": "CAEQxyz"})
    assert (ei.value.status, ei.value.code) == (404, "NoSuchVersion")
    bucket.copy_object(bucket.bucket_name, "src", "dst", params={"versionId": "null"})
    assert bucket.get_object("dst").read() == b"x"


# ================================================================================================
# Object tagging
# ================================================================================================
@pytest.mark.parametrize("which", ["v1", "v4"])
def test_object_tagging_oss2(which, bucket, bucket_v4):
    b = bucket if which == "v1" else bucket_v4
    r = b.put_object("t", b"x")
    before = b.head_object("t")
    time.sleep(1.1)
    tags = {"k1": "v1", "k" * 128: "v" * 256, "+-/": ":+:", "empty": "", "sp ace": "a b"}
    assert b.put_object_tagging("t", make_tagging(tags)).status == 200
    assert tagging_of(b, "t") == tags
    after = b.head_object("t")
    assert after.last_modified == before.last_modified
    assert after.etag == r.etag
    assert after.headers["x-oss-tagging-count"] == str(len(tags))
    b.put_object_tagging("t", make_tagging({"only": "one"}))  # replaces the whole set
    assert tagging_of(b, "t") == {"only": "one"}
    assert b.delete_object_tagging("t").status == 204
    assert tagging_of(b, "t") == {}
    assert "x-oss-tagging-count" not in b.head_object("t").headers
    assert b.delete_object_tagging("t").status == 204
    assert b.head_object("t").last_modified == before.last_modified


def test_object_tagging_v2(v2, bucket_name):
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="t", body=b"x"))
    r = v2.put_object_tagging(oss.PutObjectTaggingRequest(
        bucket=bucket_name, key="t",
        tagging=oss.Tagging(tag_set=oss.TagSet(tags=[oss.Tag(key="a", value="1"),
                                                     oss.Tag(key="b", value="2")]))))
    assert r.status_code == 200
    g = v2.get_object_tagging(oss.GetObjectTaggingRequest(bucket=bucket_name, key="t"))
    assert [(t.key, t.value) for t in g.tag_set.tags] == [("a", "1"), ("b", "2")]
    d = v2.delete_object_tagging(oss.DeleteObjectTaggingRequest(bucket=bucket_name, key="t"))
    assert d.status_code == 204
    g = v2.get_object_tagging(oss.GetObjectTaggingRequest(bucket=bucket_name, key="t"))
    assert not (g.tag_set and g.tag_set.tags)
    with pytest.raises(Exception) as ei:
        v2.get_object_tagging(oss.GetObjectTaggingRequest(bucket=bucket_name, key="missing"))
    assert (v2_error(ei).status_code, v2_error(ei).code) == (404, "NoSuchKey")


def test_object_tagging_get_xml_shape(bucket):
    bucket.put_object("t", b"x", headers={"x-oss-tagging": "a=1"})
    body = raw_object(bucket, "GET", "t", params={"tagging": ""}).read()
    root = ET.fromstring(body)
    assert root.tag == "Tagging"
    tags = root.find("TagSet").findall("Tag")
    assert [(t.find("Key").text, t.find("Value").text) for t in tags] == [("a", "1")]
    bucket.delete_object_tagging("t")
    root = ET.fromstring(raw_object(bucket, "GET", "t", params={"tagging": ""}).read())
    assert root.find("TagSet") is not None and not root.find("TagSet").findall("Tag")


def test_object_tagging_invalid(bucket):
    bucket.put_object("t", b"x", headers={"x-oss-tagging": "keep=me"})

    def put_raw(body: bytes):
        return raw_object(bucket, "PUT", "t", params={"tagging": ""}, data=body)

    def xml_of(pairs):
        tags = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
        return f"<Tagging><TagSet>{tags}</TagSet></Tagging>".encode()

    with pytest.raises(oss2.exceptions.ServerError) as ei:  # > 10 tags (oss2 lets it through)
        bucket.put_object_tagging("t", make_tagging({f"k{i}": "v" for i in range(11)}))
    assert (ei.value.status, ei.value.code) == (400, "InvalidTag")
    # oss2 refuses over-long keys/values itself; send those as raw XML
    for pairs in ([("k" * 129, "v")], [("k", "v" * 257)], [("bad*char", "v")], [("", "v")]):
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            put_raw(xml_of(pairs))
        assert (ei.value.status, ei.value.code) == (400, "InvalidTag"), pairs
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        put_raw(b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>")
    assert ei.value.code == "InvalidTag"
    dup = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>" \
          b"<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        put_raw(dup)
    assert ei.value.code == "InvalidTag"
    for body in [b"<Tagging><TagSet>", b"not xml", b"<Other/>", b"<Tagging></Tagging>"]:
        with pytest.raises(oss2.exceptions.MalformedXml):
            put_raw(body)
    assert tagging_of(bucket, "t") == {"keep": "me"}
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.put_object_tagging("missing", make_tagging({"a": "1"}))
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object_tagging("missing")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.delete_object_tagging("missing")


def test_object_tagging_utf8(bucket, v2, bucket_name):
    """OSS takes tag keys and values in any script (oss2's own copy-with-tagging test stores
    Chinese ones); the limits count characters, not UTF-8 bytes."""
    from urllib.parse import quote
    header = quote(" +/ ", safe="") + "=" + quote("中文", safe="") + "&" + quote("中文", safe="") + "=test%2B%2B%2F"
    bucket.put_object("u", b"x", headers={"x-oss-tagging": header})
    assert tagging_of(bucket, "u") == {" +/ ": "中文", "中文": "test++/"}
    long_pairs = {"键" * 128: "值" * 256, "Ünïcode": "ñ", "हिन्दी": "٣٤"}  # 384 and 768 bytes in UTF-8
    bucket.put_object_tagging("u", make_tagging(long_pairs))
    assert tagging_of(bucket, "u") == long_pairs
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="u2", body=b"x", tagging=quote("标签") + "=" + quote("数据")))
    g = v2.get_object_tagging(oss.GetObjectTaggingRequest(bucket=bucket_name, key="u2"))
    assert [(t.key, t.value) for t in g.tag_set.tags] == [("标签", "数据")]
    bucket.copy_object(bucket.bucket_name, "u", "u3", headers={
        "x-oss-tagging-directive": "REPLACE", "x-oss-tagging": header})
    assert tagging_of(bucket, "u3") == {" +/ ": "中文", "中文": "test++/"}
    # characters beyond the documented set stay refused, and the limits still apply
    # (as raw UTF-8 XML: oss2 refuses over-long keys and values itself)
    for k, v in (("键" * 129, "v"), ("k", "值" * 257), ("中文!", "v"), ("k", "值@")):
        body = f"<Tagging><TagSet><Tag><Key>{k}</Key><Value>{v}</Value></Tag></TagSet></Tagging>"
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            raw_object(bucket, "PUT", "u", params={"tagging": ""}, data=body.encode())
        assert (ei.value.status, ei.value.code) == (400, "InvalidTag"), (k, v)
    assert tagging_of(bucket, "u") == long_pairs
    with pytest.raises(oss2.exceptions.ServerError) as ei:
        bucket.put_object("u4", b"x", headers={"x-oss-tagging": quote("中文!", safe="") + "=v"})
    assert (ei.value.status, ei.value.code) == (400, "InvalidArgument")


def test_object_tagging_appendable(bucket):
    bucket.append_object("ap", 0, b"abc")
    etag = bucket.head_object("ap").etag
    bucket.put_object_tagging("ap", make_tagging({"a": "1"}))
    assert tagging_of(bucket, "ap") == {"a": "1"}
    h = bucket.head_object("ap")
    assert h.object_type == "Appendable" and h.etag == etag
    r = bucket.append_object("ap", 3, b"def")
    assert r.next_position == 6
    assert tagging_of(bucket, "ap") == {"a": "1"}
    bucket.delete_object_tagging("ap")
    assert tagging_of(bucket, "ap") == {}


# ================================================================================================
# Object ACL
# ================================================================================================
@pytest.mark.parametrize("which", ["v1", "v4"])
def test_object_acl_oss2(which, bucket, bucket_v4):
    b = bucket if which == "v1" else bucket_v4
    b.put_object("a", b"x")
    before = b.head_object("a")
    assert b.get_object_acl("a").acl == oss2.OBJECT_ACL_DEFAULT
    for acl in (oss2.OBJECT_ACL_PRIVATE, oss2.OBJECT_ACL_PUBLIC_READ, oss2.OBJECT_ACL_PUBLIC_READ_WRITE,
                oss2.OBJECT_ACL_DEFAULT):
        assert b.put_object_acl("a", acl).status == 200
        assert b.get_object_acl("a").acl == acl
    after = b.head_object("a")
    assert (after.last_modified, after.etag) == (before.last_modified, before.etag)


def test_object_acl_xml_shape(bucket):
    bucket.put_object("a", b"x", headers={"x-oss-object-acl": "private"})
    root = ET.fromstring(raw_object(bucket, "GET", "a", params={"acl": ""}).read())
    assert root.tag == "AccessControlPolicy"
    assert root.find("Owner/ID").text
    assert root.find("Owner/DisplayName").text
    assert root.find("AccessControlList/Grant").text == "private"


def test_object_acl_v2(v2, bucket_name):
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="a", body=b"x"))
    assert v2.get_object_acl(oss.GetObjectAclRequest(bucket=bucket_name, key="a")).acl == "default"
    r = v2.put_object_acl(oss.PutObjectAclRequest(bucket=bucket_name, key="a", acl="public-read"))
    assert r.status_code == 200
    g = v2.get_object_acl(oss.GetObjectAclRequest(bucket=bucket_name, key="a"))
    assert g.acl == "public-read"
    assert g.owner.id
    with pytest.raises(Exception) as ei:
        v2.put_object_acl(oss.PutObjectAclRequest(bucket=bucket_name, key="a", acl="bogus"))
    err = v2_error(ei)
    assert (err.status_code, err.code, err.ec) == (400, "InvalidArgument", "0017-00000105")


def test_object_acl_errors(bucket):
    bucket.put_object("a", b"x")
    with pytest.raises(oss2.exceptions.InvalidArgument) as ei:
        raw_object(bucket, "PUT", "a", params={"acl": ""})
    assert ei.value.ec == "0017-00000105"
    with pytest.raises(oss2.exceptions.InvalidArgument) as ei:
        bucket.put_object_acl("a", "public")
    assert ei.value.ec == "0017-00000105"
    assert bucket.get_object_acl("a").acl == "default"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.put_object_acl("missing", "private")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object_acl("missing")


def test_object_acl_appendable(bucket):
    bucket.append_object("ap", 0, b"abc")
    bucket.put_object_acl("ap", "public-read")
    assert bucket.get_object_acl("ap").acl == "public-read"
    bucket.append_object("ap", 3, b"def")
    assert bucket.get_object_acl("ap").acl == "public-read"
    assert bucket.get_object("ap").read() == b"abcdef"
