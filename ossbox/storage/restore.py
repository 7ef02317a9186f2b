"""Restore state of Archive / ColdArchive / DeepColdArchive objects, kept per blob.

The state is computed from timestamps (no background job): a restore is ongoing until `ready_at`,
restored until `expires_at`, and "none" again afterwards. It is keyed by the object's blob, so a
replaced object starts unrestored. The HTTP side (ops/restore.py) parses RestoreObject and renders
x-oss-restore; this module owns the state and the transaction that changes it.
"""
from __future__ import annotations

import time
from typing import Optional

from .errors import ObjectNotFound, RestoreInProgress, RestoreNotApplicable
from .metadata import MetadataStore, RestoreRecord
from .records import ObjectRecord

ARCHIVE_CLASSES = ("Archive", "ColdArchive", "DeepColdArchive")
DAY = 86400.0

NONE, ONGOING, RESTORED = "none", "ongoing", "restored"
STARTED, EXTENDED = "started", "extended"   # outcomes of request_restore


def state(rec: Optional[RestoreRecord], now: float) -> str:
    """none (never requested, or the restored copy expired), ongoing or restored."""
    if rec is None or now >= rec.expires_at:
        return NONE
    return ONGOING if now < rec.ready_at else RESTORED


async def get_restore(meta: MetadataStore, obj: ObjectRecord) -> Optional[RestoreRecord]:
    return await meta.get_restore(obj.blob)


async def request_restore(meta: MetadataStore, obj: ObjectRecord, days: int, delay: float) -> str:
    """Start a restore of `obj` that completes after `delay` seconds and lasts `days` (STARTED),
    or extend an already restored copy (EXTENDED). Raises RestoreInProgress while one runs,
    RestoreNotApplicable for other classes, ObjectNotFound if the version went away meanwhile."""

    def txn(t) -> str:
        cur = t.get_object(obj.bucket, obj.key)
        if cur is None or cur.blob != obj.blob:  # replaced meanwhile, or a noncurrent version
            found = t.get_noncurrent(obj.bucket, obj.key, obj.version_id)
            cur = found[1] if found is not None and found[1].blob == obj.blob else cur
        if cur is None:
            raise ObjectNotFound(obj.bucket, obj.key)
        if cur.storage_class not in ARCHIVE_CLASSES:
            raise RestoreNotApplicable(cur.storage_class)
        now = time.time()
        rec = t.get_restore(cur.blob)
        st = state(rec, now)
        if st == ONGOING:
            raise RestoreInProgress(obj.bucket, obj.key)
        if st == RESTORED:
            t.put_restore(RestoreRecord(cur.blob, rec.requested, rec.ready_at,
                                        max(rec.expires_at, now + days * DAY)))
            return EXTENDED
        ready = now + delay
        t.put_restore(RestoreRecord(cur.blob, now, ready, ready + days * DAY))
        return STARTED

    return await meta.write(txn)
