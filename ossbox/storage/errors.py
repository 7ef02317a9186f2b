"""The errors the storage API raises: what went wrong, in storage's terms, with its data.

They carry domain data (the object's true length, the bucket, the upload id, the sizes), never an
HTTP status, an OSS Code or an EC: the HTTP layer turns each one into the OSS error it answers
(ossbox/http/error_map.py, one table, like MinIO's `toAPIErrorCode`), and other callers (tests,
tools, the CLI) see a plain exception whose text says what happened. Storage imports nothing from
the OSS error catalogue (tests/test_layers.py), and a new storage error class gets its answer
only from an entry of its own in that table (tests/test_error_map.py fails until it has one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional


class StorageError(Exception):
    """Base of every error the storage API raises on purpose. `text` is the class's
    description, formatted with the instance's fields."""
    text: ClassVar[str] = "storage error"

    def __str__(self) -> str:
        return self.text.format_map(vars(self))


# -- missing things ---------------------------------------------------------------------------------
@dataclass(eq=False)
class BucketNotFound(StorageError):
    bucket: str
    text: ClassVar[str] = "bucket {bucket!r} does not exist"


@dataclass(eq=False)
class ObjectNotFound(StorageError):
    bucket: str
    key: str
    text: ClassVar[str] = "object {key!r} does not exist in bucket {bucket!r}"


@dataclass(eq=False)
class VersionNotFound(StorageError):
    bucket: str
    key: str
    version_id: Optional[str]  # None: the "null" version
    text: ClassVar[str] = "version {version_id!r} of object {key!r} does not exist in bucket {bucket!r}"


@dataclass(eq=False)
class UploadNotFound(StorageError):
    """The multipart upload does not exist (never did, or was aborted or completed)."""
    upload_id: str
    text: ClassVar[str] = "multipart upload {upload_id!r} does not exist"


@dataclass(eq=False)
class KmsKeyNotFound(StorageError):
    key_id: str
    argument: str  # which argument of the caller named the key (a request header or XML element)
    text: ClassVar[str] = "KMS key {key_id!r} (from {argument}) does not exist"


# -- state conflicts --------------------------------------------------------------------------------
@dataclass(eq=False)
class PositionMismatch(StorageError):
    """An append or seal named a position other than the object's length (0 for a missing object)."""
    next_position: int  # the object's committed length: where the next append must start
    text: ClassVar[str] = "the position is not the object's length ({next_position})"


@dataclass(eq=False)
class ObjectNotAppendable(StorageError):
    bucket: str
    key: str
    text: ClassVar[str] = "object {key!r} in bucket {bucket!r} is not appendable"


@dataclass(eq=False)
class ObjectSealed(StorageError):
    bucket: str
    key: str
    text: ClassVar[str] = "appendable object {key!r} in bucket {bucket!r} is sealed"


@dataclass(eq=False)
class NotSealable(StorageError):
    """SealAppendObject on an object that is not appendable."""
    bucket: str
    key: str
    text: ClassVar[str] = "object {key!r} in bucket {bucket!r} is not appendable, so it cannot be sealed"


@dataclass(eq=False)
class ObjectExists(StorageError):
    """A write that must not overwrite (x-oss-forbid-overwrite) found the key taken."""
    bucket: str
    key: str
    text: ClassVar[str] = "object {key!r} already exists in bucket {bucket!r}"


@dataclass(eq=False)
class ObjectRetained(StorageError):
    """The bucket's retention policy (WORM) forbids deleting or replacing this object yet."""
    bucket: str
    key: str
    until: float
    text: ClassVar[str] = "object {key!r} in bucket {bucket!r} is protected by a retention policy until {until}"


@dataclass(eq=False)
class BucketNotEmpty(StorageError):
    bucket: str
    text: ClassVar[str] = "bucket {bucket!r} still holds objects or uploads"


@dataclass(eq=False)
class RestoreInProgress(StorageError):
    bucket: str
    key: str
    text: ClassVar[str] = "a restore of object {key!r} in bucket {bucket!r} is still running"


@dataclass(eq=False)
class RestoreNotApplicable(StorageError):
    """RestoreObject on an object whose storage class is not an archive class."""
    storage_class: str
    text: ClassVar[str] = "objects of storage class {storage_class} cannot be restored"


@dataclass(eq=False)
class KmsKeyDisabled(StorageError):
    key_id: str
    text: ClassVar[str] = "KMS key {key_id!r} is disabled"


# -- the data a write received ----------------------------------------------------------------------
@dataclass(eq=False)
class CrcMismatch(StorageError):
    """The CRC-64 the client expected of the whole object is not the one computed."""
    expected: int
    computed: int
    text: ClassVar[str] = "CRC-64 mismatch: expected {expected}, computed {computed}"


@dataclass(eq=False)
class DigestMismatch(StorageError):
    """The body's MD5 is not the Content-MD5 the client sent."""
    expected: bytes
    computed: bytes
    text: ClassVar[str] = "MD5 mismatch: expected {expected!r}, computed {computed!r}"


@dataclass(eq=False)
class BodyLengthMismatch(StorageError):
    """The body ended with another length than the one announced."""
    declared: int
    received: int
    text: ClassVar[str] = "the body holds {received} bytes, {declared} were announced"


@dataclass(eq=False)
class ObjectTooLarge(StorageError):
    """A PutObject or UploadPart body would exceed the size limit."""
    limit: int
    text: ClassVar[str] = "the object would exceed {limit} bytes"


@dataclass(eq=False)
class AppendTooLarge(StorageError):
    """An append would make the appendable object exceed the size limit."""
    limit: int
    text: ClassVar[str] = "the appendable object would exceed {limit} bytes"


