"""The RAM / OSS bucket-policy language: parse, validate, evaluate.

Document shape (RAM "Version 1" grammar, as OSS uses it for RAM policies and bucket policies)::

    {"Version": "1",
     "Statement": [{"Sid"?: str,
                    "Effect": "Allow" | "Deny",
                    "Action" | "NotAction": str | [str],          # "oss:GetObject", "oss:Get*", "*"
                    "Resource" | "NotResource": str | [str],      # "acs:oss:*:*:bucket/prefix/*", "*"
                    "Condition"?: {Operator: {Key: value | [value]}},
                    "Principal": "*" | str | [str]}]}             # bucket policies only (absent: "*")

`parse_policy` validates everything up front (any problem -> ``errors.InvalidPolicyDocument`` with a
message naming the element, e.g. ``Statement[1].Condition.IpAddress.acs:SourceIp[0]: ...``) and
precompiles every wildcard pattern, so `evaluate` is a handful of regex matches per statement.

Matching rules
* Wildcards are only ``*`` (any run, also empty, also across ``/``) and ``?`` (one character); no
  ``[...]`` classes (object keys may contain brackets). Patterns compile to linear-time regexes
  (every ``*`` but the last is an atomic, leftmost-first group), so hostile patterns cannot blow up.
* Actions: case-insensitive (RAM: "Action values are not case-sensitive").
* Resources: ``*`` alone matches everything. Otherwise ``acs:<service>:<region>:<account>:<relative-id>``
  matched segment by segment; a wildcard in the first four segments never crosses ``:``; those four
  are case-insensitive, the relative id (``bucket`` or ``bucket/key``) is case-sensitive. OSS does
  not scope by region: a request resource whose region (or account) segment is the literal ``*``
  ("unspecified") matches any pattern in that segment.
* Principal (bucket policies): ``"*"``, a UID string, or a list of UIDs; ``[]`` means ``["*"]`` (OSS
  doc), and so does a statement without Principal. Entries may use wildcards. Only an entry that is all ``*`` matches anonymous callers
  (``principal=None``). OSS's bucket-owner rule is applied when `evaluate` gets ``bucket_owner``: a
  statement that reaches the owner only through ``"*"`` and has no Condition does not apply to him.

Conditions
* Several operators, and several keys under one operator, are ANDed; several values for one key
  are ORed. The request side may also be a list (ORed too).
* Keys are case-insensitive, except the tag name after ``/`` in ``oss:*Tag/<k>`` (tag keys are
  case-sensitive). `context` is keyed by `context_key(name)` = prefix lower-cased, tag name as is
  (``"acs:sourceip"``, ``"oss:existingobjecttag/Env"``); a fully lower-cased key is a fallback.
  Unknown keys are accepted (OSS keeps adding them, e.g. ``acs:SourceVpc``) and behave as missing
  when the server does not supply them.
* Missing key / unusable request value: positive operators (StringEquals, StringLike, Numeric*,
  Date*, Bool, IpAddress, ...) are false; the negated ones (String*Not*, NumericNotEquals,
  DateNotEquals, NotIpAddress) are exactly ``not <positive>``, hence true — as in AWS IAM / RAM.
  ``acs:CurrentTime`` is never missing: absent from `context` it is the wall clock.
* Dates: ISO 8601 (``2019-08-12T17:00:00+08:00``, ``...Z``, naive = UTC, or a date) or epoch seconds.
  Bool: exactly one value, ``true``/``false`` (JSON or string, any case). IpAddress: addresses or
  CIDRs, IPv4 and IPv6; an IPv4-mapped IPv6 caller address also matches IPv4 ranges.

Evaluation: within one policy any matching Deny wins (`Decision.DENY`), else any matching Allow
(`Decision.ALLOW`), else `Decision.NONE`. `combine` merges several policies' decisions the same way.
"""
from __future__ import annotations

import enum
import functools
import ipaddress
import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Optional

from .. import errors
from .json_input import MAX_DEPTH, too_deep

