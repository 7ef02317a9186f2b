"""Multipart upload through the official SDKs (oss2 V1 / V4, alibabacloud-oss-v2) against a real server."""
import base64
import hashlib
import os
import xml.etree.ElementTree as ET

import crcmod
import oss2
import pytest
from oss2.headers import OSS_OBJECT_ACL
from oss2.models import PartInfo

import alibabacloud_oss_v2 as v2oss

_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)

KIB = 1024
MIB = 1024 * 1024


def crc64(data: bytes) -> int:
    return _crc64(data)


def md5_etag(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


def abort_all(bucket):
    try:
        for up in oss2.MultipartUploadIterator(bucket):
            bucket.abort_multipart_upload(up.key, up.upload_id)
    except oss2.exceptions.NoSuchBucket:
        pass


@pytest.fixture
def b(bucket):
    """The oss2 bucket (CRC checks on, the default); in-progress uploads are aborted afterwards."""
    assert bucket.enable_crc
    yield bucket
    abort_all(bucket)


def upload_parts(b, key, upload_id, chunks, start=1):
    parts = []
    for i, chunk in enumerate(chunks, start):
        r = b.upload_part(key, upload_id, i, chunk)
        assert r.etag == md5_etag(chunk)
        assert r.crc == crc64(chunk)
        parts.append(PartInfo(i, r.etag, size=len(chunk), part_crc=r.crc))
    return parts


# -- the happy path ---------------------------------------------------------------------------------
def test_oss2_full_cycle(b):
    key = "dir/multi part.bin"
    chunks = [os.urandom(100 * KIB), os.urandom(150 * KIB), os.urandom(7)]
    data = b"".join(chunks)
    init = b.init_multipart_upload(key, headers={"Content-Type": "text/x-test",
                                                 "x-oss-meta-color": "blue",
                                                 "x-oss-storage-class": "IA",
                                                 "x-oss-tagging": "a=1&b=2"})
    upload_id = init.upload_id
    assert len(upload_id) == 32 and upload_id == upload_id.upper()
    parts = upload_parts(b, key, upload_id, chunks)

    listed = b.list_parts(key, upload_id)
    assert [p.part_number for p in listed.parts] == [1, 2, 3]
    assert [p.size for p in listed.parts] == [len(c) for c in chunks]
    assert [p.etag for p in listed.parts] == [md5_etag(c) for c in chunks]
    assert not listed.is_truncated

    # oss2 checks the combined CRC of the parts against x-oss-hash-crc64ecma of the response.
    done = b.complete_multipart_upload(key, upload_id, parts)
    assert done.crc == crc64(data)
    assert done.etag.endswith("-3")

    got = b.get_object(key)
    assert got.read() == data
    assert got.headers["x-oss-object-type"] == "Multipart"
    assert got.headers["Content-Type"] == "text/x-test"
    assert got.headers["x-oss-meta-color"] == "blue"
    assert got.headers["x-oss-storage-class"] == "IA"
    assert got.headers["x-oss-tagging-count"] == "2"
    assert "Content-MD5" not in got.headers
    head = b.head_object(key)
    assert head.object_type == "Multipart"
    assert head.content_length == len(data)
    assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(data)
    assert head.etag == done.etag

    # The upload is gone once completed.
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.list_parts(key, upload_id)
    assert list(oss2.MultipartUploadIterator(b)) == []


def test_complete_raw_xml(b, bucket_name, server):
    """The raw XML shapes (checked through oss2's low-level response)."""
    key = "raw.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    b.upload_part(key, upload_id, 1, b"hello")
    result = b.complete_multipart_upload(key, upload_id, [PartInfo(1, md5_etag(b"hello"))])
    body = ET.fromstring(result.resp.read())
    assert body.tag == "CompleteMultipartUploadResult"
    assert [c.tag for c in body] == ["Location", "Bucket", "Key", "ETag"]
    assert body.find("Bucket").text == bucket_name
    assert body.find("Key").text == key
    assert body.find("ETag").text == f'"{result.etag}"'
    assert body.find("Location").text.endswith("/" + key)
    assert b.get_object(key).read() == b"hello"


def test_complete_all(b):
    key = "all.bin"
    chunks = [os.urandom(120 * KIB), os.urandom(100 * KIB), b"tail"]
    upload_id = b.init_multipart_upload(key).upload_id
    # Upload out of order: complete-all uses part-number order.
    b.upload_part(key, upload_id, 3, chunks[2])
    b.upload_part(key, upload_id, 1, chunks[0])
    b.upload_part(key, upload_id, 2, chunks[1])
    done = b.complete_multipart_upload(key, upload_id, None, headers={"x-oss-complete-all": "yes"})
    data = b"".join(chunks)
    assert done.crc == crc64(data)
    assert b.get_object(key).read() == data


def test_part_overwrite_and_subset(b):
    """A part can be re-uploaded; complete may pick a subset with gaps in the numbering."""
    key = "subset.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    p1 = os.urandom(100 * KIB)
    b.upload_part(key, upload_id, 1, b"x" * (100 * KIB))
    r1 = b.upload_part(key, upload_id, 1, p1)          # replaces the first version of part 1
    b.upload_part(key, upload_id, 2, b"unused part")
    r5 = b.upload_part(key, upload_id, 5, b"five")
    parts = [PartInfo(1, r1.etag, size=len(p1), part_crc=r1.crc),
             PartInfo(5, r5.etag, size=4, part_crc=r5.crc)]
    b.complete_multipart_upload(key, upload_id, parts)
    assert b.get_object(key).read() == p1 + b"five"


def test_upload_part_content_md5(b):
    key = "md5.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    data = b"some part data"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    r = b.upload_part(key, upload_id, 1, data, headers={"Content-MD5": good})
    assert r.etag == md5_etag(data)
    assert r.headers["Content-MD5"] == good
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(oss2.exceptions.InvalidDigest):
        b.upload_part(key, upload_id, 2, data, headers={"Content-MD5": bad})
    assert [p.part_number for p in b.list_parts(key, upload_id).parts] == [1]


def test_upload_part_copy(b, bucket_name):
    src = os.urandom(300 * KIB)
    b.put_object("src.bin", src)
    # An appendable source works too.
    b.append_object("app.bin", 0, b"appendable-")
    b.append_object("app.bin", 11, b"source")
    key = "copied.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    r1 = b.upload_part_copy(bucket_name, "src.bin", (0, 102399), key, upload_id, 1)
    assert r1.etag == md5_etag(src[:100 * KIB])
    r2 = b.upload_part_copy(bucket_name, "src.bin", (200 * KIB, None), key, upload_id, 2)
    assert r2.etag == md5_etag(src[200 * KIB:])
    r3 = b.upload_part_copy(bucket_name, "app.bin", None, key, upload_id, 3)
    assert r3.etag == md5_etag(b"appendable-source")

    body = ET.fromstring(r3.resp.read())
    assert body.tag == "CopyPartResult"
    assert [c.tag for c in body] == ["LastModified", "ETag"]
    assert body.find("ETag").text == f'"{r3.etag}"'

    listed = b.list_parts(key, upload_id)
    assert [p.size for p in listed.parts] == [100 * KIB, 100 * KIB, 17]
    b.complete_multipart_upload(key, upload_id, [PartInfo(1, r1.etag), PartInfo(2, r2.etag),
                                                 PartInfo(3, r3.etag)])
    expected = src[:100 * KIB] + src[200 * KIB:] + b"appendable-source"
    got = b.get_object(key)
    assert got.read() == expected
    assert int(got.headers["x-oss-hash-crc64ecma"]) == crc64(expected)


def test_upload_part_copy_conditions_and_errors(b, bucket_name):
    b.put_object("src.txt", b"0123456789")
    etag = b.head_object("src.txt").etag
    key = "cond.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    r = b.upload_part_copy(bucket_name, "src.txt", (2, 5), key, upload_id, 1,
                           headers={"x-oss-copy-source-if-match": f'"{etag}"'})
    assert r.etag == md5_etag(b"2345")
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        b.upload_part_copy(bucket_name, "src.txt", None, key, upload_id, 2,
                           headers={"x-oss-copy-source-if-match": '"0123"'})
    with pytest.raises(oss2.exceptions.NotModified):
        b.upload_part_copy(bucket_name, "src.txt", None, key, upload_id, 2,
                           headers={"x-oss-copy-source-if-none-match": f'"{etag}"'})
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.upload_part_copy(bucket_name, "missing.txt", None, key, upload_id, 2)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.upload_part_copy("no-such-bucket-zz9", "src.txt", None, key, upload_id, 2)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.upload_part_copy(bucket_name, "src.txt", None, key, "0" * 32, 2)


