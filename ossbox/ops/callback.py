"""Upload callbacks (`x-oss-callback` / `?callback=` on PutObject and CompleteMultipartUpload).

As OSS documents it (help.aliyun.com "Callback" and "Troubleshoot upload callback errors"): the
parameter is Base64 of a JSON object with callbackUrl (required; several separated by ';' are tried
in order), callbackBody (required, with ${...} variables), callbackHost and callbackBodyType
(application/x-www-form-urlencoded, the default, or application/json); `x-oss-callback-var` /
`?callback-var=` is Base64 of JSON custom variables named `x:...`. A bad parameter is refused
before anything is stored. After the object is stored the server POSTs the body to the URL with a
5-second timeout (fixed in OSS too); a 200 whose body is JSON makes the upload answer 200 with that
body, anything else answers 203 CallbackFailed -- the object stays stored.

Not done as OSS does: the callback request is not RSA-signed (no Authorization or
x-oss-pub-key-url header): OSS signs with its own private key, which no other server has; a
callback server that verifies OSS's signature refuses ossbox's callbacks (docs/architecture.md).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import ssl
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote, urlsplit

from .. import errors
from ..storage.records import ObjectRecord
from ..wire.request import Request, Response
from . import common

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TIMEOUT_SECONDS = 5.0            # OSS: "the callback timeout is 5 seconds; it cannot be configured"
MAX_URLS = 5                     # OSS tries at most five callbackUrl entries
MAX_RESPONSE = 1024 * 1024       # a callback answer is a small JSON document; more is refused
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Callback:
    urls: tuple[str, ...]
    host: Optional[str]
    body: str
    body_type: str
    variables: dict          # the custom x:... variables


def _decode_json(text: str, what: str):
    try:
        return json.loads(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.InvalidCallback(f"The {what} is not base64 encoded json format.", ArgumentName=what)


def parse_callback(req: Request) -> Optional[Callback]:
    """The request's callback, or None; a malformed one is 400 InvalidArgument."""
    raw = common.header_or_query(req, "x-oss-callback", "callback")
    if raw is None:
        return None
    doc = _decode_json(raw, "callback")
    if not isinstance(doc, dict):
        raise errors.InvalidCallback("The callback configuration is not json format.")
    url, body = doc.get("callbackUrl"), doc.get("callbackBody")
    if not isinstance(url, str) or not url.strip():
        raise errors.InvalidCallback("The callbackUrl of the callback configuration is missing or invalid.")
    if not isinstance(body, str) or not body:
        raise errors.InvalidCallback("The callbackBody of the callback configuration is missing or empty.")
    body_type = doc.get("callbackBodyType", FORM)
    if not isinstance(body_type, str) or body_type.strip().lower() not in (FORM, JSON):
        raise errors.InvalidCallback("The callbackBodyType must be application/x-www-form-urlencoded or "
                                     "application/json.")
    host = doc.get("callbackHost")
    if host is not None and not isinstance(host, str):
        raise errors.InvalidCallback("The callbackHost of the callback configuration must be a string.")
    urls = tuple(u.strip() for u in url.split(";") if u.strip())[:MAX_URLS]
    for u in urls:
        _split_url(u)  # refused now, before anything is stored
    raw_vars = common.header_or_query(req, "x-oss-callback-var", "callback-var")
    variables = {}
    if raw_vars is not None:
        decoded = _decode_json(raw_vars, "callback-var")
        if not isinstance(decoded, dict) or not all(isinstance(k, str) and k.startswith("x:") for k in decoded):
            raise errors.InvalidCallback("The callback-var must be a json object whose keys start with x:.",
                                         ArgumentName="callback-var")
        variables = {k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}
    return Callback(urls, host or None, body, body_type.strip().lower(), variables)


def _split_url(url: str):
    parts = urlsplit(url if "://" in url else "http://" + url)  # OSS's samples omit the scheme
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise errors.InvalidCallback(f"The callbackUrl {url[:256]!r} is not a valid http(s) URL.")
    return parts


def _render(cb: Callback, values: dict) -> bytes:
    """callbackBody with its ${...} variables replaced: URL-encoded for a form body, as JSON values
    for a JSON body ({"bucket":${bucket}} -> {"bucket":"b"}). Unknown variables become empty."""
    def one(m: "re.Match") -> str:
        name = m.group(1)
        value = cb.variables.get(name, "") if name.startswith("x:") else values.get(name, "")
        if cb.body_type == JSON:
            return str(value) if isinstance(value, int) else json.dumps(str(value), ensure_ascii=False)
        return quote(str(value), safe="")
    return _VARIABLE.sub(one, cb.body).encode("utf-8")


async def _post(url: str, host: Optional[str], content_type: str, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 POST; (status, body). Raises OSError/ValueError/asyncio.TimeoutError."""
    parts = _split_url(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=ssl.create_default_context() if https else None)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = (f"POST {target} HTTP/1.1\r\nHost: {host or parts.netloc}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "User-Agent: aliyun-oss-callback\r\nConnection: close\r\n\r\n")
        writer.write(head.encode("latin-1", "replace") + body)
        await writer.drain()
        raw = await reader.read(MAX_RESPONSE + 65536)
        while True:
            more = await reader.read(65536)
            if not more:
                break
            raw += more
            if len(raw) > MAX_RESPONSE + 65536:
                raise ValueError("callback response too large")
    finally:
        writer.close()
    head_bytes, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("malformed callback response")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        rest = _unchunk(rest)
    elif "content-length" in fields:
        rest = rest[: int(fields["content-length"])]
    return status, rest


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)


async def answer(req: Request, cb: Callback, rec: ObjectRecord, operation: str,
                 headers: dict) -> Response:
    """Deliver the callback for the stored object `rec`; the upload's answer (200 with the callback
    server's JSON, or 203 CallbackFailed with the upload's own headers)."""
    client = req.scope.get("client") or ("", 0)
    values = {"bucket": rec.bucket, "object": rec.key, "etag": rec.etag, "size": rec.size,
              "mimeType": rec.headers.get("content-type", ""), "crc64": str(rec.crc64),
              "contentMd5": rec.content_md5 or "", "clientIp": client[0] if client else "",
              "reqId": req.request_id, "operation": operation, "vpcId": "",
              "imageInfo.height": "", "imageInfo.width": "", "imageInfo.format": ""}
    payload = _render(cb, values)
    failure = "The callback could not be delivered."
    for url in cb.urls:
        try:
            status, body = await asyncio.wait_for(_post(url, cb.host, cb.body_type, payload), TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            failure = f"Error status : -1. Callback to {url[:256]} timed out after {TIMEOUT_SECONDS:g}s."
            continue
        except (OSError, ValueError, IndexError) as exc:
            failure = f"Error status : -1. Callback to {url[:256]} failed: {str(exc)[:256] or type(exc).__name__}."
            continue
        if status != 200:
            failure = f"Error status : {status}."
            continue
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise errors.CallbackBodyNotJson(headers=headers)
        return Response(200, {**headers, "content-type": "application/json"}, body)
    raise errors.CallbackFailed(failure, headers=headers)
