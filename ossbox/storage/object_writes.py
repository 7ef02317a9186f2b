"""Whole-object writes: PutObject, CopyObject, attribute updates, DeleteObject."""
from __future__ import annotations

import base64
import os
import time
from typing import AsyncIterator, Optional

from .errors import CrcMismatch, ObjectExists, ObjectNotFound, VersionNotFound
from .newblobs import NewBlob, adds_data
from .records import DELETE_MARKER, NORMAL, SYMLINK, ObjectRecord, new_version_id
from .versioning import CURRENT, DeleteResult, bucket_of, make_current, retire_current
from .worm import check_changeable


class ObjectWrites:
    """Part of Engine (engine.py)."""

    @adds_data
    async def put_object(self, rec: ObjectRecord, body: AsyncIterator[bytes], *,
                         content_length: Optional[int], content_md5: Optional[bytes],
                         forbid_overwrite: bool = False,
                         expected_crc64: Optional[int] = None, object_type: str = NORMAL) -> ObjectRecord:
        """Store a Normal object (or, from put_symlink, a Symlink). `rec` carries bucket, key and
        the attributes; size/ETag are filled."""
        if forbid_overwrite and await self.meta.get_object(rec.bucket, rec.key) is not None:
            raise ObjectExists(rec.bucket, rec.key)
        dkey, sse_key, headers = await self.sse.create(rec.headers)
        rec = rec.evolve(headers=headers, sse_key=sse_key)
        async with self._new_blob() as nb:
            size, crc, md5hex = await self._write_new_blob(
                nb, body, content_length, content_md5, dkey.stream() if dkey is not None else None)
            if expected_crc64 is not None and expected_crc64 != crc:
                raise CrcMismatch(expected=expected_crc64, computed=crc)
            now = time.time()
            new = rec.evolve(type=object_type, size=size, crc64=crc, etag=md5hex.upper(), blob=nb.id, mtime=now,
                             content_md5=base64.b64encode(bytes.fromhex(md5hex)).decode(), sealed=None)
            return await self._replace(new, nb, forbid_overwrite)

    async def put_symlink(self, rec: ObjectRecord, *, forbid_overwrite: bool = False) -> ObjectRecord:
        """PutSymlink: a new version of rec.key of type Symlink, its target in rec.headers. It
        is written like an empty object (an empty blob), so versioning, deletes, GC and segment
        mode treat it as any other version; it carries no encryption (there are no bytes)."""
        headers = {k: v for k, v in rec.headers.items() if not k.startswith("x-oss-server-side-")}
        return await self.put_object(rec.evolve(headers=headers), _no_bytes(), content_length=0,
                                     content_md5=None, forbid_overwrite=forbid_overwrite,
                                     object_type=SYMLINK)

    async def _replace(self, new: ObjectRecord, nb: NewBlob, forbid_overwrite: bool = False) -> ObjectRecord:
        """Commit a whole new object version (its bytes in the new blob nb) over whatever the key
        held, then drop the old bytes -- only once the commit is durable."""
        garbage: list[str] = []

        def commit(t):
            garbage.clear()  # a retried transaction (PostgreSQL conflict) starts over
            if forbid_overwrite and t.get_object(new.bucket, new.key) is not None:
                raise ObjectExists(new.bucket, new.key)
            return make_current(t, new, garbage, self.worm_day)
        async with self.locks.hold(new.bucket, new.key):
            new = await self._commit(commit, nb)
        self._discard(garbage)
        return new

    async def update_object(self, read: ObjectRecord, **changes) -> ObjectRecord:
        """Change attributes (tags, acl, headers, storage_class, mtime) of the object version
        `read` came from. Only the named fields change, applied to the row as it is under the
        lock, so concurrent attribute updates never undo each other (or a seal)."""
        def txn(t):
            cur = t.get_object(read.bucket, read.key)
            if cur is not None and cur.blob == read.blob and cur.version_id == read.version_id:
                if "mtime" in changes:  # a rewrite (CopyObject onto itself): a retention policy forbids it
                    check_changeable(t, bucket_of(t, read.bucket), read.key, self.worm_day, cur)
                new = cur.evolve(**changes)
                t.update_object(new)
                return new
            found = t.get_noncurrent(read.bucket, read.key, read.version_id)  # a noncurrent version
            if found is None or found[1].blob != read.blob or found[1].is_delete_marker:
                if read.version_id is not None:
                    raise VersionNotFound(read.bucket, read.key, read.version_id)
                raise ObjectNotFound(read.bucket, read.key)
            new = found[1].evolve(**changes)
            t.update_noncurrent(found[0], new)
            return new
        async with self.locks.hold(read.bucket, read.key):
            return await self.meta.write(txn)

    async def delete_object(self, bucket: str, key: str, version_id=CURRENT,
                            expect: Optional[ObjectRecord] = None, sole: bool = False) -> DeleteResult:
        """DeleteObject. Without a version id: removes the object, or in a versioned bucket makes a
        delete marker the current version. With one (None is "null"): removes that version for
        good; if it was current, the newest remaining version becomes current again.
        With `expect` (the lifecycle scanner's compare-and-set): only if the version is still the
        one read -- still current (no version id), or still noncurrent (a version id) -- else nothing
        happens and the result names no version; so a rule applied by several nodes acts once.
        `sole`: remove the version only if it is the key's last one (an expired delete marker)."""
        garbage: list[str] = []

        def txn(t):
            garbage.clear()  # a retry (after a full disk, or a PostgreSQL conflict) starts over
            if expect is not None and not _still(t, bucket, key, version_id, expect):
                return DeleteResult(None, False, None)
            brec = bucket_of(t, bucket)
            status = brec.config.get("versioning")
            if version_id is CURRENT:
                if status is None:
                    check_changeable(t, brec, key, self.worm_day)  # a retention policy may forbid it
                    old = t.delete_object(bucket, key)
                    if old is not None:
                        garbage.append(old.blob)
                    return DeleteResult(None, False, old)
                now = time.time()
                marker = ObjectRecord(bucket=bucket, key=key, type=DELETE_MARKER, size=0, crc64=0, etag="",
                                      blob="", mtime=now, acl="",
                                      version_id=new_version_id() if status == "Enabled" else None)
                old = t.get_object(bucket, key)
                retire_current(t, bucket, key, marker.version_id, garbage)
                t.archive_version(marker)
                return DeleteResult(marker.version_id, True, old)
            cur = t.get_object(bucket, key)
            if cur is not None and cur.version_id == version_id:
                check_changeable(t, brec, key, self.worm_day, cur)
                removed = t.delete_object(bucket, key)
            else:
                found = t.get_noncurrent(bucket, key, version_id)
                if found is None:
                    return DeleteResult(version_id, False, None)
                t.delete_noncurrent(found[0])
                removed = found[1]
                if sole and (t.get_object(bucket, key) is not None or t.newest_noncurrent(bucket, key) is not None):
                    raise _NotSole()  # rolls this function's changes back
                if removed.blob:
                    t.release_blob(removed.blob)
            if removed.blob:
                garbage.append(removed.blob)
            if t.get_object(bucket, key) is None:  # the newest remaining version becomes current
                newest = t.newest_noncurrent(bucket, key)
                if newest is not None and not newest[1].is_delete_marker:
                    t.delete_noncurrent(newest[0])
                    t.insert_object(newest[1])
            return DeleteResult(version_id, removed.is_delete_marker, removed)
        async with self.locks.hold(bucket, key):
            try:
                result = await self._write_freeing(txn)
            except _NotSole:
                return DeleteResult(None, False, None)
        self._discard(garbage)
        if self.space.full:  # accept writes again as soon as enough is freed
            await self._run(self.space.refresh)
        return result

    @adds_data
    async def copy_object(self, src: ObjectRecord, dst: ObjectRecord,
                          forbid_overwrite: bool = False) -> ObjectRecord:
        """Copy src's bytes into a new Normal object described by `dst` (attributes decided by
        the caller). A Normal source keeps its MD5 ETag; other sources get the MD5 of the bytes."""
        rec, fd = src, self._open_source(src)
        try:
            if forbid_overwrite and await self.meta.get_object(dst.bucket, dst.key) is not None:
                raise ObjectExists(dst.bucket, dst.key)
            # the source is decrypted with its key, the copy encrypted with a key of its own
            src_key = await self.data_key(rec)
            dst_key, sse_key, headers = await self.sse.create(dst.headers)
            nb = await self._start_blob()
        except BaseException:
            self._close_source(fd)
            raise
        dst = dst.evolve(headers=headers, sse_key=sse_key)
        need_md5 = src.type != NORMAL or not src.content_md5
        try:
            md5hex = await self._copy_into(
                nb, fd, 0, rec.size, need_md5, decrypt=src_key.stream() if src_key is not None else None,
                encrypt=dst_key.stream() if dst_key is not None else None)
            if need_md5:
                etag, content_md5 = md5hex.upper(), base64.b64encode(bytes.fromhex(md5hex)).decode()
            else:
                etag, content_md5 = src.etag, src.content_md5
            new = dst.evolve(type=NORMAL, size=rec.size, crc64=rec.crc64, etag=etag, blob=nb.id,
                             mtime=time.time(), content_md5=content_md5, sealed=None)
            return await self._replace(new, nb, forbid_overwrite)
        finally:
            await self._abandon(nb)

    def _open_source(self, src: ObjectRecord):
        """An fd on a copy source's bytes (segment mode: a reader); the record stays valid while
        its blob exists (an appendable source may grow meanwhile: only its first src.size bytes
        are read)."""
        if self.segments is not None:
            return self._segment_reader(src)
        try:
            return self.blobs.open_read(src.blob)
        except FileNotFoundError:
            if src.version_id is not None:
                raise VersionNotFound(src.bucket, src.key, src.version_id) from None
            raise ObjectNotFound(src.bucket, src.key) from None

    def _close_source(self, source) -> None:
        if isinstance(source, int):
            os.close(source)
        else:
            source.close()


async def _no_bytes() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing


class _NotSole(Exception):
    """delete_object(sole=True) found other versions of the key: nothing is removed."""


def _still(t, bucket: str, key: str, version_id, expect: ObjectRecord) -> bool:
    """Whether the version `expect` was read from is unchanged: the current one (version_id is
    CURRENT) or a noncurrent one, with the same bytes and time."""
    cur = t.get_object(bucket, key)
    if version_id is CURRENT:
        return cur is not None and (cur.blob, cur.version_id, cur.mtime) == (expect.blob, expect.version_id,
                                                                             expect.mtime)
    if cur is not None and cur.version_id == version_id:
        return False
    found = t.get_noncurrent(bucket, key, version_id)
    return found is not None and (found[1].blob, found[1].mtime) == (expect.blob, expect.mtime)
