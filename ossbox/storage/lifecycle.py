"""Bucket lifecycle rules that run: expiration, storage-class transitions, aborting incomplete
multipart uploads, and expiring or transitioning noncurrent versions.

The rules are kept in BucketRecord.config["lifecycle"] (parsed and checked by ops/lifecycle.py):
each a dict with id, prefix, status, and optionally tags [[k, v]], filter {gt, lt, not:
[{prefix, tag}]}, expiration {days | before | from | delete_marker}, transitions [{days | before, class}],
abort {days | before}, nc_expiration {days}, nc_transitions [{days, class}] ("before": epoch
seconds of a CreatedBeforeDate; "from": of an Expiration Date, the older form).

Clock: "a day" is `lifecycle_day` seconds (--lifecycle-day-seconds, 86400 unless sped up for
tests); an action with Days is due once that many days have passed since the object's last
modification (a noncurrent version: since it became noncurrent, i.e. the newer version's time; an
upload: since it was initiated). CreatedBeforeDate is an absolute time and is not scaled. OSS runs
its rules once a day; ossbox scans every `lifecycle_interval` seconds.

Several nodes may run this on one metadata store. Each scan first claims the next slot in the
shared settings (one node scans per interval), and every action is a compare-and-set on the row
it read (Engine.delete_object(expect=...), Engine.update_object): a version that changed since it
was read is left for the next scan, so an action never applies twice (two delete markers) or to a
newer version than the one judged due.

Appendable objects (OSS, "Convert appendable objects to the Cold Archive storage class",
alibabacloud.com/help/en/oss/user-guide/convert-appendable-object-to-cold-archive): lifecycle rules
cannot transition an appendable object to ColdArchive or DeepColdArchive -- it is still writable;
SealAppendObject makes it a normal object that they can. Transitions to IA and Archive apply, and
appending to them stays allowed (shared/spec/append-object.md §4.7: appendable objects may be
Standard, IA or Archive); an Archive one then needs RestoreObject before it can be read, like any
Archive object. Expiration applies to appendable objects like any other.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

from .errors import ObjectNotFound, ObjectRetained, StorageError, VersionNotFound
from .metadata import CURRENT_SEQ
from .periodic import claim_slot
from .records import APPENDABLE, ObjectRecord

log = logging.getLogger("ossbox.lifecycle")

DAY = 86400.0
DEFAULT_INTERVAL = 3600.0
SCAN_CLAIM = "lifecycle-next-scan"   # setting: wall time before which no node starts a scan
PAGE = 1000
COLDNESS = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
WRITABLE_CLASSES = ("Standard", "IA", "Archive")  # what an unsealed appendable object may become
# Access tracking (PutBucketAccessMonitor): an object's last access time, epoch seconds, kept in its
# stored headers under this name (never sent to clients: ops/common.object_headers drops it).
LAST_ACCESS = "x-ossbox-last-access"
SMALL_FILE = 64 * 1024  # OSS: access-time rules leave objects under 64 KB in place unless AllowSmallFile


def last_access(rec: ObjectRecord, tracking_since: float) -> float:
    """When `rec` was last read (GetObject), counting tracking's start for objects not read since
    (OSS: "the last access time of objects is the time access tracking was enabled")."""
    try:
        stored = float(rec.headers.get(LAST_ACCESS) or 0)
    except ValueError:
        stored = 0.0
    return max(rec.mtime, tracking_since, stored)


def _due(when: dict, since: float, now: float, day: float) -> bool:
    if when.get("days") is not None:
        return since + when["days"] * day <= now
    if when.get("from") is not None:   # Expiration/Date: everything, from that day on
        return now >= when["from"]
    return since < when["before"]


def _has_tags(rule: dict, rec: ObjectRecord) -> bool:
    tags = {(k, v) for k, v in rec.tags}
    return all((k, v) in tags for k, v in rule.get("tags", ()))


def _prefix_matches(rule: dict, key: str, tags=()) -> bool:
    """The rule's Prefix selects the key and no Not of its Filter excludes it."""
    if not key.startswith(rule["prefix"]):
        return False
    for n in (rule.get("filter") or {}).get("not", ()):
        if key.startswith(n["prefix"]) and (not n.get("tag") or tuple(n["tag"]) in {(k, v) for k, v in tags}):
            return False
    return True


