"""Object listings (ListObjects, ListObjectsV2, ListObjectVersions) and DeleteMultipleObjects,
through oss2 (V1 and V4 signatures) and alibabacloud-oss-v2."""
import base64
import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

import oss2
import alibabacloud_oss_v2 as oss

from conftest import v2_error

NO_SUCH_BUCKET_EC = "0015-00000101"
SPECIAL_KEYS = ["a b.txt", "a+b.txt", "a%b.txt", "a%2Fb", "\u4e2d\u6587/\u952e", "x&y<z>\"'.txt",
                "emoji-\U0001F600", "dir with space/+plus%pct", "ctl\x07char"]


def _put_all(bucket, keys, data=b"x"):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: bucket.put_object(k, data), keys))


def _tree_keys():
    """250 keys: 150 top-level files and 25 'directories' of 4 keys each. The directories sort
    between the files ("000.txt" < "000/"), so common prefixes land on every page and at page
    boundaries."""
    files = [f"{i:03d}.txt" for i in range(150)]
    dirs = [f"{d * 6:03d}/" for d in range(25)]
    nested = [f"{d}c{c}" for d in dirs for c in range(3)] + [f"{d}deeper/x" for d in dirs]
    return files, dirs, nested


@pytest.fixture
def tree(bucket):
    files, dirs, nested = _tree_keys()
    _put_all(bucket, files + nested)
    return files, dirs, nested


# -- ListObjects v1 -----------------------------------------------------------------------------
def test_list_empty(bucket, bucket_v4, v2, bucket_name):
    for b in (bucket, bucket_v4):
        r = b.list_objects()
        assert r.object_list == [] and r.prefix_list == [] and not r.is_truncated
        r = b.list_objects_v2(delimiter="/")
        assert r.object_list == [] and r.prefix_list == [] and not r.is_truncated
    r = v2.list_objects(oss.ListObjectsRequest(bucket=bucket_name))
    assert not r.contents and not r.is_truncated
    assert r.name == bucket_name and r.max_keys == 100
    r = v2.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket_name))
    assert not r.contents and r.key_count == 0 and not r.is_truncated


def test_list_objects_fields(bucket, v2, bucket_name):
    before = int(time.time()) - 2
    etag = bucket.put_object("plain", b"hello").etag
    bucket.append_object("log", 0, b"abc")
    bucket.append_object("log", 3, b"defg")
    r = bucket.list_objects()
    by_key = {o.key: o for o in r.object_list}
    plain, log = by_key["plain"], by_key["log"]
    assert plain.etag == etag and plain.size == 5 and plain.type == "Normal"
    assert plain.storage_class == "Standard"
    assert before <= plain.last_modified <= time.time() + 2
    assert plain.owner is not None and plain.owner.id
    assert log.type == "Appendable" and log.size == 7
    assert log.etag == bucket.head_object("log").etag
    v = {o.key: o for o in v2.list_objects(oss.ListObjectsRequest(bucket=bucket_name)).contents}
    assert v["log"].object_type == "Appendable"
    assert v["plain"].etag == f'"{etag}"'
    assert v["plain"].last_modified.year >= 2024


def test_list_objects_multipart_type(bucket):
    upload_id = bucket.init_multipart_upload("mp").upload_id
    part = bucket.upload_part("mp", upload_id, 1, b"z" * 10)
    bucket.complete_multipart_upload("mp", upload_id, [oss2.models.PartInfo(1, part.etag)])
    (obj,) = bucket.list_objects().object_list
    assert obj.type == "Multipart" and obj.size == 10
    (obj,) = bucket.list_objects_v2().object_list
    assert obj.type == "Multipart"


def test_list_objects_paging_250(bucket, v2, bucket_name):
    keys = sorted(f"k{i:04d}" for i in range(250))
    _put_all(bucket, keys)
    pages = []
    marker = ""
    while True:
        r = bucket.list_objects(marker=marker, max_keys=100)
        pages.append([o.key for o in r.object_list])
        if not r.is_truncated:
            break
        assert r.next_marker == pages[-1][-1]
        marker = r.next_marker
    assert [len(p) for p in pages] == [100, 100, 50]
    assert sum(pages, []) == keys
    assert [o.key for o in oss2.ObjectIterator(bucket, max_keys=100)] == keys
    listed = [o.key for page in v2.list_objects_paginator(limit=100).iter_page(
        oss.ListObjectsRequest(bucket=bucket_name)) for o in page.contents]
    assert listed == keys


