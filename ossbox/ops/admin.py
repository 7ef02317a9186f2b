"""Admin API (root only): users, access keys, identity policies, STS, the built-in KMS.

A service-level request with the query parameter ``x-ossbox-admin=<Action>`` comes here after its
signature was verified. Only the root account may use it. Because a signature only protects what
it covers, and OSS's V1 signature covers neither unknown query keys nor the body, an admin request
must be bound to what it does in a way every signature version (V1, V2, V4) signs:

* signed in the Authorization header (no presigned URL, no query-string signature);
* the action repeated in the ``x-oss-ossbox-admin`` header (every version signs ``x-oss-*``
  headers) and equal to the query parameter; no other query parameter;
* ``Content-MD5`` of the body, which every version signs and which is checked against the body;
  the fields come only from that JSON object body;
* each signature is served once: it is remembered in the metadata store (shared by every server
  process on the data dir) until it could no longer pass the clock-skew check.

Answers are JSON. Changes are written to the metadata store at once, and the server looks keys up
per request, so they apply immediately. Secrets are returned once (CreateAccessKey, AssumeRole)
and never logged or listed; KMS key material is never returned at all.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from .. import errors, numeric
from ..auth import sts
from ..auth.identity import header_signature
from ..auth.json_input import MAX_DEPTH, too_deep
from ..auth.policy import parse_policy
from ..auth.signed_request import MAX_SKEW_SECONDS
from ..wire.request import Request, Response
from ..storage import sse
from ..storage.records import AccessKeyRecord, KmsKeyRecord, UserRecord

MAX_BODY = 64 * 1024
ACTION_PARAM = "x-ossbox-admin"         # selects the admin API (unsigned in V1: only a hint)
ACTION_HEADER = "x-oss-ossbox-admin"    # the action as every signature version signs it
# A header-signed request passes the skew check while |now - request time| <= MAX_SKEW_SECONDS, so
# one first seen now may pass again until now + 2 * MAX_SKEW_SECONDS at the latest.
REPLAY_WINDOW = 2 * MAX_SKEW_SECONDS
MAX_POLICY_LENGTH = 6144          # RAM's limit for a custom policy document
MAX_SESSION_POLICY_LENGTH = 2048
_USER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_POLICY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_ALNUM = string.ascii_uppercase + string.ascii_lowercase + string.digits
_STATUSES = ("Active", "Inactive")
MAX_KMS_DESCRIPTION = 8192        # Alibaba Cloud KMS's limit for a key description

def _no_such(what: str) -> errors.OssError:
    return errors.EntityNotExist(f"The {what} does not exist.")


def _exists(what: str) -> errors.OssError:
    return errors.EntityAlreadyExists(f"The {what} already exists.")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(doc: Any, status: int = 200) -> Response:
    return Response(status, {"content-type": "application/json"},
                    json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _is_root(req: Request) -> bool:
    ident = req.identity
    return (ident is not None and ident.principal == req.server.owner_id
            and not getattr(ident, "session_policy", None)
            and not str(getattr(ident, "access_key_id", "")).startswith("STS."))


# -- input -----------------------------------------------------------------------------------------
def _check_binding(req: Request) -> str:
    """The action, once the request proves that its signature covers it (see the module doc)."""
    # An empty Authorization header does not count: the request was then verified by its query.
    if not req.headers.get("authorization", "").strip():
        raise errors.AdminNeedsHeaderAuth()
    action = req.query.get(ACTION_PARAM, "")
    signed = req.headers.get(ACTION_HEADER)
    if signed is None or signed.strip() != action:
        raise errors.AdminActionNotSigned()
    extra = sorted({k for k, _ in req.query_list if k != ACTION_PARAM})
    if extra or len(req.query_list) != 1:
        raise errors.AdminUnsignedQuery(ArgumentName=(extra or [ACTION_PARAM])[0][:64])
    return action


async def _signed_body(req: Request) -> bytes:
    """The body, which must be the one the signed Content-MD5 names."""
    digest = req.content_md5()
    if digest is None:
        raise errors.MissingContentMD5()
    raw = await req.read_body(MAX_BODY)
    if hashlib.md5(raw).digest() != digest:
        raise errors.AdminBodyNotSigned(ContentMD5=base64.b64encode(digest).decode())
    return raw


async def _claim_signature(req: Request) -> None:
    """Serve each signature once: an exact replay within the skew window is refused."""
    sig = header_signature(req.headers)
    now = time.time()
    if not sig or not await req.server.engine.iam.claim_signature(sig, now + REPLAY_WINDOW, now):
        raise errors.AdminRequestReplayed()


def _fields(raw: bytes) -> dict:
    """The JSON object body (empty: no fields), bounded in nesting depth."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidArgument("The request body must be a JSON object.")
    if too_deep(text):  # the decoder recurses once per level: refuse before it runs
        raise errors.JsonTooDeep(f"The request body is nested more than {MAX_DEPTH} levels deep.")
    try:
        body = json.loads(text)
    except ValueError:
        raise errors.InvalidArgument("The request body must be a JSON object.")
    if not isinstance(body, dict):
        raise errors.InvalidArgument("The request body must be a JSON object.")
    return body


