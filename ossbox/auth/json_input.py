"""Bounds for every JSON document a client sends (admin request bodies, bucket and RAM policies).

Python's parser recurses once per nesting level, so a body of 60,000 `[` (60 KB, within every size
limit) ends in a RecursionError deep in the decoder. The depth is measured first, without
recursion, and anything deeper than a real document needs is refused as bad input: a policy
document is about 6 levels deep (Statement / Condition / operator / key / values), an admin body
with an inline policy about 8.
"""
from __future__ import annotations

import re

MAX_DEPTH = 32

# A string (possibly unterminated: the document is then invalid anyway) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]+|\\.)*"?|[\[\]{}]')


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when arrays/objects in `text` nest more than `limit` levels (brackets inside strings
    do not count). Linear in the text; stops at the first level past the limit."""
    if "[" not in text and "{" not in text:
        return False
    depth = 0
    for m in _TOKENS.finditer(text):
        c = m.group()[0]
        if c == "[" or c == "{":
            depth += 1
            if depth > limit:
                return True
        elif c == "]" or c == "}":
            depth -= 1
    return False
