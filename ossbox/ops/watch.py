"""WatchObject: `GET /<bucket>/<key>?x-ossbox-watch&position=N[&timeout=S]` (ossbox's own; OSS
has no such operation). Routed and authorized exactly as GetObject (oss:GetObject, bucket
policy, ACL, presigned URLs, STS), it answers as soon as the object

  * is longer than N                                -> "grown"
  * is sealed (and not longer than N)               -> "sealed"
  * was replaced (another object has the key now)   -> "replaced"
  * was deleted                                     -> "deleted"
  * or when the timeout passes                      -> "timeout"

as JSON with the object's length, CRC-64, type, seal state, ETag and Last-Modified (the same
facts in headers). With `Accept: text/event-stream` the same events go out as Server-Sent
Events, the position advancing with each "grown", until a final event or the timeout. Every
HeadObject/GetObject response carries `x-ossbox-watch: 1` (DISCOVERY_HEADER) so that clients know
to use this rather than poll HEAD (real OSS has no such header). The contract is in
docs/architecture.md ("Watching objects"); the waiting itself is storage/watch.py's.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import AsyncIterator, Optional

from .. import errors, numeric
from ..storage.errors import StorageError
from ..storage.records import APPENDABLE, ObjectRecord
from ..wire.request import Request, Response
from . import common

log = logging.getLogger("ossbox.watch")

WATCH_PARAM = "x-ossbox-watch"
DISCOVERY_HEADER = common.WATCH_DISCOVERY
DEFAULT_TIMEOUT, MAX_TIMEOUT = 25, 60
KEEP_ALIVE = 15.0     # seconds between SSE comment lines while nothing happens
FINAL_EVENTS = ("sealed", "replaced", "deleted", "timeout")


def _parse(req: Request) -> tuple[int, int]:
    if "versionId" in req.query:
        raise errors.InvalidArgument("A watch follows the current version; versionId is not allowed.",
                                     ArgumentName="versionId", ArgumentValue=req.query["versionId"][:64])
    raw = req.query.get("position")
    if raw is None:
        raise errors.InvalidArgument("position is required: the length the client already has.",
                                     ArgumentName="position", ArgumentValue="")
    position = numeric.decimal_argument(raw, "position", 0, numeric.MAX_INT64)
    raw = req.query.get("timeout")
    timeout = DEFAULT_TIMEOUT if raw is None else numeric.decimal_argument(raw, "timeout", 1, MAX_TIMEOUT)
    return position, timeout


def _same_object(a: ObjectRecord, b: ObjectRecord) -> bool:
    """Whether b is still the object a was (an append keeps the blob; its ETag changes with each
    append of an appendable object, so only other objects compare ETags)."""
    return (a.blob == b.blob and a.type == b.type and a.version_id == b.version_id
            and (a.type == APPENDABLE or a.etag == b.etag))


def _event(origin: ObjectRecord, rec: Optional[ObjectRecord], position: int) -> Optional[str]:
    """The event `rec` (None: no object) is for a client at `position` of `origin`, or None."""
    if rec is None:
        return "deleted"
    if not _same_object(origin, rec):
        return "replaced"
    if rec.size > position:
        return "grown"
    if rec.sealed is not None:
        return "sealed"
    return None


def _facts(event: str, rec: Optional[ObjectRecord]) -> tuple[dict, dict]:
    """The JSON body and the headers of an event."""
    if rec is None:
        body = {"event": event, "length": 0, "crc64": "0", "type": None, "sealed": False,
                "etag": None, "lastModified": None}
        headers = {"x-oss-next-append-position": "0", "x-oss-hash-crc64ecma": "0"}
    else:
        etag, modified = f'"{rec.etag}"', common.http_date(rec.mtime)
        body = {"event": event, "length": rec.size, "crc64": str(rec.crc64), "type": rec.type,
                "sealed": rec.sealed is not None, "etag": etag, "lastModified": modified}
        headers = {"x-oss-next-append-position": str(rec.size), "x-oss-hash-crc64ecma": str(rec.crc64),
                   "x-oss-object-type": rec.type, "etag": etag, "last-modified": modified}
    headers.update({"x-ossbox-watch-event": event, "cache-control": "no-store", **DISCOVERY_HEADER})
    return body, headers


class _ClientGone(Exception):
    pass


async def _next(req: Request, gone: asyncio.Future, seen: Optional[ObjectRecord], timeout: float
                ) -> tuple[bool, Optional[ObjectRecord]]:
    """engine.watch_object, given up when the client goes away (_ClientGone)."""
    waiting = asyncio.ensure_future(req.server.engine.watch_object(req.bucket, req.key, seen, timeout))
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiting.done():
            waiting.cancel()
    if not waiting.done() or waiting.cancelled():
        raise _ClientGone()
    return waiting.result()


async def _watch(req: Request, gone: asyncio.Future, origin: ObjectRecord, position: int,
                 deadline: float, step: float = MAX_TIMEOUT) -> tuple[str, Optional[ObjectRecord]]:
    """Wait for the next event at `position`: (event, record); "keep-alive" after `step` seconds
    without one (before the deadline)."""
    seen = origin
    while True:
        event = _event(origin, seen, position)
        if event is not None:
            return event, seen
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", seen
        changed, rec = await _next(req, gone, seen, min(left, step))
        if not changed:
            # the step passed, or the server is stopping (then the client reconnects elsewhere)
            stopping = req.server.engine.watches_stopped()
            return ("keep-alive" if left > step and not stopping else "timeout"), seen
        seen = rec


async def watch_object(req: Request) -> Response:
    await common.require_bucket(req)
    position, timeout = _parse(req)
    deadline = time.monotonic() + timeout
    engine = req.server.engine
    origin = await engine.get_object(req.bucket, req.key)
    if origin is None:
        raise await common.no_such_key(req, await common.require_bucket(req))
    if "text/event-stream" in req.headers.get("accept", ""):
        if engine.watches_full():
            raise errors.TooManyWatches()
        headers = {"content-type": "text/event-stream", "cache-control": "no-store",
                   "x-accel-buffering": "no", **DISCOVERY_HEADER}
        return Response(200, headers, _stream(req, origin, position, deadline))
    gone = asyncio.ensure_future(req.disconnected())
    try:
        event, rec = await _watch(req, gone, origin, position, deadline)
    except _ClientGone:
        event, rec = "timeout", origin  # nobody reads this answer
    finally:
        gone.cancel()
    body, headers = _facts(event, rec)
    headers["content-type"] = "application/json"
    return Response(200, headers, json.dumps(body).encode())


async def _stream(req: Request, origin: ObjectRecord, position: int, deadline: float) -> AsyncIterator[bytes]:
    """The SSE body: one message per event, `: keep-alive` every KEEP_ALIVE s, until a final one."""
    gone = asyncio.ensure_future(req.disconnected())
    try:
        while True:
            try:
                event, rec = await _watch(req, gone, origin, position, deadline, KEEP_ALIVE)
            except _ClientGone:
                return
            except StorageError as exc:
                # too late for an error response (200 and events went out): the stream ends, and
                # the client reconnects as after a timeout (e.g. TooManyWatches: then it gets the 503)
                log.info("event stream on %s/%s ended: %s", req.bucket, req.key, exc)
                return
            if event == "keep-alive":
                yield b": keep-alive\n\n"
                continue
            body, _ = _facts(event, rec)
            yield f"event: {event}\ndata: {json.dumps(body)}\n\n".encode()
            if event in FINAL_EVENTS:
                return
            origin, position = rec, rec.size
    finally:
        gone.cancel()