def test_list_objects_v4_signature(bucket_v4):
    _put_all(bucket_v4, ["a/1", "a/2", "b"])
    r = bucket_v4.list_objects(delimiter="/")
    assert [o.key for o in r.object_list] == ["b"] and r.prefix_list == ["a/"]


@pytest.mark.parametrize("max_keys", [100, 7, 1])
def test_list_objects_delimiter_paging(bucket, v2, bucket_name, tree, max_keys):
    files, dirs, nested = tree
    seen_keys, seen_prefixes = [], []
    marker = ""
    while True:
        r = bucket.list_objects(delimiter="/", marker=marker, max_keys=max_keys)
        assert 0 < len(r.object_list) + len(r.prefix_list) <= max_keys
        seen_keys += [o.key for o in r.object_list]
        seen_prefixes += r.prefix_list
        if not r.is_truncated:
            break
        marker = r.next_marker
    assert seen_keys == files
    assert seen_prefixes == dirs
    # The SDK iterators (which interleave keys and prefixes) agree.
    entries = [o.key for o in oss2.ObjectIterator(bucket, delimiter="/", max_keys=max_keys)]
    assert entries == sorted(files + dirs)
    entries = [o.key for o in oss2.ObjectIteratorV2(bucket, delimiter="/", max_keys=max_keys)]
    assert entries == sorted(files + dirs)
    if max_keys != 1:
        keys, prefixes = [], []
        for page in v2.list_objects_v2_paginator(limit=max_keys).iter_page(
                oss.ListObjectsV2Request(bucket=bucket_name, delimiter="/")):
            keys += [o.key for o in page.contents or []]
            prefixes += [p.prefix for p in page.common_prefixes or []]
            assert page.key_count == len(page.contents or []) + len(page.common_prefixes or [])
        assert keys == files and prefixes == dirs


def test_list_objects_prefix_and_delimiter(bucket, tree):
    files, dirs, nested = tree
    r = bucket.list_objects(prefix="006/", delimiter="/")
    assert [o.key for o in r.object_list] == ["006/c0", "006/c1", "006/c2"]
    assert r.prefix_list == ["006/deeper/"]
    r = bucket.list_objects(prefix="006/")
    assert [o.key for o in r.object_list] == ["006/c0", "006/c1", "006/c2", "006/deeper/x"]
    r = bucket.list_objects(prefix="14", delimiter="/")
    assert [o.key for o in r.object_list] == [f"{i}.txt" for i in range(140, 150)]
    assert r.prefix_list == ["144/"]
    # A delimiter that is not "/" and a prefix that matches nothing.
    r = bucket.list_objects(prefix="00", delimiter="c")
    assert r.prefix_list == ["000/c", "006/c"]
    assert [o.key for o in r.object_list] == sorted([f"00{i}.txt" for i in range(10)]
                                                    + ["000/deeper/x", "006/deeper/x"])
    r = bucket.list_objects(prefix="zzz", delimiter="/")
    assert r.object_list == [] and r.prefix_list == [] and not r.is_truncated


def test_list_objects_marker_inside_prefix_group(bucket, tree):
    # Resuming from a common prefix (what NextMarker is after a page ending on one) skips the group.
    r = bucket.list_objects(delimiter="/", marker="006/", max_keys=3)
    assert [o.key for o in r.object_list] == ["007.txt", "008.txt", "009.txt"]
    assert r.prefix_list == []
    r = bucket.list_objects(marker="006/c1", max_keys=3)
    assert [o.key for o in r.object_list] == ["006/c2", "006/deeper/x", "007.txt"]


def test_list_objects_max_keys_zero(bucket):
    bucket.put_object("a", b"1")
    r = bucket.list_objects(max_keys=0)
    assert r.object_list == [] and not r.is_truncated


@pytest.mark.parametrize("value", ["1001", "-1", "abc", "1.5"])
def test_list_objects_invalid_max_keys(bucket, v2, bucket_name, value):
    with pytest.raises(oss2.exceptions.InvalidArgument) as info:
        bucket.list_objects(max_keys=value)
    assert info.value.status == 400 and info.value.ec == "0016-00000402"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.list_objects_v2(max_keys=value)
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.list_object_versions(max_keys=value)
    if value.lstrip("-").isdigit():
        err = v2_error(v2.list_objects_v2, oss.ListObjectsV2Request(bucket=bucket_name, max_keys=int(value)))
        assert (err.status_code, err.code, err.ec) == (400, "InvalidArgument", "0016-00000402")


