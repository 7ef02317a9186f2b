"""PostObject: `POST /<bucket>` with a multipart/form-data body (browser form upload).

The form's fields come before its `file` field (OSS: "the file must be the last field"; fields
after it are ignored). The fields are read and checked (signature, policy, authorization, the
PutObject-style arguments) before any byte of the file is stored; the file part is then streamed
from the connection into the storage engine's put path, never held whole in memory.

Parsing is python-multipart's streaming parser (docs/postobject.md says why that library).

Authentication is the form's, not the request's (OSS does not look at headers or URL
signatures for PostObject):
* `OSSAccessKeyId` + `policy` + `Signature`: V1;
* `x-oss-signature-version: OSS4-HMAC-SHA256` + `x-oss-credential` + `x-oss-date` +
  `x-oss-signature` + `policy`: V4;
* none of them: anonymous (a public-read-write bucket, or a bucket policy allowing it); a
  `policy` without a signature is still enforced.
`x-oss-security-token` carries the token of an STS key. The upload is then authorized as
oss:PutObject on the object for that identity (bucket policy, RAM policies, ACLs).

A `callback` field (Base64 JSON, as x-oss-callback) with its custom variables as `x:...` fields
is checked before anything is stored and delivered after it (ops/callback.py): the answer is then
the callback server's JSON (200) or 203 CallbackFailed, not success_action_status/redirect.
"""
from __future__ import annotations

import re
import time
from typing import AsyncIterator, Optional
from urllib.parse import quote, urlencode, urlsplit

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .. import errors
from ..auth.post_signature import check_post_v1, check_post_v4, parse_post_v4, v4_version_ok
from ..storage.engine import MAX_OBJECT_SIZE
from ..wire import xml
from ..wire.names import validate_key
from ..wire.request import Request, Response
from . import callback, common, public_grants
from .args import forbid_overwrite, parse_creation
from .post_policy import PostPolicy, check_conditions, check_expiration, parse_post_policy, size_error

MAX_FORM_FIELDS_BYTES = 1024 * 1024   # all fields before the file together (the policy is one)
_FORM_OVERHEAD = 64 * 1024            # boundaries and part headers around the fields and the file
_FILE = "file"
# Form fields that PostObject takes where PutObject takes headers.
_HEADER_FIELDS = ("content-type", "cache-control", "content-disposition", "content-encoding", "expires",
                  "x-oss-object-acl", "x-oss-storage-class", "x-oss-forbid-overwrite",
                  "x-oss-server-side-encryption", "x-oss-server-side-data-encryption",
                  "x-oss-server-side-encryption-key-id")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SIGNATURE_FIELDS = ("ossaccesskeyid", "signature", "x-oss-signature-version", "x-oss-credential",
                     "x-oss-date", "x-oss-signature")


def _malformed() -> errors.OssError:
    return errors.MalformedPOSTRequest()


