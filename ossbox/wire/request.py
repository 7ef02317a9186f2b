"""The parsed request an operation works with, and the response it returns."""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional, Union
from urllib.parse import unquote_plus

from .. import errors, numeric

MAX_XML_BODY = 1024 * 1024
_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+: no task per wait, unlike wait_for
# scope key of a callable telling whether the ASGI receive() would return without waiting
BODY_READY = "ossbox.body_ready"
# scope key of `async (fd, offset, count) -> Optional[int]`: sends a file range as the response
# body straight from the page cache (os.sendfile); None when this connection cannot (TLS, a
# request body still arriving), and the body is then sent as usual (http/protocol.py)
SENDFILE = "ossbox.sendfile"
# scope key set by the connection when it answered a request itself while the application was
# still serving it (a malformed chunk in the body): (status, Code, EC, body bytes) of that answer,
# which is what the client got; the application's own response was dropped (http/protocol.py)
REFUSED = "ossbox.refused"
MAX_HEADER_BYTES = 64 * 1024   # names and values together; OSS's own limit on user metadata is 8 KB


def parse_query(raw: bytes) -> list[tuple[str, str]]:
    """Decode `a=1&append&b=%2B` into [(a, 1), (append, ""), (b, +)]; '+' is a space (as oss2 sends)."""
    if not raw:
        return []
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise errors.InvalidArgument("The query string is not valid.")
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        try:
            pairs.append((unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict")))
        except UnicodeDecodeError:
            raise errors.InvalidArgument("The query string is not valid UTF-8.")
    return pairs


class Request:
    __slots__ = ("server", "scope", "_receive", "request_id", "method", "bucket", "key", "query",
                 "query_list", "headers", "identity", "host", "body_consumed", "bucket_record", "bytes_in")

    def __init__(self, server: Any, scope: dict, receive, request_id: str):
        # The http.app.Server serving the request (config, engine, owner_id, sts): typed loosely,
        # since the wire types sit below http/ and know nothing above them.
        self.server = server
        self.scope = scope
        self._receive = receive
        self.request_id = request_id
        self.method: str = scope["method"]
        self.bucket: Optional[str] = None
        self.key: Optional[str] = None
        self.query_list = parse_query(scope.get("query_string", b""))
        self.query: dict[str, str] = {}
        for k, v in self.query_list:
            self.query.setdefault(k, v)
        headers: dict[str, str] = {}
        size = 0
        for k, v in scope["headers"]:
            size += len(k) + len(v)
            name = k.decode("latin-1").lower()
            value = v.decode("latin-1").strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        if size > MAX_HEADER_BYTES:
            raise errors.RequestHeaderTooLarge()
        self.headers = headers
        self.host = headers.get("host", "")
        self.identity = None  # the auth.Credential that signed the request (set by the app)
        self.body_consumed = False
        self.bucket_record = None
        self.bytes_in = 0  # body bytes received (metrics and access logs)

    # -- headers -----------------------------------------------------------------------------------
    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.headers.get(name, default)

    def utf8_header(self, name: str) -> Optional[str]:
        """A header value that may carry UTF-8 (user metadata, tagging)."""
        v = self.headers.get(name)
        if v is None:
            return None
        try:
            return v.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return v

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> Optional[int]:
        """The declared body length; None when there is none or the body is chunked (chunked wins
        over Content-Length, RFC 9112 §6.3: the connection framed the body that way)."""
        v = self.headers.get("content-length")
        if v is None or self.chunked:
            return None
        return numeric.decimal_argument(v, "Content-Length", 0, numeric.MAX_INT64)

    def require_length(self) -> Optional[int]:
        """Content-Length, or None for a chunked body; neither is 411 MissingContentLength."""
        n = self.content_length
        if n is None and not self.chunked:
            raise errors.MissingContentLength()
        return n

    def content_md5(self) -> Optional[bytes]:
        v = self.headers.get("content-md5")
        if v is None:
            return None
        try:
            digest = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidDigest()
        if len(digest) != 16:
            raise errors.InvalidDigest()
        return digest

    # -- body --------------------------------------------------------------------------------------
    async def body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; a client that goes away mid-body is IncompleteBody, one
        that sends nothing for the body timeout is RequestTimeout (its connection is then closed:
        the response goes out before the body has arrived, see ossbox/http/protocol.py)."""
        self.body_consumed = True
        timeout = self.server.config.body_timeout
        # BODY_READY (set by the connection, http/protocol.py): true when receive() has a message
        # at hand and so cannot wait; a small body has usually arrived with the head, and then
        # arming and cancelling a timer (~4 µs) buys nothing
        ready = self.scope.get(BODY_READY)
        while True:
            try:
                # Only the wait for the client is timed, not the consumer's work between chunks.
                if ready is not None and ready():
                    msg = await self._receive()
                elif _timeout is not None:
                    async with _timeout(timeout):
                        msg = await self._receive()
                else:  # Python 3.10
                    msg = await asyncio.wait_for(self._receive(), timeout)
            except (TimeoutError, asyncio.TimeoutError):
                raise errors.RequestTimeout() from None
            if msg["type"] == "http.disconnect":
                raise errors.IncompleteBody()
            data = msg.get("body", b"")
            if data:
                self.bytes_in += len(data)
                yield data
            if not msg.get("more_body", False):
                return

    async def disconnected(self) -> None:
        """Return once the client has gone away (for a request without a body, e.g. a watch that
        waits long: what it waits for is then dropped). The server's ASGI receive() answers
        http.disconnect when the connection is lost or the response is complete."""
        if not self.body_consumed:
            async for _ in self.body():
                pass
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def read_body(self, limit: int = MAX_XML_BODY) -> bytes:
        n = self.content_length
        if n is not None and n > limit:
            raise errors.EntityTooLarge("The request body is too large for this operation.")
        out = bytearray()
        async for chunk in self.body():
            out += chunk
            if len(out) > limit:
                raise errors.EntityTooLarge("The request body is too large for this operation.")
        return bytes(out)

    async def read_xml_body(self, limit: int = MAX_XML_BODY, verify_md5: bool = True) -> bytes:
        md5 = self.content_md5() if verify_md5 else None
        data = await self.read_body(limit)
        if md5 is not None:
            if hashlib.md5(data).digest() != md5:
                raise errors.BadDigest()
        return data


Body = Union[bytes, AsyncIterator[bytes]]


@dataclass
class FileSpan:
    """Bytes [offset, offset + count) of an open file, exactly as a response sends them."""
    fd: int
    offset: int
    count: int
    close: Any                       # closes fd (idempotent); the response calls it when sent


@dataclass
class Response:
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: Body = b""
    length: Optional[int] = None     # needed when body is an iterator
    # the body's bytes exactly as they lie in a file (no decryption, compression or throttling):
    # the connection may send them with os.sendfile instead of iterating `body`
    file: Optional[FileSpan] = None

    @classmethod
    def xml(cls, payload: bytes, status: int = 200, headers: Optional[dict] = None) -> "Response":
        h = {"content-type": "application/xml"}
        if headers:
            h.update(headers)
        return cls(status, h, payload)
