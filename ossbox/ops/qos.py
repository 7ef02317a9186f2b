"""Bandwidth and request-rate limits (QoS) and the storage capacity of a bucket.

  GET /?qosInfo                               GetUserQoSInfo: the account's limits in the region
  PUT|GET|DELETE /<bucket>?qosInfo            Put/Get/DeleteBucketQoSInfo
  PUT|GET /<bucket>?qos                       PutBucketStorageCapacity / GetBucketStorageCapacity
  PUT|GET|DELETE /<bucket>?requesterQosInfo&qosRequester=<uid>, GET ?requesterQosInfo (list)
  GET /?resourcePool, ?resourcePoolInfo, ?resourcePoolBuckets, ?requesterQosInfo&resourcePool=,
  PUT|DELETE /?requesterQosInfo&qosRequester=&resourcePool=     resource pools

The limits are stored and validated as OSS does (a bucket's limit never above the account's, an
intranet or extranet limit never above the total; -1 means "no limit of its own"); ossbox does not
throttle by them (docs/bucket-configs.md). Resource pools are made by Alibaba Cloud on request:
an ossbox account has none, so every pool operation answers 404 NoSuchResourcePool.
Bandwidths are in Gbit/s, rates in requests per second.
"""
from __future__ import annotations

from .. import errors, numeric
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config

FIELDS = ("TotalUploadBandwidth", "IntranetUploadBandwidth", "ExtranetUploadBandwidth",
          "TotalDownloadBandwidth", "IntranetDownloadBandwidth", "ExtranetDownloadBandwidth",
          "TotalQps", "IntranetQps", "ExtranetQps")
# The account's limits: OSS's published per-account figures for China (Hangzhou) (user guide,
# "Limits": total download 100 Gbit/s, public download 20, total upload 20, public upload 20;
# 10,000 requests per second in all), used whatever the region. GetUserQoSInfo reports them; a
# bucket's limits may not exceed them.
USER_QOS = dict.fromkeys(FIELDS, -1) | {"TotalUploadBandwidth": 20, "ExtranetUploadBandwidth": 20,
                                        "TotalDownloadBandwidth": 100, "ExtranetDownloadBandwidth": 20,
                                        "TotalQps": 10000}
UNLIMITED = dict.fromkeys(FIELDS, -1)
_MAX = 1 << 31


def _parse(root) -> dict:
    """A QoSConfiguration's nine limits; an absent one is -1. Each is -1 or a positive integer."""
    out = {}
    for name in FIELDS:
        text = xml.child_text(root, name)
        if text is None or text.strip() == "-1":
            out[name] = -1
            continue
        value = numeric.parse_decimal(text.strip(), _MAX, 1)
        if value is None:
            raise errors.InvalidArgument(f"{name} must be -1 or a positive integer.", ArgumentName=name,
                                         ArgumentValue=numeric.shown(text))
        out[name] = value
    return out


def _check(qos: dict, limits: dict) -> None:
    """OSS's rules: a total within the account's total, a part within its total (either side -1
    is no limit)."""
    def over(value, ceiling):
        return value != -1 and ceiling != -1 and value > ceiling
    for kind in ("UploadBandwidth", "DownloadBandwidth", "Qps"):
        total = qos["Total" + kind]
        if over(total, limits["Total" + kind]):
            raise errors.InvalidArgument(f"Total{kind} exceeds the account's limit.",
                                         ArgumentName="Total" + kind, ArgumentValue=str(total))
        ceiling = total if total != -1 else limits["Total" + kind]
        for part in ("Intranet", "Extranet"):
            if over(qos[part + kind], ceiling):
                raise errors.InvalidArgument(f"{part}{kind} exceeds Total{kind}.", ArgumentName=part + kind,
                                             ArgumentValue=str(qos[part + kind]))


def _elements(qos: dict) -> list:
    return [(name, qos[name]) for name in FIELDS]


async def _read_qos(req: Request, limits: dict) -> dict:
    qos = _parse(xml.parse(await req.read_xml_body(), "QoSConfiguration"))
    _check(qos, limits)
    return qos


