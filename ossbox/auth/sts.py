"""STS-style temporary credentials, stateless.

An issued credential is three strings:

* AccessKeyId  ``STS.`` + 24 random alphanumerics;
* AccessKeySecret  derived from the server key and the AccessKeyId (HMAC-SHA256), so the server
  never stores anything per issued credential;
* SecurityToken  ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))`` where the payload
  is compact JSON naming the AccessKeyId, the user id, the expiry (Unix seconds) and the session
  policy (or null).

Verification recomputes the MAC (constant-time comparison), checks that the token names the
AccessKeyId the request was signed with, then checks the expiry. The server key lives in the
metadata settings under ``sts-key`` (hex); rotating it invalidates every outstanding credential.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
import time
from datetime import datetime, timezone
from typing import Optional

from .. import errors
from .signed_request import Credential

STS_PREFIX = "STS."
STS_KEY_SETTING = "sts-key"  # the server secret (storage/server_keys.py) signing tokens
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 900, 43200, 3600
SECRET_LENGTH = 30
_ALNUM = string.ascii_letters + string.digits
_TOKEN_DOMAIN = b"ossbox-sts-token\0"
_SECRET_DOMAIN = b"ossbox-sts-secret\0"
MAX_TOKEN_LENGTH = 16 * 1024


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not text or len(text) % 4 == 1 or not set(text) <= set(_ALNUM + "-_"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def iso8601(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class StsService:
    def __init__(self, key: bytes):
        if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
            raise ValueError("the STS key must be at least 16 bytes")
        self._key = bytes(key)

    def __repr__(self) -> str:  # never show the key
        return "StsService(<key>)"

    # -- derivations -------------------------------------------------------------------------------
    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _TOKEN_DOMAIN + payload, hashlib.sha256).digest()

    def _secret(self, access_key_id: str) -> str:
        digest = hmac.new(self._key, _SECRET_DOMAIN + access_key_id.encode("utf-8"), hashlib.sha256).digest()
        return _b64e(digest)[:SECRET_LENGTH]

    # -- issue ---------------------------------------------------------------------------------------
    def issue(self, user_id: str, duration: int, policy: Optional[str], now: Optional[float] = None) -> dict:
        """Credentials for `user_id` valid for `duration` seconds, restricted by `policy` if given."""
        if not user_id:
            raise errors.InvalidArgument("A user id is required.")
        if isinstance(duration, bool) or not isinstance(duration, int) \
                or not MIN_DURATION <= duration <= MAX_DURATION:
            raise errors.InvalidArgument(
                f"DurationSeconds must be an integer between {MIN_DURATION} and {MAX_DURATION}.")
        now = time.time() if now is None else now
        expires = int(now) + duration
        access_key_id = STS_PREFIX + "".join(secrets.choice(_ALNUM) for _ in range(24))
        payload = json.dumps({"ak": access_key_id, "uid": user_id, "exp": expires, "pol": policy},
                             separators=(",", ":"), sort_keys=True).encode("utf-8")
        token = _b64e(payload) + "." + _b64e(self._mac(payload))
        return {
            "AccessKeyId": access_key_id,
            "AccessKeySecret": self._secret(access_key_id),
            "SecurityToken": token,
            "Expiration": iso8601(expires),
        }

    # -- verify --------------------------------------------------------------------------------------
    def credential(self, access_key_id: str, token: Optional[str], now: Optional[float] = None) -> Credential:
        """The credential behind an STS AccessKeyId, given the request's security token.

        Missing, malformed, tampered or mismatched tokens are InvalidSecurityToken; an expired
        one is SecurityTokenExpired (only reported once the token is proven genuine)."""
        if not access_key_id or not access_key_id.startswith(STS_PREFIX):
            raise errors.InvalidAccessKeyId()
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise errors.InvalidSecurityToken()
        body, sep, mac = token.partition(".")
        if not sep:
            raise errors.InvalidSecurityToken()
        try:
            payload = _b64d(body)
            given = _b64d(mac)
        except (ValueError, binascii.Error):
            raise errors.InvalidSecurityToken()
        if not hmac.compare_digest(self._mac(payload), given):
            raise errors.InvalidSecurityToken()
        try:
            claims = json.loads(payload)
            ak, uid, exp, pol = claims["ak"], claims["uid"], claims["exp"], claims["pol"]
        except (ValueError, KeyError, TypeError):
            raise errors.InvalidSecurityToken()
        if not isinstance(ak, str) or not isinstance(uid, str) or not uid \
                or isinstance(exp, bool) or not isinstance(exp, int) \
                or not (pol is None or isinstance(pol, str)):
            raise errors.InvalidSecurityToken()
        if not hmac.compare_digest(ak.encode("utf-8"), access_key_id.encode("utf-8")):
            raise errors.InvalidSecurityToken()
        now = time.time() if now is None else now
        if now >= exp:
            raise errors.SecurityTokenExpired(Expiration=iso8601(exp))
        return Credential(access_key_id, self._secret(access_key_id), principal=uid, session_policy=pol)