__all__ = [
    "Policy", "Statement", "Decision", "parse_policy", "evaluate", "combine", "policy_to_json",
    "context_key", "BUCKET_POLICY_MAX_BYTES", "RAM_POLICY_MAX_BYTES", "CONDITION_OPERATORS",
    "KNOWN_CONDITION_KEYS",
]

BUCKET_POLICY_MAX_BYTES = 16 * 1024   # PutBucketPolicy limit
RAM_POLICY_MAX_BYTES = 6 * 1024       # RAM custom policy limit (6,144)

KNOWN_CONDITION_KEYS = (
    "acs:SourceIp", "acs:UserAgent", "acs:CurrentTime", "acs:SecureTransport", "acs:AccessId",
    "acs:MFAPresent", "oss:Prefix", "oss:Delimiter", "oss:BucketTag/<k>", "oss:ExistingObjectTag/<k>",
    "oss:RequestObjectTag/<k>",
)

_TOP_KEYS = ("Version", "Statement")
_STATEMENT_KEYS = ("Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource",
                   "Condition")


def _bad(msg: str) -> errors.OssError:
    return errors.InvalidPolicyDocument(msg)


# ------------------------------------------------------------------------------------------------
# wildcard -> regex (linear time)


def _glob_body(pat: str, any_char: str) -> str:
    """Regex source for a ``*``/``?`` glob. Every ``*`` but the last becomes an atomic lazy group:
    for fixed-length segments the leftmost placement is always a valid one, so no backtracking is
    ever needed there and matching stays O(len(text) * len(pattern))."""
    def lit(s: str) -> str:
        return "".join(any_char if c == "?" else re.escape(c) for c in s)
    parts = re.split(r"\*+", pat)
    if len(parts) == 1:
        return lit(parts[0])
    out = [lit(parts[0])]
    for mid in parts[1:-1]:
        out.append(f"(?>{any_char}*?{lit(mid)})")
    out.append(f"{any_char}*{lit(parts[-1])}")
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _compile_globs(patterns: tuple[str, ...], ignore_case: bool) -> re.Pattern[str]:
    src = "|".join(f"(?:{_glob_body(p, '.')})" for p in patterns)
    return re.compile(src, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _is_all_star(p: str) -> bool:
    return bool(p) and p.strip("*") == ""


def _arn_body(pat: str) -> str:
    """Regex source for one Resource pattern (already validated)."""
    if _is_all_star(pat):
        return ".*"
    acs, svc, region, account, rel = pat.split(":", 4)
    seg = "[^:]"
    return (f"(?i:{_glob_body(acs, seg)}:{_glob_body(svc, seg)}:"
            f"(?:\\*|{_glob_body(region, seg)}):(?:\\*|{_glob_body(account, seg)}):)"
            f"{_glob_body(rel, '.')}")


@functools.lru_cache(maxsize=4096)
def _compile_arns(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_arn_body(p)})" for p in patterns), re.DOTALL)


# ------------------------------------------------------------------------------------------------
# value coercion


def _to_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v)) if abs(v) < 1e16 else repr(v)
    return str(v)


def _to_number(v: Any) -> Optional[float]:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


@functools.lru_cache(maxsize=1024)
def _parse_date_str(s: str) -> Optional[float]:
    s = s.strip()
    if not s:
        return None
    n = _to_number(s)
    if n is not None and re.fullmatch(r"[+-]?\d+(\.\d+)?", s):
        return n
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        try:
            d = date.fromisoformat(s)
        except ValueError:
            return None
        dt = datetime(d.year, d.month, d.day)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _to_timestamp(v: Any) -> Optional[float]:
    if isinstance(v, bool):
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=timezone.utc).timestamp()
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        return _parse_date_str(v)
    return None


def _to_bool(v: Any) -> Optional[bool]:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "false"):
            return low == "true"
    return None


