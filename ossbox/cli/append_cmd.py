"""`ossbox append SRC oss://bucket/key` (exactly-once under retries) and `ossbox tail`.

append
  ossutil 2's high-level `append`: SRC is a local file, `-` (stdin) or `oss://bucket/key`. The
  destination is HEADed: a missing object is created at position 0 (only then do the creation
  flags --acl, --metadata, --tagging, --content-type ... apply), an Appendable object is appended
  to at its length, anything else fails ("not an appendable object", exit 2).

  The input is streamed in parts of --part-size bytes (one AppendObject each), so memory stays at
  one part whatever the input size; a pipe is read until EOF, and a partial part is sent once its
  first byte has waited --flush-interval seconds, so `tail -f app.log | ossbox append - oss://b/k`
  shows lines promptly.

  Exactly once: the SDK never retries an append by itself (retry_max_attempts=1 on those calls).
  A refused connection sent nothing: the part is resent after a backoff (within --retry-times),
  so a server restart does not end a long `append -`; the HEAD that starts the run is not
  retried on a refused connection, so a wrong endpoint still fails at once. When an append fails without a definite refusal from the service (connection lost, timeout,
  5xx, PositionNotEqualToLength), the object is HEADed and its length and CRC-64 decide:
    * length == pos + len(part) and CRC == combine(CRC before, CRC(part))  -> it landed, go on;
    * length == pos and CRC == CRC before                                   -> it did not, resend
      (at most --retry-times times, with full-jitter backoff);
    * anything else -> another writer changed the object: stop with exit 2, never duplicating or
      skipping bytes.
  Every successful response is checked too: the next position must be pos + len(part) and the
  returned x-oss-hash-crc64ecma must equal the running CRC (mismatch -> exit 3). The installed
  alibabacloud-oss-v2 has no init_hash_crc64 for AppendObject, so that check is done here.

tail (not in ossutil)
  `ossbox tail [-f] [-n LINES | -c BYTES] [--interval S] oss://bucket/key` prints the last LINES
  lines (default 10) or BYTES bytes, and with -f prints what gets appended (ranged GETs of the new
  bytes only, checked against the object's CRC-64 before being printed). It learns of appends from
  a watch (`GET ?x-ossbox-watch&position=N`, answered as soon as the object grows) when HEAD
  shows `x-ossbox-watch: 1` (an ossbox server), else by polling HEAD every S seconds (real OSS).
  A truncated or replaced object gives a notice on stderr and following restarts at its new end. Ctrl-C or SIGTERM ends `tail -f` normally: exit status 0. No elapsed trailer is printed
  (the output is object data).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import email.utils
import os
import random
import re
import select
import signal
import stat
import sys
import time
from typing import Iterator, Optional
from urllib.parse import quote, unquote

from .output import EXIT_INTERRUPTED, EXIT_OK, EXIT_SERVICE, Printer, dry_run, print_error
from .settings import Settings, UsageError, make_client, unreachable

DEFAULT_PART_SIZE = 8 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 ** 3
DEFAULT_FLUSH_INTERVAL = 1.0
ACLS = ("default", "private", "public-read", "public-read-write")
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
_SUFFIX = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


# -- argument types ------------------------------------------------------------------------------
def size_value(text: str) -> int:
    """ossutil's SizeSuffix: bytes by default, K/M/G/T (powers of 1024), optional B / iB."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (bytes, or a number with K, M, G or T)")
    return int(float(m.group(1)) * _SUFFIX[m.group(2).upper()])


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _lines_value(text: str) -> int:
    if text.startswith("+"):
        raise argparse.ArgumentTypeError("-n +N (output starting at line N) is not supported")
    try:
        value = int(text.lstrip("-"))  # `tail -n -5` means the same as `-n 5`
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of lines {text!r}")
    return value


def parse_oss_url(url: str, encoding_type: Optional[str] = None) -> tuple[str, str]:
    if not url.startswith("oss://"):
        raise UsageError(f"invalid object URL {url!r}: expected oss://bucket/key")
    bucket, _, key = url[len("oss://"):].partition("/")
    if encoding_type == "url":
        key = unquote(key)
    if not bucket:
        raise UsageError(f"invalid object URL {url!r}: missing bucket name")
    if not key:
        raise UsageError(f"invalid object URL {url!r}: missing object key")
    return bucket, key


