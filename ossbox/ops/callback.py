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
import urllib.error
import urllib.request
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
    raw_vars = common.header_or_query(req, "x-oss-callback-var", "callback-var")
    variables = {}
    if raw_vars is not None:
        decoded = _decode_json(raw_vars, "callback-var")
        if not isinstance(decoded, dict):
            raise errors.InvalidCallback("The callback-var must be a json object.", ArgumentName="callback-var")
        variables = _variables(decoded)
    bucket = req.bucket_record
    return callback_from(raw, variables, bucket.config.get("callback_policy") if bucket else None)


def _variables(decoded) -> dict:
    """The x:... variables. Other keys can never be referenced (${x:...} only) and are ignored:
    OSS accepts them (oss2's test_sign_url_with_callback sends callbackUrl/callbackBody as the
    callback-var and expects the upload's 203, not a 400)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()
            if isinstance(k, str) and k.startswith("x:")}


def callback_from(raw: str, variables: dict, policies=None) -> Callback:
    """The callback of a Base64 JSON parameter and its custom x:... variables (PostObject sends
    them as form fields, the other uploads as x-oss-callback-var). A parameter {"callbackPolicy":
    name} stands for the bucket's callback policy of that name (PutBucketCallbackPolicy,
    ops/bucket_features.py; `policies` its items): its Callback, and its CallbackVar under the
    request's own variables."""
    doc = _decode_json(raw, "callback")
    if not isinstance(doc, dict):
        raise errors.InvalidCallback("The callback configuration is not json format.")
    if "callbackPolicy" in doc and "callbackUrl" not in doc:
        item = next((p for p in policies or () if p["name"] == doc["callbackPolicy"]), None)
        if item is None:
            raise errors.InvalidCallback("The callbackPolicy names no callback policy of the bucket.")
        doc = _decode_json(item["callback"], "callback")
        if not isinstance(doc, dict):
            raise errors.InvalidCallback("The callback configuration is not json format.")
        if item.get("callback_var"):
            stored = _decode_json(item["callback_var"], "callback-var")
            if isinstance(stored, dict):
                variables = {**_variables(stored), **variables}
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A callback answer of 3xx is a failed callback (OSS does not follow redirects for it)."""
    def redirect_request(self, *args, **kwargs):
        return None


# No proxies from the environment: the callback goes where callbackUrl says, as OSS sends it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _post(url: str, host: Optional[str], content_type: str, body: bytes) -> tuple[int, bytes]:
    """One POST with the standard library's HTTP client (blocking: run in a thread);
    (status, body). Raises OSError/ValueError."""
    parts = _split_url(url)
    headers = {"Content-Type": content_type, "User-Agent": "aliyun-oss-callback"}
    if host:
        headers["Host"] = host
    request = urllib.request.Request(parts.geturl(), data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as resp:
            status, answer = resp.status, resp.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as exc:  # a non-2xx answer: its status decides, not an exception
        status, answer = exc.code, b""
    if len(answer) > MAX_RESPONSE:
        raise ValueError("callback response too large")
    return status, answer


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
            status, body = await asyncio.wait_for(asyncio.to_thread(_post, url, cb.host, cb.body_type, payload),
                                                  TIMEOUT_SECONDS + 1)
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
