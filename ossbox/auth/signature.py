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
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import mktime_tz, parsedate_tz
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import quote_from_bytes

from .. import errors, numeric
from ..errors import OssError

__all__ = [
    "SignedRequest", "Credential", "authenticate",
    "MAX_SKEW_SECONDS", "V4_MAX_EXPIRES",
    "v1_string_to_sign", "sign_v1_header", "presign_v1",
    "v2_string_to_sign", "sign_v2_header",
    "v4_canonical_request", "v4_string_to_sign", "sign_v4_header", "presign_v4",
]


@dataclass
class SignedRequest:
    method: str                      # "GET", "POST", ...
    bucket: Optional[str]            # None for service-level requests (ListBuckets)
    key: Optional[str]               # decoded UTF-8 object key; None for bucket-level requests
    query: list[tuple[str, str]]     # percent-decoded (name, value) pairs as received; `?append` -> ("append", "")
    headers: dict[str, str]          # lower-cased names; repeated headers already joined with ","


@dataclass
class Credential:
    access_key_id: str
    secret: str
    principal: str                   # id of the identity that owns the key
    session_policy: Optional[str] = None  # STS: a policy that must also allow each request


MAX_SKEW_SECONDS = 15 * 60
V4_MAX_EXPIRES = 604800
_UNSIGNED = "UNSIGNED-PAYLOAD"
_V4_ALGO = "OSS4-HMAC-SHA256"
_V4_TERM = "aliyun_v4_request"
_V4_PRODUCT = "oss"
_MAX_ALTERNATIVES = 32          # extra candidates tried after the first one fails

