"""What several operations share: bucket lookup, creation headers, tags, ACLs, header rendering."""
from __future__ import annotations

import asyncio
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import AsyncIterator, Optional
from urllib.parse import parse_qsl

from .. import errors, numeric
from ..wire.request import Request
from ..storage import sse
from ..storage.engine import CURRENT
from ..storage.records import APPENDABLE, NORMAL, BucketRecord, ObjectRecord

OBJECT_ACLS = ("default", "private", "public-read", "public-read-write")
BUCKET_ACLS = ("private", "public-read", "public-read-write")
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
SSE_ALGORITHMS = (sse.AES256, sse.KMS, sse.SM4)
MAX_USER_META = 8 * 1024
MAX_TAGS = 10
TAG_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +-=._:/")
TRAFFIC_LIMIT_RANGE = (245760, 838860800)  # bit/s, the SDKs' documented bounds

# Stored with the object at creation and returned verbatim on GET/HEAD.
_STORED_HEADERS = ("content-type", "cache-control", "content-disposition", "content-encoding",
                   "content-language", "expires")


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
    if raw is None:
        return CURRENT
    if not raw or len(raw) > MAX_VERSION_ID:
        raise errors.InvalidArgument("Invalid version id specified", ArgumentName="versionId",
                                     ArgumentValue=raw[:64])
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
def object_acl(req: Request) -> Optional[str]:
    value = req.header("x-oss-object-acl")
    if value is None:
        return None
    if value not in OBJECT_ACLS:
        raise errors.InvalidObjectAcl(ArgumentName="x-oss-object-acl", ArgumentValue=value)
    return value


def storage_class(req: Request, default: str) -> str:
    value = req.header("x-oss-storage-class")
    if value is None:
        return default
    if value == "":
        raise errors.EmptyStorageClass()
    for known in STORAGE_CLASSES:  # OSS accepts any letter case here
        if value.lower() == known.lower():
            return known
    raise errors.InvalidStorageClass(ArgumentName="x-oss-storage-class", ArgumentValue=value)


def parse_tagging(value: str) -> list[tuple[str, str]]:
    """`k1=v1&k2=v2` (URL-encoded UTF-8) into validated tag pairs. The header form answers
    InvalidArgument, with the EC of the rule that failed."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value),
                          errors="strict")
        validate_tags(pairs)
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidTagging()
    except errors.OssError as exc:
        raise errors.InvalidTagging(ec=exc.ec)
    return pairs


def validate_tags(pairs) -> None:
    """At most 10 tags; unique keys of 1..128 and values of 0..256 allowed characters."""
    if len(pairs) > MAX_TAGS:
        raise errors.TooManyTags()
    seen = set()
    for k, v in pairs:
        if not k or len(k) > 128 or len(v) > 256 or not set(k) <= TAG_CHARS or not set(v) <= TAG_CHARS:
            raise errors.InvalidTag()
        if k in seen:
            raise errors.DuplicateTagKey()
        seen.add(k)


def user_metadata(req: Request) -> dict[str, str]:
    # Values are kept as received (raw bytes as latin-1 text) and returned byte for byte.
    meta = {name: value for name, value in req.headers.items() if name.startswith("x-oss-meta-")}
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_USER_META:
        raise errors.MetadataTooLarge()
    return meta


def sse_headers(req: Request) -> dict[str, str]:
    """The request's validated server-side-encryption headers (empty: it asks for none). A KMS
    key id stays as requested; the engine replaces it with the key it really uses."""
    out = {}
    alg = req.header(sse.H_ALGORITHM)
    if alg is None:
        if req.header(sse.H_DATA_ALGORITHM) is not None:
            raise errors.InvalidDataEncryptionAlgorithm()
        return out
    if alg not in SSE_ALGORITHMS:
        raise errors.InvalidEncryptionAlgorithm()
    out[sse.H_ALGORITHM] = alg
    data_alg = req.header(sse.H_DATA_ALGORITHM)
    if data_alg is not None:
        if data_alg != sse.SM4 or alg != sse.KMS:
            raise errors.InvalidDataEncryptionAlgorithm()
        out[sse.H_DATA_ALGORITHM] = data_alg
    key_id = req.header(sse.H_KEY_ID)
    if alg == sse.KMS and key_id:
        out[sse.H_KEY_ID] = key_id
    return out


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


def sse_choice(req: Request, bucket: BucketRecord, for_append: bool = False) -> dict[str, str]:
    """The SSE a new object gets: the request's headers, else the bucket's default encryption."""
    chosen = sse_headers(req) or bucket_default_sse(bucket)
    if for_append:
        # Appendable objects do not support a chosen KMS key; OSS's live tests still accept one:
        # the default managed key is recorded instead (spec §1.2 recommendation).
        chosen.pop(sse.H_KEY_ID, None)
    return chosen


def traffic_limit(req: Request) -> Optional[int]:
    """The validated bandwidth cap in bit/s: the header, else the query parameter (presigned URLs)."""
    value = req.header("x-oss-traffic-limit")
    if value is None:
        value = req.query.get("x-oss-traffic-limit")
    if value is None:
        return None
    return numeric.decimal_argument(value, "x-oss-traffic-limit", *TRAFFIC_LIMIT_RANGE,
                                    message="x-oss-traffic-limit must be between 245760 and 838860800 bit/s.")


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


def throttled(req: Request, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` (a request body or a download) capped at the request's x-oss-traffic-limit;
    returned unchanged when the request sets none."""
    limit = traffic_limit(req)
    if limit is None:
        return chunks
    return Throttle(limit).wrap(chunks)


