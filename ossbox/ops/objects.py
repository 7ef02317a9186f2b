"""Object operations other than append and multipart."""
from __future__ import annotations

import os
from typing import Optional

from .. import errors
from ..http.request import Request, Response
from ..storage.records import ObjectRecord
from . import common

_RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def check_conditions(req: Request, rec: ObjectRecord) -> None:
    """If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304)."""
    etag = f'"{rec.etag}"'
    mtime = int(rec.mtime)
    if_match = req.header("if-match")
    if if_match is not None and not _etag_matches(if_match, etag):
        raise errors.PreconditionFailed(Condition="If-Match")
    since = req.header("if-unmodified-since")
    if since is not None:
        ts = common.parse_http_date(since)
        if ts is not None and mtime > ts:
            raise errors.PreconditionFailed(Condition="If-Unmodified-Since")
    if_none = req.header("if-none-match")
    if if_none is not None and _etag_matches(if_none, etag):
        raise errors.NotModified(headers={"etag": etag})
    since = req.header("if-modified-since")
    if since is not None and if_none is None:
        ts = common.parse_http_date(since)
        if ts is not None and mtime <= ts:
            raise errors.NotModified(headers={"etag": etag})


def _etag_matches(header: str, etag: str) -> bool:
    wanted = etag.strip('"').upper()
    return any(t.strip() == "*" or t.strip().strip('"').upper() == wanted for t in header.split(","))


def parse_range(value: Optional[str], size: int, standard: bool) -> Optional[tuple[int, int]]:
    """[start, end) for a single `bytes=` range, or None for 'send the whole object'.

    Classic OSS answers an invalid or unsatisfiable range with the whole object (200). With
    `x-oss-range-behavior: standard` an end past EOF is clipped and an unsatisfiable start is 416.
    """
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    first, sep, last = value[6:].strip().partition("-")
    if not sep or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        if not last:
            return None
        n = int(last)
        if n == 0:
            if standard:
                raise errors.InvalidRange(ActualObjectSize=size)
            return None
        return max(0, size - n), size
    start = int(first)
    if start >= size:
        if standard:
            raise errors.InvalidRange(ActualObjectSize=size)
        return None
    if not last:
        return start, size
    end = int(last)
    if end < start:
        return None
    if end >= size:
        if not standard:
            return None
        end = size - 1
    return start, end + 1


async def get_object(req: Request) -> Response:
    await common.require_bucket(req)
    engine = req.server.engine
    rec, fd = await engine.open_object(req.bucket, req.key)
    if rec is None:
        raise errors.NoSuchKey(Key=req.key)
    try:
        check_conditions(req, rec)
        common.traffic_limit(req)
        headers = common.object_headers(rec)
        for param, header in _RESPONSE_OVERRIDES.items():
            if param in req.query:
                headers[header] = req.query[param]
        standard = (req.header("x-oss-range-behavior") or "").lower() == "standard"
        span = parse_range(req.header("range"), rec.size, standard)
    except BaseException:
        os.close(fd)
        raise
    status = 200
    start, end = 0, rec.size
    if span is not None:
        start, end = span
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{rec.size}"
    return Response(status, headers, engine.read_range(fd, start, end), length=end - start)


async def head_object(req: Request) -> Response:
    rec = await common.require_object(req)
    check_conditions(req, rec)
    headers = common.object_headers(rec)
    headers["content-length"] = str(rec.size)
    return Response(200, headers, b"")


async def put_object(req: Request) -> Response:
    if "x-oss-copy-source" in req.headers:
        return await copy_object(req)
    bucket = await common.require_bucket(req)
    length = req.require_length()
    content_md5 = req.content_md5()
    forbid = (req.header("x-oss-forbid-overwrite") or "").lower() == "true"
    common.traffic_limit(req)
    template = common.new_object_template(req, bucket)
    rec = await req.server.engine.put_object(template, req.body(), content_length=length,
                                             content_md5=content_md5, forbid_overwrite=forbid)
    headers = {"etag": f'"{rec.etag}"', "x-oss-hash-crc64ecma": str(rec.crc64),
               "content-md5": rec.content_md5}
    headers.update(common.sse_response_headers(rec))
    return Response(200, headers, b"")


async def delete_object(req: Request) -> Response:
    await common.require_bucket(req)
    await req.server.engine.delete_object(req.bucket, req.key)
    return Response(204, {}, b"")


async def copy_object(req: Request) -> Response:
    raise errors.NotImplementedOp("CopyObject is not available yet.")


async def get_object_meta(req: Request) -> Response:
    raise errors.NotImplementedOp("GetObjectMeta is not available yet.")


async def put_object_acl(req: Request) -> Response:
    raise errors.NotImplementedOp("PutObjectAcl is not available yet.")


async def get_object_acl(req: Request) -> Response:
    raise errors.NotImplementedOp("GetObjectAcl is not available yet.")


async def put_object_tagging(req: Request) -> Response:
    raise errors.NotImplementedOp("PutObjectTagging is not available yet.")


async def get_object_tagging(req: Request) -> Response:
    raise errors.NotImplementedOp("GetObjectTagging is not available yet.")


async def delete_object_tagging(req: Request) -> Response:
    raise errors.NotImplementedOp("DeleteObjectTagging is not available yet.")
