"""Evaluating a parsed query on records: values, three-valued logic, CAST, functions, aggregates.

A record is read through a `lookup(Column)` function its reader supplies (CSV: by `_N` or header
name; JSON: by key path). Values are Python values: str, int, float, Decimal, bool, None (SQL NULL),
dict/list (JSON), and `MISSING` for a column or key the record does not have (NULL to SQL, but
known to be absent: SkipPartialDataRecord and JSON output treat it apart from a null).
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from .sql import (AGGREGATES, Between, Binary, Cast, Column, Func, InList, IsNull, Like, Literal, Query,
                  Unary, walk)


class _Missing:
    __slots__ = ()

    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False


MISSING = _Missing()


class RawNumber(str):
    """A JSON number kept as its text (ParseJsonNumberAsString): a string to SQL, a number again
    when written out, so no precision is lost on the way through."""


class DataError(Exception):
    """A record OSS cannot evaluate (e.g. a string where arithmetic needs a number)."""


def _is_null(v) -> bool:
    return v is None or v is MISSING


def _is_num(v) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def to_number(v, like=None):
    """A number from a value, or None when it has none (an empty or non-numeric string)."""
    if _is_num(v):
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            if isinstance(like, Decimal) or isinstance(v, RawNumber):
                n = Decimal(s)
                return n if n.is_finite() else None    # NaN would make comparisons raise
            if re.fullmatch(r"[+-]?\d+", s):
                return int(s)
            n = float(s)
            return n if math.isfinite(n) else None
        except (ValueError, InvalidOperation):
            return None
    return None


def _num_pair(a, b):
    """Both operands as numbers of one kind (a Decimal meeting a float becomes exact)."""
    if isinstance(a, Decimal) and isinstance(b, float):
        b = Decimal(repr(b))
    elif isinstance(b, Decimal) and isinstance(a, float):
        a = Decimal(repr(a))
    return a, b


def compare(a, b):
    """-1/0/1, or None when either side is NULL or the two cannot be compared."""
    if _is_null(a) or _is_null(b):
        return None
    if _is_num(a) or _is_num(b):
        x, y = to_number(a, b), to_number(b, a)
        if x is None or y is None:
            return None
        x, y = _num_pair(x, y)
    elif isinstance(a, bool) or isinstance(b, bool):
        x, y = _to_bool(a), _to_bool(b)
        if x is None or y is None:
            return None
    elif isinstance(a, str) and isinstance(b, str):
        x, y = str(a), str(b)
    else:
        if a == b:
            return 0
        return None
    return (x > y) - (x < y)


def _to_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low == "true":
            return True
        if low == "false":
            return False
        return None
    if _is_num(v):
        return v != 0
    return None


@lru_cache(maxsize=256)
def _like_parts(pattern: str, escape: str | None) -> tuple:
    """A LIKE pattern as its %-separated segments, each a regex of literals and `_` (any one
    character). Matching segment by segment, leftmost first, is exact for LIKE and never
    backtracks across `%` (a regex of `.*` runs can take polynomial time on long values)."""
    parts, cur, i = [], [], 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape and i + 1 < len(pattern):
            cur.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "%":
            parts.append(re.compile("".join(cur), re.S))
            cur = []
        else:
            cur.append("." if c == "_" else re.escape(c))
        i += 1
    parts.append(re.compile("".join(cur), re.S))
    return tuple(parts)


def like(value: str, pattern: str, escape: str | None) -> bool:
    parts = _like_parts(pattern, escape)
    if len(parts) == 1:
        return parts[0].fullmatch(value) is not None
    first, last = parts[0], parts[-1]
    m = first.match(value)
    if m is None:
        return False
    pos = m.end()
    for part in parts[1:-1]:
        m = part.search(value, pos)
        if m is None:
            return False
        pos = m.end()
    # the last segment must end the value, after everything matched so far
    for start in range(len(value), pos - 1, -1):
        if last.fullmatch(value, start):
            return True
        if last.pattern == "":
            break
    return False


def text(v) -> str:
    """A value as SQL text (CAST AS STRING, `||`, string functions, CSV output)."""
    if _is_null(v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Decimal):
        return format(v, "f") if v == v.to_integral_value() or abs(v.as_tuple().exponent) < 30 else str(v)
    return str(v)


def cast(v, ty: str):
    if _is_null(v):
        return None
    if ty == "string":
        return text(v)
    if ty == "bool":
        return _to_bool(v)
    if isinstance(v, (dict, list)):
        return None
    if ty == "decimal":
        if isinstance(v, float):
            return Decimal(repr(v))
        n = to_number(RawNumber(v) if isinstance(v, str) else v)
        return Decimal(n) if isinstance(n, int) else n
    n = to_number(v)
    if n is None:
        return None
    if ty == "int":
        return int(n)
    return float(n)    # double


def _arith(op, a, b):
    if _is_null(a) or _is_null(b):
        return None
    x, y = to_number(a, b), to_number(b, a)
    if x is None or y is None:
        return None
    x, y = _num_pair(x, y)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if y == 0:
        return None
    if op == "/":
        if isinstance(x, int) and isinstance(y, int):
            return x // y if x % y == 0 else x / y
        return x / y
    return x % y


def evaluate(e, lookup):
    if isinstance(e, Literal):
        return e.value
    if isinstance(e, Column):
        return lookup(e)
    if isinstance(e, Binary):
        op = e.op
        if op in ("and", "or"):
            decisive = op == "or"        # the value that decides alone: True for OR, False for AND
            a = truth(evaluate(e.left, lookup))
            if a is decisive:
                return decisive
            b = truth(evaluate(e.right, lookup))
            if b is decisive:
                return decisive
            return None if a is None or b is None else not decisive
        a, b = evaluate(e.left, lookup), evaluate(e.right, lookup)
        if op == "||":
            if _is_null(a) or _is_null(b):
                return None
            return text(a) + text(b)
        if op in ("+", "-", "*", "/", "%"):
            return _arith(op, a, b)
        c = compare(a, b)
        if c is None:
            return None
        return {"=": c == 0, "!=": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op]
    if isinstance(e, Unary):
        v = evaluate(e.arg, lookup)
        if e.op == "not":
            t = truth(v)
            return None if t is None else not t
        return _arith("-", 0, v)
    if isinstance(e, Like):
        v, p = evaluate(e.arg, lookup), evaluate(e.pattern, lookup)
        if _is_null(v) or _is_null(p):
            return None
        esc = evaluate(e.escape, lookup) if e.escape is not None else None
        hit = like(text(v), text(p), text(esc) if esc is not None else None)
        return hit != e.negated
    if isinstance(e, InList):
        v = evaluate(e.arg, lookup)
        if _is_null(v):
            return None
        unknown = False
        for item in e.items:
            c = compare(v, evaluate(item, lookup))
            if c == 0:
                return not e.negated
            if c is None:
                unknown = True
        return None if unknown else e.negated
    if isinstance(e, Between):
        v = evaluate(e.arg, lookup)
        lo, hi = compare(v, evaluate(e.low, lookup)), compare(v, evaluate(e.high, lookup))
        if lo is None or hi is None:
            return None
        return (lo >= 0 and hi <= 0) != e.negated
    if isinstance(e, IsNull):
        return _is_null(evaluate(e.arg, lookup)) != e.negated
    if isinstance(e, Cast):
        return cast(evaluate(e.arg, lookup), e.type)
    if isinstance(e, Func):
        return _scalar(e, [evaluate(a, lookup) for a in e.args])
    raise DataError(f"cannot evaluate {e!r}")


def truth(v):
    """SQL truth of a value: True, False or None (unknown)."""
    if _is_null(v):
        return None
    if isinstance(v, bool):
        return v
    return _to_bool(v)


def _scalar(f: Func, args):
    name = f.name
    if name == "coalesce":
        return next((a for a in args if not _is_null(a)), None)
    if name == "nullif":
        return None if compare(args[0], args[1]) == 0 else args[0]
    if name == "concat":
        return None if any(_is_null(a) for a in args) else "".join(text(a) for a in args)
    if any(_is_null(a) for a in args):
        return None
    s = args[0]
    if name == "lower":
        return text(s).lower()
    if name == "upper":
        return text(s).upper()
    if name == "trim":
        return text(s).strip()
    if name == "ltrim":
        return text(s).lstrip()
    if name == "rtrim":
        return text(s).rstrip()
    if name in ("char_length", "character_length", "length"):
        return len(text(s))
    if name == "abs":
        n = to_number(s)
        return None if n is None else abs(n)
    if name in ("substring", "substr"):
        start = to_number(args[1])
        if start is None:
            return None
        # SQL positions count from 1; a start before 1 eats into the length (SQL:2016 semantics)
        start = int(start)
        value = text(s)
        if len(args) == 3:
            length = to_number(args[2])
            if length is None:
                return None
            end = start + int(length)
            return value[max(start, 1) - 1:max(end - 1, 0)]
        return value[max(start, 1) - 1:]
    raise DataError(f"unsupported function {name}")


# -- aggregates ----------------------------------------------------------------------------------
class Aggregator:
    """One aggregate of the select list, fed record by record."""

    def __init__(self, f: Func):
        self.f = f
        self.count = 0
        self.acc = None
        self.all_int = True

    def feed(self, lookup) -> None:
        f = self.f
        if f.star:
            self.count += 1
            return
        v = evaluate(f.args[0], lookup)
        if _is_null(v):
            return
        if f.name == "count":
            self.count += 1
            return
        if f.name in ("sum", "avg"):
            n = to_number(v)
            if n is None:
                if isinstance(v, str) and not v.strip():
                    return
                raise DataError(f"{f.name.upper()} needs numbers, got {text(v)!r}")
            if not isinstance(n, int):
                self.all_int = False
            self.count += 1
            if self.acc is None:
                self.acc = n
            else:
                x, y = _num_pair(self.acc, n)
                self.acc = x + y
            return
        # min / max
        self.count += 1
        if self.acc is None:
            self.acc = v
            return
        c = compare(v, self.acc)
        if c is None:
            raise DataError(f"{f.name.upper()} cannot compare {text(v)!r} with {text(self.acc)!r}")
        if (c < 0) if f.name == "min" else (c > 0):
            self.acc = v

    def result(self):
        name = self.f.name
        if name == "count":
            return self.count
        if self.acc is None:
            return None
        if name == "avg":
            if self.all_int:
                # the average of integers is exact (2015, 2015.5), never 2015.0
                return (Decimal(self.acc) / Decimal(self.count)).normalize() + 0
            return self.acc / self.count
        return self.acc


def aggregate_value(e, aggs: dict):
    """The value of a select item once every record was fed: its aggregates replaced by results."""
    if isinstance(e, Func) and e.name in AGGREGATES:
        return aggs[id(e)].result()
    if isinstance(e, Literal):
        return e.value
    if isinstance(e, Binary):
        return evaluate(Binary(e.op, Literal(aggregate_value(e.left, aggs)),
                               Literal(aggregate_value(e.right, aggs))), None)
    if isinstance(e, Unary):
        return evaluate(Unary(e.op, Literal(aggregate_value(e.arg, aggs))), None)
    if isinstance(e, Cast):
        return cast(aggregate_value(e.arg, aggs), e.type)
    if isinstance(e, Func):
        return _scalar(e, [aggregate_value(a, aggs) for a in e.args])
    raise DataError(f"cannot evaluate {e!r} after aggregation")


def collect_aggregates(q: Query) -> dict:
    out = {}
    for item in q.items:
        for e in walk(item.expr):
            if isinstance(e, Func) and e.name in AGGREGATES:
                out[id(e)] = Aggregator(e)
    return out
