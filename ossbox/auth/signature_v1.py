"""V1 signatures (``Authorization: OSS <ak>:<base64 hmac-sha1>`` and ``?OSSAccessKeyId=&Expires=
&Signature=``): HMAC-SHA1 over the sub-resources of the query; the SDKs' differing sub-resource lists
make some query keys ambiguous, and those drive the alternative candidates."""
from __future__ import annotations

import hmac
from typing import Iterator, Optional

from .. import errors
from .signed_request import (Credential, SignedRequest, _b64_hmac, _check_absolute_expiry, _get_cred,
                             _non_ascii, _query_variants, _show, _signed_dates, _sts_bytes,
                             _try_alternatives, _utf8, _wire)
from .subresources import _CORE_SUB, _JAVA_SUB, _OSS2_SUB, _V1_INTERPRETED, _V1_PLAIN


def _v1_base_resource(bucket: Optional[str], key: Optional[str]) -> str:
    if not bucket:
        return "/"
    return "/" + bucket + "/" + (key or "")


def _v1_oss_headers(headers: dict[str, str], fix: bool) -> str:
    items = [(k, v) for k, v in headers.items() if k.startswith("x-oss-")]
    if not items:
        return ""
    items.sort()
    if fix:
        return "".join(k + ":" + _wire(v.strip()) + "\n" for k, v in items)
    return "".join(k + ":" + v.strip() + "\n" for k, v in items)


def _v1_split(query: list[tuple[str, str]]):
    """-> (signed pairs, ambiguous keys in order, ambiguous pairs by key)."""
    signed = []
    amb_keys: list[str] = []
    amb: dict[str, list[tuple[str, str]]] = {}
    for k, v in query:
        if k in _CORE_SUB:
            signed.append((k, v))
        elif k in _V1_PLAIN:
            continue
        else:
            lst = amb.get(k)
            if lst is None:
                amb[k] = lst = []
                amb_keys.append(k)
            lst.append((k, v))
    return signed, amb_keys, amb


def _v1_resource(base: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return base
    params.sort()
    return base + "?" + "&".join(k + "=" + v if v else k for k, v in params)


def _v1_primary_params(signed, amb_keys, amb) -> list[tuple[str, str]]:
    params = list(signed)
    for k in amb_keys:
        if k.startswith("x-oss-"):
            params.extend(amb[k])
    return params


def _v1_verify(req: SignedRequest, cred: Credential, ak: str, provided: str, dates: list[str]) -> None:
    h = req.headers
    method = req.method
    secret = _utf8(cred.secret)
    want = _utf8(provided.strip())
    base = _v1_base_resource(req.bucket, req.key)
    query = req.query

    def sts(fix: bool, date: str, hdrs: str, params: list) -> str:
        md5 = h.get("content-md5", "")
        ctype = h.get("content-type", "")
        if fix:
            md5, ctype = _wire(md5), _wire(ctype)
        return method + "\n" + md5 + "\n" + ctype + "\n" + date + "\n" + hdrs + _v1_resource(base, params)

    signed, amb_keys, amb = _v1_split(query)
    hdrs_fixed = _v1_oss_headers(h, True)
    first = sts(True, dates[0], hdrs_fixed, _v1_primary_params(signed, amb_keys, amb))
    first_b = _utf8(first)
    if hmac.compare_digest(_b64_hmac(secret, first_b, "sha1"), want):
        return

    def alternatives() -> Iterator[str]:
        header_forms = [(True, hdrs_fixed)]
        if _non_ascii(h, [k for k in h if k.startswith("x-oss-")] + ["content-md5", "content-type"]):
            header_forms.append((False, _v1_oss_headers(h, False)))
        query_forms = [(signed, amb_keys, amb)]
        for qv in _query_variants(query, True):
            query_forms.append(_v1_split(qv))
        for fix, hdrs in header_forms:
            for date in dates:
                for sg, ak_, am in query_forms:
                    for subset in _subsets(ak_):
                        params = list(sg)
                        for k in subset:
                            params.extend(am[k])
                        yield sts(fix, date, hdrs, params)

    if _try_alternatives(alternatives(), first, lambda s: hmac.compare_digest(
            _b64_hmac(secret, _utf8(s), "sha1"), want)):
        return
    must = sorted({k for k, _ in query if k in _V1_INTERPRETED})
    message = None
    if must:
        message = (errors.SignatureDoesNotMatch.message + " The query parameters " + ", ".join(must)
                   + " change what the request does, so the signature must cover them.")
    raise errors.SignatureDoesNotMatch(message, StringToSign=_show(first_b),
                                       StringToSignBytes=_sts_bytes(first_b),
                                       SignatureProvided=_show(provided), OSSAccessKeyId=_show(ak))


def _subsets(keys: list[str]) -> Iterator[list[str]]:
    """Subsets of the ambiguous keys: x-oss-* only (the primary shape) first, then the others."""
    n = len(keys)
    if n == 0:
        yield []
        return
    xoss = [k for k in keys if k.startswith("x-oss-")]
    yield xoss
    if n <= 4:
        for mask in range(1 << n):
            sub = [keys[i] for i in range(n) if mask >> i & 1]
            if sub != xoss:
                yield sub
    else:
        for sub in ([], [k for k in keys if k in _OSS2_SUB or k in _JAVA_SUB], list(keys)):
            if sub != xoss:
                yield sub


def _v1_header(req: SignedRequest, auth: str, lookup, now: float) -> Credential:
    ak, sep, sig = auth[4:].strip().rpartition(":")
    ak = ak.strip()
    sig = sig.strip()
    if not sep or not ak or not sig:
        raise errors.InvalidAuthorization()
    dates = _signed_dates(req.headers, ("x-oss-date", "date"), now)
    cred = _get_cred(lookup, ak)
    _v1_verify(req, cred, ak, sig, dates)
    return cred


def _v1_query(req: SignedRequest, q: dict[str, str], lookup, now: float) -> Credential:
    ak = q.get("OSSAccessKeyId", "")
    sig = q.get("Signature", "")
    exp = q.get("Expires", "")
    if not ak or not sig or not exp:
        raise errors.MissingQueryAuth()
    # an unencoded base64 "+" arrives as a space, also as the first character: convert, then strip
    sig = sig.replace(" ", "+").strip()
    exp = _check_absolute_expiry(exp, "Expires", now)
    cred = _get_cred(lookup, ak)
    dates = [exp]
    xdate = req.headers.get("x-oss-date")
    if xdate:                         # oss2 lets an x-oss-date header win over Expires
        dates.append(xdate)
    _v1_verify(req, cred, ak, sig, dates)
    return cred
