"""Access control through the real SDKs: RAM users and keys, identity and bucket policies, ACLs,
anonymous callers and STS. Every refused write must leave nothing stored."""
import json
import uuid

import oss2
import pytest
import requests

from conftest import admin, as_user, make_v2_client, put_policy
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET


def assert_missing(bucket, key):
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object(key)


def test_new_user_has_no_permission(server, bucket, user):
    b = as_user(server, user, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        b.append_object("k", 0, b"x")
    assert e.value.status == 403
    assert_missing(bucket, "k")


def test_identity_policy_grants_append_on_a_prefix(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:PutObject", "oss:GetObject"],
                               "Resource": [f"acs:oss:*:*:{n}/logs/*"]}])
    b = as_user(server, user, n)
    r = b.append_object("logs/a.log", 0, b"one")
    assert b.append_object("logs/a.log", r.next_position, b"two").next_position == 6
    assert b.get_object("logs/a.log").read() == b"onetwo"
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.append_object("other/a.log", 0, b"x")
    assert_missing(bucket, "other/a.log")


def test_tags_need_put_object_tagging_too(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:PutObject", "Resource": f"acs:oss:*:*:{n}/*"}])
    b = as_user(server, user, n)
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.append_object("t", 0, b"x", headers={"x-oss-tagging": "a=1"})
    assert_missing(bucket, "t")
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:PutObject", "oss:PutObjectTagging"],
                               "Resource": f"acs:oss:*:*:{n}/*"}])
    assert b.append_object("t", 0, b"x", headers={"x-oss-tagging": "a=1"}).next_position == 1
    assert bucket.head_object("t").headers["x-oss-tagging-count"] == "1"


def test_explicit_deny_wins(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}])
    b = as_user(server, user, n)
    b.append_object("free", 0, b"ok")
    bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Deny", "Action": "oss:PutObject", "Principal": [user["id"]],
        "Resource": [f"acs:oss:*:*:{n}/locked/*"]}]}))
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.append_object("locked/x", 0, b"x")
    assert_missing(bucket, "locked/x")
    assert b.append_object("free", 2, b"!").next_position == 3


def test_bucket_policy_alone_can_grant(server, bucket, user):
    n = bucket.bucket_name
    bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": ["oss:PutObject", "oss:GetObject"], "Principal": [user["id"]],
        "Resource": [f"acs:oss:*:*:{n}/shared/*"]}]}))
    b = as_user(server, user, n)
    assert b.append_object("shared/x", 0, b"hi").next_position == 2
    got = json.loads(bucket.get_bucket_policy().policy)
    assert got["Statement"][0]["Principal"] == [user["id"]]
    bucket.delete_bucket_policy()
    with pytest.raises(oss2.exceptions.OssError) as e:
        bucket.get_bucket_policy()
    assert (e.value.status, e.value.code) == (404, "NoSuchBucketPolicy")
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.append_object("shared/x", 2, b"!")


def test_invalid_bucket_policy_is_refused(bucket):
    for doc in ["not json", '{"Version": "1"}', '{"Version": "1", "Statement": [{"Effect": "Maybe"}]}']:
        with pytest.raises(oss2.exceptions.OssError) as e:
            bucket.put_bucket_policy(doc)
        assert (e.value.status, e.value.code) == (400, "InvalidPolicyDocument")


@pytest.mark.parametrize("bucket_acl,read_ok,write_ok", [
    ("private", False, False), ("public-read", True, False), ("public-read-write", True, True)])
def test_anonymous_by_bucket_acl(server, bucket, bucket_acl, read_ok, write_ok):
    bucket.put_bucket_acl(bucket_acl)
    bucket.append_object("o", 0, b"data")
    anon = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket.bucket_name)
    if read_ok:
        assert anon.get_object("o").read() == b"data"
    else:
        with pytest.raises(oss2.exceptions.AccessDenied):
            anon.get_object("o")
    if write_ok:
        assert anon.append_object("o", 4, b"+").next_position == 5
    else:
        with pytest.raises(oss2.exceptions.AccessDenied):
            anon.append_object("o", 4, b"+")
        assert bucket.head_object("o").content_length == 4


def test_object_acl_overrides_bucket_acl(server, bucket):
    anon = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket.bucket_name)
    bucket.append_object("open", 0, b"a", headers={"x-oss-object-acl": "public-read-write"})
    assert anon.append_object("open", 1, b"b").next_position == 2   # private bucket, open object
    bucket.put_bucket_acl("public-read-write")
    bucket.append_object("closed", 0, b"a", headers={"x-oss-object-acl": "private"})
    with pytest.raises(oss2.exceptions.AccessDenied):
        anon.append_object("closed", 1, b"b")
    assert anon.append_object("new-key", 0, b"n").next_position == 1  # missing key: bucket ACL


def test_keys_can_be_disabled_and_deleted_without_restart(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}])
    b = as_user(server, user, n)
    b.append_object("k", 0, b"1")
    admin(server, "UpdateAccessKey", {"AccessKeyId": user["ak"], "Status": "Inactive"})
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.append_object("k", 1, b"2")
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
    admin(server, "UpdateAccessKey", {"AccessKeyId": user["ak"], "Status": "Active"})
    assert b.append_object("k", 1, b"2").next_position == 2
    second = admin(server, "CreateAccessKey", {"UserName": user["name"]})
    b2 = oss2.Bucket(oss2.Auth(second["AccessKeyId"], second["AccessKeySecret"]), server.endpoint, n)
    admin(server, "DeleteAccessKey", {"AccessKeyId": user["ak"]})
    with pytest.raises(oss2.exceptions.OssError):
        b.append_object("k", 2, b"3")
    assert b2.append_object("k", 2, b"3").next_position == 3   # rotated to the new key


def test_admin_api_is_root_only(server, user):
    client = oss2.Service(oss2.Auth(user["ak"], user["sk"]), server.endpoint)
    with pytest.raises(oss2.exceptions.OssError) as e:
        client._do("POST", "", "", params={"x-ossbox-admin": "ListUsers"}, data=b"{}")
    assert e.value.status == 403


def _sts_bucket(server, creds, name):
    auth = oss2.StsAuth(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])
    return oss2.Bucket(auth, server.endpoint, name)


def test_sts_credentials(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}])
    session = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:PutObject",
                                              "Resource": f"acs:oss:*:*:{n}/sts/*"}]}
    creds = admin(server, "AssumeRole", {"UserName": user["name"], "DurationSeconds": 900,
                                         "Policy": json.dumps(session)})["Credentials"]
    b = _sts_bucket(server, creds, n)
    assert b.append_object("sts/a", 0, b"x").next_position == 1
    with pytest.raises(oss2.exceptions.AccessDenied):   # the session policy narrows the user's rights
        b.append_object("elsewhere", 0, b"x")
    assert_missing(bucket, "elsewhere")
    body, mac = creds["SecurityToken"].split(".")
    forged = dict(creds, SecurityToken=body + "." + ("A" if mac[0] != "A" else "B") + mac[1:])
    with pytest.raises(oss2.exceptions.OssError) as e:
        _sts_bucket(server, forged, n).append_object("sts/a", 1, b"y")
    assert (e.value.status, e.value.code) == (403, "InvalidSecurityToken")
    with pytest.raises(oss2.exceptions.OssError) as e:  # no token at all
        oss2.Bucket(oss2.Auth(creds["AccessKeyId"], creds["AccessKeySecret"]), server.endpoint, n
                    ).append_object("sts/a", 1, b"y")
    assert e.value.status == 403
    assert bucket.get_object("sts/a").read() == b"x"


def test_presigned_url_of_a_user_follows_their_policy(server, bucket, user):
    n = bucket.bucket_name
    bucket.put_object("doc", b"secret")
    b = as_user(server, user, n)
    url = b.sign_url("GET", "doc", 60)
    assert requests.get(url, timeout=10).status_code == 403
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": f"acs:oss:*:*:{n}/doc"}])
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"secret"


def test_denied_callers_learn_nothing_about_object_existence(server, bucket, user):
    b = as_user(server, user, bucket.bucket_name)
    bucket.put_object("exists", b"x")
    codes = set()
    for key in ("exists", "does-not-exist"):
        with pytest.raises(oss2.exceptions.OssError) as e:
            b.get_object(key)
        codes.add((e.value.status, e.value.code))
    assert codes == {(403, "AccessDenied")}


def test_missing_bucket_is_answered_before_authentication(server, bucket, user):
    """OSS checks that the bucket exists before it checks who asks (the v2 SDKs' IsBucketExist
    tests: an unknown AccessKeyId gets NoSuchBucket for a missing bucket, InvalidAccessKeyId for an
    existing one); bucket names are global, so a caller without rights learns no more than that."""
    missing = "no-such-bucket-" + uuid.uuid4().hex[:6]
    callers = {
        "no rights": as_user(server, user, missing),
        "unknown key": oss2.Bucket(oss2.Auth("LTAInosuchkey", "secret"), server.endpoint, missing),
        "bad signature": oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, "wrong-secret"), server.endpoint, missing),
        "anonymous": oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, missing),
    }
    for who, b in callers.items():
        with pytest.raises(oss2.exceptions.OssError) as e:
            b.get_object("k")
        assert (e.value.status, e.value.code) == (404, "NoSuchBucket"), who
    with pytest.raises(oss2.exceptions.OssError) as e:  # an existing bucket: the key is what is wrong
        oss2.Bucket(oss2.Auth("LTAInosuchkey", "secret"), server.endpoint, bucket.bucket_name).get_object("k")
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
    with pytest.raises(oss2.exceptions.OssError) as e:  # PutBucket needs no bucket: still authenticated
        oss2.Bucket(oss2.Auth("LTAInosuchkey", "secret"), server.endpoint, missing).create_bucket()
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")


def test_is_bucket_exist_through_the_v2_sdk(server, bucket, user):
    import alibabacloud_oss_v2 as oss
    missing = bucket.bucket_name + "-no-exist"
    assert make_v2_client(server.endpoint).is_bucket_exist(bucket.bucket_name)
    assert not make_v2_client(server.endpoint).is_bucket_exist(missing)
    cfg = oss.config.load_default()  # the SDK's own test uses a client with an invalid key
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider("LTAInosuchkey", "secret")
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = "cn-hangzhou", server.endpoint, 1
    no_perm = oss.Client(cfg)
    assert no_perm.is_bucket_exist(bucket.bucket_name)
    assert not no_perm.is_bucket_exist(missing)


def test_root_still_has_everything(server, bucket):
    bucket.append_object("root", 0, b"r")
    assert oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint,
                       bucket.bucket_name).get_object("root").read() == b"r"


def test_sts_credentials_die_with_their_user(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}])
    creds = admin(server, "AssumeRole", {"UserName": user["name"]})["Credentials"]
    b = _sts_bucket(server, creds, n)
    assert b.append_object("d", 0, b"x").next_position == 1
    admin(server, "DeleteUser", {"UserName": user["name"]})
    with pytest.raises(oss2.exceptions.OssError) as e:
        b.append_object("d", 1, b"y")
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
    assert bucket.head_object("d").content_length == 1


def test_conditions_are_evaluated_on_real_requests(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:PutObject", "Resource": f"acs:oss:*:*:{n}/*",
                               "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}])
    b = as_user(server, user, n)
    with pytest.raises(oss2.exceptions.AccessDenied):  # the request comes from 127.0.0.1
        b.append_object("c", 0, b"x")
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:PutObject", "Resource": f"acs:oss:*:*:{n}/*",
                               "Condition": {"IpAddress": {"acs:SourceIp": ["127.0.0.0/8", "::1"]},
                                             "Bool": {"acs:SecureTransport": "false"}}}])
    assert b.append_object("c", 0, b"x").next_position == 1


def test_sts_through_the_v2_sdk(server, bucket, user):
    import alibabacloud_oss_v2 as oss
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}])
    creds = admin(server, "AssumeRole", {"UserName": user["name"]})["Credentials"]
    for version in ("v4", "v1"):
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
            creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])
        cfg.region, cfg.endpoint, cfg.signature_version = "cn-hangzhou", server.endpoint, version
        client = oss.Client(cfg)
        r = client.append_object(oss.AppendObjectRequest(bucket=n, key=f"v2-{version}", position=0, body=b"ok"))
        assert r.next_position == 2


def test_bucket_policy_without_principal(server, bucket):
    """oss2's own test_bucket_policy stores a statement with no Principal; OSS treats an empty
    Principal as everyone (anonymous callers included), and so does ossbox for a missing one."""
    n = bucket.bucket_name
    policy = {"Version": "1", "Statement": [{"Action": ["oss:GetObject"], "Effect": "Allow",
                                             "Resource": [f"acs:oss:*:*:{n}/pub/*"]}]}
    bucket.put_bucket_policy(json.dumps(policy))
    got = json.loads(bucket.get_bucket_policy().policy)
    assert got["Statement"][0]["Resource"] == policy["Statement"][0]["Resource"]
    assert "Principal" not in got["Statement"][0]  # kept as written
    bucket.put_object("pub/a", b"open")
    bucket.put_object("private/a", b"closed")
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, n)
    assert anonymous.get_object("pub/a").read() == b"open"
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("private/a")


def test_bucket_policy_without_principal_is_public_for_block_public_access(bucket):
    """Everyone is public: while Block Public Access is on, such a statement is refused."""
    n = bucket.bucket_name
    bucket.put_bucket_public_access_block(True)
    with pytest.raises(oss2.exceptions.AccessDenied):
        bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
            "Action": ["oss:GetObject"], "Effect": "Allow", "Resource": [f"acs:oss:*:*:{n}/*"]}]}))
