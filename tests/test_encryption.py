"""Server-side encryption at rest through the official SDKs (oss2, alibabacloud-oss-v2) against a
real server: appendable/normal/copied/multipart objects, bucket default encryption, the built-in
KMS, and the bytes on disk (ciphertext only)."""
import asyncio
import os
import random
import time
import uuid

import crcmod
import oss2
import pytest
from oss2.models import PartInfo, ServerSideEncryptionRule

import alibabacloud_oss_v2 as v2oss
from conftest import admin, as_user, make_v2_client, put_policy, remove_bucket, v2_error
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, TEST_DATA, ServerProcess

from ossbox.storage import errors as storage_errors
from ossbox.storage import journal as journal_mod
from ossbox.storage.drivers import open_engine
from ossbox.storage.records import BucketRecord, ObjectRecord
from ossbox.storage.sse import DataKey

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)

KIB = 1024
ALG = "x-oss-server-side-encryption"
DATA_ALG = "x-oss-server-side-data-encryption"
KEY_ID = "x-oss-server-side-encryption-key-id"
SSE_CASES = {  # name: (request headers, expected stored algorithm, expected data algorithm)
    "AES256": ({ALG: "AES256"}, "AES256", None),
    "SM4": ({ALG: "SM4"}, "SM4", None),
    "KMS": ({ALG: "KMS"}, "KMS", None),
    "KMS+SM4": ({ALG: "KMS", DATA_ALG: "SM4"}, "KMS", "SM4"),
}


def default_kms_key(server) -> str:
    keys = [k for k in admin(server, "ListKmsKeys", method="GET")["Keys"] if k["Default"]]
    assert len(keys) == 1, keys
    return keys[0]["KeyId"]


def new_kms_key(server, description="test key") -> str:
    return admin(server, "CreateKmsKey", {"Description": description})["KeyId"]


def assert_sse(headers, algorithm, data_algorithm=None, key_id=None):
    """The SSE response headers report exactly this encryption (none when algorithm is None)."""
    assert headers.get(ALG) == algorithm
    assert headers.get(DATA_ALG) == data_algorithm
    if algorithm == "KMS":
        assert headers.get(KEY_ID)
        if key_id is not None:
            assert headers[KEY_ID] == key_id
    else:
        assert KEY_ID not in headers


def read(b, key, start=None, end=None) -> bytes:
    """The whole object, or bytes [start, end)."""
    if start is None:
        return b.get_object(key).read()  # oss2 compares the CRC-64 of a full read at EOF
    r = b.get_object(key, byte_range=(start, end - 1))
    assert r.status == 206
    return r.read()


def ranges_across(boundaries, size, seed=7):
    """Ranges [start, end) that start and end inside 16-byte blocks and span the given offsets
    (append/part boundaries), plus some random ones."""
    out = {(0, size), (0, 1), (size - 1, size)}
    for b in boundaries:
        for lo, hi in ((b - 1, b + 1), (b - 17, b + 15), (b - 3, b + 40), (b, b + 16), (b + 5, b + 6),
                       (b - 100, b + 1000)):
            lo, hi = max(0, lo), min(size, hi)
            if lo < hi:
                out.add((lo, hi))
    rng = random.Random(seed)
    for _ in range(12):
        lo = rng.randrange(size)
        out.add((lo, rng.randrange(lo + 1, size + 1)))
    return sorted(out)


def check_ranges(b, key, data, boundaries):
    for lo, hi in ranges_across(boundaries, len(data)):
        assert read(b, key, lo, hi) == data[lo:hi], (lo, hi)


# -- appendable objects ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(SSE_CASES))
def test_encrypted_appendable_object(server, bucket, v2, bucket_name, case):
    ask, algorithm, data_algorithm = SSE_CASES[case]
    # sizes around 16-byte blocks, a journalled 4 KiB one and one too large for the journal
    sizes = [1, 15, 16, 17, 100, 4096 + 3, 300 * KIB, 5]
    chunks = [os.urandom(n) for n in sizes]
    others = [{ALG: "AES256"}, {ALG: "SM4"}, {ALG: "KMS", DATA_ALG: "SM4"}, {ALG: "KMS"}]
    data, crc, boundaries = b"", 0, []
    kms_key = None
    for i, chunk in enumerate(chunks):
        headers = ask if i == 0 else others[i % len(others)]  # later appends ask for other SSE
        r = bucket.append_object("log", len(data), chunk, headers=headers, init_crc=crc)
        data += chunk
        crc = r.crc
        boundaries.append(len(data))
        assert r.next_position == len(data) and r.crc == crc64(data)
        if kms_key is None and algorithm == "KMS":
            kms_key = default_kms_key(server)  # the first SSE-KMS write made the managed key
        assert_sse(r.headers, algorithm, data_algorithm, kms_key)

    h = bucket.head_object("log")
    assert_sse(h.headers, algorithm, data_algorithm, kms_key)
    assert h.content_length == len(data) and h.headers["x-oss-hash-crc64ecma"] == str(crc64(data))
    g = bucket.get_object("log")
    assert_sse(g.headers, algorithm, data_algorithm, kms_key)
    assert g.read() == data
    check_ranges(bucket, "log", data, boundaries)
    got = v2.get_object(v2oss.GetObjectRequest(bucket=bucket_name, key="log", range_header="bytes=20-4200"))
    assert got.body.read() == data[20:4201]
    assert got.server_side_encryption == algorithm and got.server_side_data_encryption == data_algorithm
    if algorithm == "KMS":
        assert got.server_side_encryption_key_id == kms_key


