"""Bucket retention policy (WORM): the five operations through oss2 and alibabacloud_oss_v2, OSS's
errors, and the enforcement -- objects younger than the retention period cannot be deleted or
overwritten while a policy (InProgress or Locked) is in force. The expiry tests use a server whose
retention "day" lasts WORM_DAY seconds."""
import base64
import hashlib
import hmac
import uuid

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
from oss2.models import (BucketLifecycle, BucketVersioningConfig, LifecycleExpiration, LifecycleRule,
                         PartInfo, StorageTransition)

from appendkit import wait_until
from conftest import remove_bucket, v2_error
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

WORM_DAY = 2           # seconds, on the fast server
WAIT = 60              # seconds an expiry may take to show (polled)


def locked(bucket, days=100):
    worm_id = bucket.init_bucket_worm(days).worm_id
    bucket.complete_bucket_worm(worm_id)
    return worm_id


def assert_immutable(fn, *args, **kwargs):
    with pytest.raises(oss2.exceptions.ServerError) as info:
        fn(*args, **kwargs)
    e = info.value
    assert (e.status, e.code, e.ec) == (409, "FileImmutable", "0026-00000005"), e
    return e


# -- the policy's states and errors ------------------------------------------------------------------
def test_policy_states_and_errors(bucket):
    with pytest.raises(oss2.exceptions.NoSuchWORMConfiguration):
        bucket.get_bucket_worm()
    with pytest.raises(oss2.exceptions.NoSuchWORMConfiguration):
        bucket.abort_bucket_worm()
    for bad in (0, 25551):
        with pytest.raises(oss2.exceptions.InvalidArgument):
            bucket.init_bucket_worm(bad)
    worm_id = bucket.init_bucket_worm(3).worm_id
    assert worm_id
    got = bucket.get_bucket_worm()
    assert (got.worm_id, got.state, got.retention_period_days) == (worm_id, "InProgress", 3)
    assert got.creation_date.endswith("Z")
    with pytest.raises(oss2.exceptions.InvalidWORMConfiguration):
        bucket.init_bucket_worm(5)  # one at a time
    with pytest.raises(oss2.exceptions.InvalidWORMConfiguration):
        bucket.extend_bucket_worm(worm_id, 5)  # only a locked policy is extended
    with pytest.raises(oss2.exceptions.NoSuchWORMConfiguration):
        bucket.complete_bucket_worm("another-id")
    bucket.complete_bucket_worm(worm_id)
    assert bucket.get_bucket_worm().state == "Locked"
    with pytest.raises(oss2.exceptions.WORMConfigurationLocked):
        bucket.complete_bucket_worm(worm_id)
    with pytest.raises(oss2.exceptions.WORMConfigurationLocked):
        bucket.abort_bucket_worm()
    with pytest.raises(oss2.exceptions.WORMConfigurationLocked):
        bucket.init_bucket_worm(1)
    with pytest.raises(oss2.exceptions.InvalidWORMConfiguration):
        bucket.extend_bucket_worm(worm_id, 3)  # never shortened, nor kept
    with pytest.raises(oss2.exceptions.NoSuchWORMConfiguration):
        bucket.extend_bucket_worm("another-id", 9)
    bucket.extend_bucket_worm(worm_id, 9)
    got = bucket.get_bucket_worm()
    assert (got.worm_id, got.state, got.retention_period_days) == (worm_id, "Locked", 9)


def test_abort_in_progress(bucket):
    bucket.init_bucket_worm(1)
    assert bucket.abort_bucket_worm().status == 204
    with pytest.raises(oss2.exceptions.NoSuchWORMConfiguration):
        bucket.get_bucket_worm()
    bucket.put_object("k", b"x")
    bucket.delete_object("k")  # no policy: no protection


def test_v2_sdk(v2, bucket_name):
    res = v2.initiate_bucket_worm(oss.InitiateBucketWormRequest(
        bucket=bucket_name, initiate_worm_configuration=oss.InitiateWormConfiguration(retention_period_in_days=2)))
    worm_id = res.worm_id
    assert worm_id
    v2.complete_bucket_worm(oss.CompleteBucketWormRequest(bucket=bucket_name, worm_id=worm_id))
    v2.extend_bucket_worm(oss.ExtendBucketWormRequest(
        bucket=bucket_name, worm_id=worm_id,
        extend_worm_configuration=oss.ExtendWormConfiguration(retention_period_in_days=4)))
    got = v2.get_bucket_worm(oss.GetBucketWormRequest(bucket=bucket_name)).worm_configuration
    assert (got.worm_id, got.state, got.retention_period_in_days) == (worm_id, "Locked", 4)
    err = v2_error(v2.abort_bucket_worm, oss.AbortBucketWormRequest(bucket=bucket_name))
    assert (err.status_code, err.code) == (403, "WORMConfigurationLocked")
    v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="k", body=b"data"))
    err = v2_error(v2.delete_object, oss.DeleteObjectRequest(bucket=bucket_name, key="k"))
    assert (err.status_code, err.code, err.ec) == (409, "FileImmutable", "0026-00000005")


