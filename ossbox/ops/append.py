"""AppendObject and SealAppendObject."""
from __future__ import annotations

from ..wire.request import Request, Response
from . import common, public_grants
from .args import parse_append, parse_position


async def append_object(req: Request) -> Response:
    args = parse_append(req)

    # The bucket (for x-oss-version-id, and the defaults of a new object) is read before the
    # append, never after its commit: a read failing after the commit (a database gone away: 503
    # "try again") would answer an append that took effect as one that did not.
    bucket = await common.require_bucket(req)
    await public_grants.refuse_public_object_acl(req, bucket)

    async def creation():
        # Asked for only when the key has no object: the creation headers now count
        # (args.new_object raises an invalid one).
        return args.new_object(bucket, req.key)

    body = args.body
    rec = await req.server.engine.append_object(
        req.bucket, req.key, args.position, common.throttled(args.traffic_limit, req.body()),
        content_length=body.length, content_md5=body.content_md5,
        creation=creation, acl=args.acl, expected_crc64=body.expected_crc64)
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
    position = parse_position(req)
    await common.require_bucket(req)
    rec = await req.server.engine.seal_object(req.bucket, req.key, position)
    return Response(200, {"x-oss-sealed-time": common.http_date(rec.sealed)}, b"")
