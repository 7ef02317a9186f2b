"""The arguments of the object-writing and reading operations, parsed once per request.

Each operation calls its one `parse_*` function, which reads every header and query parameter
the operation needs, validates them and raises the OSS error of the first invalid one (checked
in the order the operations always have: clients and tests see which error wins when several
arguments are wrong), and returns a frozen arguments object. The operation then works from
that object only, and hands its fields to the storage API, which never sees the request.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional
from urllib.parse import parse_qsl, unquote

from .. import errors, numeric
from ..storage import sse
from ..storage.engine import CURRENT, MAX_OBJECT_SIZE
from ..storage.records import NORMAL, BucketRecord, ObjectRecord
from ..wire.names import valid_bucket_name
from ..wire.request import Request
from . import common

MAX_USER_META = 8 * 1024
MAX_PART_NUMBER = 10000
TRAFFIC_LIMIT_RANGE = (245760, 838860800)  # bit/s, the SDKs' documented bounds
COLD_CLASSES = ("ColdArchive", "DeepColdArchive")  # cannot be appendable

# Stored with the object at creation and returned verbatim on GET/HEAD.
_STORED_HEADERS = ("content-type", "cache-control", "content-disposition", "content-encoding",
                   "content-language", "expires")
_SSE_REQUEST_HEADERS = (sse.H_ALGORITHM, sse.H_DATA_ALGORITHM, sse.H_KEY_ID)
_DIRECTIVES = ("COPY", "REPLACE")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# GetObject's response-* query parameters and the response header each one sets.
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


# -- the arguments ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BodyArgs:
    """The body a write sends and what it must match."""
    length: Optional[int]                  # Content-Length; None for a chunked body
    content_md5: Optional[bytes] = None    # Content-MD5, decoded
    expected_crc64: Optional[int] = None   # x-oss-hash-crc64ecma: the whole object's CRC-64


@dataclass(frozen=True)
class CreationHeaders:
    """What a request gives the object it creates; the bucket's defaults (storage class,
    default encryption) apply in `new_object` to what the request leaves out."""
    headers: dict = field(default_factory=lambda: {"content-type": "application/octet-stream"})
    sse: dict = field(default_factory=dict)  # validated SSE request headers; empty: none asked
    storage_class: Optional[str] = None      # None: the bucket's
    tags: tuple = ()
    acl: Optional[str] = None                # None: "default"

    def new_object(self, bucket: BucketRecord, key: str, *, appendable: bool = False) -> ObjectRecord:
        """The attributes of the new object (size, ETag and data are filled by the storage API)."""
        headers = dict(self.headers)
        chosen = dict(self.sse) or common.bucket_default_sse(bucket)
        if appendable:
            # Appendable objects do not support a chosen KMS key; OSS's live tests still accept
            # one: the default managed key is recorded instead (spec §1.2 recommendation).
            chosen.pop(sse.H_KEY_ID, None)
        headers.update(chosen)
        return ObjectRecord(bucket=bucket.name, key=key, type=NORMAL, size=0, crc64=0, etag="", blob="",
                            mtime=0.0, storage_class=self.storage_class or bucket.storage_class,
                            acl=self.acl or "default", headers=headers, tags=list(self.tags))


@dataclass(frozen=True)
class AppendArgs:
    position: int
    body: BodyArgs
    acl: Optional[str]            # x-oss-object-acl: applied to an existing object too
    traffic_limit: Optional[int]
    # Creation headers count only when the append creates the object (position 0); a later
    # append ignores them silently, even invalid ones (OSS behaviour, see the spec's tagging
    # tests). So an invalid one is kept here and raised only if this append creates the object.
    creation: Optional[CreationHeaders] = None
    creation_error: Optional[errors.OssError] = None
    names_storage_class: bool = False   # x-oss-storage-class sent (else the bucket's class applies)

    def new_object(self, bucket: BucketRecord, key: str) -> ObjectRecord:
        """The appendable object this append creates; the storage API asks for it only when the
        key has no object, after the bucket lookup."""
        if self.position != 0:
            # Never stored: the storage API refuses any other position for a missing object.
            return CreationHeaders().new_object(bucket, key)
        error = self.creation_error
        if error is not None:
            # A cold bucket default refuses the append before its tagging header is looked at.
            if error.spec is errors.InvalidTagging and not self.names_storage_class:
                _refuse_cold(bucket.storage_class)
            raise error
        rec = self.creation.new_object(bucket, key, appendable=True)
        _refuse_cold(rec.storage_class)
        return rec


@dataclass(frozen=True)
class PutArgs:
    body: BodyArgs
    traffic_limit: Optional[int]
    forbid_overwrite: bool
    creation: CreationHeaders


@dataclass(frozen=True)
class CopySource:
    """x-oss-copy-source: `/bucket/url-encoded-key[?versionId=...]`."""
    bucket: str
    key: str
    version: object = CURRENT    # as the storage API takes it: CURRENT, None ("null") or the id


@dataclass(frozen=True)
class CopyArgs:
    metadata_directive: str       # COPY or REPLACE
    tagging_directive: str
    forbid_overwrite: bool
    traffic_limit: Optional[int]
    creation: CreationHeaders
    source: CopySource


@dataclass(frozen=True)
class GetArgs:
    traffic_limit: Optional[int]
    overrides: dict               # response header -> value, from the response-* parameters
    range: Optional[str]          # the Range header; evaluated against the object's size
    standard_range: bool          # x-oss-range-behavior: standard (RFC 7233 rules)


@dataclass(frozen=True)
class InitiateArgs:
    creation: CreationHeaders
    forbid_overwrite: bool


@dataclass(frozen=True)
class UploadPartArgs:
    part_number: int
    body: BodyArgs
    traffic_limit: Optional[int]


@dataclass(frozen=True)
class UploadPartCopyArgs:
    part_number: int
    traffic_limit: Optional[int]
    source: CopySource
    range: Optional[str]          # x-oss-copy-source-range


@dataclass(frozen=True)
class CompleteArgs:
    acl: Optional[str]
    forbid_overwrite: bool
    complete_all: Optional[str]   # x-oss-complete-all as sent ("yes" in any case): every part


# -- one parse function per operation ------------------------------------------------------------
def parse_append(req: Request) -> AppendArgs:
    if "versionId" in req.query:
        raise errors.AppendVersionId(ArgumentName="versionId")
    position = parse_position(req)
    length = req.require_length()
    content_md5 = req.content_md5()
    acl = object_acl(req)
    limit = traffic_limit(req)
    body = BodyArgs(length, content_md5, expected_crc64(req))
    creation = error = None
    if position == 0:
        try:
            creation = replace(parse_creation(req, appendable=True), acl=acl)
        except errors.OssError as exc:
            error = exc
    return AppendArgs(position, body, acl, limit, creation, error,
                      names_storage_class="x-oss-storage-class" in req.headers)


def parse_position(req: Request) -> int:
    """AppendObject's and SealAppendObject's `?position=`."""
    raw = req.query.get("position")
    if raw is None:
        raise errors.MissingArgument(ArgumentName="position")
    return numeric.decimal_argument(raw, "position", 0, numeric.MAX_INT64, error=errors.InvalidPosition)


def parse_put(req: Request) -> PutArgs:
    length = req.require_length()
    content_md5 = req.content_md5()
    forbid = forbid_overwrite(req)
    limit = traffic_limit(req)
    body = BodyArgs(length, content_md5, expected_crc64(req))
    return PutArgs(body, limit, forbid, parse_creation(req))


async def parse_copy(req: Request) -> CopyArgs:
    """Async only because CopyObject answers a missing destination bucket after its directives
    and traffic limit but before its creation headers and copy source; the bucket record is then
    on the request (common.require_bucket keeps it there)."""
    meta_directive = _directive(req, "x-oss-metadata-directive")
    tag_directive = _directive(req, "x-oss-tagging-directive")
    forbid = forbid_overwrite(req)
    limit = traffic_limit(req)
    await common.require_bucket(req)
    creation = parse_creation(req)
    return CopyArgs(meta_directive, tag_directive, forbid, limit, creation, parse_copy_source(req))


def parse_get(req: Request) -> GetArgs:
    """GetObject's arguments, read once the object is known to exist, readable and matching its
    conditions (those answers win over an invalid argument)."""
    limit = traffic_limit(req)
    overrides = {}
    for param, header in RESPONSE_OVERRIDES.items():
        if param in req.query:
            value = req.query[param]
            if _CONTROL_CHARS.search(value):  # would split or corrupt the response headers
                raise errors.InvalidArgument(f"{param} must not contain control characters.",
                                             ArgumentName=param)
            overrides[header] = value
    standard = (req.header("x-oss-range-behavior") or "").strip().lower() == "standard"
    return GetArgs(limit, overrides, req.header("range"), standard)


def parse_initiate(req: Request) -> InitiateArgs:
    return InitiateArgs(parse_creation(req), forbid_overwrite(req))


def parse_upload_part(req: Request) -> UploadPartArgs:
    number = part_number(req)
    refuse_sse_headers(req)
    length = req.require_length()
    if length is not None and length > MAX_OBJECT_SIZE:
        raise errors.EntityTooLarge(ArgumentName="Content-Length", ArgumentValue=str(length))
    content_md5 = req.content_md5()
    return UploadPartArgs(number, BodyArgs(length, content_md5), traffic_limit(req))


def parse_upload_part_copy(req: Request) -> UploadPartCopyArgs:
    number = part_number(req)
    limit = traffic_limit(req)
    # An absent or invalid x-oss-copy-source-range copies the whole source (OSS behaviour).
    return UploadPartCopyArgs(number, limit, parse_copy_source(req), req.header("x-oss-copy-source-range"))


def parse_complete(req: Request) -> CompleteArgs:
    refuse_sse_headers(req)
    acl = object_acl(req)
    forbid = forbid_overwrite(req)
    complete_all = req.header("x-oss-complete-all")
    if complete_all is not None and complete_all.lower() != "yes":
        raise errors.InvalidArgument("x-oss-complete-all only accepts the value yes.",
                                     ArgumentName="x-oss-complete-all", ArgumentValue=complete_all[:64])
    return CompleteArgs(acl, forbid, complete_all)


# -- shared pieces --------------------------------------------------------------------------------
def parse_creation(req: Request, *, appendable: bool = False) -> CreationHeaders:
    """The creation headers of PutObject, CopyObject, InitiateMultipartUpload and a first append.
    AppendObject reads x-oss-object-acl with its other arguments (it applies to an existing
    object too), so `appendable` leaves the ACL out."""
    headers = {name: req.headers[name] for name in _STORED_HEADERS if name in req.headers}
    headers.setdefault("content-type", "application/octet-stream")
    headers.update(user_metadata(req))
    chosen_sse = sse_headers(req)
    sclass = storage_class(req)
    if appendable and sclass is not None:
        _refuse_cold(sclass)
    tag_header = req.utf8_header("x-oss-tagging")
    tags = tuple(parse_tagging(tag_header)) if tag_header is not None else ()
    acl = None if appendable else object_acl(req)
    return CreationHeaders(headers, chosen_sse, sclass, tags, acl)


def _refuse_cold(sclass: str) -> None:
    if sclass in COLD_CLASSES:
        raise errors.AppendColdArchive(ArgumentName="x-oss-storage-class", ArgumentValue=sclass)


def object_acl(req: Request) -> Optional[str]:
    value = req.header("x-oss-object-acl")
    if value is None:
        return None
    if value not in common.OBJECT_ACLS:
        raise errors.InvalidObjectAcl(ArgumentName="x-oss-object-acl", ArgumentValue=value)
    return value


def storage_class(req: Request) -> Optional[str]:
    """x-oss-storage-class in its canonical spelling; None when not sent."""
    value = req.header("x-oss-storage-class")
    if value is None:
        return None
    if value == "":
        raise errors.EmptyStorageClass()
    for known in common.STORAGE_CLASSES:  # OSS accepts any letter case here
        if value.lower() == known.lower():
            return known
    raise errors.InvalidStorageClass(ArgumentName="x-oss-storage-class", ArgumentValue=value)


def parse_tagging(value: str) -> list[tuple[str, str]]:
    """`k1=v1&k2=v2` (URL-encoded UTF-8) into validated tag pairs. The header form answers
    InvalidArgument, with the EC of the rule that failed."""
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=bool(value),
                          errors="strict")
        common.validate_tags(pairs)
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidTagging()
    except errors.OssError as exc:
        raise errors.InvalidTagging(ec=exc.ec)
    return pairs


def user_metadata(req: Request) -> dict[str, str]:
    # Values are kept as received (raw bytes as latin-1 text) and returned byte for byte.
    meta = {name: value for name, value in req.headers.items() if name.startswith("x-oss-meta-")}
    if sum(len(k) + len(v) for k, v in meta.items()) > MAX_USER_META:
        raise errors.MetadataTooLarge()
    return meta


def sse_headers(req: Request) -> dict[str, str]:
    """The request's validated server-side-encryption headers (empty: it asks for none). A KMS
    key id stays as requested; the storage API replaces it with the key it really uses."""
    out = {}
    alg = req.header(sse.H_ALGORITHM)
    if alg is None:
        return out
    if alg not in common.SSE_ALGORITHMS:
        raise errors.InvalidEncryptionAlgorithm()
    out[sse.H_ALGORITHM] = alg
    # x-oss-server-side-data-encryption only means something with KMS; beside AES256, SM4 or no
    # algorithm OSS ignores it (oss2's test_server_side_encryotion puts objects that way and
    # expects no data-encryption header back).
    data_alg = req.header(sse.H_DATA_ALGORITHM)
    if data_alg is not None and alg == sse.KMS:
        if data_alg != sse.SM4:
            raise errors.InvalidDataEncryptionAlgorithm()
        out[sse.H_DATA_ALGORITHM] = data_alg
    key_id = req.header(sse.H_KEY_ID)
    if alg == sse.KMS and key_id:
        out[sse.H_KEY_ID] = key_id
    return out


def refuse_sse_headers(req: Request) -> None:
    """UploadPart and CompleteMultipartUpload take their encryption from the upload's initiation;
    OSS answers InvalidArgument when they name one (oss2's test_server_side_encryotion
    test_multipart_upload)."""
    for name in _SSE_REQUEST_HEADERS:
        value = req.header(name)
        if value is not None:
            raise errors.InvalidArgument(f"{name} is only allowed when the multipart upload is initiated.",
                                         ArgumentName=name, ArgumentValue=value[:128])


def traffic_limit(req: Request) -> Optional[int]:
    """The validated bandwidth cap in bit/s: the header, else the query parameter (presigned URLs)."""
    value = common.header_or_query(req, "x-oss-traffic-limit", "x-oss-traffic-limit")
    if value is None:
        return None
    return numeric.decimal_argument(value, "x-oss-traffic-limit", *TRAFFIC_LIMIT_RANGE,
                                    message="x-oss-traffic-limit must be between 245760 and 838860800 bit/s.")


def expected_crc64(req: Request) -> Optional[int]:
    """A client's expected whole-object CRC-64 (x-oss-hash-crc64ecma on a write), if sent."""
    raw = req.header("x-oss-hash-crc64ecma")
    if raw is None:
        return None
    return numeric.decimal_argument(raw, "x-oss-hash-crc64ecma", 0, (1 << 64) - 1,
                                    message="x-oss-hash-crc64ecma is not a valid CRC-64.")


