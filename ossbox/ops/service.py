"""Service-level operations: ListBuckets (GetService) and DescribeRegions."""
from __future__ import annotations

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_features, bucket_tags, common
from .listing import listing_param, max_keys

_PAGE = 1000


async def list_buckets(req: Request) -> Response:
    prefix = listing_param(req, "prefix")
    marker = listing_param(req, "marker")
    limit = max_keys(req, low=1)
    tag = bucket_tags.tag_filter(req)
    group = req.header("x-oss-resource-group-id")  # the buckets of one resource group

    def wanted(b) -> bool:
        return ((tag is None or bucket_tags.has_tag(b, *tag))
                and (not group or bucket_features.resource_group(b) == group))
    if tag is None and not group:
        found = await req.server.engine.list_buckets(prefix, marker, limit + 1)
    else:  # filtered after reading: page through until limit + 1 buckets pass
        found, after = [], marker
        while len(found) <= limit:
            page = await req.server.engine.list_buckets(prefix, after, _PAGE)
            found += [b for b in page if wanted(b)]
            if len(page) < _PAGE:
                break
            after = page[-1].name
        found = found[:limit + 1]
    truncated = len(found) > limit
    found = found[:limit]
    endpoint = req.host
    buckets = [("Bucket", [
        ("CreationDate", common.iso8601(b.created)),
        ("ExtranetEndpoint", endpoint),
        ("IntranetEndpoint", endpoint),
        ("Location", f"oss-{b.region}"),
        ("Name", b.name),
        ("Region", b.region),
        ("StorageClass", b.storage_class),
        ("ResourceGroupId", bucket_features.resource_group(b)),
    ]) for b in found]
    return Response.xml(xml.document("ListAllMyBucketsResult", [
        ("Prefix", prefix), ("Marker", marker), ("MaxKeys", limit), ("IsTruncated", truncated),
        ("NextMarker", found[-1].name if truncated else None),
        common.owner_xml(req),
        ("Buckets", buckets),
    ]))


async def describe_regions(req: Request) -> Response:
    """DescribeRegions (`GET /?regions[=oss-<region>]`): this server serves one region, reachable at
    the endpoint the client used -- for the public, internal and accelerate endpoints alike, since
    ossbox has no separate networks. Any other region is 404 NoSuchRegion (oss2's
    test_describe_regions_exception)."""
    region = req.server.config.region
    wanted = req.query.get("regions", "")
    if wanted and wanted not in (f"oss-{region}", region):
        raise errors.NoSuchRegion(Region=wanted[:128])
    endpoint = req.host
    return Response.xml(xml.document("RegionInfoList", [("RegionInfo", [
        ("Region", f"oss-{region}"),
        ("InternetEndpoint", endpoint),
        ("InternalEndpoint", endpoint),
        ("AccelerateEndpoint", endpoint),
    ])]))
