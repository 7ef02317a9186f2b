"""The per-operation argument parsers (ossbox/ops/args.py), exercised without a server: a full
request gives the expected arguments object; invalid arguments give the OSS error of the first
check that fails, in the order the operations have always answered them."""
from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest

from ossbox import errors
from ossbox.ops import args
from ossbox.storage.engine import CURRENT
from ossbox.storage.records import BucketRecord
from ossbox.wire.request import Request

MD5 = hashlib.md5(b"x").digest()
MD5_B64 = base64.b64encode(MD5).decode()


def request(headers=None, query="", method="PUT", bucket_record=None) -> Request:
    scope = {"method": method, "query_string": query.encode(),
             "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]}
    req = Request(None, scope, None, "test-request")
    req.bucket, req.key = "b", "k"
    req.bucket_record = bucket_record
    return req


def bucket(storage_class="Standard", **config) -> BucketRecord:
    return BucketRecord(name="b", owner="owner", created=0.0, region="r", storage_class=storage_class,
                        config=config)


def fails(spec, fn, *a, **kw) -> errors.OssError:
    with pytest.raises(errors.OssError) as e:
        fn(*a, **kw)
    assert e.value.spec is spec, (e.value.spec, e.value.message)
    return e.value


# -- AppendObject ---------------------------------------------------------------------------------
FULL_APPEND = {
    "content-length": "1", "content-md5": MD5_B64, "x-oss-object-acl": "public-read",
    "x-oss-traffic-limit": "819200", "x-oss-hash-crc64ecma": "18446744073709551615",
    "content-type": "text/plain", "cache-control": "no-cache", "x-oss-meta-a": "1",
    "x-oss-server-side-encryption": "KMS", "x-oss-server-side-encryption-key-id": "my-key",
    "x-oss-storage-class": "ia", "x-oss-tagging": "t=1&u=",
}


def test_append_full_request():
    a = args.parse_append(request(FULL_APPEND, "append&position=0", "POST"))
    assert a.position == 0
    assert a.body == args.BodyArgs(1, MD5, (1 << 64) - 1)
    assert (a.acl, a.traffic_limit, a.creation_error) == ("public-read", 819200, None)
    rec = a.new_object(bucket(), "k")
    assert (rec.bucket, rec.key, rec.storage_class, rec.acl) == ("b", "k", "IA", "public-read")
    assert rec.tags == [("t", "1"), ("u", "")]
    # stored headers, then user metadata, then the requested encryption without its KMS key id
    # (appendable objects get the default managed key)
    assert rec.headers == {"content-type": "text/plain", "cache-control": "no-cache", "x-oss-meta-a": "1",
                           "x-oss-server-side-encryption": "KMS"}


def test_append_chunked_body_has_no_length():
    a = args.parse_append(request({"transfer-encoding": "chunked"}, "append&position=7", "POST"))
    assert (a.position, a.body, a.acl, a.traffic_limit) == (7, args.BodyArgs(None), None, None)


@pytest.mark.parametrize("query,headers,spec", [
    # several wrong arguments: the earliest check wins
    ("append&position=x&versionId=v", {}, errors.AppendVersionId),
    ("append", {"content-md5": "%%%"}, errors.MissingArgument),
    ("append&position=-1", {"content-md5": "%%%"}, errors.InvalidPosition),
    ("append&position=0", {"content-md5": "%%%"}, errors.MissingContentLength),
    ("append&position=0", {"content-length": "1", "content-md5": "AAAA", "x-oss-object-acl": "x"},
     errors.InvalidDigest),
    ("append&position=0", {"content-length": "1", "x-oss-object-acl": "x", "x-oss-traffic-limit": "1"},
     errors.InvalidObjectAcl),
])
def test_append_error_order(query, headers, spec):
    fails(spec, args.parse_append, request(headers, query, "POST"))


def test_append_traffic_limit_before_crc64():
    e = fails(errors.InvalidArgument, args.parse_append,
              request({"content-length": "1", "x-oss-traffic-limit": "1", "x-oss-hash-crc64ecma": "z"},
                      "append&position=0", "POST"))
    assert e.details["ArgumentName"] == "x-oss-traffic-limit"
    e = fails(errors.InvalidArgument, args.parse_append,
              request({"content-length": "1", "x-oss-hash-crc64ecma": "z"}, "append&position=0", "POST"))
    assert e.details["ArgumentName"] == "x-oss-hash-crc64ecma"


def test_append_creation_headers_count_only_when_creating():
    bad = {"content-length": "1", "x-oss-tagging": "a=%zz%", "x-oss-storage-class": "Glacier"}
    later = args.parse_append(request(bad, "append&position=3", "POST"))
    assert later.creation is None and later.creation_error is None
    later.new_object(bucket("ColdArchive"), "k")  # asked for, never stored: nothing to refuse
    first = args.parse_append(request(bad, "append&position=0", "POST"))  # parsing does not refuse
    fails(errors.InvalidStorageClass, first.new_object, bucket(), "k")


@pytest.mark.parametrize("headers,bucket_class,spec", [
    ({"x-oss-storage-class": "DeepColdArchive", "x-oss-tagging": "a=%zz%"}, "Standard",
     errors.AppendColdArchive),
    ({"x-oss-tagging": "a=%zz%"}, "ColdArchive", errors.AppendColdArchive),
    ({"x-oss-tagging": "a=%zz%", "x-oss-storage-class": "IA"}, "ColdArchive", errors.InvalidTagging),
    ({"x-oss-tagging": "a=%zz%"}, "Standard", errors.InvalidTagging),
    ({"x-oss-meta-m": "v" * 9000}, "ColdArchive", errors.MetadataTooLarge),
    ({"x-oss-server-side-encryption": "DES"}, "ColdArchive", errors.InvalidEncryptionAlgorithm),
    ({}, "DeepColdArchive", errors.AppendColdArchive),
])
def test_append_cold_archive_order(headers, bucket_class, spec):
    a = args.parse_append(request({"content-length": "1", **headers}, "append&position=0", "POST"))
    fails(spec, a.new_object, bucket(bucket_class), "k")


# -- PutObject and the creation headers -----------------------------------------------------------
def test_put_full_request():
    headers = {**FULL_APPEND, "x-oss-forbid-overwrite": "TRUE", "x-oss-storage-class": "ColdArchive"}
    p = args.parse_put(request(headers))
    assert (p.body, p.traffic_limit, p.forbid_overwrite) == (args.BodyArgs(1, MD5, (1 << 64) - 1), 819200, True)
    rec = p.creation.new_object(bucket(), "k")
    assert (rec.storage_class, rec.acl, rec.tags) == ("ColdArchive", "public-read", [("t", "1"), ("u", "")])
    assert rec.headers["x-oss-server-side-encryption-key-id"] == "my-key"  # kept for a Normal object


def test_put_defaults_come_from_the_bucket():
    p = args.parse_put(request({"content-length": "0"}))
    assert p == args.PutArgs(args.BodyArgs(0), None, False, args.CreationHeaders())
    rec = p.creation.new_object(bucket("IA", encryption={"SSEAlgorithm": "AES256"}), "k")
    assert (rec.storage_class, rec.acl, rec.tags) == ("IA", "default", [])
    assert rec.headers == {"content-type": "application/octet-stream", "x-oss-server-side-encryption": "AES256"}


@pytest.mark.parametrize("headers,spec", [
    ({"content-md5": "AAAA", "x-oss-traffic-limit": "1"}, errors.InvalidDigest),
    ({"x-oss-traffic-limit": "1", "x-oss-meta-m": "v" * 9000}, errors.InvalidArgument),
    ({"x-oss-meta-m": "v" * 9000, "x-oss-server-side-encryption": "DES"}, errors.MetadataTooLarge),
    ({"x-oss-server-side-encryption": "KMS", "x-oss-server-side-data-encryption": "AES",
      "x-oss-storage-class": ""}, errors.InvalidDataEncryptionAlgorithm),
    ({"x-oss-storage-class": "", "x-oss-tagging": "a=%zz%"}, errors.EmptyStorageClass),
    ({"x-oss-tagging": "&".join(f"k{i}=v" for i in range(11)), "x-oss-object-acl": "x"},
     errors.InvalidTagging),
    ({"x-oss-object-acl": "x"}, errors.InvalidObjectAcl),
])
def test_put_error_order(headers, spec):
    fails(spec, args.parse_put, request({"content-length": "1", **headers}))


def test_tagging_error_keeps_the_failed_rule_ec():
    e = fails(errors.InvalidTagging, args.parse_put,
              request({"content-length": "1", "x-oss-tagging": "&".join(f"k{i}=v" for i in range(11))}))
    assert e.ec == errors.TooManyTags.ec


def test_traffic_limit_from_a_presigned_query():
    assert args.parse_put(request({"content-length": "1"}, "x-oss-traffic-limit=245760")).traffic_limit == 245760
    fails(errors.InvalidArgument, args.parse_put, request({"content-length": "1"}, "x-oss-traffic-limit=245759"))


# -- CopyObject -----------------------------------------------------------------------------------
def parse_copy(headers):
    return asyncio.run(args.parse_copy(request(headers, bucket_record=bucket())))


def test_copy_full_request():
    c = parse_copy({"x-oss-copy-source": "/src-bucket/a%2Fb?versionId=CAEQv1", "x-oss-metadata-directive": "replace",
                    "x-oss-forbid-overwrite": "true", "x-oss-traffic-limit": "819200",
                    "x-oss-object-acl": "private"})
    assert c.source == args.CopySource("src-bucket", "a/b", "CAEQv1")
    assert (c.metadata_directive, c.tagging_directive, c.forbid_overwrite) == ("REPLACE", "COPY", True)
    assert (c.traffic_limit, c.creation.acl, c.creation.storage_class) == (819200, "private", None)
    assert parse_copy({"x-oss-copy-source": "/src/k?versionId=null"}).source.version is None
    assert parse_copy({"x-oss-copy-source": "/src/k"}).source.version is CURRENT


def test_copy_key_id_alone_asks_for_no_sse():
    c = parse_copy({"x-oss-copy-source": "/src/k", "x-oss-server-side-encryption-key-id": "x"})
    assert c.creation.sse == {}


@pytest.mark.parametrize("headers,spec", [
    ({"x-oss-metadata-directive": "MERGE", "x-oss-tagging-directive": "X"}, errors.InvalidArgument),
    ({"x-oss-traffic-limit": "1", "x-oss-object-acl": "x"}, errors.InvalidArgument),
    ({"x-oss-object-acl": "x", "x-oss-copy-source": "nobucketslash"}, errors.InvalidObjectAcl),
    ({"x-oss-copy-source": "/Bad_Bucket/key"}, errors.InvalidCopySource),
    ({"x-oss-copy-source": "/src/k?versionId="}, errors.InvalidArgument),
])
def test_copy_error_order(headers, spec):
    e = fails(spec, parse_copy, {"x-oss-copy-source": "/src/k", **headers})
    if "x-oss-metadata-directive" in headers:
        assert e.details["ArgumentName"] == "x-oss-metadata-directive"


# -- GetObject ------------------------------------------------------------------------------------
def test_get_full_request():
    g = args.parse_get(request({"range": "bytes=0-1", "x-oss-range-behavior": "Standard"},
                               "response-content-type=a%2Fb&response-expires=x&x-oss-traffic-limit=819200", "GET"))
    assert g == args.GetArgs(819200, {"content-type": "a/b", "expires": "x"}, "bytes=0-1", True)


def test_get_error_order():
    e = fails(errors.InvalidArgument, args.parse_get,
              request({"x-oss-traffic-limit": "1"}, "response-content-type=%0A", "GET"))
    assert e.details["ArgumentName"] == "x-oss-traffic-limit"
    e = fails(errors.InvalidArgument, args.parse_get, request({}, "response-content-type=a%0Db", "GET"))
    assert e.details["ArgumentName"] == "response-content-type"


# -- multipart ------------------------------------------------------------------------------------
def test_upload_part():
    u = args.parse_upload_part(request({"content-length": "1", "content-md5": MD5_B64,
                                        "x-oss-traffic-limit": "819200"}, "partNumber=10000&uploadId=u"))
    assert u == args.UploadPartArgs(10000, args.BodyArgs(1, MD5), 819200)


@pytest.mark.parametrize("query,headers,spec", [
    ("uploadId=u", {"content-length": "x"}, errors.MissingArgument),
    ("partNumber=10001", {"content-length": "x"}, errors.InvalidPartNumber),
    ("partNumber=1", {"content-md5": "AAAA"}, errors.MissingContentLength),
    ("partNumber=1", {"content-length": str(48 << 40), "content-md5": "AAAA"}, errors.EntityTooLarge),
    ("partNumber=1", {"content-length": "1", "content-md5": "AAAA", "x-oss-traffic-limit": "1"},
     errors.InvalidDigest),
])
def test_upload_part_error_order(query, headers, spec):
    fails(spec, args.parse_upload_part, request(headers, query))


def test_upload_part_copy():
    u = args.parse_upload_part_copy(request({"x-oss-copy-source": "/src/k", "x-oss-copy-source-range": "bytes=0-9"},
                                            "partNumber=2&uploadId=u"))
    assert u == args.UploadPartCopyArgs(2, None, args.CopySource("src", "k"), "bytes=0-9")
    fails(errors.InvalidArgument, args.parse_upload_part_copy,
          request({"x-oss-copy-source": "", "x-oss-traffic-limit": "1"}, "partNumber=2"))


def test_initiate_and_complete():
    i = args.parse_initiate(request({"x-oss-forbid-overwrite": "true", "x-oss-storage-class": "archive"}, "uploads"))
    assert i.forbid_overwrite and i.creation.storage_class == "Archive"
    c = args.parse_complete(request({"x-oss-object-acl": "private", "x-oss-complete-all": "YES"}, "uploadId=u"))
    assert c == args.CompleteArgs("private", False, "YES")
    fails(errors.InvalidObjectAcl, args.parse_complete,
          request({"x-oss-object-acl": "x", "x-oss-complete-all": "no"}, "uploadId=u"))
    e = fails(errors.InvalidArgument, args.parse_complete, request({"x-oss-complete-all": "no"}, "uploadId=u"))
    assert e.details["ArgumentName"] == "x-oss-complete-all"