# -- the account ----------------------------------------------------------------------------------
async def get_user_qos_info(req: Request) -> Response:
    return Response.xml(xml.document("QoSConfiguration", [("Region", req.server.config.region)]
                                     + _elements(USER_QOS)))


# -- a bucket -------------------------------------------------------------------------------------
async def put_bucket_qos_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    await set_config(req, rec, "qos", await _read_qos(req, USER_QOS))
    return Response(200, {}, b"")


async def get_bucket_qos_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("QoSConfiguration", _elements(rec.config.get("qos") or UNLIMITED)))


async def delete_bucket_qos_info(req: Request) -> Response:
    await set_config(req, await common.require_bucket(req), "qos", None)
    return Response(204, {}, b"")


# -- storage capacity (PutBucketStorageCapacity, ?qos) --------------------------------------------
async def put_bucket_storage_capacity(req: Request) -> Response:
    """StorageCapacity in GB: -1 (no limit) or 0 and up; anything else is InvalidArgument."""
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "BucketUserQos")
    text = (xml.child_text(root, "StorageCapacity") or "").strip()
    value = -1 if text == "-1" else numeric.parse_decimal(text, 1 << 53)
    if value is None:
        raise errors.InvalidArgument("StorageCapacity must be -1 or a non-negative integer.",
                                     ArgumentName="StorageCapacity", ArgumentValue=numeric.shown(text))
    await set_config(req, rec, "storage_capacity", None if value == -1 else value)
    return Response(200, {}, b"")


async def get_bucket_storage_capacity(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("BucketUserQos",
                                     [("StorageCapacity", rec.config.get("storage_capacity", -1))]))


# -- per requester, in a bucket -------------------------------------------------------------------
def _requester(req: Request) -> str:
    uid = (req.query.get("qosRequester") or "").strip()
    if not numeric.is_decimal(uid):
        raise errors.InvalidArgument("qosRequester must be an account UID.", ArgumentName="qosRequester",
                                     ArgumentValue=numeric.shown(uid))
    return uid


async def put_bucket_requester_qos_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    uid = _requester(req)
    qos = await _read_qos(req, UNLIMITED)  # a requester's limits: within their own totals
    await set_config(req, rec, "requester_qos", dict(rec.config.get("requester_qos") or {}, **{uid: qos}))
    return Response(200, {}, b"")


async def get_bucket_requester_qos_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    uid = _requester(req)
    qos = (rec.config.get("requester_qos") or {}).get(uid, UNLIMITED)
    return Response.xml(xml.document("RequesterQoSInfo", [("Requester", uid),
                                                          ("QoSConfiguration", _elements(qos))]))


async def list_bucket_requester_qos_infos(req: Request) -> Response:
    rec = await common.require_bucket(req)
    token = req.query.get("continuation-token") or ""
    limit = numeric.decimal_argument(req.query.get("max-keys") or "100", "max-keys", 1, 1000)
    items = sorted((uid, q) for uid, q in (rec.config.get("requester_qos") or {}).items() if uid > token)
    page, more = items[:limit], len(items) > limit
    return Response.xml(xml.document("ListBucketRequesterQoSInfosResult", [
        ("Bucket", req.bucket), ("ContinuationToken", token),
        ("NextContinuationToken", page[-1][0] if more else ""), ("IsTruncated", more)] + [
        ("RequesterQoSInfo", [("Requester", uid), ("QoSConfiguration", _elements(q))]) for uid, q in page]))


async def delete_bucket_requester_qos_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    uid = _requester(req)
    kept = {k: v for k, v in (rec.config.get("requester_qos") or {}).items() if k != uid}
    await set_config(req, rec, "requester_qos", kept or None)
    return Response(204, {}, b"")


# -- resource pools (none exist here) -------------------------------------------------------------
async def list_resource_pools(req: Request) -> Response:
    return Response.xml(xml.document("ListResourcePoolsResult", [
        ("Region", req.server.config.region), ("Owner", req.server.owner_id),
        ("ContinuationToken", req.query.get("continuation-token") or ""), ("NextContinuationToken", ""),
        ("IsTruncated", False)]))


async def no_such_resource_pool(req: Request) -> Response:
    raise errors.NoSuchResourcePool(ResourcePool=(req.query.get("resourcePool") or "")[:64])