# ---------------------------------------------------------------------------------------------
# V1 sub-resources.  Each SDK has its own list; a server must accept all of them.
#   oss2          ProviderAuth._subresource_key_set (large, includes some x-oss-* keys)
#   python v2     SignerV1._subresource_key_set + the operation's op_metadata['sub-resource']
#   go v2         requiredSignedParametersMap + the operation's SubResource + ANY "x-oss-*" key
#   java          SignParameters.SIGNED_PARAMTERS (+ "seal" in recent versions)
# Keys that select an operation are signed by every SDK that implements that operation, so they
# are "core".  The uncertain ones are query keys starting with "x-oss-" (Go v2 signs all of them,
# oss2/Java a fixed few, python v2 none unless per-op) and keys nobody lists (a newer SDK's per-op
# sub-resource we don't know); those are "ambiguous" and drive the alternative candidates.
_OSS2_SUB = frozenset((
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link",
    "delete", "website", "location", "objectInfo", "objectMeta", "response-expires",
    "response-content-disposition", "cors", "lifecycle", "restore", "qos", "referer", "stat",
    "bucketInfo", "append", "position", "security-token", "live", "comp", "status", "vod",
    "startTime", "endTime", "x-oss-process", "symlink", "callback", "callback-var", "tagging",
    "encryption", "versions", "versioning", "versionId", "policy", "requestPayment",
    "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer", "sequential",
    "inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend",
    "replication", "replicationLocation", "replicationProgress", "transferAcceleration", "cname",
    "metaQuery", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow", "resourceGroup", "style", "styleName", "x-oss-async-process",
    "regionList", "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig",
    "redundancyTransition", "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid",
    "accessPoint", "accessPointPolicy", "publicAccessBlock", "x-oss-access-point-name",
    "requesterQosInfo", "qosRequester", "resourcePoolInfo", "resourcePool", "resourcePoolBuckets",
))
_PYV2_SUB = frozenset((
    # SignerV1._subresource_key_set (identical to Go v2's requiredSignedParametersMap)
    "acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta",
    "uploads", "uploadId", "partNumber", "security-token", "position", "response-content-type",
    "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "restore", "callback",
    "callback-var", "versions", "versioning", "versionId", "sequential", "continuation-token",
    "regionList", "cloudboxes", "symlink", "resourceGroup",
    # per-operation op_metadata['sub-resource'] values
    "MetaQuery", "accessPoint", "accessPointPolicy", "action", "bucketArchiveDirectRead",
    "cleanRestoredObject", "cname", "comp", "cors", "dataPipeline", "encryption", "httpsConfig",
    "inventory", "inventoryId", "legalHold", "lifecycle", "logging", "metaQuery",
    "metadataConfiguration", "metadataInventoryTable", "metadataJournalTable", "objectWorm",
    "overwriteConfig", "policy", "policyStatus", "publicAccessBlock", "quota",
    "redundancyTransition", "referer", "replication", "replicationLocation",
    "replicationProgress", "requestPayment", "retention", "rtc", "seal", "style", "styleName",
    "transferAcceleration", "userDefinedLogFieldsConfig", "website", "worm", "wormExtend",
    "wormId", "x-oss-access-point-name", "x-oss-redundancy-transition-taskid",
    "x-oss-target-redundancy-type",
))
_JAVA_SUB = frozenset((
    "acl", "uploads", "location", "cors", "logging", "website", "referer", "lifecycle", "delete",
    "append", "tagging", "objectMeta", "uploadId", "partNumber", "security-token", "position",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "img", "style",
    "styleName", "replication", "replicationProgress", "replicationLocation", "cname",
    "bucketInfo", "comp", "qos", "live", "status", "vod", "startTime", "endTime", "x-oss-process",
    "processConfiguration", "symlink", "stat", "udf", "udfName", "udfImage", "udfImageDesc",
    "udfApplication", "udfApplicationLog", "restore", "versions", "versioning", "versionId",
    "encryption", "policy", "requestPayment", "x-oss-traffic-limit", "qosInfo", "asyncFetch",
    "sequential", "x-oss-request-payer", "vpcip", "vip", "inventory", "inventoryId",
    "continuation-token", "worm", "wormId", "wormExtend", "callback", "callback-var", "seal",
))
_ALL_SUB = _OSS2_SUB | _PYV2_SUB | _JAVA_SUB
# The rule for V1 (docs/architecture.md "What a V1 signature must cover"): a query key that selects
# or changes an operation must be in the string-to-sign, so that a captured request cannot be made
# into a different one by adding it. The keys that select operations are sub-resources every SDK
# signs (core).  Of the x-oss-* keys, those the server interprets are required to be signed too:
# oss2, Java and Go v2 sign them; python v2 sends them as headers, never in the query.
# (x-oss-process is not among them: python v2 sends it unsigned on GetObject, and ossbox ignores it
# there and refuses POST ?x-oss-process with 501, so it cannot turn a request into another one.)
_V1_INTERPRETED = frozenset(("x-oss-traffic-limit", "x-oss-request-payer"))
_CORE_SUB = frozenset(k for k in _ALL_SUB if not k.startswith("x-oss-")) | _V1_INTERPRETED
# Query keys no SDK signs in V1 (so they never make a request ambiguous).
_V1_PLAIN = frozenset((
    "OSSAccessKeyId", "Expires", "Signature", "prefix", "marker", "max-keys", "delimiter",
    "encoding-type", "list-type", "start-after", "fetch-owner", "key-marker", "upload-id-marker",
    "max-uploads", "max-parts", "part-number-marker", "version-id-marker", "bid", "tag-key",
    "tag-value", "rule-id", "category", "mode", "wildcard", "regions", "playlistName", "since",
    "tail", "max-results", "next-token",
))
_QUERY_AUTH_KEYS = frozenset((
    "OSSAccessKeyId", "Signature", "x-oss-signature", "x-oss-signature-version",
    "x-oss-credential", "x-oss-access-key-id",
))
_V4_DEFAULT_SIGNED = frozenset(("content-type", "content-md5"))
_HEX = frozenset("0123456789abcdefABCDEF")


class _LookupFailure(Exception):
    def __init__(self, original: BaseException):
        self.original = original


# ---------------------------------------------------------------------------------------------
# small helpers

def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass")


def _wire(v: str) -> str:
    """A header value as decoded by the HTTP layer (latin-1) -> the text whose UTF-8 is the raw bytes."""
    if v.isascii():
        return v
    try:
        raw = v.encode("latin-1")
    except UnicodeEncodeError:
        return v                     # already real text
    return raw.decode("utf-8", "surrogateescape")


def _enc(s: str) -> str:
    """RFC 3986 unreserved-only percent-encoding of the UTF-8 bytes (upper-case hex)."""
    if s.isascii() and s.isalnum():
        return s
    return quote_from_bytes(_utf8(s), "")


def _enc_path(s: str) -> str:
    return quote_from_bytes(_utf8(s), "/")


_CTRL = {i: "?" for i in range(32) if i not in (9, 10, 13)}
_CTRL[0x7F] = "?"


def _show(s) -> str:
    """Text safe to put in an XML error body."""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "replace")
    else:
        s = _utf8(s).decode("utf-8", "replace")
    if len(s) > 16384:
        s = s[:16384] + "..."
    return s.translate(_CTRL)


def _sts_bytes(b: bytes) -> str:
    return b[:8192].hex(" ")


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (OverflowError, OSError, ValueError):
        return ""


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_date_cache: dict[str, Optional[float]] = {}


