"""V4 signatures (``Authorization: OSS4-HMAC-SHA256 ...`` and ``?x-oss-signature-version=
OSS4-HMAC-SHA256``): a canonical request hashed into a string-to-sign, HMAC-SHA256 with a signing
key derived per date, region and product (cached)."""
from __future__ import annotations

import hashlib
import hmac
from typing import Iterable, Iterator, Optional

from .. import errors, numeric
from .signed_request import (MAX_SKEW_SECONDS, Credential, SignedRequest, _auth_fields, _check_skew,
                             _enc, _enc_path, _get_cred, _iso, _non_ascii, _parse_iso_basic,
                             _query_variants, _show, _split_names, _try_alternatives, _utf8, _wire)
from .subresources import _ALL_SUB

V4_MAX_EXPIRES = 604800
_UNSIGNED = "UNSIGNED-PAYLOAD"
_V4_ALGO = "OSS4-HMAC-SHA256"
_V4_TERM = "aliyun_v4_request"
_V4_PRODUCT = "oss"
_V4_DEFAULT_SIGNED = frozenset(("content-type", "content-md5"))
_HEX = frozenset("0123456789abcdefABCDEF")
_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


def _v4_signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    ck = (secret, date, region, product)
    k = _signing_keys.get(ck)
    if k is None:
        k = hmac.digest(_utf8("aliyun_v4" + secret), _utf8(date), "sha256")
        k = hmac.digest(k, _utf8(region), "sha256")
        k = hmac.digest(k, _utf8(product), "sha256")
        k = hmac.digest(k, b"aliyun_v4_request", "sha256")
        if len(_signing_keys) >= 4096:
            _signing_keys.clear()
        _signing_keys[ck] = k
    return k


def _v4_query_string(params: Iterable[tuple[str, str]], empty_with_eq: frozenset = frozenset()) -> str:
    """The canonical query: `k=v`, and `k` alone for an empty value (OSS's V4 rule, as the Go,
    Python v2 and C# v2 SDKs sign) — except keys in `empty_with_eq`, written `k=` (see
    _v4_empty_value_forms)."""
    enc = sorted((_enc(k), _enc(v), k in empty_with_eq) for k, v in params)
    return "&".join(k + "=" + v if v or eq else k for k, v, eq in enc)


def _v4_empty_value_forms(params: list[tuple[str, str]]) -> list[frozenset]:
    """The other ways a client may have written the query's empty values in its canonical query.
    ali-oss (Node.js) serializes with `qs`: a sub-resource it holds as null (`uploads`, `acl`,
    `append`) is a bare `k`, but an empty string in the query options (`list({prefix: ''})`) is
    `k=`. Both forms of the same pair mean the same to the server (`?prefix` and `?prefix=` parse
    alike), so accepting either admits no request the canonical form would not."""
    empty = frozenset(k for k, v in params if not v)
    if not empty:
        return []
    forms = [empty]                                     # every empty value as `k=`
    mixed = frozenset(k for k in empty if k not in _ALL_SUB)
    if mixed and mixed != empty:
        forms.append(mixed)                             # sub-resources bare, the rest `k=`
    return forms


def _v4_headers(headers: dict[str, str], additional: frozenset, fix: bool) -> str:
    items = sorted((k, v) for k, v in headers.items()
                   if k.startswith("x-oss-") or k in _V4_DEFAULT_SIGNED or k in additional)
    if fix:
        return "".join(k + ":" + _wire(v.strip()) + "\n" for k, v in items)
    return "".join(k + ":" + v.strip() + "\n" for k, v in items)


def _v4_uri(bucket: Optional[str], key: Optional[str]) -> str:
    if not bucket:
        return "/"
    return _enc_path("/" + bucket + "/" + (key or ""))


def v4_string_to_sign(canonical_request: str, datetime_: str, scope: str) -> str:
    return (_V4_ALGO + "\n" + datetime_ + "\n" + scope + "\n"
            + hashlib.sha256(_utf8(canonical_request)).hexdigest())


def _v4_sig(secret: str, date8: str, region: str, product: str, sts: str) -> bytes:
    return hmac.digest(_v4_signing_key(secret, date8, region, product), _utf8(sts), "sha256").hex().encode()


def _v4_parse_credential(value: str, region: str, header: bool):
    parts = value.strip().rsplit("/", 4)
    bad = errors.InvalidAuthorization if header else errors.InvalidArgument
    if len(parts) != 5 or not parts[0]:
        raise bad("Invalid credential: expected <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.")
    ak, date8, reg, product, term = parts
    if len(date8) != 8 or not (date8.isdigit() and date8.isascii()) or term != _V4_TERM:
        raise bad("Invalid credential: expected <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.")
    if reg != region:
        refusal = errors.InvalidSigningRegion if header else errors.InvalidSigningRegionQuery
        raise refusal(Region=_show(reg[:128]), ExpectedRegion=region)
    if product != _V4_PRODUCT:
        raise bad("Invalid credential: the signing product must be 'oss'.")
    return ak, date8, reg, product, value.strip()[len(ak) + 1:]


def _v4_check_payload_hash(h: dict[str, str]) -> None:
    v = h.get("x-oss-content-sha256")
    if v is None or v == _UNSIGNED:
        return
    if len(v) == 64 and all(c in _HEX for c in v):
        return
    raise errors.InvalidContentSha256()


