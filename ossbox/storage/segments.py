"""Segment stores: where scale-out keeps appended bytes, as immutable, write-once *segments*
(issue 11, ../shared/spec/scaleout.md). Groundwork: the engine does not use them yet.

A segment is written once under a name its writer chose to be unique, then published by a guarded
metadata update (elsewhere); a writer that loses leaves garbage, never visible bytes. So a store
needs no locks and no in-place writes, only: put a whole segment (durable when `put` returns,
never replacing an existing name), read a byte range as a stream, size, delete, list for the
garbage collector, and sweep what writers that died mid-put left behind. Two drivers, chosen by
the `--data` URL in drivers.py: a shared directory (segment_files.py) and an S3-compatible store
through obstore (segment_s3.py).

Every failure of the store itself -- unreachable, timed out, I/O error -- is ByteStoreUnavailable
(503, "try again"), raised within a few seconds, never after minutes of hidden retries.
"""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import AsyncIterable, AsyncIterator

from .errors import BodyLengthMismatch

# Segment names are chosen by the engine (random ids); a conservative alphabet keeps them valid
# as S3 keys and as file names alike, with no "/" (no hierarchy to walk, no "..") and no leading
# "." (the file driver's temp files start with one).
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}\Z")
_PREFIX = re.compile(r"[A-Za-z0-9._-]{0,200}\Z")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid segment name {name!r}: 1-200 of A-Z a-z 0-9 . _ -, not starting with '.'")
    return name


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ValueError(f"invalid segment name prefix {prefix!r}")
    return prefix


def check_range(start: int, end: int) -> None:
    if not 0 <= start <= end:
        raise ValueError(f"invalid segment range [{start}, {end})")


def check_age(older_than: float) -> None:
    if not older_than >= 0:
        raise ValueError(f"invalid age {older_than!r}: seconds, 0 or more")


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    size: int
    mtime: float  # seconds since the epoch: the garbage collector's grace period is measured from it


async def exactly(chunks: AsyncIterable[bytes], length: int) -> AsyncIterator[bytes]:
    """`chunks`, failing with BodyLengthMismatch as soon as they exceed `length` or when they end
    short of it -- before the store could make a wrong-sized segment durable."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > length:
            raise BodyLengthMismatch(declared=length, received=received)
        if chunk:
            yield chunk
    if received != length:
        raise BodyLengthMismatch(declared=length, received=received)


class SegmentStore(abc.ABC):
    """Write-once byte segments. Ranges are [start, end), like Python slices."""

    url: str  # the --data URL it was made from (credentials never appear in it)

    @abc.abstractmethod
    async def put(self, name: str, chunks: AsyncIterable[bytes], *, length: int) -> None:
        """Store exactly `length` bytes from `chunks` as segment `name`, durable when this returns.
        SegmentExists if the name is taken (nothing is replaced; checked before a body of 5 MiB
        or more is read); BodyLengthMismatch if the chunks hold another length (nothing is
        stored)."""

    @abc.abstractmethod
    def open_range(self, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes [start, end) of segment `name`, streamed in bounded chunks. SegmentNotFound if
        it does not exist; DataShorterThanRecorded if it ends before `end`."""

    @abc.abstractmethod
    async def size(self, name: str) -> int:
        """The segment's length; SegmentNotFound if it does not exist."""

    @abc.abstractmethod
    async def delete(self, name: str) -> None:
        """Remove the segment; a missing one is fine (the collector may run twice)."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[SegmentInfo]:
        """Every segment whose name starts with `prefix`, in no particular order."""

    @abc.abstractmethod
    async def sweep_incomplete(self, older_than: float) -> int:
        """Remove what writers that died mid-put left behind, if it has not changed for at least
        `older_than` seconds (wall clock), and return how many leftovers went. These are never
        segments: `list` does not show them and no name refers to them. A store that cannot
        see its leftovers returns 0 and relies on the store's own expiry (segment_s3.py)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the store's resources. Must be awaited inside the event loop that used the
        store, before that loop ends (segment_s3.py: obstore's exit-time abort)."""
