"""LiveChannel (RTMP ingest) is not offered: the listing answers empty, the rest is refused."""
from __future__ import annotations

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .listing import listing_param, max_keys


async def list_live_channels(req: Request) -> Response:
    await common.require_bucket(req)
    prefix = listing_param(req, "prefix")
    marker = listing_param(req, "marker")
    limit = max_keys(req, low=1)
    return Response.xml(xml.document("ListLiveChannelResult", [
        ("Prefix", prefix), ("Marker", marker), ("MaxKeys", limit), ("IsTruncated", False),
        ("NextMarker", ""),
    ]))


async def live_channel_unsupported(req: Request) -> Response:
    await common.require_bucket(req)
    raise errors.LiveChannelNotSupported()
