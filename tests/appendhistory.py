"""A history checker for appends raced through several servers (issue 11, "Proof": the successful
appends of each object form an unbroken chain of positions).

Clients record every AppendObject attempt as an `Attempt`; `check_history` then judges the
history against the bytes finally read back, trusting nothing the server computed:
- the 200s of an object start at 0 and form an unbroken chain: exactly one 200 per position, each
  ending (x-oss-next-append-position) at position + its length, where the next one starts, and the
  last one ending at the object's final length (an attempt whose outcome the client never learnt,
  `unknown`, may fill a gap, but only with exactly its own bytes);
- the bytes of each link are the bytes that client sent, and its CRC-64 (x-oss-hash-crc64ecma of
  the 200) is the independent CRC-64 of the object's first `end` bytes;
- every 409 PositionNotEqualToLength at position p names a length the object really had (a chain
  boundary other than p); with `exact_losers` (racers synchronised at p) exactly the winner's end.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from appendkit import crc64

OK, LOST_RACE, UNKNOWN = "200", "409", "unknown"


@dataclass(frozen=True)
class Attempt:
    key: str
    position: int
    data: bytes = field(repr=False)
    node: str
    outcome: str                 # OK, LOST_RACE or UNKNOWN (timeout, 5xx, connection lost)
    end: int | None = None       # OK: x-oss-next-append-position
    crc: int | None = None       # OK: x-oss-hash-crc64ecma
    told: int | None = None      # LOST_RACE: x-oss-next-append-position of the 409

    def __repr__(self) -> str:
        told = f", told {self.told}" if self.outcome == LOST_RACE else ""
        return (f"<{self.outcome} {self.key}@{self.position}+{len(self.data)} via {self.node}"
                f"{f', end {self.end}, crc {self.crc}' if self.outcome == OK else ''}{told}>")


def check_history(attempts: list[Attempt], final: dict[str, bytes], exact_losers: bool = False) -> dict:
    """Raise AssertionError at the first violation; return {key: number of links in its chain}."""
    by_key: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_key[a.key].append(a)
    links = {}
    for key, history in by_key.items():
        content = final[key]
        won: dict[int, Attempt] = {}
        maybe: dict[int, list[Attempt]] = defaultdict(list)
        for a in history:
            if a.outcome == OK:
                assert a.position not in won, f"{key}: two 200s at position {a.position}: {won[a.position]} and {a}"
                assert a.end == a.position + len(a.data), f"{key}: 200 at {a.position} ends at {a.end}: {a}"
                won[a.position] = a
            elif a.outcome == UNKNOWN:
                maybe[a.position].append(a)
        pos, boundaries = 0, {0}
        running, crc_at = 0, 0  # CRC-64 of content[:crc_at], carried along the chain (linear, not quadratic)
        while pos < len(content) or pos in won:
            a = won.pop(pos, None)
            if a is None:
                a = next((u for u in maybe.get(pos, ()) if content[pos:pos + len(u.data)] == u.data and u.data), None)
                assert a is not None, f"{key}: the chain breaks at {pos} (object is {len(content)} bytes): no " \
                                      f"acknowledged or unresolved append starts there"
            else:
                assert a.end <= len(content), f"{key}: the acknowledged append {pos}..{a.end} is missing " \
                                              f"(the object has {len(content)} bytes): {a}"
                assert content[pos:a.end] == a.data, f"{key}: bytes {pos}..{a.end} are not those of the 200: {a}"
                running, crc_at = crc64(content[crc_at:a.end], running), a.end
                want = running
                assert a.crc == want, f"{key}: 200 at {pos} says CRC-64 {a.crc}, the bytes give {want}: {a}"
            pos += len(a.data)
            boundaries.add(pos)
        assert pos == len(content), f"{key}: the chain ends at {pos}, the object has {len(content)} bytes"
        assert not won, f"{key}: acknowledged appends off the chain, at positions {sorted(won)}"
        ends = {p: p + len(a.data) for p, a in ((a.position, a) for a in history if a.outcome == OK)}
        for a in history:
            if a.outcome != LOST_RACE:
                continue
            assert a.told != a.position and a.told in boundaries, \
                f"{key}: 409 at {a.position} says the length is {a.told}, which the object never had: {a}"
            if exact_losers:
                assert a.told == ends.get(a.position), \
                    f"{key}: 409 at {a.position} says {a.told}, the winner there ended at {ends.get(a.position)}"
        links[key] = len(boundaries) - 1
    return links
