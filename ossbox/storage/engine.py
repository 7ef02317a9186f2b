"""The storage engine: atomic compare-and-append, durable acknowledgements, crash consistency.

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
journal at start-up. The flusher fsyncs blobs in the background and then retires their journal rows.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import os
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import AsyncIterator, Awaitable, Callable, Optional

from .. import errors
from .blobs import BlobReader, BlobStore
from .crc import crc64_combine, crc64_update
from .locks import ObjectLocks
from .metadata import CommitUncertain, MetadataStore, RestoreRecord, WritesRefused
from .records import (APPENDABLE, DELETE_MARKER, MULTIPART, NORMAL, BucketRecord, ObjectRecord,
                      PartRecord, UploadRecord, appendable_etag, new_id, new_version_id)
from .reserve import DEFAULT_RESERVE, SpaceReserve, is_disk_full
from . import listing, restore, sse
from .iam import Identities
from .server_keys import server_secret
from .sse import DataKey, Keystream

log = logging.getLogger("ossbox.engine")

MAX_OBJECT_SIZE = 5 * 1024 ** 3          # 5 GiB: PutObject, UploadPart and appendable objects
INLINE_JOURNAL_MAX = 256 * 1024          # appends up to this size are journalled in the metadata commit
COPY_CHUNK = 8 * 1024 * 1024
MIN_PART_SIZE = 100 * 1024
FLUSH_INTERVAL = 0.5
GC_GRACE_SECONDS = 600                   # extra safety: no unreferenced blob younger than this is collected
GC_INTERVAL = 3600
LEASE_RENEW = 5                          # seconds between renewals of this engine's lease
LEASE_TTL = 60                           # a lease not renewed for this long: its owner is dead


class _Conflict(Exception):
    """The row changed under a commit (it cannot while we hold the lock, but never trust that)."""


class _NewBlob:
    """A blob being written by this engine (see Engine._new_blob). `kept` turns true once a
    commit referencing it was made -- durable or of unknown durability -- and from then on no
    error path may delete it."""
    __slots__ = ("id", "kept")

    def __init__(self, blob: str):
        self.id = blob
        self.kept = False


CURRENT = object()  # delete_object(version_id=CURRENT): no versionId given


@dataclass
class DeleteResult:
    version_id: Optional[str]          # the version removed, or the delete marker made (None: "null")
    delete_marker: bool                # a delete marker was made, or the version removed was one
    removed: Optional[ObjectRecord]    # the version whose data went away or became noncurrent


# -- versioning rules, applied inside metadata transactions -------------------------------------
def _versioning(t, bucket: str) -> Optional[str]:
    """The bucket's versioning state: None (never enabled), "Enabled" or "Suspended"."""
    rec = t.get_bucket(bucket)
    if rec is None:
        raise errors.NoSuchBucket(BucketName=bucket)
    return rec.config.get("versioning")


def _forget(t, rec: ObjectRecord, garbage: list) -> None:
    if rec.blob:
        t.release_blob(rec.blob)
        garbage.append(rec.blob)


def _retire_current(t, bucket: str, key: str, successor_version: Optional[str], garbage: list) -> None:
    """A new version (or delete marker) with id `successor_version` is about to become current in a
    versioned bucket: the current one becomes noncurrent (never appendable again), unless both are
    the "null" version, which is replaced. A "null" successor also replaces a noncurrent "null"."""
    old = t.get_object(bucket, key)
    if old is not None:
        t.remove_current(bucket, key)
        if old.version_id is None and successor_version is None:
            _forget(t, old, garbage)
        else:
            t.archive_version(old.evolve(frozen=old.frozen or old.type == APPENDABLE))
    if successor_version is None:
        found = t.get_noncurrent(bucket, key, None)
        if found is not None:
            t.delete_noncurrent(found[0])
            _forget(t, found[1], garbage)


def _make_current(t, new: ObjectRecord, garbage: list) -> ObjectRecord:
    """Commit `new` as its key's current version; returns it with its version id."""
    status = _versioning(t, new.bucket)
    if status is None:
        old = t.put_object(new)
        if old is not None and old.blob != new.blob:
            garbage.append(old.blob)
        return new
    new = new.evolve(version_id=new_version_id() if status == "Enabled" else None)
    _retire_current(t, new.bucket, new.key, new.version_id, garbage)
    t.insert_object(new)
    return new


def _adds_data(method):
    """For a write that adds data: refused at once while the disk reserve is released (so it cannot
    use up the blocks kept for deletes), and ENOSPC from its blob I/O is the OSS error, not a 500."""
    @functools.wraps(method)
    async def checked(self, *args, **kwargs):
        self.space.check_writable()
        try:
            return await method(self, *args, **kwargs)
        except OSError as exc:
            if is_disk_full(exc):
                raise errors.StorageFull() from exc
            raise
    return checked


