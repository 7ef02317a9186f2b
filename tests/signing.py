"""Client-side OSS signing (V1, V2, V4; header and presigned URL) for tests that build requests by
hand. It shares the server's canonical forms, so it signs what the verifier's first candidate is;
tests that must not trust that use the SDKs' own signers instead."""
from __future__ import annotations

from typing import Iterable, Optional

from ossbox.auth.signature_v1 import (_v1_base_resource, _v1_oss_headers, _v1_primary_params, _v1_resource,
                                      _v1_split)
from ossbox.auth.signature_v2 import _v2_headers, _v2_resource
from ossbox.auth.signature_v4 import (_UNSIGNED, _V4_ALGO, _V4_PRODUCT, _V4_TERM, _v4_headers,
                                      _v4_query_string, _v4_sig, _v4_uri, v4_string_to_sign)
from ossbox.auth.signed_request import SignedRequest, _b64_hmac, _utf8, _wire


def v1_string_to_sign(req: SignedRequest, date: Optional[str] = None) -> str:
    """The V1 StringToSign as the server builds its first candidate (superset of sub-resources,
    plus every x-oss-* query key, like Go v2).  `date` defaults to x-oss-date, else Date."""
    h = req.headers
    if date is None:
        date = h.get("x-oss-date") or h.get("date", "")
    signed, amb_keys, amb = _v1_split(req.query)
    resource = _v1_resource(_v1_base_resource(req.bucket, req.key),
                            _v1_primary_params(signed, amb_keys, amb))
    return (req.method + "\n" + _wire(h.get("content-md5", "")) + "\n" + _wire(h.get("content-type", ""))
            + "\n" + date + "\n" + _v1_oss_headers(h, True) + resource)


def sign_v1_header(req: SignedRequest, access_key_id: str, secret: str) -> str:
    """The `Authorization` value for `req` (which must carry its Date / x-oss-date header)."""
    sig = _b64_hmac(_utf8(secret), _utf8(v1_string_to_sign(req)), "sha1").decode()
    return f"OSS {access_key_id}:{sig}"


def presign_v1(req: SignedRequest, access_key_id: str, secret: str, expires: int) -> list[tuple[str, str]]:
    """Query pairs to add for a V1 presigned URL valid until unix time `expires`.  An STS token must
    already be in req.query as ("security-token", token)."""
    sig = _b64_hmac(_utf8(secret), _utf8(v1_string_to_sign(req, str(int(expires)))), "sha1").decode()
    return [("OSSAccessKeyId", access_key_id), ("Expires", str(int(expires))), ("Signature", sig)]


def v2_string_to_sign(req: SignedRequest, additional_headers: Iterable[str] = (), *,
                      date: Optional[str] = None, exclude: Iterable[str] = ()) -> str:
    h = req.headers
    names = sorted({n.lower() for n in additional_headers})
    if date is None:
        date = h.get("date") or h.get("x-oss-date", "")
    ex = frozenset(exclude)
    params = [(k, v) for k, v in req.query if k not in ex]
    return (req.method + "\n" + _wire(h.get("content-md5", "")) + "\n" + _wire(h.get("content-type", ""))
            + "\n" + date + "\n" + _v2_headers(h, frozenset(names), True) + ";".join(names) + "\n"
            + _v2_resource(req.bucket, req.key, params))


def sign_v2_header(req: SignedRequest, access_key_id: str, secret: str,
                   additional_headers: Iterable[str] = ()) -> str:
    names = sorted({n.lower() for n in additional_headers})
    sig = _b64_hmac(_utf8(secret), _utf8(v2_string_to_sign(req, names)), "sha256").decode()
    if names:
        return f"OSS2 AccessKeyId:{access_key_id},AdditionalHeaders:{';'.join(names)},Signature:{sig}"
    return f"OSS2 AccessKeyId:{access_key_id},Signature:{sig}"


def v4_canonical_request(req: SignedRequest, additional_headers: Iterable[str] = (), *,
                         exclude: Iterable[str] = ("x-oss-signature",), fix: bool = True) -> str:
    h = req.headers
    names = sorted({n.strip().lower() for n in additional_headers if n.strip()})
    ex = frozenset(exclude)
    return (req.method + "\n" + _v4_uri(req.bucket, req.key) + "\n"
            + _v4_query_string((k, v) for k, v in req.query if k not in ex) + "\n"
            + _v4_headers(h, frozenset(names), fix) + "\n" + ";".join(names) + "\n"
            + (h.get("x-oss-content-sha256") or _UNSIGNED))


def sign_v4_header(req: SignedRequest, access_key_id: str, secret: str, region: str,
                   additional_headers: Iterable[str] = ()) -> str:
    """The `Authorization` value; req.headers must already carry x-oss-date (yyyymmddTHHMMSSZ) and
    x-oss-content-sha256."""
    names = sorted({n.strip().lower() for n in additional_headers if n.strip()})
    dt = req.headers["x-oss-date"]
    scope = f"{dt[:8]}/{region}/{_V4_PRODUCT}/{_V4_TERM}"
    sts = v4_string_to_sign(v4_canonical_request(req, names, exclude=()), dt, scope)
    sig = _v4_sig(secret, dt[:8], region, _V4_PRODUCT, sts).decode()
    out = f"{_V4_ALGO} Credential={access_key_id}/{scope}"
    if names:
        out += ",AdditionalHeaders=" + ";".join(names)
    return out + ",Signature=" + sig


def presign_v4(req: SignedRequest, access_key_id: str, secret: str, region: str, *, datetime_: str,
               expires: int, additional_headers: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Query pairs to append for a V4 presigned URL signed at `datetime_` (yyyymmddTHHMMSSZ) and
    valid for `expires` seconds.  An STS token must already be in req.query as x-oss-security-token."""
    names = sorted({n.strip().lower() for n in additional_headers if n.strip()})
    scope = f"{datetime_[:8]}/{region}/{_V4_PRODUCT}/{_V4_TERM}"
    extra = [("x-oss-signature-version", _V4_ALGO), ("x-oss-date", datetime_),
             ("x-oss-expires", str(int(expires))), ("x-oss-credential", f"{access_key_id}/{scope}")]
    if names:
        extra.append(("x-oss-additional-headers", ";".join(names)))
    tmp = SignedRequest(req.method, req.bucket, req.key, list(req.query) + extra, req.headers)
    sts = v4_string_to_sign(v4_canonical_request(tmp, names), datetime_, scope)
    return extra + [("x-oss-signature", _v4_sig(secret, datetime_[:8], region, _V4_PRODUCT, sts).decode())]