class _FormReader:
    """Feeds the request body to the multipart parser: first up to the start of the file part
    (`read_fields`), then, as the storage engine pulls, the file's bytes (`file_data`)."""

    def __init__(self, req: Request, boundary: bytes):
        self.fields: dict[str, bytes] = {}     # lower-cased name -> value, fields before the file
        self.filename = ""
        self.file_type: Optional[str] = None   # the file part's own Content-Type
        self.file_started = self.file_done = self.ended = False
        self._pending: list[bytes] = []        # file bytes parsed but not yet handed on
        self._field_bytes = 0
        self._name: Optional[str] = None       # the part being read
        self._value = bytearray()
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._headers: dict[str, bytes] = {}
        self._body = req.body().__aiter__()
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_end": self._end})

    # -- parser callbacks ---------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._value = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._hname.decode("latin-1").strip().lower()] = bytes(self._hvalue).strip()
        self._hname = bytearray()
        self._hvalue = bytearray()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name")
        if disposition.lower() != b"form-data" or name is None:
            raise _malformed()
        self._name = name.decode("utf-8", "replace").lower()
        if self._name == _FILE and not self.file_started:
            self.file_started = True
            self.filename = _text(params.get(b"filename", b"")).replace("\\", "/").rsplit("/", 1)[-1]
            ctype = self._headers.get("content-type")
            self.file_type = ctype.decode("latin-1") if ctype else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == _FILE and not self.file_done:
            self._pending.append(data[start:end])
        elif not self.file_started:
            self._field_bytes += end - start
            if self._field_bytes > MAX_FORM_FIELDS_BYTES:
                raise errors.InvalidArgument("The form fields before the file exceed 1 MB.")
            self._value += data[start:end]
        # parts after the file are ignored

    def _part_end(self) -> None:
        if self._name == _FILE and not self.file_done:
            self.file_done = True
        elif not self.file_started and self._name is not None:
            self.fields.setdefault(self._name, bytes(self._value))

    def _end(self) -> None:
        self.ended = True

    # -- driving ------------------------------------------------------------------------------------
    async def _feed(self) -> None:
        """One more body chunk into the parser; the body ending before the form does is malformed."""
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            raise _malformed() from None
        try:
            self._parser.write(chunk)
        except (MultipartParseError, FormParserError):
            raise _malformed() from None

    async def read_fields(self) -> None:
        while not self.file_started and not self.ended:
            await self._feed()

    async def file_data(self, length_range: tuple[int, int]) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive, checked against the allowed size; the rest of the body
        is then read to its closing boundary (fields after the file are ignored), so an
        incomplete form stores nothing."""
        size = 0
        while True:
            if self._pending:
                data = b"".join(self._pending)
                self._pending.clear()
                size += len(data)
                if size > length_range[1]:
                    raise size_error(size, length_range)
                yield data
            if self.file_done:
                break
            await self._feed()
        error = size_error(size, length_range)
        if error is not None:
            raise error
        while not self.ended:
            await self._feed()


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _FormHeaders:
    """The form's PutObject-style fields seen as request headers, so the creation arguments are
    parsed and validated by PutObject's own code (ops/args.py). Values are kept as their raw
    bytes in latin-1 text, the way the HTTP layer holds header values."""
    __slots__ = ("headers",)
    header = Request.header
    utf8_header = Request.utf8_header

    def __init__(self, fields: dict[str, bytes], file_type: Optional[str]):
        headers = {}
        for name, raw in fields.items():
            if name in _HEADER_FIELDS or name.startswith("x-oss-meta-"):
                value = raw.decode("latin-1")
                if _CONTROL_CHARS.search(value):
                    raise errors.InvalidArgument(f"The form field {name} must not contain control characters.",
                                                 ArgumentName=name)
                headers[name] = value
        if "content-type" not in headers and file_type and not _CONTROL_CHARS.search(file_type):
            headers["content-type"] = file_type   # what the browser says the file is
        self.headers = headers


async def _authenticate(req: Request, fields: dict[str, str], now: float):
    """(identity or None, the policy or None) of the form. A signed policy is read only once its
    signature verified: a forged form learns nothing about what the server makes of it."""
    encoded = fields.get("policy")
    if not any(f in fields for f in _SIGNATURE_FIELDS):
        return None, parse_post_policy(encoded) if encoded is not None else None
    server = req.server
    token = fields.get("x-oss-security-token")
    if "x-oss-signature-version" in fields:
        if not v4_version_ok(fields["x-oss-signature-version"]):
            raise errors.InvalidArgument("Unsupported x-oss-signature-version.",
                                         ArgumentName="x-oss-signature-version",
                                         ArgumentValue=fields["x-oss-signature-version"][:64])
        for name in ("x-oss-credential", "x-oss-date", "x-oss-signature"):
            if name not in fields:
                raise errors.InvalidArgument(f"A V4 signed PostObject needs the {name} form field.",
                                             ArgumentName=name)
        if encoded is None:
            raise _missing_policy()
        region = server.config.region
        ak, date8 = parse_post_v4(fields["x-oss-credential"], fields["x-oss-date"], region, now)
        cred = await _credential(req, ak, token)
        check_post_v4(cred, date8, region, encoded, fields["x-oss-signature"])
        return cred, parse_post_policy(encoded)
    if encoded is None:
        raise _missing_policy()
    for name, shown in (("ossaccesskeyid", "OSSAccessKeyId"), ("signature", "Signature")):
        if not fields.get(name):
            raise errors.InvalidArgument(f"A signed PostObject needs the {shown} form field.",
                                         ArgumentName=shown)
    cred = await _credential(req, fields["ossaccesskeyid"], token)
    check_post_v1(cred, encoded, fields["signature"])
    return cred, parse_post_policy(encoded)


def _missing_policy() -> errors.OssError:
    return errors.InvalidArgument("A signed PostObject needs the policy form field.", ec="0002-00000702",
                                  ArgumentName="policy")


async def _credential(req: Request, access_key_id: str, token: Optional[str]):
    cred = await req.server.credential(access_key_id, req, token=token)
    if cred is None:
        raise errors.InvalidAccessKeyId(OSSAccessKeyId=access_key_id[:128])
    return cred


def _boundary(req: Request) -> bytes:
    mime, params = parse_options_header(req.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if mime.lower() != b"multipart/form-data" or not boundary or len(boundary) > 70:
        raise _malformed()
    return boundary


async def post_object(req: Request) -> Response:
    now = time.time()
    boundary = _boundary(req)
    declared = req.content_length
    if declared is not None and declared > MAX_OBJECT_SIZE + MAX_FORM_FIELDS_BYTES + _FORM_OVERHEAD:
        # a body this large cannot hold a file within the 5 GB limit: refused before it is read
        raise errors.EntityTooLarge(ec="0006-00000003")
    form = _FormReader(req, boundary)
    await form.read_fields()
    fields = {name: _text(raw) for name, raw in form.fields.items()}
    template = fields.get("key")
    if template is None:
        raise errors.InvalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, "
                                     "please check the order of the fields.", ArgumentName="key")
    if not form.file_started:
        raise errors.InvalidArgument("Bucket POST must contain a field named 'file'.", ArgumentName="file")
    key = template.replace("${filename}", form.filename)
    validate_key(key)
    identity, policy = await _authenticate(req, fields, now)
    req.identity = identity   # the form's signature, never the request's
    req.key = key
    if policy is not None:
        check_expiration(policy, now)
        check_conditions(policy, fields, req.bucket)
    await req.server.authorizer.check_action(req, "oss:PutObject", req.bucket, key)
    bucket = await common.require_bucket(req)
    view = _FormHeaders(form.fields, form.file_type)
    creation = parse_creation(view)
    forbid = forbid_overwrite(view)
    if "x-oss-object-acl" in fields:  # as PutObject's header: no public object while access is blocked
        await public_grants.refuse_public_acl(req, fields["x-oss-object-acl"], bucket)
    cb = None
    if "callback" in fields:
        cb = callback.callback_from(fields["callback"], {k: v for k, v in fields.items() if k.startswith("x:")},
                                    req.bucket_record.config.get("callback_policy") if req.bucket_record else None)
    rec = await req.server.engine.put_object(
        creation.new_object(bucket, key), form.file_data(_length_range(policy)),
        content_length=None, content_md5=None, forbid_overwrite=forbid)
    headers = {"etag": f'"{rec.etag}"', "x-oss-hash-crc64ecma": str(rec.crc64),
               "content-md5": rec.content_md5}
    headers.update(common.sse_response_headers(rec))
    headers.update(common.version_headers(bucket, rec))
    if cb is not None:
        return await callback.answer(req, cb, rec, "PostObject", headers)
    return _success(req, fields, key, rec.etag, headers)


def _length_range(policy: Optional[PostPolicy]) -> tuple[int, int]:
    if policy is None or policy.length_range is None:
        return 0, MAX_OBJECT_SIZE
    low, high = policy.length_range
    return low, min(high, MAX_OBJECT_SIZE)


def _success(req: Request, fields: dict[str, str], key: str, etag: str, headers: dict) -> Response:
    """success_action_redirect (303 to it with bucket, key and etag), else success_action_status:
    200 and 204 answer an empty body, 201 the PostResponse document; any other value, or none, 204."""
    redirect = fields.get("success_action_redirect", "").strip()
    if redirect and urlsplit(redirect).scheme.lower() in ("http", "https") and not _CONTROL_CHARS.search(redirect):
        query = urlencode([("bucket", req.bucket), ("key", key), ("etag", f'"{etag}"')])
        headers["location"] = redirect + ("&" if "?" in redirect else "?") + query
        return Response(303, headers, b"")
    status = fields.get("success_action_status", "").strip()
    if status == "201":
        if req.server.host_bucket(req.host) is not None:
            location = f"http://{req.host}/{quote(key)}"
        else:
            location = f"http://{req.host}/{req.bucket}/{quote(key)}"
        body = xml.document("PostResponse", [("Bucket", req.bucket), ("Location", location),
                                             ("Key", key), ("ETag", f'"{etag}"')])
        return Response.xml(body, 201, headers)
    return Response(200 if status == "200" else 204, headers, b"")