def _items(values) -> list[str]:
    """A `strings` option: repeatable, each occurrence may hold comma-separated items."""
    out = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _pairs(values, flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in _items(values):
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise UsageError(f"{flag} takes KEY=VALUE, got {item!r}")
        pairs.append((k.strip(), v.strip()))
    return pairs


def _expires(value: str) -> str:
    """--expires is an absolute time; ISO 8601 (ossutil's Time type) becomes an HTTP date."""
    try:
        when = _dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value  # already an HTTP date, or something the server may judge
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return email.utils.format_datetime(when.astimezone(_dt.timezone.utc), usegmt=True)


def creation_params(args: argparse.Namespace) -> dict:
    """AppendObjectRequest fields sent only by the append that creates the object."""
    params: dict = {}
    if args.acl:
        params["acl"] = args.acl
    if args.storage_class:
        match = [c for c in STORAGE_CLASSES if c.lower() == args.storage_class.lower()]
        if not match:
            raise UsageError(f"invalid --storage-class {args.storage_class!r}: one of {', '.join(STORAGE_CLASSES)}")
        params["storage_class"] = match[0]
    meta = {}
    for k, v in _pairs(args.metadata, "--metadata"):
        if k.lower().startswith("x-oss-meta-"):
            k = k[len("x-oss-meta-"):]
        meta[k] = v
    if meta:
        params["metadata"] = meta
    tags = _pairs(args.tagging, "--tagging")
    if tags:
        params["tagging"] = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in tags)
    for name in ("cache_control", "content_disposition", "content_encoding", "content_type"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    if args.expires:
        params["expires"] = _expires(args.expires)
    return params


# -- registration --------------------------------------------------------------------------------
def register(sub, add_globals) -> None:
    p = sub.add_parser(
        "append", help="append a local file, stdin or an object to an appendable object",
        description="Append SRC (a local file, - for stdin, or oss://bucket/key) to the appendable object "
                    "oss://bucket/key, creating it if missing. Exactly once even when responses are lost.")
    p.add_argument("source", metavar="SRC", help="local file, - (stdin) or oss://bucket/key")
    p.add_argument("destination", metavar="oss://bucket/key", help="the appendable object")
    p.add_argument("--acl", choices=ACLS, help="object ACL (only when the object is created)")
    p.add_argument("--storage-class", help="Standard, IA, Archive, ... (only when created)")
    p.add_argument("--request-payer", choices=("requester",), help="the requester pays")
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE",
                   help="user metadata (comma-separated or repeated; only when created)")
    p.add_argument("--tagging", action="append", metavar="KEY=VALUE",
                   help="object tags (comma-separated or repeated; only when created)")
    p.add_argument("--cache-control", help="Cache-Control (only when created)")
    p.add_argument("--content-disposition", help="Content-Disposition (only when created)")
    p.add_argument("--content-encoding", help="Content-Encoding (only when created)")
    p.add_argument("--content-type", help="Content-Type (only when created)")
    p.add_argument("--expires", help="Expires, an absolute time such as 2030-10-12T00:00:00.000Z (only when created)")
    p.add_argument("--encoding-type", choices=("url",), help="object keys in the URLs are URL-encoded")
    p.add_argument("--part-size", type=size_value, default=DEFAULT_PART_SIZE, metavar="SIZE",
                   help="bytes per append request (suffixes K, M, G; default 8M)")
    p.add_argument("--flush-interval", type=_positive_float, default=DEFAULT_FLUSH_INTERVAL, metavar="SECONDS",
                   help="from a pipe: send a partial part once its first byte waited this long (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_globals(p)
    p.set_defaults(func=run_append)

    t = sub.add_parser(
        "tail", help="print the end of an object; -f follows appends",
        description="Print the last lines (default 10) or bytes of an object. With -f, keep polling and print "
                    "what gets appended. Ctrl-C or SIGTERM stops following with exit status 0.",
        epilog="-c and -n are tail(1)'s: bytes and lines. After `tail`, give the global config file and dry "
               "run by their long names (--config-file FILE, --dry-run), or as -c/-n before the command: "
               "ossbox -c FILE -n tail -c 100 oss://bucket/key")
    t.add_argument("url", metavar="oss://bucket/key")
    t.add_argument("-f", "--follow", action="store_true", help="keep printing appended data")
    g = t.add_mutually_exclusive_group()
    g.add_argument("-n", "--lines", type=_lines_value, metavar="N", help="print the last N lines (default 10)")
    g.add_argument("-c", "--bytes", type=size_value, metavar="BYTES", help="print the last BYTES bytes")
    t.add_argument("--interval", type=_positive_float, default=1.0, metavar="SECONDS",
                   help="with -f: seconds between polls (default 1)")
    t.add_argument("--request-payer", choices=("requester",), help="the requester pays")
    t.add_argument("--encoding-type", choices=("url",), help="the object key in the URL is URL-encoded")
    add_globals(t, short_c=False, short_n=False)
    t.set_defaults(func=run_tail)


# -- small SDK helpers ---------------------------------------------------------------------------
class ObjectState:
    __slots__ = ("length", "crc", "type", "etag", "watchable")

    def __init__(self, length: int, crc: Optional[int], type_: str, etag: Optional[str],
                 watchable: bool = False):
        self.length, self.crc, self.type, self.etag = length, crc, type_, etag
        self.watchable = watchable   # the server takes ?x-ossbox-watch (see watch_state)

    @property
    def appendable(self) -> bool:
        return self.type.lower() == "appendable"


def head_state(client, bucket: str, key: str, request_payer=None, missing_ok: bool = True) -> Optional[ObjectState]:
    """The object's length, CRC-64, type and ETag, or None when it does not exist (missing_ok)."""
    import alibabacloud_oss_v2 as oss
    try:
        r = client.head_object(oss.models.HeadObjectRequest(bucket=bucket, key=key, request_payer=request_payer))
    except oss.exceptions.OperationError as exc:
        inner = exc.unwrap()
        if missing_ok and isinstance(inner, oss.exceptions.ServiceError) and inner.status_code == 404 \
                and inner.code != "NoSuchBucket":
            return None
        raise
    crc = int(r.hash_crc64) if r.hash_crc64 not in (None, "") else None
    watchable = (r.headers or {}).get(WATCH_HEADER) == "1"
    return ObjectState(int(r.content_length or 0), crc, r.object_type or "Normal", r.etag, watchable)


# An ossbox server answers HEAD with `x-ossbox-watch: 1`: it takes GET ?x-ossbox-watch&position=N,
# which answers as soon as the object grows past N (or is sealed, replaced, deleted). Real OSS
# has neither, and is polled with HEAD instead.
WATCH_HEADER = "x-ossbox-watch"
WATCH_TIMEOUT = 25   # seconds a watch waits at most (the server's default)
# ... when stdout is a pipe: `tail -f | head` must notice soon that head has gone (reader_gone),
# and nothing can be checked while the watch waits
PIPE_WATCH_TIMEOUT = 1
TIMEOUT, POLL = "timeout", "poll"   # what Tail.watched answers besides a state


def watch_state(client, bucket: str, key: str, position: int, request_payer=None,
                timeout: int = WATCH_TIMEOUT):
    """Wait (one long-poll, sent and signed by the SDK like any operation) until the object is
    longer than `position`, sealed, replaced or deleted: (event, its ObjectState, None when
    deleted); ("timeout", None) when nothing happened within `timeout` seconds."""
    import json

    from alibabacloud_oss_v2.types import OperationInput
    headers = {"x-oss-request-payer": request_payer} if request_payer else {}
    out = client.invoke_operation(
        OperationInput(op_name="WatchObject", method="GET", bucket=bucket, key=key, headers=headers,
                       parameters={WATCH_HEADER: "", "position": str(position), "timeout": str(timeout)}),
        readwrite_timeout=timeout + 10, retry_max_attempts=1)
    response = out.http_response
    answer = json.loads(response.content if response.is_stream_consumed else response.read())
    event = answer["event"]
    if event == "timeout":
        return event, None
    if event == "deleted":
        return event, None
    return event, ObjectState(int(answer["length"]), int(answer["crc64"]), answer["type"] or "Normal",
                              answer["etag"], True)


def raw_chunks(body, size: int = 256 * 1024) -> Iterator[bytes]:
    """A GetObject body as stored: no Content-Encoding decoding (requests would gunzip an object
    stored with Content-Encoding: gzip). Reaches the urllib3 response under the SDK's StreamBody
    when it can, else falls back to the (decoding) public iterator."""
    response = getattr(body, "_response", body)
    internal = getattr(response, "_internal_response", None)
    raw = getattr(internal, "raw", None)
    if raw is not None and hasattr(raw, "stream"):
        try:
            yield from raw.stream(size, decode_content=False)
        finally:
            body.close()
    else:
        yield from body.iter_bytes(block_size=size)


def get_range(client, bucket: str, key: str, start: int, end: int, *, if_match=None,
              request_payer=None) -> Iterator[bytes]:
    """Bytes [start, end) of the object, streamed."""
    import alibabacloud_oss_v2 as oss
    if end <= start:
        return iter(())
    r = client.get_object(oss.models.GetObjectRequest(
        bucket=bucket, key=key, range_header=f"bytes={start}-{end - 1}", range_behavior="standard",
        if_match=if_match, request_payer=request_payer))
    return raw_chunks(r.body)


def _crc(data) -> int:
    from ..storage.crc import crc64_update
    return crc64_update(0, data)


def _combine(crc_a: int, crc_b: int, len_b: int) -> int:
    from ..storage.crc import crc64_combine
    return crc64_combine(crc_a, crc_b, len_b)


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


class _Terminated(Exception):
    """SIGTERM, turned into an exception so the command can stop cleanly."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _terminated_in(exc: BaseException) -> bool:
    """Whether _on_sigterm's exception is behind `exc` (the SDK wraps what a request raised)."""
    seen, todo = set(), [exc]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        if isinstance(exc, _Terminated):
            return True
        seen.add(id(exc))
        todo += [exc.__cause__, exc.__context__, getattr(exc, "_error", None)]
    return False


# -- sources -------------------------------------------------------------------------------------
class Source:
    total: Optional[int] = None
    description = ""

    def parts(self) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileSource(Source):
    """A regular local file, read sequentially in parts."""

    def __init__(self, path: str, part_size: int):
        self.f = open(path, "rb")
        self.total = os.fstat(self.f.fileno()).st_size
        self.part_size = part_size
        self.description = path

    def parts(self) -> Iterator[bytes]:
        while True:
            data = self.f.read(self.part_size)
            if not data:
                return
            yield data

    def close(self) -> None:
        self.f.close()


class StreamSource(Source):
    """A pipe, terminal or other stream: parts of up to part_size bytes; a partial part is sent once
    its first byte has waited flush_interval seconds (so slow producers show up promptly)."""

    def __init__(self, fd: int, part_size: int, flush_interval: float, description: str, owned=None):
        self.fd = fd
        self.part_size = part_size
        self.flush_interval = flush_interval
        self.description = description
        self.owned = owned
        self.pending = bytearray()   # read but not yet handed out (flushed on interrupt)
        self.eof = False

    def parts(self) -> Iterator[bytes]:
        buf = self.pending
        first_at = 0.0
        while True:
            timeout = None
            if buf:
                timeout = max(0.0, first_at + self.flush_interval - time.monotonic())
            try:
                ready, _, _ = select.select([self.fd], [], [], timeout)
            except (OSError, ValueError):   # not selectable: plain blocking reads
                ready = [self.fd]
            if not ready:
                data = bytes(buf)
                buf.clear()
                yield data
                continue
            chunk = os.read(self.fd, min(1024 * 1024, self.part_size - len(buf)))
            if not chunk:
                self.eof = True
                break
            if not buf:
                first_at = time.monotonic()
            buf += chunk
            if len(buf) >= self.part_size:
                data = bytes(buf)
                buf.clear()
                yield data
        if buf:
            data = bytes(buf)
            buf.clear()
            yield data

    def take_pending(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data

    def close(self) -> None:
        if self.owned is not None:
            self.owned.close()


class OssSource(Source):
    """An object, read with one ranged GET per part (each retried by the SDK, being idempotent).
    A Normal/Multipart source is pinned with If-Match; an appendable one (whose ETag changes with
    every append, and which may be the destination itself) is checked by CRC-64 at the end."""

    def __init__(self, client, bucket: str, key: str, part_size: int, request_payer=None):
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size = part_size
        self.request_payer = request_payer
        self.description = f"oss://{bucket}/{key}"
        st = head_state(client, bucket, key, request_payer, missing_ok=False)
        self.state = st
        self.total = st.length

    def parts(self) -> Iterator[bytes]:
        crc = 0
        pos = 0
        if_match = None if self.state.appendable else self.state.etag
        while pos < self.total:
            end = min(self.total, pos + self.part_size)
            data = b"".join(get_range(self.client, self.bucket, self.key, pos, end, if_match=if_match,
                                      request_payer=self.request_payer))
            if len(data) != end - pos:
                raise OSError(f"short read from {self.description}: {len(data)} of {end - pos} bytes at {pos}")
            if self.state.crc is not None:
                crc = _combine(crc, _crc(data), len(data))
                if end == self.total and crc != self.state.crc:
                    raise OSError(f"{self.description} changed while being read (CRC-64 mismatch)")
            pos = end
            yield data


def open_source(spec: str, args, client_factory) -> Source:
    part = args.part_size
    if spec == "-":
        return StreamSource(sys.stdin.fileno(), part, args.flush_interval, "stdin")
    if spec.startswith("oss://"):
        bucket, key = parse_oss_url(spec, args.encoding_type)
        return OssSource(client_factory(), bucket, key, part, args.request_payer)
    try:
        st = os.stat(spec)
    except OSError as exc:
        raise UsageError(f"cannot read {spec}: {exc.strerror}")
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{spec} is a directory")
    try:
        if stat.S_ISREG(st.st_mode):
            return FileSource(spec, part)
        f = open(spec, "rb", buffering=0)   # a FIFO, /dev/stdin, process substitution...
    except OSError as exc:
        raise UsageError(f"cannot read {spec}: {exc.strerror}")
    return StreamSource(f.fileno(), part, args.flush_interval, spec, owned=f)


# -- progress ------------------------------------------------------------------------------------
class Progress:
    """`appended 12.00 MiB / 40.00 MiB (30%), 5.10 MiB/s` on stderr, redrawn at most 10x a second."""

    def __init__(self, enabled: bool, total: Optional[int]):
        self.enabled = enabled
        self.total = total
        self.started = time.monotonic()
        self.last = 0.0
        self.width = 0

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        text = f"appended {human(done)}"
        if self.total:
            text += f" / {human(self.total)} ({min(100, done * 100 // self.total)}%)"
        text += f", {human(rate)}/s"
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def done(self, appended: int) -> None:
        if self.enabled:
            self.update(appended, force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()


# -- the exactly-once appender -------------------------------------------------------------------
class AppendConflict(Exception):
    """The object changed in a way our own appends cannot explain: another writer. Exit 2."""


class Appender:
    def __init__(self, client, bucket: str, key: str, state: Optional[ObjectState], create: dict,
                 retry_times: int, request_payer=None, progress: Optional[Progress] = None):
        self.client, self.bucket, self.key = client, bucket, key
        self.url = f"oss://{bucket}/{key}"
        self.exists = state is not None
        self.pos = state.length if state else 0
        self.crc = state.crc if state else 0      # None: the service keeps no CRC (length-only checks)
        self.create = create
        self.retry_times = max(0, retry_times)
        self.request_payer = request_payer
        self.progress = progress
        self.appended = 0
        self.requests = 0
        self.retries = 0
        self.inflight: Optional[bytes] = None   # a part whose append was started but not settled

    def append(self, data: bytes) -> None:
        """Append one part exactly once, or raise."""
        self.inflight = data
        self._append(data)
        self.inflight = None

    def recover(self) -> None:
        """After an interruption: settle the part that was in flight (landed, or append it now)."""
        data, self.inflight = self.inflight, None
        if data is None:
            return
        n = len(data)
        expect = _combine(self.crc, _crc(data), n) if self.crc is not None else None
        if self._reconcile(n, expect):
            self._advance(n, expect)
        else:
            self.append(data)

    def _append(self, data: bytes) -> None:
        import alibabacloud_oss_v2 as oss

        n = len(data)
        expect = _combine(self.crc, _crc(data), n) if self.crc is not None else None
        attempt = 0
        while True:
            request = oss.models.AppendObjectRequest(
                bucket=self.bucket, key=self.key, position=self.pos, body=data,
                request_payer=self.request_payer, progress_fn=self._progress_fn())
            if not self.exists:
                for name, value in self.create.items():
                    setattr(request, name, value)
            self.requests += 1
            try:
                result = self.client.append_object(request, retry_max_attempts=1)
            except oss.exceptions.OperationError as exc:
                inner = exc.unwrap()
                if unreachable(inner) is not None:
                    # Nothing was sent. The service answered when this run started (its HEAD), so
                    # it may be restarting: resend after a backoff, within --retry-times.
                    pass
                elif not self._uncertain(inner):
                    self.inflight = None
                    raise                       # a definite refusal: nothing was written
                elif self._reconcile(n, expect):  # the response was lost, but the data is there
                    self._advance(n, expect)
                    return
                if attempt >= self.retry_times:
                    self.inflight = None        # known not to have landed
                    raise
                attempt += 1
                self.retries += 1
                time.sleep(random.uniform(0, min(20.0, 0.2 * 2 ** (attempt - 1))))
                continue
            self._check(result, n, expect)
            self._advance(n, expect)
            return

    def _progress_fn(self):
        if self.progress is None or not self.progress.enabled:
            return None
        base = self.appended

        def fn(increment, transferred, total):
            self.progress.update(base + transferred)
        return fn

    @staticmethod
    def _uncertain(inner) -> bool:
        """Could the failed append have been applied anyway?"""
        import alibabacloud_oss_v2 as oss
        if isinstance(inner, oss.exceptions.ServiceError):
            return (inner.code == "PositionNotEqualToLength" or inner.status_code >= 500
                    or inner.status_code in (401, 408, 429) or inner.code in ("RequestTimeTooSkewed", "BadRequest"))
        return isinstance(inner, (oss.exceptions.RequestError, oss.exceptions.ResponseError))

    def _reconcile(self, n: int, expect: Optional[int]) -> bool:
        """After an uncertain failure: True if our part landed, False if the object is untouched
        (resend), AppendConflict if someone else changed it."""
        st = head_state(self.client, self.bucket, self.key, self.request_payer)
        done = f"{self.appended} bytes of the input had been appended (object size then {self.pos})"
        if st is None:
            if not self.exists and self.pos == 0:
                return False
            raise AppendConflict(f"{self.url} was deleted by someone else while appending; {done}")
        if not st.appendable:
            raise AppendConflict(f"{self.url} was replaced by a {st.type} object while appending; {done}")
        crc_known = st.crc is not None and self.crc is not None
        if st.length == self.pos + n and (not crc_known or st.crc == expect):
            return True
        if st.length == self.pos and (not crc_known or st.crc == self.crc):
            return False
        raise AppendConflict(
            f"{self.url} was changed by another writer: expected size {self.pos} (before this part) or "
            f"{self.pos + n} (after it), found {st.length}"
            + ("" if st.length not in (self.pos, self.pos + n) else " with a different CRC-64")
            + f"; {done}. Nothing was duplicated or skipped; append the rest again if wanted.")

    def _check(self, result, n: int, expect: Optional[int]) -> None:
        import alibabacloud_oss_v2 as oss
        if result.next_position is not None and int(result.next_position) != self.pos + n:
            raise AppendConflict(f"{self.url}: the service reports next position {result.next_position}, "
                                 f"expected {self.pos + n}")
        if expect is not None and result.hash_crc64 not in (None, ""):
            if int(result.hash_crc64) != expect:
                raise oss.exceptions.InconsistentError(client_crc=str(expect), server_crc=str(result.hash_crc64))

    def _advance(self, n: int, expect: Optional[int]) -> None:
        self.exists = True
        self.pos += n
        self.crc = expect
        self.appended += n
        if self.progress is not None:
            self.progress.update(self.appended)


def run_append(args: argparse.Namespace, settings: Settings) -> int:
    printer = Printer(settings)
    bucket, key = parse_oss_url(args.destination, args.encoding_type)
    if not 1 <= args.part_size <= MAX_PART_SIZE:
        raise UsageError(f"--part-size must be between 1 byte and 5G, got {args.part_size}")
    create = creation_params(args)
    client = None

    def get_client():
        nonlocal client
        if client is None:
            client = make_client(settings)
        return client

    if settings.dry_run:   # not even the HEAD a real run starts with: nothing is sent
        if args.source != "-" and not args.source.startswith("oss://"):
            open_source(args.source, args, get_client).close()   # a missing file is still a usage error
        return dry_run(printer, f"append {'stdin' if args.source == '-' else args.source} to "
                                f"oss://{bucket}/{key} at its current length (creating it if missing)")
    source = open_source(args.source, args, get_client)
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    appender: Optional[Appender] = None
    progress = None
    try:
        state = head_state(get_client(), bucket, key, args.request_payer)
        url = f"oss://{bucket}/{key}"
        if state is not None and not state.appendable:
            print_error(f"{url} is not an appendable object (object type {state.type})")
            return EXIT_SERVICE
        progress = Progress(sys.stderr.isatty() and not args.no_progress and not settings.quiet, source.total)
        appender = Appender(get_client(), bucket, key, state, create, settings.retry_times,
                            args.request_payer, progress)
        interrupted = False
        try:
            for part in source.parts():
                appender.append(part)
        except (KeyboardInterrupt, _Terminated):
            # Stop reading, but leave the object consistent with what was consumed: settle the part
            # in flight, and append what was already read from a pipe (it is gone from the pipe).
            interrupted = True
            appender.recover()
            rest = source.take_pending() if isinstance(source, StreamSource) else b""
            if rest:
                appender.append(rest)
        if not appender.exists:
            appender.append(b"")   # empty input, missing object: create it (with the creation flags)
        progress.done(appender.appended)
        printer.write_text(f"{'Interrupted' if interrupted else 'Success'}: appended {appender.appended} bytes "
                           f"to {url}, object size {appender.pos}")
        if interrupted:
            print_error("interrupted: stopped reading the input")
            return EXIT_INTERRUPTED
        printer.finish()
        return EXIT_OK
    except AppendConflict as exc:
        if progress is not None and progress.enabled:
            sys.stderr.write("\n")
        print_error(str(exc))
        return EXIT_SERVICE
    except BaseException:
        if progress is not None and progress.enabled:
            sys.stderr.write("\n")
        if appender is not None and (appender.appended or appender.inflight is not None):
            sys.stderr.write(f"note: {appender.appended} bytes of the input were appended before the failure; "
                             f"oss://{bucket}/{key} had size {appender.pos} after them\n")
            if appender.inflight is not None:
                sys.stderr.write(f"note: whether the next {len(appender.inflight)} bytes (at position "
                                 f"{appender.pos}) landed is unknown: check the object's size\n")
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
        source.close()


# -- tail ----------------------------------------------------------------------------------------
VERIFY_LIMIT = 8 * 1024 * 1024   # new data up to this size is CRC-checked before it is printed


class Tail:
    def __init__(self, client, bucket: str, key: str, out, request_payer=None):
        self.client, self.bucket, self.key = client, bucket, key
        self.url = f"oss://{bucket}/{key}"
        self.out = out
        self.request_payer = request_payer

    def notice(self, message: str) -> None:
        sys.stderr.write(f"ossbox tail: {self.url}: {message}\n")
        sys.stderr.flush()

    def write(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.out.flush()

    def _to_pipe(self) -> bool:
        try:
            return stat.S_ISFIFO(os.fstat(self.out.fileno()).st_mode)
        except (OSError, ValueError, AttributeError):
            return False

    def reader_gone(self) -> bool:
        """stdout is a pipe whose reading end was closed (`ossbox tail -f ... | head`): GNU tail
        stops then too, instead of waiting for the next append to hit EPIPE."""
        try:
            fd = self.out.fileno()
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                return False
            poller = select.poll()
            poller.register(fd, 0)   # POLLERR / POLLHUP are always reported
            return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
        except (OSError, ValueError, AttributeError):
            return False

    def chunks(self, start: int, end: int, if_match=None) -> Iterator[bytes]:
        """[start, end) as ranged GETs of at most 8 MiB each."""
        pos = start
        while pos < end:
            stop = min(end, pos + VERIFY_LIMIT)
            yield from get_range(self.client, self.bucket, self.key, pos, stop, if_match=if_match,
                                 request_payer=self.request_payer)
            pos = stop

    def line_start(self, size: int, lines: int) -> int:
        """Offset of the first of the last `lines` lines of the first `size` bytes."""
        if lines <= 0:
            return size
        need, end, block, first = lines, size, 8192, True
        while end > 0:
            start = max(0, end - block)
            data = b"".join(get_range(self.client, self.bucket, self.key, start, end,
                                      request_payer=self.request_payer))
            i = len(data)
            if first and data.endswith(b"\n"):
                i -= 1   # the final newline ends the last line, it does not start a new one
            first = False
            while True:
                j = data.rfind(b"\n", 0, i)
                if j < 0:
                    break
                need -= 1
                if need == 0:
                    return start + j + 1
                i = j
            end = start
            block = min(block * 4, 4 * 1024 * 1024)
        return 0

    def watched(self, st: ObjectState):
        """The object's state once it changed, waited for with a watch (an ossbox server): an
        ObjectState, None when it was deleted, TIMEOUT when the watch ended without news, POLL
        when HEAD polling must decide (the watch failed, or the object is sealed: it never grows
        again, and only a poll notices it being replaced)."""
        import alibabacloud_oss_v2 as oss
        try:
            event, new = watch_state(self.client, self.bucket, self.key, st.length, self.request_payer,
                                     PIPE_WATCH_TIMEOUT if self._to_pipe() else WATCH_TIMEOUT)
        except oss.exceptions.OperationError as exc:
            inner = exc.unwrap()
            if _terminated_in(exc):
                # SIGTERM came while the SDK waited for the answer (most of the time, with a
                # watch): the SDK wrapped the handler's exception as a failed request
                raise _Terminated() from exc
            if not isinstance(inner, oss.exceptions.ServiceError):
                self.notice(f"cannot reach the service ({inner}); still trying")
            elif inner.status_code == 404 and inner.code != "NoSuchBucket":
                return None
            elif inner.status_code in (401, 403):
                raise
            return POLL   # unreachable or throttled (503): poll HEAD after the interval
        if event == "timeout":
            return TIMEOUT
        if event == "sealed" and new.length == st.length and new.crc == st.crc:
            return POLL
        return new

    def follow(self, st: ObjectState, interval: float) -> None:
        import alibabacloud_oss_v2 as oss
        missing = False
        while True:
            new = self.watched(st) if st.watchable and not missing else POLL
            if new is POLL:
                time.sleep(interval)
            if self.reader_gone():
                raise BrokenPipeError("the reader of stdout went away")
            if new is TIMEOUT:
                continue
            while True:   # re-poll at once after a lost race (412)
                if new is POLL:
                    try:
                        new = head_state(self.client, self.bucket, self.key, self.request_payer)
                    except oss.exceptions.OperationError as exc:
                        if isinstance(exc.unwrap(), oss.exceptions.ServiceError):
                            raise
                        self.notice(f"cannot reach the service ({exc.unwrap()}); still trying")
                        break
                if new is None:
                    if not missing:
                        self.notice("the object was deleted; waiting for it to come back")
                    missing = True
                    break
                if missing:
                    missing = False
                    self.notice(f"the object appeared again (size {new.length}); following from its end")
                    st = new
                    break
                st, again = self._step(st, new)
                if not again:
                    break
                new = POLL

    def _step(self, st: ObjectState, new: ObjectState) -> tuple[ObjectState, bool]:
        """Handle one poll result: (the state now followed, whether to poll again at once)."""
        import alibabacloud_oss_v2 as oss
        if new.type != st.type:
            self.notice(f"the object was replaced ({st.type} -> {new.type}, size {new.length}); "
                        "following from its new end")
            return new, False
        if new.length < st.length:
            self.notice(f"the object was truncated ({st.length} -> {new.length} bytes); following from its new end")
            return new, False
        if new.length == st.length:
            if (new.crc is not None and st.crc is not None and new.crc != st.crc) or \
                    (not new.appendable and new.etag != st.etag):
                self.notice("the object was replaced (same size, other content); following from its end")
                return new, False
            return st, False
        if not new.appendable:
            self.notice(f"the object was replaced (size {st.length} -> {new.length}); following from its new end")
            return new, False
        grown = new.length - st.length
        check = new.crc is not None and st.crc is not None
        try:
            if grown <= VERIFY_LIMIT or not check:
                data = b"".join(self.chunks(st.length, new.length, if_match=new.etag))
                if check and _combine(st.crc, _crc(data), grown) != new.crc:
                    self.notice("the object was replaced (its start changed); following from its new end")
                    return new, False
                self.write(data)
            else:   # too big to hold: print as it comes, verify afterwards
                crc = st.crc
                for chunk in self.chunks(st.length, new.length, if_match=new.etag):
                    crc = _combine(crc, _crc(chunk), len(chunk))
                    self.write(chunk)
                if crc != new.crc:
                    self.notice("the object was replaced while being read (CRC-64 mismatch); "
                                "the output above may not match it; following from its new end")
        except oss.exceptions.OperationError as exc:
            inner = exc.unwrap()
            if isinstance(inner, oss.exceptions.ServiceError) and inner.status_code in (412, 404, 416):
                return st, inner.status_code == 412   # changed again meanwhile: look again
            raise
        return new, False


def run_tail(args: argparse.Namespace, settings: Settings) -> int:
    bucket, key = parse_oss_url(args.url, args.encoding_type)
    if settings.dry_run:
        what = f"{args.bytes} bytes" if args.bytes is not None else f"{10 if args.lines is None else args.lines} lines"
        return dry_run(Printer(settings), f"print the last {what} of oss://{bucket}/{key}"
                                          + (" and follow it" if args.follow else ""))
    client = make_client(settings)
    out = sys.stdout.buffer
    sys.stdout.flush()
    tail = Tail(client, bucket, key, out, args.request_payer)
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        st = head_state(client, bucket, key, args.request_payer)
        if st is None:
            print_error(f"oss://{bucket}/{key} does not exist (NoSuchKey)")
            return EXIT_SERVICE
        if args.bytes is not None:
            start = max(0, st.length - args.bytes)
        else:
            start = tail.line_start(st.length, 10 if args.lines is None else args.lines)
        for chunk in tail.chunks(start, st.length, if_match=None if st.appendable else st.etag):
            tail.write(chunk)
        if args.follow:
            tail.follow(st, args.interval)
        return EXIT_OK
    except (KeyboardInterrupt, _Terminated):
        if args.follow:
            return EXIT_OK
        print_error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`ossbox tail -f ... | head`): not an error
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, old_term)


__all__ = ["register", "run_append", "run_tail", "size_value", "parse_oss_url", "Appender", "AppendConflict"]