def _ts(y: int, mo: int, d: int, h: int, mi: int, s: int) -> Optional[float]:
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=timezone.utc).timestamp()
    except (ValueError, OverflowError):
        return None


def _parse_iso_basic(s: str) -> Optional[float]:
    """yyyymmddTHHMMSSZ"""
    if len(s) != 16 or s[8] != "T" or s[15] != "Z":
        return None
    d, t = s[:8], s[9:15]
    if not (d.isdigit() and d.isascii() and t.isdigit() and t.isascii()):
        return None
    return _ts(int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]))


def _parse_http_date_uncached(s: str) -> Optional[float]:
    s = s.strip()
    # fast path: "Wed, 28 Dec 2022 10:27:41 GMT"
    if len(s) == 29 and s[3:5] == ", " and s[25:] == " GMT" and s[19] == ":" and s[22] == ":":
        mo = _MONTHS.get(s[8:11])
        num = s[5:7] + s[12:16] + s[17:19] + s[20:22] + s[23:25]
        if mo and num.isdigit() and num.isascii() and s[7] == " " and s[11] == " " and s[16] == " ":
            return _ts(int(s[12:16]), mo, int(s[5:7]), int(s[17:19]), int(s[20:22]), int(s[23:25]))
    v = _parse_iso_basic(s)
    if v is not None:
        return v
    if len(s) > 64:
        return None
    try:
        t = parsedate_tz(s)
        if t is None:
            return None
        return float(mktime_tz(t))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def _parse_http_date(s: Optional[str]) -> Optional[float]:
    if not s:
        return None
    try:
        return _date_cache[s]
    except KeyError:
        pass
    v = _parse_http_date_uncached(s)
    if len(s) <= 64:
        if len(_date_cache) >= 1024:
            _date_cache.clear()
        _date_cache[s] = v
    return v


def _check_skew(ts: float, now: float, shown: str) -> None:
    if abs(now - ts) > MAX_SKEW_SECONDS:
        raise errors.RequestTimeTooSkewed(RequestTime=_show(shown), ServerTime=_iso(now),
                                          MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000))


def _signed_dates(headers: dict[str, str], order: tuple[str, str], now: float) -> list[str]:
    """The date strings a header signature may have signed, preferred first. The preferred header
    that parses sets the request time, which must be within the skew window."""
    first, second = (headers.get(order[0]) or ""), (headers.get(order[1]) or "")
    ts = _parse_http_date(first) if first else None
    shown = first
    if ts is None:
        ts = _parse_http_date(second)
        shown = second
    if ts is None:
        raise errors.MissingDate()
    _check_skew(ts, now, shown)
    dates = [first or second]
    if first and second and second != first:
        dates.append(second)
    return dates


def _check_absolute_expiry(exp: str, param: str, now: float) -> str:
    """A V1/V2 presigned URL's expiry (unix seconds): well-formed and not yet past."""
    exp = exp.strip()
    expires = numeric.parse_decimal(exp, 10 ** 12 - 1)   # 12 digits: far past any real expiry
    if expires is None:
        raise errors.InvalidArgument(f"The {param} parameter must be a unix time in seconds.",
                                     ArgumentName=param, ArgumentValue=_show(exp[:64]))
    if now > expires:
        raise errors.RequestExpired(Expires=_iso(expires), ServerTime=_iso(now))
    return exp


def _get_cred(lookup: Callable[[str], Optional[Credential]], ak: str) -> Credential:
    try:
        cred = lookup(ak)
    except BaseException as e:  # the caller's own failure: let it through untouched
        raise _LookupFailure(e)
    if cred is None:
        raise errors.InvalidAccessKeyId(OSSAccessKeyId=_show(ak))
    return cred


def _first_values(query: list[tuple[str, str]]) -> dict[str, str]:
    d: dict[str, str] = {}
    for k, v in query:
        if k not in d:
            d[k] = v
    return d


def _query_variants(query: list[tuple[str, str]], dedupe: bool) -> Iterator[list[tuple[str, str]]]:
    """Alternative readings of the query: first value per key (Go); '+' <-> ' ' (the client did
    not encode the way the HTTP layer decoded)."""
    if dedupe:
        seen = set()
        q2 = []
        for k, v in query:
            if k not in seen:
                seen.add(k)
                q2.append((k, v))
        if len(q2) != len(query):
            yield q2
    if any(" " in k or " " in v for k, v in query):
        yield [(k.replace(" ", "+"), v.replace(" ", "+")) for k, v in query]
    if any("+" in k or "+" in v for k, v in query):
        yield [(k.replace("+", " "), v.replace("+", " ")) for k, v in query]