def matches(rule: dict, rec: ObjectRecord) -> bool:
    """Whether the rule's Prefix, Tags and Filter select this version."""
    if not _prefix_matches(rule, rec.key, rec.tags):
        return False
    flt = rule.get("filter") or {}
    if rec.is_delete_marker:  # markers have no tags or size: only prefix rules select them
        return not rule.get("tags")
    if not _has_tags(rule, rec):
        return False
    if flt.get("gt") is not None and not rec.size > flt["gt"]:
        return False
    if flt.get("lt") is not None and not rec.size < flt["lt"]:
        return False
    return True


def _target_class(transitions, rec: ObjectRecord, since: float, now: float, day: float,
                  tracking: Optional[float] = None) -> Optional[str]:
    """The coldest class a due transition moves `rec` to, if colder than its own (never warmer).
    An IsAccessTime transition counts from the last access (`tracking`: when the bucket's access
    tracking began; None: it is off, and such rules do nothing)."""
    best = None
    for t in transitions:
        cls = t["class"]
        if rec.type == APPENDABLE and rec.sealed is None and cls not in WRITABLE_CLASSES:
            continue  # still appendable: OSS transitions it to ColdArchive only once sealed
        start = since
        if t.get("is_access_time"):
            if tracking is None or (rec.size < SMALL_FILE and not t.get("allow_small_file")):
                continue
            start = max(since, last_access(rec, tracking))
        if not _due(t, start, now, day):
            continue
        if COLDNESS.index(cls) > COLDNESS.index(best or rec.storage_class):
            best = cls
    return best