def expected_crc64(req: Request) -> Optional[int]:
    """A client's expected whole-object CRC-64 (x-oss-hash-crc64ecma on a write), if sent."""
    raw = req.header("x-oss-hash-crc64ecma")
    if raw is None:
        return None
    return numeric.decimal_argument(raw, "x-oss-hash-crc64ecma", 0, (1 << 64) - 1,
                                    message="x-oss-hash-crc64ecma is not a valid CRC-64.")


def new_object_template(req: Request, bucket: BucketRecord, *, strict: bool = True,
                        for_append: bool = False) -> ObjectRecord:
    """Attributes a write request gives a new object. With strict=False (an append that will
    probably not create the object) invalid creation headers are dropped instead of refused."""
    def checked(fn, *args, fallback):
        if strict:
            return fn(*args)
        try:
            return fn(*args)
        except errors.OssError:
            return fallback

    headers = {name: req.headers[name] for name in _STORED_HEADERS if name in req.headers}
    headers.setdefault("content-type", "application/octet-stream")
    headers.update(checked(user_metadata, req, fallback={}))
    headers.update(checked(sse_choice, req, bucket, for_append, fallback={}))
    sclass = checked(storage_class, req, bucket.storage_class, fallback=bucket.storage_class)
    if for_append and sclass in ("ColdArchive", "DeepColdArchive"):
        if strict:
            raise errors.AppendColdArchive(ArgumentName="x-oss-storage-class", ArgumentValue=sclass)
        sclass = bucket.storage_class
    tag_header = req.utf8_header("x-oss-tagging")
    tags = checked(parse_tagging, tag_header, fallback=[]) if tag_header is not None else []
    acl = checked(object_acl, req, fallback=None) or "default"
    return ObjectRecord(bucket=bucket.name, key=req.key, type=NORMAL, size=0, crc64=0, etag="",
                        blob="", mtime=0.0, storage_class=sclass, acl=acl, headers=headers, tags=tags)


# -- rendering ----------------------------------------------------------------------------------
def sse_response_headers(rec) -> dict[str, str]:
    """The stored SSE headers of an object or upload record (the KMS key id really used)."""
    return {k: v for k, v in rec.headers.items() if k.startswith("x-oss-server-side-")}


def object_headers(rec: ObjectRecord, restore: Optional[str] = None) -> dict[str, str]:
    """Metadata headers of GET/HEAD (not Content-Length: callers decide that). `restore` is the
    object's x-oss-restore value, when a RestoreObject was requested (see ops.restore)."""
    h = dict(rec.headers)
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
    return h


def owner_xml(req: Request):
    return ("Owner", [("ID", req.server.owner_id), ("DisplayName", req.server.owner_id)])
