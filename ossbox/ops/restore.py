"""RestoreObject and the restore state of Archive / ColdArchive / DeepColdArchive objects.

Objects in these classes cannot be read (GetObject, CopyObject and UploadPartCopy with them as
source) until a RestoreObject has completed, and again after the restored copy expires. The state
lives in the metadata store keyed by the object's blob, so a replaced object starts unrestored.
A restore completes `restore_delay` seconds after it was requested (server flag --restore-delay),
scaled for ColdArchive/DeepColdArchive by the tier asked for, in the proportions of OSS's documented
times (ColdArchive: Expedited ~1 h, Standard 2-5 h, Bulk 5-12 h). The state is computed from
timestamps, no background job is involved.
"""
from __future__ import annotations

import time
from typing import Optional

from .. import errors, numeric
from ..wire import xml
from ..wire.request import Request, Response
from ..storage.records import ObjectRecord
from ..storage.restore import (ARCHIVE_CLASSES, NONE, ONGOING, RESTORED, STARTED,  # noqa: F401
                               RestoreRecord, state)
from . import common

TIERS = ("Expedited", "Standard", "Bulk")
TIERED_CLASSES = ("ColdArchive", "DeepColdArchive")
DEFAULT_DELAY = 60.0
_MAX_DAYS = {"Archive": 7, "ColdArchive": 365, "DeepColdArchive": 365}
TIER_FACTORS = {"Expedited": 0.25, "Standard": 1.0, "Bulk": 2.5}  # relative to --restore-delay

def header_value(rec: Optional[RestoreRecord], now: float) -> Optional[str]:
    """The x-oss-restore header for this state (None: no header)."""
    st = state(rec, now)
    if st == ONGOING:
        return 'ongoing-request="true"'
    if st == RESTORED:
        return f'ongoing-request="false", expiry-date="{common.http_date(rec.expires_at)}"'
    return None


def _delay(req: Request) -> float:
    config = getattr(req.server, "config", None)
    value = getattr(config, "restore_delay", None)
    return DEFAULT_DELAY if value is None else float(value)


def restore_delay(base: float, storage_class: str, tier: str) -> float:
    """Seconds until a restore completes: Archive has no tiers; the colder classes do."""
    if storage_class == "Archive":
        return base
    return base * TIER_FACTORS[tier]


async def restore_header(req: Request, obj: ObjectRecord) -> Optional[str]:
    """x-oss-restore for HEAD / GetObjectMeta / GetObject (None for other classes or no request)."""
    if obj.storage_class not in ARCHIVE_CLASSES:
        return None
    return header_value(await req.server.engine.get_restore(obj), time.time())


async def check_readable(req: Request, obj: ObjectRecord) -> Optional[str]:
    """Refuse reading an archived object that is not restored (403 InvalidObjectState); return its
    x-oss-restore header value."""
    if obj.storage_class not in ARCHIVE_CLASSES:
        return None
    rec = await req.server.engine.get_restore(obj)
    now = time.time()
    if state(rec, now) != RESTORED:
        # PutBucketArchiveDirectRead: an Archive (not Cold/Deep Cold Archive) object of such a
        # bucket is read directly, without a restore (OSS, "Real-time access of Archive objects")
        bucket = req.bucket_record
        if obj.storage_class == "Archive" and bucket is not None and bucket.config.get("archive_direct_read"):
            return header_value(rec, now) if rec is not None else None
        raise errors.InvalidObjectState()
    return header_value(rec, now)


def parse_restore_request(body: bytes, storage_class: str) -> tuple[int, str]:
    """(Days, Tier) of an optional <RestoreRequest> body; default 1 day, Standard tier."""
    days, tier = 1, "Standard"
    if not body.strip():
        return days, tier
    root = xml.parse(body, "RestoreRequest")
    for child in root:
        name = child.tag.rsplit("}", 1)[-1]
        if name == "Days":
            text = (child.text or "").strip()
            days = numeric.parse_decimal(text, _MAX_DAYS[storage_class], 1)
            if days is None:
                raise errors.InvalidRestoreDays(Days=numeric.shown(text, 32))
        elif name == "JobParameters":
            # Only the cold classes have restore tiers; OSS refuses JobParameters for an Archive
            # object as MalformedXML (oss2's test_restore_archive_object_with_job_parameters).
            if storage_class not in TIERED_CLASSES:
                raise errors.InvalidRestoreRequest(
                    "JobParameters applies only to ColdArchive and DeepColdArchive objects.")
            for sub in child:
                if sub.tag.rsplit("}", 1)[-1] != "Tier":
                    raise errors.InvalidRestoreRequest()
                value = (sub.text or "").strip()
                if value not in TIERS:
                    raise errors.InvalidRestoreTier(ArgumentName="Tier", ArgumentValue=value[:32])
                tier = value
        else:
            raise errors.InvalidRestoreRequest()
    return days, tier


async def restore_object(req: Request) -> Response:
    """POST /key?restore: 202 when a restore starts, 200 when an already restored copy is
    extended, 409 RestoreAlreadyInProgress while one runs, 400 for Standard/IA objects."""
    obj = await common.require_object(req)
    if obj.storage_class not in ARCHIVE_CLASSES:
        raise errors.RestoreNotSupported()
    days, tier = parse_restore_request(await req.read_xml_body(), obj.storage_class)
    delay = restore_delay(_delay(req), obj.storage_class, tier)

    outcome = await req.server.engine.request_restore(obj, days, delay)
    status = 202 if outcome == STARTED else 200
    # OSS answers a cold-class restore with its priority (Standard when none was asked; oss2's
    # test_restore_object_with_config reads it back); Archive restores have no tiers.
    headers = {"x-oss-object-restore-priority": tier} if obj.storage_class in TIERED_CLASSES else {}
    return Response(status, headers, b"")
