"""Block Public Access, bucket-level and global, driven by oss2 and alibabacloud-oss-v2: the
setting round-trips, public ACLs and public bucket policies cannot be configured while it is on,
and existing public grants stop taking effect until it is turned off (OSS's
PutBucketPublicAccessBlock / PutPublicAccessBlock pages)."""
import json

import oss2
import pytest
import requests

from conftest import as_user


def _anonymous_get(server, bucket_name, key):
    return requests.get(f"{server.endpoint}/{bucket_name}/{key}")


@pytest.fixture
def service(server, oss2_auth):
    svc = oss2.Service(oss2_auth, server.endpoint)
    yield svc
    svc.delete_public_access_block()  # never leak a global block into other tests


def _public_policy(bucket_name, **extra):
    st = {"Effect": "Allow", "Principal": ["*"], "Action": ["oss:GetObject"],
          "Resource": [f"acs:oss:*:*:{bucket_name}/*"], **extra}
    return json.dumps({"Version": "1", "Statement": [st]})


def test_bucket_setting_round_trips(bucket):
    assert bucket.get_bucket_public_access_block().block_public_access is False
    bucket.put_bucket_public_access_block(True)
    assert bucket.get_bucket_public_access_block().block_public_access is True
    raw = bucket._Bucket__do_bucket("GET", params={"bucketInfo": ""}).read()
    assert b"<BlockPublicAccess>true</BlockPublicAccess>" in raw
    bucket.delete_bucket_public_access_block()
    assert bucket.get_bucket_public_access_block().block_public_access is False


def test_public_acls_are_ignored_and_refused_while_blocked(server, bucket, bucket_name):
    bucket.put_object("obj", b"data")
    bucket.put_object_acl("obj", oss2.OBJECT_ACL_PUBLIC_READ)
    assert _anonymous_get(server, bucket_name, "obj").status_code == 200

    bucket.put_bucket_public_access_block(True)
    assert _anonymous_get(server, bucket_name, "obj").status_code == 403
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_object_acl("obj", oss2.OBJECT_ACL_PUBLIC_READ_WRITE)
    bucket.put_object_acl("obj", oss2.OBJECT_ACL_PRIVATE)      # non-public ACLs still allowed
    public = {"x-oss-object-acl": oss2.OBJECT_ACL_PUBLIC_READ}
    for upload in (lambda: bucket.put_object("new", b"x", headers=public),
                   lambda: bucket.put_symlink("obj", "link", headers=public),
                   lambda: bucket.copy_object(bucket_name, "obj", "copy", headers=public),
                   lambda: bucket.init_multipart_upload("mp", headers=public),
                   lambda: bucket.append_object("app", 0, b"x", headers=public)):
        with pytest.raises(oss2.exceptions.AccessDenied):
            upload()
    assert not bucket.object_exists("new") and not bucket.object_exists("app")
    bucket.put_object("new", b"x", headers={"x-oss-object-acl": oss2.OBJECT_ACL_PRIVATE})

    bucket.delete_bucket_public_access_block()
    bucket.put_object_acl("obj", oss2.OBJECT_ACL_PUBLIC_READ)
    assert _anonymous_get(server, bucket_name, "obj").status_code == 200


def test_public_bucket_policies_are_ignored_and_refused_while_blocked(server, bucket, bucket_name, user):
    bucket.put_object("obj", b"data")
    bucket.put_bucket_policy(_public_policy(bucket_name))
    assert _anonymous_get(server, bucket_name, "obj").status_code == 200
    assert as_user(server, user, bucket_name).get_object("obj").read() == b"data"

    bucket.put_bucket_public_access_block(True)
    assert _anonymous_get(server, bucket_name, "obj").status_code == 403
    with pytest.raises(oss2.exceptions.AccessDenied):
        as_user(server, user, bucket_name).get_object("obj")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_bucket_policy(_public_policy(bucket_name))
    # a grant naming a specific account is not public: accepted and in effect
    bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Principal": [user["id"]], "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket_name}/*"]}]}))
    assert as_user(server, user, bucket_name).get_object("obj").read() == b"data"
    # so is a wildcard grant restricted to source IPs
    bucket.put_bucket_policy(_public_policy(bucket_name, Condition={"IpAddress": {"acs:SourceIp": ["127.0.0.1"]}}))


def test_global_block(server, service, bucket, bucket_name):
    assert service.get_public_access_block().block_public_access is False
    bucket.put_object("obj", b"data")
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    assert _anonymous_get(server, bucket_name, "obj").status_code == 200

    service.put_public_access_block(True)
    assert service.get_public_access_block().block_public_access is True
    assert _anonymous_get(server, bucket_name, "obj").status_code == 403
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    new = oss2.Bucket(bucket.auth, server.endpoint, bucket_name + "-pub")
    with pytest.raises(oss2.exceptions.AccessDenied):
        new.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)

    service.delete_public_access_block()
    assert service.get_public_access_block().block_public_access is False
    assert _anonymous_get(server, bucket_name, "obj").status_code == 200


def test_v2_sdk_bucket_block(v2, bucket_name):
    import alibabacloud_oss_v2 as oss
    v2.put_bucket_public_access_block(oss.PutBucketPublicAccessBlockRequest(
        bucket=bucket_name,
        public_access_block_configuration=oss.PublicAccessBlockConfiguration(block_public_access=True)))
    got = v2.get_bucket_public_access_block(oss.GetBucketPublicAccessBlockRequest(bucket=bucket_name))
    assert got.public_access_block_configuration.block_public_access is True
    v2.delete_bucket_public_access_block(oss.DeleteBucketPublicAccessBlockRequest(bucket=bucket_name))


def test_v2_sdk_global_block(v2, server, oss2_auth):
    import alibabacloud_oss_v2 as oss
    try:
        v2.put_public_access_block(oss.PutPublicAccessBlockRequest(
            public_access_block_configuration=oss.PublicAccessBlockConfiguration(block_public_access=True)))
        got = v2.get_public_access_block(oss.GetPublicAccessBlockRequest())
        assert got.public_access_block_configuration.block_public_access is True
        result = v2.delete_public_access_block(oss.DeletePublicAccessBlockRequest())
        assert result.status_code == 204
        got = v2.get_public_access_block(oss.GetPublicAccessBlockRequest())
        assert got.public_access_block_configuration.block_public_access is False
    finally:
        oss2.Service(oss2_auth, server.endpoint).delete_public_access_block()
