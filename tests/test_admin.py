"""Admin API, `ossbox admin` CLI and STS credentials."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid

import pytest

from ossbox import errors
from ossbox.auth import Credential
from ossbox.auth.sts import StsService
import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

KEY = b"k" * 32
NOW = 1_700_000_000.0
POLICY = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject",
                                                      "Resource": "acs:oss:*:*:b/*"}]})


# -- StsService (unit) -----------------------------------------------------------------------------
def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_sts_issue_and_verify():
    sts = StsService(KEY)
    creds = sts.issue("1234567890123456", 3600, None, now=NOW)
    assert set(creds) == {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
    assert creds["AccessKeyId"].startswith("STS.")
    assert len(creds["AccessKeySecret"]) == 30
    assert creds["Expiration"] == "2023-11-14T23:13:20Z"
    cred = sts.credential(creds["AccessKeyId"], creds["SecurityToken"], now=NOW + 10)
    assert cred == Credential(creds["AccessKeyId"], creds["AccessKeySecret"], principal="1234567890123456",
                              session_policy=None)
    # stateless: another instance with the same key verifies it; a different key does not
    assert StsService(KEY).credential(creds["AccessKeyId"], creds["SecurityToken"], now=NOW).secret \
        == creds["AccessKeySecret"]
    with pytest.raises(errors.OssError) as info:
        StsService(b"x" * 32).credential(creds["AccessKeyId"], creds["SecurityToken"], now=NOW)
    assert info.value.code == "InvalidSecurityToken"
    # two issues give distinct credentials
    other = sts.issue("1234567890123456", 3600, None, now=NOW)
    assert other["AccessKeyId"] != creds["AccessKeyId"] and other["AccessKeySecret"] != creds["AccessKeySecret"]


def test_sts_session_policy_carried():
    sts = StsService(KEY)
    creds = sts.issue("u1", 900, POLICY, now=NOW)
    cred = sts.credential(creds["AccessKeyId"], creds["SecurityToken"], now=NOW)
    assert cred.session_policy == POLICY and cred.principal == "u1"


def _code(fn) -> str:
    with pytest.raises(errors.OssError) as info:
        fn()
    return info.value.code


def test_sts_tampered_payload():
    sts = StsService(KEY)
    creds = sts.issue("u1", 3600, POLICY, now=NOW)
    body, mac = creds["SecurityToken"].split(".")
    claims = json.loads(_b64d(body))
    for change in ({"uid": "root"}, {"exp": claims["exp"] + 10 ** 6}, {"pol": None}):
        forged = _b64e(json.dumps(dict(claims, **change), separators=(",", ":"), sort_keys=True).encode())
        assert _code(lambda: sts.credential(creds["AccessKeyId"], forged + "." + mac, now=NOW)) \
            == "InvalidSecurityToken"


def test_sts_tampered_signature_and_garbage():
    sts = StsService(KEY)
    creds = sts.issue("u1", 3600, None, now=NOW)
    token, ak = creds["SecurityToken"], creds["AccessKeyId"]
    body, mac = token.split(".")
    flipped = bytearray(_b64d(mac))
    flipped[0] ^= 1
    for bad in (body + "." + _b64e(bytes(flipped)), body + "." + mac[:-2], body, body + ".",
                "." + mac, token + "x", "not a token", "a.b.c", "", None, "é.é"):
        assert _code(lambda: sts.credential(ak, bad, now=NOW)) == "InvalidSecurityToken", bad


def test_sts_wrong_access_key():
    sts = StsService(KEY)
    a = sts.issue("u1", 3600, None, now=NOW)
    b = sts.issue("u1", 3600, None, now=NOW)
    assert _code(lambda: sts.credential(b["AccessKeyId"], a["SecurityToken"], now=NOW)) == "InvalidSecurityToken"
    assert _code(lambda: sts.credential("LTAIsomething", a["SecurityToken"], now=NOW)) == "InvalidAccessKeyId"


def test_sts_expired():
    sts = StsService(KEY)
    creds = sts.issue("u1", 900, None, now=NOW)
    sts.credential(creds["AccessKeyId"], creds["SecurityToken"], now=NOW + 899)
    assert _code(lambda: sts.credential(creds["AccessKeyId"], creds["SecurityToken"], now=NOW + 900)) \
        == "SecurityTokenExpired"
    # a forged "not expired" token is still just invalid
    body, mac = creds["SecurityToken"].split(".")
    claims = dict(json.loads(_b64d(body)), exp=int(NOW) + 10 ** 6)
    forged = _b64e(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()) + "." + mac
    assert _code(lambda: sts.credential(creds["AccessKeyId"], forged, now=NOW + 1000)) == "InvalidSecurityToken"


def test_sts_duration_limits():
    sts = StsService(KEY)
    for bad in (899, 43201, 0, -1, True, "3600"):
        assert _code(lambda: sts.issue("u1", bad, None, now=NOW)) == "InvalidArgument"
    sts.issue("u1", 43200, None, now=NOW)
    assert "kkkk" not in repr(sts)


# -- the admin CLI against a real server --------------------------------------------------------------
def _env(server, tmp_path, ak=ACCESS_KEY_ID, sk=ACCESS_KEY_SECRET) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_"))}
    env.update(OSS_ACCESS_KEY_ID=ak, OSS_ACCESS_KEY_SECRET=sk, OSS_REGION="cn-hangzhou",
               OSS_ENDPOINT=server.endpoint, HOME=str(tmp_path))
    return env


def admin(server, tmp_path, *args, ak=ACCESS_KEY_ID, sk=ACCESS_KEY_SECRET, check=True, input=None):
    proc = cliproc.run(["admin", *args], text=True, env=_env(server, tmp_path, ak, sk), timeout=60, input=input)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def admin_json(server, tmp_path, *args, **kw):
    proc = admin(server, tmp_path, *args, "--output-format", "json", "-q", **kw)
    return json.loads(proc.stdout)


def _name() -> str:
    return "u-" + uuid.uuid4().hex[:12]


def test_cli_user_and_keys(server, tmp_path):
    name = _name()
    user = admin_json(server, tmp_path, "user", "create", name)
    assert re.fullmatch(r"[1-9]\d{15}", user["UserId"]) and user["UserName"] == name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", user["CreateDate"])
    again = admin(server, tmp_path, "user", "create", name, check=False)
    assert again.returncode == 2 and "409" in again.stderr

    k1 = admin_json(server, tmp_path, "key", "create", name)
    k2 = admin_json(server, tmp_path, "key", "create", name)
    for k in (k1, k2):
        assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", k["AccessKeyId"])
        assert re.fullmatch(r"[A-Za-z0-9]{30}", k["AccessKeySecret"])
        assert k["Status"] == "Active"
    assert k1["AccessKeyId"] != k2["AccessKeyId"]

    listed = admin(server, tmp_path, "key", "list", name, "--output-format", "json")
    assert k1["AccessKeySecret"] not in listed.stdout and k2["AccessKeySecret"] not in listed.stdout
    assert "Secret" not in listed.stdout
    keys = json.loads(listed.stdout.rsplit("\n\n", 1)[0])["AccessKeys"]
    assert {k["AccessKeyId"] for k in keys} == {k1["AccessKeyId"], k2["AccessKeyId"]}

    users = admin_json(server, tmp_path, "user", "list")["Users"]
    assert {"UserId": user["UserId"], "UserName": name, "CreateDate": user["CreateDate"]} in users
    got = admin_json(server, tmp_path, "user", "get", name)
    assert got["UserId"] == user["UserId"] and len(got["AccessKeys"]) == 2
    assert k1["AccessKeySecret"] not in json.dumps(got)

    disabled = admin_json(server, tmp_path, "key", "disable", k1["AccessKeyId"])
    assert disabled == {"AccessKeyId": k1["AccessKeyId"], "Status": "Inactive"}
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in admin_json(server, tmp_path, "key", "list", name)["AccessKeys"]}
    assert statuses == {k1["AccessKeyId"]: "Inactive", k2["AccessKeyId"]: "Active"}
    admin_json(server, tmp_path, "key", "enable", k1["AccessKeyId"])
    admin_json(server, tmp_path, "key", "delete", k2["AccessKeyId"])
    assert [k["AccessKeyId"] for k in admin_json(server, tmp_path, "key", "list", name)["AccessKeys"]] \
        == [k1["AccessKeyId"]]
    gone = admin(server, tmp_path, "key", "delete", k2["AccessKeyId"], check=False)
    assert gone.returncode == 2 and "404" in gone.stderr

    admin_json(server, tmp_path, "user", "delete", name)
    assert name not in [u["UserName"] for u in admin_json(server, tmp_path, "user", "list")["Users"]]
    missing = admin(server, tmp_path, "key", "list", name, check=False)
    assert missing.returncode == 2 and "404" in missing.stderr
    # the user's keys went with it
    again = admin(server, tmp_path, "key", "enable", k1["AccessKeyId"], check=False)
    assert again.returncode == 2 and "404" in again.stderr
    # secrets never reach the server's log
    log = "".join(server.output)
    assert k1["AccessKeySecret"] not in log and k2["AccessKeySecret"] not in log


def test_cli_output_formats(server, tmp_path):
    name = _name()
    admin(server, tmp_path, "user", "create", name)
    yaml_out = admin(server, tmp_path, "user", "get", name, "--output-format", "yaml", "-q").stdout
    assert f"UserName: {name}" in yaml_out and "elapsed" not in yaml_out
    raw = admin(server, tmp_path, "user", "get", name).stdout
    assert "elapsed" in raw and json.loads(raw.split("\n\n")[0])["UserName"] == name
    query = admin(server, tmp_path, "user", "get", name, "--output-query", "UserName", "--output-format",
                  "json", "-q").stdout
    assert json.loads(query) == name
    dry = admin(server, tmp_path, "user", "create", "never-" + name, "--dry-run", "-q").stdout
    assert "x-ossbox-admin=CreateUser" in dry
    assert "never-" + name not in [u["UserName"] for u in admin_json(server, tmp_path, "user", "list")["Users"]]
    v1 = admin_json(server, tmp_path, "user", "get", name, "--sign-version", "v1")
    assert v1["UserName"] == name
    admin(server, tmp_path, "user", "delete", name)


def test_cli_policies(server, tmp_path):
    name = _name()
    admin(server, tmp_path, "user", "create", name)
    doc_file = tmp_path / "p.json"
    doc_file.write_text(POLICY)
    assert admin_json(server, tmp_path, "policy", "put", name, "read", "--document", f"file://{doc_file}") \
        == {"UserName": name, "PolicyName": "read"}
    admin_json(server, tmp_path, "policy", "put", name, "other", "--document", "-", input=POLICY)
    got = admin_json(server, tmp_path, "policy", "get", name, "read")
    assert json.loads(got["PolicyDocument"]) == json.loads(POLICY)
    names = [p["PolicyName"] for p in admin_json(server, tmp_path, "policy", "list", name)["Policies"]]
    assert names == ["other", "read"]
    admin_json(server, tmp_path, "policy", "delete", name, "other")
    assert [p["PolicyName"] for p in admin_json(server, tmp_path, "policy", "list", name)["Policies"]] == ["read"]
    missing = admin(server, tmp_path, "policy", "get", name, "other", check=False)
    assert missing.returncode == 2 and "404" in missing.stderr

    for bad in ('{"Version": "1"}', '{"Version": "1", "Statement": [{"Effect": "Maybe", "Action": "oss:*"}]}',
                '["x"]'):
        proc = admin(server, tmp_path, "policy", "put", name, "bad", "--document", bad, check=False)
        assert proc.returncode == 2 and "InvalidPolicyDocument" in proc.stderr, proc.stderr
    usage = admin(server, tmp_path, "policy", "put", name, "bad", "--document", "{not json", check=False)
    assert usage.returncode == 1
    assert [p["PolicyName"] for p in admin_json(server, tmp_path, "policy", "list", name)["Policies"]] == ["read"]
    admin(server, tmp_path, "user", "delete", name)


def test_cli_sts_assume(server, tmp_path):
    name = _name()
    user = admin_json(server, tmp_path, "user", "create", name)
    out = admin_json(server, tmp_path, "sts", "assume", name, "--duration", "900", "--policy", POLICY)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("STS.") and len(creds["AccessKeySecret"]) == 30
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["Expiration"])
    assert out["AssumedRoleUser"]["UserId"] == user["UserId"]
    claims = json.loads(_b64d(creds["SecurityToken"].split(".")[0]))
    assert claims["uid"] == user["UserId"] and claims["pol"] == POLICY
    assert claims["ak"] == creds["AccessKeyId"]
    for bad in ("899", "43201"):
        proc = admin(server, tmp_path, "sts", "assume", name, "--duration", bad, check=False)
        assert proc.returncode == 2 and "InvalidArgument" in proc.stderr
    proc = admin(server, tmp_path, "sts", "assume", "nobody-" + name, check=False)
    assert proc.returncode == 2 and "404" in proc.stderr
    admin(server, tmp_path, "user", "delete", name)


def test_cli_kms_keys(server, tmp_path):
    """`ossbox admin kms`: create/list/describe/disable/enable; the key material never leaves the
    server; a disabled key refuses reads of its objects until it is enabled again."""
    import oss2
    from conftest import remove_bucket

    desc = "logs " + uuid.uuid4().hex[:8]
    key = admin_json(server, tmp_path, "kms", "create", "--description", desc)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key["KeyId"])
    assert key["KeyState"] == "Enabled" and key["Description"] == desc and key["Default"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", key["CreationDate"])
    assert set(key) == {"KeyId", "KeyState", "Description", "CreationDate", "Default"}
    bare = admin_json(server, tmp_path, "kms", "create")
    assert bare["Description"] == "" and bare["KeyId"] != key["KeyId"]
    listed = {k["KeyId"]: k for k in admin_json(server, tmp_path, "kms", "list")["Keys"]}
    assert listed[key["KeyId"]] == key and bare["KeyId"] in listed
    assert admin_json(server, tmp_path, "kms", "describe", key["KeyId"]) == key

    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, "kms-" + uuid.uuid4().hex[:10])
    bucket.create_bucket()
    try:
        bucket.put_object("o", b"under my key", headers={"x-oss-server-side-encryption": "KMS",
                                                         "x-oss-server-side-encryption-key-id": key["KeyId"]})
        assert bucket.head_object("o").headers["x-oss-server-side-encryption-key-id"] == key["KeyId"]
        assert admin_json(server, tmp_path, "kms", "disable", key["KeyId"]) \
            == {"KeyId": key["KeyId"], "KeyState": "Disabled"}
        assert admin_json(server, tmp_path, "kms", "describe", key["KeyId"])["KeyState"] == "Disabled"
        with pytest.raises(oss2.exceptions.OssError) as e:
            bucket.get_object("o")
        assert (e.value.status, e.value.code) == (403, "KmsKeyDisabled")
        assert admin_json(server, tmp_path, "kms", "enable", key["KeyId"])["KeyState"] == "Enabled"
        assert bucket.get_object("o").read() == b"under my key"
        # the managed default key shows up once SSE-KMS used it, marked as the default
        r = bucket.append_object("a", 0, b"x", headers={"x-oss-server-side-encryption": "KMS"})
        default = admin_json(server, tmp_path, "kms", "describe", r.headers["x-oss-server-side-encryption-key-id"])
        assert default["Default"] is True and default["KeyState"] == "Enabled"
    finally:
        remove_bucket(bucket.auth, server.endpoint, bucket.bucket_name)

    for action in ("describe", "disable", "enable"):
        missing = admin(server, tmp_path, "kms", action, "00000000-0000-4000-8000-000000000000", check=False)
        assert missing.returncode == 2 and "404" in missing.stderr, (action, missing.stderr)
    too_long = admin(server, tmp_path, "kms", "create", "--description", "d" * 8193, check=False)
    assert too_long.returncode == 2 and "InvalidArgument" in too_long.stderr
    usage = admin(server, tmp_path, "kms", "describe", check=False)
    assert usage.returncode != 0
    # the key material (read from the server's database) is in no answer and not in its log
    from serverproc import meta_db
    db = meta_db(server.data_dir)
    material = db.execute("SELECT material FROM kms_keys WHERE key_id=?", (key["KeyId"],)).fetchone()[0]
    db.close()
    assert len(material) == 32
    outputs = admin(server, tmp_path, "kms", "list", "--output-format", "json").stdout + \
        admin(server, tmp_path, "kms", "describe", key["KeyId"], "--output-format", "json").stdout + \
        "".join(server.output)
    for form in (material.hex(), material.hex().upper(), base64.b64encode(material).decode(),
                 base64.urlsafe_b64encode(material).decode().rstrip("=")):
        assert form not in outputs


def _raw_admin(server):
    """An admin call whose body is sent as given (with its Content-MD5), for malformed bodies."""
    from conftest import make_v2_client
    from ossbox.cli.admin_cmd import build_input

    client = make_v2_client(server.endpoint)

    def call(action, method="POST", body=b""):
        op = build_input(action, {}, method)
        op.body = body
        op.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        return client.invoke_operation(op)
    return call


def test_admin_api_bad_requests(server):
    from conftest import v2_error

    call = _raw_admin(server)
    err = v2_error(call, "NoSuchAction")
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    for body in (b"{", b"[]", b"\xff", b'{"UserName": 5}', b'{"UserName": "bad name!"}', b"{}"):
        err = v2_error(call, "CreateUser", body=body)
        assert (err.status_code, err.code) == (400, "InvalidArgument"), body
    err = v2_error(call, "CreateUser", method="GET", body=b'{"UserName": "x"}')
    assert err.status_code == 405
    err = v2_error(call, "UpdateAccessKey", body=b'{"AccessKeyId": "LTAInope", "Status": "Maybe"}')
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    err = v2_error(call, "DeleteAccessKey", body=b'{"AccessKeyId": "LTAInope"}')
    assert err.status_code == 404


def test_deeply_nested_json_is_refused(server, bucket):
    """JSON nested 60,000 deep (60 KB, within the size limits) was a 500 RecursionError; every JSON
    input is now refused with a 400 before the decoder recurses."""
    import oss2
    from conftest import v2_error

    call = _raw_admin(server)
    name = _name()
    for body in (b"[" * 60000, b'{"UserName": ' + b"[" * 30000 + b"]" * 30000 + b"}",
                 b'{"UserName": "' + name.encode() + b'", "x": ' + b'{"a": ' * 9000 + b"1" + b"}" * 9000 + b"}"):
        err = v2_error(call, "CreateUser", body=body)
        assert (err.status_code, err.code, err.ec) == (400, "InvalidArgument", "0016-00000510"), body[:40]
    # a policy document (RAM: 6,144 bytes, bucket: 16 KB) nested deeply, given as text
    deep_ram = '{"Version": "1", "Statement": ' + "[" * 3000 + "]" * 3000 + "}"
    user = call("CreateUser", body=json.dumps({"UserName": name}).encode())
    assert user.status_code == 200
    err = v2_error(call, "PutUserPolicy", body=json.dumps(
        {"UserName": name, "PolicyName": "deep", "PolicyDocument": deep_ram}).encode())
    assert (err.status_code, err.code) == (400, "InvalidPolicyDocument") and "nested" in err.message
    deep_bucket = '{"Version": "1", "Statement": ' + "[" * 8000 + "]" * 8000 + "}"
    with pytest.raises(oss2.exceptions.OssError) as e:
        bucket.put_bucket_policy(deep_bucket)
    assert (e.value.status, e.value.code) == (400, "InvalidPolicyDocument")
    # a sensible depth still works, and the server is fine
    ok = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": ["*"],
                                         "Condition": {"StringLike": {"oss:Prefix": ["a/*"]}}}]}
    assert call("PutUserPolicy", body=json.dumps({"UserName": name, "PolicyName": "ok",
                                                  "PolicyDocument": ok}).encode()).status_code == 200
    assert "RecursionError" not in "".join(server.output)
    call("DeleteUser", body=json.dumps({"UserName": name}).encode())


# -- RAM users against the admin API (needs RAM-user authentication in the server) ---------------------
def _user_can_authenticate(server, ak, sk) -> bool:
    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = "cn-hangzhou", server.endpoint, 1
    try:
        oss.Client(cfg).list_buckets(oss.ListBucketsRequest())
        return True
    except oss.exceptions.OperationError as exc:
        inner = exc.unwrap()
        return getattr(inner, "code", "") not in ("InvalidAccessKeyId", "SignatureDoesNotMatch")


def test_non_root_is_refused(server, tmp_path):
    name = _name()
    admin(server, tmp_path, "user", "create", name)
    key = admin_json(server, tmp_path, "key", "create", name)
    ak, sk = key["AccessKeyId"], key["AccessKeySecret"]
    # even with a policy allowing everything
    admin(server, tmp_path, "policy", "put", name, "all", "--document",
          '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
    assert _user_can_authenticate(server, ak, sk)
    for args in (("user", "list"), ("user", "create", "x" + name), ("key", "create", name),
                 ("sts", "assume", name)):
        proc = admin(server, tmp_path, *args, ak=ak, sk=sk, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "403" in proc.stderr and "AccessDenied" in proc.stderr
        assert "Only the root account" in proc.stderr
    assert "x" + name not in [u["UserName"] for u in admin_json(server, tmp_path, "user", "list")["Users"]]

    # keys take effect (and stop) without restart
    admin(server, tmp_path, "key", "disable", ak)
    assert _disabled_refused(server, ak, sk)
    admin(server, tmp_path, "key", "enable", ak)
    assert _user_can_authenticate(server, ak, sk)
    admin(server, tmp_path, "key", "delete", ak)
    assert not _user_can_authenticate(server, ak, sk)
    admin(server, tmp_path, "user", "delete", name)


def _disabled_refused(server, ak, sk) -> bool:
    """A disabled key must not work: any 403 answer to ListBuckets counts."""
    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = "cn-hangzhou", server.endpoint, 1
    try:
        oss.Client(cfg).list_buckets(oss.ListBucketsRequest())
        return False
    except oss.exceptions.OperationError as exc:
        return getattr(exc.unwrap(), "status_code", 0) == 403


def _sts_client(server, creds: dict, token: str | None = None):
    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"] if token is None else token)
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = "cn-hangzhou", server.endpoint, 1
    return oss.Client(cfg)


def test_sts_credentials_end_to_end(server, tmp_path):
    import alibabacloud_oss_v2 as oss
    from conftest import v2_error

    name = _name()
    admin(server, tmp_path, "user", "create", name)
    admin(server, tmp_path, "policy", "put", name, "all", "--document",
          '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}')
    creds = admin_json(server, tmp_path, "sts", "assume", name)["Credentials"]
    key = admin_json(server, tmp_path, "key", "create", name)
    assert _user_can_authenticate(server, key["AccessKeyId"], key["AccessKeySecret"])
    _sts_client(server, creds).list_buckets(oss.ListBucketsRequest())   # valid token works

    body, mac = creds["SecurityToken"].split(".")
    claims = json.loads(_b64d(body))
    forged = _b64e(json.dumps(dict(claims, uid="0"), separators=(",", ":"), sort_keys=True).encode())
    # tamper the MAC's first character: the last one of a 32-byte MAC also holds 2 padding bits
    tampered = ("A" if mac[0] != "A" else "B") + mac[1:]
    for bad in (forged + "." + mac, body + "." + tampered, "garbage"):
        err = v2_error(_sts_client(server, creds, bad).list_buckets, oss.ListBucketsRequest())
        assert (err.status_code, err.code) == (403, "InvalidSecurityToken")
    # STS credentials are not root: the admin API refuses them
    proc = cliproc.run(["admin", "user", "list", "-t", creds["SecurityToken"]], text=True, timeout=60,
                       env=_env(server, tmp_path, creds["AccessKeyId"], creds["AccessKeySecret"]))
    assert proc.returncode == 2 and "AccessDenied" in proc.stderr, proc.stderr
    # a session policy restricts further
    deny = ('{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject", '
            '"Resource": "acs:oss:*:*:nothing/*"}]}')
    limited = admin_json(server, tmp_path, "sts", "assume", name, "--policy", deny)["Credentials"]
    err = v2_error(_sts_client(server, limited).list_buckets, oss.ListBucketsRequest())
    assert err.status_code == 403
    admin(server, tmp_path, "user", "delete", name)


def test_sts_sessions_outlive_key_changes_but_not_the_user(server, bucket):
    """Issue 9 item 6, the chosen RAM behaviour (docs/architecture.md "STS sessions"): temporary
    credentials belong to the user, not to one of its access keys. Disabling or deleting the
    user's keys leaves them working until they expire; the user's policies are evaluated on every
    request, so detaching one takes effect at once; deleting the user ends them."""
    import oss2
    from conftest import admin as api, put_policy

    n = bucket.bucket_name
    bucket.put_object("k", b"data")
    name = _name()
    api(server, "CreateUser", {"UserName": name})
    key = api(server, "CreateAccessKey", {"UserName": name})
    user = {"name": name}
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": f"acs:oss:*:*:{n}/*"}])
    creds = api(server, "AssumeRole", {"UserName": name, "DurationSeconds": 900})["Credentials"]
    sts = oss2.Bucket(oss2.StsAuth(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]),
                      server.endpoint, n)
    own = oss2.Bucket(oss2.Auth(key["AccessKeyId"], key["AccessKeySecret"]), server.endpoint, n)
    assert sts.get_object("k").read() == own.get_object("k").read() == b"data"

    api(server, "UpdateAccessKey", {"AccessKeyId": key["AccessKeyId"], "Status": "Inactive"})
    with pytest.raises(oss2.exceptions.OssError) as e:
        own.get_object("k")
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
    assert sts.get_object("k").read() == b"data"           # the session outlives the key
    api(server, "DeleteAccessKey", {"AccessKeyId": key["AccessKeyId"]})
    assert sts.get_object("k").read() == b"data"

    api(server, "DeleteUserPolicy", {"UserName": name, "PolicyName": "p"})
    with pytest.raises(oss2.exceptions.OssError) as e:     # permissions are the user's, read per request
        sts.get_object("k")
    assert e.value.status == 403
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": f"acs:oss:*:*:{n}/*"}])
    assert sts.get_object("k").read() == b"data"

    api(server, "DeleteUser", {"UserName": name})
    with pytest.raises(oss2.exceptions.OssError) as e:     # the user is gone: so are its sessions
        sts.get_object("k")
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
