"""Bucket operations."""
from __future__ import annotations

import time

from .. import errors
from ..http import xml
from ..http.request import Request, Response
from ..storage.records import BucketRecord
from . import common


async def put_bucket(req: Request) -> Response:
    acl = req.header("x-oss-acl") or "private"
    if acl not in common.BUCKET_ACLS:
        raise errors.InvalidBucketAcl(ArgumentName="x-oss-acl", ArgumentValue=acl)
    storage_class = "Standard"
    redundancy = "LRS"
    body = await req.read_xml_body()
    if body.strip():
        root = xml.parse(body, "CreateBucketConfiguration")
        storage_class = xml.child_text(root, "StorageClass", storage_class)
        if storage_class not in ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"):
            raise errors.InvalidStorageClass(ArgumentName="StorageClass", ArgumentValue=storage_class)
        redundancy = xml.child_text(root, "DataRedundancyType", redundancy)
        if redundancy not in ("LRS", "ZRS"):
            raise errors.InvalidArgument("Invalid DataRedundancyType.", ArgumentName="DataRedundancyType",
                                         ArgumentValue=redundancy)
    rec = BucketRecord(name=req.bucket, owner=req.server.owner_id, created=time.time(),
                       region=req.server.config.region, acl=acl, storage_class=storage_class,
                       redundancy=redundancy)
    created, existing = await req.server.engine.create_bucket(rec)
    if not created:
        if existing.owner != req.server.owner_id:
            raise errors.BucketAlreadyExists(BucketName=req.bucket)
        if existing.storage_class != storage_class:
            raise errors.BucketStorageClassConflict(BucketName=req.bucket)
    return Response(200, {"location": f"/{req.bucket}"}, b"")


async def delete_bucket(req: Request) -> Response:
    await req.server.engine.delete_bucket(req.bucket)
    return Response(204, {}, b"")


async def _todo(req: Request) -> Response:
    raise errors.NotImplementedOp("This bucket operation is not available yet.")

put_bucket_acl = get_bucket_acl = get_bucket_location = get_bucket_info = _todo
list_object_versions = list_live_channels = live_channel_unsupported = _todo
list_objects = list_objects_v2 = delete_multiple_objects = _todo
