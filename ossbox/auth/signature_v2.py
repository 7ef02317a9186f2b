"""V2 signatures (oss2 AuthV2, ``Authorization: OSS2 ...`` and ``?x-oss-signature-version=OSS2``):
HMAC-SHA256; all query params, encoded; the path is encoded including "/"."""
from __future__ import annotations

import hmac
from typing import Iterator, Optional

from .. import errors
from .signed_request import (Credential, SignedRequest, _auth_fields, _b64_hmac, _check_absolute_expiry,
                             _enc, _get_cred, _non_ascii, _query_variants, _show, _signed_dates,
                             _split_names, _sts_bytes, _try_alternatives, _utf8, _wire)


def _v2_resource(bucket: Optional[str], key: Optional[str], params: list[tuple[str, str]]) -> str:
    if bucket:
        uri = _enc("/" + bucket + "/" + (key or ""))
    else:
        uri = "%2F"
    if not params:
        return uri
    enc = sorted((_enc(k), _enc(v)) for k, v in params)
    return uri + "?" + "&".join(k + "=" + v if v else k for k, v in enc)


def _v2_headers(headers: dict[str, str], additional: frozenset, fix: bool) -> str:
    items = sorted((k, v) for k, v in headers.items() if k.startswith("x-oss-") or k in additional)
    if fix:
        return "".join(k + ":" + _wire(v.strip()) + "\n" for k, v in items)
    return "".join(k + ":" + v.strip() + "\n" for k, v in items)


def _v2_verify(req: SignedRequest, cred: Credential, ak: str, provided: str, names: list[str],
               dates: list[str], exclude: frozenset) -> None:
    h = req.headers
    secret = _utf8(cred.secret)
    want = _utf8(provided.strip())
    addl = frozenset(names)
    line = ";".join(names)
    base_q = [(k, v) for k, v in req.query if k not in exclude]

    def sts(fix: bool, date: str, params: list) -> str:
        md5 = h.get("content-md5", "")
        ctype = h.get("content-type", "")
        if fix:
            md5, ctype = _wire(md5), _wire(ctype)
        return (req.method + "\n" + md5 + "\n" + ctype + "\n" + date + "\n" + _v2_headers(h, addl, fix)
                + line + "\n" + _v2_resource(req.bucket, req.key, params))

    first = sts(True, dates[0], base_q)
    first_b = _utf8(first)
    if hmac.compare_digest(_b64_hmac(secret, first_b, "sha256"), want):
        return

    def alternatives() -> Iterator[str]:
        fixes = [True]
        if _non_ascii(h, [k for k in h if k.startswith("x-oss-") or k in addl]
                      + ["content-md5", "content-type"]):
            fixes.append(False)
        qforms = [base_q] + list(_query_variants(base_q, False))
        for fix in fixes:
            for date in dates:
                for q in qforms:
                    yield sts(fix, date, q)

    if _try_alternatives(alternatives(), first, lambda s: hmac.compare_digest(
            _b64_hmac(secret, _utf8(s), "sha256"), want)):
        return
    raise errors.SignatureDoesNotMatch(StringToSign=_show(first_b), StringToSignBytes=_sts_bytes(first_b),
                                       SignatureProvided=_show(provided), OSSAccessKeyId=_show(ak))


def _v2_header(req: SignedRequest, auth: str, lookup, now: float) -> Credential:
    fields = _auth_fields(auth[5:], ":")
    ak = fields.get("AccessKeyId", "")
    sig = fields.get("Signature", "")
    if not ak or not sig:
        raise errors.InvalidAuthorization()
    names = _split_names(fields.get("AdditionalHeaders", ""))
    dates = _signed_dates(req.headers, ("date", "x-oss-date"), now)
    cred = _get_cred(lookup, ak)
    _v2_verify(req, cred, ak, sig, names, dates, frozenset())
    return cred


def _v2_query(req: SignedRequest, q: dict[str, str], lookup, now: float) -> Credential:
    ak = q.get("x-oss-access-key-id", "")
    sig = q.get("x-oss-signature", "")
    exp = q.get("x-oss-expires", "")
    if not ak or not sig:
        raise errors.MissingQueryAuth()
    sig = sig.replace(" ", "+").strip()
    if not exp:
        raise errors.MissingExpires()
    exp = _check_absolute_expiry(exp, "x-oss-expires", now)
    names = _split_names(q.get("x-oss-additional-headers", ""))
    cred = _get_cred(lookup, ak)
    _v2_verify(req, cred, ak, sig, names, [exp], frozenset(("x-oss-signature",)))
    return cred
