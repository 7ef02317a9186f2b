"""Bounds for every JSON document a client sends (admin request bodies, bucket and RAM policies).

Python's parser recurses once per nesting level, so a body of 60,000 `[` (60 KB, within every size
limit) ends in a RecursionError deep in the decoder. The depth is measured first, without
recursion, and anything deeper than a real document needs is refused as bad input: a policy
document is about 6 levels deep (Statement / Condition / operator / key / values), an admin body
with an inline policy about 8.
"""
from __future__ import annotations

import re
from itertools import accumulate

MAX_DEPTH = 32

# Strings (possibly unterminated: the document is then invalid anyway), and what is not a bracket.
_STRINGS = re.compile(r'"(?:[^"\\]+|\\.)*"?')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when arrays/objects in `text` nest more than `limit` levels (brackets inside strings
    do not count). Linear in the text, with the per-bracket work done in C (a few ms for 64 KB)."""
    if "[" not in text and "{" not in text:
        return False
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text)).encode("ascii")
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0) > limit
