"""Admin requests are bound to what they do (issue 9, item 4).

A captured root request must not become an admin call, and a captured admin request must not be
sent again, nor with another action or another body, in any signature version: each attempt gets
403 and the identities, keys, policies and KMS keys stay exactly as they were. Requests are
signed by the official SDKs (alibabacloud-oss-v2 for V1 and V4, oss2 for V2), captured before
they leave, and then sent (tampered or not) byte for byte over a plain HTTP connection.
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import os
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest

from conftest import admin
from ossbox.auth import SignedRequest
from ossbox.cli.admin_cmd import build_input
from ossbox.ops.admin import ACTIONS
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, meta_db
from signing import presign_v1, presign_v4, sign_v1_header

POLICY = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject",
                                                      "Resource": "acs:oss:*:*:b/*"}]})


# -- capturing what the SDKs sign ----------------------------------------------------------------
class _Held(Exception):
    pass


def _signed_v2sdk(server, action: str, fields: dict, version: str) -> dict:
    """The request alibabacloud-oss-v2 signs (V1 or V4) for an admin call, captured, not sent."""
    from alibabacloud_oss_v2.transport import RequestsHttpClient

    held = {}

    class Capture(RequestsHttpClient):
        def send(self, request, **kwargs):
            held.update(method=request.method, url=request.url, headers=dict(request.headers),
                        body=request.body if isinstance(request.body, bytes) else b"")
            raise _Held()

    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = "cn-hangzhou", server.endpoint, 1
    cfg.signature_version, cfg.http_client = version, Capture()
    client = oss.Client(cfg)
    try:
        client.invoke_operation(build_input(action, fields))
    except Exception:
        pass
    assert held, "the SDK did not sign the request"
    u = urlsplit(held.pop("url"))
    held["target"] = u.path + ("?" + u.query if u.query else "")
    return held


def _signed_oss2_v2(action: str, fields: dict) -> dict:
    """The request oss2 signs with its V2 signature (AuthV2) for an admin call."""
    import oss2
    from oss2.http import Request

    op = build_input(action, fields)
    req = Request("POST", "http://127.0.0.1/", data=op.body, params=dict(op.parameters),
                  headers=dict(op.headers))
    oss2.AuthV2(ACCESS_KEY_ID, ACCESS_KEY_SECRET)._sign_request(req, "", "")
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in op.parameters.items())
    return {"method": "POST", "target": "/?" + query, "headers": dict(req.headers), "body": op.body}


def send(server, req: dict, *, target=None, headers=None, body=None):
    """Send a (captured) request exactly; `target`/`headers`/`body` replace parts of it."""
    body = req["body"] if body is None else body
    hdrs = dict(req["headers"] if headers is None else headers)
    hdrs = {k: v for k, v in hdrs.items() if v is not None and k.lower() not in ("content-length", "host")}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(req["method"], target or req["target"], skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"127.0.0.1:{server.port}")
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _with_action(req: dict, action: str) -> str:
    return req["target"].replace(f"x-ossbox-admin={req['action']}", f"x-ossbox-admin={action}")


# -- the state an admin request could change ---------------------------------------------------------
def snapshot(server):
    db = meta_db(server.data_dir)
    try:
        return {table: sorted(db.execute(f"SELECT {cols} FROM {table}").fetchall())
                for table, cols in (("users", "user_id, name"), ("access_keys", "access_key_id, status"),
                                    ("user_policies", "user_id, name, document"),
                                    ("kms_keys", "key_id, status, description"))}
    finally:
        db.close()


@pytest.fixture
def world(server):
    """A user with two keys and a policy, a victim user, and a KMS key."""
    name, victim = "u-" + uuid.uuid4().hex[:10], "v-" + uuid.uuid4().hex[:10]
    admin(server, "CreateUser", {"UserName": name})
    admin(server, "CreateUser", {"UserName": victim})
    k1 = admin(server, "CreateAccessKey", {"UserName": name})["AccessKeyId"]
    k2 = admin(server, "CreateAccessKey", {"UserName": name})["AccessKeyId"]
    admin(server, "PutUserPolicy", {"UserName": name, "PolicyName": "p", "PolicyDocument": POLICY})
    kms = admin(server, "CreateKmsKey", {"Description": "binding test"})["KeyId"]
    return {"user": name, "victim": victim, "k1": k1, "k2": k2, "kms": kms}


def fields_for(action: str, w: dict) -> dict:
    return {
        "CreateUser": {"UserName": "n-" + uuid.uuid4().hex[:10]},
        "ListUsers": {},
        "GetUser": {"UserName": w["user"]},
        "DeleteUser": {"UserName": w["user"]},
        "CreateAccessKey": {"UserName": w["user"]},
        "ListAccessKeys": {"UserName": w["user"]},
        "UpdateAccessKey": {"AccessKeyId": w["k1"], "Status": "Inactive"},
        "DeleteAccessKey": {"AccessKeyId": w["k2"]},
        "PutUserPolicy": {"UserName": w["user"], "PolicyName": "q", "PolicyDocument": POLICY},
        "GetUserPolicy": {"UserName": w["user"], "PolicyName": "p"},
        "ListUserPolicies": {"UserName": w["user"]},
        "DeleteUserPolicy": {"UserName": w["user"], "PolicyName": "p"},
        "AssumeRole": {"UserName": w["user"], "DurationSeconds": 900},
        "CreateKmsKey": {"Description": "another"},
        "ListKmsKeys": {},
        "DescribeKmsKey": {"KeyId": w["kms"]},
        "DisableKmsKey": {"KeyId": w["kms"]},
        "EnableKmsKey": {"KeyId": w["kms"]},
    }[action]


SIGNATURE_MISMATCH, BODY_NOT_SIGNED = "0002-00000040", "0002-00000041"
ACTION_NOT_SIGNED, UNSIGNED_QUERY, REPLAYED = "0003-00000911", "0003-00000912", "0003-00000913"


def _refused(status: int, body: bytes, what: str, *ecs: str) -> None:
    """403 with an OSS XML error (with one of the ECs `ecs`, when given)."""
    assert status == 403, (what, status, body[:400])
    assert body.startswith(b"<?xml") and b"<Code>" in body and b"<EC>" in body, (what, body[:400])
    if ecs:
        assert any(f"<EC>{ec}</EC>".encode() in body for ec in ecs), (what, body[:600])


def _sign(server, version, action, fields):
    req = _signed_oss2_v2(action, fields) if version == "v2" else _signed_v2sdk(server, action, fields, version)
    req["action"] = action
    return req


# -- every action, every signature version ----------------------------------------------------------
@pytest.mark.parametrize("version", ["v1", "v2", "v4"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_admin_request_cannot_be_replayed_or_tampered(server, world, action, version):
    fields = fields_for(action, world)
    other = "DeleteUser" if action != "DeleteUser" else "CreateAccessKey"
    before = snapshot(server)

    # a fresh, never-used signature for each attempt: a refusal must come from the tampering
    r = _sign(server, version, action, fields)
    tampered = json.dumps({**fields, "UserName": world["victim"], "Extra": 1}).encode()
    _refused(*send(server, r, body=tampered), "body changed, Content-MD5 kept", BODY_NOT_SIGNED)
    r = _sign(server, version, action, fields)
    _refused(*send(server, r, target=_with_action(r, other)), "query action changed",
             ACTION_NOT_SIGNED if version == "v1" else SIGNATURE_MISMATCH)  # V2/V4 sign the query
    r = _sign(server, version, action, fields)
    hdrs = {k: (other if k.lower() == "x-oss-ossbox-admin" else v) for k, v in r["headers"].items()}
    _refused(*send(server, r, target=_with_action(r, other), headers=hdrs), "signed action changed", SIGNATURE_MISMATCH)
    r = _sign(server, version, action, fields)
    hdrs = {k: v for k, v in r["headers"].items() if k.lower() != "content-md5"}
    _refused(*send(server, r, headers=hdrs), "Content-MD5 removed", SIGNATURE_MISMATCH)
    assert snapshot(server) == before, "a refused admin request changed state"

    # the genuine request works once ...
    r = _sign(server, version, action, fields)
    status, body = send(server, r)
    assert status == 200, body
    after = snapshot(server)
    # ... and never again, not even reformatted or with an extra unsigned query key
    _refused(*send(server, r), "exact replay", REPLAYED)
    auth = r["headers"].get("Authorization") or r["headers"]["authorization"]
    spaced = {k: (v.replace(",", ", ").replace(":", ": ", 1) if k.lower() == "authorization" else v)
              for k, v in r["headers"].items()}
    if auth.startswith("OSS4-HMAC-SHA256"):
        _refused(*send(server, r, headers=spaced), "replay with a reformatted Authorization", REPLAYED)
    _refused(*send(server, r, target=r["target"] + "&x=1"), "replay with an extra query key",
             UNSIGNED_QUERY, SIGNATURE_MISMATCH)
    assert snapshot(server) == after, "a replayed admin request changed state"


# -- captured non-admin requests are no admin calls --------------------------------------------------
def test_captured_root_requests_cannot_be_retargeted(server, world):
    import oss2

    before = snapshot(server)
    # a V1 ListBuckets request as oss2 sends it, replayed within its skew window with an action
    date = email.utils.formatdate(usegmt=True)
    h = {"date": date}
    h["authorization"] = sign_v1_header(SignedRequest("GET", None, None, [], dict(h)), ACCESS_KEY_ID,
                                        ACCESS_KEY_SECRET)
    base = {"method": "GET", "target": "/", "headers": h, "body": b""}
    assert send(server, base)[0] == 200
    for target in ("/?x-ossbox-admin=ListUsers", f"/?x-ossbox-admin=GetUser&UserName={world['user']}",
                   f"/?x-ossbox-admin=ListAccessKeys&UserName={world['user']}"):
        _refused(*send(server, base, target=target), target)
    post = dict(base, method="POST")
    h2 = {"date": date}
    h2["authorization"] = sign_v1_header(SignedRequest("POST", None, None, [], dict(h2)), ACCESS_KEY_ID,
                                         ACCESS_KEY_SECRET)
    for action, body in (("CreateAccessKey", {"UserName": world["user"]}),
                         ("DeleteUser", {"UserName": world["victim"]})):
        _refused(*send(server, post, target=f"/?x-ossbox-admin={action}", headers=h2,
                       body=json.dumps(body).encode()), action)

    # a V1 admin call (ListUsers) turned into CreateAccessKey: query and body changed, signed
    # header and Content-MD5 kept
    r = _signed_v2sdk(server, "ListUsers", {}, "v1")
    r["action"] = "ListUsers"
    _refused(*send(server, r, target=_with_action(r, "CreateAccessKey"),
                   body=json.dumps({"UserName": world["victim"]}).encode()), "ListUsers -> CreateAccessKey")

    # presigned URLs: a V1 ListBuckets URL with an action added; an admin call presigned in V4
    q = presign_v1(SignedRequest("GET", None, None, [], {}), ACCESS_KEY_ID, ACCESS_KEY_SECRET,
                   int(time.time()) + 600)
    url = "/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in q)
    assert send(server, dict(base, headers={}), target=url)[0] == 200
    _refused(*send(server, dict(base, headers={}), target=url + "&x-ossbox-admin=ListUsers"), "V1 URL")
    # a V4 URL presigned by root for an admin call, even one whose signed headers carry the action
    # and the body's MD5, is refused; an empty Authorization header does not make it header-signed
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    params = [("x-ossbox-admin", "ListUsers")]
    signed = {"x-oss-ossbox-admin": "ListUsers", "content-md5": base64.b64encode(hashlib.md5(b"{}").digest()).decode()}
    q4 = presign_v4(SignedRequest("POST", None, None, params, dict(signed)), ACCESS_KEY_ID, ACCESS_KEY_SECRET,
                    "cn-hangzhou", datetime_=now, expires=600)
    url4 = "/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params + q4)
    presigned = {"method": "POST", "target": url4, "headers": signed, "body": b"{}"}
    _refused(*send(server, presigned), "V4 presigned admin URL", "0003-00000910")
    _refused(*send(server, presigned, headers=dict(signed, Authorization="")),
             "V4 presigned admin URL with an empty Authorization header", "0003-00000910")
    # and oss2's own (V1) service call with the admin parameter
    with pytest.raises(oss2.exceptions.OssError) as e:
        oss2.Service(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint)._do(
            "POST", "", "", params={"x-ossbox-admin": "CreateUser"},
            data=json.dumps({"UserName": "never-" + uuid.uuid4().hex[:8]}).encode())
    assert e.value.status == 403
    assert snapshot(server) == before


def test_identical_admin_calls_in_one_second_both_work(server):
    """The nonce `ossbox admin` and the helper send keeps equal calls distinct requests."""
    for _ in range(5):
        assert "Users" in admin(server, "ListUsers")


def test_replay_refused_by_another_server_process_on_the_same_data_dir(tmp_path):
    """The used signatures live in the metadata store, so a second process sees them."""
    from serverproc import ServerProcess

    first = ServerProcess(str(tmp_path)).start()
    try:
        second = ServerProcess(str(tmp_path)).start()
        try:
            r = _signed_v2sdk(first, "CreateUser", {"UserName": "once"}, "v4")
            r["action"] = "CreateUser"
            assert send(first, r)[0] == 200
            before = snapshot(first)
            _refused(*send(second, r), "replay on the other process", REPLAYED)
            _refused(*send(first, r), "replay on the same process", REPLAYED)
            assert snapshot(first) == before and [u[1] for u in before["users"]] == ["once"]
        finally:
            assert second.stop() == 0
    finally:
        assert first.stop() == 0
