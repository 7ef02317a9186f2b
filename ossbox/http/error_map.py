"""Storage's domain errors -> the OSS errors a client is answered (MinIO's `toAPIErrorCode`).

Storage says what went wrong with its own data (ossbox/storage/errors.py); this table alone
decides the status, Code, Message, EC, extra XML elements and headers. The server's request
handler calls `to_oss_error` once, for any StorageError that leaves an operation.
"""
from __future__ import annotations

import logging
from typing import Callable

from .. import errors
from ..errors import OssError
from ..storage import errors as storage

log = logging.getLogger("ossbox.http")

BY_CLASS: dict[type[storage.StorageError], Callable[..., OssError]] = {
    # missing things
    storage.BucketNotFound: lambda e: errors.NoSuchBucket(BucketName=e.bucket),
    storage.ObjectNotFound: lambda e: errors.NoSuchKey(Key=e.key),
    storage.VersionNotFound: lambda e: errors.NoSuchVersion(Key=e.key, VersionId=e.version_id or "null"),
    storage.UploadNotFound: lambda e: errors.NoSuchUpload(UploadId=e.upload_id),
    storage.KmsKeyNotFound: lambda e: errors.KmsKeyNotFound(ArgumentName=e.argument,
                                                            ArgumentValue=e.key_id[:128]),
    # state conflicts
    storage.PositionMismatch: lambda e: errors.PositionNotEqualToLength(
        headers={"x-oss-next-append-position": str(e.next_position)}),
    storage.ObjectNotAppendable: lambda e: errors.ObjectNotAppendable(),
    storage.ObjectSealed: lambda e: errors.ObjectSealed(),
    storage.NotSealable: lambda e: errors.SealNotAppendable(),
    storage.ObjectExists: lambda e: errors.FileAlreadyExists(),
    storage.ObjectRetained: lambda e: errors.FileImmutable(),
    storage.BucketNotEmpty: lambda e: errors.BucketNotEmpty(BucketName=e.bucket),
    storage.RestoreInProgress: lambda e: errors.RestoreAlreadyInProgress(),
    storage.RestoreNotApplicable: lambda e: errors.RestoreNotSupported(),
    storage.KmsKeyDisabled: lambda e: errors.KmsKeyDisabled(KeyId=e.key_id),
    # the data a write received
    storage.CrcMismatch: lambda e: errors.InvalidCRC64(),
    storage.DigestMismatch: lambda e: errors.BadDigest(),
    storage.BodyLengthMismatch: lambda e: errors.IncompleteBody(),
    storage.ObjectTooLarge: lambda e: errors.EntityTooLarge(),
    storage.AppendTooLarge: lambda e: errors.AppendTooLarge(),
    storage.PartsOutOfOrder: lambda e: errors.InvalidPartOrder(),
    storage.PartMismatch: lambda e: errors.InvalidPart(PartNumber=e.part_number, ETag=e.etag),
    storage.PartTooSmall: lambda e: errors.EntityTooSmall(PartNumber=e.part_number, ProposedSize=e.size,
                                                          MinSizeAllowed=e.min_size),
    storage.UnstorableText: lambda e: errors.InvalidArgument(
        f"{e.store} cannot store text containing NUL (U+0000)."),
    # capacity and availability: 503 is "try again" to every SDK
    storage.StorageFull: lambda e: errors.StorageFull(),
    storage.MetadataUnavailable: lambda e: errors.ServiceUnavailable(
        "The metadata database is unavailable; try again."),
    storage.ByteStoreUnavailable: lambda e: errors.ServiceUnavailable(
        "The byte store is unavailable; try again."),
    storage.MetadataConflict: lambda e: errors.ServiceUnavailable("The metadata changed concurrently; try again."),
    storage.ObjectChanged: lambda e: errors.ServiceUnavailable("The object changed concurrently; try again."),
    storage.TooManyWatches: lambda e: errors.TooManyWatches(),
    storage.ObjectBusy: lambda e: errors.ServiceUnavailable(
        "The object is being modified too quickly; try again."),
    storage.BlobReclaimed: lambda e: errors.ServiceUnavailable(
        "The write's data was reclaimed as abandoned; try again."),
    storage.CommitUncertain: lambda e: errors.WriteOutcomeUnknown(),
    storage.CommitOutcomeLost: lambda e: errors.CommitOutcomeUnknown(),
    storage.WritesRefused: lambda e: errors.WritesSuspended(),
    # damaged state: the server's fault
    storage.DataShorterThanRecorded: lambda e: errors.InternalError(
        f"{e.role} data is shorter than its recorded size"),
    storage.SegmentNotFound: lambda e: errors.InternalError("A segment of the object's data is missing."),
    storage.SegmentExists: lambda e: errors.InternalError("A segment name was written twice."),
    storage.DefaultKmsKeyMissing: lambda e: errors.InternalError(
        "The default KMS key is missing from the metadata store."),
    storage.KeyRecordDamaged: lambda e: errors.InternalError("The object's encryption key record is damaged."),
    storage.KeyUnwrapFailed: lambda e: errors.InternalError("The object's data key cannot be unwrapped."),
}


def to_oss_error(exc: storage.StorageError) -> OssError:
    """The OSS error answered for `exc`: the entry of its class (or of the nearest base class
    that has one). tests/test_error_map.py keeps every class in the table; should one still be
    missing, the client gets a 500 and the log says which."""
    for cls in type(exc).__mro__:
        build = BY_CLASS.get(cls)
        if build is not None:
            return build(exc)
    log.error("storage error without an OSS error mapping: %r", exc)
    return errors.InternalError()