def _v4_verify(req: SignedRequest, cred: Credential, ak: str, provided: str, names: list[str],
               dt: str, scope: str, date8: str, reg: str, product: str, exclude: frozenset) -> None:
    h = req.headers
    want = provided.strip().lower().encode("ascii", "replace")
    addl = frozenset(names)
    line = ";".join(names)
    payload = h.get("x-oss-content-sha256") or _UNSIGNED
    uri = _v4_uri(req.bucket, req.key)
    base_q = [(k, v) for k, v in req.query if k not in exclude]

    def canon(fix: bool, params: list, empty_with_eq: frozenset = frozenset()) -> str:
        return (req.method + "\n" + uri + "\n" + _v4_query_string(params, empty_with_eq) + "\n"
                + _v4_headers(h, addl, fix) + "\n" + line + "\n" + payload)

    def check(c: str) -> bool:
        return hmac.compare_digest(_v4_sig(cred.secret, date8, reg, product, v4_string_to_sign(c, dt, scope)),
                                   want)

    first = canon(True, base_q)
    if check(first):
        return

    def alternatives() -> Iterator[str]:
        fixes = [True]
        if _non_ascii(h, [k for k in h if k.startswith("x-oss-") or k in addl or k in _V4_DEFAULT_SIGNED]):
            fixes.append(False)
        qforms = [base_q] + list(_query_variants(base_q, False))
        for fix in fixes:
            for q in qforms:
                yield canon(fix, q)
        for fix in fixes:
            for q in qforms:
                for form in _v4_empty_value_forms(q):
                    yield canon(fix, q, form)

    if _try_alternatives(alternatives(), first, check):
        return
    sts = v4_string_to_sign(first, dt, scope)
    raise errors.SignatureDoesNotMatch(StringToSign=_show(sts), SignatureProvided=_show(provided),
                                       CanonicalRequest=_show(first), OSSAccessKeyId=_show(ak))


def _v4_header(req: SignedRequest, auth: str, lookup, now: float, region: str) -> Credential:
    fields = _auth_fields(auth[len(_V4_ALGO):], "=")
    cred_s = fields.get("Credential", "")
    sig = fields.get("Signature", "")
    if not cred_s or not sig:
        raise errors.InvalidAuthorization()
    names: list[str] = []
    if "AdditionalHeaders" in fields:
        names = _split_names(fields["AdditionalHeaders"])
        if not names:
            raise errors.EmptyAdditionalHeaders()
    ak, date8, reg, product, scope = _v4_parse_credential(cred_s, region, True)
    h = req.headers
    dt = (h.get("x-oss-date") or "").strip()
    if not dt:
        raise errors.MissingDate()
    ts = _parse_iso_basic(dt)
    if ts is None:
        raise errors.MissingDate("The x-oss-date header must be in the form yyyymmddTHHMMSSZ.")
    if dt[:8] != date8:
        raise errors.InvalidAuthorization("Invalid credential date: it does not match the x-oss-date header.")
    _v4_check_payload_hash(h)
    _check_skew(ts, now, dt)
    cred = _get_cred(lookup, ak)
    _v4_verify(req, cred, ak, sig, names, dt, scope, date8, reg, product, frozenset())
    return cred


def _v4_query(req: SignedRequest, q: dict[str, str], lookup, now: float, region: str) -> Credential:
    cred_s = q.get("x-oss-credential", "")
    sig = q.get("x-oss-signature", "")
    if not cred_s or not sig:
        raise errors.MissingQueryAuth("Query string authentication requires the x-oss-signature-version, "
                                      "x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature "
                                      "parameters.")
    dt = q.get("x-oss-date", "").strip()
    if not dt:
        raise errors.MissingDate()
    ts = _parse_iso_basic(dt)
    if ts is None:
        raise errors.MissingDate("The x-oss-date parameter must be in the form yyyymmddTHHMMSSZ.")
    if "x-oss-expires" not in q or not q["x-oss-expires"].strip():
        raise errors.MissingExpires()
    exp_s = q["x-oss-expires"].strip()
    expires = numeric.parse_decimal(exp_s, V4_MAX_EXPIRES, 1)
    if expires is None:
        raise errors.InvalidExpires(ArgumentValue=_show(exp_s[:64]))
    names: list[str] = []
    if "x-oss-additional-headers" in q:
        names = _split_names(q["x-oss-additional-headers"])
        if not names:
            raise errors.EmptyAdditionalHeaders()
    ak, date8, reg, product, scope = _v4_parse_credential(cred_s, region, False)
    if dt[:8] != date8:
        raise errors.InvalidArgument("Invalid credential date: it does not match x-oss-date.")
    _v4_check_payload_hash(req.headers)
    if now > ts + expires:
        raise errors.RequestExpired(Expires=_iso(ts + expires), ServerTime=_iso(now))
    if ts - now > MAX_SKEW_SECONDS:   # signed "in the future": the signer's clock is off
        _check_skew(ts, now, dt)
    cred = _get_cred(lookup, ak)
    _v4_verify(req, cred, ak, sig, names, dt, scope, date8, reg, product, frozenset(("x-oss-signature",)))
    return cred