def test_unencrypted_appendable_object_never_reports_sse(bucket):
    r = bucket.append_object("plain", 0, b"abc")
    assert_sse(r.headers, None)
    r = bucket.append_object("plain", 3, b"def", headers={ALG: "KMS", DATA_ALG: "SM4"})
    assert_sse(r.headers, None)
    assert_sse(bucket.head_object("plain").headers, None)
    assert bucket.get_object("plain").read() == b"abcdef"


def test_v2_append_kms_sm4(server, v2, bucket_name):
    r = v2.append_object(v2oss.AppendObjectRequest(bucket=bucket_name, key="k", position=0, body=b"x" * 40,
                                                   server_side_encryption="KMS",
                                                   server_side_data_encryption="SM4"))
    assert r.server_side_encryption == "KMS" and r.server_side_data_encryption == "SM4"
    assert r.server_side_encryption_key_id == default_kms_key(server)
    r2 = v2.append_object(v2oss.AppendObjectRequest(bucket=bucket_name, key="k", position=40, body=b"y" * 9,
                                                    server_side_encryption="AES256"))
    assert r2.server_side_encryption == "KMS" and r2.server_side_data_encryption == "SM4"
    got = v2.get_object(v2oss.GetObjectRequest(bucket=bucket_name, key="k", range_header="bytes=38-42"))
    assert got.body.read() == b"xxyyy"


# -- the bytes on disk ------------------------------------------------------------------------------
def _files(root):
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            yield os.path.join(dirpath, name)


def _found(root, needles) -> dict:
    """{needle index: [files containing it]} over every file under root."""
    hits: dict = {}
    for path in _files(root):
        try:
            with open(path, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            continue  # removed meanwhile (a replaced blob)
        for i, needle in enumerate(needles):
            if needle in content:
                hits.setdefault(i, []).append(path)
    return hits


def _windows(plain: bytes) -> list:
    """The plaintext itself and 32-byte windows of it (start, middle, end)."""
    mid = len(plain) // 2
    return [plain, plain[:32], plain[mid:mid + 32], plain[-32:]]


@pytest.mark.skipif(TEST_DATA == "rgw", reason="the bytes are in the S3 store, not on this disk")
def test_data_on_disk_is_ciphertext(tmp_path):
    """Write distinctive plaintext through every write path, then scan every file of the data dir
    (blobs, meta.sqlite3 and its WAL): no plaintext, no 32-byte window of it. The same scan finds
    an unencrypted object's bytes, so it can fail."""
    srv = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "scan-" + uuid.uuid4().hex[:8])
        b.create_bucket()
        secrets = []

        def secret(n):
            s = os.urandom(n)
            secrets.append(s)
            return s

        objects = {}
        for i, (ask, _alg, _data) in enumerate(SSE_CASES.values()):
            key, pos, data = f"app{i}", 0, b""
            for n in (3000, 4096, 5000, 300 * KIB):  # journalled small appends and a large one
                chunk = secret(n)
                pos = b.append_object(key, pos, chunk, headers=ask).next_position
                data += chunk
            objects[key] = data
            objects[f"put{i}"] = secret(64 * KIB)
            b.put_object(f"put{i}", objects[f"put{i}"], headers=ask)
        plain_src = secret(20 * KIB)
        b.put_object("plain-src", plain_src)
        b.copy_object(b.bucket_name, "plain-src", "copied", headers={ALG: "SM4"})
        objects["copied"] = plain_src
        b.copy_object(b.bucket_name, "app0", "copied2", headers={ALG: "KMS"})
        objects["copied2"] = objects["app0"]
        up = b.init_multipart_upload("mp", headers={ALG: "AES256"}).upload_id
        part1 = secret(100 * KIB)
        p1 = b.upload_part("mp", up, 1, part1)
        p2 = b.upload_part_copy(b.bucket_name, "app1", (5, 4000), "mp", up, 2)
        b.complete_multipart_upload("mp", up, [PartInfo(1, p1.etag), PartInfo(2, p2.etag)])
        objects["mp"] = part1 + objects["app1"][5:4001]
        b.delete_object("plain-src")  # only encrypted copies of its bytes may remain
        if TEST_DATA:
            # segment mode deletes a replaced or deleted object's bytes only after the grace period
            # (a GET on another node may still be reading them): the plain source is still there
            secrets.remove(plain_src)
        control = os.urandom(300 * KIB)  # a file of its own in every mode (segment mode inlines small ones)
        b.append_object("control", 0, control)

        needles = [w for s in secrets for w in _windows(s)]
        hits = _found(str(tmp_path / "data"), needles + [control])
        assert len(needles) in hits, "the scan did not find an unencrypted object's bytes"
        leaked = {i: files for i, files in hits.items() if i != len(needles)}
        assert not leaked, leaked
        for key, data in objects.items():  # and everything reads back
            assert b.get_object(key).read() == data, key
    finally:
        assert srv.stop() == 0, "".join(srv.output)