def test_list_objects_invalid_encoding_type(bucket):
    with pytest.raises(oss2.exceptions.InvalidArgument) as info:
        bucket.list_objects_v2(encoding_type="base64")
    assert info.value.ec == "0016-00000403"


def test_list_missing_bucket(server, oss2_auth, v2):
    name = "t-gone-" + uuid.uuid4().hex[:12]
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    for call in (b.list_objects, b.list_objects_v2, b.list_object_versions):
        with pytest.raises(oss2.exceptions.NoSuchBucket) as info:
            call()
        assert info.value.ec == NO_SUCH_BUCKET_EC and info.value.details["BucketName"] == name
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.batch_delete_objects(["a"])
    for call, req in ((v2.list_objects, oss.ListObjectsRequest(bucket=name)),
                      (v2.list_objects_v2, oss.ListObjectsV2Request(bucket=name)),
                      (v2.list_object_versions, oss.ListObjectVersionsRequest(bucket=name))):
        err = v2_error(call, req)
        assert (err.status_code, err.code, err.ec) == (404, "NoSuchBucket", NO_SUCH_BUCKET_EC)


def test_special_keys_url_encoding(bucket, v2, bucket_name):
    _put_all(bucket, SPECIAL_KEYS)
    expected = sorted(SPECIAL_KEYS)
    assert [o.key for o in bucket.list_objects().object_list] == expected
    assert [o.key for o in bucket.list_objects_v2().object_list] == expected
    assert [o.key for o in oss2.ObjectIterator(bucket, max_keys=2)] == expected
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, max_keys=2)] == expected
    r = bucket.list_objects(delimiter="/")
    assert sorted(r.prefix_list) == ["dir with space/", "\u4e2d\u6587/"]
    # Prefix, marker and delimiter that need encoding come back intact.
    r = bucket.list_objects(prefix="a", marker="a b.txt", max_keys=1)
    assert [o.key for o in r.object_list] == ["a%2Fb"] and r.next_marker == "a%2Fb"
    r = bucket.list_objects_v2(prefix="a", start_after="a b.txt", max_keys=2)
    assert [o.key for o in r.object_list] == ["a%2Fb", "a%b.txt"]
    r = bucket.list_objects_v2(prefix="a", continuation_token=r.next_continuation_token)
    assert [o.key for o in r.object_list] == ["a+b.txt"]
    v2_keys = [o.key for o in v2.list_objects(oss.ListObjectsRequest(bucket=bucket_name)).contents]
    assert v2_keys == expected
    r = v2.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket_name, prefix="dir with space/",
                                                    delimiter="+", start_after="dir with space/"))
    assert r.prefix == "dir with space/" and r.delimiter == "+" and r.start_after == "dir with space/"
    assert [p.prefix for p in r.common_prefixes] == ["dir with space/+"]
    # Without encoding-type the XML is escaped, not encoded (control characters excluded).
    plain = [k for k in SPECIAL_KEYS if k != "ctl\x07char"]
    r = bucket.list_objects_v2(encoding_type="", start_after="d")
    assert [o.key for o in r.object_list] == sorted(k for k in plain if k > "d")


def test_list_objects_v2_options(bucket, v2, bucket_name):
    _put_all(bucket, ["a", "b", "c", "d"])
    r = bucket.list_objects_v2(max_keys=2)
    assert [o.key for o in r.object_list] == ["a", "b"]
    assert r.is_truncated and r.next_continuation_token
    assert all(o.owner is None for o in r.object_list)
    r = bucket.list_objects_v2(continuation_token=r.next_continuation_token, fetch_owner=True)
    assert [o.key for o in r.object_list] == ["c", "d"] and not r.is_truncated
    assert all(o.owner is not None and o.owner.id for o in r.object_list)
    r = bucket.list_objects_v2(start_after="b")
    assert [o.key for o in r.object_list] == ["c", "d"]
    # The token wins over start-after.
    first = bucket.list_objects_v2(max_keys=1)
    r = bucket.list_objects_v2(continuation_token=first.next_continuation_token, start_after="c")
    assert [o.key for o in r.object_list] == ["b", "c", "d"]
    r = v2.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket_name, fetch_owner=True, max_keys=3))
    assert r.key_count == 3 and r.is_truncated and r.contents[0].owner.id
    r = v2.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket_name,
                                                    continuation_token=r.next_continuation_token))
    assert [o.key for o in r.contents] == ["d"] and r.contents[0].owner is None
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.list_objects_v2(continuation_token="!!not-a-token!!")