class LifecycleRunner:
    """Part of Engine (engine.py): the scanner that applies bucket lifecycle rules."""

    lifecycle_day: float = DAY
    lifecycle_interval: float = DEFAULT_INTERVAL

    async def _lifecycle_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lifecycle_interval)
            try:
                if await self._claim_scan():
                    await self.run_lifecycle()
            except StorageError as exc:
                log.warning("lifecycle scan waits for the store: %s", exc)
            except Exception:  # keep going: the next scan sees what this one left
                log.exception("lifecycle scan failed")

    async def _claim_scan(self) -> bool:
        """Take the next scan slot in the shared metadata (False: another node has it)."""
        return await claim_slot(self.meta, SCAN_CLAIM, self.lifecycle_interval)

    async def run_lifecycle(self, now: Optional[float] = None) -> int:
        """Apply every bucket's enabled rules once; the number of actions taken."""
        done = 0
        marker = ""
        while True:
            buckets = await self.meta.list_buckets("", marker, PAGE)
            for b in buckets:
                rules = [r for r in b.config.get("lifecycle") or () if r.get("status") == "Enabled"]
                if rules:
                    tracking = (b.config.get("access_monitor") or {}).get("since")
                    done += await self._lifecycle_bucket(b.name, rules, time.time() if now is None else now,
                                                         tracking)
            if len(buckets) < PAGE:
                return done
            marker = buckets[-1].name

    async def _lifecycle_bucket(self, bucket: str, rules: list, now: float, tracking: Optional[float] = None
                                ) -> int:
        done = 0
        if any(r.get("expiration") or r.get("transitions") or r.get("nc_expiration") or r.get("nc_transitions")
               for r in rules):
            async for versions in self._key_versions(bucket):
                done += await self._lifecycle_key(bucket, versions, rules, now, tracking)
        aborts = [r for r in rules if r.get("abort")]
        if aborts:
            done += await self._abort_uploads(bucket, aborts, now)
        return done

    async def _key_versions(self, bucket: str):
        """Each key's versions, newest first, as [(record, is latest)]."""
        after_key, before_seq = "", CURRENT_SEQ + 1
        group: list = []
        while True:
            page = await self.meta.list_versions(bucket, "", after_key, before_seq, PAGE)
            for rec, seq, latest in page:
                if group and group[0][0].key != rec.key:
                    yield group
                    group = []
                group.append((rec, latest))
            if len(page) < PAGE:
                break
            after_key, before_seq = page[-1][0].key, page[-1][1]
        if group:
            yield group

    async def _lifecycle_key(self, bucket: str, versions: list, rules: list, now: float,
                             tracking: Optional[float] = None) -> int:
        done = 0
        newer_mtime = None   # when the version before this one (newer) was written
        for rec, latest in versions:
            since_noncurrent, newer_mtime = newer_mtime, rec.mtime
            if latest and not rec.is_delete_marker:
                done += await self._current(rec, [r for r in rules if matches(r, rec)], now, tracking)
            elif latest:  # a delete marker that is the current version
                if len(versions) == 1 and any((r.get("expiration") or {}).get("delete_marker")
                                              for r in rules if matches(r, rec)):
                    res = await self._guarded(self.delete_object(bucket, rec.key, rec.version_id,
                                                                 expect=rec, sole=True))
                    done += res is not None and res.removed is not None
            elif since_noncurrent is not None:
                done += await self._noncurrent(rec, [r for r in rules if matches(r, rec)], since_noncurrent, now,
                                               tracking)
        return done

    async def _current(self, rec: ObjectRecord, rules: list, now: float, tracking: Optional[float] = None) -> int:
        day = self.lifecycle_day
        for r in rules:
            exp = r.get("expiration")
            if exp and not exp.get("delete_marker") and _due(exp, rec.mtime, now, day):
                res = await self._guarded(self.delete_object(rec.bucket, rec.key, expect=rec))
                return int(res is not None and res.removed is not None)
        target = _target_class([t for r in rules for t in r.get("transitions", ())], rec, rec.mtime, now, day,
                               tracking)
        if target is None:
            return 0
        return int(await self._guarded(self.update_object(rec, storage_class=target)) is not None)

    async def _noncurrent(self, rec: ObjectRecord, rules: list, since: float, now: float,
                          tracking: Optional[float] = None) -> int:
        day = self.lifecycle_day
        for r in rules:
            exp = r.get("nc_expiration")
            if exp and _due(exp, since, now, day):
                res = await self._guarded(self.delete_object(rec.bucket, rec.key, rec.version_id, expect=rec))
                return int(res is not None and res.removed is not None)
        if rec.is_delete_marker:
            return 0
        target = _target_class([t for r in rules for t in r.get("nc_transitions", ())], rec, since, now, day,
                               tracking)
        if target is None:
            return 0
        return int(await self._guarded(self.update_object(rec, storage_class=target)) is not None)

    async def _abort_uploads(self, bucket: str, rules: list, now: float) -> int:
        done = 0
        key_marker = upload_marker = ""
        while True:
            page = await self.meta.list_uploads(bucket, "", key_marker, upload_marker, PAGE)
            for up in page:  # an upload has no tags or size yet: Prefix and Not decide
                if any(_prefix_matches(r, up.key) and _due(r["abort"], up.initiated, now, self.lifecycle_day)
                       for r in rules):
                    await self.abort_upload(up)  # idempotent: an upload already gone removes nothing
                    done += 1
            if len(page) < PAGE:
                return done
            key_marker, upload_marker = page[-1].key, page[-1].upload_id

    @staticmethod
    async def _guarded(action):
        """Run a compare-and-set action; None when its row changed meanwhile (left for the next scan)
        or a retention policy (WORM) still protects it: lifecycle rules may transition protected
        objects but not expire them (OSS, "Retention policies"; storage/worm.py)."""
        try:
            return await action
        except (ObjectNotFound, VersionNotFound, ObjectRetained):
            return None
