"""What every signature version shares: the request as the verifiers see it (SignedRequest),
the credential a signature is checked against, and the common steps -- text encodings, request
dates and clock skew, credential lookup, alternative readings of the query, the bounded search for
alternative canonical forms, Authorization header fields."""
from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import mktime_tz, parsedate_tz
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import quote_from_bytes

from .. import errors, numeric


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
_MAX_ALTERNATIVES = 32          # extra candidates tried after the first one fails


class _LookupFailure(Exception):
    def __init__(self, original: BaseException):
        self.original = original


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


def _b64_hmac(secret: bytes, msg: bytes, algo: str) -> bytes:
    return base64.b64encode(hmac.digest(secret, msg, algo))


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


def _split_names(value: str) -> list[str]:
    return sorted({n.strip().lower() for n in value.split(";") if n.strip()})


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
