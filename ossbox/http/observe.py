"""Running ossbox as a service: the per-request record, the access log, Prometheus metrics and the
health endpoints under `/-/` (docs/operations.md).

One RequestRecord is made per request, after its response has gone out; the metrics, the access
log (--access-log) and bucket access logging (PutBucketLogging, storage/access_log.py) all read it.
Nothing here does I/O on the event loop: access-log lines go through a queue to a writer thread,
metrics are in-memory counters, and the disk-free gauge is read when Prometheus scrapes.
"""
from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("ossbox.http")

PREFIX = "/-/"   # bucket names cannot start with "-": these paths never name a bucket
METRICS_PATH = "/-/metrics"
LIVE_PATH = "/-/health/live"
READY_PATH = "/-/health/ready"

# Handlers whose function name is not the OSS operation name (the others are: append_object ->
# AppendObject). Names from OSS's API reference.
_OPERATION_NAMES = {
    "initiate": "InitiateMultipartUpload", "complete": "CompleteMultipartUpload",
    "abort": "AbortMultipartUpload", "list_uploads": "ListMultipartUploads",
    "preflight": "OptionObject", "process": "SelectObject", "dispatch": "Admin",
    "list_buckets": "ListBuckets", "get_bucket_info": "GetBucketInfo",
    "live_channel_unsupported": "LiveChannel", "no_such_resource_pool": "ResourcePool",
}
_names: dict = {}


def operation_name(handler) -> str:
    """The OSS operation a routed handler implements (AppendObject, PutObject, ...)."""
    name = _names.get(handler)
    if name is None:
        fn = getattr(handler, "__name__", "") or "Unknown"
        name = _OPERATION_NAMES.get(fn) or "".join(p[:1].upper() + p[1:] for p in fn.split("_"))
        _names[handler] = name
    return name


class RequestRecord:
    """What happened in one request, for the metrics, the access log and bucket logging."""
    __slots__ = ("started", "latency", "request_id", "remote", "access_key_id", "requester", "operation",
                 "action", "method", "bucket", "key", "status", "code", "ec", "bytes_in", "bytes_out")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    def as_dict(self) -> dict:
        return {"time": iso_time(self.started), "request_id": self.request_id, "remote": self.remote,
                "access_key_id": self.access_key_id or "anonymous", "operation": self.operation,
                "bucket": self.bucket, "key": self.key, "status": self.status, "code": self.code or None,
                "ec": self.ec or None, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "latency_ms": round(self.latency * 1000, 3)}


def iso_time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _field(value) -> str:
    """A text-format field: "-" when empty; spaces and quotes in keys are percent-encoded so a line
    always splits into the same fields."""
    if value is None or value == "":
        return "-"
    text = str(value)
    if " " in text or '"' in text or "%" in text or "\n" in text or "\t" in text:
        text = (text.replace("%", "%25").replace(" ", "%20").replace('"', "%22")
                .replace("\n", "%0A").replace("\t", "%09"))
    return text


TEXT_FIELDS = ("time", "request_id", "remote", "access_key_id", "operation", "bucket", "key", "status", "code",
               "ec", "bytes_in", "bytes_out", "latency_ms")


def format_text(rec: RequestRecord) -> str:
    d = rec.as_dict()
    return " ".join(_field(d[name]) for name in TEXT_FIELDS)


def format_json(rec: RequestRecord) -> str:
    return json.dumps(rec.as_dict(), ensure_ascii=False, separators=(",", ":"))


class AccessLog:
    """--access-log: one line per request, written by a thread of its own. The event loop only puts
    the record on a queue (formatting happens in the writer thread too)."""

    def __init__(self, target: str, fmt: str = "text"):
        self.target = target
        self.format = format_json if fmt == "json" else format_text
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        # opened here, not in the thread: a path that cannot be written stops the start. Raw
        # (unbuffered) files: each write() below is one write(2).
        if self.target == "-":
            sys.stdout.flush()
            self._out = open(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
        else:
            self._out = open(self.target, "ab", buffering=0)  # O_APPEND
        # The workers of `--workers N` write one log: every line must reach it whole. A write
        # to a file opened O_APPEND lands at the end as one piece, so a batch of whole lines
        # goes out in one write(); a pipe keeps writes of up to PIPE_BUF bytes whole. (Regular
        # files are the seekable ones; pipes, sockets and terminals are not.)
        self._piece = None if self._out.seekable() else select_pipe_buf()
        self._thread = threading.Thread(target=self._write_loop, name="ossbox-access-log", daemon=True)
        self._thread.start()

    def record(self, rec: RequestRecord) -> None:
        self._queue.put(rec)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        self._out.close()

    def _write_loop(self) -> None:
        get = self._queue.get
        while True:
            batch = [get()]
            try:  # whatever else is queued goes out in the same write
                while len(batch) < 4096:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            done = batch[-1] is None
            lines = [(self.format(r) + "\n").encode("utf-8") for r in batch if r is not None]
            try:
                for piece in self._pieces(lines):
                    while piece:  # a short write (a signal, a full disk) continues where it ended
                        written = self._out.write(piece)
                        if not written:  # None: a non-blocking stdout that is full
                            raise BlockingIOError("the access log takes no more bytes now")
                        piece = piece[written:]
            except OSError as exc:  # a full disk must not stop the server
                log.warning("access log: %d lines lost: %s", len(lines), exc)
            if done:
                return

    def _pieces(self, lines: list):
        """The writes that carry lines: all at once to a file, else whole lines of together at most
        PIPE_BUF bytes each (a longer line alone)."""
        if self._piece is None:
            yield b"".join(lines)
            return
        piece, size = [], 0
        for line in lines:
            if piece and size + len(line) > self._piece:
                yield b"".join(piece)
                piece, size = [], 0
            piece.append(line)
            size += len(line)
        if piece:
            yield b"".join(piece)


def select_pipe_buf() -> int:
    import select
    return getattr(select, "PIPE_BUF", 512)  # POSIX guarantees at least 512


_LATENCY_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60)
_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def multiprocess() -> bool:
    """Whether prometheus-client keeps metric values in files shared by the processes of
    `--workers N` (PROMETHEUS_MULTIPROC_DIR was set when it was first imported, see
    cli/supervisor.py) rather than in this process's memory."""
    return values.ValueClass is not values.MutexValue