# -- engine: power loss with an encrypted object ----------------------------------------------------
async def _body(*chunks):
    for c in chunks:
        yield c


def test_power_loss_replays_encrypted_journal(tmp_path, monkeypatch):
    """Journalled appends of an encrypted object hold ciphertext; after a power loss (the blob's
    unsynced bytes lost) the replay writes that ciphertext back and the object reads as before."""
    monkeypatch.setattr(journal_mod, "FLUSH_INTERVAL", 3600)  # keep the journal: nothing retires it
    first, second = os.urandom(1000), os.urandom(777)

    async def scenario():
        eng = open_engine(str(tmp_path))
        await eng.start()
        await eng.create_bucket(BucketRecord(name="b", owner="1", created=time.time(), region="r"))

        async def creation():
            return ObjectRecord(bucket="b", key="log", type="Normal", size=0, crc64=0, etag="", blob="",
                                mtime=0.0, headers={ALG: "SM4"})
        for pos, data in ((0, first), (len(first), second)):
            rec = await eng.append_object("b", "log", pos, _body(data), content_length=len(data),
                                          content_md5=None, creation=creation)
        assert rec.sse_key is not None and rec.crc64 == crc64(first + second)
        journal = await eng.meta.pending_chunks()
        assert [c[2] for c in journal] == [0, len(first)]
        assert journal[0][3] != first and journal[1][3] != second  # ciphertext in the journal
        blob_path = eng.blobs.path(rec.blob)
        eng._background_task.cancel()
        await eng.meta.close()
        eng.locks.close()
        eng.io.shutdown()
        hits = _found(str(tmp_path), _windows(first) + _windows(second))
        assert not hits, hits
        with open(blob_path, "r+b") as f:
            f.truncate(0)  # "power loss": the blob's unsynced bytes are gone

        eng2 = open_engine(str(tmp_path))
        await eng2.start()
        rec2, reader = await eng2.open_object("b", "log")
        dkey = await eng2.data_key(rec2)
        data = b"".join([c async for c in reader.stream(0, rec2.size, dkey)])
        assert data == first + second and rec2.crc64 == crc64(data)
        _rec, reader = await eng2.open_object("b", "log")
        assert b"".join([c async for c in reader.stream(995, 1010, dkey)]) == (first + second)[995:1010]
        with open(blob_path, "rb") as f:
            on_disk = f.read()
        assert len(on_disk) == len(data) and on_disk != data
        assert (await eng2.meta.pending_summary()) == (0, [])
        await eng2.stop()

    asyncio.run(scenario())


def test_keystream_from_any_offset_and_counter_wrap():
    for cipher, size in (("AES-256-CTR", 32), ("SM4-CTR", 16)):
        for iv in (os.urandom(16), b"\xff" * 16, b"\xff" * 15 + b"\xfe"):
            key = DataKey(cipher, os.urandom(size), iv)
            plain = os.urandom(3000)
            whole = key.stream().apply(plain)
            assert whole != plain and key.stream().apply(whole) == plain
            for offset in (1, 15, 16, 17, 33, 2999):
                assert key.stream(offset).apply(plain[offset:]) == whole[offset:], (cipher, iv, offset)
            s = key.stream(0)
            assert b"".join(s.apply(plain[i:i + 7]) for i in range(0, len(plain), 7)) == whole


def test_damaged_or_foreign_key_record_fails_cleanly(tmp_path):
    """A data key wrapped by another server's master key cannot be unwrapped: 500, not garbage."""
    async def scenario():
        one = open_engine(str(tmp_path / "one"))
        two = open_engine(str(tmp_path / "two"))
        await one.start()
        await two.start()
        try:
            _key, stored, _h = await one.sse.create({ALG: "AES256"})
            assert (await one.sse.open(stored)).key == _key.key
            with pytest.raises(storage_errors.KeyUnwrapFailed):
                await two.sse.open(stored)
            with pytest.raises(storage_errors.KeyUnwrapFailed):  # a record edited to claim another cipher
                await one.sse.open(stored.replace("AES-256-CTR", "SM4-CTR"))
        finally:
            await one.stop()
            await two.stop()
    asyncio.run(scenario())


# -- normal objects and copies ----------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(SSE_CASES))
def test_put_get_encrypted_object(bucket, v2, bucket_name, case):
    ask, algorithm, data_algorithm = SSE_CASES[case]
    data = os.urandom(70 * KIB + 5)
    r = bucket.put_object("obj", data, headers=ask)
    assert r.crc == crc64(data)
    assert_sse(r.headers, algorithm, data_algorithm)
    g = bucket.get_object("obj")
    assert_sse(g.headers, algorithm, data_algorithm, r.headers.get(KEY_ID))
    assert g.read() == data
    check_ranges(bucket, "obj", data, [16 * 1000 + 3, 65536])
    v = v2.put_object(v2oss.PutObjectRequest(bucket=bucket_name, key="v2obj", body=data,
                                             server_side_encryption=algorithm,
                                             server_side_data_encryption=data_algorithm))
    assert v.headers.get(ALG) == algorithm  # PutObjectResult has no SSE fields: the raw header
    got = v2.get_object(v2oss.GetObjectRequest(bucket=bucket_name, key="v2obj", range_header="bytes=7-70000"))
    assert got.body.read() == data[7:70001] and got.server_side_encryption == algorithm


