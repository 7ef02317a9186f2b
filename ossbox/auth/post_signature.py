"""Signatures of PostObject forms (browser uploads): the client signs the base64 `policy` form
field itself, not a canonical request (OSS: "PostObject V1 signature" / "PostObject V4 signature").

* V1: ``Signature`` = base64(HMAC-SHA1(AccessKeySecret, policy))
* V4: ``x-oss-signature`` = hex(HMAC-SHA256(signing key, policy)), the signing key derived exactly
  as for a V4 header signature from ``x-oss-credential`` =
  ``<AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request``; ``x-oss-date`` (yyyymmddTHHMMSSZ)
  must be that day, at most 15 minutes ahead of the server and at most 7 days old.

The credential behind the AccessKeyId is looked up by the caller (the server's one lookup: root,
RAM user keys, STS keys with their token), so this module only checks what was signed.
"""
from __future__ import annotations

import hmac
from typing import Optional

from .. import errors
from .signature_v4 import V4_MAX_EXPIRES, _V4_ALGO, _v4_parse_credential, _v4_signing_key
from .signed_request import Credential, _b64_hmac, _iso, _parse_iso_basic, _show, _utf8

POST_V4_ALGO = _V4_ALGO
_MAX_AHEAD_SECONDS = 15 * 60   # "x-oss-date may lie up to 15 minutes after the server's clock"


def check_post_v1(cred: Credential, policy: str, signature: str) -> None:
    want = _b64_hmac(_utf8(cred.secret), _utf8(policy), "sha1")
    if not hmac.compare_digest(want, _utf8(signature.strip())):
        raise errors.SignatureDoesNotMatch(StringToSign=_show(policy[:1024]),
                                           OSSAccessKeyId=_show(cred.access_key_id))


def parse_post_v4(credential: str, date: str, region: str, now: float) -> tuple[str, str]:
    """(AccessKeyId, yyyymmdd) of a V4 form, once its credential scope and date are valid."""
    try:
        ak, date8, _reg, _product, _scope = _v4_parse_credential(credential, region, False)
    except errors.OssError as exc:
        if exc.ec != errors.InvalidSigningRegionQuery.ec:
            raise
        # the form's own EC, naming the field as OSS's page for it shows (0002-00000715)
        raise errors.InvalidSigningRegionPost(ArgumentName="x-oss-credential",
                                              ArgumentValue=_show(credential[:256])) from None
    ts = _parse_iso_basic(date.strip())
    if ts is None:
        raise errors.InvalidArgument("x-oss-date must be in the form yyyymmddTHHMMSSZ.",
                                     ArgumentName="x-oss-date", ArgumentValue=_show(date[:64]))
    if date.strip()[:8] != date8:
        raise errors.InvalidArgument("The date of x-oss-credential must be the day of x-oss-date.",
                                     ArgumentName="x-oss-credential", ArgumentValue=_show(credential[:256]))
    if ts - now > _MAX_AHEAD_SECONDS:
        raise errors.RequestTimeTooSkewed(RequestTime=_show(date[:64]), ServerTime=_iso(now))
    if now - ts > V4_MAX_EXPIRES:
        raise errors.RequestExpired(Expires=_iso(ts + V4_MAX_EXPIRES), ServerTime=_iso(now))
    return ak, date8


def check_post_v4(cred: Credential, date8: str, region: str, policy: str, signature: str) -> None:
    key = _v4_signing_key(cred.secret, date8, region, "oss")
    want = hmac.digest(key, _utf8(policy), "sha256").hex()
    if not hmac.compare_digest(want.encode(), _utf8(signature.strip().lower())):
        raise errors.SignatureDoesNotMatch(StringToSign=_show(policy[:1024]),
                                           OSSAccessKeyId=_show(cred.access_key_id))


def v4_version_ok(value: Optional[str]) -> bool:
    return value is not None and value.strip() == POST_V4_ALGO
