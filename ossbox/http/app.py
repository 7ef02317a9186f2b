"""The ASGI application: addressing, authentication, routing, and rendering of responses/errors.

Plain ASGI with no framework on purpose: small appends are dominated by per-request overhead, and
a framework on the data path costs about 2x the CPU per request (docs/architecture.md).
"""
from __future__ import annotations

import asyncio
import base64
import gc
import dataclasses
import itertools
import logging
import os
import re
import signal
import time
from email.utils import formatdate
from typing import Optional
from urllib.parse import unquote

from .. import errors
from ..auth import Credential, SignedRequest, authenticate
from ..auth.authorize import Authorizer
from ..auth.identity import claimed_access_key
from ..auth.sts import STS_KEY_SETTING, StsService
from ..config import ServerConfig
from ..errors import OssError
from ..ops import cors, referer, website
from ..storage.access_log import AccessLogWriter, format_line
from ..storage.drivers import open_storage
from ..storage.inventory import InventoryRunner
from ..storage.engine import Engine
from ..storage.errors import StorageError
from ..storage.reserve import is_disk_full
from ..wire import xml
from ..wire.names import valid_bucket_name, validate_key
from ..wire.request import REFUSED, SENDFILE, Request, Response
from . import console, observe, router
from .error_map import to_oss_error
from .observe import AccessLog, Metrics, RequestRecord, operation_name

log = logging.getLogger("ossbox.http")

READY_PROBE_WAIT = 2.0  # seconds /-/health/ready waits for the metadata store to answer
GC_THRESHOLD = 20_000    # young-generation allocations between cyclic-GC passes (tune_gc)

# OSS's own endpoints: oss-<region>.aliyuncs.com, oss-<region>-internal..., oss-accelerate..., and
# ali-oss's VPC form vpc100-oss-<region>...; a bucket label in front makes a Host virtual-hosted.
_OSS_ENDPOINT = re.compile(r"(?:vpc100-)?oss-[a-z0-9]+(?:-[a-z0-9]+)*\.aliyuncs\.com")
_ALIYUN = ".aliyuncs.com"


def _new_id_source() -> None:
    global _ID_PREFIX, _id_counter
    _ID_PREFIX = os.urandom(4).hex().upper()  # per process, so ids from several processes differ
    _id_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


_new_id_source()
# the workers of `--workers N` are forked after this module is imported (cli/supervisor.py)
os.register_at_fork(after_in_child=_new_id_source)


def new_request_id() -> str:
    """24 upper-case hex digits; the first 8 are the Unix time, as OSS's are."""
    return f"{int(time.time()) & 0xFFFFFFFF:08X}{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFF:08X}"


