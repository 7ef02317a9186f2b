"""The ASGI application: addressing, authentication, routing, and rendering of responses/errors.

Plain ASGI with no framework on purpose: small appends are dominated by per-request overhead, and
a framework on the data path costs about 2x the CPU per request (docs/architecture.md).
"""
from __future__ import annotations

import base64
import dataclasses
import itertools
import logging
import os
import re
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
from ..wire.request import Request, Response
from . import router
from .error_map import to_oss_error

log = logging.getLogger("ossbox.http")

# OSS's own endpoints: oss-<region>.aliyuncs.com, oss-<region>-internal..., oss-accelerate..., and
# ali-oss's VPC form vpc100-oss-<region>...; a bucket label in front makes a Host virtual-hosted.
_OSS_ENDPOINT = re.compile(r"(?:vpc100-)?oss-[a-z0-9]+(?:-[a-z0-9]+)*\.aliyuncs\.com")
_ALIYUN = ".aliyuncs.com"


_ID_PREFIX = os.urandom(4).hex().upper()  # per process, so ids from several processes differ
_id_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


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

    @property
    def owner_id(self) -> str:
        return self.root.principal

    async def startup(self) -> None:
        await self.engine.start()
        root = self.config.root_credential()
        # one account across nodes: the owner id lives in the shared metadata, not on a node
        self.root = dataclasses.replace(root, principal=await self.engine.account_id(root.principal))
        self.sts = StsService(await self.engine.server_secret(STS_KEY_SETTING))
        self.access_logs.start()
        self.inventory.start()

    async def shutdown(self) -> None:
        await self.inventory.stop()
        await self.access_logs.stop()
        await self.engine.stop()

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
        request_id = new_request_id()
        started = time.time()
        req: Optional[Request] = None
        found: Optional[router.Route] = None
        error_code = ""
        try:
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
            error_code = exc.code
            resp = self.error_response(exc, req, scope, request_id)
        except StorageError as exc:  # storage speaks its own terms: the one mapping decides the answer
            mapped = to_oss_error(exc)
            error_code = mapped.code
            resp = self.error_response(mapped, req, scope, request_id)
        except Exception as exc:
            if is_disk_full(exc):  # a path the storage layer did not map: still the OSS error, not a 500
                log.warning("disk full on %s %s: %s", scope.get("method"), scope.get("path"), exc)
                resp = self.error_response(errors.StorageFull(), req, scope, request_id)
            else:
                log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
                resp = self.error_response(errors.InternalError(), req, scope, request_id)
        if req is not None and req.bucket is not None and req.method != "OPTIONS":
            resp = await self._with_cors(req, resp)
        await self._send(send, resp, request_id, scope["method"] == "HEAD")
        if req is not None and req.bucket_record is not None and req.bucket_record.config.get("logging"):
            self._log_access(req, scope, found, resp, error_code, started)

    def _log_access(self, req: Request, scope, found, resp: Response, error_code: str, started: float) -> None:
        """One access-log line for a bucket with logging on (storage/access_log.py writes them)."""
        target = req.bucket_record.config["logging"]
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        uri = raw.decode("latin-1") + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        body = resp.body
        sent = len(body) if isinstance(body, (bytes, bytearray)) else (resp.length or 0)
        action = found.action if found is not None and found.action else ""
        ident = req.identity
        client = scope.get("client") or ("-", 0)
        line = format_line(
            remote_ip=client[0], when=started, method=req.method, uri=uri, status=resp.status, sent=sent,
            elapsed_ms=int((time.time() - started) * 1000), referer=req.headers.get("referer", ""),
            user_agent=req.headers.get("user-agent", ""), host=req.host, request_id=req.request_id,
            requester=ident.principal if ident is not None else None, operation=action.replace("oss:", ""),
            bucket=req.bucket, key=req.key, object_size=None, error_code=error_code,
            request_length=int(req.headers.get("content-length") or 0), owner=req.bucket_record.owner,
            storage_class=req.bucket_record.storage_class,
            access_key_id=ident.access_key_id if ident is not None else None)
        self.access_logs.record(req.bucket, target["bucket"], target["prefix"], line)

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

    async def _send(self, send, resp: Response, request_id: str, head: bool) -> None:
        body = resp.body
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": response_headers(resp, request_id)})
        if head or isinstance(body, (bytes, bytearray)):
            if not isinstance(body, (bytes, bytearray)):
                await body.aclose()
            await send({"type": "http.response.body", "body": b"" if head else bytes(body)})
            return
        try:
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await body.aclose()
        await send({"type": "http.response.body", "body": b""})


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
