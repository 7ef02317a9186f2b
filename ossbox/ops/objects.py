"""Object operations other than append and multipart: Get/Head/Put/Delete/Copy, GetObjectMeta,
object tagging and object ACL."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Optional

from .. import errors, numeric
from ..wire import xml
from ..wire.request import FileSpan, Request, Response
from ..storage import sse
from ..storage.engine import CURRENT
from ..storage.records import APPENDABLE, SYMLINK, SYMLINK_TARGET, ObjectRecord
from ..storage.lifecycle import LAST_ACCESS
from . import access_tracking, callback, common, gzip_encoding, public_grants, restore, symlink
from .args import CopySource, object_acl, parse_copy, parse_get, parse_put


# -- conditions ----------------------------------------------------------------------------------
def parse_time(value: str) -> Optional[float]:
    """An HTTP date (RFC 1123) or an ISO 8601 UTC time (the CopyObject doc's examples use both)."""
    ts = common.parse_http_date(value)
    if ts is not None:
        return ts
    text = value.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def check_conditions(req: Request, rec: ObjectRecord, prefix: str = "") -> None:
    """If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304), evaluated in
    RFC 7232 order. `prefix` is "x-oss-copy-source-" for CopyObject's source conditions. Unparsable
    dates are ignored, as OSS does. A 412's <Condition> names the header that failed: the standard
    ones as HTTP spells them (If-Match), CopyObject's as OSS's CopyObject page names them, all lower
    case (x-oss-copy-source-if-match), not S3's mixed x-amz-copy-source-If-Match."""
    etag = f'"{rec.etag}"'
    mtime = int(rec.mtime)
    not_modified = errors.NotModified(headers={"etag": etag,
                                               "last-modified": common.http_date(rec.mtime)})
    if_match = req.header(prefix + "if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            raise errors.PreconditionFailed(Condition=_condition(prefix, "If-Match"))
    else:
        since = req.header(prefix + "if-unmodified-since")
        ts = parse_time(since) if since is not None else None
        if ts is not None and mtime > ts:
            raise errors.PreconditionFailed(Condition=_condition(prefix, "If-Unmodified-Since"))
    if_none = req.header(prefix + "if-none-match")
    if if_none is not None:
        if _etag_matches(if_none, etag):
            raise not_modified
    else:
        since = req.header(prefix + "if-modified-since")
        ts = parse_time(since) if since is not None else None
        if ts is not None and mtime <= ts:
            raise not_modified


def _condition(prefix: str, name: str) -> str:
    return (prefix + name).lower() if prefix else name


def _etag_matches(header: str, etag: str) -> bool:
    wanted = etag.strip('"').upper()
    for token in header.split(","):
        token = token.strip()
        if token.startswith("W/"):
            token = token[2:]
        if token == "*" or token.strip('"').upper() == wanted:
            return True
    return False


# -- ranges --------------------------------------------------------------------------------------
def parse_range(value: Optional[str], size: int, standard: bool) -> Optional[tuple[int, int]]:
    """[start, end) for a single `bytes=` range, or None for 'send the whole object'.

    Classic OSS: a range it cannot serve exactly (bad syntax, start or end past the end, suffix
    longer than the object) is ignored and the whole object is sent with 200; of several ranges
    only the first counts. With `x-oss-range-behavior: standard` (RFC 7233): an end past EOF is
    clipped, a suffix longer than the object means the whole object (206), and an unsatisfiable
    start, an empty suffix or several ranges are 416 InvalidRange.
    """
    if not value:
        return None
    value = value.strip()
    if not value.startswith("bytes="):
        return None
    spec = value[6:]
    if "," in spec:
        if standard:
            raise errors.InvalidRange(ActualObjectSize=size)
        spec = spec.split(",", 1)[0]
    first, sep, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not sep or (first and not numeric.is_decimal(first)) or (last and not numeric.is_decimal(last)):
        return None
    if not first:
        if not last:
            return None
        n = _range_number(last)
        if n == 0 or size == 0:
            if standard:
                raise errors.InvalidRange(ActualObjectSize=size)
            return None
        if n > size:
            return (0, size) if standard else None
        return size - n, size
    start = _range_number(first)
    if start >= size:
        if standard:
            raise errors.InvalidRange(ActualObjectSize=size)
        return None
    if not last:
        return start, size
    end = _range_number(last)
    if end < start:
        return None
    if end >= size:
        if not standard:
            return None
        end = size - 1
    return start, end + 1


def _range_number(digits: str) -> int:
    """A range bound (already known to be ASCII digits). One too large for any offset means "past
    the end of every object" and is treated exactly as such, never converted whole."""
    value = numeric.parse_decimal(digits, numeric.MAX_INT64)
    return numeric.MAX_INT64 + 1 if value is None else value


_require_object = common.require_object
# Client-side encryption (oss2 CryptoBucket, the v2 SDK's EncryptionClient) keeps the wrapped data
# key and IV in these user metadata. They describe the object's bytes, which a copy does not
# change: a copy always carries the source's (a REPLACE that dropped them would leave a copy
# nobody can decrypt), and a request's own are ignored.
_CSE_META = "x-oss-meta-client-side-encryption-"


# -- GetObject / HeadObject / GetObjectMeta ------------------------------------------------------
async def get_object(req: Request) -> Response:
    engine = req.server.engine
    bucket, link, rec, reader = await symlink.open_readable(req)   # a symlink reads its target
    try:
        restored = await restore.check_readable(req, rec)  # archived objects: 403 until restored
        check_conditions(req, rec)
        args = parse_get(req)
        headers = common.object_headers(rec, restored)
        headers.update(common.version_headers(bucket, link or rec))
        if link is not None:
            symlink.apply_link_headers(headers, link, rec)
        headers.update(access_tracking.header(bucket, rec))
        headers.update(args.overrides)
        span = parse_range(args.range, rec.size, args.standard_range)
        dkey = await engine.data_key(rec)  # a disabled KMS key refuses the read here
        await access_tracking.note_read(req, bucket, rec)
    except BaseException:
        reader.close()
        raise
    status = 200
    start, end = 0, rec.size
    if span is not None:
        start, end = span
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{rec.size}"
    gzip = gzip_encoding.applies(req.header("accept-encoding"), headers, rec.size, args.range is not None)
    fd = reader.sendable(end) if dkey is None and args.traffic_limit is None and not gzip else None
    if fd is not None:
        # The bytes go out as stored: the connection may send them from the page cache itself
        # (os.sendfile), and else iterates the body. A local file cannot fail to open half-way,
        # so nothing needs priming (sendable checked its length).
        return Response(status, headers, reader.stream(start, end), length=end - start,
                        file=FileSpan(fd, start, end - start, reader.close))
    body = await common.primed(reader.stream(start, end, dkey))
    body = common.throttled(args.traffic_limit, body)
    if gzip:
        # no length: the compressed size is known only at the end, so the answer goes chunked
        return Response(status, gzip_encoding.encoded_headers(headers), gzip_encoding.compressed(body))
    return Response(status, headers, body, length=end - start)


async def head_object(req: Request) -> Response:
    bucket, rec = await common.locate_object(req)
    link = None
    if rec.type == SYMLINK:
        link, rec = rec, await symlink.target_record(req, rec)
    try:
        check_conditions(req, rec)
    except errors.OssError as exc:
        if exc.status != 304:
            raise
        # A 304 is not an error: no x-oss-err header (oss2 maps a bare 304 to NotModified).
        return Response(304, dict(exc.headers), b"")
    headers = common.object_headers(rec, await restore.restore_header(req, rec))
    headers.update(common.version_headers(bucket, link or rec))
    headers.update(access_tracking.header(bucket, rec))
    if link is not None:
        symlink.apply_link_headers(headers, link, rec)
    if gzip_encoding.applies(req.header("accept-encoding"), headers, rec.size, False):
        # what a GET with the same headers would answer (OSS's FAQ: HeadObject too)
        return Response(200, gzip_encoding.encoded_headers(headers), gzip_encoding.nothing())
    headers["content-length"] = str(rec.size)
    return Response(200, headers, b"")


async def get_object_meta(req: Request) -> Response:
    bucket, rec = await common.locate_object(req)
    headers = {
        "etag": f'"{rec.etag}"',
        "last-modified": common.http_date(rec.mtime),
        "content-length": str(rec.size),
        "x-oss-hash-crc64ecma": str(rec.crc64),
        **common.version_headers(bucket, rec),
        **access_tracking.header(bucket, rec),
    }
    restore_state = await restore.restore_header(req, rec)
    if restore_state is not None:
        headers["x-oss-restore"] = restore_state
    return Response(200, headers, b"")


# -- PutObject / DeleteObject --------------------------------------------------------------------
async def put_object(req: Request) -> Response:
    if "x-oss-copy-source" in req.headers:
        return await copy_object(req)
    bucket = await common.require_bucket(req)
    args = parse_put(req)
    cb = callback.parse_callback(req)
    await public_grants.refuse_public_object_acl(req, bucket)
    body = args.body
    rec = await req.server.engine.put_object(args.creation.new_object(bucket, req.key),
                                             common.throttled(args.traffic_limit, req.body()),
                                             content_length=body.length,
                                             content_md5=body.content_md5,
                                             forbid_overwrite=args.forbid_overwrite,
                                             expected_crc64=body.expected_crc64)
    headers = {"etag": f'"{rec.etag}"', "x-oss-hash-crc64ecma": str(rec.crc64),
               "content-md5": rec.content_md5}
    headers.update(common.sse_response_headers(rec))
    headers.update(common.version_headers(bucket, rec))
    if cb is not None:
        return await callback.answer(req, cb, rec, "PutObject", headers)
    return Response(200, headers, b"")


async def delete_object(req: Request) -> Response:
    await common.require_bucket(req)
    version = common.version_param(req)
    result = await req.server.engine.delete_object(req.bucket, req.key, version)
    return Response(204, delete_headers(version, result), b"")


def delete_headers(version, result) -> dict[str, str]:
    """What DeleteObject reports: the version removed (when one was named) or the delete marker
    made (versioned buckets); nothing for an unversioned bucket's plain delete."""
    headers = {}
    if version is not CURRENT or result.delete_marker:
        headers["x-oss-version-id"] = result.version_id or "null"
    if result.delete_marker:
        headers["x-oss-delete-marker"] = "true"
    return headers


# -- CopyObject ----------------------------------------------------------------------------------
async def load_copy_source(req: Request, source: CopySource) -> tuple[ObjectRecord, dict[str, str]]:
    """The object version named by x-oss-copy-source, after its x-oss-copy-source-if-*
    conditions (CopyObject and UploadPartCopy), and the response headers naming that version."""
    src_bucket, src_key, version = source.bucket, source.key, source.version
    await req.server.authorizer.check_action(
        req, "oss:GetObject" if version is CURRENT else "oss:GetObjectVersion", src_bucket, src_key)
    engine = req.server.engine
    bucket = await engine.require_bucket(src_bucket)
    if version is CURRENT:
        src = await engine.get_object(src_bucket, src_key)
        if src is None:
            raise errors.NoSuchKey(Key=src_key)
    else:
        src = await engine.get_version(src_bucket, src_key, version)
        if src is None:
            raise errors.NoSuchVersion(Key=src_key, VersionId=version or "null")
        if src.is_delete_marker:
            raise errors.CopySourceDeleteMarker()
    if src.type == APPENDABLE and common.versioning(bucket) is not None:
        raise errors.CopyAppendableVersioned()
    await restore.check_readable(req, src)  # an unrestored archived source cannot be copied
    check_conditions(req, src, prefix="x-oss-copy-source-")
    source_version = common.version_headers(bucket, src)
    return src, {"x-oss-copy-source-version-id": v for v in source_version.values()}


def _without_sse(headers: dict) -> dict:
    """A copy's headers: not the source's encryption, nor its last access (a copy is new)."""
    return {k: v for k, v in headers.items() if not k.startswith("x-oss-server-side-") and k != LAST_ACCESS}


def _sse_differs(wanted: dict, rec: ObjectRecord) -> bool:
    """Whether SSE request headers ask for other encryption than the object has (a KMS key id
    counts only when the request names one)."""
    have = common.sse_response_headers(rec)
    return any(have.get(h) != wanted.get(h) for h in (sse.H_ALGORITHM, sse.H_DATA_ALGORITHM)) or (
        sse.H_KEY_ID in wanted and have.get(sse.H_KEY_ID) != wanted[sse.H_KEY_ID])


def _replaced_metadata(req: Request, src: ObjectRecord, template: ObjectRecord) -> dict:
    """x-oss-metadata-directive REPLACE: the request's metadata, except what OSS keeps from the
    source: its Content-Type when the request sends none (the v2 SDK's
    test_metadata_tagging_directive_replace: "content-type no change", while Content-Disposition,
    Cache-Control, ... go), and the client-side-encryption metadata (see _CSE_META)."""
    cse = _cse_metadata(template.headers)
    headers = {k: v for k, v in template.headers.items() if k not in cse}
    if "content-type" not in req.headers:
        headers["content-type"] = src.headers.get("content-type", "application/octet-stream")
    headers.update(_cse_metadata(src.headers))
    return headers


def _cse_metadata(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k.startswith(_CSE_META)}


async def copy_object(req: Request) -> Response:
    args = await parse_copy(req)
    bucket = await common.require_bucket(req)
    await public_grants.refuse_public_object_acl(req, bucket)
    template = args.creation.new_object(bucket, req.key)
    engine = req.server.engine
    src, source_version = await load_copy_source(req, args.source)

    if args.metadata_directive == "REPLACE":
        headers = _replaced_metadata(req, src, template)
    else:  # COPY: the source's metadata; encryption is the request's or the bucket default's
        headers = _without_sse(src.headers)
        headers.update(common.sse_response_headers(template))
    tags = list(src.tags) if args.tagging_directive == "COPY" else list(template.tags)
    if src.type == SYMLINK:
        # OSS's CopyObject page: a symlink source copies the link, not its target's content;
        # whatever the metadata directive, the copy keeps pointing at the same target.
        headers[SYMLINK_TARGET] = src.headers[SYMLINK_TARGET]

    # the current version copied onto its own key (a named version copied back is a new version)
    onto_itself = (src.bucket == req.bucket and src.key == req.key
                   and args.source.version is CURRENT)
    if onto_itself:
        # OSS accepts a copy onto itself that changes nothing too (S3 refuses it): oss2's
        # update_object_meta(key, None) sends one, and its tests expect success. The object is
        # rewritten as by any copy: a new Last-Modified (a new version in a versioned bucket).
        creation = args.creation
        if args.forbid_overwrite:
            raise errors.FileAlreadyExists()
        # An appendable object's encryption cannot be changed by CopyObject. Other objects get
        # the encryption the request names, by rewriting their bytes under a new key; naming none
        # (e.g. a metadata update) keeps the object's.
        wanted = creation.sse if src.type not in (APPENDABLE, SYMLINK) else {}  # a link has no bytes
        rewrite = bool(wanted) and _sse_differs(wanted, src)
        if not rewrite:
            headers = _without_sse(headers)
            headers.update(common.sse_response_headers(src))
        changes = {"headers": headers, "tags": tags, "mtime": time.time()}
        if creation.storage_class is not None:
            changes["storage_class"] = template.storage_class
        if creation.acl is not None:
            changes["acl"] = template.acl
        if src.type == SYMLINK and common.versioning(bucket) is not None:
            rec = await engine.put_symlink(src.evolve(**changes))  # a new version of the link
        elif rewrite or common.versioning(bucket) is not None:
            # new bytes under a new key, or (versioned bucket) a new version of the object
            rec = await engine.copy_object(src, src.evolve(**changes, sse_key=None))
        else:
            rec = await engine.update_object(src, **changes)
    elif src.type == SYMLINK:
        rec = await engine.put_symlink(template.evolve(headers=headers, tags=tags),
                                       forbid_overwrite=args.forbid_overwrite)
    else:
        rec = await engine.copy_object(src, template.evolve(headers=headers, tags=tags),
                                       forbid_overwrite=args.forbid_overwrite)

    etag = f'"{rec.etag}"'
    out = {"etag": etag, "x-oss-hash-crc64ecma": str(rec.crc64), **source_version}
    out.update(common.sse_response_headers(rec))
    out.update(common.version_headers(bucket, rec))
    body = xml.document("CopyObjectResult", [("ETag", etag),
                                             ("LastModified", common.iso8601(rec.mtime))])
    return Response.xml(body, headers=out)


# -- ACL -----------------------------------------------------------------------------------------
async def put_object_acl(req: Request) -> Response:
    await common.require_bucket(req)
    acl = object_acl(req)
    if acl is None:
        raise errors.InvalidObjectAcl(ArgumentName="x-oss-object-acl", ArgumentValue="")
    rec = await _require_object(req)
    await public_grants.refuse_public_acl(req, acl, await common.require_bucket(req))
    if rec.acl != acl:
        await req.server.engine.update_object(rec, acl=acl)
    return Response(200, {}, b"")


async def get_object_acl(req: Request) -> Response:
    rec = await _require_object(req)
    body = xml.document("AccessControlPolicy", [
        common.owner_xml(req),
        ("AccessControlList", [("Grant", rec.acl)]),
    ])
    return Response.xml(body)


# -- tagging -------------------------------------------------------------------------------------
def _parse_tagging(body: bytes) -> list[tuple[str, str]]:
    pairs = common.parse_tag_set(body)
    common.validate_tags(pairs)
    return pairs


async def put_object_tagging(req: Request) -> Response:
    await common.require_bucket(req)
    tags = _parse_tagging(await req.read_xml_body())
    rec = await _require_object(req)
    await req.server.engine.update_object(rec, tags=tags)
    return Response(200, {}, b"")


async def get_object_tagging(req: Request) -> Response:
    rec = await _require_object(req)
    body = xml.document("Tagging", [
        ("TagSet", [("Tag", [("Key", k), ("Value", v)]) for k, v in rec.tags]),
    ])
    return Response.xml(body)


async def delete_object_tagging(req: Request) -> Response:
    rec = await _require_object(req)
    if rec.tags:
        await req.server.engine.update_object(rec, tags=[])
    return Response(204, {}, b"")