class Server:
    """One ossbox server: configuration, the storage engine and the root credential."""

    def __init__(self, config: ServerConfig, engine: Optional[Engine] = None):
        self.config = config
        self.engine = engine or open_storage(config)
        self.root: Optional[Credential] = None
        self.sts = None
        self.authorizer = Authorizer(self)
        self.domains = tuple("." + d.lower().strip(".") for d in config.domains)
        self.access_logs = AccessLogWriter(self.engine, config.logging_interval)
        self.inventory = InventoryRunner(self.engine, config.inventory_interval)
        self.metrics = Metrics(self.engine)
        self.access_log = AccessLog(config.access_log, config.log_format) if config.access_log else None
        self.console = console.Console(
            config.region, observe.METRICS_PATH if config.metrics_port is None else None,
            console.version()) if config.console else None
        # Set once the journal is replayed (see startup); until then requests wait and
        # /-/health/ready answers 503.
        self.recovered = False
        self.start_error: Optional[BaseException] = None
        self._recovered_event: Optional[asyncio.Event] = None
        self._recovery: Optional[asyncio.Task] = None
        self._ready_probe: Optional[asyncio.Task] = None

    @property
    def owner_id(self) -> str:
        return self.root.principal

    async def startup(self) -> None:
        """Open the storage and start serving; the journal replay (which may take a while after a
        crash) then runs in the background. Meanwhile the server answers /-/health (ready: 503)
        and every other request waits for the replay, as it used to wait in the listen backlog."""
        await self.engine.open()
        root = self.config.root_credential()
        # one account across nodes: the owner id lives in the shared metadata, not on a node
        self.root = dataclasses.replace(root, principal=await self.engine.account_id(root.principal))
        self.sts = StsService(await self.engine.server_secret(STS_KEY_SETTING))
        if self.access_log is not None:
            self.access_log.start()
        if self.config.metrics_port is not None:
            observe.serve_metrics(self.metrics, self.config.host, self.config.metrics_port,
                                  self.config.metrics_socket)
        tune_gc()
        self._recovered_event = asyncio.Event()
        self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def recovered_event(self) -> None:
        """Wait until the journal replay has ended (start_error tells how)."""
        await self._recovered_event.wait()

    async def _recover(self) -> None:
        try:
            await self.engine.recover_and_run()
            self.access_logs.start()
            self.inventory.start()
            self.recovered = True
        except Exception as exc:
            # A start that fails here fails as one in startup() would: the process stops (with
            # status 1, see cli/server_cmd.py); requests that waited are answered 503.
            log.critical("start-up failed while replaying the journal", exc_info=True)
            self.start_error = exc
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            self._recovered_event.set()

    def stopping(self) -> None:
        """A graceful stop has begun (http/protocol.py): pending watches are answered at once."""
        self.engine.stop_watches()

    async def shutdown(self) -> None:
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self.inventory.stop()
        await self.access_logs.stop()
        await self.engine.stop()
        if self.access_log is not None:
            self.access_log.stop()

    async def credential(self, access_key_id: str, req: Request,
                         token: Optional[str] = None) -> Optional[Credential]:
        """The credential behind an AccessKeyId: root, an active RAM user key, or an STS key
        (whose token must verify: `token`, else the request's). Looked up per request, so key
        changes apply at once."""
        if self.root is not None and access_key_id == self.root.access_key_id:
            return self.root
        if access_key_id.startswith("STS."):
            token = token or (req.headers.get("x-oss-security-token") or req.headers.get("security-token")
                              or req.query.get("security-token") or req.query.get("x-oss-security-token"))
            cred = self.sts.credential(access_key_id, token)
            if await self.engine.iam.get_user(user_id=cred.principal) is None:
                return None  # the user was deleted: its temporary credentials die with it
            return cred
        rec = await self.engine.iam.get_access_key(access_key_id)
        if rec is None or rec.status != "Active":
            return None
        return Credential(rec.access_key_id, rec.secret, rec.user_id)

    # -- ASGI --------------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send):
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send):
        if scope["path"].startswith(observe.PREFIX) and self._service_request(scope):
            await self._serve_service(scope, send)
            return
        in_flight = self.metrics.in_flight
        in_flight.inc()
        try:  # also when the request is cancelled (a shutdown that times out)
            await self._answer(scope, receive, send)
        finally:
            in_flight.dec()

    async def _answer(self, scope, receive, send):
        request_id = new_request_id()
        started = time.time()
        clock = time.perf_counter()
        req: Optional[Request] = None
        found: Optional[router.Route] = None
        error_code = error_ec = ""
        claimed = None
        try:
            if not self.recovered:
                await self._recovered_event.wait()
                if self.start_error is not None:
                    raise errors.ServiceUnavailable("The server failed to start; see its log.")
            req = Request(self, scope, receive, request_id)
            self._address(req, scope)
            # A CORS preflight is answered from the bucket's rules alone: OSS ignores any signature
            # on it (alibabacloud-oss-v2's tests: OPTIONS with an unknown key gets AccessForbidden).
            preflight = req.method == "OPTIONS"
            try:
                found, refused = router.route(req), None
            except OssError as exc:  # answered after authentication, as before
                found, refused = None, exc
            if req.bucket is not None and not router.creates_bucket(found):
                await self._require_bucket_before_auth(req)
            claimed = None if preflight else claimed_access_key(req.headers, req.query)
            cred = await self.credential(claimed, req) if claimed else None
            req.identity = None if preflight else authenticate(
                SignedRequest(req.method, req.bucket, req.key, req.query_list, req.headers),
                lambda ak: cred if ak == claimed else None, region=self.config.region)
            if refused is not None:
                raise refused
            await self.authorizer.check(req, found.action)
            if not preflight:
                await referer.check(req)  # hotlink protection (anonymous and presigned requests)
            site = router.website_handler(req, found)
            resp = await (website.serve(req, site) if site is not None else found.handler(req))
        except OssError as exc:
            error_code, error_ec = exc.code, exc.ec
            resp = self.error_response(exc, req, scope, request_id)
        except StorageError as exc:  # storage speaks its own terms: the one mapping decides the answer
            mapped = to_oss_error(exc)
            error_code, error_ec = mapped.code, mapped.ec
            resp = self.error_response(mapped, req, scope, request_id)
        except Exception as exc:
            if is_disk_full(exc):  # a path the storage layer did not map: still the OSS error, not a 500
                log.warning("disk full on %s %s: %s", scope.get("method"), scope.get("path"), exc)
                mapped = errors.StorageFull()
            else:
                log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
                mapped = errors.InternalError()
            error_code, error_ec = mapped.code, mapped.ec
            resp = self.error_response(mapped, req, scope, request_id)
        if req is not None and req.bucket is not None and req.method != "OPTIONS":
            resp = await self._with_cors(req, resp)
        sent = await self._send(send, resp, request_id, scope["method"] == "HEAD", scope)
        # One record of the request, for the metrics, --access-log and bucket logging alike.
        ident = req.identity if req is not None else None
        rec = RequestRecord(
            started=started, latency=time.perf_counter() - clock, request_id=request_id,
            remote=(scope.get("client") or ("-", 0))[0],
            access_key_id=ident.access_key_id if ident is not None else claimed,
            requester=ident.principal if ident is not None else None,
            operation=operation_name(found.handler) if found is not None else "Unknown",
            action=found.action if found is not None else None, method=scope["method"],
            bucket=req.bucket if req is not None else None, key=req.key if req is not None else None,
            status=resp.status, code=error_code, ec=error_ec,
            bytes_in=req.bytes_in if req is not None else 0, bytes_out=sent)
        refused = scope.get(REFUSED)
        if refused is not None:  # the connection answered instead (a malformed body): that is what went out
            rec.status, rec.code, rec.ec, rec.bytes_out = refused
        self.account(rec)
        if req is not None and req.bucket_record is not None and req.bucket_record.config.get("logging"):
            self._log_access(req, scope, rec)

    def account(self, rec: RequestRecord) -> None:
        """Count a request in the metrics and write its --access-log line: every request the
        server answered, also those the connection layer refused before routing (http/protocol.py)."""
        self.metrics.observe(rec)
        if self.access_log is not None:
            self.access_log.record(rec)

    def _log_access(self, req: Request, scope, rec: RequestRecord) -> None:
        """One line of bucket access logging (PutBucketLogging; storage/access_log.py writes them)."""
        target = req.bucket_record.config["logging"]
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        uri = raw.decode("latin-1") + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        line = format_line(
            remote_ip=rec.remote, when=rec.started, method=rec.method, uri=uri, status=rec.status,
            sent=rec.bytes_out, elapsed_ms=int(rec.latency * 1000), referer=req.headers.get("referer", ""),
            user_agent=req.headers.get("user-agent", ""), host=req.host, request_id=rec.request_id,
            requester=rec.requester, operation=(rec.action or "").replace("oss:", ""),
            bucket=rec.bucket, key=rec.key, object_size=None, error_code=rec.code,
            request_length=int(req.headers.get("content-length") or 0), owner=req.bucket_record.owner,
            storage_class=req.bucket_record.storage_class,
            access_key_id=rec.access_key_id if rec.requester is not None else None)
        self.access_logs.record(req.bucket, target["bucket"], target["prefix"], line)

    # -- /-/: metrics and health, outside OSS's namespace --------------------------------------------
    def _service_request(self, scope) -> bool:
        """Whether a /-/ path is ours: only path-style. Virtual-hosted, /-/x is the key -/x of
        the Host's bucket (keys may start with "-"; bucket names may not)."""
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
                break
        try:
            return self.host_bucket(host) is None
        except OssError:
            return False  # the normal path answers the bad Host

    async def _serve_service(self, scope, send) -> None:
        """GET /-/metrics, /-/health/{live,ready} (see docs/operations.md) and the web console's
        files under /-/console/ (docs/console.md): no credentials."""
        path = scope["path"]
        if self.console is not None and (path == console.PATH or path.startswith(console.PATH + "/")):
            if not self.console.loaded:  # read and compressed once, off the event loop
                await asyncio.to_thread(self.console.files)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            resp = self.console.answer(path, scope["method"], headers)
            await self._send(send, resp, new_request_id(), scope["method"] == "HEAD")
            return
        status, ctype = 200, "application/json"
        if scope["method"] not in ("GET", "HEAD"):
            status, body = 405, observe.health_body("method not allowed")
        elif path == observe.METRICS_PATH and self.config.metrics_port is None:
            body, ctype = await asyncio.to_thread(self.metrics.exposition)
        elif path == observe.LIVE_PATH:
            body = observe.health_body("live")
        elif path == observe.READY_PATH:
            status, body = await self._readiness()
        else:
            status, body = 404, observe.health_body("not found")
        resp = Response(status, {"content-type": ctype, "cache-control": "no-store"}, body)
        await self._send(send, resp, new_request_id(), scope["method"] == "HEAD")

    async def _readiness(self) -> tuple[int, bytes]:
        """200 when the server can serve; 503 with the reason while the journal is replayed, when
        the metadata store cannot be reached, or when the disk is full (writes refused)."""
        if self.start_error is not None:
            return 503, observe.health_body("failed", reason="start-up failed")
        if not self.recovered:
            return 503, observe.health_body("recovering", reason="replaying the journal")
        if self.engine.disk_full():
            return 503, observe.health_body("disk full", reason="writes are refused until space is freed")
        if self.engine.writes_refused():
            return 503, observe.health_body("writes refused", reason="a sync failed; restart the server")
        # One probe at a time (a database that is away makes it wait out the store's retry
        # window); a check that comes while it runs waits for it at most READY_PROBE_WAIT.
        if self._ready_probe is None or self._ready_probe.done():
            self._ready_probe = asyncio.get_running_loop().create_task(self.engine.metadata_reachable())
        done, _ = await asyncio.wait({self._ready_probe}, timeout=READY_PROBE_WAIT)
        if not done or not self._ready_probe.result():
            return 503, observe.health_body("metadata unavailable", reason="the metadata store does not answer")
        return 200, observe.health_body("ready")

    async def _require_bucket_before_auth(self, req: Request) -> None:
        """OSS answers 404 NoSuchBucket for a bucket that does not exist before it looks at who is
        asking: an unknown AccessKeyId, a bad signature or a caller without rights all get it (the
        SDKs' is_bucket_exist()/IsBucketExist tests rely on it; docs/architecture.md, "Order of
        checks"). Bucket names are global in OSS, so this tells nobody more than PutBucket would.
        Whether an *object* exists is still decided only after authorization."""
        rec = await self.engine.get_bucket(req.bucket)
        if rec is None:
            raise errors.NoSuchBucket(BucketName=req.bucket)
        req.bucket_record = rec  # the authorizer and the operation read the same record

    @staticmethod
    async def _with_cors(req: Request, resp: Response) -> Response:
        """The response with the CORS headers of the bucket's matching rule (OSS adds them to
        errors too, so a browser can read why a cross-origin request failed)."""
        try:
            extra = await cors.response_headers(req)
        except Exception:  # the answer itself is decided; failing to decorate it must not change it
            log.exception("CORS headers for %s %s", req.method, req.scope.get("path"))
            return resp
        if not extra:
            return resp
        if "vary" in extra and "vary" in resp.headers:  # e.g. a gzip answer's Accept-Encoding
            extra = dict(extra, vary=f"{resp.headers['vary']}, {extra['vary']}")
        return dataclasses.replace(resp, headers={**resp.headers, **extra})

    def _address(self, req: Request, scope) -> None:
        """Bucket and key from virtual-hosted (<bucket>.<domain>) or path-style addressing."""
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            path = unquote(raw.decode("ascii"), errors="strict")
        except UnicodeDecodeError:
            raise errors.InvalidObjectName()
        bucket = self.host_bucket(req.host)
        rest = path[1:] if path.startswith("/") else path
        if bucket is not None:
            key = rest
        elif rest:
            bucket, _, key = rest.partition("/")
        else:
            key = ""
        if bucket is not None:
            if not valid_bucket_name(bucket):
                raise errors.InvalidBucketName(BucketName=bucket)
            req.bucket = bucket
            if key:
                validate_key(key)
                req.key = key

    def host_bucket(self, host: str) -> Optional[str]:
        """The bucket a virtual-hosted Host names, or None when the request is path-style.

        Without flags: `<bucket>.oss-<region>[-internal].aliyuncs.com` (what ali-oss sends to an IP
        endpoint, and what SDKs send when DNS points OSS names at this server) and
        `<bucket>.localhost` (RFC 6761: every *.localhost name is the loopback host); with
        `--domain D`: `<bucket>.D`. Any other Host (an IP, `localhost`, `myhost:9000`, an OSS
        endpoint without a bucket) is path-style. A Host under aliyuncs.com or localhost that
        fits none of these is refused with a 400 naming it: guessing would surface later as a
        SignatureDoesNotMatch, which says nothing about the real problem.
        """
        if host.startswith("["):
            return None  # an IPv6 literal
        # strip("."): ali-oss sends Host ".oss-<region>.aliyuncs.com" (an empty bucket label) for
        # service-level calls such as ListBuckets; that is the endpoint itself
        name = host.rsplit(":", 1)[0].lower().strip(".")
        for domain in self.domains:
            if name.endswith(domain) and len(name) > len(domain):
                return name[: -len(domain)]
        if not (name.endswith(_ALIYUN) or name.endswith(".localhost")) or _OSS_ENDPOINT.fullmatch(name):
            return None
        label, _, endpoint = name.partition(".")
        if endpoint == "localhost" or _OSS_ENDPOINT.fullmatch(endpoint):
            return label
        raise errors.UnknownHost(
            f"The Host header {host!r} looks virtual-hosted but names no OSS endpoint ossbox knows. "
            "Address this server path-style (Host: <ip or name>[:port], path /<bucket>/<key>), "
            "virtual-hosted as <bucket>.oss-<region>[-internal].aliyuncs.com or <bucket>.localhost, "
            "or start it with --domain <your domain> for <bucket>.<your domain>. "
            "(ali-oss: give the region as 'oss-<region>', e.g. 'oss-cn-hangzhou'.)",
            ArgumentName="Host", ArgumentValue=host[:256])

    # -- rendering ---------------------------------------------------------------------------------
    def error_response(self, exc: OssError, req: Optional[Request], scope,
                       request_id: Optional[str] = None) -> Response:
        host = (req.host if req else "") or f"{self.config.host}"
        rid = req.request_id if req else request_id or new_request_id()
        fields = [("Code", exc.code), ("Message", exc.message), ("RequestId", rid), ("HostId", host)]
        fields += [(k, str(v)) for k, v in exc.details.items()]
        if exc.ec:
            fields += [("EC", exc.ec),
                       ("RecommendDoc", f"https://api.aliyun.com/troubleshoot?q={exc.ec}")]
        body = xml.document("Error", fields)
        headers = {"content-type": "application/xml"}
        if exc.ec:
            headers["x-oss-ec"] = exc.ec
        headers.update(exc.headers)
        if scope["method"] == "HEAD":
            headers["x-oss-err"] = base64.b64encode(body).decode()
            return Response(exc.status, headers, b"")
        if exc.status == 304:
            return Response(304, {k: v for k, v in headers.items() if k != "content-type"}, b"")
        return Response(exc.status, headers, body)

    async def _send(self, send, resp: Response, request_id: str, head: bool, scope=None) -> int:
        """Send the response; returns the body bytes sent."""
        body = resp.body
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": response_headers(resp, request_id)})
        if head or isinstance(body, (bytes, bytearray)):
            if not isinstance(body, (bytes, bytearray)):
                await body.aclose()
                if resp.file is not None:
                    resp.file.close()
            await send({"type": "http.response.body", "body": b"" if head else bytes(body)})
            return 0 if head else len(body)
        sent = 0
        try:
            span, sendfile = resp.file, scope.get(SENDFILE) if scope is not None else None
            done = None
            if span is not None and sendfile is not None:
                done = await sendfile(span.fd, span.offset, span.count)
            if done is not None:
                sent = done
                if done < span.count:  # the connection went away: it is closed already
                    return sent
            else:
                async for chunk in body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
        finally:
            await body.aclose()
            if resp.file is not None:
                resp.file.close()
        await send({"type": "http.response.body", "body": b""})
        return sent


