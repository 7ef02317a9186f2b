"""What several operations share: bucket and version lookup, tag rules, throttling, header rendering.
Request arguments are parsed in args.py."""
from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from email.utils import formatdate, parsedate_to_datetime
from typing import AsyncIterator, Optional

from .. import errors
from ..wire import xml
from ..wire.request import Request
from ..storage import sse
from ..storage.engine import CURRENT
from ..storage.lifecycle import LAST_ACCESS
from ..storage.records import APPENDABLE, NORMAL, BucketRecord, ObjectRecord

OBJECT_ACLS = ("default", "private", "public-read", "public-read-write")
BUCKET_ACLS = ("private", "public-read", "public-read-write")
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
SSE_ALGORITHMS = (sse.AES256, sse.KMS, sse.SM4)
MAX_TAGS = 10
# Every bucket is in the account's default resource group: ossbox has no resource groups, and
# "rg-default-id" is the id OSS documents for the default one (GetBucketResourceGroup).
RESOURCE_GROUP = "rg-default-id"
# Besides letters and digits (any script: OSS's tag rules name "letters" and digits, and oss2's own
# tests store Chinese tag keys and values; the combining marks that scripts such as Devanagari
# write letters with count as letters), a tag may hold spaces and these symbols.
TAG_SYMBOLS = frozenset(" +-=._:/")


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def iso8601(ts: float) -> str:
    # Always ".000Z": OSS writes whole seconds and oss2 refuses any other fraction.
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def parse_http_date(value: str) -> Optional[float]:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def header_or_query(req: Request, header: str, param: str) -> Optional[str]:
    """A setting sent as a header, or as a query parameter (how a presigned URL carries it)."""
    value = req.header(header)
    return req.query.get(param) if value is None else value


async def require_bucket(req: Request) -> BucketRecord:
    rec = req.bucket_record
    if rec is None:
        rec = req.bucket_record = await req.server.engine.require_bucket(req.bucket)
    return rec


async def require_object(req: Request) -> ObjectRecord:
    return (await locate_object(req))[1]


async def locate_object(req: Request) -> tuple[BucketRecord, ObjectRecord]:
    """The bucket and the object version the request names: the current one, or `?versionId=`'s."""
    bucket = await require_bucket(req)
    version = version_param(req)
    if version is CURRENT:
        rec = await req.server.engine.get_object(req.bucket, req.key)
        if rec is None:
            raise await no_such_key(req, bucket)
        return bucket, rec
    return bucket, await require_version(req, req.bucket, req.key, version)


# -- versions -----------------------------------------------------------------------------------
MAX_VERSION_ID = 1024


def version_param(req: Request, raw: Optional[str] = None):
    """`?versionId=` as the engine takes it: CURRENT when absent, None for "null", else the id."""
    raw = req.query.get("versionId") if raw is None else raw
    return CURRENT if raw is None else version_id(raw)


# OSS's version ids are "CAEQ" + base64 (its samples also hold '.'): OSS decodes them, so an id of
# another shape is malformed (EC 0012-00000202, "the versionId is not valid"; oss2's
# test_delete_object_versions_with_invalid_arguments expects InvalidArgument for '234'), while a
# well-formed id that names no version is simply not found. ossbox makes only ids of this shape
# (storage/records.py, new_version_id).
_VERSION_ID_SHAPE = re.compile(r"CAEQ[A-Za-z0-9+/=._-]*")


def version_id(raw: str):
    """A version id as the engine takes it: None for "null", else the id."""
    if not raw or len(raw) > MAX_VERSION_ID:
        raise errors.InvalidArgument("Invalid version id specified", ArgumentName="versionId",
                                     ArgumentValue=raw[:64])
    if raw != "null" and not _VERSION_ID_SHAPE.fullmatch(raw):
        raise errors.InvalidVersionId(ArgumentName="versionId", ArgumentValue=raw[:64])
    return None if raw == "null" else raw


def versioning(bucket: BucketRecord) -> Optional[str]:
    return bucket.config.get("versioning")


def version_headers(bucket: BucketRecord, rec: ObjectRecord) -> dict[str, str]:
    """x-oss-version-id, sent for objects of buckets that have (had) versioning enabled."""
    if rec.version_id is None and versioning(bucket) is None:
        return {}
    return {"x-oss-version-id": rec.version_id or "null"}


async def require_version(req: Request, bucket: str, key: str, version: Optional[str]) -> ObjectRecord:
    """A specific version; a delete marker cannot be read (405, as S3 does)."""
    rec = await req.server.engine.get_version(bucket, key, version)
    if rec is None:
        raise errors.NoSuchVersion(Key=key, VersionId=version or "null")
    if rec.is_delete_marker:
        raise errors.MethodNotAllowed(
            "The specified version is a delete marker.", Method=req.method, ResourceType="DeleteMarker",
            headers={"x-oss-delete-marker": "true", "x-oss-version-id": version or "null",
                     "last-modified": http_date(rec.mtime)})
    return rec


async def no_such_key(req: Request, bucket: BucketRecord) -> errors.OssError:
    """404 for a missing key; when its latest version is a delete marker the response says so."""
    headers = {}
    if versioning(bucket) is not None:
        newest = await req.server.engine.newest_noncurrent(req.bucket, req.key)
        if newest is not None and newest.is_delete_marker:
            headers = {"x-oss-delete-marker": "true", "x-oss-version-id": newest.version_id or "null"}
    return errors.NoSuchKey(Key=req.key, headers=headers)


