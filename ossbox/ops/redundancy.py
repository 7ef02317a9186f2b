"""Data redundancy transitions (LRS -> ZRS): CreateBucketDataRedundancyTransition (POST
?redundancyTransition&x-oss-target-redundancy-type=ZRS), GetBucketDataRedundancyTransition (GET
?redundancyTransition&x-oss-redundancy-transition-taskid=), ListBucketDataRedundancyTransition
(GET ?redundancyTransition), ListUserDataRedundancyTransition (GET /?redundancyTransition),
DeleteBucketDataRedundancyTransition (DELETE ?redundancyTransition&x-oss-redundancy-transition-taskid=).

ossbox keeps one copy of the data whatever the type says, so a transition moves nothing: a task is
Queueing when made and Finished `--restore-delay` seconds later (the delay ossbox gives other
background conversions), after which the bucket reports DataRedundancyType ZRS (GetBucketInfo).
Only a Queueing task can be deleted. OSS's rules: only LRS -> ZRS, one unfinished task per bucket.
Tasks live in BucketRecord.config["redundancy_tasks"].
"""
from __future__ import annotations

import time
import uuid

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config
from .restore import _delay

TARGET = "x-oss-target-redundancy-type"
TASK_ID = "x-oss-redundancy-transition-taskid"


def status(task: dict, now: float, delay: float) -> str:
    return "Finished" if now >= task["created"] + delay else "Queueing"


def redundancy(rec, now: float, delay: float) -> str:
    """The bucket's redundancy type, counting a finished transition."""
    if any(status(t, now, delay) == "Finished" for t in rec.config.get("redundancy_tasks") or ()):
        return "ZRS"
    return rec.redundancy


def _task_xml(bucket: str, task: dict, now: float, delay: float) -> list:
    state = status(task, now, delay)
    done = state == "Finished"
    end = task["created"] + delay
    return [("Bucket", bucket), ("TaskId", task["id"]), ("Status", state),
            ("CreateTime", common.iso8601(task["created"])),
            ("StartTime", common.iso8601(end) if done else None),
            ("EndTime", common.iso8601(end) if done else None),
            ("ProcessPercentage", 100 if done else 0),
            ("EstimatedRemainingTime", 0 if done else max(1, int((end - now) / 3600) + 1))]


async def create_transition(req: Request) -> Response:
    rec = await common.require_bucket(req)
    target = req.query.get(TARGET)
    if target != "ZRS":
        raise errors.InvalidArgument("The target redundancy type must be ZRS.", ArgumentName=TARGET,
                                     ArgumentValue=(target or "")[:16])
    now, delay = time.time(), _delay(req)
    if redundancy(rec, now, delay) == "ZRS":
        raise errors.InvalidArgument("The bucket is already zone-redundant (ZRS).", ArgumentName=TARGET,
                                     ArgumentValue=target)
    tasks = list(rec.config.get("redundancy_tasks") or ())
    if tasks:
        raise errors.RedundancyTransitionExists(BucketName=req.bucket)
    task = {"id": uuid.uuid4().hex, "created": now}
    await set_config(req, rec, "redundancy_tasks", tasks + [task])
    return Response.xml(xml.document("BucketDataRedundancyTransition", [("TaskId", task["id"])]))


def _task(req: Request, rec) -> dict:
    tid = req.query.get(TASK_ID) or ""
    for t in rec.config.get("redundancy_tasks") or ():
        if t["id"] == tid:
            return t
    raise errors.NoSuchRedundancyTransition(TaskId=tid[:64])


async def get_transition(req: Request) -> Response:
    rec = await common.require_bucket(req)
    if TASK_ID not in req.query:
        return await list_bucket_transitions(req)
    task = _task(req, rec)
    return Response.xml(xml.document("BucketDataRedundancyTransition",
                                     _task_xml(req.bucket, task, time.time(), _delay(req))))


async def list_bucket_transitions(req: Request) -> Response:
    rec = await common.require_bucket(req)
    now, delay = time.time(), _delay(req)
    return Response.xml(xml.document("ListBucketDataRedundancyTransition", [
        ("BucketDataRedundancyTransition", _task_xml(req.bucket, t, now, delay))
        for t in rec.config.get("redundancy_tasks") or ()]))


async def delete_transition(req: Request) -> Response:
    rec = await common.require_bucket(req)
    task = _task(req, rec)
    if status(task, time.time(), _delay(req)) != "Queueing":
        raise errors.RedundancyTransitionNotDeletable(TaskId=task["id"])
    kept = [t for t in rec.config["redundancy_tasks"] if t["id"] != task["id"]]
    await set_config(req, rec, "redundancy_tasks", kept or None)
    return Response(204, {}, b"")


async def list_user_transitions(req: Request) -> Response:
    """Every bucket's tasks (the caller's buckets: ossbox has one account's buckets)."""
    now, delay = time.time(), _delay(req)
    out, marker = [], ""
    while True:
        page = await req.server.engine.list_buckets("", marker, 1000)
        for b in page:
            out += [("BucketDataRedundancyTransition", _task_xml(b.name, t, now, delay))
                    for t in b.config.get("redundancy_tasks") or ()]
        if len(page) < 1000:
            break
        marker = page[-1].name
    return Response.xml(xml.document("ListBucketDataRedundancyTransition",
                                     [("IsTruncated", False), ("NextContinuationToken", "")] + out))
