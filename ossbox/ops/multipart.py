"""Multipart upload operations: Initiate, UploadPart(Copy), Complete, Abort, ListMultipartUploads,
ListParts."""
from __future__ import annotations

import base64
import time
from dataclasses import replace
from urllib.parse import quote

from .. import errors, numeric
from ..wire import xml
from ..wire.request import Request, Response
from ..storage.engine import MAX_OBJECT_SIZE
from ..storage.records import SYMLINK, UploadRecord, new_id
from . import callback, common, public_grants
from .args import (MAX_PART_NUMBER, parse_complete, parse_initiate, parse_upload_part,
                   parse_upload_part_copy)
from .listing import encoder
from .objects import load_copy_source, parse_range

MAX_LIST = 1000
MAX_COMPLETE_BODY = 4 * 1024 * 1024   # 10000 <Part> entries with generous whitespace
_LIST_BATCH = 1000
_AFTER_ALL = "\U0010ffff"             # sorts after every upload id (and any key continuation)


# -- helpers ------------------------------------------------------------------------------------
def _int_param(req: Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    return numeric.decimal_argument(raw, name, low, high)


async def _require_upload(req: Request) -> UploadRecord:
    await common.require_bucket(req)
    return await req.server.engine.require_upload(req.bucket, req.key, req.query.get("uploadId", ""))


def _etag_header(etag: str) -> str:
    return f'"{etag}"'


def _location(req: Request) -> str:
    scheme = req.scope.get("scheme") or "http"
    host = req.host or req.server.config.host
    key = quote(req.key, safe="/~")
    if host.lower().startswith(req.bucket + "."):
        return f"{scheme}://{host}/{key}"
    return f"{scheme}://{host}/{req.bucket}/{key}"


# -- InitiateMultipartUpload ----------------------------------------------------------------------
async def initiate(req: Request) -> Response:
    bucket = await common.require_bucket(req)
    enc, encoding = encoder(req)
    args = parse_initiate(req)
    await public_grants.refuse_public_object_acl(req, bucket)
    template = args.creation.new_object(bucket, req.key)
    engine = req.server.engine
    if args.forbid_overwrite and await engine.get_object(req.bucket, req.key) is not None:
        raise errors.FileAlreadyExists()
    upload = UploadRecord(upload_id=new_id().upper(), bucket=req.bucket, key=req.key,
                          initiated=time.time(), storage_class=template.storage_class,
                          acl=template.acl, headers=template.headers, tags=template.tags)
    upload = await engine.create_upload(upload)
    body = xml.document("InitiateMultipartUploadResult", [
        ("Bucket", req.bucket),
        ("Key", enc(req.key)),
        ("UploadId", upload.upload_id),
        ("EncodingType", encoding),
    ])
    return Response.xml(body, headers=common.sse_response_headers(upload))


# -- UploadPart / UploadPartCopy -------------------------------------------------------------------
async def upload_part(req: Request) -> Response:
    if "x-oss-copy-source" in req.headers:
        return await upload_part_copy(req)
    await common.require_bucket(req)
    args = parse_upload_part(req)
    upload = await _require_upload(req)
    part = await req.server.engine.upload_part(upload, args.part_number,
                                               common.throttled(args.traffic_limit, req.body()),
                                               content_length=args.body.length,
                                               content_md5=args.body.content_md5)
    headers = {
        "etag": _etag_header(part.etag),
        "content-md5": base64.b64encode(bytes.fromhex(part.etag)).decode(),
        "x-oss-hash-crc64ecma": str(part.crc64),
    }
    headers.update(common.sse_response_headers(upload))
    return Response(200, headers, b"")


async def upload_part_copy(req: Request) -> Response:
    await common.require_bucket(req)
    args = parse_upload_part_copy(req)
    src, source_version = await load_copy_source(req, args.source)
    if src.type == SYMLINK:  # OSS error page 0042-00000308: a part cannot be copied from a link
        raise errors.InvalidArgument("The source object of UploadPartCopy cannot be a symlink.",
                                     ec="0042-00000308", ArgumentName="x-oss-copy-source")
    upload = await _require_upload(req)
    engine = req.server.engine
    # An absent or invalid x-oss-copy-source-range copies the whole source (OSS behaviour).
    span = parse_range(args.range, src.size, False)
    start, end = span if span is not None else (0, src.size)
    if end - start > MAX_OBJECT_SIZE:
        raise errors.EntityTooLarge()
    part = await engine.upload_part_copy(upload, args.part_number, src, start, end)
    body = xml.document("CopyPartResult", [
        ("LastModified", common.iso8601(int(part.mtime))),
        ("ETag", _etag_header(part.etag)),
    ])
    headers = {"etag": _etag_header(part.etag), "x-oss-hash-crc64ecma": str(part.crc64), **source_version}
    headers.update(common.sse_response_headers(upload))
    return Response.xml(body, headers=headers)


# -- CompleteMultipartUpload -----------------------------------------------------------------------
def _parse_complete(body: bytes) -> list[tuple[int, str]]:
    root = xml.parse(body, "CompleteMultipartUpload")
    chosen = []
    for part in xml.children(root, "Part"):
        number = (xml.child_text(part, "PartNumber") or "").strip()
        etag = xml.child_text(part, "ETag")
        if not numeric.is_decimal(number) or etag is None:
            raise errors.MalformedXML()
        n = numeric.parse_decimal(number, MAX_PART_NUMBER, 1)
        if n is None:
            raise errors.InvalidPartNumber(PartNumber=numeric.shown(number, 16))
        chosen.append((n, etag.strip()))
    if not chosen:
        raise errors.MalformedXML()
    return chosen


async def complete(req: Request) -> Response:
    bucket = await common.require_bucket(req)
    enc, encoding = encoder(req)
    args = parse_complete(req)
    cb = callback.parse_callback(req)
    await public_grants.refuse_public_object_acl(req, bucket)
    body = await req.read_xml_body(MAX_COMPLETE_BODY)
    upload = await _require_upload(req)
    engine = req.server.engine
    if args.complete_all is not None:
        if body.strip():
            raise errors.InvalidArgument("The request body must be empty when x-oss-complete-all "
                                         "is yes.", ArgumentName="x-oss-complete-all",
                                         ArgumentValue=args.complete_all)
        chosen = [(p.part_number, p.etag)
                  for p in await engine.list_parts(upload.upload_id, 0, MAX_PART_NUMBER)]
        if not chosen:
            raise errors.InvalidPart("The upload has no parts to complete.")
    else:
        chosen = _parse_complete(body)
    if args.acl is not None:
        upload = replace(upload, acl=args.acl)
    rec = await engine.complete_upload(upload, chosen, forbid_overwrite=args.forbid_overwrite)
    payload = xml.document("CompleteMultipartUploadResult", [
        ("EncodingType", encoding),
        ("Location", _location(req)),
        ("Bucket", req.bucket),
        ("Key", enc(req.key)),
        ("ETag", _etag_header(rec.etag)),
    ])
    headers = {"etag": _etag_header(rec.etag), "x-oss-hash-crc64ecma": str(rec.crc64)}
    headers.update(common.sse_response_headers(rec))
    headers.update(common.version_headers(await common.require_bucket(req), rec))
    if cb is not None:
        return await callback.answer(req, cb, rec, "CompleteMultipartUpload", headers)
    return Response.xml(payload, headers=headers)


# -- AbortMultipartUpload --------------------------------------------------------------------------
async def abort(req: Request) -> Response:
    upload = await _require_upload(req)
    await req.server.engine.abort_upload(upload)
    return Response(204, {}, b"")


# -- ListMultipartUploads --------------------------------------------------------------------------
async def list_uploads(req: Request) -> Response:
    await common.require_bucket(req)
    enc, encoding = encoder(req)
    prefix = req.query.get("prefix", "")
    delimiter = req.query.get("delimiter", "")
    key_marker = req.query.get("key-marker", "")
    id_marker = req.query.get("upload-id-marker", "") if key_marker else ""
    max_uploads = _int_param(req, "max-uploads", MAX_LIST, 1, MAX_LIST)
    engine = req.server.engine

    entries: list = []          # UploadRecord or str (a common prefix)
    truncated = False
    # A key marker that is itself a common prefix means "after everything under it".
    skip_prefix = None
    if delimiter and key_marker.startswith(prefix):
        rest = key_marker[len(prefix):]
        i = rest.find(delimiter)
        if i >= 0 and i + len(delimiter) == len(rest):
            skip_prefix = key_marker
    cur_key = key_marker
    cur_id = id_marker if key_marker else ""
    if skip_prefix is not None:
        cur_id = _AFTER_ALL
    elif key_marker and not id_marker:
        cur_id = _AFTER_ALL    # no upload-id-marker: only keys after key-marker
    while not truncated:
        batch = await engine.list_uploads(req.bucket, prefix, cur_key, cur_id, _LIST_BATCH)
        if not batch:
            break
        for up in batch:
            cur_key, cur_id = up.key, up.upload_id
            if skip_prefix is not None and up.key.startswith(skip_prefix):
                continue
            if delimiter:
                rest = up.key[len(prefix):]
                i = rest.find(delimiter)
                if i >= 0:
                    cp = prefix + rest[:i + len(delimiter)]
                    skip_prefix = cp
                    if len(entries) >= max_uploads:
                        truncated = True
                        break
                    entries.append(cp)
                    continue
            if len(entries) >= max_uploads:
                truncated = True
                break
            entries.append(up)
        if skip_prefix is not None and cur_key.startswith(skip_prefix):
            cur_key, cur_id = skip_prefix + _AFTER_ALL, _AFTER_ALL  # jump past the rolled-up keys
        if len(batch) < _LIST_BATCH:
            break

    next_key = next_id = ""
    if entries:
        last = entries[-1]
        if isinstance(last, str):
            next_key = last
        else:
            next_key, next_id = last.key, last.upload_id
    children = [
        ("EncodingType", encoding),
        ("Bucket", req.bucket),
        ("KeyMarker", enc(key_marker)),
        ("UploadIdMarker", id_marker),
        ("NextKeyMarker", enc(next_key)),
        ("NextUploadIdMarker", next_id),
        ("Delimiter", enc(delimiter)),
        ("Prefix", enc(prefix)),
        ("MaxUploads", max_uploads),
        ("IsTruncated", truncated),
    ]
    for e in entries:
        if not isinstance(e, str):
            children.append(("Upload", [
                ("Key", enc(e.key)),
                ("UploadId", e.upload_id),
                ("StorageClass", e.storage_class),
                ("Initiated", common.iso8601(int(e.initiated))),
            ]))
    for e in entries:
        if isinstance(e, str):
            children.append(("CommonPrefixes", [("Prefix", enc(e))]))
    return Response.xml(xml.document("ListMultipartUploadsResult", children))


# -- ListParts -------------------------------------------------------------------------------------
# The envelope a client-side-encrypting SDK sent with InitiateMultipartUpload, returned by ListParts
# so that it can resume the upload (alibabacloud-oss-v2's encryption client reads these elements).
_CLIENT_ENCRYPTION = (("ClientEncryptionKey", "key"), ("ClientEncryptionStart", "start"),
                      ("ClientEncryptionCekAlg", "cek-alg"), ("ClientEncryptionWrapAlg", "wrap-alg"),
                      ("ClientEncryptionDataSize", "data-size"), ("ClientEncryptionPartSize", "part-size"))


def _client_encryption(upload) -> list:
    headers = upload.headers
    if "x-oss-meta-client-side-encryption-key" not in headers:
        return []
    return [(element, headers[f"x-oss-meta-client-side-encryption-{suffix}"])
            for element, suffix in _CLIENT_ENCRYPTION if f"x-oss-meta-client-side-encryption-{suffix}" in headers]


async def list_parts(req: Request) -> Response:
    await common.require_bucket(req)
    enc, encoding = encoder(req)
    max_parts = _int_param(req, "max-parts", MAX_LIST, 1, MAX_LIST)
    marker = _int_param(req, "part-number-marker", 0, 0, MAX_PART_NUMBER)
    upload = await _require_upload(req)
    parts = await req.server.engine.list_parts(upload.upload_id, marker, max_parts + 1)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    children = [
        ("EncodingType", encoding),
        ("Bucket", req.bucket),
        ("Key", enc(req.key)),
        ("UploadId", upload.upload_id),
        ("StorageClass", upload.storage_class),
        ("PartNumberMarker", marker),
        ("NextPartNumberMarker", parts[-1].part_number if parts else marker),
        ("MaxParts", max_parts),
        ("IsTruncated", truncated),
    ]
    children += _client_encryption(upload)
    for p in parts:
        children.append(("Part", [
            ("PartNumber", p.part_number),
            ("LastModified", common.iso8601(int(p.mtime))),
            ("ETag", _etag_header(p.etag)),
            ("HashCrc64ecma", str(p.crc64)),
            ("Size", p.size),
        ]))
    return Response.xml(xml.document("ListPartsResult", children))