def test_initiate_encoding_and_forbid_overwrite(b):
    b.put_object("exists.txt", b"x")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.init_multipart_upload("exists.txt", headers={"x-oss-forbid-overwrite": "true"})
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    key = "中文 key+plus/a&b.txt"
    resp = b._Bucket__do_object("POST", key, params={"uploads": "", "encoding-type": "url"})
    root = ET.fromstring(resp.read())
    assert [c.tag for c in root] == ["Bucket", "Key", "UploadId", "EncodingType"]
    assert root.find("EncodingType").text == "url"
    assert root.find("Key").text == "%E4%B8%AD%E6%96%87%20key%2Bplus%2Fa%26b.txt"
    b.upload_part(key, root.find("UploadId").text, 1, b"x")
    assert [u.key for u in oss2.MultipartUploadIterator(b)] == [key]


def test_initiate_invalid_headers(b):
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.init_multipart_upload("bad.bin", headers={"x-oss-storage-class": "Bogus"})
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.init_multipart_upload("bad.bin", headers={"x-oss-object-acl": "nope"})
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.init_multipart_upload("bad.bin", headers={"x-oss-server-side-encryption": "DES"})
    assert e.value.code == "InvalidEncryptionAlgorithmError"


def test_sse_and_acl(b):
    key = "sse.bin"
    init = b.init_multipart_upload(key, headers={"x-oss-server-side-encryption": "AES256"})
    assert init.headers["x-oss-server-side-encryption"] == "AES256"
    r = b.upload_part(key, init.upload_id, 1, b"secret")
    assert r.headers["x-oss-server-side-encryption"] == "AES256"
    done = b.complete_multipart_upload(key, init.upload_id, [PartInfo(1, r.etag)],
                                       headers={OSS_OBJECT_ACL: "public-read"})
    assert done.headers["x-oss-server-side-encryption"] == "AES256"
    assert b.head_object(key).headers["x-oss-server-side-encryption"] == "AES256"


