"""The storage engine: the storage API that ops/, http/ and auth/ call, and nothing else does.

`Engine` is assembled from one part per job, each in its own module:
  journal.py        recovery, the small-append journal, blob sync failures, the lease, GC
  newblobs.py       new blobs: registered, adopted by their commit, deleted on failure; request
                    bodies streamed into blobs
  appends.py        AppendObject / seal: atomic compare-and-append, durable acknowledgements
  object_writes.py  PutObject, CopyObject, attribute updates, DeleteObject
  multipart.py      multipart uploads
  versioning.py     the versioning rules applied inside metadata transactions
  streams.py        blob-to-blob byte movement (pwrite, copy_file_range, SSE transcoding)
  segment_writes.py segment mode (--data URL): writes and appends as immutable segments
  segment_upkeep.py segment mode: compaction, garbage marks and sweeps
  lifecycle.py      bucket lifecycle rules: the scanner that expires, transitions and aborts
This module holds the lifecycle, buckets, reads, listing, restore state and server secrets, and
the drivers it is given (metadata store, blob store, lock service: see drivers.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from . import listing, restore, sse
from .appends import Appends
from .blobs import BlobReader, BlobStore
from .errors import BucketNotEmpty, BucketNotFound, ObjectBusy, StorageError, StorageFull, VersionNotFound
from .iam import Identities
from .journal import LEASE_TTL, JournalAndGC
from .lifecycle import LifecycleRunner
from .locks import ObjectLocks
from .metadata import BucketStat, MetadataStore, RestoreRecord
from .migrate import MIGRATED_TO
from .periodic import cancelled
from .multipart import Multipart
from .newblobs import MAX_OBJECT_SIZE, NewBlobs  # noqa: F401  (ops check sizes against it)
from .object_writes import ObjectWrites
from .records import APPENDABLE, BucketRecord, ObjectRecord, new_id
from .reserve import DEFAULT_RESERVE, SpaceReserve, free_bytes
from .segment_reads import SegmentReader
from .segment_upkeep import SegmentUpkeep
from .segment_writes import SegmentWrites
from .segments import SegmentStore
from .server_keys import account_id, server_secret
from .sse import DataKey
from .versioning import CURRENT  # noqa: F401  (delete_object/version argument: no versionId)
from .watch import WatchHub
from .worm import Retention

log = logging.getLogger("ossbox.engine")


class Engine(JournalAndGC, NewBlobs, Appends, ObjectWrites, Multipart, SegmentWrites, SegmentUpkeep,
             LifecycleRunner, Retention):
    """The storage API: the one thing ops/, http/ and auth/ call (see docs/architecture.md).
    Its drivers -- metadata store, blob store, lock service -- are built by storage/drivers.py
    and handed in; the engine never constructs one."""

    def __init__(self, data_dir: str, *, meta: MetadataStore, blobs: BlobStore, locks: ObjectLocks,
                 durability: str = "fsync", disk_reserve: int = DEFAULT_RESERVE,
                 segments: Optional[SegmentStore] = None):
        if durability not in ("fsync", "none"):
            raise ValueError("durability must be 'fsync' or 'none'")
        self.data_dir = os.path.abspath(data_dir)
        self.durable = durability == "fsync"
        self.meta = meta
        self.blobs = blobs
        self.locks = locks
        # Segment mode (--data URL): object bytes live in this store as immutable segments, and
        # nothing of them on this node; `blobs` and the journal are then unused.
        self.segments = segments
        self._discarded: set[str] = set()          # unreferenced since a commit, not yet marked
        self._compact_idle: dict[str, tuple] = {}  # blob -> (extent count, end) where nothing merged
        self._next_compaction = self._next_segment_sweep = 0.0
        self.io = ThreadPoolExecutor(max_workers=32, thread_name_prefix="ossbox-io")
        self.sse = sse.Keyring(self.meta)   # data keys and the built-in KMS
        self.iam = Identities(self.meta)    # users, access keys, identity policies
        self.space = SpaceReserve(self.data_dir, disk_reserve)
        self._journal_kept = False  # the last journal retirement met a full disk (logged once)
        # The error of a failed fdatasync of an appendable blob (see _sync_appendable): from then
        # on the journal is never retired and writes that add data are refused until a restart.
        self._blob_sync_failed: Optional[BaseException] = None
        self._background_task: Optional[asyncio.Task] = None
        self._lifecycle_task: Optional[asyncio.Task] = None
        # Owner of this engine's in-flight blobs, unique across processes and hosts; its lease
        # row in the metadata store (renewed every LEASE_RENEW s) tells collectors it is alive.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:12]}"
        # waits for objects to change (x-ossbox-watch): woken by this engine's commits, and by a
        # poll of the watched keys for other processes' (storage/watch.py)
        self.watches = WatchHub(self.meta)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.open()
        await self.recover_and_run()

    async def open(self) -> None:
        """The first half of start(): open the metadata store and take the lease. What can refuse a
        start (a migrated store, an unreachable database) happens here; the second half (the
        journal replay, which may take long) runs while the server already answers health checks."""
        self.space.before_open()
        await self.meta.start()
        await self._renew_lease()  # before any intent of ours exists
        # Checked after the lease is written: `admin migrate` either saw this lease and refused,
        # or committed its mark before the lease could be written (it holds the write lock).
        moved = await self.meta.get_setting(MIGRATED_TO)
        if moved:  # a stale copy: serving it would lose the new writes and collect their blobs
            await self.meta.write(lambda t: t.drop_lease(self.owner, float("inf")), durable=False)
            await self.meta.close()
            raise RuntimeError(f"this metadata was migrated to {moved} (ossbox admin migrate): "
                               "start the server with --meta naming that database")

    async def recover_and_run(self) -> None:
        """The second half of start(): replay the journal, then start the background work."""
        if self.segments is None:
            await self.recover()
        self.space.start()
        self._background_task = asyncio.get_running_loop().create_task(self._background())
        self._lifecycle_task = asyncio.get_running_loop().create_task(self._lifecycle_loop())

    async def stop(self) -> None:
        self.stop_watches()
        await self.space.stop()
        await cancelled(self._lifecycle_task)
        self._lifecycle_task = None
        if self._background_task is not None:
            await cancelled(self._background_task)
            self._background_task = None
            # Stopping never fails on the store: writes refused (failed fsync), a full disk or a
            # metadata database that is away all leave a state the next start handles (the
            # journal replays, the lease expires). One try: a store that is away is waited for once.
            try:
                if self.segments is None:
                    await self.flush_journal()  # on a full disk it keeps the journal and returns
                else:
                    await self._flush_discarded()
                # intents we could not drop (cancelled writes) become collectable at once
                await self.meta.write(lambda t: t.drop_lease(self.owner, float("inf")), durable=False)
            except StorageError as exc:
                log.warning("stopping without a journal flush or dropping this process's lease (it "
                            "expires in %d s): %s", LEASE_TTL, exc)
        await self.meta.close()
        if self.segments is not None:
            await self.segments.close()
        self.blobs.close()
        self.locks.close()
        self.io.shutdown(wait=True)

    async def metadata_reachable(self) -> bool:
        """Whether the metadata store answers a read now (PostgreSQL may be away; a read that
        cannot reach it raises MetadataUnavailable after the store's retry window)."""
        try:
            await self.meta.get_setting(MIGRATED_TO)
        except Exception:  # a health probe: any failure to read means "not reachable"
            log.debug("metadata store probe failed", exc_info=True)
            return False
        return True

    def observe(self, *, commit, sync_group, watches=None) -> None:
        """Hooks for metrics: commit(seconds) per durable metadata write, sync_group(n) per
        fdatasync of the SQLite WAL with the number of commits it made durable, watches(n) when
        the number of pending watches changes."""
        self.meta.observe_commit = commit
        self.meta.observe_sync_group = sync_group
        if watches is not None:
            self.watches.observe_waiting = watches

    def writes_refused(self) -> bool:
        """Whether writes are refused until a restart (a failed fdatasync of a blob or the WAL)."""
        return self._blob_sync_failed is not None or getattr(self.meta, "_failed", None) is not None

    def disk_full(self) -> bool:
        """Whether writes that add data are refused for want of disk space (see reserve.py)."""
        return self.space.full

    def disk_free(self) -> int:
        """Free bytes in the data dir, as `df` shows them."""
        return free_bytes(self.data_dir)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    # -- writes that free space (deletes, aborts) ------------------------------------------------
    async def _write_freeing(self, fn):
        """A metadata write that frees space (a delete or abort). If the disk is too full even for that,
        release the reserve, let the metadata store give back what it can, and try once more
        (SQLite rolled the failed attempt back)."""
        try:
            return await self.meta.write(fn)
        except StorageFull:
            # Released or not (it may be gone already), the blocks go to the metadata store's
            # own housekeeping first: once its WAL is truncated, this commit has room.
            self.space.release("a delete needed space")
            await self.meta.reclaim_space()
        return await self.meta.write(fn)

    # -- buckets ---------------------------------------------------------------------------------
    async def get_bucket(self, name: str) -> Optional[BucketRecord]:
        return await self.meta.get_bucket(name)

    async def require_bucket(self, name: str) -> BucketRecord:
        rec = await self.meta.get_bucket(name)
        if rec is None:
            raise BucketNotFound(name)
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
                raise BucketNotFound(name)
            if not t.bucket_is_empty(name):
                raise BucketNotEmpty(name)
            t.delete_bucket(name)
        await self._write_freeing(txn)

    async def list_buckets(self, prefix: str = "", marker: str = "", limit: int = 1000):
        return await self.meta.list_buckets(prefix, marker, limit)

    async def bucket_stat(self, name: str) -> BucketStat:
        """GetBucketStat's figures, aggregated by the metadata store when asked."""
        return await self.meta.bucket_stat(name)

    # -- server secrets, restore state ----------------------------------------------------------
    async def account_id(self, proposed: str) -> str:
        """The root owner id shared by every process on this store (see server_keys.py)."""
        return await account_id(self.meta, proposed)

    async def service_setting(self, name: str) -> Optional[str]:
        """A service-wide setting shared by every process on this store (None: never set)."""
        return await self.meta.get_setting("service:" + name)

    async def set_service_setting(self, name: str, value: str) -> None:
        await self.meta.write(lambda t: t.set_setting("service:" + name, value))

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

    def _segment_reader(self, rec: ObjectRecord) -> SegmentReader:
        return self._segment_reader_of(rec.blob, rec.size, rec.type == APPENDABLE)

    def _segment_reader_of(self, blob: str, size: int, appendable: bool) -> SegmentReader:
        return SegmentReader(self.meta, self.segments, blob, size, whole=not appendable)

    def open_version(self, rec: ObjectRecord) -> BlobReader:
        """A reader of a version's bytes (blobs never change below a committed size, so the record
        and the reader agree as long as the blob still exists)."""
        if self.segments is not None:
            return self._segment_reader(rec)
        try:
            return BlobReader(self.blobs.open_read(rec.blob))
        except FileNotFoundError:
            raise VersionNotFound(rec.bucket, rec.key, rec.version_id) from None

    async def open_object(self, bucket: str, key: str) -> tuple[Optional[ObjectRecord], Optional[BlobReader]]:
        """The committed record and a reader of its bytes, consistent with each other."""
        for _ in range(8):
            rec = await self.meta.get_object(bucket, key)
            if rec is None:
                return None, None
            if self.segments is not None:
                return rec, self._segment_reader(rec)
            try:
                return rec, BlobReader(self.blobs.open_read(rec.blob))
            except FileNotFoundError:
                await asyncio.sleep(0)  # replaced between the two reads: look again
        raise ObjectBusy(bucket, key)

    async def watch_object(self, bucket: str, key: str, seen: Optional[ObjectRecord], timeout: float
                           ) -> tuple[bool, Optional[ObjectRecord]]:
        """Wait until the object's record differs from `seen` (None: no object): (True, the record
        now or None if it is gone), or (False, seen) once `timeout` passed or the server stops.
        Raises TooManyWatches when this process waits for too many already."""
        return await self.watches.wait(bucket, key, seen, timeout)

    def stop_watches(self) -> None:
        """The server is stopping: pending watches are answered now, new ones at once."""
        self.watches.stop()

    def watches_stopped(self) -> bool:
        return self.watches.stopped

    def watches_full(self) -> bool:
        """Whether a new watch would be refused (TooManyWatches) now."""
        return self.watches.waiting >= self.watches.limit

    async def data_key(self, rec: ObjectRecord) -> Optional[DataKey]:
        """The object's data key (None: stored in plain). Fails if its KMS key is disabled."""
        return await self.sse.open(rec.sse_key) if rec.sse_key else None
