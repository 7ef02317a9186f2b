"""Server-side verification of OSS request signatures.

Supported, exactly as the official SDKs sign (checked against oss2 2.19, alibabacloud-oss-v2 1.4,
the Go v2 SDK and the Java SDK):

* V1  header  ``Authorization: OSS <ak>:<base64 hmac-sha1>``
* V1  URL     ``?OSSAccessKeyId=&Expires=&Signature=[&security-token=]``
* V2  header  ``Authorization: OSS2 AccessKeyId:<ak>,AdditionalHeaders:<h;h>,Signature:<b64 sha256>``
* V2  URL     ``?x-oss-signature-version=OSS2&x-oss-expires=&x-oss-access-key-id=&x-oss-signature=``
* V4  header  ``Authorization: OSS4-HMAC-SHA256 Credential=<ak>/<date>/<region>/oss/aliyun_v4_request,
  [AdditionalHeaders=<h;h>,]Signature=<hex>`` (items in any order, with or without spaces)
* V4  URL     ``?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=&x-oss-date=&x-oss-expires=
  [&x-oss-additional-headers=]&x-oss-signature=``

Input conventions (see `SignedRequest`): header values are what the HTTP layer decoded — ossbox's
layer decodes header bytes as latin-1, so a non-ASCII value is first re-read as the UTF-8 the SDK
signed (with the value taken verbatim as a fallback candidate); query pairs are percent-decoded
(``+`` as space, the way oss2/requests encode); the key is the decoded UTF-8 object key.

Hot path cost: one HMAC (V1/V2) or one SHA-256 + one HMAC (V4, the derived signing key is cached).
Alternative canonical forms are only tried when the first candidate does not match.

This module picks the version and form; each version's canonical form and check is in
signature_v1.py, signature_v2.py and signature_v4.py, what they share in signed_request.py, and
the SDKs' V1 sub-resource lists in subresources.py. (Signing a request is the client's job: the
CLI leaves it to the SDK; tests that build requests by hand sign with tests/signing.py.)
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from .. import errors
from ..errors import OssError
from .signature_v1 import _v1_header, _v1_query
from .signature_v2 import _v2_header, _v2_query
from .signature_v4 import _V4_ALGO, _v4_header, _v4_query
from .signed_request import Credential, SignedRequest, _LookupFailure, _first_values, _show

_QUERY_AUTH_KEYS = frozenset((
    "OSSAccessKeyId", "Signature", "x-oss-signature", "x-oss-signature-version",
    "x-oss-credential", "x-oss-access-key-id",
))


def _authenticate(req: SignedRequest, lookup, region: str, now: float) -> Optional[Credential]:
    headers = req.headers
    auth = headers.get("authorization")
    has_query_auth = False
    for k, _ in req.query:
        if k in _QUERY_AUTH_KEYS:
            has_query_auth = True
            break
    if auth is not None:
        auth = auth.strip()
    if auth:
        if has_query_auth:
            raise errors.BothAuthMethods()
        if auth.startswith("OSS4-HMAC-SHA256 "):
            return _v4_header(req, auth, lookup, now, region)
        if auth.startswith("OSS2 "):
            return _v2_header(req, auth, lookup, now)
        if auth.startswith("OSS "):
            return _v1_header(req, auth, lookup, now)
        raise errors.InvalidAuthorization("Authorization header is invalid: unsupported scheme.")
    if not has_query_auth:
        return None
    q = _first_values(req.query)
    version = q.get("x-oss-signature-version")
    if version is not None:
        if version == _V4_ALGO:
            return _v4_query(req, q, lookup, now, region)
        if version == "OSS2":
            return _v2_query(req, q, lookup, now)
        raise errors.InvalidArgument("Unsupported x-oss-signature-version.",
                                     ArgumentName="x-oss-signature-version", ArgumentValue=_show(version[:64]))
    if "OSSAccessKeyId" in q or "Signature" in q:
        return _v1_query(req, q, lookup, now)
    raise errors.MissingQueryAuth("Query string authentication requires the x-oss-signature-version "
                                  "parameter.")


def authenticate(req: SignedRequest, lookup: Callable[[str], Optional[Credential]], *,
                 region: str, now: Optional[float] = None) -> Optional[Credential]:
    """Return the Credential whose key signed the request, None for an anonymous request
    (no Authorization header and no signature query params). Raise an OssError otherwise.

    Exceptions raised by `lookup` itself propagate unchanged."""
    if now is None:
        now = time.time()
    try:
        return _authenticate(req, lookup, region, now)
    except OssError:
        raise
    except _LookupFailure as e:
        raise e.original from None
    except Exception:  # garbage input we did not anticipate: never leak a non-OSS error
        raise errors.InvalidAuthorization() from None
