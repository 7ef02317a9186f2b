"""Which operation a request is: (level, method) plus the sub-resource it names.

Each table lists (sub-resource, operation) in priority order; `None` matches a plain request.
Anything not listed is answered with an OSS error, never a 5xx.
"""
from __future__ import annotations

from .. import errors
from ..ops import append, bucket, multipart, objects, service
from .request import Request

# Bucket features ossbox does not (yet) offer: answered 501 NotImplemented, never silently ignored.
_UNSUPPORTED_BUCKET = {"lifecycle", "cors", "referer", "website", "logging", "policy", "encryption",
                       "versioning", "replication", "worm", "inventory", "tagging", "requestPayment",
                       "transferAcceleration", "qos", "cname", "style", "stat",
                       "accessPoint", "resourceGroup", "httpsConfig", "publicAccessBlock"}

_OBJECT_OPS = {
    "POST": [("append", append.append_object), ("seal", append.seal_append_object),
             ("uploads", multipart.initiate), ("uploadId", multipart.complete),
             ("restore", None), ("select", None), ("x-oss-process", None)],
    "PUT": [("acl", objects.put_object_acl), ("tagging", objects.put_object_tagging),
            ("uploadId", multipart.upload_part), ("live", bucket.live_channel_unsupported),
            ("symlink", None), (None, objects.put_object)],
    "GET": [("acl", objects.get_object_acl), ("tagging", objects.get_object_tagging),
            ("uploadId", multipart.list_parts), ("live", bucket.live_channel_unsupported),
            ("symlink", None), (None, objects.get_object)],
    "HEAD": [("objectMeta", objects.get_object_meta), (None, objects.head_object)],
    "DELETE": [("tagging", objects.delete_object_tagging), ("uploadId", multipart.abort),
               ("live", bucket.live_channel_unsupported), (None, objects.delete_object)],
}

_BUCKET_OPS = {
    "PUT": [("acl", bucket.put_bucket_acl), (None, bucket.put_bucket)],
    "GET": [("acl", bucket.get_bucket_acl), ("location", bucket.get_bucket_location),
            ("bucketInfo", bucket.get_bucket_info), ("uploads", multipart.list_uploads),
            ("versions", bucket.list_object_versions), ("live", bucket.list_live_channels),
            ("list-type", bucket.list_objects_v2), (None, bucket.list_objects)],
    "POST": [("delete", bucket.delete_multiple_objects)],
    "DELETE": [(None, bucket.delete_bucket)],
    "HEAD": [(None, bucket.get_bucket_info)],
}


def _pick(table, req: Request):
    query = req.query
    for sub, handler in table:
        if sub is None or sub in query:
            if handler is None:
                raise errors.NotImplementedOp(f"The {sub} operation is not supported by ossbox.")
            return handler
    return None


def route(req: Request):
    if req.bucket is None:
        if req.method == "GET":
            return service.list_buckets
        raise errors.MethodNotAllowed(Method=req.method, ResourceType="Service")
    if req.key is None:
        unsupported = _UNSUPPORTED_BUCKET.intersection(req.query)
        if unsupported:
            raise errors.NotImplementedOp(
                f"The bucket {sorted(unsupported)[0]} configuration is not supported by ossbox.")
        handler = _pick(_BUCKET_OPS.get(req.method, ()), req)
        if handler is None:
            raise errors.MethodNotAllowed(Method=req.method, ResourceType="Bucket")
        return handler
    handler = _pick(_OBJECT_OPS.get(req.method, ()), req)
    if handler is None:
        raise errors.MethodNotAllowed(Method=req.method, ResourceType="Object")
    return handler
