"""AppendObject and SealAppendObject: the compare-and-append protocol.

Append protocol (one object):
  1. take the object's lock (in-process + OFD file lock, so it also holds across processes)
  2. read the committed row once and check type/position (a 409 still precedes the body)
  3. stream the body into the blob at `position` (pwrite), continuing the CRC-64 from the stored
     value and the MD5 when Content-MD5 was sent
  4. make the bytes durable: small appends are journalled inside the metadata commit itself
     (pending_chunks), large ones are fdatasync'ed first
  5. commit the new size/CRC/ETag with a compare-and-set on (blob, old size); the metadata store
     makes it durable with a WAL fsync shared by every commit made meanwhile (group commit)
  6. release the lock and acknowledge

Why a crash is harmless: readers are bounded by the committed size, so bytes written in step 3 by an
append that never committed are invisible and get overwritten by the next append. A committed
small append whose blob bytes were lost with the page cache (power loss) is replayed from the
journal at start-up (journal.py). The flusher fsyncs blobs in the background and then retires
their journal rows. See docs/architecture.md, "The append protocol".
"""
from __future__ import annotations

import time
from typing import AsyncIterator, Awaitable, Callable, Optional

from .errors import (AppendTooLarge, CrcMismatch, NotSealable, ObjectChanged, ObjectNotAppendable,
                     ObjectNotFound, ObjectSealed, PositionMismatch)
from .newblobs import MAX_OBJECT_SIZE, adds_data
from .records import APPENDABLE, ObjectRecord, appendable_etag, new_version_id
from .versioning import retire_current, versioning_state


class _Conflict(Exception):
    """The row changed under a commit (it cannot while we hold the lock, but never trust that)."""


def publish_append(t, new: ObjectRecord, created: bool, position: int, garbage: list) -> ObjectRecord:
    """Inside the append's transaction: insert the new appendable object (`created`) or
    compare-and-set the existing one on (blob, size == position). _Conflict if another write got
    there first. Returns the row as committed; `garbage` gets the blobs it stopped referencing."""
    garbage.clear()  # a retried transaction (PostgreSQL conflict) starts over
    if not created:
        if not t.cas_object(new, new.blob, position):
            raise _Conflict()
        return new
    final = new
    # a new appendable version: its id is fixed now; later appends keep it
    status = versioning_state(t, new.bucket)
    if status is not None:
        final = new.evolve(version_id=new_version_id() if status == "Enabled" else None)
        if t.get_object(new.bucket, new.key) is not None:
            raise _Conflict()
        retire_current(t, new.bucket, new.key, final.version_id, garbage)
    if not t.insert_object(final):
        raise _Conflict()
    return final