# -- validation ---------------------------------------------------------------------------------
def tag_text_ok(text: str) -> bool:
    """Only the characters OSS allows in tag keys and values (object, bucket and lifecycle tags)."""
    return all(c in TAG_SYMBOLS or unicodedata.category(c)[0] in "LMN" for c in text)


def validate_tags(pairs) -> None:
    """At most 10 tags; unique keys of 1..128 and values of 0..256 allowed characters. Lengths
    count characters, not UTF-8 bytes (OSS's limits are in characters)."""
    if len(pairs) > MAX_TAGS:
        raise errors.TooManyTags()
    seen = set()
    for k, v in pairs:
        if not k or len(k) > 128 or len(v) > 256 or not tag_text_ok(k) or not tag_text_ok(v):
            raise errors.InvalidTag()
        if k in seen:
            raise errors.DuplicateTagKey()
        seen.add(k)


def parse_tag_set(body: bytes) -> list[tuple[str, str]]:
    """The (key, value) pairs of a Tagging/TagSet/Tag document (object and bucket tagging);
    the caller validates them against its own limits."""
    root = xml.parse(body, "Tagging")
    tag_sets = xml.children(root, "TagSet")
    if len(tag_sets) != 1:
        raise errors.MalformedXML()
    pairs = []
    for tag in xml.children(tag_sets[0], "Tag"):
        key = xml.child_text(tag, "Key")
        if key is None:
            raise errors.InvalidTag()
        pairs.append((key, xml.child_text(tag, "Value", "")))
    return pairs


def bucket_default_sse(bucket: BucketRecord) -> dict[str, str]:
    """The bucket's default encryption (PutBucketEncryption) as SSE request headers."""
    rule = bucket.config.get("encryption")
    if not rule:
        return {}
    out = {sse.H_ALGORITHM: rule["SSEAlgorithm"]}
    if rule.get("KMSDataEncryption"):
        out[sse.H_DATA_ALGORITHM] = rule["KMSDataEncryption"]
    if rule.get("KMSMasterKeyID"):
        out[sse.H_KEY_ID] = rule["KMSMasterKeyID"]
    return out


class Throttle:
    """A token bucket in bytes: `await take(n)` sleeps until n bytes fit within the rate. The bucket
    starts (and refills to at most) 1/8 s worth, so only a small burst passes unthrottled."""

    BURST_SECONDS = 0.125

    def __init__(self, bits_per_second: int):
        self.rate = bits_per_second / 8.0
        self.burst = max(1.0, self.rate * self.BURST_SECONDS)
        self.piece = max(1, int(self.burst))
        self.tokens = self.burst
        self.last = time.monotonic()

    async def take(self, n: int) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= n
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)

    async def wrap(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """`chunks` re-yielded at the rate, big chunks cut into burst-sized pieces."""
        try:
            async for chunk in chunks:
                view = memoryview(chunk)
                for i in range(0, len(view), self.piece):
                    piece = view[i:i + self.piece]
                    await self.take(len(piece))
                    yield bytes(piece) if len(view) > self.piece else chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()


async def primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` with its first chunk already read. A download is answered 200 and its headers
    before its body streams, so a store that fails at the start (segment mode: the object store is
    unreachable) must fail here, while the error can still be an OSS error response (503)
    instead of a 200 whose body is cut off."""
    it = chunks.__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        first = None

    async def rest():
        try:
            if first is not None:
                yield first
                async for chunk in it:
                    yield chunk
        finally:
            await it.aclose()
    return rest()


def throttled(limit: Optional[int], chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` (a request body or a download) capped at a request's x-oss-traffic-limit (bit/s);
    returned unchanged when the request sets none."""
    if limit is None:
        return chunks
    return Throttle(limit).wrap(chunks)


# -- rendering ----------------------------------------------------------------------------------
def sse_response_headers(rec) -> dict[str, str]:
    """The stored SSE headers of an object or upload record (the KMS key id really used)."""
    return {k: v for k, v in rec.headers.items() if k.startswith("x-oss-server-side-")}


# On every GetObject/HeadObject answer: this server takes `?x-ossbox-watch` (ops/watch.py), so a
# client may wait for the object to change instead of polling HEAD. Real OSS sends no such header.
WATCH_DISCOVERY = {"x-ossbox-watch": "1"}


def object_headers(rec: ObjectRecord, restore: Optional[str] = None) -> dict[str, str]:
    """Metadata headers of GET/HEAD (not Content-Length: callers decide that). `restore` is the
    object's x-oss-restore value, when a RestoreObject was requested (see ops.restore)."""
    h = dict(rec.headers)
    h.pop(LAST_ACCESS, None)  # access tracking's own record, not a header (ops/access_tracking.py)
    h["etag"] = f'"{rec.etag}"'
    h["last-modified"] = http_date(rec.mtime)
    h["accept-ranges"] = "bytes"
    h["x-oss-object-type"] = rec.type
    h["x-oss-storage-class"] = rec.storage_class
    h["x-oss-hash-crc64ecma"] = str(rec.crc64)
    if rec.type == APPENDABLE:
        h["x-oss-next-append-position"] = str(rec.size)
    if rec.type == NORMAL and rec.content_md5:
        h["content-md5"] = rec.content_md5
    if rec.tags:
        h["x-oss-tagging-count"] = str(len(rec.tags))
    if rec.sealed is not None:
        h["x-oss-sealed-time"] = http_date(rec.sealed)
    if restore is not None:
        h["x-oss-restore"] = restore
    h.update(WATCH_DISCOVERY)
    return h


def owner_xml(req: Request):
    return ("Owner", [("ID", req.server.owner_id), ("DisplayName", req.server.owner_id)])