class Engine:
    """The storage API: the one thing ops/, http/ and auth/ call (see docs/architecture.md).
    Its drivers -- metadata store, blob store, lock service -- are built by storage/drivers.py
    and handed in; the engine never constructs one."""

    def __init__(self, data_dir: str, *, meta: MetadataStore, blobs: BlobStore, locks: ObjectLocks,
                 durability: str = "fsync", disk_reserve: int = DEFAULT_RESERVE):
        if durability not in ("fsync", "none"):
            raise ValueError("durability must be 'fsync' or 'none'")
        self.data_dir = os.path.abspath(data_dir)
        self.durable = durability == "fsync"
        self.meta = meta
        self.blobs = blobs
        self.locks = locks
        self.io = ThreadPoolExecutor(max_workers=32, thread_name_prefix="ossbox-io")
        self.sse = sse.Keyring(self.meta)   # data keys and the built-in KMS
        self.iam = Identities(self.meta)    # users, access keys, identity policies
        self.space = SpaceReserve(self.data_dir, disk_reserve)
        self._journal_kept = False  # the last journal retirement met a full disk (logged once)
        self._background_task: Optional[asyncio.Task] = None
        # Owner of this engine's in-flight blobs, unique across processes and hosts; its lease
        # row in the metadata store (renewed every LEASE_RENEW s) tells collectors it is alive.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:12]}"

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.space.before_open()
        await self.meta.start()
        await self._renew_lease()  # before any intent of ours exists
        await self.recover()
        self.space.start()
        self._background_task = asyncio.get_running_loop().create_task(self._background())

    async def stop(self) -> None:
        await self.space.stop()
        if self._background_task is not None:
            self._background_task.cancel()
            try:
                await self._background_task
            except asyncio.CancelledError:
                pass
            self._background_task = None
            try:
                await self.flush_journal()
                # intents we could not drop (cancelled writes) become collectable at once
                await self.meta.write(lambda t: t.drop_lease(self.owner, float("inf")), durable=False)
            except (WritesRefused, CommitUncertain):
                log.warning("stopping without a journal flush: the metadata store refuses writes")
        await self.meta.close()
        self.blobs.close()
        self.locks.close()
        self.io.shutdown(wait=True)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    # -- recovery, journal and garbage -----------------------------------------------------------
    async def recover(self) -> None:
        """Replay journalled appends into their blobs (they may have lost un-synced bytes)."""
        chunks = await self.meta.pending_chunks()
        if not chunks:
            return

        def replay():
            fds: dict[str, int] = {}
            try:
                for _id, blob, offset, data in chunks:
                    fd = fds.get(blob)
                    if fd is None:
                        fd = fds[blob] = self.blobs.open_write(blob, create=True)
                    _pwrite_all(fd, data, offset)
                for blob, fd in fds.items():
                    os.fdatasync(fd)
                    self.blobs.sync_dir(blob)
            finally:
                for fd in fds.values():
                    os.close(fd)

        await self._run(replay)
        upto = chunks[-1][0]
        blobs = {c[1] for c in chunks}
        await self._retire_journal(upto, blobs)
        log.info("replayed %d journalled appends into %d blobs", len(chunks), len(blobs))

    async def flush_journal(self) -> None:
        """Make journalled blobs durable, then retire their journal rows."""
        upto, blobs = await self.meta.pending_summary()
        if not blobs:
            return
        await self._run(self._sync_blobs, blobs)
        await self._retire_journal(upto, blobs)

    async def _retire_journal(self, upto: int, blobs) -> None:
        """Drop journal rows whose bytes are durable in their blobs. On a full disk they stay (a
        replay of them is harmless) until a later flush: not worth spending the reserve on."""
        try:
            await self.meta.write(lambda t: t.drop_pending(upto, blobs))
        except errors.OssError as exc:
            if exc.spec is not errors.StorageFull:
                raise
            if not self._journal_kept:
                log.warning("disk full: journal rows are kept until there is space to retire them")
            self._journal_kept = True
        else:
            self._journal_kept = False

    async def _write_freeing(self, fn):
        """A metadata write that frees space (a delete or abort). If the disk is too full even for that,
        release the reserve and try once more (SQLite rolled the failed attempt back)."""
        try:
            return await self.meta.write(fn)
        except errors.OssError as exc:
            if exc.spec is not errors.StorageFull or not self.space.release("a delete needed space"):
                raise
        return await self.meta.write(fn)

    def _sync_blobs(self, blobs) -> None:
        for blob in blobs:
            try:
                fd = self.blobs.open_write(blob)
            except FileNotFoundError:
                continue  # deleted meanwhile; its journal rows went with it
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
            self.blobs.sync_dir(blob)

    async def _renew_lease(self) -> None:
        # durable=False: a lease row lost with a power failure belongs to a process that died too
        await self.meta.write(lambda t: t.renew_lease(self.owner, time.time()), durable=False)

    async def _background(self) -> None:
        """Retire the journal every FLUSH_INTERVAL; renew the lease every LEASE_RENEW; sweep
        orphaned blobs at start and hourly."""
        next_sweep = 0.0
        next_renewal = time.monotonic() + LEASE_RENEW
        while True:
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + LEASE_RENEW
                try:
                    await self._renew_lease()
                except WritesRefused:
                    pass  # no write can commit either, so no intent of ours needs protecting
                except Exception:
                    log.exception("lease renewal failed")
            if self.durable:
                try:
                    await self.flush_journal()
                except WritesRefused:
                    pass  # the journal stays valid; the restart that recovers the store replays it
                except Exception:  # keep going; the journal stays valid until a flush succeeds
                    log.exception("journal flush failed")
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + GC_INTERVAL
                try:
                    removed = await self.collect_garbage()
                    if removed:
                        log.info("removed %d orphaned blobs", removed)
                except Exception:
                    log.exception("garbage collection failed")
            await asyncio.sleep(FLUSH_INTERVAL)

    async def collect_garbage(self, grace: float = GC_GRACE_SECONDS) -> int:
        """Delete blobs that are provably abandoned: no row refers to them and no live writer
        may still commit them (see _new_blob); and, as extra safety, older than `grace` seconds.

        Order matters. 1) List the blob files. 2) Read references, intents and leases in ONE
        snapshot taken after the listing. A listed file was created after its intent row was
        committed, so in that later snapshot it is either referenced (its commit removed the
        intent in the same transaction), or still has its intent, or has neither -- and then its
        writer gave up or its bytes became garbage, and no row can ever refer to it again (blob
        ids are random and never reused). Reading the references before listing would lose a
        blob created and committed in between. 3) An intent of an owner whose lease expired is
        removed only by a transaction that re-checks the lease and that the intent is still
        there; a writer that was merely slow then fails its commit (adopt_blob finds no intent)
        instead of committing a reference to deleted bytes. Only then is the file unlinked."""
        cutoff = time.time() - grace

        def listing():
            old = {}
            for name, path in self.blobs.all_blob_ids():
                try:
                    if os.stat(path).st_mtime < cutoff:
                        old[name] = path
                except FileNotFoundError:
                    pass
            return old
        old = await self._run(listing)
        claims = await self.meta.blob_claims()
        lease_cutoff = time.time() - LEASE_TTL
        alive = {o for o, renewed in claims.leases.items() if renewed >= lease_cutoff} | {self.owner}
        doomed = [b for b in old if b not in claims.referenced and b not in claims.intents]
        # intents of dead owners: their blob is abandoned if old enough, or its file never came
        abandoned = [(b, o) for b, o in claims.intents.items()
                     if o not in alive and b not in claims.referenced
                     and (b in old or not self.blobs.exists(b))]
        dead = {o for o in claims.leases if o not in alive}
        if abandoned or dead:
            def fence(t):
                taken = [b for b, o in abandoned if t.drop_blob_intent(b, o, lease_cutoff)]
                for o in dead:
                    t.drop_lease(o, lease_cutoff)
                return taken
            doomed += [b for b in await self.meta.write(fence) if b in old]

        def sweep():
            for name in doomed:
                try:
                    os.unlink(old[name])
                except FileNotFoundError:
                    pass
        await self._run(sweep)
        return len(doomed)

    # -- buckets ---------------------------------------------------------------------------------
    async def get_bucket(self, name: str) -> Optional[BucketRecord]:
        return await self.meta.get_bucket(name)

    async def require_bucket(self, name: str) -> BucketRecord:
        rec = await self.meta.get_bucket(name)
        if rec is None:
            raise errors.NoSuchBucket(BucketName=name)
        return rec

    async def create_bucket(self, rec: BucketRecord) -> tuple[bool, BucketRecord]:
        def txn(t):
            if t.insert_bucket(rec):
                return True, rec
            return False, t.get_bucket(rec.name)
        return await self.meta.write(txn)

    async def update_bucket(self, rec: BucketRecord) -> None:
        await self.meta.write(lambda t: t.update_bucket(rec))

    async def delete_bucket(self, name: str) -> None:
        def txn(t):
            if t.get_bucket(name) is None:
                raise errors.NoSuchBucket(BucketName=name)
            if not t.bucket_is_empty(name):
                raise errors.BucketNotEmpty(BucketName=name)
            t.delete_bucket(name)
        await self._write_freeing(txn)

    async def list_buckets(self, prefix: str = "", marker: str = "", limit: int = 1000):
        return await self.meta.list_buckets(prefix, marker, limit)

    # -- server secrets, restore state ----------------------------------------------------------
    async def server_secret(self, name: str) -> bytes:
        """A secret shared by every process on this store, created on first use."""
        return await server_secret(self.meta, name)

    async def get_restore(self, obj: ObjectRecord) -> Optional[RestoreRecord]:
        """RestoreObject state of an archived object version (None: never requested)."""
        return await restore.get_restore(self.meta, obj)

    async def request_restore(self, obj: ObjectRecord, days: int, delay: float) -> str:
        """RestoreObject: restore.STARTED or restore.EXTENDED (see storage/restore.py)."""
        return await restore.request_restore(self.meta, obj, days, delay)

    # -- object reads ----------------------------------------------------------------------------
    async def get_object(self, bucket: str, key: str) -> Optional[ObjectRecord]:
        return await self.meta.get_object(bucket, key)

    async def list_objects(self, bucket: str, prefix: str = "", after: str = "", limit: int = 1000,
                           inclusive: bool = False) -> list[ObjectRecord]:
        return await self.meta.list_objects(bucket, prefix, after, limit, inclusive)

    async def list_page(self, bucket: str, prefix: str, delimiter: str, marker: str, limit: int
                        ) -> tuple[list, bool, str]:
        """One ListObjects page: (entries, truncated, next marker); see storage/listing.py."""
        return await listing.scan(self.meta, bucket, prefix, delimiter, marker, limit)

    async def list_versions_page(self, bucket: str, prefix: str, delimiter: str, key_marker: str,
                                 before_seq: int, limit: int) -> tuple[list, bool]:
        """One ListObjectVersions page: (entries, truncated); see storage/listing.py."""
        return await listing.scan_versions(self.meta, bucket, prefix, delimiter, key_marker, before_seq, limit)

    async def get_version(self, bucket: str, key: str, version_id: Optional[str]) -> Optional[ObjectRecord]:
        return await self.meta.get_version(bucket, key, version_id)

    async def newest_noncurrent(self, bucket: str, key: str) -> Optional[ObjectRecord]:
        return await self.meta.newest_noncurrent(bucket, key)

    async def version_position(self, bucket: str, key: str, version_id: Optional[str]) -> Optional[int]:
        return await self.meta.version_position(bucket, key, version_id)

    async def list_versions(self, bucket: str, prefix: str, after_key: str, before_seq: int, limit: int):
        return await self.meta.list_versions(bucket, prefix, after_key, before_seq, limit)

    def open_version(self, rec: ObjectRecord) -> BlobReader:
        """A reader of a version's bytes (blobs never change below a committed size, so the record
        and the reader agree as long as the blob still exists)."""
        try:
            return BlobReader(self.blobs.open_read(rec.blob))
        except FileNotFoundError:
            raise errors.NoSuchVersion(Key=rec.key, VersionId=rec.version_id or "null") from None

    async def open_object(self, bucket: str, key: str) -> tuple[Optional[ObjectRecord], Optional[BlobReader]]:
        """The committed record and a reader of its bytes, consistent with each other."""
        for _ in range(8):
            rec = await self.meta.get_object(bucket, key)
            if rec is None:
                return None, None
            try:
                return rec, BlobReader(self.blobs.open_read(rec.blob))
            except FileNotFoundError:
                await asyncio.sleep(0)  # replaced between the two reads: look again
        raise errors.ServiceUnavailable("The object is being modified too quickly; try again.")

    async def data_key(self, rec: ObjectRecord) -> Optional[DataKey]:
        """The object's data key (None: stored in plain). Fails if its KMS key is disabled."""
        return await self.sse.open(rec.sse_key) if rec.sse_key else None

    # -- append ----------------------------------------------------------------------------------
    @staticmethod
    def _check_append(cur: Optional[ObjectRecord], position: int) -> None:
        if cur is None:
            if position != 0:
                raise errors.PositionNotEqualToLength(headers={"x-oss-next-append-position": "0"})
            return
        if cur.type != APPENDABLE or cur.frozen:
            raise errors.ObjectNotAppendable()
        if cur.sealed is not None:
            raise errors.ObjectSealed()
        if cur.size != position:
            raise errors.PositionNotEqualToLength(
                headers={"x-oss-next-append-position": str(cur.size)})

    @_adds_data
    async def append_object(self, bucket: str, key: str, position: int, body: AsyncIterator[bytes], *,
                            content_length: Optional[int], content_md5: Optional[bytes],
                            creation: Callable[[], Awaitable[ObjectRecord]], acl: Optional[str] = None,
                            expected_crc64: Optional[int] = None) -> ObjectRecord:
        """Append `body` at `position`. `creation()` is awaited only when the key does not exist:
        it checks the bucket and supplies headers/ACL/class/tags for the new object. `acl`
        (x-oss-object-acl) is also applied to an existing object."""
        async def decide():
            cur = await self.meta.get_object(bucket, key)
            template = await creation() if cur is None else None
            self._check_append(cur, position)
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
            if content_length is not None and position + content_length > MAX_OBJECT_SIZE:
                raise errors.AppendTooLarge()
            created = cur is None
            # The data key is made with the object and inherited by every later append.
            if created:
                dkey, sse_key, headers = await self.sse.create(template.headers)
                if sse_key is not None:
                    template = template.evolve(headers=headers, sse_key=sse_key)
            else:
                dkey = await self.sse.open(cur.sse_key) if cur.sse_key else None
            nb = await self._start_blob() if created else None
            blob = nb.id if created else cur.blob
            try:
                fd = self.blobs.append_fd(blob, new=created)
                end, crc, md5, journal = await self._stream_into(
                    fd, body, position, cur.crc64 if cur else 0, content_length, content_md5,
                    limit=MAX_OBJECT_SIZE, error=errors.AppendTooLarge,
                    journal=self.durable, stream=dkey.stream(position) if dkey is not None else None)
                if expected_crc64 is not None and expected_crc64 != crc:
                    raise errors.InvalidCRC64()
                written = end - position
                if not created and written == 0:
                    if acl is not None and acl != cur.acl:
                        cur = cur.evolve(acl=acl)
                        await self.meta.write(lambda t: t.update_object(cur))
                    return cur  # an empty append changes nothing else
                if self.durable and journal is None and written:
                    await self._run(os.fdatasync, fd)
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
                    final = new
                    if created:
                        # a new appendable version: its id is fixed now; later appends keep it
                        status = _versioning(t, bucket)
                        if status is not None:
                            final = new.evolve(version_id=new_version_id() if status == "Enabled" else None)
                            if t.get_object(bucket, key) is not None:
                                raise _Conflict()
                            _retire_current(t, bucket, key, final.version_id, garbage)
                        if not t.insert_object(final):
                            raise _Conflict()
                    elif not t.cas_object(new, blob, position):
                        raise _Conflict()
                    if journal:
                        t.add_pending_chunk(blob, position, bytes(journal))
                    return final
                try:
                    new = await self._commit(commit, nb)
                except _Conflict:
                    self._check_append(await self.meta.get_object(bucket, key), position)
                    raise errors.ServiceUnavailable("The object changed concurrently; try again.")
                for old_blob in garbage:
                    self.blobs.delete(old_blob)
                return new
            except BaseException:
                if nb is not None:
                    await self._abandon(nb)
                raise

    async def seal_object(self, bucket: str, key: str, position: int) -> ObjectRecord:
        async def decide():
            cur = await self.meta.get_object(bucket, key)
            if cur is None:
                raise errors.NoSuchKey(Key=key)
            if cur.type != APPENDABLE or cur.frozen:
                raise errors.ObjectNotAppendable()
            if cur.size != position:
                raise errors.PositionNotEqualToLength(
                    headers={"x-oss-next-append-position": str(cur.size)})
            return cur

        # as in append_object: refused from the committed row without waiting behind a writer
        async with self.locks.hold(bucket, key, contended=decide):
            cur = await decide()
            if cur.sealed is not None:
                return cur  # sealing again keeps the first seal time
            new = cur.evolve(sealed=time.time())
            await self.meta.write(lambda t: t.update_object(new))
            return new

    # -- whole-object writes ---------------------------------------------------------------------
    # -- new blobs: registered before they exist, adopted by the commit that references them ----
    async def _start_blob(self) -> _NewBlob:
        """A fresh blob id, registered as in flight (an intent row owned by this engine) before
        its file is created: the collector never takes a blob whose owner's lease is live, so a
        write may pause for as long as it likes. durable=False: an intent lost with a power
        failure belongs to a writer that died too, so nothing will ever reference its blob, and
        an unreferenced blob without an intent is collected (after the grace period)."""
        nb = _NewBlob(new_id())
        await self.meta.write(lambda t: t.add_blob_intent(nb.id, self.owner, time.time()), durable=False)
        return nb

    async def _commit(self, fn: Callable, nb: Optional[_NewBlob]):
        """meta.write(fn); when fn's rows reference the new blob `nb`, the same transaction
        removes its intent -- and rolls back if the intent is gone (the collector judged this
        engine dead and may have deleted the file). Once committed, or if the commit's
        durability is unknown, the blob is kept whatever happens next."""
        if nb is None:
            return await self.meta.write(fn)

        def txn(t):
            if not t.adopt_blob(nb.id):
                raise errors.ServiceUnavailable("The write's data was reclaimed as abandoned; try again.")
            return fn(t)
        try:
            result = await self.meta.write(txn)
        except CommitUncertain:
            nb.kept = True
            raise
        nb.kept = True
        return result

    async def _abandon(self, nb: _NewBlob) -> None:
        """Delete a new blob no commit references (the transaction rolled back, or never ran):
        the file first, then the intent, so a crash in between leaves an intent of a dead owner,
        which the collector removes."""
        if nb.kept:
            return
        self.blobs.delete(nb.id)
        try:
            await self.meta.write(lambda t: t.drop_blob_intent(nb.id, self.owner), durable=False)
        except Exception:  # e.g. writes refused: collected once this engine's lease has ended
            log.debug("intent of abandoned blob %s left for the collector", nb.id)

    @asynccontextmanager
    async def _new_blob(self) -> AsyncIterator[_NewBlob]:
        """The one way to make a new blob: registered first, deleted on any failure before its
        commit (never after: see _commit)."""
        nb = await self._start_blob()
        try:
            yield nb
        finally:
            await self._abandon(nb)

    async def _write_new_blob(self, nb: _NewBlob, body: AsyncIterator[bytes], content_length: Optional[int],
                              content_md5: Optional[bytes], stream: Optional[Keystream] = None
                              ) -> tuple[int, int, str]:
        """Stream a body into a new durable blob (encrypted with `stream` if given); returns
        (size, crc64, md5 hex), the checksums over the plaintext."""
        fd = self.blobs.create(nb.id)
        try:
            md5 = hashlib.md5()
            size, crc, _md5, _ = await self._stream_into(
                fd, body, 0, 0, content_length, content_md5, limit=MAX_OBJECT_SIZE,
                error=errors.EntityTooLarge, journal=False, md5=md5, stream=stream)
            if self.durable:
                await self._run(os.fdatasync, fd)
                await self._run(self.blobs.sync_dir, nb.id)
            return size, crc, md5.hexdigest()
        finally:
            os.close(fd)

    @_adds_data
    async def put_object(self, rec: ObjectRecord, body: AsyncIterator[bytes], *,
                         content_length: Optional[int], content_md5: Optional[bytes],
                         forbid_overwrite: bool = False,
                         expected_crc64: Optional[int] = None) -> ObjectRecord:
        """Store a Normal object. `rec` carries bucket, key and the attributes; size/ETag are filled."""
        if forbid_overwrite and await self.meta.get_object(rec.bucket, rec.key) is not None:
            raise errors.FileAlreadyExists()
        dkey, sse_key, headers = await self.sse.create(rec.headers)
        rec = rec.evolve(headers=headers, sse_key=sse_key)
        async with self._new_blob() as nb:
            size, crc, md5hex = await self._write_new_blob(
                nb, body, content_length, content_md5, dkey.stream() if dkey is not None else None)
            if expected_crc64 is not None and expected_crc64 != crc:
                raise errors.InvalidCRC64()
            now = time.time()
            new = rec.evolve(type=NORMAL, size=size, crc64=crc, etag=md5hex.upper(), blob=nb.id, mtime=now,
                             content_md5=base64.b64encode(bytes.fromhex(md5hex)).decode(), sealed=None)
            return await self._replace(new, nb, forbid_overwrite)

    async def _replace(self, new: ObjectRecord, nb: _NewBlob, forbid_overwrite: bool = False) -> ObjectRecord:
        """Commit a whole new object version (its bytes in the new blob nb) over whatever the key
        held, then drop the old bytes -- only once the commit is durable."""
        garbage: list[str] = []

        def commit(t):
            if forbid_overwrite and t.get_object(new.bucket, new.key) is not None:
                raise errors.FileAlreadyExists()
            return _make_current(t, new, garbage)
        async with self.locks.hold(new.bucket, new.key):
            new = await self._commit(commit, nb)
        for blob in garbage:
            self.blobs.delete(blob)
        return new

    async def update_object(self, read: ObjectRecord, **changes) -> ObjectRecord:
        """Change attributes (tags, acl, headers, storage_class, mtime) of the object version
        `read` came from. Only the named fields change, applied to the row as it is under the
        lock, so concurrent attribute updates never undo each other (or a seal)."""
        def txn(t):
            cur = t.get_object(read.bucket, read.key)
            if cur is not None and cur.blob == read.blob and cur.version_id == read.version_id:
                new = cur.evolve(**changes)
                t.update_object(new)
                return new
            found = t.get_noncurrent(read.bucket, read.key, read.version_id)  # a noncurrent version
            if found is None or found[1].blob != read.blob or found[1].is_delete_marker:
                if read.version_id is not None:
                    raise errors.NoSuchVersion(Key=read.key, VersionId=read.version_id)
                raise errors.NoSuchKey(Key=read.key)
            new = found[1].evolve(**changes)
            t.update_noncurrent(found[0], new)
            return new
        async with self.locks.hold(read.bucket, read.key):
            return await self.meta.write(txn)

    async def delete_object(self, bucket: str, key: str, version_id=CURRENT) -> DeleteResult:
        """DeleteObject. Without a version id: removes the object, or in a versioned bucket makes a
        delete marker the current version. With one (None is "null"): removes that version for
        good; if it was current, the newest remaining version becomes current again."""
        garbage: list[str] = []

        def txn(t):
            garbage.clear()  # a retry after a full disk starts over
            status = _versioning(t, bucket)
            if version_id is CURRENT:
                if status is None:
                    old = t.delete_object(bucket, key)
                    if old is not None:
                        garbage.append(old.blob)
                    return DeleteResult(None, False, old)
                now = time.time()
                marker = ObjectRecord(bucket=bucket, key=key, type=DELETE_MARKER, size=0, crc64=0, etag="",
                                      blob="", mtime=now, acl="",
                                      version_id=new_version_id() if status == "Enabled" else None)
                old = t.get_object(bucket, key)
                _retire_current(t, bucket, key, marker.version_id, garbage)
                t.archive_version(marker)
                return DeleteResult(marker.version_id, True, old)
            cur = t.get_object(bucket, key)
            if cur is not None and cur.version_id == version_id:
                removed = t.delete_object(bucket, key)
            else:
                found = t.get_noncurrent(bucket, key, version_id)
                if found is None:
                    return DeleteResult(version_id, False, None)
                t.delete_noncurrent(found[0])
                removed = found[1]
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
            result = await self._write_freeing(txn)
        for blob in garbage:
            self.blobs.delete(blob)
        if self.space.full:  # accept writes again as soon as enough is freed
            await self._run(self.space.refresh)
        return result

    @_adds_data
    async def copy_object(self, src: ObjectRecord, dst: ObjectRecord,
                          forbid_overwrite: bool = False) -> ObjectRecord:
        """Copy src's bytes into a new Normal object described by `dst` (attributes decided by
        the caller). A Normal source keeps its MD5 ETag; other sources get the MD5 of the bytes."""
        rec, fd = src, self._open_source(src)
        try:
            if forbid_overwrite and await self.meta.get_object(dst.bucket, dst.key) is not None:
                raise errors.FileAlreadyExists()
            # the source is decrypted with its key, the copy encrypted with a key of its own
            src_key = await self.data_key(rec)
            dst_key, sse_key, headers = await self.sse.create(dst.headers)
            nb = await self._start_blob()
        except BaseException:
            os.close(fd)
            raise
        dst = dst.evolve(headers=headers, sse_key=sse_key)
        blob = nb.id
        need_md5 = src.type != NORMAL or not src.content_md5

        def copy():
            out = self.blobs.create(blob)
            try:
                md5 = _copy_range(fd, out, 0, rec.size, need_md5,
                                  decrypt=src_key.stream() if src_key is not None else None,
                                  encrypt=dst_key.stream() if dst_key is not None else None)
                if self.durable:
                    os.fdatasync(out)
                    self.blobs.sync_dir(blob)
                return md5
            finally:
                os.close(out)
                os.close(fd)
        try:
            md5hex = await self._run(copy)
            if need_md5:
                etag, content_md5 = md5hex.upper(), base64.b64encode(bytes.fromhex(md5hex)).decode()
            else:
                etag, content_md5 = src.etag, src.content_md5
            new = dst.evolve(type=NORMAL, size=rec.size, crc64=rec.crc64, etag=etag, blob=blob,
                             mtime=time.time(), content_md5=content_md5, sealed=None)
            return await self._replace(new, nb, forbid_overwrite)
        finally:
            await self._abandon(nb)

    def _open_source(self, src: ObjectRecord) -> int:
        """An fd on a copy source's bytes; the record stays valid while its blob exists (an
        appendable source may grow meanwhile: only its first src.size bytes are read)."""
        try:
            return self.blobs.open_read(src.blob)
        except FileNotFoundError:
            if src.version_id is not None:
                raise errors.NoSuchVersion(Key=src.key, VersionId=src.version_id) from None
            raise errors.NoSuchKey(Key=src.key) from None

    # -- multipart -------------------------------------------------------------------------------
    @_adds_data
    async def create_upload(self, rec: UploadRecord) -> UploadRecord:
        """Record a new upload; one that asks for SSE gets the data key of its parts and object."""
        _key, sse_key, headers = await self.sse.create(rec.headers)
        if sse_key is not None:
            rec = replace(rec, headers=headers, sse_key=sse_key)

        def txn(t):
            if t.get_bucket(rec.bucket) is None:
                raise errors.NoSuchBucket(BucketName=rec.bucket)
            t.insert_upload(rec)
        await self.meta.write(txn)
        return rec

    async def require_upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        up = await self.meta.get_upload(upload_id)
        if up is None or up.bucket != bucket or up.key != key:
            raise errors.NoSuchUpload(UploadId=upload_id)
        return up

    async def _commit_part(self, part: PartRecord, nb: _NewBlob) -> PartRecord:
        def txn(t):
            if t.get_upload(part.upload_id) is None:
                raise errors.NoSuchUpload(UploadId=part.upload_id)
            return t.put_part(part)
        old = await self._commit(txn, nb)
        if old is not None:
            self.blobs.delete(old.blob)
        return part

    async def _part_cipher(self, upload: UploadRecord) -> tuple[Optional[Keystream], Optional[str]]:
        """(keystream, stored counter start) for a new part: the upload's data key, and a random
        counter start per part, since parts are written before their offsets are known."""
        dkey = await self.sse.open(upload.sse_key) if upload.sse_key else None
        if dkey is None:
            return None, None
        iv = sse.new_counter_block()
        return dkey.stream(0, iv), iv.hex()

    @_adds_data
    async def upload_part(self, upload: UploadRecord, part_number: int, body: AsyncIterator[bytes], *,
                          content_length: Optional[int], content_md5: Optional[bytes]) -> PartRecord:
        stream, iv = await self._part_cipher(upload)
        async with self._new_blob() as nb:
            size, crc, md5hex = await self._write_new_blob(nb, body, content_length, content_md5, stream)
            return await self._commit_part(PartRecord(upload.upload_id, part_number, size, md5hex.upper(),
                                                      crc, nb.id, time.time(), sse_iv=iv), nb)

    @_adds_data
    async def upload_part_copy(self, upload: UploadRecord, part_number: int, src: ObjectRecord,
                               start: int, end: int) -> PartRecord:
        rec, fd = src, self._open_source(src)
        try:
            src_key = await self.data_key(rec)
            stream, iv = await self._part_cipher(upload)
            nb = await self._start_blob()
        except BaseException:
            os.close(fd)
            raise
        blob = nb.id

        def copy():
            out = self.blobs.create(blob)
            try:
                md5 = _copy_range(fd, out, start, end, True, crc=True,
                                  decrypt=src_key.stream(start) if src_key is not None else None,
                                  encrypt=stream)
                if self.durable:
                    os.fdatasync(out)
                    self.blobs.sync_dir(blob)
                return md5
            finally:
                os.close(out)
                os.close(fd)
        try:
            md5hex, crc = await self._run(copy)
            return await self._commit_part(PartRecord(upload.upload_id, part_number, end - start,
                                                      md5hex.upper(), crc, blob, time.time(), sse_iv=iv), nb)
        finally:
            await self._abandon(nb)

    @_adds_data
    async def complete_upload(self, upload: UploadRecord, chosen: list[tuple[int, str]],
                              forbid_overwrite: bool = False) -> ObjectRecord:
        """Concatenate the chosen (part number, ETag) parts into a Multipart object."""
        stored = {p.part_number: p for p in await self.meta.list_parts(upload.upload_id, 0, 20000)}
        parts: list[PartRecord] = []
        last = 0
        for number, etag in chosen:
            if number <= last:
                raise errors.InvalidPartOrder()
            last = number
            p = stored.get(number)
            if p is None or etag.strip('"').upper() != p.etag:
                raise errors.InvalidPart(PartNumber=number, ETag=etag)
            parts.append(p)
        for p in parts[:-1]:
            if p.size < MIN_PART_SIZE:
                raise errors.EntityTooSmall(PartNumber=p.part_number, ProposedSize=p.size,
                                            MinSizeAllowed=MIN_PART_SIZE)
        dkey = await self.sse.open(upload.sse_key) if upload.sse_key else None
        async with self._new_blob() as nb:
            return await self._complete(upload, parts, dkey, nb, forbid_overwrite)

    async def _complete(self, upload: UploadRecord, parts: list[PartRecord], dkey: Optional[DataKey],
                        nb: _NewBlob, forbid_overwrite: bool) -> ObjectRecord:
        blob = nb.id

        def concat():
            out = self.blobs.create(blob)
            try:
                # encrypted parts each have their own counter start: re-encrypt into one stream
                stream = dkey.stream() if dkey is not None else None
                pos = 0
                for p in parts:
                    src = self.blobs.open_read(p.blob)
                    try:
                        if dkey is None:
                            _copy_file(src, out, p.size, pos)
                        else:
                            _transcode(src, out, 0, p.size, pos,
                                       dkey.stream(0, bytes.fromhex(p.sse_iv)), stream)
                    finally:
                        os.close(src)
                    pos += p.size
                if self.durable:
                    os.fdatasync(out)
                    self.blobs.sync_dir(blob)
            finally:
                os.close(out)
        await self._run(concat)
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
            if t.get_upload(upload.upload_id) is None:
                raise errors.NoSuchUpload(UploadId=upload.upload_id)
            if forbid_overwrite and t.get_object(new.bucket, new.key) is not None:
                raise errors.FileAlreadyExists()
            garbage.extend(p.blob for p in t.delete_upload(upload.upload_id))
            return _make_current(t, new, garbage)
        async with self.locks.hold(new.bucket, new.key):
            new = await self._commit(commit, nb)
        for old_blob in garbage:
            self.blobs.delete(old_blob)
        return new

    async def abort_upload(self, upload: UploadRecord) -> None:
        parts = await self._write_freeing(lambda t: t.delete_upload(upload.upload_id))
        for p in parts:
            self.blobs.delete(p.blob)

    async def list_uploads(self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str,
                           limit: int) -> list[UploadRecord]:
        return await self.meta.list_uploads(bucket, prefix, key_marker, upload_id_marker, limit)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[PartRecord]:
        return await self.meta.list_parts(upload_id, after, limit)

    # -- streaming -------------------------------------------------------------------------------
    async def _stream_into(self, fd: int, body: AsyncIterator[bytes], offset: int, crc: int,
                           content_length: Optional[int], content_md5: Optional[bytes], *, limit: int,
                           error, journal: bool, md5=None, stream: Optional[Keystream] = None):
        """Write body at offset, encrypted with `stream` if given; verify length and MD5. Returns
        (end, crc, md5, journal bytes or None). CRC and MD5 are over the plaintext; the blob and
        the journal copy get the ciphertext. The journal copy is kept only while the total stays
        small enough to inline."""
        start = offset
        if content_md5 is not None and md5 is None:
            md5 = hashlib.md5()
        kept: Optional[bytearray] = bytearray() if journal else None
        async for chunk in body:
            n = len(chunk)
            if offset + n > limit:
                raise error()
            stored = stream.apply(chunk) if stream is not None else chunk
            _pwrite_all(fd, stored, offset)
            offset += n
            crc = crc64_update(crc, chunk)
            if md5 is not None:
                md5.update(chunk)
            if kept is not None:
                if len(kept) + n <= INLINE_JOURNAL_MAX:
                    kept += stored
                else:
                    kept = None
        if content_length is not None and offset - start != content_length:
            raise errors.IncompleteBody()
        if content_md5 is not None and md5.digest() != content_md5:
            raise errors.BadDigest()
        return offset, crc, md5, kept