def test_copy_between_encryptions(server, bucket):
    data = os.urandom(50 * KIB + 11)
    bucket.put_object("enc", data, headers={ALG: "SM4"})
    bucket.put_object("plain", data)
    # encrypted -> plain: a copy names its own encryption, none here
    c = bucket.copy_object(bucket.bucket_name, "enc", "enc-to-plain")
    assert_sse(c.headers, None)
    assert c.crc == crc64(data)
    # plain -> encrypted
    c = bucket.copy_object(bucket.bucket_name, "plain", "plain-to-enc", headers={ALG: "AES256"})
    assert_sse(c.headers, "AES256")
    # encrypted -> encrypted under another algorithm (and KMS)
    c = bucket.copy_object(bucket.bucket_name, "enc", "enc-to-kms", headers={ALG: "KMS", DATA_ALG: "SM4"})
    assert_sse(c.headers, "KMS", "SM4", default_kms_key(server))
    for key, (alg, data_alg) in {"enc-to-plain": (None, None), "plain-to-enc": ("AES256", None),
                                 "enc-to-kms": ("KMS", "SM4")}.items():
        g = bucket.get_object(key)
        assert_sse(g.headers, alg, data_alg)
        assert g.read() == data, key
        assert read(bucket, key, 17, 4099) == data[17:4099]
    # an encrypted appendable source becomes a Normal object with the copy's own encryption
    bucket.append_object("app", 0, data[:1000], headers={ALG: "KMS"})
    bucket.append_object("app", 1000, data[1000:])
    c = bucket.copy_object(bucket.bucket_name, "app", "app-copy", headers={ALG: "SM4"})
    assert_sse(c.headers, "SM4")
    assert c.crc == crc64(data)
    assert bucket.get_object("app-copy").read() == data


def test_copy_onto_itself_and_encryption(bucket):
    data = os.urandom(9000)
    bucket.put_object("n", data, headers={ALG: "AES256", "x-oss-meta-a": "1"})
    # a metadata update keeps the encryption
    bucket.update_object_meta("n", {"x-oss-meta-a": "2"})
    h = bucket.head_object("n").headers
    assert_sse(h, "AES256")
    assert h["x-oss-meta-a"] == "2"
    # naming another algorithm rewrites the bytes under a new key
    c = bucket.copy_object(bucket.bucket_name, "n", "n", headers={ALG: "SM4"})
    assert_sse(c.headers, "SM4")
    assert bucket.head_object("n").headers["x-oss-meta-a"] == "2"
    assert bucket.get_object("n").read() == data and read(bucket, "n", 4095, 4113) == data[4095:4113]
    # an appendable object's encryption cannot change
    bucket.append_object("a", 0, data[:100], headers={ALG: "KMS"})
    c = bucket.copy_object(bucket.bucket_name, "a", "a", headers={ALG: "AES256",
                                                                  "x-oss-metadata-directive": "REPLACE"})
    assert_sse(c.headers, "KMS")
    assert bucket.append_object("a", 100, data[100:200]).headers[ALG] == "KMS"
    assert bucket.get_object("a").read() == data[:200]


def test_data_encryption_header_ignored_without_kms(bucket, v2, bucket_name):
    """x-oss-server-side-data-encryption matters only with KMS: beside AES256, SM4 or no algorithm
    OSS ignores it (oss2's test_server_side_encryotion test_put_object_with_encryption)."""
    for alg in ("AES256", "SM4", None):
        headers = {DATA_ALG: "SM4", **({ALG: alg} if alg else {})}
        r = bucket.put_object(f"o-{alg}", b"data", headers=headers)
        assert_sse(r.headers, alg)
        assert bucket.get_object(f"o-{alg}").read() == b"data"
    # with KMS it is still checked
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.put_object("o-bad", b"x", headers={ALG: "KMS", DATA_ALG: "AES"})
    assert (e.value.status, e.value.code) == (400, "InvalidDataEncryptionAlgorithmError")
    r = v2.put_object(v2oss.PutObjectRequest(bucket=bucket_name, key="v", body=b"x",
                                             server_side_encryption="AES256", server_side_data_encryption="SM4"))
    assert r.headers.get(ALG) == "AES256" and r.headers.get(DATA_ALG) is None


