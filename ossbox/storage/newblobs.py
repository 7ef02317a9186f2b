"""New blobs: registered before they exist, adopted by the commit that references them, deleted
on any failure before that commit (see docs/architecture.md, "Garbage collection"). Every write
that creates a blob (PutObject, creating append, UploadPart, UploadPartCopy, CopyObject,
CompleteMultipartUpload) goes through `NewBlobs`."""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Optional

from .crc import crc64_update
from .errors import (BlobReclaimed, BodyLengthMismatch, CommitUncertain, DigestMismatch, ObjectTooLarge,
                     StorageFull, WritesRefused)
from .records import new_id
from .reserve import is_disk_full
from .sse import Keystream
from .streams import INLINE_JOURNAL_MAX, WRITE_BATCH, copy_range, pwrite_all, write_batch

log = logging.getLogger("ossbox.engine")

MAX_OBJECT_SIZE = 5 * 1024 ** 3          # 5 GiB: PutObject, UploadPart and appendable objects


class NewBlob:
    """A blob being written by this engine (see Engine._new_blob). `kept` turns true once a
    commit referencing it was made -- durable or of unknown durability -- and from then on no
    error path may delete it."""
    __slots__ = ("id", "kept", "extents")

    def __init__(self, blob: str):
        self.id = blob
        self.kept = False
        # segment mode: extent rows the commit adds for this blob (inline bytes, or the parts'
        # segments of a multipart completion); None: one segment named by the blob id
        self.extents: Optional[list] = None


def adds_data(method):
    """For a write that adds data: refused at once while the disk reserve is released (so it cannot
    use up the blocks kept for deletes), and ENOSPC from its blob I/O is StorageFull, not a 500."""
    @functools.wraps(method)
    async def checked(self, *args, **kwargs):
        if self._blob_sync_failed is not None:
            raise WritesRefused()
        self.space.check_writable()
        try:
            return await method(self, *args, **kwargs)
        except OSError as exc:
            if is_disk_full(exc):
                raise StorageFull() from exc
            raise
    return checked