def _pwrite_all(fd: int, data, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _copy_file(src: int, dst: int, length: int, dst_offset: int, src_offset: int = 0) -> None:
    """Kernel-side copy (copy_file_range) with a read/write fallback."""
    done = 0
    while done < length:
        try:
            n = os.copy_file_range(src, dst, min(COPY_CHUNK * 8, length - done),
                                   src_offset + done, dst_offset + done)
        except OSError:
            n = 0
        if n <= 0:
            data = os.pread(src, min(COPY_CHUNK, length - done), src_offset + done)
            if not data:
                raise errors.InternalError("source data is shorter than its recorded size")
            _pwrite_all(dst, data, dst_offset + done)
            n = len(data)
        done += n


def _copy_range(src: int, dst: int, start: int, end: int, want_md5: bool, crc: bool = False,
                decrypt: Optional[Keystream] = None, encrypt: Optional[Keystream] = None):
    """Copy [start, end) of src to the start of dst; optionally hash the plaintext on the way.
    `decrypt` is src's keystream at `start`, `encrypt` dst's at 0 (None: plain bytes)."""
    if not want_md5 and not crc and decrypt is None and encrypt is None:
        _copy_file(src, dst, end - start, 0, start)
        return None
    md5 = hashlib.md5() if want_md5 else None
    c = 0

    def hash_plain(plain):
        nonlocal c
        if md5 is not None:
            md5.update(plain)
        if crc:
            c = crc64_update(c, plain)
    _transcode(src, dst, start, end, 0, decrypt, encrypt, hash_plain)
    digest = md5.hexdigest() if md5 is not None else None
    return (digest, c) if crc else digest


def _transcode(src: int, dst: int, start: int, end: int, dst_offset: int,
               decrypt: Optional[Keystream], encrypt: Optional[Keystream], on_plain=None) -> None:
    """Copy [start, end) of src to dst at dst_offset through user space, decrypting with
    `decrypt` and encrypting with `encrypt` (either may be None); `on_plain` sees the plaintext."""
    pos = start
    while pos < end:
        data = os.pread(src, min(COPY_CHUNK, end - pos), pos)
        if not data:
            raise errors.InternalError("source data is shorter than its recorded size")
        plain = decrypt.apply(data) if decrypt is not None else data
        if on_plain is not None:
            on_plain(plain)
        _pwrite_all(dst, encrypt.apply(plain) if encrypt is not None else plain, dst_offset + pos - start)
        pos += len(data)