# -- multipart -------------------------------------------------------------------------------------
def test_upload_part_and_complete_refuse_sse_headers(bucket):
    """The upload's encryption is chosen at initiation: OSS answers InvalidArgument to SSE headers
    on UploadPart and CompleteMultipartUpload (oss2's test_server_side_encryotion
    test_multipart_upload)."""
    sse = {ALG: "KMS", DATA_ALG: "SM4"}
    up = bucket.init_multipart_upload("mp", headers=sse).upload_id
    for headers in (sse, {ALG: "AES256"}, {KEY_ID: "k"}):
        with pytest.raises(oss2.exceptions.InvalidArgument) as e:
            bucket.upload_part("mp", up, 1, b"part", headers=headers)
        assert e.value.status == 400
    p1 = bucket.upload_part("mp", up, 1, b"part")
    assert_sse(p1.headers, "KMS", "SM4", p1.headers[KEY_ID])
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.complete_multipart_upload("mp", up, [PartInfo(1, p1.etag)], headers=sse)
    done = bucket.complete_multipart_upload("mp", up, [PartInfo(1, p1.etag)])
    assert_sse(done.headers, "KMS", "SM4", p1.headers[KEY_ID])
    assert bucket.get_object("mp").read() == b"part"


def test_multipart_with_sse_and_encrypted_part_copy(server, bucket):
    src = os.urandom(200 * KIB)
    bucket.append_object("src", 0, src[:77], headers={ALG: "KMS"})
    bucket.append_object("src", 77, src[77:])
    key_id = default_kms_key(server)
    init = bucket.init_multipart_upload("mp", headers={ALG: "SM4"})
    assert_sse(init.headers, "SM4")
    up = init.upload_id
    part1 = os.urandom(100 * KIB + 3)
    r1 = bucket.upload_part("mp", up, 1, part1)
    assert_sse(r1.headers, "SM4")
    assert r1.crc == crc64(part1)
    r2 = bucket.upload_part_copy(bucket.bucket_name, "src", (33, 33 + 100 * KIB), "mp", up, 2)  # mid-block
    assert_sse(r2.headers, "SM4")
    part2 = src[33:33 + 100 * KIB + 1]
    part3 = os.urandom(1234)
    r3 = bucket.upload_part("mp", up, 3, part3)
    done = bucket.complete_multipart_upload("mp", up, [PartInfo(1, r1.etag), PartInfo(2, r2.etag),
                                                       PartInfo(3, r3.etag)])
    assert_sse(done.headers, "SM4")
    data = part1 + part2 + part3
    assert done.crc == crc64(data)
    g = bucket.get_object("mp")
    assert_sse(g.headers, "SM4")
    assert g.read() == data
    check_ranges(bucket, "mp", data, [len(part1), len(part1) + len(part2)])
    # the source is still intact and still under the default KMS key
    assert_sse(bucket.head_object("src").headers, "KMS", None, key_id)
    assert bucket.get_object("src").read() == src


def test_plain_multipart_from_encrypted_source(bucket):
    src = os.urandom(150 * KIB)
    bucket.put_object("src", src, headers={ALG: "AES256"})
    up = bucket.init_multipart_upload("mp").upload_id
    r1 = bucket.upload_part_copy(bucket.bucket_name, "src", (1, 100 * KIB + 1), "mp", up, 1)
    r2 = bucket.upload_part("mp", up, 2, b"tail")
    done = bucket.complete_multipart_upload("mp", up, [PartInfo(1, r1.etag), PartInfo(2, r2.etag)])
    assert_sse(done.headers, None)
    assert bucket.get_object("mp").read() == src[1:100 * KIB + 2] + b"tail"


# -- bucket default encryption -------------------------------------------------------------------
def test_bucket_default_encryption_oss2(server, bucket):
    with pytest.raises(oss2.exceptions.NoSuchServerSideEncryptionRule) as e:
        bucket.get_bucket_encryption()
    assert e.value.status == 404
    bucket.put_bucket_encryption(ServerSideEncryptionRule(sse_algorithm="SM4"))
    rule = bucket.get_bucket_encryption()
    assert (rule.sse_algorithm, rule.kms_master_keyid, rule.kms_data_encryption) == ("SM4", None, None)
    assert bucket.get_bucket_info().bucket_encryption_rule.sse_algorithm == "SM4"

    data = os.urandom(100 * KIB + 17)
    assert_sse(bucket.put_object("put", data).headers, "SM4")
    assert_sse(bucket.append_object("app", 0, data[:10]).headers, "SM4")
    assert_sse(bucket.append_object("app", 10, data[10:]).headers, "SM4")
    init = bucket.init_multipart_upload("mp")
    assert_sse(init.headers, "SM4")
    r1 = bucket.upload_part("mp", init.upload_id, 1, data)
    r2 = bucket.upload_part("mp", init.upload_id, 2, b"!")
    done = bucket.complete_multipart_upload("mp", init.upload_id, [PartInfo(1, r1.etag), PartInfo(2, r2.etag)])
    assert_sse(done.headers, "SM4")
    c = bucket.copy_object(bucket.bucket_name, "put", "copy")
    assert_sse(c.headers, "SM4")
    # a request that names its own encryption wins over the default
    assert_sse(bucket.put_object("own", data, headers={ALG: "AES256"}).headers, "AES256")
    for key, expected in (("put", data), ("app", data), ("mp", data + b"!"), ("copy", data), ("own", data)):
        g = bucket.get_object(key)
        assert g.read() == expected, key
    assert read(bucket, "mp", len(data) - 5, len(data) + 1) == data[-5:] + b"!"

    bucket.delete_bucket_encryption()
    with pytest.raises(oss2.exceptions.NoSuchServerSideEncryptionRule):
        bucket.get_bucket_encryption()
    assert bucket.get_bucket_info().bucket_encryption_rule.sse_algorithm is None
    assert_sse(bucket.put_object("later", b"x").headers, None)
    assert_sse(bucket.head_object("put").headers, "SM4")  # stored objects keep theirs
    bucket.delete_bucket_encryption()  # deleting again is fine