def tune_gc() -> None:
    """Fewer cyclic-GC passes on the request path. A request allocates a few hundred container
    objects (dicts, tuples, coroutines, futures) that nearly all die by reference counting; with
    CPython's default threshold (700) a young-generation pass ran every few requests and walked
    the objects of every request in flight. The objects made at start-up (modules, config,
    the engine) are moved out of the collector's sight for good (gc.freeze)."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def response_headers(resp: Response, request_id: str) -> list[tuple[bytes, bytes]]:
    """The header lines of `resp` (also used for errors the connection answers by itself)."""
    headers = [(b"server", b"AliyunOSS"), (b"date", _http_date_now()),
               (b"x-oss-request-id", request_id.encode())]
    body = resp.body
    if isinstance(body, (bytes, bytearray)):
        length = len(body) if resp.length is None else resp.length
    else:
        length = resp.length
    for name, value in resp.headers.items():
        headers.append((name.encode("latin-1"), _latin1(value)))
    if length is not None and "content-length" not in resp.headers:
        headers.append((b"content-length", str(length).encode()))
    return headers


_date_cache: tuple[int, bytes] = (0, b"")


def _http_date_now() -> bytes:
    """`Date` taken when the response is sent. uvicorn's own is refreshed once a second, so it
    could name the second before an object's Last-Modified, and `If-Modified-Since: <Date of the
    PUT>` would then not give 304. Formatted once per second (the value only changes then)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]


def _latin1(value) -> bytes:
    """Stored header values hold the request's raw bytes as latin-1 text, so this returns exactly
    the bytes the client sent; text from elsewhere (e.g. response-* overrides) goes out as UTF-8."""
    text = str(value)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
