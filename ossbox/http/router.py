"""Which operation a request is, and the OSS action it needs.

Each table lists (sub-resource, operation, RAM action) in priority order; `None` matches a plain
request, a tuple matches when all its keys are in the query ("comp=token": with that value). Anything not listed is answered with an OSS error, never a 5xx.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from .. import errors
from ..ops import (admin, append, bucket, bucket_config, bucket_features, bucket_logging, bucket_stat,
                   bucket_tags, cname, cors, delete_multiple, inventory, lifecycle, listing, live_channel,
                   multipart, objects, post_object, public_access_block, qos, redundancy, referer, restore,
                   select, service, symlink, watch, website, worm)
from ..wire.request import Request

# Bucket features ossbox does not offer (most need Alibaba Cloud itself: replication between
# regions, image processing, MetaQuery indexing, access points, VPC and UDF services): answered 501
# NotImplemented, never silently ignored or taken for another operation (a GET ?metaQuery is not a
# ListObjects, a POST ?asyncFetch not a PostObject). The names are OSS's signed sub-resources.
_UNSUPPORTED_BUCKET = {"replication", "replicationLocation", "replicationProgress", "rtc", "style",
                       "accessPoint", "accessPointPolicy", "metaQuery", "MetaQuery", "asyncFetch",
                       "dataPipeline", "vip", "vpcip", "vod", "img", "processConfiguration",
                       "metadataConfiguration", "overwriteConfig", "userDefinedLogFieldsConfig",
                       "objectWorm"}
# Object-level retention and legal holds (newer OSS features) likewise.
_UNSUPPORTED_OBJECT = {"legalHold", "retention"}


class Route(NamedTuple):
    handler: object
    action: Optional[str]       # the RAM action (None: decided by the handler, e.g. the admin API)


_NOT_SUPPORTED = None  # a listed sub-resource ossbox refuses with 501

_OBJECT_OPS = {
    "POST": [("append", append.append_object, "oss:PutObject"),
             ("seal", append.seal_append_object, "oss:PutObject"),
             ("uploads", multipart.initiate, "oss:PutObject"),
             ("uploadId", multipart.complete, "oss:PutObject"),
             ("restore", restore.restore_object, "oss:RestoreObject"), ("select", _NOT_SUPPORTED, None),
             # SelectObject / CreateSelectObjectMeta read the object: authorized as GetObject
             ("x-oss-process", select.process, "oss:GetObject")],
    "PUT": [("acl", objects.put_object_acl, "oss:PutObjectAcl"),
            ("tagging", objects.put_object_tagging, "oss:PutObjectTagging"),
            ("uploadId", multipart.upload_part, "oss:PutObject"),
            ("live", live_channel.live_channel_unsupported, "oss:PutLiveChannel"),
            ("symlink", symlink.put_symlink, "oss:PutObject"), (None, objects.put_object, "oss:PutObject")],
    # ossbox's own: wait for the object to change; it reads what HeadObject does, so it is
    # authorized exactly as GetObject (ops/watch.py)
    "GET": [(watch.WATCH_PARAM, watch.watch_object, "oss:GetObject"),
            ("acl", objects.get_object_acl, "oss:GetObjectAcl"),
            ("tagging", objects.get_object_tagging, "oss:GetObjectTagging"),
            ("uploadId", multipart.list_parts, "oss:ListParts"),
            ("live", live_channel.live_channel_unsupported, "oss:GetLiveChannelInfo"),
            ("symlink", symlink.get_symlink, "oss:GetObject"), (None, objects.get_object, "oss:GetObject")],
    "HEAD": [("objectMeta", objects.get_object_meta, "oss:GetObject"),
             (None, objects.head_object, "oss:GetObject")],
    # a CORS preflight: answered from the bucket's CORS rules, without authorization (see ops.cors)
    "OPTIONS": [(None, cors.preflight, None)],
    "DELETE": [("tagging", objects.delete_object_tagging, "oss:DeleteObjectTagging"),
               ("uploadId", multipart.abort, "oss:AbortMultipartUpload"),
               ("live", live_channel.live_channel_unsupported, "oss:DeleteLiveChannel"),
               (None, objects.delete_object, "oss:DeleteObject")],
}

_BUCKET_OPS = {
    "PUT": [("acl", bucket.put_bucket_acl, "oss:PutBucketAcl"),
            (("policy", "comp=callback"), bucket_features.put_bucket_callback_policy,
             "oss:PutBucketCallbackPolicy"),
            ("policy", bucket_config.put_bucket_policy, "oss:PutBucketPolicy"),
            ("httpsConfig", bucket_features.put_bucket_https_config, "oss:PutBucketHttpsConfig"),
            ("resourceGroup", bucket_features.put_bucket_resource_group, "oss:PutBucketResourceGroup"),
            ("transferAcceleration", bucket_features.put_bucket_transfer_acceleration,
             "oss:PutBucketTransferAcceleration"),
            ("accessmonitor", bucket_features.put_bucket_access_monitor, "oss:PutBucketAccessMonitor"),
            ("bucketArchiveDirectRead", bucket_features.put_bucket_archive_direct_read,
             "oss:PutBucketArchiveDirectRead"),
            ("qosInfo", qos.put_bucket_qos_info, "oss:PutBucketQoSInfo"),
            ("requesterQosInfo", qos.put_bucket_requester_qos_info, "oss:PutBucketRequesterQoSInfo"),
            ("qos", qos.put_bucket_storage_capacity, "oss:PutBucketStorageCapacity"),
            ("requestPayment", bucket_config.put_bucket_request_payment, "oss:PutBucketRequestPayment"),
            ("versioning", bucket_config.put_bucket_versioning, "oss:PutBucketVersioning"),
            ("encryption", bucket_config.put_bucket_encryption, "oss:PutBucketEncryption"),
            ("publicAccessBlock", public_access_block.put_bucket_public_access_block,
             "oss:PutBucketPublicAccessBlock"),
            ("cors", cors.put_bucket_cors, "oss:PutBucketCors"),
            ("tagging", bucket_tags.put_bucket_tags, "oss:PutBucketTagging"),
            ("referer", referer.put_bucket_referer, "oss:PutBucketReferer"),
            ("lifecycle", lifecycle.put_bucket_lifecycle, "oss:PutBucketLifecycle"),
            ("website", website.put_bucket_website, "oss:PutBucketWebsite"),
            ("logging", bucket_logging.put_bucket_logging, "oss:PutBucketLogging"),
            ("inventory", inventory.put_bucket_inventory, "oss:PutBucketInventory"),
            (None, bucket.put_bucket, "oss:PutBucket")],
    "GET": [("acl", bucket.get_bucket_acl, "oss:GetBucketAcl"),
            (("policy", "comp=callback"), bucket_features.get_bucket_callback_policy,
             "oss:GetBucketCallbackPolicy"),
            ("policy", bucket_config.get_bucket_policy, "oss:GetBucketPolicy"),
            ("policyStatus", bucket_config.get_bucket_policy_status, "oss:GetBucketPolicyStatus"),
            ("httpsConfig", bucket_features.get_bucket_https_config, "oss:GetBucketHttpsConfig"),
            ("resourceGroup", bucket_features.get_bucket_resource_group, "oss:GetBucketResourceGroup"),
            ("transferAcceleration", bucket_features.get_bucket_transfer_acceleration,
             "oss:GetBucketTransferAcceleration"),
            ("accessmonitor", bucket_features.get_bucket_access_monitor, "oss:GetBucketAccessMonitor"),
            ("bucketArchiveDirectRead", bucket_features.get_bucket_archive_direct_read,
             "oss:GetBucketArchiveDirectRead"),
            ("qosInfo", qos.get_bucket_qos_info, "oss:GetBucketQoSInfo"),
            (("requesterQosInfo", "qosRequester"), qos.get_bucket_requester_qos_info,
             "oss:GetBucketRequesterQoSInfo"),
            ("requesterQosInfo", qos.list_bucket_requester_qos_infos, "oss:ListBucketRequesterQoSInfos"),
            ("qos", qos.get_bucket_storage_capacity, "oss:GetBucketStorageCapacity"),
            (("cname", "comp=token"), cname.get_cname_token, "oss:GetCnameToken"),
            ("cname", cname.list_cname, "oss:ListCname"),
            (("redundancyTransition", "x-oss-redundancy-transition-taskid"), redundancy.get_transition,
             "oss:GetBucketDataRedundancyTransition"),
            ("redundancyTransition", redundancy.list_bucket_transitions,
             "oss:ListBucketDataRedundancyTransition"),
            ("requestPayment", bucket_config.get_bucket_request_payment, "oss:GetBucketRequestPayment"),
            ("versioning", bucket_config.get_bucket_versioning, "oss:GetBucketVersioning"),
            ("encryption", bucket_config.get_bucket_encryption, "oss:GetBucketEncryption"),
            ("cors", cors.get_bucket_cors, "oss:GetBucketCors"),
            ("tagging", bucket_tags.get_bucket_tags, "oss:GetBucketTagging"),
            ("referer", referer.get_bucket_referer, "oss:GetBucketReferer"),
            ("lifecycle", lifecycle.get_bucket_lifecycle, "oss:GetBucketLifecycle"),
            ("location", bucket.get_bucket_location, "oss:GetBucketLocation"),
            ("worm", worm.get_bucket_worm, "oss:GetBucketWorm"),
            ("bucketInfo", bucket.get_bucket_info, "oss:GetBucketInfo"),
            ("stat", bucket_stat.get_bucket_stat, "oss:GetBucketStat"),
            ("publicAccessBlock", public_access_block.get_bucket_public_access_block,
             "oss:GetBucketPublicAccessBlock"),
            ("website", website.get_bucket_website, "oss:GetBucketWebsite"),
            ("logging", bucket_logging.get_bucket_logging, "oss:GetBucketLogging"),
            ("inventoryId", inventory.get_bucket_inventory, "oss:GetBucketInventory"),
            ("inventory", inventory.list_bucket_inventory, "oss:ListBucketInventory"),
            ("uploads", multipart.list_uploads, "oss:ListMultipartUploads"),
            ("versions", listing.list_object_versions, "oss:ListObjectVersions"),
            ("live", live_channel.list_live_channels, "oss:ListLiveChannel"),
            ("list-type", listing.list_objects_v2, "oss:ListObjects"),
            (None, listing.list_objects, "oss:ListObjects")],
    # DeleteMultipleObjects authorizes oss:DeleteObject per key itself, once it has read the keys.
    # PostObject authorizes oss:PutObject itself, once the form has named the key and signer.
    "POST": [("delete", delete_multiple.delete_multiple_objects, None),
             (("cname", "comp=token"), cname.create_cname_token, "oss:CreateCnameToken"),
             (("cname", "comp=add"), cname.put_cname, "oss:PutCname"),
             (("cname", "comp=delete"), cname.delete_cname, "oss:DeleteCname"),
             ("redundancyTransition", redundancy.create_transition, "oss:CreateBucketDataRedundancyTransition"),
             ("wormExtend", worm.extend_bucket_worm, "oss:ExtendBucketWorm"),
             ("wormId", worm.complete_bucket_worm, "oss:CompleteBucketWorm"),
             ("worm", worm.initiate_bucket_worm, "oss:InitiateBucketWorm"),
             (None, post_object.post_object, None)],
    "DELETE": [(("policy", "comp=callback"), bucket_features.delete_bucket_callback_policy,
                "oss:DeleteBucketCallbackPolicy"),
               ("policy", bucket_config.delete_bucket_policy, "oss:DeleteBucketPolicy"),
               ("qosInfo", qos.delete_bucket_qos_info, "oss:DeleteBucketQoSInfo"),
               ("requesterQosInfo", qos.delete_bucket_requester_qos_info, "oss:DeleteBucketRequesterQoSInfo"),
               ("redundancyTransition", redundancy.delete_transition, "oss:DeleteBucketDataRedundancyTransition"),
               ("encryption", bucket_config.delete_bucket_encryption, "oss:DeleteBucketEncryption"),
               ("publicAccessBlock", public_access_block.delete_bucket_public_access_block,
                "oss:DeleteBucketPublicAccessBlock"),
               ("cors", cors.delete_bucket_cors, "oss:DeleteBucketCors"),
               ("tagging", bucket_tags.delete_bucket_tags, "oss:DeleteBucketTagging"),
               ("lifecycle", lifecycle.delete_bucket_lifecycle, "oss:DeleteBucketLifecycle"),
               ("worm", worm.abort_bucket_worm, "oss:AbortBucketWorm"),
               ("website", website.delete_bucket_website, "oss:DeleteBucketWebsite"),
               ("logging", bucket_logging.delete_bucket_logging, "oss:DeleteBucketLogging"),
               ("inventory", inventory.delete_bucket_inventory, "oss:DeleteBucketInventory"),
               (None, bucket.delete_bucket, "oss:DeleteBucket")],
    "HEAD": [(None, bucket.get_bucket_info, "oss:GetBucketInfo")],
    "OPTIONS": [(None, cors.preflight, None)],
}


_SERVICE_OPS = {
    "PUT": [("publicAccessBlock", public_access_block.put_public_access_block, "oss:PutPublicAccessBlock"),
            ("requesterQosInfo", qos.no_such_resource_pool, "oss:PutResourcePoolRequesterQoSInfo")],
    "GET": [("publicAccessBlock", public_access_block.get_public_access_block, "oss:GetPublicAccessBlock"),
            ("regions", service.describe_regions, "oss:DescribeRegions"),
            ("qosInfo", qos.get_user_qos_info, "oss:GetUserQoSInfo"),
            ("resourcePoolInfo", qos.no_such_resource_pool, "oss:GetResourcePoolInfo"),
            ("resourcePoolBuckets", qos.no_such_resource_pool, "oss:ListResourcePoolBuckets"),
            ("requesterQosInfo", qos.no_such_resource_pool, "oss:GetResourcePoolRequesterQoSInfo"),
            ("resourcePool", qos.list_resource_pools, "oss:ListResourcePools"),
            ("redundancyTransition", redundancy.list_user_transitions, "oss:ListUserDataRedundancyTransition"),
            (None, service.list_buckets, "oss:ListBuckets")],
    "DELETE": [("publicAccessBlock", public_access_block.delete_public_access_block,
                "oss:DeletePublicAccessBlock"),
               ("requesterQosInfo", qos.no_such_resource_pool, "oss:DeleteResourcePoolRequesterQoSInfo")],
}


# With ?versionId= an object operation needs the versioned form of its action.
_VERSION_ACTIONS = {
    "oss:GetObject": "oss:GetObjectVersion",
    "oss:DeleteObject": "oss:DeleteObjectVersion",
    "oss:GetObjectAcl": "oss:GetObjectVersionAcl",
    "oss:PutObjectAcl": "oss:PutObjectVersionAcl",
    "oss:GetObjectTagging": "oss:GetObjectVersionTagging",
    "oss:PutObjectTagging": "oss:PutObjectVersionTagging",
    "oss:DeleteObjectTagging": "oss:DeleteObjectVersionTagging",
    "oss:RestoreObject": "oss:RestoreObjectVersion",
}


def _has(query, cond: str) -> bool:
    key, eq, value = cond.partition("=")
    return key in query and (not eq or query.get(key) == value)


def _pick(table, req: Request) -> Optional[Route]:
    query = req.query
    for sub, handler, action in table:
        if sub is None or (all(_has(query, k) for k in sub) if isinstance(sub, tuple) else sub in query):
            if handler is _NOT_SUPPORTED:
                raise errors.NotImplementedOp(f"The {sub} operation is not supported by ossbox.")
            return Route(handler, action)
    return None


def website_handler(req: Request, found: Route):
    """GetObject or HeadObject when the bucket's static website configuration decides the answer
    (ops/website.py: an anonymous GET of the bucket root reads the index document), else None."""
    if not website.applies(req, found.handler, (objects.get_object, objects.head_object), listing.list_objects):
        return None
    return objects.head_object if found.handler is objects.head_object else objects.get_object


def creates_bucket(found: Optional[Route]) -> bool:
    """Whether the operation is PutBucket, the one bucket operation that needs no existing bucket."""
    return found is not None and found.handler is bucket.put_bucket


def route(req: Request) -> Route:
    if req.bucket is None:
        if "x-ossbox-admin" in req.query:
            return Route(admin.dispatch, None)
        found = _pick(_SERVICE_OPS.get(req.method, ()), req)
        if found is not None:
            return found
        raise errors.MethodNotAllowed(Method=req.method, ResourceType="Service")
    if req.key is None:
        unsupported = _UNSUPPORTED_BUCKET.intersection(req.query)
        if unsupported:
            raise errors.NotImplementedOp(
                f"The bucket {sorted(unsupported)[0]} configuration is not supported by ossbox.")
        found = _pick(_BUCKET_OPS.get(req.method, ()), req)
        if found is None:
            raise errors.MethodNotAllowed(Method=req.method, ResourceType="Bucket")
        return found
    unsupported = _UNSUPPORTED_OBJECT.intersection(req.query)
    if unsupported:
        raise errors.NotImplementedOp(f"The object {sorted(unsupported)[0]} operation is not supported by ossbox.")
    found = _pick(_OBJECT_OPS.get(req.method, ()), req)
    if found is None:
        raise errors.MethodNotAllowed(Method=req.method, ResourceType="Object")
    if "versionId" in req.query and found.action in _VERSION_ACTIONS:
        return Route(found.handler, _VERSION_ACTIONS[found.action])
    return found
