"""AppendObject and SealAppendObject."""
from __future__ import annotations

from .. import errors, numeric
from ..wire.request import Request, Response
from . import common

def _position(req: Request) -> int:
    raw = req.query.get("position")
    if raw is None:
        raise errors.MissingArgument(ArgumentName="position")
    return numeric.decimal_argument(raw, "position", 0, numeric.MAX_INT64, error=errors.InvalidPosition)


async def append_object(req: Request) -> Response:
    if "versionId" in req.query:
        raise errors.AppendVersionId(ArgumentName="versionId")
    position = _position(req)
    length = req.require_length()
    content_md5 = req.content_md5()
    acl = common.object_acl(req)
    common.traffic_limit(req)
    expected_crc = common.expected_crc64(req)
    async def creation():
        # Creation headers count only when this request creates the object; a later append
        # ignores them silently, even invalid ones (OSS behaviour, see the spec's tagging tests).
        bucket = await common.require_bucket(req)
        return common.new_object_template(req, bucket, strict=position == 0, for_append=True)

    # The bucket (for x-oss-version-id) is read before the append, never after its commit: a read
    # failing after the commit (a database gone away: 503 "try again") would answer an append
    # that took effect as one that did not. A creating append reads it anyway (creation above).
    bucket = await common.require_bucket(req)
    rec = await req.server.engine.append_object(
        req.bucket, req.key, position, common.throttled(req, req.body()), content_length=length,
        content_md5=content_md5,
        creation=creation, acl=acl, expected_crc64=expected_crc)
    headers = {
        "etag": f'"{rec.etag}"',
        "x-oss-next-append-position": str(rec.size),
        "x-oss-hash-crc64ecma": str(rec.crc64),
    }
    headers.update(common.sse_response_headers(rec))
    # x-oss-version-id, the same on every append of one version
    headers.update(common.version_headers(bucket, rec))
    return Response(200, headers, b"")


async def seal_append_object(req: Request) -> Response:
    position = _position(req)
    await common.require_bucket(req)
    rec = await req.server.engine.seal_object(req.bucket, req.key, position)
    return Response(200, {"x-oss-sealed-time": common.http_date(rec.sealed)}, b"")
