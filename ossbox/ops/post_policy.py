"""The policy document of a PostObject form: parsing and checking, as OSS documents it
("PostObject" / "POST V1 signature" / "POST V4 signature", Appendix: Policy).

The `policy` form field is base64 of a UTF-8 JSON object with `expiration` (ISO 8601 GMT) and
`conditions`, a list whose items are one of:

* ``{"field": "value"}``                      exact match (``{"bucket": "b"}`` names the bucket)
* ``["eq", "$field", "value"]``               exact match
* ``["starts-with", "$field", "prefix"]``     prefix match
* ``["in", "$field", ["v1", "v2"]]``          the value is one of the list
* ``["not-in", "$field", ["v1", "v2"]]``      the value is none of the list
* ``["content-length-range", min, max]``      the file's size in bytes, inclusive

Field names are case-insensitive (form field names are); values compare case-sensitively. A form
field the policy names but the form lacks counts as the empty string (so `["starts-with", "$key",
""]` allows any key). `$key` is the key as the form sent it (with a literal `${filename}`), as S3's
POST policy, which OSS's follows, defines it. Form fields the policy does not mention are not
refused: OSS's documentation asks only that the listed conditions hold.

Errors: a document that cannot be read is 400 InvalidPolicyDocument; an expired policy or a
condition the form fails is 403 AccessDenied "Invalid according to Policy: ..."; a file outside
content-length-range is EntityTooLarge / EntityTooSmall. The ECs are the ones OSS's
troubleshooting pages for PostObject name (0006-00000xxx).
"""
from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
from dataclasses import dataclass, field
from typing import Optional

from .. import errors

_EXPIRATION = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z")
_OPS = ("eq", "starts-with", "in", "not-in")


def _invalid(message: str, ec: str = "0006-00000201") -> errors.OssError:
    return errors.InvalidPolicyDocument("Invalid Policy: " + message, ec=ec)


def _denied(message: str, ec: str) -> errors.OssError:
    return errors.AccessDenied("Invalid according to Policy: " + message, ec=ec)


@dataclass(frozen=True)
class Condition:
    op: str                 # eq, starts-with, in, not-in
    name: str               # the form field, lower-cased, without the `$`
    value: object           # str, or a list of str for in/not-in
    shown: str              # the condition as OSS prints it in the error message


@dataclass(frozen=True)
class PostPolicy:
    expiration: float
    conditions: tuple = ()
    length_range: Optional[tuple[int, int]] = None
    raw: dict = field(default_factory=dict)


def _show(op: str, name: str, value) -> str:
    return json.dumps([op, name, value], ensure_ascii=False)


def _expiration(doc: dict) -> float:
    value = doc["expiration"]
    if not isinstance(value, str):
        raise _invalid("Invalid 'expiration' field: it must be an ISO 8601 GMT time string.",
                       "0006-00000210")
    if not value:
        raise _invalid("The 'expiration' field must not be empty.", "0006-00000211")
    m = _EXPIRATION.fullmatch(value.strip())
    if m is None:
        raise _invalid("Invalid 'expiration' field: it must be an ISO 8601 GMT time "
                       "(e.g. 2023-12-03T13:00:00.000Z).", "0006-00000210")
    y, mo, d, h, mi, s = (int(g) for g in m.groups())
    try:
        return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
    except (ValueError, OverflowError):
        raise _invalid("Invalid 'expiration' field.", "0006-00000210")


def _field_name(raw) -> str:
    if not isinstance(raw, str) or not raw.startswith("$") or len(raw) < 2:
        raise _invalid(f"Invalid field name {json.dumps(raw, ensure_ascii=False)}: "
                       "a condition names a form field as \"$name\".")
    return raw[1:].lower()


def _length(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid("content-length-range takes two non-negative integers.", "0006-00000221")
    return value


def _parse_condition(item, out: list, ranges: list) -> None:
    if isinstance(item, dict):
        for name, value in item.items():
            if not isinstance(value, str):
                raise _invalid(f"Invalid Simple-Condition: the value of {name!r} must be a string.")
            out.append(Condition("eq", name.lower(), value, _show("eq", "$" + name, value)))
        return
    if not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str):
        raise _invalid("Invalid condition: " + json.dumps(item, ensure_ascii=False)[:256])
    op = item[0].lower()
    if op == "content-length-range":
        low, high = _length(item[1]), _length(item[2])
        if high < low:
            raise _invalid("content-length-range: the maximum is smaller than the minimum.",
                           "0006-00000219")
        ranges.append((low, high))
        return
    if op not in _OPS:
        raise _invalid(f"Invalid condition operator {item[0]!r}: OSS supports eq, starts-with, in, "
                       "not-in and content-length-range.")
    name = _field_name(item[1])
    value = item[2]
    if op in ("in", "not-in"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(f"The {op} condition takes a list of strings.")
    elif not isinstance(value, str):
        raise _invalid(f"The {op} condition takes a string value.")
    out.append(Condition(op, name, value, _show(item[0], item[1], value)))


def parse_post_policy(encoded: str) -> PostPolicy:
    try:
        text = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        doc = json.loads(text)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid("Invalid JSON (the policy must be base64 of a UTF-8 JSON document).")
    if not isinstance(doc, dict):
        raise _invalid("Invalid JSON: the policy must be a JSON object.")
    has_exp, has_cond = "expiration" in doc, "conditions" in doc
    if not has_exp and not has_cond:
        raise _invalid("The policy must contain 'expiration' and 'conditions'.", "0006-00000209")
    if not has_exp:
        raise _invalid("The policy must contain 'expiration'.", "0006-00000208")
    expiration = _expiration(doc)
    if not has_cond or not isinstance(doc["conditions"], list):
        raise _invalid("The policy must contain a 'conditions' list.")
    conditions: list[Condition] = []
    ranges: list[tuple[int, int]] = []
    for item in doc["conditions"]:
        _parse_condition(item, conditions, ranges)
    length_range = None
    if ranges:   # several ranges: all must hold
        length_range = (max(r[0] for r in ranges), min(r[1] for r in ranges))
    return PostPolicy(expiration, tuple(conditions), length_range, doc)


def check_expiration(policy: PostPolicy, now: float) -> None:
    if now > policy.expiration:
        raise _denied("Policy expired.", "0006-00000213")


def check_conditions(policy: PostPolicy, fields: dict[str, str], bucket: str) -> None:
    """Every condition against the form's fields (names lower-cased) and the bucket."""
    for cond in policy.conditions:
        actual = bucket if cond.name == "bucket" else fields.get(cond.name, "")
        if cond.op == "eq":
            ok = actual == cond.value
        elif cond.op == "starts-with":
            ok = actual.startswith(cond.value)
        elif cond.op == "in":
            ok = actual in cond.value
        else:
            ok = actual not in cond.value
        if not ok:
            raise _denied("Policy Condition failed: " + cond.shown, "0006-00000227")


def size_error(size: int, length_range: tuple[int, int]) -> Optional[errors.OssError]:
    """The error for a file of `size` bytes outside content-length-range, if it is."""
    low, high = length_range
    if size > high:
        return errors.EntityTooLarge(ec="0006-00000003")
    if size < low:
        return errors.EntityTooSmall(ec="0006-00000004")
    return None