# -- enforcement ---------------------------------------------------------------------------------------
def test_locked_policy_protects_objects(bucket, bucket_v4):
    bucket.put_object("old", b"written before the policy")
    bucket.append_object("app", 0, b"first")
    locked(bucket)
    assert_immutable(bucket.delete_object, "old")
    assert_immutable(bucket_v4.delete_object, "old")
    assert_immutable(bucket.put_object, "old", b"overwrite")
    assert_immutable(bucket.copy_object, bucket.bucket_name, "old", "old",
                     headers={"x-oss-metadata-directive": "REPLACE"})
    assert_immutable(bucket.append_object, "app", 5, b"second")
    assert_immutable(bucket.put_symlink, "old", "old")
    upload = bucket.init_multipart_upload("old").upload_id
    etag = bucket.upload_part("old", upload, 1, b"part").etag
    assert_immutable(bucket.complete_multipart_upload, "old", upload, [PartInfo(1, etag)])
    bucket.abort_multipart_upload("old", upload)
    e = assert_immutable(bucket.batch_delete_objects, ["new-never-written", "old"])
    assert e.code == "FileImmutable"
    assert bucket.get_object("old").read() == b"written before the policy"
    assert bucket.get_object("app").read() == b"first"

    # reads, new keys, and attribute changes stay allowed
    bucket.put_object("fresh", b"new")
    assert bucket.get_object("fresh").read() == b"new"
    bucket.put_object_acl("old", oss2.OBJECT_ACL_PRIVATE)
    bucket.copy_object(bucket.bucket_name, "old", "copy-of-old")
    assert_immutable(bucket.delete_object, "fresh")  # new objects are protected as well

    # the bucket cannot be emptied, so it cannot be deleted
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        bucket.delete_bucket()
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_bucket_versioning(BucketVersioningConfig("Enabled"))
    assert (info.value.status, info.value.ec) == (409, "0012-00000006")


def test_post_object_cannot_overwrite(bucket, server):
    bucket.put_object("posted", b"original")
    locked(bucket)
    policy = base64.b64encode(b'{"expiration":"2100-01-01T00:00:00.000Z","conditions":[]}').decode()
    signature = base64.b64encode(hmac.new(ACCESS_KEY_SECRET.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    r = requests.post(f"{server.endpoint}/{bucket.bucket_name}", files={
        "key": (None, "posted"), "OSSAccessKeyId": (None, ACCESS_KEY_ID), "policy": (None, policy),
        "Signature": (None, signature), "file": ("f", b"replaced")})
    assert r.status_code == 409 and "<Code>FileImmutable</Code>" in r.text, r.text
    assert bucket.get_object("posted").read() == b"original"


def test_in_progress_policy_protects_too(bucket):
    bucket.put_object("k", b"x")
    bucket.init_bucket_worm(10)
    assert_immutable(bucket.delete_object, "k")
    bucket.abort_bucket_worm()
    bucket.delete_object("k")
    assert not bucket.object_exists("k")


def test_versioning_excludes_a_policy(bucket):
    bucket.put_bucket_versioning(BucketVersioningConfig("Enabled"))
    with pytest.raises(oss2.exceptions.InvalidWORMConfiguration) as info:
        bucket.init_bucket_worm(1)
    assert info.value.ec == "0027-00000003"


# -- expiry (a server whose retention day is WORM_DAY seconds) ------------------------------------------
@pytest.fixture(scope="module")
def fast_server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-worm")),
                         extra_args=["--worm-day-seconds", str(WORM_DAY), "--lifecycle-day-seconds", "1",
                                     "--lifecycle-interval", "0.3"]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture
def fast(fast_server):
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    name = "worm-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(auth, fast_server.endpoint, name)
    b.create_bucket()
    yield b
    remove_bucket(auth, fast_server.endpoint, name)


def deletable(bucket, key) -> bool:
    try:
        bucket.delete_object(key)
        return True
    except oss2.exceptions.ServerError as e:
        assert e.code == "FileImmutable"
        return False


def test_retention_period_ends(fast):
    fast.put_object("k", b"x")
    locked(fast, days=1)
    wait_until(lambda: deletable(fast, "k"), WAIT, 0.2, what="the object's retention to end")
    assert not fast.object_exists("k")


def test_in_progress_policy_expires_after_a_day(fast):
    fast.put_object("k", b"x")
    fast.init_bucket_worm(1000)
    assert_immutable(fast.delete_object, "k")
    wait_until(lambda: deletable(fast, "k"), WAIT, 0.2, what="the unlocked policy to expire")
    with pytest.raises(oss2.exceptions.NoSuchWORMConfiguration):
        fast.get_bucket_worm()
    fast.init_bucket_worm(1)  # a new one may be made


def test_lifecycle_transitions_but_never_expires_protected_objects(fast, fast_server):
    rule = LifecycleRule("r", "logs/", status=LifecycleRule.ENABLED, expiration=LifecycleExpiration(days=2),
                         storage_transitions=[StorageTransition(days=1, storage_class="IA")])
    fast.put_object("logs/a", b"x" * 10)
    locked(fast, days=1000)
    # the same rule on a bucket without a policy, its object written later: once that one has
    # expired, the protected one was due as well
    control = oss2.Bucket(fast.auth, fast_server.endpoint, "worm-" + uuid.uuid4().hex[:20])
    control.create_bucket()
    try:
        control.put_object("logs/a", b"x" * 10)
        fast.put_bucket_lifecycle(BucketLifecycle([rule]))
        control.put_bucket_lifecycle(BucketLifecycle([rule]))
        wait_until(lambda: not control.object_exists("logs/a"), WAIT, 0.2, what="the control object to expire")
        wait_until(lambda: fast.head_object("logs/a").headers["x-oss-storage-class"] == "IA", WAIT, 0.2,
                   what="the transition to IA")
        assert fast.get_object("logs/a").read() == b"x" * 10
    finally:
        remove_bucket(fast.auth, fast_server.endpoint, control.bucket_name)