def test_bucket_default_kms_key_v2(server, v2, bucket_name):
    key_id = new_kms_key(server, "bucket default")
    v2.put_bucket_encryption(v2oss.PutBucketEncryptionRequest(
        bucket=bucket_name, server_side_encryption_rule=v2oss.ServerSideEncryptionRule(
            apply_server_side_encryption_by_default=v2oss.ApplyServerSideEncryptionByDefault(
                sse_algorithm="KMS", kms_master_key_id=key_id, kms_data_encryption="SM4"))))
    got = v2.get_bucket_encryption(v2oss.GetBucketEncryptionRequest(bucket=bucket_name))
    rule = got.server_side_encryption_rule.apply_server_side_encryption_by_default
    assert (rule.sse_algorithm, rule.kms_master_key_id, rule.kms_data_encryption) == ("KMS", key_id, "SM4")
    info = v2.get_bucket_info(v2oss.GetBucketInfoRequest(bucket=bucket_name)).bucket_info
    assert info.sse_rule.sse_algorithm == "KMS" and info.sse_rule.kms_master_key_id == key_id

    put = v2.put_object(v2oss.PutObjectRequest(bucket=bucket_name, key="p", body=b"data" * 100))
    assert (put.headers.get(ALG), put.headers.get(DATA_ALG), put.headers.get(KEY_ID)) == ("KMS", "SM4", key_id)
    # appendable objects cannot use a chosen key: the default managed key is recorded
    app = v2.append_object(v2oss.AppendObjectRequest(bucket=bucket_name, key="a", position=0, body=b"x" * 33))
    assert app.server_side_encryption == "KMS" and app.server_side_encryption_key_id == default_kms_key(server)
    g = v2.get_object(v2oss.GetObjectRequest(bucket=bucket_name, key="p", range_header="bytes=3-9"))
    assert g.body.read() == (b"data" * 100)[3:10]

    v2.delete_bucket_encryption(v2oss.DeleteBucketEncryptionRequest(bucket=bucket_name))
    err = v2_error(v2.get_bucket_encryption, v2oss.GetBucketEncryptionRequest(bucket=bucket_name))
    assert (err.status_code, err.code) == (404, "NoSuchServerSideEncryptionRule")
    assert ALG not in v2.put_object(v2oss.PutObjectRequest(bucket=bucket_name, key="q", body=b"1")).headers


@pytest.mark.parametrize("headers,rule", [
    ({ALG: "SM4"}, ("SM4", None, None)),
    ({ALG: "AES256", DATA_ALG: "SM4"}, ("AES256", None, None)),  # data algorithm ignored without KMS
    ({ALG: "KMS", KEY_ID: "9468da86-3509-4f8d-a61e-6eab1eac"}, ("KMS", "9468da86-3509-4f8d-a61e-6eab1eac", None)),
    ({ALG: "KMS", DATA_ALG: "SM4", KEY_ID: "9468da86-3509-4f8d-a61e-6eab1eac"},
     ("KMS", "9468da86-3509-4f8d-a61e-6eab1eac", "SM4")),
])
def test_put_bucket_with_encryption_headers(server, oss2_auth, headers, rule):
    """PutBucket's SSE headers set the bucket's default encryption as PutBucketEncryption would
    (oss2's test_bucket test_bucket_header_SSE_KMS / _SM4)."""
    name = "t-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ, oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA),
                    headers=headers)
    try:
        got = b.get_bucket_encryption()
        assert (got.sse_algorithm, got.kms_master_keyid, got.kms_data_encryption) == rule
        info = b.get_bucket_info()
        assert info.acl.grant == oss2.BUCKET_ACL_PUBLIC_READ and info.storage_class == "IA"
        assert info.bucket_encryption_rule.sse_algorithm == rule[0]
        r = b.put_object("o", b"data")
        assert_sse(r.headers, rule[0], rule[2], rule[1])
        assert b.get_object("o").read() == b"data"
    finally:
        remove_bucket(oss2_auth, server.endpoint, name)


@pytest.mark.parametrize("headers,code", [
    ({ALG: "DES"}, "InvalidEncryptionAlgorithmError"),
    ({ALG: "AES256", KEY_ID: "k"}, "InvalidArgument"),
    ({ALG: "KMS", DATA_ALG: "AES"}, "InvalidDataEncryptionAlgorithmError"),
])
def test_put_bucket_with_bad_encryption_headers(server, oss2_auth, headers, code):
    name = "t-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        b.create_bucket(headers=headers)
    assert (e.value.status, e.value.code) == (400, code)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_info()


