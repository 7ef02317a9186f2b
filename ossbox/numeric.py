"""The one parser for integers a client sends: headers, query parameters, XML and JSON fields.

`int(text)` after `text.isdigit()` is not a validation: `isdigit()` accepts non-ASCII digits such
as '²' (which `int()` then refuses) and `int()` refuses more than 4,300 digits; both escaped as 500s.
`int()` alone also takes '+5', ' 5', '1_000' and Arabic-Indic digits. Here a number is one or more
ASCII digits and nothing else, its length is bounded before any conversion, and its range is
checked; every caller turns a refusal into the 4xx that OSS answers for that input.
"""
from __future__ import annotations

from typing import Optional

from . import errors

MAX_INT64 = (1 << 63) - 1
_CTRL = {c: "?" for c in range(32)}


def is_decimal(text: Optional[str]) -> bool:
    """One or more ASCII digits, nothing else (no sign, space, '_' or other scripts' digits)."""
    return bool(text) and text.isascii() and text.isdigit()


def parse_decimal(text: Optional[str], high: int, low: int = 0) -> Optional[int]:
    """The value of `text` if it is a decimal number in [low, high], else None. Never raises."""
    if not is_decimal(text):
        return None
    digits = text.lstrip("0") or "0"   # leading zeros are harmless and must not count as length
    if len(digits) > len(str(high)):
        return None                     # too big, known without converting it
    value = int(digits)
    return value if low <= value <= high else None


def shown(text: str, limit: int = 64) -> str:
    """A client's value as an error body may echo it: shortened, control characters masked."""
    return text[:limit].translate(_CTRL)


def decimal_argument(raw: str, name: str, low: int, high: int,
                     error: Optional[errors.ErrorSpec] = None, message: Optional[str] = None) -> int:
    """`raw` as an integer in [low, high], or a 400 naming the argument: `error` (an OSS error
    specific to this input, with its own message unless `message` is given) when given, else
    InvalidArgument saying what is allowed."""
    value = parse_decimal(raw, high, low)
    if value is not None:
        return value
    if error is None:
        error = errors.InvalidArgument
        message = message or f"{name} must be an integer between {low} and {high}."
    raise error(message, ArgumentName=name, ArgumentValue=shown(raw))