def forbid_overwrite(req: Request) -> bool:
    return (req.header("x-oss-forbid-overwrite") or "").strip().lower() == "true"


def part_number(req: Request) -> int:
    raw = req.query.get("partNumber")
    if raw is None:
        raise errors.MissingArgument(ArgumentName="partNumber")
    return numeric.decimal_argument(raw, "partNumber", 1, MAX_PART_NUMBER, error=errors.InvalidPartNumber)


def _directive(req: Request, name: str) -> str:
    raw = req.header(name)
    if raw is None:
        return "COPY"
    value = raw.strip().upper()
    if value not in _DIRECTIVES:
        raise errors.InvalidArgument(f"The {name} header must be COPY or REPLACE.",
                                     ArgumentName=name, ArgumentValue=raw)
    return value


def parse_copy_source(req: Request) -> CopySource:
    """`x-oss-copy-source: /bucket/url-encoded-key[?versionId=...]`, its version id validated."""
    raw = req.utf8_header("x-oss-copy-source")
    if not raw:
        raise errors.InvalidCopySource()
    path, sep, query = raw.strip().partition("?")
    version = None
    if sep:
        try:
            params = parse_qsl(query, keep_blank_values=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise errors.InvalidCopySource()
        for name, value in params:
            if name != "versionId":
                raise errors.InvalidCopySource()
            version = value
    try:
        path = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidCopySource()
    if path.startswith("/"):
        path = path[1:]
    bucket, slash, key = path.partition("/")
    if not slash or not key or not valid_bucket_name(bucket) or len(key.encode("utf-8")) > 1023:
        raise errors.InvalidCopySource()
    return CopySource(bucket, key, CURRENT if version is None else common.version_id(version))