_RULE = ("<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault>{}"
         "</ApplyServerSideEncryptionByDefault></ServerSideEncryptionRule>")


@pytest.mark.parametrize("body,status,code", [
    ("<ServerSideEncryptionRule></ServerSideEncryptionRule>", 400, "MalformedXML"),
    ("<Other/>", 400, "MalformedXML"),
    ("not xml", 400, "MalformedXML"),
    (_RULE.format(""), 400, "MalformedXML"),
    (_RULE.format("<SSEAlgorithm>DES</SSEAlgorithm>"), 400, "InvalidEncryptionAlgorithmError"),
    (_RULE.format("<SSEAlgorithm>KMS</SSEAlgorithm><KMSDataEncryption>AES</KMSDataEncryption>"),
     400, "InvalidDataEncryptionAlgorithmError"),
    (_RULE.format("<SSEAlgorithm>SM4</SSEAlgorithm><KMSMasterKeyID>x</KMSMasterKeyID>"), 400, "InvalidArgument"),
    (_RULE.format("<SSEAlgorithm>KMS</SSEAlgorithm><KMSMasterKeyID>not a key id</KMSMasterKeyID>"),
     400, "InvalidArgument"),
])
def test_bad_bucket_encryption(bucket, body, status, code):
    with pytest.raises(oss2.exceptions.OssError) as e:
        bucket._do("PUT", bucket.bucket_name, "", params={"encryption": ""}, data=body.encode())
    assert (e.value.status, e.value.code) == (status, code)
    with pytest.raises(oss2.exceptions.NoSuchServerSideEncryptionRule):
        bucket.get_bucket_encryption()


def test_bucket_encryption_drops_data_algorithm_without_kms(bucket):
    """oss2's test_put_bucket_encryption: AES256 or SM4 with KMSDataEncryption SM4 is accepted and
    read back without the data algorithm."""
    for alg in ("AES256", "SM4"):
        bucket.put_bucket_encryption(ServerSideEncryptionRule(sse_algorithm=alg, kms_data_encryption="SM4"))
        got = bucket.get_bucket_encryption()
        assert (got.sse_algorithm, got.kms_master_keyid, got.kms_data_encryption) == (alg, None, None)
        assert bucket.get_bucket_info().bucket_encryption_rule.kms_data_encryption is None
    bucket.put_bucket_encryption(ServerSideEncryptionRule(sse_algorithm="KMS", kms_master_keyid="123",
                                                          kms_data_encryption="SM4"))
    got = bucket.get_bucket_encryption()
    assert (got.sse_algorithm, got.kms_master_keyid, got.kms_data_encryption) == ("KMS", "123", "SM4")


def test_bucket_encryption_needs_its_ram_actions(server, bucket, user):
    b = as_user(server, user, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.put_bucket_encryption(ServerSideEncryptionRule(sse_algorithm="AES256"))
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:PutBucketEncryption"],
                               "Resource": f"acs:oss:*:*:{bucket.bucket_name}"}])
    b.put_bucket_encryption(ServerSideEncryptionRule(sse_algorithm="AES256"))
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.get_bucket_encryption()
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.delete_bucket_encryption()
    assert bucket.get_bucket_encryption().sse_algorithm == "AES256"


# -- the built-in KMS ------------------------------------------------------------------------------
def test_explicit_kms_key(server, bucket, v2, bucket_name):
    key_id = new_kms_key(server)
    default = (bucket.append_object("warm", 0, b"x", headers={ALG: "KMS"}).headers[KEY_ID])
    assert default != key_id
    r = bucket.put_object("p", b"secret data", headers={ALG: "KMS", KEY_ID: key_id})
    assert_sse(r.headers, "KMS", None, key_id)
    assert_sse(bucket.head_object("p").headers, "KMS", None, key_id)
    # AppendObject accepts a key id but records the default managed key (spec §1.2)
    a = bucket.append_object("a", 0, b"abc", headers={ALG: "KMS", KEY_ID: key_id})
    assert_sse(a.headers, "KMS", None, default)
    # CopyObject and multipart use the named key
    c = bucket.copy_object(bucket.bucket_name, "p", "c", headers={ALG: "KMS", KEY_ID: key_id})
    assert_sse(c.headers, "KMS", None, key_id)
    init = bucket.init_multipart_upload("mp", headers={ALG: "KMS", DATA_ALG: "SM4", KEY_ID: key_id})
    assert_sse(init.headers, "KMS", "SM4", key_id)
    p1 = bucket.upload_part("mp", init.upload_id, 1, b"part")
    done = bucket.complete_multipart_upload("mp", init.upload_id, [PartInfo(1, p1.etag)])
    assert_sse(done.headers, "KMS", "SM4", key_id)
    assert bucket.get_object("mp").read() == b"part" and bucket.get_object("c").read() == b"secret data"
    v = v2.put_object(v2oss.PutObjectRequest(bucket=bucket_name, key="v", body=b"v2",
                                             server_side_encryption="KMS", server_side_encryption_key_id=key_id))
    assert v.headers.get(KEY_ID) == key_id


