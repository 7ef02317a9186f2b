"""Bucket retention policy (WORM): InitiateBucketWorm (POST ?worm), AbortBucketWorm (DELETE
?worm), CompleteBucketWorm (POST ?wormId=), ExtendBucketWorm (POST ?wormId=&wormExtend),
GetBucketWorm (GET ?worm).

The policy is kept in BucketRecord.config["worm"]; storage/worm.py says what it protects and
enforces it inside the write and delete transactions. Error choices (docs/bucket-configs.md):
  no policy in force, or another policy's WormId       -> 404 NoSuchWORMConfiguration
  AbortBucketWorm / InitiateBucketWorm / CompleteBucketWorm on a Locked policy
                                                         -> 403 WORMConfigurationLocked
  ExtendBucketWorm of an InProgress policy, or to a period not longer than the current one,
  InitiateBucketWorm while an InProgress policy exists -> 400 InvalidWORMConfiguration
  InitiateBucketWorm on a bucket with versioning        -> 400 (EC 0027-00000003)
  RetentionPeriodInDays outside 1..25550 (70 years)     -> 400 InvalidArgument
"""
from __future__ import annotations

import time
import uuid

from .. import errors, numeric
from ..storage.worm import IN_PROGRESS, LOCKED, active_policy
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config

MAX_DAYS = 25550  # 70 years (InitiateBucketWorm: "from 1 day to 70 years")


async def _days(req: Request, root: str) -> int:
    node = xml.parse(await req.read_xml_body(), root)
    text = xml.child_text(node, "RetentionPeriodInDays")
    if text is None:
        raise errors.MalformedXML()
    return numeric.decimal_argument(text.strip(), "RetentionPeriodInDays", 1, MAX_DAYS)


def _policy(req: Request, rec):
    return active_policy(rec.config, time.time(), req.server.engine.worm_day)


def _named(req: Request, rec) -> dict:
    """The policy in force that ?wormId names (404 for any other id, or none in force)."""
    policy = _policy(req, rec)
    if policy is None or policy["id"] != req.query.get("wormId"):
        raise errors.NoSuchWORMConfiguration(BucketName=req.bucket)
    return policy


async def initiate_bucket_worm(req: Request) -> Response:
    rec = await common.require_bucket(req)
    days = await _days(req, "InitiateWormConfiguration")
    if rec.config.get("versioning"):
        raise errors.WormWithVersioning(BucketName=req.bucket)
    current = _policy(req, rec)
    if current is not None:
        if current["state"] == LOCKED:
            raise errors.WORMConfigurationLocked(BucketName=req.bucket)
        raise errors.InvalidWORMConfiguration("The bucket already has a retention policy in progress.")
    policy = {"id": uuid.uuid4().hex.upper(), "state": IN_PROGRESS, "days": days, "created": time.time()}
    await set_config(req, rec, "worm", policy)
    return Response(200, {"x-oss-worm-id": policy["id"]}, b"")


async def abort_bucket_worm(req: Request) -> Response:
    rec = await common.require_bucket(req)
    policy = _policy(req, rec)
    if policy is None:
        raise errors.NoSuchWORMConfiguration(BucketName=req.bucket)
    if policy["state"] == LOCKED:
        raise errors.WORMConfigurationLocked(BucketName=req.bucket)
    await set_config(req, rec, "worm", None)
    return Response(204, {}, b"")


async def complete_bucket_worm(req: Request) -> Response:
    rec = await common.require_bucket(req)
    policy = _named(req, rec)
    if policy["state"] == LOCKED:
        raise errors.WORMConfigurationLocked(BucketName=req.bucket)
    await set_config(req, rec, "worm", dict(policy, state=LOCKED))
    return Response(200, {}, b"")


async def extend_bucket_worm(req: Request) -> Response:
    rec = await common.require_bucket(req)
    days = await _days(req, "ExtendWormConfiguration")
    policy = _named(req, rec)
    if policy["state"] != LOCKED:
        raise errors.InvalidWORMConfiguration("Only a locked retention policy can be extended.")
    if days <= policy["days"]:
        raise errors.InvalidWORMConfiguration("A retention period can only be extended.")
    await set_config(req, rec, "worm", dict(policy, days=days))
    return Response(200, {}, b"")


async def get_bucket_worm(req: Request) -> Response:
    rec = await common.require_bucket(req)
    policy = _policy(req, rec)
    if policy is None:
        raise errors.NoSuchWORMConfiguration(BucketName=req.bucket)
    return Response.xml(xml.document("WormConfiguration", [
        ("WormId", policy["id"]), ("State", policy["state"]), ("RetentionPeriodInDays", policy["days"]),
        ("CreationDate", common.iso8601(policy["created"]))]))