@dataclass(eq=False)
class PartsOutOfOrder(StorageError):
    """CompleteMultipartUpload listed a part number not above the one before it."""
    part_number: int
    text: ClassVar[str] = "part {part_number} is not listed in ascending order"


@dataclass(eq=False)
class PartMismatch(StorageError):
    """A listed part does not exist (any more) or has another ETag."""
    part_number: int
    etag: str
    text: ClassVar[str] = "part {part_number} with ETag {etag!r} is not a part of the upload"


@dataclass(eq=False)
class PartTooSmall(StorageError):
    """A part other than the last is below the minimum part size."""
    part_number: int
    size: int
    min_size: int
    text: ClassVar[str] = "part {part_number} holds {size} bytes, less than the minimum {min_size}"


@dataclass(eq=False)
class UnstorableText(StorageError):
    """Text the metadata store cannot hold (PostgreSQL text cannot contain U+0000)."""
    store: str
    text: ClassVar[str] = "{store} cannot store text containing NUL (U+0000)"


# -- capacity and availability ----------------------------------------------------------------------
@dataclass(eq=False)
class StorageFull(StorageError):
    """The disk (of the data dir or of the metadata database) is full; the write was rolled back."""
    text: ClassVar[str] = "the disk is full"


@dataclass(eq=False)
class MetadataUnavailable(StorageError):
    """The metadata database could not be reached within the retry window."""
    text: ClassVar[str] = "the metadata database is unavailable"


@dataclass(eq=False)
class ByteStoreUnavailable(StorageError):
    """The segment store (an S3-compatible store or a shared directory) did not answer, or
    failed, within its bounded retries; nothing was published."""
    reason: str  # what the store or the OS said, for the log
    text: ClassVar[str] = "the byte store is unavailable: {reason}"


@dataclass(eq=False)
class MetadataConflict(StorageError):
    """A transaction kept meeting concurrent ones (serialization failures, deadlocks) past its retries."""
    text: ClassVar[str] = "the metadata changed concurrently too often"


@dataclass(eq=False)
class ObjectChanged(StorageError):
    """A commit found the object's row changed although the object lock was held."""
    bucket: str
    key: str
    text: ClassVar[str] = "object {key!r} in bucket {bucket!r} changed concurrently"


@dataclass(eq=False)
class ObjectBusy(StorageError):
    """The object was replaced every time its record and bytes were read."""
    bucket: str
    key: str
    text: ClassVar[str] = "object {key!r} in bucket {bucket!r} is being replaced too quickly to read"


@dataclass(eq=False)
class TooManyWatches(StorageError):
    """This process already holds its limit of pending watches (storage/watch.py)."""
    limit: int
    text: ClassVar[str] = "{limit} watches are pending on this server process already"


@dataclass(eq=False)
class BlobReclaimed(StorageError):
    """The collector took this writer for dead and reclaimed its new blob before the commit."""
    blob: str
    text: ClassVar[str] = "the new blob {blob} was reclaimed as abandoned before its commit"


@dataclass(eq=False)
class CommitUncertain(StorageError):
    """`write` committed the transaction but could not make it durable (the WAL fsync failed):
    it may or may not survive a crash. Unlike any other exception from `write` (the transaction
    rolled back: nothing happened), the caller must keep everything the transaction references
    and everything it replaced, since either state may be the one that persists. (A networked
    store raises the subclass CommitOutcomeLost.)"""
    text: ClassVar[str] = "the commit's outcome is unknown: it may or may not persist"


@dataclass(eq=False)
class CommitOutcomeLost(CommitUncertain):
    """A networked metadata store lost its connection during a COMMIT and stayed away for the
    whole retry window, so whether the transaction committed cannot be learnt yet. Unlike a
    failed fsync nothing is wrong with the store: once it is back, writes go on."""
    text: ClassVar[str] = ("the metadata database went away during a commit: it may or may not "
                           "have taken effect")


@dataclass(eq=False)
class WritesRefused(StorageError):
    """The store refuses every write since a commit's durability became unknown (PostgreSQL's
    fsync-panic rule: after a failed fsync a later one may succeed although data was lost, so no
    later commit could be trusted). Reads keep working; a restart recovers."""
    text: ClassVar[str] = "writes are refused after a storage I/O error until a restart"


# -- damaged state (the server's fault) -------------------------------------------------------------
@dataclass(eq=False)
class SegmentNotFound(StorageError):
    """A segment the caller named is not in the segment store."""
    name: str
    text: ClassVar[str] = "segment {name!r} does not exist in the byte store"


@dataclass(eq=False)
class SegmentExists(StorageError):
    """A segment name was written twice: segments are write-once and their names unique, so this
    is a naming bug, never a race the caller should retry."""
    name: str
    text: ClassVar[str] = "segment {name!r} already exists in the byte store"


@dataclass(eq=False)
class DataShorterThanRecorded(StorageError):
    """A blob holds fewer bytes than the record says it does."""
    role: str  # "object" (a read) or "source" (a copy)
    text: ClassVar[str] = "{role} data is shorter than its recorded size"


@dataclass(eq=False)
class DefaultKmsKeyMissing(StorageError):
    text: ClassVar[str] = "the default KMS key is missing from the metadata store"


@dataclass(eq=False)
class KeyRecordDamaged(StorageError):
    """An object's stored data key record cannot be parsed."""
    text: ClassVar[str] = "the object's encryption key record is damaged"


@dataclass(eq=False)
class KeyUnwrapFailed(StorageError):
    """A data key does not unwrap: another server's key, or an edited record."""
    text: ClassVar[str] = "the object's data key cannot be unwrapped"
