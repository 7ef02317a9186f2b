"""Access tracking (PutBucketAccessMonitor Enabled): objects' last access times.

While a bucket tracks access, GetObject records the time an object was read (in its stored
headers, storage/lifecycle.py LAST_ACCESS) and GetObject/HeadObject/GetObjectMeta answer
x-oss-last-access-time; an object not read since tracking began reports the time tracking began
(OSS, "Access tracking"). OSS updates the time asynchronously and coarsely; ossbox writes it at
most once per UPDATE_EVERY of a lifecycle day, so reads do not each cost a metadata write.
A read of an object that an access-time rule with ReturnToStdWhenVisit moved to IA moves it back
to Standard (OSS's ReturnToStdWhenVisit).
"""
from __future__ import annotations

import time

from ..storage.errors import ObjectNotFound, VersionNotFound
from ..storage.lifecycle import LAST_ACCESS, last_access, matches
from ..storage.records import BucketRecord, ObjectRecord
from ..wire.request import Request
from . import common

UPDATE_EVERY = 1 / 24  # of a lifecycle "day" (an hour by default)


def _since(bucket: BucketRecord):
    return (bucket.config.get("access_monitor") or {}).get("since")


def header(bucket: BucketRecord, rec: ObjectRecord) -> dict:
    since = _since(bucket)
    if since is None:
        return {}
    return {"x-oss-last-access-time": common.http_date(last_access(rec, since))}


def _returns_to_standard(bucket: BucketRecord, rec: ObjectRecord) -> bool:
    if rec.storage_class != "IA":
        return False
    return any(t.get("is_access_time") and t.get("return_to_std") and t["class"] == "IA"
               for r in bucket.config.get("lifecycle") or () if r.get("status") == "Enabled" and matches(r, rec)
               for t in r.get("transitions", ()))


async def note_read(req: Request, bucket: BucketRecord, rec: ObjectRecord) -> None:
    """GetObject read `rec`: record the access (and apply ReturnToStdWhenVisit)."""
    since = _since(bucket)
    if since is None:
        return
    engine = req.server.engine
    now = time.time()
    changes = {}
    if now - last_access(rec, since) >= engine.lifecycle_day * UPDATE_EVERY:
        changes["headers"] = dict(rec.headers, **{LAST_ACCESS: repr(now)})
    if _returns_to_standard(bucket, rec):
        changes["storage_class"] = "Standard"
        changes.setdefault("headers", dict(rec.headers, **{LAST_ACCESS: repr(now)}))
    if changes:
        try:
            await engine.update_object(rec, **changes)
        except (ObjectNotFound, VersionNotFound):
            pass  # deleted meanwhile: nothing to track
