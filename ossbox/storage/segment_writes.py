"""Writes in segment mode (--data URL): bytes go to immutable segments (or inline into the
metadata store when small) and become visible only through one metadata transaction. No byte is
ever written in place, and no lock outside the metadata store is needed, so any number of nodes
may write the same objects (issue 11; ../shared/spec/scaleout.md).

AppendObject here (`_segment_append`):
  1. read the committed row and check type/position (a 409 precedes the body, as on OSS);
  2. receive the body: up to INLINE_MAX bytes are kept in memory and go into the metadata
     commit itself; a larger body is written as a new segment under a fresh name, registered as
     an intent first (newblobs.py), so a writer that dies leaves collectable garbage;
  3. publish with ONE transaction: the compare-and-set on (blob, size == position) plus the extent
     row. Of racing appenders exactly one commits; the others roll back, their segment is deleted,
     and they answer 409 with the winner's end (read after the failed commit).
The CRC-64 continues from the committed value; SSE encrypts at the absolute offset, so extents
concatenate as stored.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from typing import AsyncIterator, Awaitable, Callable, Optional

from .crc import crc64_update
from .errors import (AppendTooLarge, BlobReclaimed, BodyLengthMismatch, CommitUncertain, CrcMismatch,
                     DigestMismatch, ObjectChanged, ObjectTooLarge, SegmentNotFound, StorageError)
from .metadata import Extent
from .appends import _Conflict, publish_append
from .newblobs import MAX_OBJECT_SIZE, NewBlob
from .records import APPENDABLE, ObjectRecord, appendable_etag, new_id
from .sse import Keystream

log = logging.getLogger("ossbox.engine")

# Bodies up to this size are kept inline in the metadata commit: a small durable append costs one
# metadata commit and no object-store request (the compactor later moves them into a segment).
INLINE_MAX = 256 * 1024
SPOOL_CHUNK = 1024 * 1024
PUBLISH_ATTEMPTS = 8        # commits of one append retried after a conflict the committed state allows


class _Received:
    __slots__ = ("end", "crc", "md5", "inline", "segment")

    def __init__(self, end, crc, md5, inline, segment):
        self.end, self.crc, self.md5, self.inline, self.segment = end, crc, md5, inline, segment


class SegmentWrites:
    """Part of Engine (engine.py): the byte side of writes when a segment store holds the bytes."""

    async def _receive(self, body: AsyncIterator[bytes], offset: int, crc: int, content_length: Optional[int],
                       content_md5: Optional[bytes], *, limit: int, error, stream: Optional[Keystream],
                       target: Optional[NewBlob], md5=None) -> _Received:
        """Receive a body starting at `offset`: hash the plaintext (CRC-64 continued from `crc`,
        MD5), encrypt with `stream`, check the length, the limit and Content-MD5. Up to
        INLINE_MAX bytes come back inline; more are written as a segment -- named `target` when
        given, else a new blob registered now -- which the caller owns (commit or abandon)."""
        start = offset
        if md5 is None and content_md5 is not None:
            md5 = hashlib.md5()
        state = [offset, crc]

        async def stored():
            async for chunk in body:
                n = len(chunk)
                if state[0] + n > limit:
                    raise error(limit)
                state[0] += n
                state[1] = crc64_update(state[1], chunk)
                if md5 is not None:
                    md5.update(chunk)
                yield stream.apply(chunk) if stream is not None else chunk

        inline: Optional[bytes] = None
        segment: Optional[NewBlob] = None
        try:
            if content_length is not None and content_length > INLINE_MAX:
                if offset + content_length > limit:
                    raise error(limit)
                segment = target or await self._start_blob()
                await self.segments.put(segment.id, stored(), length=content_length)
            else:
                buf: Optional[bytearray] = bytearray()
                spool = None
                try:
                    async for data in stored():
                        if spool is None and len(buf) + len(data) <= INLINE_MAX:
                            buf += data
                            continue
                        if spool is None:  # a chunked body that outgrew inline: spool, then put
                            spool = tempfile.TemporaryFile(prefix="ossbox-spool-")
                            await self._run(spool.write, bytes(buf))
                            buf = None
                        await self._run(spool.write, data)
                    if spool is None:
                        inline = bytes(buf)
                    else:
                        size = spool.tell()
                        if content_length is not None and size != content_length:
                            raise BodyLengthMismatch(declared=content_length, received=size)
                        segment = target or await self._start_blob()
                        await self.segments.put(segment.id, self._spooled(spool), length=size)
                finally:
                    if spool is not None:
                        spool.close()
            end = state[0]
            if content_length is not None and end - start != content_length:
                raise BodyLengthMismatch(declared=content_length, received=end - start)
            if content_md5 is not None and md5.digest() != content_md5:
                raise DigestMismatch(expected=content_md5, computed=md5.digest())
        except BaseException:
            if segment is not None and segment is not target:
                await self._abandon(segment)
            raise
        return _Received(end, state[1], md5, inline, segment)

    async def _spooled(self, spool):
        await self._run(spool.seek, 0)
        while True:
            data = await self._run(spool.read, SPOOL_CHUNK)
            if not data:
                return
            yield data

    # -- whole blobs -----------------------------------------------------------------------------
    async def _segment_write_blob(self, nb: NewBlob, body: AsyncIterator[bytes], content_length: Optional[int],
                                  content_md5: Optional[bytes], stream: Optional[Keystream]) -> tuple[int, int, str]:
        """PutObject / UploadPart bytes into blob `nb`: one segment named nb.id, or inline."""
        md5 = hashlib.md5()
        got = await self._receive(body, 0, 0, content_length, content_md5, limit=MAX_OBJECT_SIZE,
                                  error=ObjectTooLarge, stream=stream, target=nb, md5=md5)
        if got.inline:
            nb.extents = [Extent(0, got.end, None, got.inline)]
        return got.end, got.crc, md5.hexdigest()

    async def _segment_copy(self, nb: NewBlob, reader, start: int, end: int, want_md5: bool, crc: bool,
                            decrypt: Optional[Keystream], encrypt: Optional[Keystream]):
        """Copy [start, end) of a source reader into blob `nb` (decrypt, hash, encrypt on the way);
        returns what streams.copy_range returns: the MD5 hex (or None), with the CRC-64 if asked."""
        md5 = hashlib.md5() if want_md5 else None
        state = [0]

        async def chunks():
            async for data in reader.stream(start, end):
                plain = decrypt.apply(data) if decrypt is not None else data
                if md5 is not None:
                    md5.update(plain)
                if crc:
                    state[0] = crc64_update(state[0], plain)
                yield encrypt.apply(plain) if encrypt is not None else plain
        length = end - start
        if length <= INLINE_MAX:
            data = b"".join([c async for c in chunks()])
            nb.extents = [Extent(0, length, None, data)] if length else []
        else:
            await self.segments.put(nb.id, chunks(), length=length)
        digest = md5.hexdigest() if md5 is not None else None
        return (digest, state[0]) if crc else digest

    async def _segment_concat(self, nb: NewBlob, parts, dkey, reader_of) -> None:
        """CompleteMultipartUpload's bytes. Plain parts are not copied: the new blob's extents
        name the parts' own segments (and copy their inline rows), published by the completion's
        commit. Encrypted parts each have their own counter start, so they are re-encrypted into
        one stream as a new segment."""
        if dkey is None:
            extents, pos = [], 0
            for p in parts:
                for ext in await reader_of(p).extents(0, p.size):
                    extents.append(Extent(pos + ext.start, ext.length, ext.segment, ext.data))
                pos += p.size
            nb.extents = extents
            return
        stream = dkey.stream()

        async def chunks():
            for p in parts:
                decrypt = dkey.stream(0, bytes.fromhex(p.sse_iv))
                async for data in reader_of(p).stream(0, p.size):
                    yield stream.apply(decrypt.apply(data))
        await self.segments.put(nb.id, chunks(), length=sum(p.size for p in parts))

    # -- appends ---------------------------------------------------------------------------------
    async def _segment_append(self, bucket: str, key: str, position: int, body: AsyncIterator[bytes], *,
                              content_length: Optional[int], content_md5: Optional[bytes],
                              creation: Callable[[], Awaitable[ObjectRecord]], acl: Optional[str],
                              expected_crc64: Optional[int]) -> ObjectRecord:
        cur = await self.meta.get_object(bucket, key)
        template = await creation() if cur is None else None
        self._check_append(cur, position)
        await self.check_retention(cur)  # OSS: no append to an object a retention policy protects
        dkey, template = await self._append_key(cur, template, position, content_length)
        created = cur is None
        blob = new_id() if created else cur.blob
        got = await self._receive(body, position, cur.crc64 if cur else 0, content_length, content_md5,
                                  limit=MAX_OBJECT_SIZE, error=AppendTooLarge,
                                  stream=dkey.stream(position) if dkey is not None else None, target=None)
        seg = got.segment
        try:
            if expected_crc64 is not None and expected_crc64 != got.crc:
                raise CrcMismatch(expected=expected_crc64, computed=got.crc)
            written = got.end - position
            now = time.time()
            if created:
                new = template.evolve(bucket=bucket, key=key, type=APPENDABLE, size=got.end, crc64=got.crc,
                                      etag=appendable_etag(now), blob=blob, mtime=now, content_md5=None,
                                      sealed=None)
            elif written == 0:
                if acl is None or acl == cur.acl:
                    return cur  # an empty append changes nothing
                new = cur.evolve(acl=acl)
            else:
                new = cur.evolve(size=got.end, crc64=got.crc, etag=appendable_etag(now), mtime=now,
                                 acl=acl if acl is not None else cur.acl)
            extent = Extent(position, written, seg.id if seg else None, None if seg else got.inline)
            garbage: list[str] = []

            def commit(t):
                if seg is not None and not t.adopt_blob(seg.id):
                    raise BlobReclaimed(seg.id)
                final = publish_append(t, new, created, position, garbage)
                if written:
                    t.add_extent(blob, extent)
                return final
            for _attempt in range(PUBLISH_ATTEMPTS):
                try:
                    new = await self.meta.write(commit)
                    break
                except CommitUncertain:
                    if seg is not None:
                        seg.kept = True  # it may be published: only the collector may judge
                    raise
                except _Conflict:
                    # Someone else's write committed first. The committed state answers (409,
                    # not appendable, sealed) -- unless it still allows this append: a key that
                    # was written and deleted again meanwhile (versioned buckets race PUTs and
                    # deletes) is created once more; no lock made us wait, so we retry instead.
                    state = await self.meta.get_object(bucket, key)
                    self._check_append(state, position)
                    if not (created and state is None):
                        raise ObjectChanged(bucket, key) from None
            else:
                raise ObjectChanged(bucket, key)
            if seg is not None:
                seg.kept = True
            self._discard(garbage)
            return new
        finally:
            if seg is not None:
                await self._abandon(seg)

    async def _segment_delete(self, name: str) -> None:
        """Delete a segment no row ever referenced (an abandoned write). A store that is away
        leaves it to the collector's sweep (unreferenced, so marked and deleted later): this runs
        on error paths, whose own error is the one to answer."""
        try:
            await self.segments.delete(name)
        except SegmentNotFound:
            pass
        except StorageError as exc:
            log.warning("segment %s left for the collector: %s", name, exc)
