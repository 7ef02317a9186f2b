"""The metadata store interface. SQLite implements it now; PostgreSQL must fit the same shape.

Reads are coroutines (cheap for SQLite, real I/O for a networked database). Every mutation goes
through `write(fn)`: `fn` receives a `Txn` and runs inside a transaction that the store may share
with other writers' functions (group commit: one durable commit for many appends). A function
that raises affects only its own changes; the others in the batch still commit.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, TypeVar

from .records import (AccessKeyRecord, BucketRecord, KmsKeyRecord, ObjectRecord, PartRecord, UploadRecord,
                      UserRecord)

T = TypeVar("T")

CURRENT_SEQ = 1 << 62  # list position of a key's current version: above every noncurrent one


@dataclass
class BlobClaims:
    """Who holds which blobs, read in one snapshot (see Engine.collect_garbage)."""
    referenced: set[str]          # blobs of objects, noncurrent versions and parts
    intents: dict[str, str]       # blob -> owner: blobs of writes in flight (not yet committed)
    leases: dict[str, float]      # owner -> last renewal time (wall clock)
    # segment mode only (segment_upkeep.py); empty otherwise
    extent_blobs: set[str] = field(default_factory=set)      # blobs that have extent rows
    extent_segments: set[str] = field(default_factory=set)   # segments that extent rows name
    marks: dict[str, float] = field(default_factory=dict)    # name -> first seen unreferenced


@dataclass(frozen=True)
class Extent:
    """A byte range [start, start + length) of a blob in segment mode: either inline `data` (small
    appends, kept in the metadata store) or the first `length` bytes of `segment`."""
    start: int
    length: int
    segment: Optional[str]
    data: Optional[bytes]

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class BucketStat:
    """GetBucketStat's figures, counted from the metadata when asked (OSS's own are up to an hour
    old; these are exact). Every stored object version counts (noncurrent ones too: they are
    stored and billed), delete markers are counted apart."""
    # storage class -> (object versions, bytes, billed bytes: each version of under 64 KB counted
    # as 64 KB, as OSS bills IA and the archive classes)
    classes: dict[str, tuple[int, int, int]]
    delete_markers: int
    uploads: int          # multipart uploads initiated, neither completed nor aborted
    parts: int            # their uploaded parts
    part_bytes: int


BILLED_MINIMUM = 64 * 1024


def bucket_stat_sql(mark: str) -> tuple[str, str]:
    """The two aggregate queries of BucketStat, in the SQL both drivers speak (`mark` is the
    driver's parameter marker; each query takes the bucket name once per marker)."""
    versions = (f"SELECT storage_class, size FROM objects WHERE bucket={mark} AND type <> 'DeleteMarker' "
                f"UNION ALL SELECT storage_class, size FROM versions WHERE bucket={mark} "
                "AND type <> 'DeleteMarker'")
    by_class = (f"SELECT storage_class, count(*), coalesce(sum(size), 0), coalesce(sum(CASE WHEN size < "
                f"{BILLED_MINIMUM} THEN {BILLED_MINIMUM} ELSE size END), 0) FROM ({versions}) AS v "
                "GROUP BY storage_class")
    others = (f"SELECT (SELECT count(*) FROM versions WHERE bucket={mark} AND type = 'DeleteMarker'), "
              f"(SELECT count(*) FROM uploads WHERE bucket={mark}), "
              "(SELECT count(*) FROM parts p JOIN uploads u ON p.upload_id = u.upload_id "
              f"WHERE u.bucket={mark}), "
              "(SELECT coalesce(sum(p.size), 0) FROM parts p JOIN uploads u ON p.upload_id = u.upload_id "
              f"WHERE u.bucket={mark})")
    return by_class, others


def bucket_stat_of(class_rows, other_row) -> BucketStat:
    """BucketStat from the rows of bucket_stat_sql's queries (PostgreSQL sums are Decimals)."""
    classes = {sc: (int(n), int(size), int(billed)) for sc, n, size, billed in class_rows}
    markers, uploads, parts, part_bytes = (int(v) for v in other_row)
    return BucketStat(classes, markers, uploads, parts, part_bytes)


@dataclass
class RestoreRecord:
    """RestoreObject state of one stored blob (a replaced object has a new blob: no state)."""
    blob: str
    requested: float     # time of the first RestoreObject
    ready_at: float      # when the restored copy becomes readable
    expires_at: float    # when it stops being readable again


class Txn(ABC):
    """Mutations (and consistent reads) available inside a write transaction."""

    @abstractmethod
    def get_bucket(self, name: str) -> Optional[BucketRecord]: ...
    @abstractmethod
    def insert_bucket(self, rec: BucketRecord) -> bool: ...
    @abstractmethod
    def update_bucket(self, rec: BucketRecord) -> None: ...
    @abstractmethod
    def delete_bucket(self, name: str) -> None: ...
    @abstractmethod
    def bucket_is_empty(self, name: str) -> bool: ...

    @abstractmethod
    def get_object(self, bucket: str, key: str) -> Optional[ObjectRecord]: ...
    @abstractmethod
    def put_object(self, rec: ObjectRecord) -> Optional[ObjectRecord]:
        """Insert or replace; return the record replaced (its blob is now garbage)."""
    @abstractmethod
    def insert_object(self, rec: ObjectRecord) -> bool:
        """Insert only if the key is absent."""
    @abstractmethod
    def cas_object(self, rec: ObjectRecord, expect_blob: str, expect_size: int) -> bool:
        """Replace the row only if it still has this blob and size and is not sealed: the
        compare-and-append."""
    @abstractmethod
    def seal_object(self, bucket: str, key: str, expect_blob: str, expect_size: int, when: float) -> bool:
        """Seal the row only if it still has this blob and size and is not sealed yet: the same
        guard as cas_object, so a seal and an append racing on other nodes never both apply."""
    @abstractmethod
    def update_object(self, rec: ObjectRecord) -> None:
        """Rewrite attributes (tags, ACL, ...) of an existing row in place."""
    @abstractmethod
    def delete_object(self, bucket: str, key: str) -> Optional[ObjectRecord]: ...

    # versions of versioned buckets: the current one is the `objects` row; older versions and
    # delete markers are "noncurrent" rows, each with a position `seq` (higher is newer)
    @abstractmethod
    def remove_current(self, bucket: str, key: str) -> None:
        """Drop the current row only (its blob and journal live on as a noncurrent version)."""
    @abstractmethod
    def archive_version(self, rec: ObjectRecord) -> None:
        """Add rec as the newest noncurrent version of its key."""
    @abstractmethod
    def get_noncurrent(self, bucket: str, key: str, version_id: Optional[str]
                       ) -> Optional[tuple[int, ObjectRecord]]: ...
    @abstractmethod
    def newest_noncurrent(self, bucket: str, key: str) -> Optional[tuple[int, ObjectRecord]]: ...
    @abstractmethod
    def delete_noncurrent(self, seq: int) -> None: ...
    @abstractmethod
    def update_noncurrent(self, seq: int, rec: ObjectRecord) -> None:
        """Rewrite attributes (tags, ACL, headers, class) of a noncurrent version."""

    @abstractmethod
    def add_pending_chunk(self, blob: str, offset: int, data: bytes) -> None:
        """Journal a small append's bytes with its metadata commit (durable before the blob is)."""
    @abstractmethod
    def drop_pending(self, upto_id: int, blobs: Iterable[str]) -> None: ...
    @abstractmethod
    def release_blob(self, blob: str) -> None:
        """Forget what is kept about a blob that is going away (journal rows, restore state)."""

    # in-flight blobs and their owners' leases (see Engine._new_blob and collect_garbage)
    @abstractmethod
    def add_blob_intent(self, blob: str, owner: str, created: float) -> None:
        """Register a blob whose file is about to be created by a write of `owner`."""
    @abstractmethod
    def adopt_blob(self, blob: str) -> bool:
        """Remove the blob's intent in the transaction that references it; False if the intent
        is gone (the collector judged its owner dead): the caller must then roll back."""
    @abstractmethod
    def drop_blob_intent(self, blob: str, owner: str, lease_cutoff: Optional[float] = None) -> bool:
        """Remove the intent if `owner` still holds it -- with lease_cutoff, only if the owner's
        lease is missing or was last renewed before it (the collector's fence). True if removed."""
    @abstractmethod
    def renew_lease(self, owner: str, now: float) -> None: ...

    # segment mode: a blob's bytes as extents (inline or in a segment), and garbage marks
    @abstractmethod
    def add_extent(self, blob: str, extent: Extent) -> None: ...
    @abstractmethod
    def extents_below(self, blob: str, end: int) -> list[Extent]:
        """The blob's extents that start below `end`, in order (a consistent read)."""
    @abstractmethod
    def drop_extents(self, blob: str, starts: Iterable[int]) -> int:
        """Delete the blob's extents starting at `starts`; the number deleted."""
    @abstractmethod
    def mark_garbage(self, names: Iterable[str], since: float) -> None:
        """Record blobs/segments first seen unreferenced at `since` (kept if already marked)."""
    @abstractmethod
    def unmark_garbage(self, names: Iterable[str]) -> None: ...
    @abstractmethod
    def drop_lease(self, owner: str, renewed_before: float) -> None:
        """Remove the owner's lease unless it was renewed at or after renewed_before."""

    @abstractmethod
    def insert_upload(self, rec: UploadRecord) -> None: ...
    @abstractmethod
    def get_upload(self, upload_id: str) -> Optional[UploadRecord]: ...
    @abstractmethod
    def delete_upload(self, upload_id: str) -> list[PartRecord]:
        """Remove the upload and its parts; return the parts (their blobs are garbage or reused)."""
    @abstractmethod
    def put_part(self, rec: PartRecord) -> Optional[PartRecord]: ...
    @abstractmethod
    def get_parts(self, upload_id: str) -> list[PartRecord]: ...

    @abstractmethod
    def get_setting(self, name: str) -> Optional[str]: ...
    @abstractmethod
    def set_setting(self, name: str, value: str) -> None: ...
    @abstractmethod
    def setdefault_setting(self, name: str, value: str) -> str:
        """Store value unless the setting exists; return what is stored (first writer wins)."""

    # identities (RAM-style users, their access keys and identity policies)
    @abstractmethod
    def insert_user(self, rec: UserRecord) -> bool: ...
    @abstractmethod
    def delete_user(self, user_id: str) -> None:
        """Remove the user with its access keys and policies."""
    @abstractmethod
    def insert_access_key(self, rec: AccessKeyRecord) -> None: ...
    @abstractmethod
    def set_access_key_status(self, access_key_id: str, status: str) -> bool: ...
    @abstractmethod
    def delete_access_key(self, access_key_id: str) -> bool: ...
    @abstractmethod
    def put_user_policy(self, user_id: str, name: str, document: str) -> None: ...
    @abstractmethod
    def delete_user_policy(self, user_id: str, name: str) -> bool: ...

    # restore state of Archive / ColdArchive / DeepColdArchive objects, keyed by blob id
    @abstractmethod
    def get_restore(self, blob: str) -> Optional[RestoreRecord]: ...
    @abstractmethod
    def put_restore(self, rec: RestoreRecord) -> None: ...

    # the built-in KMS (keys that wrap SSE-KMS data keys)
    @abstractmethod
    def insert_kms_key(self, rec: KmsKeyRecord, if_absent: bool = False) -> None:
        """Insert a key; with `if_absent`, a key already stored under its id is kept instead."""
    @abstractmethod
    def set_kms_key_status(self, key_id: str, status: str) -> bool: ...

    # signatures of admin requests already served (replay protection, shared by every process)
    @abstractmethod
    def claim_signature(self, signature: str, expires: float, now: float) -> bool:
        """Record `signature` as used until `expires`; False when it already is (and has not
        expired by `now`). Expired records are dropped on the way."""


def _ignore(_value) -> None:
    pass


class MetadataStore(ABC):
    # Observation hooks (the HTTP layer points them at its metrics; storage knows no metrics
    # library): the seconds each durable write() took, commit to stable storage included, and
    # the number of commits one WAL fdatasync made durable (the group commit's group size;
    # SQLite only: PostgreSQL groups its own commits).
    observe_commit: Callable[[float], None] = staticmethod(_ignore)
    observe_sync_group: Callable[[int], None] = staticmethod(_ignore)

    @abstractmethod
    async def start(self) -> None: ...
    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def write(self, fn: Callable[[Txn], T], *, durable: bool = True) -> T:
        """Run fn in a transaction. Raises CommitUncertain if it committed but could not be made
        durable, WritesRefused after such a failure, anything else only if it rolled back.
        durable=False returns once committed, without waiting for stable storage (PostgreSQL:
        synchronous_commit=off), for rows whose loss in a crash would not matter."""

    async def reclaim_space(self) -> None:
        """On a full disk, give back what the store holds beyond its data (SQLite: copy the WAL
        into the database, then truncate it). Never raises; nothing to do for a remote store."""

    @abstractmethod
    async def get_bucket(self, name: str) -> Optional[BucketRecord]: ...
    @abstractmethod
    async def list_buckets(self, prefix: str, marker: str, limit: int) -> list[BucketRecord]: ...
    @abstractmethod
    async def get_object(self, bucket: str, key: str) -> Optional[ObjectRecord]: ...
    @abstractmethod
    async def list_objects(self, bucket: str, prefix: str, after: str, limit: int,
                           inclusive: bool = False) -> list[ObjectRecord]:
        """Objects with key > after (>= when inclusive) starting with prefix, in key order."""
    @abstractmethod
    async def get_version(self, bucket: str, key: str, version_id: Optional[str]) -> Optional[ObjectRecord]:
        """The version (current or not; None is the "null" version) with that id."""
    @abstractmethod
    async def newest_noncurrent(self, bucket: str, key: str) -> Optional[ObjectRecord]: ...
    @abstractmethod
    async def version_position(self, bucket: str, key: str, version_id: Optional[str]) -> Optional[int]:
        """The list position of a version (for version-id-marker), None if it does not exist."""
    @abstractmethod
    async def list_versions(self, bucket: str, prefix: str, after_key: str, before_seq: int, limit: int
                            ) -> list[tuple[ObjectRecord, int, bool]]:
        """Versions in (key, newest first) order starting after the position (after_key,
        before_seq): keys > after_key, and versions of after_key older than before_seq.
        Each as (record, position, is latest)."""
    @abstractmethod
    async def bucket_stat(self, bucket: str) -> BucketStat:
        """GetBucketStat: aggregates over the bucket's versions, uploads and parts (bucket_stat_sql)."""
    @abstractmethod
    async def get_upload(self, upload_id: str) -> Optional[UploadRecord]: ...
    @abstractmethod
    async def list_uploads(self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str,
                           limit: int) -> list[UploadRecord]: ...
    @abstractmethod
    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[PartRecord]: ...
    @abstractmethod
    async def pending_summary(self) -> tuple[int, list[str]]:
        """(highest journal id, blobs with journalled chunks) for the flusher."""
    @abstractmethod
    async def pending_chunks(self) -> list[tuple[int, str, int, bytes]]: ...
    @abstractmethod
    async def get_setting(self, name: str) -> Optional[str]: ...
    @abstractmethod
    async def extents(self, blob: str, start: int, end: int) -> list[Extent]:
        """The blob's extents overlapping [start, end), in order."""
    @abstractmethod
    async def compaction_candidates(self, min_extents: int, limit: int, small: int) -> list[str]:
        """Blobs with more than `min_extents` extents shorter than `small` bytes (segment mode's
        compactor: large extents are never merged)."""
    @abstractmethod
    async def blob_claims(self) -> BlobClaims:
        """References, intents and leases in one consistent snapshot (PostgreSQL: one
        REPEATABLE READ transaction)."""

    @abstractmethod
    async def get_user(self, *, name: Optional[str] = None, user_id: Optional[str] = None
                       ) -> Optional[UserRecord]: ...
    @abstractmethod
    async def list_users(self) -> list[UserRecord]: ...
    @abstractmethod
    async def get_access_key(self, access_key_id: str) -> Optional[AccessKeyRecord]: ...
    @abstractmethod
    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]: ...
    @abstractmethod
    async def list_user_policies(self, user_id: str) -> list[tuple[str, str]]:
        """[(policy name, document)] attached to the user."""
    @abstractmethod
    async def get_restore(self, blob: str) -> Optional[RestoreRecord]: ...
    @abstractmethod
    async def get_kms_key(self, key_id: str) -> Optional[KmsKeyRecord]: ...
    @abstractmethod
    async def list_kms_keys(self) -> list[KmsKeyRecord]: ...