def test_abort(b):
    key = "abort.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    b.upload_part(key, upload_id, 1, b"data")
    result = b.abort_multipart_upload(key, upload_id)
    assert result.status == 204
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.abort_multipart_upload(key, upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.upload_part(key, upload_id, 2, b"late")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        b.get_object(key)


def test_list_multipart_uploads(b):
    ids = {}
    for key in ["a/1", "a/2", "b", "c/x/y", "c/z", "d"]:
        ids.setdefault(key, []).append(b.init_multipart_upload(key).upload_id)
    ids["b"].append(b.init_multipart_upload("b").upload_id)
    ids["b"].sort()

    everything = b.list_multipart_uploads()
    assert not everything.is_truncated
    assert [(u.key, u.upload_id) for u in everything.upload_list] == \
        [(k, u) for k in sorted(ids) for u in ids[k]]

    # Paging with max-uploads through the iterator (key-marker + upload-id-marker).
    paged = [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(b, max_uploads=2)]
    assert paged == [(k, u) for k in sorted(ids) for u in ids[k]]

    page = b.list_multipart_uploads(max_uploads=3)
    assert page.is_truncated
    assert (page.next_key_marker, page.next_upload_id_marker) == ("b", ids["b"][0])
    page2 = b.list_multipart_uploads(key_marker="b", upload_id_marker=ids["b"][0], max_uploads=3)
    assert [(u.key, u.upload_id) for u in page2.upload_list] == \
        [("b", ids["b"][1]), ("c/x/y", ids["c/x/y"][0]), ("c/z", ids["c/z"][0])]
    # A key-marker alone skips every upload of that key.
    after_b = b.list_multipart_uploads(key_marker="b")
    assert [u.key for u in after_b.upload_list] == ["c/x/y", "c/z", "d"]

    # Delimiter and prefix.
    top = b.list_multipart_uploads(delimiter="/")
    assert [u.key for u in top.upload_list] == ["b", "b", "d"]
    assert top.prefix_list == ["a/", "c/"]
    under_c = b.list_multipart_uploads(prefix="c/", delimiter="/")
    assert [u.key for u in under_c.upload_list] == ["c/z"]
    assert under_c.prefix_list == ["c/x/"]
    # Common prefixes count toward max-uploads and page cleanly.
    seen_keys, seen_prefixes = [], []
    for item in oss2.MultipartUploadIterator(b, delimiter="/", max_uploads=1):
        if item.is_prefix():
            seen_prefixes.append(item.key)
        else:
            seen_keys.append(item.key)
    assert seen_keys == ["b", "b", "d"] and seen_prefixes == ["a/", "c/"]

    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.list_multipart_uploads(max_uploads=1001)
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.list_multipart_uploads(max_uploads=0)


def test_list_parts_paging(b):
    key = "many.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    for n in range(1, 8):
        b.upload_part(key, upload_id, n, f"part-{n}".encode())
    first = b.list_parts(key, upload_id, max_parts=3)
    assert [p.part_number for p in first.parts] == [1, 2, 3]
    assert first.is_truncated and first.next_marker == "3"
    rest = b.list_parts(key, upload_id, marker=first.next_marker, max_parts=10)
    assert [p.part_number for p in rest.parts] == [4, 5, 6, 7]
    assert not rest.is_truncated
    assert [p.part_number for p in oss2.PartIterator(b, key, upload_id, max_parts=2)] == list(range(1, 8))
    raw = ET.fromstring(b._Bucket__do_object("GET", key, params={"uploadId": upload_id,
                                                                  "max-parts": "1"}).read())
    assert [c.tag for c in raw][:8] == ["Bucket", "Key", "UploadId", "StorageClass", "PartNumberMarker",
                                        "NextPartNumberMarker", "MaxParts", "IsTruncated"]
    part = raw.find("Part")
    assert [c.tag for c in part] == ["PartNumber", "LastModified", "ETag", "HashCrc64ecma", "Size"]
    assert part.find("HashCrc64ecma").text == str(crc64(b"part-1"))
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.list_parts(key, upload_id, max_parts=1001)


def test_resumable_upload(b, tmp_path):
    data = os.urandom(3 * MIB + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    store = oss2.ResumableStore(root=str(tmp_path))
    result = oss2.resumable_upload(b, "resumable.bin", str(path), store=store,
                                   multipart_threshold=512 * KIB, part_size=512 * KIB, num_threads=3)
    assert result.crc == crc64(data)
    got = b.get_object("resumable.bin")
    assert got.headers["x-oss-object-type"] == "Multipart"
    assert got.read() == data
    assert int(b.head_object("resumable.bin").headers["x-oss-hash-crc64ecma"]) == crc64(data)


def test_v4_signed_multipart(bucket_v4):
    key = "v4/multipart.bin"
    chunks = [os.urandom(100 * KIB), b"end"]
    upload_id = bucket_v4.init_multipart_upload(key).upload_id
    try:
        parts = upload_parts(bucket_v4, key, upload_id, chunks)
        assert [p.part_number for p in bucket_v4.list_parts(key, upload_id).parts] == [1, 2]
        bucket_v4.complete_multipart_upload(key, upload_id, parts)
    except Exception:
        bucket_v4.abort_multipart_upload(key, upload_id)
        raise
    assert bucket_v4.get_object(key).read() == b"".join(chunks)


# -- errors ---------------------------------------------------------------------------------------
def test_errors(b, bucket_name):
    key = "err.bin"
    with pytest.raises(oss2.exceptions.NoSuchUpload) as e:
        b.upload_part(key, "F" * 32, 1, b"x")
    assert e.value.status == 404 and e.value.details["UploadId"] == "F" * 32
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.list_parts(key, "F" * 32)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.complete_multipart_upload(key, "F" * 32, [PartInfo(1, "00")])

    upload_id = b.init_multipart_upload(key).upload_id
    # The upload is bound to its key.
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        b.upload_part("other.bin", upload_id, 1, b"x")

    for bad in (0, 10001):
        with pytest.raises(oss2.exceptions.InvalidArgument) as e:
            b.upload_part(key, upload_id, bad, b"x")
        assert e.value.details["EC"] == "0042-00000001"
    small = [os.urandom(50 * KIB), os.urandom(50 * KIB)]
    r1 = b.upload_part(key, upload_id, 1, small[0])
    r2 = b.upload_part(key, upload_id, 2, small[1])

    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload(key, upload_id, [PartInfo(1, "0" * 32)])
    assert (e.value.status, e.value.code) == (400, "InvalidPart")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload(key, upload_id, [PartInfo(1, r1.etag), PartInfo(3, r2.etag)])
    assert (e.value.status, e.value.code) == (400, "InvalidPart")
    # oss2 sorts the parts it sends; send an unordered list by hand.
    body = ("<CompleteMultipartUpload>"
            f"<Part><PartNumber>2</PartNumber><ETag>\"{r2.etag}\"</ETag></Part>"
            f"<Part><PartNumber>1</PartNumber><ETag>\"{r1.etag}\"</ETag></Part>"
            "</CompleteMultipartUpload>")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b._Bucket__do_object("POST", key, params={"uploadId": upload_id}, data=body)
    assert (e.value.status, e.value.code) == (400, "InvalidPartOrder")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b._Bucket__do_object("POST", key, params={"uploadId": upload_id}, data="<NotIt/>")
    assert (e.value.status, e.value.code) == (400, "MalformedXML")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b._Bucket__do_object("POST", key, params={"uploadId": upload_id},
                             data="<CompleteMultipartUpload><Part><PartNumber>x</PartNumber>"
                                  "</Part></CompleteMultipartUpload>")
    assert (e.value.status, e.value.code) == (400, "MalformedXML")
    # 50 KiB + 50 KiB: the first part is below the 100 KiB minimum.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload(key, upload_id, [PartInfo(1, r1.etag), PartInfo(2, r2.etag)])
    assert (e.value.status, e.value.code) == (400, "EntityTooSmall")
    # A callback without its callbackBody is refused before anything is stored.
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload(key, upload_id, [PartInfo(1, r1.etag)],
                                    headers={"x-oss-callback": base64.b64encode(b'{"callbackUrl":"x"}')
                                             .decode()})
    assert (e.value.status, e.value.code) == (400, "InvalidArgument") and "callbackBody" in e.value.message
    # None of the failures consumed the upload; a single small part completes fine.
    b.complete_multipart_upload(key, upload_id, [PartInfo(1, r1.etag)])
    assert b.get_object(key).read() == small[0]


def test_append_to_multipart_object(b):
    key = "mp-then-append.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    r = b.upload_part(key, upload_id, 1, b"abc")
    b.complete_multipart_upload(key, upload_id, [PartInfo(1, r.etag)])
    with pytest.raises(oss2.exceptions.ObjectNotAppendable) as e:
        b.append_object(key, 3, b"more")
    assert e.value.status == 409


def test_complete_replaces_appendable(b):
    key = "was-appendable.bin"
    b.append_object(key, 0, b"old")
    upload_id = b.init_multipart_upload(key).upload_id
    r = b.upload_part(key, upload_id, 1, b"new")
    b.complete_multipart_upload(key, upload_id, [PartInfo(1, r.etag)])
    head = b.head_object(key)
    assert head.object_type == "Multipart"
    assert "x-oss-next-append-position" not in head.headers
    assert b.get_object(key).read() == b"new"


def test_complete_forbid_overwrite(b):
    key = "forbid.bin"
    upload_id = b.init_multipart_upload(key).upload_id
    r = b.upload_part(key, upload_id, 1, b"data")
    b.put_object(key, b"someone else")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.complete_multipart_upload(key, upload_id, [PartInfo(1, r.etag)],
                                    headers={"x-oss-forbid-overwrite": "true"})
    assert (e.value.status, e.value.code) == (409, "FileAlreadyExists")
    b.complete_multipart_upload(key, upload_id, [PartInfo(1, r.etag)])
    assert b.get_object(key).read() == b"data"


def test_delete_bucket_with_upload_in_progress(b):
    upload_id = b.init_multipart_upload("pending.bin").upload_id
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        b.delete_bucket()
    b.abort_multipart_upload("pending.bin", upload_id)
    b.delete_bucket()


# -- alibabacloud-oss-v2 --------------------------------------------------------------------------
def test_v2_multipart(v2, bucket_name, bucket):
    key = "v2/object.bin"
    chunks = [os.urandom(200 * KIB), os.urandom(100 * KIB), b"last bit"]
    data = b"".join(chunks)
    init = v2.initiate_multipart_upload(v2oss.InitiateMultipartUploadRequest(
        bucket=bucket_name, key=key, content_type="application/x-v2",
        metadata={"origin": "v2"}))
    assert init.upload_id and init.key == key and init.bucket == bucket_name
    parts = []
    for n, chunk in enumerate(chunks, 1):
        r = v2.upload_part(v2oss.UploadPartRequest(bucket=bucket_name, key=key,
                                                   upload_id=init.upload_id, part_number=n,
                                                   body=chunk))
        assert r.etag == f'"{md5_etag(chunk)}"'
        assert int(r.hash_crc64) == crc64(chunk)
        assert r.content_md5 == base64.b64encode(hashlib.md5(chunk).digest()).decode()
        parts.append(v2oss.UploadPart(part_number=n, etag=r.etag))

    listed = v2.list_parts(v2oss.ListPartsRequest(bucket=bucket_name, key=key,
                                                  upload_id=init.upload_id))
    assert listed.key == key and listed.upload_id == init.upload_id
    assert [p.part_number for p in listed.parts] == [1, 2, 3]
    assert [p.size for p in listed.parts] == [len(c) for c in chunks]
    assert [int(p.hash_crc64) for p in listed.parts] == [crc64(c) for c in chunks]
    assert listed.is_truncated is False and listed.max_parts == 1000

    page = v2.list_multipart_uploads(v2oss.ListMultipartUploadsRequest(bucket=bucket_name))
    assert [(u.key, u.upload_id) for u in page.uploads] == [(key, init.upload_id)]

    done = v2.complete_multipart_upload(v2oss.CompleteMultipartUploadRequest(
        bucket=bucket_name, key=key, upload_id=init.upload_id,
        complete_multipart_upload=v2oss.CompleteMultipartUpload(parts=parts)))
    assert done.key == key and done.bucket == bucket_name
    assert int(done.hash_crc64) == crc64(data)
    assert done.etag.strip('"').endswith("-3")

    got = v2.get_object(v2oss.GetObjectRequest(bucket=bucket_name, key=key))
    assert got.body.read() == data
    assert got.object_type == "Multipart"
    assert got.content_type == "application/x-v2"
    assert got.metadata == {"origin": "v2"}


def test_v2_errors(v2, bucket_name):
    with pytest.raises(v2oss.exceptions.OperationError) as e:
        v2.upload_part(v2oss.UploadPartRequest(bucket=bucket_name, key="k", upload_id="A" * 32,
                                               part_number=1, body=b"x"))
    err = e.value.unwrap()
    assert err.status_code == 404 and err.code == "NoSuchUpload"


def test_v2_complete_all(v2, bucket_name):
    key = "v2/all.bin"
    init = v2.initiate_multipart_upload(v2oss.InitiateMultipartUploadRequest(bucket=bucket_name, key=key))
    v2.upload_part(v2oss.UploadPartRequest(bucket=bucket_name, key=key, upload_id=init.upload_id,
                                           part_number=1, body=b"only part"))
    done = v2.complete_multipart_upload(v2oss.CompleteMultipartUploadRequest(
        bucket=bucket_name, key=key, upload_id=init.upload_id, complete_all="yes"))
    assert int(done.hash_crc64) == crc64(b"only part")


def test_v2_uploader(v2, bucket_name, tmp_path):
    data = os.urandom(3 * MIB + 777)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    uploader = v2.uploader(part_size=1 * MIB, parallel_num=3)
    result = uploader.upload_file(v2oss.PutObjectRequest(bucket=bucket_name, key="v2/uploaded.bin"),
                                  filepath=str(path))
    assert result.upload_id
    assert int(result.hash_crc64) == crc64(data)
    got = v2.get_object(v2oss.GetObjectRequest(bucket=bucket_name, key="v2/uploaded.bin"))
    assert got.object_type == "Multipart"
    assert got.body.read() == data
    head = v2.head_object(v2oss.HeadObjectRequest(bucket=bucket_name, key="v2/uploaded.bin"))
    assert int(head.hash_crc64) == crc64(data)
    assert head.content_length == len(data)


def test_list_parts_returns_the_client_encryption_envelope(v2, bucket_name):
    """alibabacloud-oss-v2's encryption client resumes a client-side-encrypted multipart upload from
    ListParts' ClientEncryption* elements: they are the envelope sent with InitiateMultipartUpload."""
    import alibabacloud_oss_v2 as oss
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    enc = oss.EncryptionClient(v2, oss.crypto.MasterRsaCipher({"who": "test"}, public, private))
    part = 100 * 1024
    data = os.urandom(2 * part)
    init = enc.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
        bucket=bucket_name, key="cse", cse_part_size=part, cse_data_size=len(data)))
    ctx = init.cse_multipart_context
    done = []
    for n in (1, 2):
        r = enc.upload_part(oss.UploadPartRequest(bucket=bucket_name, key="cse", upload_id=init.upload_id,
                                                  part_number=n, body=data[(n - 1) * part:n * part],
                                                  cse_multipart_context=ctx))
        done.append(oss.UploadPart(part_number=n, etag=r.etag))
    listed = v2.list_parts(oss.ListPartsRequest(bucket=bucket_name, key="cse", upload_id=init.upload_id))
    assert listed.client_encryption_cek_alg == "AES/CTR/NoPadding"
    assert listed.client_encryption_wrap_alg == "RSA/NONE/PKCS1Padding"
    assert (listed.client_encryption_data_size, listed.client_encryption_part_size) == (len(data), part)
    enc.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=bucket_name, key="cse", upload_id=init.upload_id,
        complete_multipart_upload=oss.CompleteMultipartUpload(parts=done)))
    head = v2.head_object(oss.HeadObjectRequest(bucket=bucket_name, key="cse")).headers
    assert listed.client_encryption_key == head["x-oss-meta-client-side-encryption-key"]
    assert listed.client_encryption_start == head["x-oss-meta-client-side-encryption-start"]
    assert enc.get_object(oss.GetObjectRequest(bucket=bucket_name, key="cse")).body.read() == data