def _str(fields: dict, name: str, pattern: re.Pattern | None = None, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise errors.InvalidArgument(f"{name} is required.", ArgumentName=name)
        return None
    if not isinstance(value, str):
        raise errors.InvalidArgument(f"{name} must be a string.", ArgumentName=name)
    if pattern is not None and not pattern.match(value):
        raise errors.InvalidArgument(f"{name} is not valid.", ArgumentName=name)
    return value


def _user_name(fields: dict) -> str:
    return _str(fields, "UserName", _USER_NAME)


def _policy_text(value: Any, name: str, limit: int) -> str:
    """A policy document as text (a JSON object given inline is accepted too), validated."""
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidArgument(f"{name} is required.", ArgumentName=name)
    if len(value.encode("utf-8")) > limit:
        raise errors.InvalidPolicyDocument(f"{name} is longer than {limit} bytes.")
    parse_policy(value)  # raises InvalidPolicyDocument
    return value


async def _user(req: Request, name: str) -> UserRecord:
    user = await req.server.engine.iam.get_user(name=name)
    if user is None:
        raise _no_such(f"user {name!r}")
    return user


async def _key(req: Request, fields: dict) -> AccessKeyRecord:
    ak = _str(fields, "AccessKeyId")
    rec = await req.server.engine.iam.get_access_key(ak)
    if rec is None:
        raise _no_such("access key")
    return rec


def _user_doc(u: UserRecord) -> dict:
    return {"UserId": u.user_id, "UserName": u.name, "CreateDate": _iso(u.created)}


def _key_doc(k: AccessKeyRecord, user_name: str | None = None) -> dict:
    doc = {"AccessKeyId": k.access_key_id, "Status": k.status, "CreateDate": _iso(k.created)}
    if user_name is not None:
        doc["UserName"] = user_name
    return doc


# -- actions ---------------------------------------------------------------------------------------
async def create_user(req: Request, f: dict) -> Response:
    name = _user_name(f)
    iam = req.server.engine.iam
    if await iam.get_user(name=name) is not None:
        raise _exists(f"user {name!r}")
    for _ in range(8):
        rec = UserRecord(str(secrets.randbelow(9 * 10 ** 15) + 10 ** 15), name, time.time())
        if rec.user_id == req.server.owner_id:
            continue
        if await iam.create_user(rec):
            return _json(_user_doc(rec))
        if await iam.get_user(name=name) is not None:
            raise _exists(f"user {name!r}")
    raise errors.InternalError()


async def list_users(req: Request, f: dict) -> Response:
    users = await req.server.engine.iam.list_users()
    return _json({"Users": [_user_doc(u) for u in users]})


async def get_user(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    iam = req.server.engine.iam
    doc = _user_doc(user)
    doc["AccessKeys"] = [_key_doc(k) for k in await iam.list_access_keys(user.user_id)]
    doc["Policies"] = [name for name, _ in await iam.list_user_policies(user.user_id)]
    return _json(doc)


async def delete_user(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    await req.server.engine.iam.delete_user(user.user_id)
    return _json({"UserName": user.name, "Deleted": True})


async def create_access_key(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    iam = req.server.engine.iam
    for _ in range(8):
        ak = "LTAI" + "".join(secrets.choice(_ALNUM) for _ in range(20))
        if ak == req.server.root.access_key_id or await iam.get_access_key(ak) is not None:
            continue
        secret = "".join(secrets.choice(_ALNUM) for _ in range(30))
        rec = AccessKeyRecord(ak, secret, user.user_id, "Active", time.time())
        await iam.create_access_key(rec)
        doc = _key_doc(rec, user.name)
        doc["AccessKeySecret"] = secret
        return _json(doc)
    raise errors.InternalError()


async def list_access_keys(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    keys = await req.server.engine.iam.list_access_keys(user.user_id)
    return _json({"UserName": user.name, "AccessKeys": [_key_doc(k) for k in keys]})


async def update_access_key(req: Request, f: dict) -> Response:
    status = _str(f, "Status")
    if status not in _STATUSES:
        raise errors.InvalidArgument("Status must be Active or Inactive.", ArgumentName="Status")
    rec = await _key(req, f)
    if not await req.server.engine.iam.set_access_key_status(rec.access_key_id, status):
        raise _no_such("access key")
    return _json({"AccessKeyId": rec.access_key_id, "Status": status})


async def delete_access_key(req: Request, f: dict) -> Response:
    rec = await _key(req, f)
    if not await req.server.engine.iam.delete_access_key(rec.access_key_id):
        raise _no_such("access key")
    return _json({"AccessKeyId": rec.access_key_id, "Deleted": True})


async def put_user_policy(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    name = _str(f, "PolicyName", _POLICY_NAME)
    document = _policy_text(f.get("PolicyDocument"), "PolicyDocument", MAX_POLICY_LENGTH)
    await req.server.engine.iam.put_user_policy(user.user_id, name, document)
    return _json({"UserName": user.name, "PolicyName": name})


async def _policies(req: Request, user: UserRecord) -> list[tuple[str, str]]:
    return await req.server.engine.iam.list_user_policies(user.user_id)


async def get_user_policy(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    name = _str(f, "PolicyName", _POLICY_NAME)
    for pname, document in await _policies(req, user):
        if pname == name:
            return _json({"UserName": user.name, "PolicyName": pname, "PolicyDocument": document})
    raise _no_such(f"policy {name!r} of user {user.name!r}")


async def list_user_policies(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    return _json({"UserName": user.name,
                  "Policies": [{"PolicyName": n, "PolicyDocument": d} for n, d in await _policies(req, user)]})


async def delete_user_policy(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    name = _str(f, "PolicyName", _POLICY_NAME)
    if not await req.server.engine.iam.delete_user_policy(user.user_id, name):
        raise _no_such(f"policy {name!r} of user {user.name!r}")
    return _json({"UserName": user.name, "PolicyName": name, "Deleted": True})


async def assume_role(req: Request, f: dict) -> Response:
    user = await _user(req, _user_name(f))
    duration: Any = f.get("DurationSeconds", sts.DEFAULT_DURATION)
    if isinstance(duration, str):
        duration = numeric.parse_decimal(duration, sts.MAX_DURATION)
    if isinstance(duration, bool) or not isinstance(duration, int) \
            or not sts.MIN_DURATION <= duration <= sts.MAX_DURATION:
        raise errors.InvalidArgument(f"DurationSeconds must be an integer between {sts.MIN_DURATION} "
                                     f"and {sts.MAX_DURATION}.", ArgumentName="DurationSeconds")
    policy = f.get("Policy")
    if policy is not None and policy != "":
        policy = _policy_text(policy, "Policy", MAX_SESSION_POLICY_LENGTH)
    else:
        policy = None
    creds = req.server.sts.issue(user.user_id, duration, policy)
    return _json({
        "Credentials": creds,
        "AssumedRoleUser": {"UserId": user.user_id, "UserName": user.name,
                            "Arn": f"acs:ram::{req.server.owner_id}:user/{user.name}",
                            "AssumedRoleId": f"{user.user_id}:{creds['AccessKeyId']}"},
    })


# -- the built-in KMS --------------------------------------------------------------------------------
async def _kms_doc(req: Request, k: KmsKeyRecord) -> dict:
    default = await req.server.engine.sse.default_kms_key_id()
    return {"KeyId": k.key_id, "KeyState": k.status, "Description": k.description,
            "CreationDate": _iso(k.created), "Default": k.key_id == default}


async def _kms_key(req: Request, f: dict) -> KmsKeyRecord:
    key_id = _str(f, "KeyId")
    rec = await req.server.engine.sse.get_kms_key(key_id)
    if rec is None:
        raise _no_such(f"KMS key {key_id!r}")
    return rec


async def create_kms_key(req: Request, f: dict) -> Response:
    description = _str(f, "Description", required=False) or ""
    if len(description) > MAX_KMS_DESCRIPTION:
        raise errors.InvalidArgument(f"Description must be at most {MAX_KMS_DESCRIPTION} characters.",
                                     ArgumentName="Description")
    rec = await req.server.engine.sse.create_kms_key(description)
    return _json(await _kms_doc(req, rec))


async def list_kms_keys(req: Request, f: dict) -> Response:
    keys = await req.server.engine.sse.list_kms_keys()
    return _json({"Keys": [await _kms_doc(req, k) for k in keys]})


async def describe_kms_key(req: Request, f: dict) -> Response:
    return _json(await _kms_doc(req, await _kms_key(req, f)))


def _set_kms_state(state: str):
    async def handler(req: Request, f: dict) -> Response:
        rec = await _kms_key(req, f)
        if not await req.server.engine.sse.set_kms_key_status(rec.key_id, state):
            raise _no_such(f"KMS key {rec.key_id!r}")
        return _json({"KeyId": rec.key_id, "KeyState": state})
    return handler


Handler = Callable[[Request, dict], Awaitable[Response]]
# action -> (handler, changes state)
ACTIONS: dict[str, tuple[Handler, bool]] = {
    "CreateUser": (create_user, True),
    "ListUsers": (list_users, False),
    "GetUser": (get_user, False),
    "DeleteUser": (delete_user, True),
    "CreateAccessKey": (create_access_key, True),
    "ListAccessKeys": (list_access_keys, False),
    "UpdateAccessKey": (update_access_key, True),
    "DeleteAccessKey": (delete_access_key, True),
    "PutUserPolicy": (put_user_policy, True),
    "GetUserPolicy": (get_user_policy, False),
    "ListUserPolicies": (list_user_policies, False),
    "DeleteUserPolicy": (delete_user_policy, True),
    "AssumeRole": (assume_role, True),
    "CreateKmsKey": (create_kms_key, True),
    "ListKmsKeys": (list_kms_keys, False),
    "DescribeKmsKey": (describe_kms_key, False),
    "DisableKmsKey": (_set_kms_state(sse.DISABLED), True),
    "EnableKmsKey": (_set_kms_state(sse.ENABLED), True),
}


async def dispatch(req: Request) -> Response:
    if not _is_root(req):
        raise errors.AccessDenied("Only the root account may use the admin API.")
    action = _check_binding(req)
    entry = ACTIONS.get(action)
    if entry is None:
        raise errors.InvalidArgument("Unknown admin action.", ArgumentName=ACTION_PARAM,
                                     ArgumentValue=action[:64])
    handler, changes = entry
    allowed = ("POST",) if changes else ("GET", "POST")
    if req.method not in allowed:
        raise errors.MethodNotAllowed(f"{action} needs {' or '.join(allowed)}.", Method=req.method)
    raw = await _signed_body(req)
    await _claim_signature(req)
    return await handler(req, _fields(raw))