def test_unknown_kms_key_id_is_kept_and_really_used(server, bucket, v2, bucket_name):
    """OSS stores the KMS key id a client names; ossbox has no cloud KMS to ask, so its built-in
    KMS makes a key under that id at first use (docs/encryption.md) and the data is encrypted."""
    named = "9468da86-3509-4f8d-a61e-6eab1eac"  # oss2's test_bucket uses this (not a real key)
    data = os.urandom(5000)
    r = bucket.put_object("p", data, headers={ALG: "KMS", KEY_ID: named})
    assert_sse(r.headers, "KMS", None, named)
    assert_sse(bucket.head_object("p").headers, "KMS", None, named)
    assert bucket.get_object("p").read() == data
    init = bucket.init_multipart_upload("mp", headers={ALG: "KMS", DATA_ALG: "SM4", KEY_ID: "alias/mine"})
    assert_sse(init.headers, "KMS", "SM4", "alias/mine")
    c = bucket.copy_object(bucket.bucket_name, "p", "c", headers={ALG: "KMS", KEY_ID: named})
    assert_sse(c.headers, "KMS", None, named)
    keys = {k["KeyId"]: k for k in admin(server, "ListKmsKeys", method="GET")["Keys"]}
    assert named in keys and "alias/mine" in keys  # each made once, and manageable like any key
    admin(server, "DisableKmsKey", {"KeyId": named})
    try:
        with pytest.raises(oss2.exceptions.OssError) as e:
            bucket.get_object("c")
        assert (e.value.status, e.value.code) == (403, "KmsKeyDisabled")
    finally:
        admin(server, "EnableKmsKey", {"KeyId": named})
    # an id no KMS could have stays refused
    for bad in ("has space", "x" * 257):
        with pytest.raises(oss2.exceptions.InvalidArgument) as e:
            bucket.put_object("bad", b"x", headers={ALG: "KMS", KEY_ID: bad})
        assert e.value.status == 400 and "KMS key" in e.value.message
    assert not bucket.object_exists("bad")


def test_disabled_kms_key_blocks_use_until_enabled(server, bucket, v2, bucket_name):
    key_id = new_kms_key(server, "to be disabled")
    data = os.urandom(5000)
    bucket.put_object("p", data, headers={ALG: "KMS", KEY_ID: key_id})
    up = bucket.init_multipart_upload("mp", headers={ALG: "KMS", KEY_ID: key_id}).upload_id
    assert bucket.get_object("p").read() == data  # also caches the unwrapped key
    assert admin(server, "DisableKmsKey", {"KeyId": key_id}) == {"KeyId": key_id, "KeyState": "Disabled"}
    try:
        attempts = [
            lambda: bucket.get_object("p"),
            lambda: bucket.get_object("p", byte_range=(10, 20)),
            lambda: bucket.copy_object(bucket.bucket_name, "p", "copy"),
            lambda: bucket.put_object("new", b"x", headers={ALG: "KMS", KEY_ID: key_id}),
            lambda: bucket.upload_part("mp", up, 1, b"x"),
        ]
        for attempt in attempts:
            with pytest.raises(oss2.exceptions.OssError) as e:
                attempt()
            assert (e.value.status, e.value.code) == (403, "KmsKeyDisabled")
        err = v2_error(v2.get_object, v2oss.GetObjectRequest(bucket=bucket_name, key="p"))
        assert (err.status_code, err.code) == (403, "KmsKeyDisabled")
        assert bucket.head_object("p").content_length == 5000  # metadata stays readable
        assert not bucket.object_exists("copy") and not bucket.object_exists("new")
    finally:
        admin(server, "EnableKmsKey", {"KeyId": key_id})
    assert bucket.get_object("p").read() == data
    assert bucket.copy_object(bucket.bucket_name, "p", "copy").status == 200


def test_disabled_default_key_blocks_appends(server, tmp_path):
    """Appending to (or reading) an SSE-KMS appendable object needs its key enabled. On a server
    of its own: the default managed key is disabled here."""
    srv = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "kms-" + uuid.uuid4().hex[:8])
        b.create_bucket()
        r = b.append_object("log", 0, b"one", headers={ALG: "KMS"})
        key_id = r.headers[KEY_ID]
        assert admin(srv, "ListKmsKeys", method="GET")["Keys"][0]["KeyId"] == key_id
        admin(srv, "DisableKmsKey", {"KeyId": key_id})
        for attempt in (lambda: b.append_object("log", 3, b"two"), lambda: b.get_object("log"),
                        lambda: b.append_object("new", 0, b"x", headers={ALG: "KMS"})):
            with pytest.raises(oss2.exceptions.OssError) as e:
                attempt()
            assert (e.value.status, e.value.code) == (403, "KmsKeyDisabled")
        assert b.head_object("log").content_length == 3 and not b.object_exists("new")
        admin(srv, "EnableKmsKey", {"KeyId": key_id})
        assert b.append_object("log", 3, b"two").next_position == 6
        assert b.get_object("log").read() == b"onetwo"
    finally:
        assert srv.stop() == 0, "".join(srv.output)
