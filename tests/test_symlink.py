"""PutSymlink / GetSymlink and reads through a symlink, driven by oss2 and alibabacloud-oss-v2
(OSS's PutSymlink/GetSymlink pages; error pages 0026-00000012 and 0043-00000101)."""
import uuid

import oss2
import pytest
from oss2.models import BucketVersioningConfig

from conftest import as_user, put_policy, v2_error
from pgtest import PG_URL, drop_schema, pg_unreachable, schema_url


def test_put_get_symlink_and_read_through_it(bucket):
    bucket.put_object("dir/目标 file.txt", b"hello target", headers={"Content-Type": "text/plain"})
    result = bucket.put_symlink("dir/目标 file.txt", "link", headers={"x-oss-meta-owner": "me"})
    assert result.status == 200

    assert bucket.get_symlink("link").target_key == "dir/目标 file.txt"
    got = bucket.get_object("link")
    assert got.read() == b"hello target"
    assert got.headers["x-oss-object-type"] == "Symlink"
    assert got.headers["Content-Type"] == "text/plain"

    head = bucket.head_object("link")
    assert head.object_type == "Symlink"
    assert head.content_length == len(b"hello target")
    assert head.etag == bucket.head_object("dir/目标 file.txt").etag

    # the link's own user metadata is reported by GetSymlink, and by reads through it in place
    # of the target's (oss2's test_put_symlink)
    assert bucket.get_symlink("link").headers["x-oss-meta-owner"] == "me"
    assert head.headers["x-oss-meta-owner"] == "me"
    bucket.update_object_meta("dir/目标 file.txt", {"x-oss-meta-target-only": "t",
                                                    "Content-Type": "text/plain"})
    head = bucket.head_object("link")
    assert head.headers["x-oss-meta-owner"] == "me" and "x-oss-meta-target-only" not in head.headers
    assert bucket.get_object("link").headers["x-oss-meta-owner"] == "me"

    # GetObjectMeta describes the link itself (OSS's GetObjectMeta notes: "returns the symlink's
    # own information")
    assert bucket.get_object_meta("link").content_length == 0

    # a range read through the link
    assert bucket.get_object("link", byte_range=(0, 4)).read() == b"hello"

    listed = {o.key: o for o in oss2.ObjectIterator(bucket)}
    assert listed["link"].type == "Symlink"

    bucket.delete_object("link")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_symlink("link")
    assert bucket.get_object("dir/目标 file.txt").read() == b"hello target"


def test_symlink_follows_the_current_target(bucket):
    bucket.put_symlink("t", "l")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_object("l")
    assert (info.value.status, info.value.code) == (404, "SymlinkTargetNotExist")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.head_object("l")
    assert info.value.status == 404
    bucket.put_object("t", b"one")
    assert bucket.get_object("l").read() == b"one"
    bucket.put_object("t", b"two!")
    assert bucket.get_object("l").read() == b"two!"
    assert bucket.head_object("l").content_length == 4


def test_get_symlink_of_a_plain_object_and_missing_target_header(bucket):
    bucket.put_object("plain", b"x")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_symlink("plain")
    assert (info.value.status, info.value.code) == (400, "NotSymlink")
    assert info.value.ec == "0043-00000101"
    resp_err = None
    try:
        bucket._Bucket__do_object("PUT", "nolink", params={"symlink": ""})
    except oss2.exceptions.OssError as exc:
        resp_err = exc
    assert resp_err is not None and resp_err.status == 400 and resp_err.ec == "0043-00000001"


def test_symlink_to_a_symlink_is_not_followed(bucket):
    bucket.put_object("data", b"d")
    bucket.put_symlink("data", "l1")
    bucket.put_symlink("l1", "l2")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_object("l2")
    assert (info.value.status, info.value.code) == (400, "InvalidTargetType")


def test_put_symlink_headers(bucket):
    bucket.put_object("t", b"abc")
    # tags (oss2's test_put_symlink_with_tagging): the link's own
    bucket.put_symlink("t", "tagged", headers={"x-oss-tagging": "k1=v1&k2=v2"})
    assert bucket.get_object_tagging("tagged").tag_set.tagging_rule == {"k1": "v1", "k2": "v2"}
    too_many = "&".join(f"k{i}=v{i}" for i in range(15))
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_symlink("t", "tagged2", headers={"x-oss-tagging": too_many})
    assert info.value.status == 400
    bucket.put_symlink("t", "l", headers={"x-oss-object-acl": "public-read",
                                          "x-oss-storage-class": "IA"})
    assert bucket.get_object_acl("l").acl == "public-read"
    listed = {o.key: o for o in oss2.ObjectIterator(bucket)}
    assert listed["l"].storage_class == "IA"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_symlink("t", "l", headers={"x-oss-forbid-overwrite": "true"})
    assert info.value.code == "FileAlreadyExists"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_symlink("t", "l2", headers={"x-oss-object-acl": "bogus"})
    assert info.value.status == 400


