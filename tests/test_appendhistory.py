"""The history checker of the multi-node suite (tests/appendhistory.py) rejects what it must."""
from __future__ import annotations

import pytest

from appendhistory import LOST_RACE, OK, UNKNOWN, Attempt, check_history
from appendkit import crc64

CONTENT = b"abcdefgh"


def won(pos: int, data: bytes, content: bytes = CONTENT, crc=None) -> Attempt:
    end = pos + len(data)
    return Attempt("k", pos, data, "n1", OK, end=end, crc=crc64(content[:end]) if crc is None else crc)


def lost(pos: int, told: int) -> Attempt:
    return Attempt("k", pos, b"zz", "n2", LOST_RACE, told=told)


GOOD = [won(0, b"abc"), lost(0, 3), won(3, b"de"), lost(3, 5), won(5, b"fgh"), lost(5, 8)]


def test_an_unbroken_chain_passes():
    assert check_history(GOOD, {"k": CONTENT}, exact_losers=True) == {"k": 3}


@pytest.mark.parametrize("history, final, exact, complaint", [
    (GOOD + [won(3, b"xy")], CONTENT, True, "two 200s at position 3"),
    (GOOD, CONTENT[:5], True, "the acknowledged append 5..8 is missing"),               # an acknowledged append lost
    (GOOD + [won(4, b"e")], CONTENT, False, "off the chain, at positions \\[4\\]"),
    (GOOD, CONTENT + b"!", True, "the chain breaks at 8"),                    # unacknowledged bytes visible
    (GOOD[:2] + GOOD[4:], CONTENT, True, "the chain breaks at 3"),
    (GOOD, b"abcdXfgh", True, "bytes 3..5 are not those"),
    ([won(0, b"abc", crc=1)] + GOOD[1:], CONTENT, True, "says CRC-64 1"),
    (GOOD + [lost(3, 4)], CONTENT, False, "never had"),                       # a length between two appends
    (GOOD + [lost(0, 5)], CONTENT, True, "the winner there ended at 3"),      # not the winner's end
    (GOOD + [lost(3, 3)], CONTENT, False, "never had"),                       # 409 naming its own position
    (GOOD[:2] + [Attempt("k", 3, b"dX", "n3", UNKNOWN)] + GOOD[4:], CONTENT, True, "the chain breaks at 3"),
])
def test_violations_are_caught(history, final, exact, complaint):
    with pytest.raises(AssertionError, match=complaint):
        check_history(history, {"k": final}, exact_losers=exact)


def test_an_unresolved_append_may_fill_a_gap_with_its_own_bytes():
    history = GOOD[:2] + [Attempt("k", 3, b"de", "n3", UNKNOWN), lost(3, 5)] + GOOD[4:]
    assert check_history(history, {"k": CONTENT}) == {"k": 3}
    assert check_history(GOOD + [Attempt("k", 8, b"!", "n3", UNKNOWN)], {"k": CONTENT}) == {"k": 3}
