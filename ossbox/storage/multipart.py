"""Multipart uploads: parts are blobs of their own; completion concatenates them into one."""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import replace
from typing import AsyncIterator, Optional

from . import sse
from .crc import crc64_combine
from .errors import (BucketNotFound, ObjectExists, PartMismatch, PartsOutOfOrder, PartTooSmall, SegmentNotFound,
                     UploadNotFound)
from .newblobs import NewBlob, adds_data
from .records import MULTIPART, ObjectRecord, PartRecord, UploadRecord
from .sse import DataKey, Keystream
from .streams import copy_file, transcode
from .versioning import make_current

MIN_PART_SIZE = 100 * 1024


class _PartGone(Exception):
    """A part's blob vanished between listing the parts and reading them (see _complete)."""

    def __init__(self, part: PartRecord):
        super().__init__(part.part_number)
        self.part = part


class Multipart:
    """Part of Engine (engine.py)."""

    @adds_data
    async def create_upload(self, rec: UploadRecord) -> UploadRecord:
        """Record a new upload; one that asks for SSE gets the data key of its parts and object."""
        _key, sse_key, headers = await self.sse.create(rec.headers)
        if sse_key is not None:
            rec = replace(rec, headers=headers, sse_key=sse_key)

        def txn(t):
            if t.get_bucket(rec.bucket) is None:
                raise BucketNotFound(rec.bucket)
            t.insert_upload(rec)
        await self.meta.write(txn)
        return rec

    async def require_upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        up = await self.meta.get_upload(upload_id)
        if up is None or up.bucket != bucket or up.key != key:
            raise UploadNotFound(upload_id)
        return up

    async def _commit_part(self, part: PartRecord, nb: NewBlob) -> PartRecord:
        def txn(t):
            if t.get_upload(part.upload_id) is None:
                raise UploadNotFound(part.upload_id)
            return t.put_part(part)
        old = await self._commit(txn, nb)
        if old is not None:
            self._discard([old.blob])
        return part

    async def _part_cipher(self, upload: UploadRecord) -> tuple[Optional[Keystream], Optional[str]]:
        """(keystream, stored counter start) for a new part: the upload's data key, and a random
        counter start per part, since parts are written before their offsets are known."""
        dkey = await self.sse.open(upload.sse_key) if upload.sse_key else None
        if dkey is None:
            return None, None
        iv = sse.new_counter_block()
        return dkey.stream(0, iv), iv.hex()

    @adds_data
    async def upload_part(self, upload: UploadRecord, part_number: int, body: AsyncIterator[bytes], *,
                          content_length: Optional[int], content_md5: Optional[bytes]) -> PartRecord:
        stream, iv = await self._part_cipher(upload)
        async with self._new_blob() as nb:
            size, crc, md5hex = await self._write_new_blob(nb, body, content_length, content_md5, stream)
            return await self._commit_part(PartRecord(upload.upload_id, part_number, size, md5hex.upper(),
                                                      crc, nb.id, time.time(), sse_iv=iv), nb)

    @adds_data
    async def upload_part_copy(self, upload: UploadRecord, part_number: int, src: ObjectRecord,
                               start: int, end: int) -> PartRecord:
        rec, fd = src, self._open_source(src)
        try:
            src_key = await self.data_key(rec)
            stream, iv = await self._part_cipher(upload)
            nb = await self._start_blob()
        except BaseException:
            self._close_source(fd)
            raise
        try:
            md5hex, crc = await self._copy_into(
                nb, fd, start, end, True, crc=True,
                decrypt=src_key.stream(start) if src_key is not None else None, encrypt=stream)
            return await self._commit_part(PartRecord(upload.upload_id, part_number, end - start,
                                                      md5hex.upper(), crc, nb.id, time.time(), sse_iv=iv), nb)
        finally:
            await self._abandon(nb)

    @adds_data
    async def complete_upload(self, upload: UploadRecord, chosen: list[tuple[int, str]],
                              forbid_overwrite: bool = False) -> ObjectRecord:
        """Concatenate the chosen (part number, ETag) parts into a Multipart object."""
        stored = {p.part_number: p for p in await self.meta.list_parts(upload.upload_id, 0, 20000)}
        parts: list[PartRecord] = []
        last = 0
        for number, etag in chosen:
            if number <= last:
                raise PartsOutOfOrder(number)
            last = number
            p = stored.get(number)
            if p is None or etag.strip('"').upper() != p.etag:
                raise PartMismatch(number, etag)
            parts.append(p)
        for p in parts[:-1]:
            if p.size < MIN_PART_SIZE:
                raise PartTooSmall(p.part_number, p.size, MIN_PART_SIZE)
        dkey = await self.sse.open(upload.sse_key) if upload.sse_key else None
        async with self._new_blob() as nb:
            return await self._complete(upload, parts, dkey, nb, forbid_overwrite)

    async def _complete(self, upload: UploadRecord, parts: list[PartRecord], dkey: Optional[DataKey],
                        nb: NewBlob, forbid_overwrite: bool) -> ObjectRecord:
        blob = nb.id

        def concat():
            out = self.blobs.create(blob)
            try:
                # encrypted parts each have their own counter start: re-encrypt into one stream
                stream = dkey.stream() if dkey is not None else None
                pos = 0
                for p in parts:
                    try:
                        src = self.blobs.open_read(p.blob)
                    except FileNotFoundError:
                        raise _PartGone(p) from None
                    try:
                        if dkey is None:
                            copy_file(src, out, p.size, pos)
                        else:
                            transcode(src, out, 0, p.size, pos,
                                      dkey.stream(0, bytes.fromhex(p.sse_iv)), stream)
                    finally:
                        os.close(src)
                    pos += p.size
                if self.durable:
                    os.fdatasync(out)
                    self.blobs.sync_dir(blob)
            finally:
                os.close(out)
        try:
            if self.segments is None:
                await self._run(concat)
            else:
                try:
                    await self._segment_concat(nb, parts, dkey, lambda p: self._segment_reader_of(p.blob, p.size, False))
                except SegmentNotFound as e:
                    gone = [p for p in parts if p.blob == e.name] or parts
                    raise _PartGone(gone[0]) from e
        except _PartGone as gone:
            # The upload was aborted or completed meanwhile (its part blobs go once that commits),
            # or the part was uploaded again: the client's answer, not a 500.
            if await self.meta.get_upload(upload.upload_id) is None:
                raise UploadNotFound(upload.upload_id) from None
            raise PartMismatch(gone.part.part_number, gone.part.etag) from None
        crc, size = 0, 0
        for p in parts:
            crc = crc64_combine(crc, p.crc64, p.size)
            size += p.size
        etag = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest().upper()
        now = time.time()
        new = ObjectRecord(bucket=upload.bucket, key=upload.key, type=MULTIPART, size=size, crc64=crc,
                           etag=f"{etag}-{len(parts)}", blob=blob, mtime=now,
                           storage_class=upload.storage_class, acl=upload.acl,
                           headers=dict(upload.headers), tags=list(upload.tags),
                           sse_key=upload.sse_key)

        garbage: list[str] = []

        def commit(t):
            garbage.clear()  # a retried transaction (PostgreSQL conflict) starts over
            if t.get_upload(upload.upload_id) is None:
                raise UploadNotFound(upload.upload_id)
            if forbid_overwrite and t.get_object(new.bucket, new.key) is not None:
                raise ObjectExists(new.bucket, new.key)
            garbage.extend(p.blob for p in t.delete_upload(upload.upload_id))
            return make_current(t, new, garbage, self.worm_day)
        async with self.locks.hold(new.bucket, new.key):
            new = await self._commit(commit, nb)
        self._discard(garbage)
        return new

    async def abort_upload(self, upload: UploadRecord) -> None:
        parts = await self._write_freeing(lambda t: t.delete_upload(upload.upload_id))
        self._discard([p.blob for p in parts])

    async def list_uploads(self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str,
                           limit: int) -> list[UploadRecord]:
        return await self.meta.list_uploads(bucket, prefix, key_marker, upload_id_marker, limit)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[PartRecord]:
        return await self.meta.list_parts(upload_id, after, limit)
