"""Versioning rules, applied inside metadata transactions: which version becomes current, which
becomes noncurrent, and which bytes become garbage when a key gets a new version or a delete."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import BucketNotFound
from .records import APPENDABLE, ObjectRecord, new_version_id
from .worm import DAY, check_changeable

CURRENT = object()  # delete_object(version_id=CURRENT): no versionId given


@dataclass
class DeleteResult:
    version_id: Optional[str]          # the version removed, or the delete marker made (None: "null")
    delete_marker: bool                # a delete marker was made, or the version removed was one
    removed: Optional[ObjectRecord]    # the version whose data went away or became noncurrent


def bucket_of(t, bucket: str):
    rec = t.get_bucket(bucket)
    if rec is None:
        raise BucketNotFound(bucket)
    return rec


def versioning_state(t, bucket: str) -> Optional[str]:
    """The bucket's versioning state: None (never enabled), "Enabled" or "Suspended"."""
    return bucket_of(t, bucket).config.get("versioning")


def forget_version(t, rec: ObjectRecord, garbage: list) -> None:
    if rec.blob:
        t.release_blob(rec.blob)
        garbage.append(rec.blob)


def retire_current(t, bucket: str, key: str, successor_version: Optional[str], garbage: list) -> None:
    """A new version (or delete marker) with id `successor_version` is about to become current in a
    versioned bucket: the current one becomes noncurrent (never appendable again), unless both are
    the "null" version, which is replaced. A "null" successor also replaces a noncurrent "null"."""
    old = t.get_object(bucket, key)
    if old is not None:
        t.remove_current(bucket, key)
        if old.version_id is None and successor_version is None:
            forget_version(t, old, garbage)
        else:
            t.archive_version(old.evolve(frozen=old.frozen or old.type == APPENDABLE))
    if successor_version is None:
        found = t.get_noncurrent(bucket, key, None)
        if found is not None:
            t.delete_noncurrent(found[0])
            forget_version(t, found[1], garbage)


def make_current(t, new: ObjectRecord, garbage: list, worm_day: float = DAY) -> ObjectRecord:
    """Commit `new` as its key's current version; returns it with its version id. In an
    unversioned bucket this overwrites: refused (ObjectRetained) while a retention policy
    protects the current object. (A bucket with a retention policy is never versioned.)"""
    bucket = bucket_of(t, new.bucket)
    status = bucket.config.get("versioning")
    if status is None:
        check_changeable(t, bucket, new.key, worm_day)
        old = t.put_object(new)
        if old is not None and old.blob != new.blob:
            garbage.append(old.blob)
        return new
    new = new.evolve(version_id=new_version_id() if status == "Enabled" else None)
    retire_current(t, new.bucket, new.key, new.version_id, garbage)
    t.insert_object(new)
    return new