@functools.lru_cache(maxsize=4096)
def _parse_ip(s: str) -> Optional[tuple[int, int]]:
    """(version, integer value) of an address; an IPv4-mapped IPv6 address counts as IPv4."""
    try:
        ip = ipaddress.ip_address(s.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version, int(ip)


# ------------------------------------------------------------------------------------------------
# conditions


def context_key(name: str) -> str:
    """The `context` dict key for a condition key: prefix lower-cased, a tag name after '/' kept."""
    head, sep, tail = name.partition("/")
    return head.lower() + sep + tail


class _Condition:
    """One (operator, key) pair, precompiled. ``test(value)`` is the *positive* form for one
    request value."""
    __slots__ = ("key", "key_lower", "negated", "test", "is_time")

    def __init__(self, key: str, negated: bool, test: Callable[[Any], bool]):
        self.key = context_key(key)
        self.key_lower = key.lower()
        self.negated = negated
        self.test = test
        self.is_time = self.key == "acs:currenttime"

    def __call__(self, ctx: Mapping[str, Any]) -> bool:
        v = ctx.get(self.key)
        if v is None and self.key_lower != self.key:
            v = ctx.get(self.key_lower)
        if v is None:
            if not self.is_time:
                return self.negated
            v = time.time()
        if isinstance(v, (list, tuple, set, frozenset)):
            hit = False
            for x in v:
                if self.test(x):
                    hit = True
                    break
        else:
            hit = self.test(v)
        return not hit if self.negated else hit


def _string_test(kind: str, pvals: list, where: str) -> Callable[[Any], bool]:
    strs = [_to_str(p) for p in pvals]
    if kind == "eq":
        s = frozenset(strs)
        return lambda v: (v if type(v) is str else _to_str(v)) in s
    if kind == "eqi":
        s = frozenset(x.casefold() for x in strs)
        return lambda v: (v if type(v) is str else _to_str(v)).casefold() in s
    # like
    if any(_is_all_star(x) for x in strs):
        return lambda v: True
    rx = _compile_globs(tuple(strs), False).fullmatch
    return lambda v: rx(v if type(v) is str else _to_str(v)) is not None


_CMP: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}


def _ordered_test(conv: Callable[[Any], Optional[float]], cmp: str, pvals: list, where: str,
                  what: str) -> Callable[[Any], bool]:
    nums = []
    for i, p in enumerate(pvals):
        n = conv(p)
        if n is None:
            raise _bad(f"{where}[{i}]: {json.dumps(p)} is not a valid {what}.")
        nums.append(n)
    op = _CMP[cmp]

    def test(v: Any) -> bool:
        x = conv(v)
        if x is None:
            return False
        for n in nums:
            if op(x, n):
                return True
        return False
    return test


def _bool_test(pvals: list, where: str) -> Callable[[Any], bool]:
    if len(pvals) != 1:
        raise _bad(f"{where}: Bool takes exactly one value (true or false), got {len(pvals)}.")
    b = _to_bool(pvals[0])
    if b is None:
        raise _bad(f"{where}: {json.dumps(pvals[0])} is not a boolean (true or false).")
    return lambda v: _to_bool(v) is b


def _ip_test(pvals: list, where: str) -> Callable[[Any], bool]:
    nets = []
    for i, p in enumerate(pvals):
        if not isinstance(p, str):
            raise _bad(f"{where}[{i}]: an IP address or CIDR must be a string.")
        try:
            nets.append(ipaddress.ip_network(p.strip(), strict=False))
        except ValueError:
            raise _bad(f"{where}[{i}]: {json.dumps(p)} is not a valid IP address or CIDR block.") from None
    ranges = {ver: tuple((int(n.network_address), int(n.broadcast_address))
                         for n in nets if n.version == ver) for ver in (4, 6)}

    def test(v: Any) -> bool:
        ip = _parse_ip(v) if isinstance(v, str) else None
        if ip is None:
            return False
        x = ip[1]
        for lo, hi in ranges[ip[0]]:
            if lo <= x <= hi:
                return True
        return False
    return test


