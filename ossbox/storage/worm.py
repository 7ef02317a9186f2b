"""Bucket retention policy (WORM, "Write Once Read Many"), applied inside metadata transactions.

The policy lives in BucketRecord.config["worm"] as {"id", "state" ("InProgress" | "Locked"),
"days", "created" (epoch seconds)} and is managed by ops/worm.py. OSS's rules
(alibabacloud.com/help/en/oss/user-guide/oss-retention-policies, .../developer-reference/
initiatebucketworm, completebucketworm, abortbucketworm, appendobject; docs/bucket-configs.md):

- an object is protected until its last-modified time plus the retention period: while it is,
  it cannot be deleted or overwritten (PutObject/CopyObject/CompleteMultipartUpload/PostObject/
  PutSymlink onto its key, AppendObject to it -- "You cannot call the AppendObject operation on
  an object protected by a retention policy"); new keys can always be written;
- the policy protects data from its creation: an InProgress policy protects too, and stops
  existing (becomes invalid) one day after its creation unless it was locked;
- lifecycle rules may still transition protected objects, never expire them (the scanner skips
  them: Engine.delete_object raises ObjectRetained and the scanner leaves the object).

"A day" is `day` seconds (--worm-day-seconds, 86400 unless sped up for tests), for both the
retention period and the InProgress window.
"""
from __future__ import annotations

import time
from typing import Optional

from .errors import ObjectRetained
from .records import ObjectRecord

DAY = 86400.0
IN_PROGRESS, LOCKED = "InProgress", "Locked"


def active_policy(config: dict, now: float, day: float = DAY) -> Optional[dict]:
    """The bucket's retention policy if it is in force: Locked, or InProgress for less than a day."""
    worm = config.get("worm")
    if not worm:
        return None
    if worm.get("state") == IN_PROGRESS and now >= worm["created"] + day:
        return None  # never locked: expired (OSS: "the policy becomes invalid")
    return worm


def retained_until(policy: Optional[dict], rec: Optional[ObjectRecord], day: float = DAY) -> Optional[float]:
    """When `rec` stops being protected by `policy` (None: it is not protected at all)."""
    if policy is None or rec is None or rec.is_delete_marker:
        return None
    return rec.mtime + policy["days"] * day


def check_changeable(t, bucket, key: str, day: float = DAY, rec: Optional[ObjectRecord] = None) -> None:
    """Inside a transaction: raise ObjectRetained if the retention policy of `bucket` (its
    BucketRecord) forbids deleting or replacing `key`'s version `rec` (default: the current one).
    Reads the object only when a policy is in force, so other buckets' writes pay nothing."""
    now = time.time()
    policy = active_policy(bucket.config, now, day)
    if policy is None:
        return
    if rec is None:
        rec = t.get_object(bucket.name, key)
    until = retained_until(policy, rec, day)
    if until is not None and now < until:
        raise ObjectRetained(bucket.name, key, until)


class Retention:
    """Part of Engine (engine.py): the retention checks made outside a transaction."""

    worm_day: float = DAY

    async def check_retention(self, rec: Optional[ObjectRecord]) -> None:
        """ObjectRetained if the bucket's retention policy protects `rec` now. For AppendObject,
        which must refuse before it writes bytes in place (its commit cannot undo them)."""
        if rec is None:
            return
        bucket = await self.meta.get_bucket(rec.bucket)
        if bucket is None:
            return
        now = time.time()
        until = retained_until(active_policy(bucket.config, now, self.worm_day), rec, self.worm_day)
        if until is not None and now < until:
            raise ObjectRetained(rec.bucket, rec.key, until)
