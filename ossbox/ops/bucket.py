"""Bucket operations: PutBucket/DeleteBucket, GetBucketInfo/GetBucketLocation, the bucket ACL."""
from __future__ import annotations

import dataclasses
import time

from .. import errors
from ..auth.authorize import BUCKET_BLOCK
from ..wire import xml
from ..wire.request import Request, Response
from ..storage import sse
from ..storage.records import BucketRecord
from . import bucket_config, bucket_features, common, public_grants, redundancy
from .restore import _delay as restore_delay_of
from .bucket_config import encryption_elements


def endpoint(req: Request) -> str:
    """The endpoint the client used (the request Host without a virtual-hosted bucket label)."""
    host = req.host
    if req.bucket and host[: len(req.bucket) + 1].lower() == req.bucket + ".":
        return host[len(req.bucket) + 1:]
    return host



# -- PutBucket / DeleteBucket -------------------------------------------------------------------
async def put_bucket(req: Request) -> Response:
    acl = req.header("x-oss-acl") or "private"
    if acl not in common.BUCKET_ACLS:
        raise errors.InvalidBucketAcl(ArgumentName="x-oss-acl", ArgumentValue=acl)
    await public_grants.refuse_public_acl(req, acl)  # a new bucket: the global setting
    storage_class = "Standard"
    explicit_class = False
    redundancy = "LRS"
    body = await req.read_xml_body()
    if body.strip():
        root = xml.parse(body, "CreateBucketConfiguration")
        given = xml.child_text(root, "StorageClass")
        if given is not None:
            explicit_class = True
            for known in common.STORAGE_CLASSES:  # OSS accepts any letter case here
                if given.lower() == known.lower():
                    storage_class = known
                    break
            else:
                raise errors.InvalidStorageClass(ArgumentName="StorageClass", ArgumentValue=given)
        redundancy = xml.child_text(root, "DataRedundancyType", redundancy)
        if redundancy not in ("LRS", "ZRS"):
            raise errors.InvalidArgument("Invalid DataRedundancyType.", ArgumentName="DataRedundancyType",
                                         ArgumentValue=redundancy)
    config = {}
    algorithm = req.header(sse.H_ALGORITHM)
    if algorithm is not None:
        # default encryption at creation: the rule PutBucketEncryption would store (oss2's
        # test_bucket creates buckets with these headers and reads the rule back)
        key_id, data_algorithm = (req.header(h) or "" for h in bucket_config.ENCRYPTION_HEADERS[1:])
        config["encryption"] = await bucket_config.encryption_rule(
            req, algorithm, key_id.strip(), data_algorithm.strip(), names=bucket_config.ENCRYPTION_HEADERS)
    rec = BucketRecord(name=req.bucket, owner=req.server.owner_id, created=time.time(),
                       region=req.server.config.region, acl=acl, storage_class=storage_class,
                       redundancy=redundancy, config=config)
    created, existing = await req.server.engine.create_bucket(rec)
    if not created:
        if existing.owner != req.server.owner_id:
            raise errors.BucketAlreadyExists(BucketName=req.bucket)
        if explicit_class and existing.storage_class != storage_class:
            raise errors.BucketStorageClassConflict(BucketName=req.bucket)
    return Response(200, {"location": f"/{req.bucket}"}, b"")


async def delete_bucket(req: Request) -> Response:
    await req.server.engine.delete_bucket(req.bucket)
    return Response(204, {}, b"")


# -- GetBucketInfo / GetBucketLocation / bucket ACL ---------------------------------------------
async def get_bucket_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    if req.method == "HEAD":
        return Response(200, {}, b"")
    ep = endpoint(req)
    owner = req.server.owner_id
    info = [
        ("AccessMonitor", bucket_features.access_monitor(rec)),
        ("CreationDate", common.iso8601(rec.created)),
        ("ExtranetEndpoint", ep),
        ("IntranetEndpoint", ep),
        ("Location", f"oss-{rec.region}"),
        ("StorageClass", rec.storage_class),
        ("TransferAcceleration", "Enabled" if rec.config.get("transfer_acceleration") else "Disabled"),
        ("CrossRegionReplication", "Disabled"),
        ("DataRedundancyType", redundancy.redundancy(rec, time.time(), restore_delay_of(req))),
        ("Name", rec.name),
        ("Region", rec.region),
        ("ResourceGroupId", bucket_features.resource_group(rec)),
        ("Owner", [("DisplayName", rec.owner or owner), ("ID", rec.owner or owner)]),
        ("AccessControlList", [("Grant", rec.acl)]),
        ("ServerSideEncryptionRule", encryption_elements(rec) or [("SSEAlgorithm", "None")]),
        ("BucketPolicy", [("LogBucket", ""), ("LogPrefix", "")]),
        # OSS sends the element even when the bucket has no comment (oss2's test_bucket_info
        # asserts it is there); ossbox has no way to set one.
        ("Comment", ""),
        ("Versioning", rec.config.get("versioning")),
        ("BlockPublicAccess", "true" if rec.config.get(BUCKET_BLOCK) else "false"),
    ]
    return Response.xml(xml.document("BucketInfo", [("Bucket", info)]))


async def get_bucket_location(req: Request) -> Response:
    rec = await common.require_bucket(req)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<LocationConstraint>oss-{xml.escape(rec.region)}</LocationConstraint>").encode()
    return Response.xml(body)


async def get_bucket_acl(req: Request) -> Response:
    rec = await common.require_bucket(req)
    owner = rec.owner or req.server.owner_id
    return Response.xml(xml.document("AccessControlPolicy", [
        ("Owner", [("ID", owner), ("DisplayName", owner)]),
        ("AccessControlList", [("Grant", rec.acl)]),
    ]))


async def put_bucket_acl(req: Request) -> Response:
    acl = req.header("x-oss-acl")
    rec = await common.require_bucket(req)
    if acl not in common.BUCKET_ACLS:
        raise errors.InvalidBucketAcl(ArgumentName="x-oss-acl", ArgumentValue=acl or "")
    await public_grants.refuse_public_acl(req, acl, rec)
    if acl != rec.acl:
        await req.server.engine.update_bucket(dataclasses.replace(rec, acl=acl))
    return Response(200, {}, b"")