def test_symlink_versions(bucket):
    cfg = BucketVersioningConfig()
    cfg.status = "Enabled"
    bucket.put_bucket_versioning(cfg)
    bucket.put_object("a", b"A")
    bucket.put_object("b", b"BB")
    v1 = bucket.put_symlink("a", "l").versionid
    v2 = bucket.put_symlink("b", "l").versionid
    assert v1 and v2 and v1 != v2
    assert bucket.get_symlink("l", params={"versionId": v1}).target_key == "a"
    assert bucket.get_symlink("l").target_key == "b"
    assert bucket.get_object("l").read() == b"BB"
    assert bucket.get_object("l", params={"versionId": v1}).read() == b"A"
    versions = bucket.list_object_versions(prefix="l").versions
    assert sorted(v.type for v in versions) == ["Symlink", "Symlink"]
    bucket.delete_object("l")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_symlink("l")


def test_reading_through_a_symlink_needs_access_to_the_target(server, bucket, bucket_name, user):
    bucket.put_object("secret", b"s")
    bucket.put_object("open", b"o")
    bucket.put_symlink("secret", "to-secret")
    bucket.put_symlink("open", "to-open")
    res = f"acs:oss:*:*:{bucket_name}/"
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetObject"],
                               "Resource": [res + "to-secret", res + "to-open", res + "open"]}])
    ub = as_user(server, user, bucket_name)
    assert ub.get_object("to-open").read() == b"o"
    with pytest.raises(oss2.exceptions.AccessDenied):
        ub.get_object("to-secret")


def test_symlink_through_the_v2_sdk(v2, bucket, bucket_name):
    import alibabacloud_oss_v2 as oss
    bucket.put_object("target", b"v2 data")
    v2.put_symlink(oss.PutSymlinkRequest(bucket=bucket_name, key="v2link", symlink_target="target"))
    assert v2.get_symlink(oss.GetSymlinkRequest(bucket=bucket_name, key="v2link")).target == "target"
    assert v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="v2link")).body.read() == b"v2 data"
    err = v2_error(v2.get_symlink, oss.GetSymlinkRequest(bucket=bucket_name, key="target"))
    assert err.code == "NotSymlink"


def test_copying_a_symlink_copies_the_link(bucket):
    bucket.put_object("t", b"content")
    bucket.put_symlink("t", "l")
    bucket.copy_object(bucket.bucket_name, "l", "l-copy")
    assert bucket.get_symlink("l-copy").target_key == "t"
    assert bucket.get_object("l-copy").read() == b"content"
    upload = bucket.init_multipart_upload("mp").upload_id
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.upload_part_copy(bucket.bucket_name, "l", (0, 3), "mp", upload, 1)
    assert (info.value.status, info.value.ec) == (400, "0042-00000308")
    bucket.abort_multipart_upload("mp", upload)


def _symlink_round(b):
    """Symlinks, their versions and GetBucketStat on one server."""
    b.create_bucket()
    cfg = BucketVersioningConfig()
    cfg.status = "Enabled"
    b.put_bucket_versioning(cfg)
    b.put_object("t", b"target bytes")
    first = b.put_symlink("t", "l").versionid
    b.put_symlink("nowhere", "l")
    assert b.get_symlink("l").target_key == "nowhere"
    assert b.get_object("l", params={"versionId": first}).read() == b"target bytes"
    assert b.head_object("l", params={"versionId": first}).object_type == "Symlink"
    b.delete_object("l")
    stat = b.get_bucket_stat()
    assert (stat.object_count, stat.delete_marker_count, stat.storage_size_in_bytes) == (3, 1, 12)


@pytest.mark.parametrize("store", ["segments", "postgres"])
def test_symlinks_on_other_stores(tmp_path, store):
    from appendkit import new_bucket
    from serverproc import ServerProcess
    schema = None
    if store == "segments":
        (tmp_path / "segments").mkdir()
        args = ["--data", f"file://{tmp_path / 'segments'}"]
    else:
        reason = pg_unreachable(PG_URL)
        if reason:
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
        schema = "ossbox_srv_" + uuid.uuid4().hex[:12]
        args = ["--meta", schema_url(PG_URL, schema)]
    srv = ServerProcess(str(tmp_path / "node"), extra_args=args).start()
    try:
        _symlink_round(new_bucket(srv.endpoint, "symlink-stores"))
    finally:
        assert srv.stop() == 0, "".join(srv.output)
        if schema is not None:
            drop_schema(PG_URL, schema)


def test_symlink_names_with_special_characters(bucket):
    # oss2's test_chinese.test_get_symlink
    key = '中文!@#$%^&*()-=文件\x0C-1.txt'
    link = '中文!@#$%^&*()-=文件\x0C-2.txt'
    bucket.put_object(key, '中文内容')
    bucket.put_symlink(key, link)
    assert bucket.get_symlink(link).target_key == key
    assert bucket.get_object(link).read() == '中文内容'.encode()


@pytest.mark.parametrize("versioned", [False, True])
def test_updating_a_symlinks_metadata_keeps_it_a_symlink(bucket, versioned):
    if versioned:
        cfg = BucketVersioningConfig()
        cfg.status = "Enabled"
        bucket.put_bucket_versioning(cfg)
    bucket.put_object("t", b"target")
    bucket.put_symlink("t", "l")
    bucket.update_object_meta("l", {"x-oss-meta-new": "yes"})   # CopyObject onto itself, REPLACE
    assert bucket.get_symlink("l").target_key == "t"
    head = bucket.head_object("l")
    assert head.object_type == "Symlink" and head.headers["x-oss-meta-new"] == "yes"
    assert bucket.get_object("l").read() == b"target"
