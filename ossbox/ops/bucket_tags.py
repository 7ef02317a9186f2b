"""Bucket tags: Put/Get/DeleteBucketTags (`?tagging` on a bucket), kept in BucketRecord.config.

OSS's rules (PutBucketTags and its error pages 0010-00000207/0010-00000219): at most 20 tags; a
key is 1..64 bytes of UTF-8 and does not start with http://, https://, Aliyun (any case) or acs:;
a value is at most 128 bytes of UTF-8. PutBucketTags replaces the whole tag set (overwrite
semantics); DeleteBucketTags removes all tags, or with `?tagging=k1,k2` only those keys.
"""
from __future__ import annotations

from typing import Optional

from .. import errors
from ..storage.records import BucketRecord
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_config, common

MAX_BUCKET_TAGS = 20
MAX_KEY_BYTES = 64
MAX_VALUE_BYTES = 128
_RESERVED_PREFIXES = ("http://", "https://", "aliyun", "acs:")


def _validate(pairs: list[tuple[str, str]]) -> None:
    if len(pairs) > MAX_BUCKET_TAGS:
        raise errors.TooManyBucketTags()
    seen = set()
    for key, value in pairs:
        if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES or len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise errors.InvalidBucketTag(ArgumentName="Key", ArgumentValue=key[:128])
        if key.lower().startswith(_RESERVED_PREFIXES):
            raise errors.InvalidBucketTagPrefix(ArgumentName="Key", ArgumentValue=key[:128])
        if key in seen:
            raise errors.DuplicateTagKey(ArgumentName="Key", ArgumentValue=key[:128])
        seen.add(key)


async def put_bucket_tags(req: Request) -> Response:
    rec = await common.require_bucket(req)
    pairs = common.parse_tag_set(await req.read_xml_body())
    _validate(pairs)
    await bucket_config.set_config(req, rec, "tags", [list(p) for p in pairs] or None)
    return Response(200, {}, b"")


async def get_bucket_tags(req: Request) -> Response:
    """A bucket without tags answers an empty TagSet (200), as OSS does."""
    rec = await common.require_bucket(req)
    tags = rec.config.get("tags") or []
    return Response.xml(xml.document("Tagging", [
        ("TagSet", [("Tag", [("Key", k), ("Value", v)]) for k, v in tags]),
    ]))


async def delete_bucket_tags(req: Request) -> Response:
    """204 whether or not the tags existed."""
    rec = await common.require_bucket(req)
    names = {k for k in req.query.get("tagging", "").split(",") if k}
    if names:
        kept = [[k, v] for k, v in rec.config.get("tags") or [] if k not in names]
        await bucket_config.set_config(req, rec, "tags", kept or None)
    else:
        await bucket_config.set_config(req, rec, "tags", None)
    return Response(204, {}, b"")


# -- ListBuckets by tag -----------------------------------------------------------------------------
def tag_filter(req: Request) -> Optional[tuple[str, Optional[str]]]:
    """ListBuckets' `tag-key` (and optional `tag-value`) filter, or None. A `tag-value` without a
    `tag-key` filters nothing meaningful: refused (ossbox's choice; OSS documents tag-value as
    usable only together with tag-key)."""
    key = req.query.get("tag-key")
    value = req.query.get("tag-value")
    if not key:
        if value is not None:
            raise errors.InvalidArgument("tag-value needs tag-key.", ArgumentName="tag-value",
                                         ArgumentValue=value[:128])
        return None
    return key, value


def has_tag(rec: BucketRecord, key: str, value: Optional[str]) -> bool:
    return any(k == key and (value is None or v == value) for k, v in rec.config.get("tags") or ())
