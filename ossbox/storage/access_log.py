"""Bucket access logs (PutBucketLogging): lines collected per node and written as objects.

A request to a bucket whose config has "logging" adds one line in OSS's access-log format to an
in-memory buffer (no I/O on the request path). Every `interval` seconds (--logging-interval) the
node writes what it collected as one object per (source bucket, target) named as OSS names them:
`<TargetPrefix><SourceBucket>YYYY-mm-DD-HH-MM-SS-<UniqueString>`.

Several nodes: each node writes its own objects; the unique string carries a per-process id and a
counter, so nodes never overwrite each other and need no coordination. Delivery is best effort,
as OSS documents its own log delivery: lines still in a node's buffer are lost if it crashes
(a clean shutdown writes them), and lines for a target bucket that no longer exists are dropped.
A buffer holds at most MAX_BUFFERED lines; beyond that, lines are dropped and counted in the log.
"""
from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Optional
from urllib.parse import quote

from .errors import StorageError
from .periodic import Periodic
from .records import NORMAL, ObjectRecord

log = logging.getLogger("ossbox.access_log")

DEFAULT_INTERVAL = 300.0
MAX_BUFFERED = 100_000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _q(value) -> str:
    """A quoted field; OSS writes "-" for an empty one."""
    text = str(value) if value not in (None, "") else "-"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def log_time(t: float) -> str:
    tm = time.gmtime(t)
    return f"[{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} +0000]"


def format_line(*, remote_ip: str, when: float, method: str, uri: str, status: int, sent: int, elapsed_ms: int,
                referer: str, user_agent: str, host: str, request_id: str, requester: Optional[str],
                operation: str, bucket: str, key: Optional[str], object_size: Optional[int], error_code: str,
                request_length: int, owner: str, storage_class: Optional[str], access_key_id: Optional[str]) -> str:
    """One line in OSS's access-log field order (OSS "Logging" page): remote_ip, two reserved
    fields, time, request_uri, http_status, sent_bytes, request_time, referer, user_agent,
    hostname, request_id, logging_flag, requester_aliyun_id, operation, bucket, key,
    object_size, server_cost_time, error_code, request_length, user_id, delta_data_size,
    sync_request, storage_class, target_storage_class, transmission_acceleration_access_point,
    accesskeyid."""
    fields = [remote_ip or "-", "-", "-", log_time(when), _q(f"{method} {uri} HTTP/1.1"), str(status), str(sent),
              str(elapsed_ms), _q(referer), _q(user_agent), _q(host), _q(request_id), _q("true"), _q(requester),
              _q(operation), _q(bucket), _q(quote(key, safe="") if key else None),
              str(object_size) if object_size is not None else "-", str(elapsed_ms), _q(error_code),
              str(request_length), _q(owner), "-", _q(None), _q(storage_class), _q(None), _q(None),
              _q(access_key_id)]
    return " ".join(fields)


class AccessLogWriter(Periodic):
    """Buffers access-log lines and writes them to the target buckets every `interval` seconds."""

    name = "writing access logs"

    def __init__(self, engine, interval: float = DEFAULT_INTERVAL):
        super().__init__(interval)
        self.engine = engine
        self._buffers: dict[tuple[str, str, str], list[str]] = {}
        self._dropped = 0
        self._node = os.urandom(6).hex().upper()   # per process: nodes never pick the same name
        self._seq = itertools.count(1)

    def record(self, source: str, target: str, prefix: str, line: str) -> None:
        buf = self._buffers.setdefault((source, target, prefix), [])
        if len(buf) >= MAX_BUFFERED:
            self._dropped += 1
            return
        buf.append(line)

    async def stop(self) -> None:
        await super().stop()
        await self.flush()   # a clean shutdown delivers what it collected

    async def tick(self) -> None:
        await self.flush()

    def object_name(self, prefix: str, source: str, when: float) -> str:
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(when))
        return f"{prefix}{source}{stamp}-{self._node}{next(self._seq):04X}"

    async def flush(self) -> int:
        """Write every buffered batch as one object; the number of objects written."""
        buffers, self._buffers = self._buffers, {}
        if self._dropped:
            log.warning("access log: %d lines dropped (buffer full)", self._dropped)
            self._dropped = 0
        written = 0
        for (source, target, prefix), lines in buffers.items():
            if not lines:
                continue
            data = ("\n".join(lines) + "\n").encode("utf-8")
            try:
                if await write_object(self.engine, target, self.object_name(prefix, source, time.time()), data,
                                      "text/plain"):
                    written += 1
            except StorageError as exc:
                log.warning("access log for %s not delivered to %s: %s", source, target, exc)
        return written


async def write_object(engine, bucket: str, key: str, data: bytes, content_type: str) -> bool:
    """Store `data` as a Normal object written by the service itself (logs, inventory reports);
    False when the bucket no longer exists."""
    rec = await engine.get_bucket(bucket)
    if rec is None:
        return False
    obj = ObjectRecord(bucket=bucket, key=key, type=NORMAL, size=0, crc64=0, etag="", blob="", mtime=0.0,
                       storage_class=rec.storage_class, headers={"content-type": content_type})

    async def body():
        yield data
    await engine.put_object(obj, body(), content_length=len(data), content_md5=None)
    return True
