"""GetBucketStat (`GET /?stat`): a bucket's storage and object counts, per storage class.

Computed from the metadata store on each request (storage/metadata.py BucketStat says what
counts). Element names and meaning follow OSS's GetBucketStat page: `*Storage` of the IA and
archive classes is the billed size (a version under 64 KB counts as 64 KB), `*RealStorage` the
stored bytes; Storage is every stored object version plus the parts of unfinished multipart
uploads (they are stored too). LiveChannelCount is 0: ossbox has no LiveChannels.
"""
from __future__ import annotations

import time

from ..wire import xml
from ..wire.request import Request, Response
from . import common

# storage class -> element name prefix; Standard has no billed/real distinction
_CLASS_PREFIX = (("IA", "InfrequentAccess"), ("Archive", "Archive"), ("ColdArchive", "ColdArchive"),
                 ("DeepColdArchive", "DeepColdArchive"))


async def get_bucket_stat(req: Request) -> Response:
    await common.require_bucket(req)
    stat = await req.server.engine.bucket_stat(req.bucket)
    none = (0, 0, 0)
    objects = sum(n for n, _, _ in stat.classes.values())
    stored = sum(size for _, size, _ in stat.classes.values())
    standard = stat.classes.get("Standard", none)
    elements = [
        ("Storage", stored + stat.part_bytes),
        ("ObjectCount", objects),
        ("MultipartUploadCount", stat.uploads),
        ("LiveChannelCount", 0),
        ("LastModifiedTime", int(time.time())),
        ("StandardStorage", standard[1]),
        ("StandardObjectCount", standard[0]),
    ]
    for sclass, prefix in _CLASS_PREFIX:
        count, size, billed = stat.classes.get(sclass, none)
        elements += [(f"{prefix}Storage", billed), (f"{prefix}RealStorage", size),
                     (f"{prefix}ObjectCount", count)]
    elements += [("MultipartPartCount", stat.parts), ("MultipartPartStorage", stat.part_bytes),
                 ("DeleteMarkerCount", stat.delete_markers)]
    return Response.xml(xml.document("BucketStat", elements))
