"""Reading a blob in segment mode (--data URL): its bytes are extents -- inline rows of the
metadata store or ranges of immutable segments -- that tile [0, size).

The extents are looked up when a range is streamed, not when the reader is opened: a committed
range never changes its bytes, only its layout (the compactor replaces many extents by one
merged segment in one transaction), so any snapshot of the extents tiles the range correctly, and
the segments a snapshot names stay in the store for the garbage collector's grace period after
they stop being referenced (segment_upkeep.py).

A blob written whole (PutObject, UploadPart, CopyObject, an SSE multipart completion) is one
segment named by the blob id and has no extent rows, unless it was small enough to be kept
inline; appendable blobs always have rows.
"""
from __future__ import annotations

from .errors import DataShorterThanRecorded
from .metadata import Extent, MetadataStore
from .segments import SegmentStore

READ_CHUNK = 1024 * 1024


class SegmentReader:
    """The bytes of one committed object version in segment mode; the same interface as
    blobs.BlobReader (`stream(start, end, dkey)`, `close()`)."""
    __slots__ = ("_meta", "_store", "blob", "size", "_whole")

    def __init__(self, meta: MetadataStore, store: SegmentStore, blob: str, size: int, whole: bool):
        self._meta = meta
        self._store = store
        self.blob = blob
        self.size = size
        self._whole = whole  # written whole: no extent rows means one segment named by the blob

    def close(self) -> None:
        pass  # nothing is held between streams

    def sendable(self, end: int) -> None:
        return None  # no one local file holds the bytes

    async def extents(self, start: int, end: int) -> list[Extent]:
        found = await self._meta.extents(self.blob, start, end)
        if not found and self._whole and start < end:
            return [Extent(0, self.size, self.blob, None)]
        return found

    async def stream(self, start: int, end: int, dkey=None, chunk: int = READ_CHUNK):
        """Bytes [start, end) as stored, decrypted with `dkey` (an sse.DataKey) when given."""
        keys = dkey.stream(start) if dkey is not None else None
        if keys is not None:
            chunk = min(chunk, keys.max_chunk)
        pos = start
        if start < end:
            for ext in await self.extents(start, end):
                if ext.start > pos:
                    break  # a hole: reported below
                hi = min(end, ext.end)
                if ext.data is not None:
                    pieces = _slices(ext.data, pos - ext.start, hi - ext.start, chunk)
                    for piece in pieces:
                        yield keys.apply(piece) if keys is not None else piece
                else:
                    async for data in self._store.open_range(ext.segment, pos - ext.start, hi - ext.start):
                        for piece in _slices(data, 0, len(data), chunk):
                            yield keys.apply(piece) if keys is not None else piece
                pos = hi
                if pos >= end:
                    break
        if pos < end:
            raise DataShorterThanRecorded("object")


def _slices(data: bytes, lo: int, hi: int, chunk: int):
    if lo == 0 and hi == len(data) and hi <= chunk:
        yield data
        return
    view = memoryview(data)
    for i in range(lo, hi, chunk):
        yield bytes(view[i:min(hi, i + chunk)])