class Appends:
    """Part of Engine (engine.py)."""

    @staticmethod
    def _check_append(cur: Optional[ObjectRecord], position: int) -> None:
        if cur is None:
            if position != 0:
                raise PositionMismatch(next_position=0)
            return
        if cur.type != APPENDABLE or cur.frozen:
            raise ObjectNotAppendable(cur.bucket, cur.key)
        if cur.sealed is not None:
            raise ObjectSealed(cur.bucket, cur.key)
        if cur.size != position:
            raise PositionMismatch(next_position=cur.size)

    async def _append_key(self, cur: Optional[ObjectRecord], template: Optional[ObjectRecord], position: int,
                          content_length: Optional[int]):
        """The size check from Content-Length, and the data key: made with the object (its
        headers then name it in the template) and inherited by every later append."""
        if content_length is not None and position + content_length > MAX_OBJECT_SIZE:
            raise AppendTooLarge(MAX_OBJECT_SIZE)
        if cur is None:
            dkey, sse_key, headers = await self.sse.create(template.headers)
            if sse_key is not None:
                template = template.evolve(headers=headers, sse_key=sse_key)
            return dkey, template
        return (await self.sse.open(cur.sse_key) if cur.sse_key else None), template

    @adds_data
    async def append_object(self, bucket: str, key: str, position: int, body: AsyncIterator[bytes], *,
                            content_length: Optional[int], content_md5: Optional[bytes],
                            creation: Callable[[], Awaitable[ObjectRecord]], acl: Optional[str] = None,
                            expected_crc64: Optional[int] = None) -> ObjectRecord:
        """Append `body` at `position`. `creation()` is awaited only when the key does not exist:
        it checks the bucket and supplies headers/ACL/class/tags for the new object. `acl`
        (x-oss-object-acl) is also applied to an existing object."""
        if self.segments is not None:  # no in-place writes, no locks: segment_writes.py
            return await self._segment_append(bucket, key, position, body, content_length=content_length,
                                              content_md5=content_md5, creation=creation, acl=acl,
                                              expected_crc64=expected_crc64)
        async def decide():
            cur = await self.meta.get_object(bucket, key)
            template = await creation() if cur is None else None
            self._check_append(cur, position)
            await self.check_retention(cur)  # OSS: no append to an object a retention policy protects
            return cur, template

        # A busy lock may be held by a writer whose body has stalled: decide() on the committed
        # row first and answer a wrong position (or a type or seal error) at once. That answer is
        # linearizable: it is exactly what an append taking effect at the moment of that read would
        # get, since a writer inside the lock changes nothing visible until it commits. Only an
        # append that the committed state allows waits, as it must (the holder may still fail).
        # The uncontended path never pays for this extra read.
        async with self.locks.hold(bucket, key, contended=decide):
            # One read under the lock decides; a wrong position still fails before the body is read.
            cur, template = await decide()
            dkey, template = await self._append_key(cur, template, position, content_length)
            created = cur is None
            nb = await self._start_blob() if created else None
            blob = nb.id if created else cur.blob
            try:
                fd = self.blobs.append_fd(blob, new=created)
                end, crc, md5, journal = await self._stream_into(
                    fd, body, position, cur.crc64 if cur else 0, content_length, content_md5,
                    limit=MAX_OBJECT_SIZE, error=AppendTooLarge,
                    journal=self.durable, stream=dkey.stream(position) if dkey is not None else None)
                if expected_crc64 is not None and expected_crc64 != crc:
                    raise CrcMismatch(expected=expected_crc64, computed=crc)
                written = end - position
                if not created and written == 0:
                    if acl is not None and acl != cur.acl:
                        cur = cur.evolve(acl=acl)
                        await self.meta.write(lambda t: t.update_object(cur))
                    return cur  # an empty append changes nothing else
                if self.durable and journal is None and written:
                    await self._synced(self._sync_appendable, fd)
                    if created:
                        await self._run(self.blobs.sync_dir, blob)
                now = time.time()
                if created:
                    new = template.evolve(bucket=bucket, key=key, type=APPENDABLE, size=end, crc64=crc,
                                          etag=appendable_etag(now), blob=blob, mtime=now,
                                          content_md5=None, sealed=None)
                else:
                    new = cur.evolve(size=end, crc64=crc, etag=appendable_etag(now), mtime=now,
                                     acl=acl if acl is not None else cur.acl)

                garbage: list[str] = []

                def commit(t):
                    final = publish_append(t, new, created, position, garbage)
                    if journal:
                        t.add_pending_chunk(blob, position, bytes(journal))
                    return final
                try:
                    new = await self._commit(commit, nb)
                except _Conflict:
                    self._check_append(await self.meta.get_object(bucket, key), position)
                    raise ObjectChanged(bucket, key)
                self._discard(garbage)
                return new
            except BaseException:
                if nb is not None:
                    await self._abandon(nb)
                raise

    async def seal_object(self, bucket: str, key: str, position: int) -> ObjectRecord:
        async def decide():
            cur = await self.meta.get_object(bucket, key)
            if cur is None:
                raise ObjectNotFound(bucket, key)
            if cur.type != APPENDABLE or cur.frozen:
                raise NotSealable(bucket, key)
            if cur.size != position:
                raise PositionMismatch(next_position=cur.size)
            return cur

        # as in append_object: refused from the committed row without waiting behind a writer
        async with self.locks.hold(bucket, key, contended=decide):
            cur = await decide()
            if cur.sealed is not None:
                return cur  # sealing again keeps the first seal time
            now = time.time()

            def txn(t):
                # guarded like the append's compare-and-set: in segment mode no lock excludes an
                # append committing on another node between decide() and here, and a read-then-
                # update would seal a row that has grown meanwhile (or be undone by the append)
                sealed_now = t.seal_object(bucket, key, cur.blob, position, now)
                found = t.get_object(bucket, key)
                if sealed_now:
                    return found
                if found is not None and found.blob == cur.blob and found.size == position \
                        and found.sealed is not None:
                    return found  # sealed by someone else at the same length: same answer
                raise ObjectChanged(bucket, key)
            try:
                return await self.meta.write(txn)
            except ObjectChanged:
                await decide()  # the committed state's own answer (409, not appendable, ...)
                raise