def test_list_1000_keys_in_one_page(bucket):
    keys = [f"f{i:04d}" for i in range(1000)]
    _put_all(bucket, keys)
    r = bucket.list_objects(max_keys=1000)
    assert [o.key for o in r.object_list] == keys
    r = bucket.list_objects(delimiter="/", max_keys=1000)
    assert len(r.object_list) == 1000


def test_huge_prefix_group_is_skipped(bucket):
    # 300 keys under one common prefix, then one more key: a small page must not read them all.
    _put_all(bucket, [f"big/{i:04d}" for i in range(300)] + ["after", "aaa"])
    r = bucket.list_objects(delimiter="/", max_keys=2)
    assert [o.key for o in r.object_list] == ["aaa", "after"] and r.is_truncated
    r = bucket.list_objects(delimiter="/", marker=r.next_marker, max_keys=2)
    assert r.prefix_list == ["big/"] and not r.is_truncated


# -- ListObjectVersions -------------------------------------------------------------------------
def test_list_object_versions_oss2(bucket, tree):
    files, dirs, nested = tree
    r = bucket.list_object_versions(max_keys=5)
    assert r.is_truncated and len(r.versions) == 5
    assert r.next_key_marker == r.versions[-1].key and r.next_versionid_marker == "null"
    v = r.versions[0]
    assert v.versionid == "null" and v.is_latest and v.type == "Normal" and v.size == 1
    assert v.owner.id and v.storage_class == "Standard" and v.etag
    assert r.delete_marker == []
    keys, key_marker = [], ""
    while True:
        r = bucket.list_object_versions(key_marker=key_marker, max_keys=33)
        keys += [v.key for v in r.versions]
        if not r.is_truncated:
            break
        key_marker = r.next_key_marker
    assert keys == sorted(files + nested)
    seen_keys, seen_prefixes = [], []
    key_marker, vid_marker = "", ""
    while True:
        r = bucket.list_object_versions(delimiter="/", key_marker=key_marker,
                                        versionid_marker=vid_marker, max_keys=9)
        seen_keys += [v.key for v in r.versions]
        seen_prefixes += r.common_prefix
        if not r.is_truncated:
            break
        key_marker, vid_marker = r.next_key_marker, r.next_versionid_marker
    assert seen_keys == files and seen_prefixes == dirs


def test_list_object_versions_v2(bucket, v2, bucket_name):
    _put_all(bucket, SPECIAL_KEYS)
    bucket.append_object("zz-append", 0, b"abc")
    r = v2.list_object_versions(oss.ListObjectVersionsRequest(bucket=bucket_name))
    assert [v.key for v in r.version] == sorted(SPECIAL_KEYS + ["zz-append"])
    assert all(v.version_id == "null" and v.is_latest for v in r.version)
    types = {v.key: v.object_type for v in r.version}
    assert types["zz-append"] == "Appendable" and types["a b.txt"] == "Normal"
    assert not r.delete_marker
    keys = [v.key for page in v2.list_object_versions_paginator(limit=4).iter_page(
        oss.ListObjectVersionsRequest(bucket=bucket_name)) for v in page.version or []]
    assert keys == sorted(SPECIAL_KEYS + ["zz-append"])


def test_list_object_versions_empty_and_errors(bucket):
    r = bucket.list_object_versions()
    assert r.versions == [] and not r.is_truncated
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.list_object_versions(versionid_marker="null")


# -- DeleteMultipleObjects ----------------------------------------------------------------------
def test_batch_delete_oss2(bucket, bucket_v4):
    _put_all(bucket, ["a", "b", "c"] + SPECIAL_KEYS)
    r = bucket.batch_delete_objects(["a", "b", "missing"])
    assert r.deleted_keys == ["a", "b", "missing"]
    r = bucket_v4.batch_delete_objects(SPECIAL_KEYS)
    assert r.deleted_keys == SPECIAL_KEYS
    assert [o.key for o in bucket.list_objects().object_list] == ["c"]