class NewBlobs:
    """Part of Engine (engine.py): the lifecycle of the blobs its writes create."""

    async def _start_blob(self) -> NewBlob:
        """A fresh blob id, registered as in flight (an intent row owned by this engine) before
        its file is created: the collector never takes a blob whose owner's lease is live, so a
        write may pause for as long as it likes. durable=False: an intent lost with a power
        failure belongs to a writer that died too, so nothing will ever reference its blob, and
        an unreferenced blob without an intent is collected (after the grace period)."""
        nb = NewBlob(new_id())
        await self.meta.write(lambda t: t.add_blob_intent(nb.id, self.owner, time.time()), durable=False)
        return nb

    async def _commit(self, fn: Callable, nb: Optional[NewBlob]):
        """meta.write(fn); when fn's rows reference the new blob `nb`, the same transaction
        removes its intent -- and rolls back if the intent is gone (the collector judged this
        engine dead and may have deleted the file). Once committed, or if the commit's
        durability is unknown, the blob is kept whatever happens next."""
        if nb is None:
            return await self.meta.write(fn)

        def txn(t):
            if not t.adopt_blob(nb.id):
                raise BlobReclaimed(nb.id)
            for extent in nb.extents or ():
                t.add_extent(nb.id, extent)
            return fn(t)
        try:
            result = await self.meta.write(txn)
        except CommitUncertain:
            nb.kept = True
            raise
        nb.kept = True
        return result

    async def _abandon(self, nb: NewBlob) -> None:
        """Delete a new blob no commit references (the transaction rolled back, or never ran):
        the file first, then the intent, so a crash in between leaves an intent of a dead owner,
        which the collector removes."""
        if nb.kept:
            return
        if self.segments is not None:
            await self._segment_delete(nb.id)
        else:
            self.blobs.delete(nb.id)
        try:
            await self.meta.write(lambda t: t.drop_blob_intent(nb.id, self.owner), durable=False)
        except Exception:  # e.g. writes refused: collected once this engine's lease has ended
            log.debug("intent of abandoned blob %s left for the collector", nb.id)

    @asynccontextmanager
    async def _new_blob(self) -> AsyncIterator[NewBlob]:
        """The one way to make a new blob: registered first, deleted on any failure before its
        commit (never after: see _commit)."""
        nb = await self._start_blob()
        try:
            yield nb
        finally:
            await self._abandon(nb)

    async def _write_new_blob(self, nb: NewBlob, body: AsyncIterator[bytes], content_length: Optional[int],
                              content_md5: Optional[bytes], stream: Optional[Keystream] = None
                              ) -> tuple[int, int, str]:
        """Stream a body into a new durable blob (encrypted with `stream` if given); returns
        (size, crc64, md5 hex), the checksums over the plaintext."""
        if self.segments is not None:
            return await self._segment_write_blob(nb, body, content_length, content_md5, stream)
        fd = self.blobs.create(nb.id)
        try:
            md5 = hashlib.md5()
            size, crc, _md5, _ = await self._stream_into(
                fd, body, 0, 0, content_length, content_md5, limit=MAX_OBJECT_SIZE,
                error=ObjectTooLarge, journal=False, md5=md5, stream=stream)
            if self.durable:
                await self._run(os.fdatasync, fd)
                await self._run(self.blobs.sync_dir, nb.id)
            return size, crc, md5.hexdigest()
        finally:
            os.close(fd)

    async def _stream_into(self, fd: int, body: AsyncIterator[bytes], offset: int, crc: int,
                           content_length: Optional[int], content_md5: Optional[bytes], *, limit: int,
                           error, journal: bool, md5=None, stream: Optional[Keystream] = None):
        """Write body at offset, encrypted with `stream` if given; verify length and MD5; a body
        running past `limit` raises `error(limit)` (ObjectTooLarge or AppendTooLarge). Returns
        (end, crc, md5, journal bytes or None). CRC and MD5 are over the plaintext; the blob and
        the journal copy get the ciphertext. The journal copy is kept only while the total stays
        small enough to inline."""
        start = offset
        if content_md5 is not None and md5 is None:
            md5 = hashlib.md5()
        kept: Optional[bytearray] = bytearray() if journal else None
        # Up to INLINE_JOURNAL_MAX the body is written on the loop as it arrives (a small append
        # costs no thread hop). Past that, chunks are gathered into batches of WRITE_BATCH bytes
        # and each batch is written, checksummed and (when durable) handed to the disk's
        # writeback in an I/O thread, while the loop receives the next one: one batch in flight,
        # so memory stays at about two batches per request (docs/performance.md).
        pending = None              # the batch in the I/O thread; its result is the CRC after it
        batch: list = []
        batch_at = batch_len = 0
        loop = asyncio.get_running_loop()
        try:
            async for chunk in body:
                # The reserve may have been released since this write began: stop adding data, or
                # the blocks it gave back for deletes are gone (adds_data refuses only new writes).
                self.space.check_writable()
                n = len(chunk)
                if offset + n > limit:
                    raise error(limit)
                if pending is None and not batch and offset + n - start <= INLINE_JOURNAL_MAX:
                    stored = stream.apply(chunk) if stream is not None else chunk
                    pwrite_all(fd, stored, offset)
                    crc = crc64_update(crc, chunk)
                    if md5 is not None:
                        md5.update(chunk)
                    if kept is not None:
                        kept += stored
                    offset += n
                    continue
                kept = None
                if not batch:
                    batch_at = offset
                batch.append(chunk)
                batch_len += n
                offset += n
                if batch_len >= WRITE_BATCH:
                    if pending is not None:
                        crc = await pending
                    pending = loop.run_in_executor(self.io, write_batch, fd, batch, batch_at, crc, md5,
                                                   stream, self.durable)
                    batch, batch_len = [], 0
            if pending is not None:
                crc = await pending
            if batch:
                pending = loop.run_in_executor(self.io, write_batch, fd, batch, batch_at, crc, md5,
                                               stream, self.durable)
                crc = await pending
        finally:
            if pending is not None and not pending.done():
                await asyncio.wait([pending])  # no thread may use fd once it is closed
        if content_length is not None and offset - start != content_length:
            raise BodyLengthMismatch(declared=content_length, received=offset - start)
        if content_md5 is not None and md5.digest() != content_md5:
            raise DigestMismatch(expected=content_md5, computed=md5.digest())
        return offset, crc, md5, kept

    async def _copy_into(self, nb: NewBlob, src_fd: int, start: int, end: int, want_md5: bool, *,
                         crc: bool = False, decrypt: Optional[Keystream] = None,
                         encrypt: Optional[Keystream] = None):
        """Copy [start, end) of an open source into the new blob `nb` in an I/O thread (durably
        unless --durability none) and close `src_fd`; returns what copy_range returns. In
        segment mode `src_fd` is the source's reader (see _open_source)."""
        if self.segments is not None:
            return await self._segment_copy(nb, src_fd, start, end, want_md5, crc, decrypt, encrypt)
        def copy():
            out = self.blobs.create(nb.id)
            try:
                result = copy_range(src_fd, out, start, end, want_md5, crc=crc, decrypt=decrypt, encrypt=encrypt)
                if self.durable:
                    os.fdatasync(out)
                    self.blobs.sync_dir(nb.id)
                return result
            finally:
                os.close(out)
                os.close(src_fd)
        return await self._run(copy)