class _DiskFree:
    """ossbox_disk_free_bytes, read when scraped. A collector of its own rather than a Gauge with
    set_function: in multiprocess mode only values written to the shared files are exposed, and
    this one is the same for every worker anyway (one data dir)."""

    def __init__(self, engine):
        self.engine = engine

    def describe(self):  # what registering needs, without reading the disk
        yield GaugeMetricFamily(*self._NAME)

    def collect(self):
        yield GaugeMetricFamily(*self._NAME, value=self.engine.disk_free())

    _NAME = ("ossbox_disk_free_bytes", "Free bytes in the data directory (df's Avail)")


class Metrics:
    """The Prometheus metrics of one server (a registry of its own, so several servers in one
    process stay apart). Children per label set are cached: labels() takes a lock and builds a key.
    Under `--workers N` every worker counts into prometheus-client's multiprocess files, and a
    scrape (answered by any worker) sums all of them: counters and histograms add up, including
    those of workers that died; the gauges add up over the live workers ("livesum")."""

    def __init__(self, engine):
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("ossbox_requests", "Requests answered, by OSS operation and HTTP status",
                                ["operation", "status"], registry=r)
        self.latency = Histogram("ossbox_request_duration_seconds",
                                 "Time from the request's arrival to its last response byte",
                                 ["operation", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.bytes_in = Counter("ossbox_request_bytes", "Request body bytes received", ["operation"], registry=r)
        self.bytes_out = Counter("ossbox_response_bytes", "Response body bytes sent", ["operation"], registry=r)
        self.appends = Counter("ossbox_appends", "AppendObject requests that appended", registry=r)
        self.position_conflicts = Counter(
            "ossbox_append_position_conflicts",
            "AppendObject requests refused with 409 PositionNotEqualToLength", registry=r)
        self.refusals = Counter(
            "ossbox_connection_refusals",
            "Requests answered by the connection layer, never routed: malformed HTTP, a request head "
            "too large or too slow, a transfer coding other than chunked; by error Code", ["code"], registry=r)
        self.in_flight = Gauge("ossbox_requests_in_flight", "Requests being served", registry=r,
                               multiprocess_mode="livesum")
        self.connections = Gauge("ossbox_open_connections", "Open client connections (HTTP and HTTPS)",
                                 registry=r, multiprocess_mode="livesum")
        self.watches = Gauge("ossbox_watches_pending", "Watches (?x-ossbox-watch) waiting for their object",
                             registry=r, multiprocess_mode="livesum")
        self.commit = Histogram("ossbox_metadata_commit_seconds",
                                "Durable metadata commits: the write transaction and its sync",
                                buckets=_LATENCY_BUCKETS, registry=r)
        self.sync_group = Histogram("ossbox_wal_fsync_group_size",
                                    "Commits made durable by one fdatasync of the SQLite WAL (group commit)",
                                    buckets=_GROUP_BUCKETS, registry=r)
        if multiprocess():
            from prometheus_client.multiprocess import MultiProcessCollector
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed)
        else:
            self.exposed = r
        self.exposed.register(_DiskFree(engine))
        engine.observe(commit=self.commit.observe, sync_group=self.sync_group.observe, watches=self.watches.set)
        self._children: dict = {}

    def observe(self, rec: RequestRecord) -> None:
        key = (rec.operation, rec.status)
        children = self._children.get(key)
        if children is None:
            status = str(rec.status)
            children = self._children[key] = (
                self.requests.labels(rec.operation, status), self.latency.labels(rec.operation, status),
                self.bytes_in.labels(rec.operation), self.bytes_out.labels(rec.operation))
        count, latency, bytes_in, bytes_out = children
        count.inc()
        latency.observe(rec.latency)
        if rec.bytes_in:
            bytes_in.inc(rec.bytes_in)
        if rec.bytes_out:
            bytes_out.inc(rec.bytes_out)
        if rec.operation == "AppendObject":
            if rec.status == 200:
                self.appends.inc()
            elif rec.code == "PositionNotEqualToLength":
                self.position_conflicts.inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.exposed), CONTENT_TYPE_LATEST


def serve_metrics(metrics: Metrics, host: str, port: int, sock=None) -> None:
    """--metrics-port: the metrics on a port of their own, served by prometheus-client's thread;
    on `sock` when the --workers supervisor bound the port for all workers."""
    if sock is None:
        start_http_server(port, addr=host, registry=metrics.exposed)
        return
    from wsgiref.simple_server import WSGIRequestHandler

    from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):  # as prometheus-client's own server: no line per scrape
            pass

    class OnSocket(ThreadingWSGIServer):
        address_family = sock.family

        def server_bind(self):  # bound and listening already
            self.socket.close()
            self.socket = sock
            self.server_address = sock.getsockname()[:2]
            self.server_name, self.server_port = host, self.server_address[1]
            self.setup_environ()

        def server_activate(self):
            pass

    httpd = OnSocket((host, port), Quiet)
    httpd.set_app(make_wsgi_app(metrics.exposed))
    threading.Thread(target=httpd.serve_forever, name="ossbox-metrics", daemon=True).start()


def health_body(status: str, **extra) -> bytes:
    return json.dumps({"status": status, **extra}).encode() + b"\n"