def test_delete_multiple_v2(bucket, v2, bucket_name):
    _put_all(bucket, ["a", "b", "c", "d"] + SPECIAL_KEYS)
    r = v2.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
        bucket=bucket_name, objects=[oss.DeleteObject(key=k) for k in ["a", "nope"] + SPECIAL_KEYS]))
    assert [d.key for d in r.deleted_objects] == ["a", "nope"] + SPECIAL_KEYS
    r = v2.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
        bucket=bucket_name, objects=[oss.DeleteObject(key="b")], quiet=True))
    assert not r.deleted_objects
    r = v2.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
        bucket=bucket_name, objects=[oss.DeleteObject(key="c", version_id="null"),
                                     oss.DeleteObject(key="d", version_id="CAEQ-other")]))
    assert [(d.key, d.version_id) for d in r.deleted_objects] == [("c", "null"), ("d", "CAEQ-other")]
    assert [o.key for o in bucket.list_objects().object_list] == ["d"]


def _post_delete(v2, bucket_name, body, md5="auto"):
    headers = {"Content-Type": "application/xml"}
    if md5 == "auto":
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    elif md5 is not None:
        headers["Content-MD5"] = md5
    return v2.invoke_operation(oss.OperationInput(
        op_name="DeleteMultipleObjects", method="POST", bucket=bucket_name,
        parameters={"delete": ""}, headers=headers, body=body))


def test_delete_multiple_errors(bucket, v2, bucket_name):
    bucket.put_object("keep", b"1")
    good = b"<Delete><Quiet>false</Quiet><Object><Key>keep</Key></Object></Delete>"
    err = v2_error(_post_delete, v2, bucket_name, b"<Delete><Object><Key>keep</Key></Delete>")
    assert (err.status_code, err.code) == (400, "MalformedXML")
    err = v2_error(_post_delete, v2, bucket_name, b"<Delete><Quiet>false</Quiet></Delete>")
    assert (err.status_code, err.code) == (400, "MalformedXML")
    err = v2_error(_post_delete, v2, bucket_name, b"<Delete><Object><VersionId>1</VersionId></Object></Delete>")
    assert (err.status_code, err.code) == (400, "MalformedXML")
    err = v2_error(_post_delete, v2, bucket_name, b"<Remove><Object><Key>keep</Key></Object></Remove>")
    assert err.code == "MalformedXML"
    err = v2_error(_post_delete, v2, bucket_name, good,
                    md5=base64.b64encode(hashlib.md5(b"other").digest()).decode())
    assert (err.status_code, err.code) == (400, "InvalidDigest")
    err = v2_error(_post_delete, v2, bucket_name, good, md5="not base64!")
    assert (err.status_code, err.code) == (400, "InvalidDigest")
    err = v2_error(_post_delete, v2, bucket_name, good, md5=None)
    assert (err.status_code, err.code, err.ec) == (400, "InvalidDigest", "0016-00000606")
    assert bucket.object_exists("keep")
    out = _post_delete(v2, bucket_name, good)
    assert out.status_code == 200
    assert not bucket.object_exists("keep")


def test_delete_multiple_too_many(bucket, v2, bucket_name):
    bucket.put_object("k0", b"1")
    keys = [f"k{i}" for i in range(1001)]
    with pytest.raises(oss2.exceptions.MalformedXml) as info:
        bucket.batch_delete_objects(keys)
    assert info.value.status == 400
    err = v2_error(v2.delete_multiple_objects, oss.DeleteMultipleObjectsRequest(
        bucket=bucket_name, objects=[oss.DeleteObject(key=k) for k in keys]))
    assert (err.status_code, err.code) == (400, "MalformedXML")
    assert bucket.object_exists("k0")
    r = bucket.batch_delete_objects(keys[:1000])
    assert len(r.deleted_keys) == 1000
    assert not bucket.object_exists("k0")


def test_delete_multiple_long_keys(bucket):
    # 1000 keys of 1000 bytes: a body over 1 MiB is still accepted.
    keys = [f"{i:04d}" + "&" * 996 for i in range(1000)]
    bucket.put_object(keys[0], b"1")
    r = bucket.batch_delete_objects(keys)
    assert r.deleted_keys == keys
    assert not bucket.object_exists(keys[0])