# name -> (negated, builder(pvals, where))
CONDITION_OPERATORS: dict[str, tuple[bool, Callable[[list, str], Callable[[Any], bool]]]] = {
    "StringEquals": (False, lambda p, w: _string_test("eq", p, w)),
    "StringNotEquals": (True, lambda p, w: _string_test("eq", p, w)),
    "StringEqualsIgnoreCase": (False, lambda p, w: _string_test("eqi", p, w)),
    "StringNotEqualsIgnoreCase": (True, lambda p, w: _string_test("eqi", p, w)),
    "StringLike": (False, lambda p, w: _string_test("like", p, w)),
    "StringNotLike": (True, lambda p, w: _string_test("like", p, w)),
    "Bool": (False, _bool_test),
    "IpAddress": (False, _ip_test),
    "NotIpAddress": (True, _ip_test),
}
for _fam, _conv, _what in (("Numeric", _to_number, "number"), ("Date", _to_timestamp, "date")):
    for _suffix, _cmp, _neg in (("Equals", "eq", False), ("NotEquals", "eq", True),
                                ("LessThan", "lt", False), ("LessThanEquals", "le", False),
                                ("GreaterThan", "gt", False), ("GreaterThanEquals", "ge", False)):
        CONDITION_OPERATORS[_fam + _suffix] = (
            _neg, functools.partial(lambda p, w, c, k, t: _ordered_test(c, k, p, w, t),
                                    c=_conv, k=_cmp, t=_what))
_OPERATORS_CI = {k.lower(): k for k in CONDITION_OPERATORS}

_KEY_RE = re.compile(r"[A-Za-z0-9_.-]+:\S.*", re.DOTALL)


# ------------------------------------------------------------------------------------------------
# model


@dataclass(frozen=True, slots=True)
class Statement:
    effect_deny: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    principals: Optional[tuple[str, ...]]          # None: no Principal element (RAM policy)
    conditions: tuple[_Condition, ...] = field(compare=False, repr=False)
    sid: Optional[str] = None
    # precompiled matchers (None = matches everything)
    action_re: Optional[Callable[[str], Any]] = field(default=None, compare=False, repr=False)
    resource_re: Optional[Callable[[str], Any]] = field(default=None, compare=False, repr=False)
    principal_re: Optional[Callable[[str], Any]] = field(default=None, compare=False, repr=False)
    principal_any: bool = False                      # has an all-'*' entry (matches anonymous too)

    @property
    def effect(self) -> str:
        return "Deny" if self.effect_deny else "Allow"


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    text: str                                        # the document exactly as received
    bucket_policy: bool = False
    bucket: Optional[str] = None
    version: str = "1"
    document: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


