"""PutBucketLogging / GetBucketLogging / DeleteBucketLogging. The setting is kept in
BucketRecord.config["logging"] = {"bucket", "prefix"}; the access log lines themselves are
collected and written by storage/access_log.py."""
from __future__ import annotations

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_config, common


async def put_bucket_logging(req: Request) -> Response:
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "BucketLoggingStatus")
    enabled = xml.children(root, "LoggingEnabled")
    if len(enabled) > 1:
        raise errors.MalformedXML()
    if not enabled:
        # OSS: a BucketLoggingStatus without LoggingEnabled turns logging off
        await bucket_config.set_config(req, rec, "logging", None)
        return Response(200, {}, b"")
    target = (xml.child_text(enabled[0], "TargetBucket") or "").strip()
    prefix = xml.child_text(enabled[0], "TargetPrefix") or ""
    if not target:
        raise errors.MalformedXML()
    target_rec = await req.server.engine.get_bucket(target)
    # OSS: the target bucket must exist and belong to the same owner in the same region
    if target_rec is None or target_rec.owner != rec.owner or target_rec.region != rec.region:
        raise errors.InvalidTargetBucketForLogging(TargetBucket=target)
    await bucket_config.set_config(req, rec, "logging", {"bucket": target, "prefix": prefix})
    return Response(200, {}, b"")


async def get_bucket_logging(req: Request) -> Response:
    rec = await common.require_bucket(req)
    cfg = rec.config.get("logging")
    children = []
    if cfg:
        children.append(("LoggingEnabled", [("TargetBucket", cfg["bucket"]), ("TargetPrefix", cfg["prefix"])]))
    return Response.xml(xml.document("BucketLoggingStatus", children))


async def delete_bucket_logging(req: Request) -> Response:
    await bucket_config.set_config(req, await common.require_bucket(req), "logging", None)
    return Response(204, {}, b"")