def _non_ascii(headers: dict[str, str], names: Iterable[str]) -> bool:
    for n in names:
        v = headers.get(n)
        if v is not None and not v.isascii():
            return True
    return False


# ---------------------------------------------------------------------------------------------
# V1

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


def _b64_hmac(secret: bytes, msg: bytes, algo: str) -> bytes:
    return base64.b64encode(hmac.digest(secret, msg, algo))


def sign_v1_header(req: SignedRequest, access_key_id: str, secret: str) -> str:
    """The `Authorization` value for `req` (which must carry its Date / x-oss-date header)."""
    sig = _b64_hmac(_utf8(secret), _utf8(v1_string_to_sign(req)), "sha1").decode()
    return f"OSS {access_key_id}:{sig}"


def presign_v1(req: SignedRequest, access_key_id: str, secret: str, expires: int) -> list[tuple[str, str]]:
    """Query pairs to add for a V1 presigned URL valid until unix time `expires`.  An STS token must
    already be in req.query as ("security-token", token)."""
    sig = _b64_hmac(_utf8(secret), _utf8(v1_string_to_sign(req, str(int(expires)))), "sha1").decode()
    return [("OSSAccessKeyId", access_key_id), ("Expires", str(int(expires))), ("Signature", sig)]


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


def _try_alternatives(cands: Iterator[str], first: str, check: Callable[[str], bool]) -> bool:
    seen = {first}
    tried = 0
    for s in cands:
        if s in seen:
            continue
        seen.add(s)
        if check(s):
            return True
        tried += 1
        if tried >= _MAX_ALTERNATIVES:
            break
    return False


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


# ---------------------------------------------------------------------------------------------
# V2 (oss2 AuthV2): HMAC-SHA256; all query params, encoded; the path is encoded including "/"

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


def _split_names(value: str) -> list[str]:
    return sorted({n.strip().lower() for n in value.split(";") if n.strip()})


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


def _auth_fields(text: str, sep_char: str) -> dict[str, str]:
    """`Name<sep>value, Name<sep>value` items of an Authorization header (V2 uses ':', V4 '=').
    Empty items are skipped; a malformed or repeated name is InvalidAuthorization."""
    fields: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.partition(sep_char)
        name = name.strip()
        if not sep or not name:
            if item.strip():
                raise errors.InvalidAuthorization()
            continue
        if name in fields:
            raise errors.InvalidAuthorization()
        fields[name] = value.strip()
    return fields


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


# ---------------------------------------------------------------------------------------------
# V4

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


def v4_canonical_request(req: SignedRequest, additional_headers: Iterable[str] = (), *,
                         exclude: Iterable[str] = ("x-oss-signature",), fix: bool = True) -> str:
    h = req.headers
    names = sorted({n.strip().lower() for n in additional_headers if n.strip()})
    ex = frozenset(exclude)
    return (req.method + "\n" + _v4_uri(req.bucket, req.key) + "\n"
            + _v4_query_string((k, v) for k, v in req.query if k not in ex) + "\n"
            + _v4_headers(h, frozenset(names), fix) + "\n" + ";".join(names) + "\n"
            + (h.get("x-oss-content-sha256") or _UNSIGNED))


def v4_string_to_sign(canonical_request: str, datetime_: str, scope: str) -> str:
    return (_V4_ALGO + "\n" + datetime_ + "\n" + scope + "\n"
            + hashlib.sha256(_utf8(canonical_request)).hexdigest())


def _v4_sig(secret: str, date8: str, region: str, product: str, sts: str) -> bytes:
    return hmac.digest(_v4_signing_key(secret, date8, region, product), _utf8(sts), "sha256").hex().encode()


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


def _v4_parse_credential(value: str, region: str, header: bool):
    parts = value.strip().rsplit("/", 4)
    bad = errors.InvalidAuthorization if header else errors.InvalidArgument
    if len(parts) != 5 or not parts[0]:
        raise bad("Invalid credential: expected <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.")
    ak, date8, reg, product, term = parts
    if len(date8) != 8 or not (date8.isdigit() and date8.isascii()) or term != _V4_TERM:
        raise bad("Invalid credential: expected <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.")
    if reg != region:
        raise errors.InvalidSigningRegion(Region=_show(reg[:128]), ExpectedRegion=region)
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


# ---------------------------------------------------------------------------------------------
# entry point

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