class Decision(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    NONE = "None"      # no statement matched


# ------------------------------------------------------------------------------------------------
# parsing


def _no_dupes(pairs: list[tuple[str, Any]]) -> dict:
    d: dict = {}
    for k, v in pairs:
        if k in d:
            raise _bad(f"Duplicate key {json.dumps(k)} in the policy document.")
        d[k] = v
    return d


def _reject_constant(name: str):
    raise _bad(f"{name} is not a valid JSON value.")


def _str_list(val: Any, where: str, *, allow_empty: bool = False) -> list[str]:
    items = [val] if isinstance(val, str) else val
    if not isinstance(items, list):
        raise _bad(f"{where} must be a string or a list of strings.")
    if not items and not allow_empty:
        raise _bad(f"{where} must not be empty.")
    for i, it in enumerate(items):
        if not isinstance(it, str):
            raise _bad(f"{where}[{i}] must be a string.")
        if not it:
            raise _bad(f"{where}[{i}] must not be an empty string.")
    return items


def _check_action(a: str, where: str) -> None:
    if _is_all_star(a):
        return
    svc, sep, name = a.partition(":")
    if not sep or not svc or not name or ":" in name:
        raise _bad(f"{where}: {json.dumps(a)} is not a valid action; use <service>:<ActionName> "
                   "such as oss:GetObject, or *.")


def _check_resource(r: str, where: str, bucket_policy: bool, bucket: Optional[str]) -> None:
    if _is_all_star(r) and not bucket_policy:
        return
    parts = r.split(":", 4)
    if len(parts) != 5 or parts[0].lower() != "acs" or not parts[1] or not parts[4]:
        hint = f"acs:oss:*:*:{bucket or '<bucket>'}/*" if bucket_policy else "acs:oss:*:*:<bucket>/*"
        raise _bad(f"{where}: {json.dumps(r)} is not a valid resource; use "
                   f"acs:<service>:<region>:<account>:<relative-id>, e.g. {hint}"
                   + ("." if bucket_policy else ", or *."))
    if bucket_policy:
        if not re.fullmatch(_glob_body(parts[1], "[^:]"), "oss", re.IGNORECASE):
            raise _bad(f"{where}: {json.dumps(r)} is not an OSS resource (acs:oss:...).")
        if bucket is not None:
            bpart = parts[4].split("/", 1)[0]
            if not re.fullmatch(_glob_body(bpart, "."), bucket, re.DOTALL):
                raise _bad(f"{where}: {json.dumps(r)} is outside bucket {json.dumps(bucket)}; a bucket "
                           f"policy may only name acs:oss:*:*:{bucket} or acs:oss:*:*:{bucket}/... .")


def _parse_conditions(cond: Any, where: str) -> tuple[_Condition, ...]:
    if not isinstance(cond, dict):
        raise _bad(f"{where} must be an object of {{Operator: {{Key: value(s)}}}}.")
    if not cond:
        raise _bad(f"{where} must not be empty.")
    out: list[_Condition] = []
    for op_name, block in cond.items():
        canon = _OPERATORS_CI.get(op_name.lower())
        if canon is None:
            raise _bad(f"{where}: unknown condition operator {json.dumps(op_name)}; supported: "
                       + ", ".join(CONDITION_OPERATORS) + ".")
        w_op = f"{where}.{op_name}"
        if not isinstance(block, dict):
            raise _bad(f"{w_op} must be an object of {{Key: value(s)}}.")
        if not block:
            raise _bad(f"{w_op} must not be empty.")
        negated, builder = CONDITION_OPERATORS[canon]
        for key, raw in block.items():
            w_key = f"{w_op}.{key}"
            if not _KEY_RE.fullmatch(key):
                raise _bad(f"{w_key}: {json.dumps(key)} is not a valid condition key; use "
                           "<prefix>:<name> such as acs:SourceIp or oss:Prefix.")
            vals = raw if isinstance(raw, list) else [raw]
            if not vals:
                raise _bad(f"{w_key} must have at least one value.")
            for i, v in enumerate(vals):
                if v is None or isinstance(v, (dict, list)):
                    raise _bad(f"{w_key}[{i}] must be a string, number or boolean.")
            out.append(_Condition(key, negated, builder(vals, w_key)))
    return tuple(out)


def _parse_principal(val: Any, where: str) -> tuple[str, ...]:
    if isinstance(val, dict):
        raise _bad(f"{where} must be \"*\" or a list of UIDs (for example [\"1234567890\"]).")
    items = _str_list(val, where, allow_empty=True)
    return tuple(items) if items else ("*",)


def _parse_statement(st: Any, where: str, bucket_policy: bool, bucket: Optional[str]) -> Statement:
    if not isinstance(st, dict):
        raise _bad(f"{where} must be an object.")
    for k in st:
        if k not in _STATEMENT_KEYS:
            raise _bad(f"{where}: unknown element {json.dumps(k)}; allowed: "
                       + ", ".join(x for x in _STATEMENT_KEYS if bucket_policy or x != "Principal") + ".")
    sid = st.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise _bad(f"{where}.Sid must be a string.")

    if "Effect" not in st:
        raise _bad(f"{where}.Effect is required (Allow or Deny).")
    eff = st["Effect"]
    if not isinstance(eff, str) or eff.lower() not in ("allow", "deny"):
        raise _bad(f"{where}.Effect must be Allow or Deny.")
    deny = eff.lower() == "deny"

    if ("Action" in st) == ("NotAction" in st):
        raise _bad(f"{where} must have exactly one of Action or NotAction.")
    akey = "Action" if "Action" in st else "NotAction"
    actions = _str_list(st[akey], f"{where}.{akey}")
    for i, a in enumerate(actions):
        _check_action(a, f"{where}.{akey}[{i}]")

    if ("Resource" in st) == ("NotResource" in st):
        raise _bad(f"{where} must have exactly one of Resource or NotResource.")
    rkey = "Resource" if "Resource" in st else "NotResource"
    resources = _str_list(st[rkey], f"{where}.{rkey}")
    for i, r in enumerate(resources):
        _check_resource(r, f"{where}.{rkey}[{i}]", bucket_policy, bucket)

    principals: Optional[tuple[str, ...]] = None
    if bucket_policy:
        # OSS accepts a bucket-policy statement without Principal (oss2's test_bucket_policy stores
        # one). OSS documents that an empty Principal list is exactly ["*"] -- everyone, anonymous
        # callers included -- and warns against reading it as "nobody" (help.aliyun.com/document_detail/85111);
        # a missing Principal is taken the same way (docs/architecture.md, "Choices where the spec is
        # uncertain").
        principals = _parse_principal(st.get("Principal", []), f"{where}.Principal")
    elif "Principal" in st:
        raise _bad(f"{where}.Principal is only allowed in a bucket policy, not in a RAM policy.")

    conditions = _parse_conditions(st["Condition"], f"{where}.Condition") if "Condition" in st else ()

    action_re = None if any(_is_all_star(a) for a in actions) else \
        _compile_globs(tuple(actions), True).fullmatch
    resource_re = None if any(_is_all_star(r) for r in resources) else \
        _compile_arns(tuple(resources)).fullmatch
    principal_any = principals is not None and any(_is_all_star(p) for p in principals)
    principal_re = None
    if principals is not None:
        named = tuple(p for p in principals if not _is_all_star(p))
        if named:
            principal_re = _compile_globs(named, False).fullmatch
    return Statement(
        effect_deny=deny, actions=tuple(actions), not_action=akey == "NotAction",
        resources=tuple(resources), not_resource=rkey == "NotResource", principals=principals,
        conditions=conditions, sid=sid, action_re=action_re, resource_re=resource_re,
        principal_re=principal_re, principal_any=principal_any)


def parse_policy(text: str | bytes, *, bucket_policy: bool = False, bucket: str | None = None,
                 max_bytes: int | None = None) -> Policy:
    """Parse and validate a RAM policy (default) or a bucket policy (``bucket_policy=True``; then
    every Resource must lie in `bucket` when it is given). `max_bytes` defaults to 16 KB for bucket
    policies and 6 KB for RAM policies (UTF-8 size of the document as sent)."""
    limit = max_bytes if max_bytes is not None else (
        BUCKET_POLICY_MAX_BYTES if bucket_policy else RAM_POLICY_MAX_BYTES)
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > limit:
            raise _bad(f"The policy document is {len(raw)} bytes; the limit is {limit} bytes.")
        try:
            s = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _bad("The policy document is not valid UTF-8.") from None
    elif isinstance(text, str):
        s = text
        size = len(s.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise _bad(f"The policy document is {size} bytes; the limit is {limit} bytes.")
    else:
        raise TypeError("policy text must be str or bytes")
    if not s.strip():
        raise _bad("The policy document is empty.")
    if too_deep(s):  # measured first: the decoder would recurse once per level
        raise _bad(f"The policy document is nested more than {MAX_DEPTH} levels deep.")
    try:
        doc = json.loads(s, object_pairs_hook=_no_dupes, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise _bad(f"The policy document is not valid JSON: {e.msg} at line {e.lineno} column "
                   f"{e.colno}.") from None
    except ValueError as e:          # e.g. an integer literal longer than int_max_str_digits
        raise _bad(f"The policy document is not valid JSON: {e}.") from None
    if not isinstance(doc, dict):
        raise _bad("The policy document must be a JSON object with Version and Statement.")
    for k in doc:
        if k not in _TOP_KEYS:
            raise _bad(f"Unknown top-level element {json.dumps(k)}; allowed: Version, Statement.")
    if "Version" not in doc:
        raise _bad("Version is required and must be \"1\".")
    if doc["Version"] != "1":
        raise _bad(f"Version must be \"1\", not {json.dumps(doc['Version'])}.")
    if "Statement" not in doc:
        raise _bad("Statement is required.")
    sts = doc["Statement"]
    if isinstance(sts, dict):
        sts = [sts]
    if not isinstance(sts, list):
        raise _bad("Statement must be an object or a list of objects.")
    if not sts:
        raise _bad("Statement must contain at least one statement.")
    statements = tuple(_parse_statement(st, f"Statement[{i}]", bucket_policy, bucket)
                       for i, st in enumerate(sts))
    return Policy(statements=statements, text=s, bucket_policy=bucket_policy, bucket=bucket,
                  version="1", document=doc)


# ------------------------------------------------------------------------------------------------
# evaluation


def evaluate(policy: Policy, *, action: str, resource: str, principal: str | None = None,
             context: Mapping[str, Any] | None = None, bucket_owner: str | None = None) -> Decision:
    """Decision of one policy for one request. `principal` (caller's UID, None = anonymous) only
    matters for statements with a Principal element (bucket policies). `bucket_owner`, when given,
    enables OSS's rule that ``Principal: "*"`` without a Condition does not apply to the owner."""
    ctx = context if context is not None else {}
    allowed = False
    for st in policy.statements:
        if st.principals is not None:
            if principal is None:
                if not st.principal_any:
                    continue
            elif not (st.principal_re is not None and st.principal_re(principal) is not None):
                if not st.principal_any or (principal == bucket_owner and not st.conditions):
                    continue
        if (st.action_re is None or st.action_re(action) is not None) is st.not_action:
            continue
        if (st.resource_re is None or st.resource_re(resource) is not None) is st.not_resource:
            continue
        for cond in st.conditions:
            if not cond(ctx):
                break
        else:
            if st.effect_deny:
                return Decision.DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.NONE


# Condition keys that make an Allow non-public (OSS's "Block Public Access" page: a statement
# whose Principal names static accounts, or whose Condition restricts one of these, is not public).
_RESTRICTING_KEYS = frozenset({"acs:sourcevpcid", "acs:sourcevpc", "acs:accessid", "acs:sourceip"})


def is_public_statement(st: Statement) -> bool:
    """Whether a bucket-policy statement grants public access: an Allow whose Principal has a
    wildcard entry and that no restricting Condition narrows (Action and Resource do not count;
    a Deny is never public)."""
    if st.effect_deny or st.principals is None:
        return False
    if not any("*" in p for p in st.principals) and not st.principal_any:
        return False
    return not any(c.key in _RESTRICTING_KEYS for c in st.conditions)


def without_public_statements(policy: Policy) -> Policy:
    """The policy as it applies while public access is blocked: its public grants ignored."""
    return replace(policy, statements=tuple(st for st in policy.statements if not is_public_statement(st)))


def combine(decisions: Iterable[Decision]) -> Decision:
    """Any DENY -> DENY, else any ALLOW -> ALLOW, else NONE."""
    result = Decision.NONE
    for d in decisions:
        if d is Decision.DENY:
            return Decision.DENY
        if d is Decision.ALLOW:
            result = Decision.ALLOW
    return result


def policy_to_json(policy: Policy) -> str:
    """Canonical compact JSON of the document: Version first, Statement always a list, statement
    elements in a fixed order (Sid, Effect, Principal, Action/NotAction, Resource/NotResource,
    Condition), values as written. GetBucketPolicy should answer `policy.text` (OSS returns the
    document as stored); this form is for comparing and re-storing documents."""
    doc = policy.document
    sts = doc["Statement"]
    if isinstance(sts, dict):
        sts = [sts]
    canon = {"Version": doc["Version"],
             "Statement": [{k: st[k] for k in _STATEMENT_KEYS if k in st} for st in sts]}
    return json.dumps(canon, ensure_ascii=False, separators=(",", ":"))
