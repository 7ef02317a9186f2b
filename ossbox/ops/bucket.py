"""Bucket operations: create/delete, info/location/ACL, the object listings, batch delete."""
from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import re
import time
from urllib.parse import quote

from .. import errors, numeric
from ..auth.policy import parse_policy
from ..wire import xml
from ..wire.request import Request, Response
from ..storage import sse
from ..storage.engine import CURRENT
from ..storage.records import BucketRecord
from . import common, restore

DEFAULT_MAX_KEYS = 100
MAX_KEYS = 1000
MAX_DELETE_KEYS = 1000
MAX_DELETE_BODY = 6 * 1024 * 1024   # 1000 keys of 1023 bytes, even with every byte XML-escaped
MAX_NAME_BYTES = 1023          # prefix / marker / delimiter values must be shorter than 1024 bytes
_DELETE_CONCURRENCY = 64
# XML 1.0 forbids C0 control characters even as character references, but keys may contain them and
# alibabacloud-oss-v2 sends them as `&#07;` (oss2 sends them raw). See _parse_delete.
_CTRL_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{1,2})|0*([0-9]{1,2}));")
_RAW_CTRL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CTRL_STANDIN = 0xE000        # private-use stand-ins U+E000..U+E01F, used only if the body has none
_STANDIN_BYTES = re.compile(rb"\xee\x80[\x80-\x9f]")  # UTF-8 of U+E000..U+E01F


# -- shared helpers -----------------------------------------------------------------------------
def endpoint(req: Request) -> str:
    """The endpoint the client used (the request Host without a virtual-hosted bucket label)."""
    host = req.host
    if req.bucket and host[: len(req.bucket) + 1].lower() == req.bucket + ".":
        return host[len(req.bucket) + 1:]
    return host


def max_keys(req: Request, low: int = 0, high: int = MAX_KEYS, default: int = DEFAULT_MAX_KEYS,
             name: str = "max-keys") -> int:
    value = req.query.get(name)
    if value is None:
        return default
    return numeric.decimal_argument(value, name, low, high, error=errors.InvalidMaxKeys,
                                    message=f"{name} must be an integer between {low} and {high}.")


def _param(req: Request, name: str) -> str:
    """A listing parameter; absent and empty are the same (oss2 sends `marker=` etc.)."""
    value = req.query.get(name, "")
    if len(value) > MAX_NAME_BYTES // 4 and len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise errors.InvalidArgument(f"The {name} must be shorter than 1024 bytes.",
                                     ArgumentName=name, ArgumentValue=value[:64])
    return value


def _url(text: str) -> str:
    return quote(text, safe="")


def _plain(text: str) -> str:
    return text


def encoder(req: Request):
    """(encode function, EncodingType element value) from `encoding-type`."""
    value = req.query.get("encoding-type")
    if not value:
        return _plain, None
    if value.lower() != "url":
        raise errors.InvalidEncodingType(ArgumentName="encoding-type", ArgumentValue=value)
    return _url, "url"


def _split(entries: list) -> tuple[list, list]:
    objs = [e for e in entries if not isinstance(e, str)]
    prefixes = [e for e in entries if isinstance(e, str)]
    return objs, prefixes


def _elems(children) -> str:
    """Flat text elements (None left out, booleans as true/false), as xml.document renders them."""
    out = []
    for tag, value in children:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"<{tag}>{xml.escape(str(value))}</{tag}>")
    return "".join(out)


def _owner_text(req: Request) -> str:
    owner = xml.escape(req.server.owner_id)
    return f"<Owner><ID>{owner}</ID><DisplayName>{owner}</DisplayName></Owner>"


async def restore_infos(req: Request, objs: list) -> dict[str, str]:
    """<RestoreInfo> texts by blob for the archived objects of a listing page that have a restore
    requested (one lookup per archived object; other classes cost nothing)."""
    infos = {}
    now = time.time()
    for rec in objs:
        if rec.storage_class in restore.ARCHIVE_CLASSES and not rec.is_delete_marker:
            text = restore.header_value(await req.server.engine.get_restore(rec), now)
            if text is not None:
                infos[rec.blob] = text
    return infos


def _restore_xml(infos: dict, rec) -> str:
    text = infos.get(rec.blob)
    return "" if text is None else f"<RestoreInfo>{xml.escape(text)}</RestoreInfo>"


def _entries_xml(tag: str, objs: list, enc, owner: str, infos: dict) -> str:
    """<Contents> elements, rendered directly: a 1000-key page is most of the response and the
    generic renderer would cost several milliseconds for it."""
    out = []
    stamps: dict[int, str] = {}
    esc = xml.escape
    for r in objs:
        ts = int(r.mtime)
        stamp = stamps.get(ts)
        if stamp is None:
            stamp = stamps[ts] = common.iso8601(ts)
        out.append(f"<{tag}><Key>{esc(enc(r.key))}</Key><LastModified>{stamp}</LastModified>"
                   f"<ETag>\"{esc(r.etag)}\"</ETag><Type>{r.type}</Type><Size>{r.size}</Size>"
                   f"<StorageClass>{r.storage_class}</StorageClass>{owner}{_restore_xml(infos, r)}</{tag}>")
    return "".join(out)


def _prefixes_xml(prefixes: list, enc) -> str:
    esc = xml.escape
    return "".join(f"<CommonPrefixes><Prefix>{esc(enc(p))}</Prefix></CommonPrefixes>" for p in prefixes)


def _listing(root: str, head: str, body: str, tail: str = "") -> Response:
    return Response.xml(f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{head}{body}{tail}</{root}>'
                        .encode("utf-8"))


# -- PutBucket / DeleteBucket -------------------------------------------------------------------
async def put_bucket(req: Request) -> Response:
    acl = req.header("x-oss-acl") or "private"
    if acl not in common.BUCKET_ACLS:
        raise errors.InvalidBucketAcl(ArgumentName="x-oss-acl", ArgumentValue=acl)
    storage_class = "Standard"
    explicit_class = False
    redundancy = "LRS"
    body = await req.read_xml_body()
    if body.strip():
        root = xml.parse(body, "CreateBucketConfiguration")
        given = xml.child_text(root, "StorageClass")
        if given is not None:
            explicit_class = True
            for known in common.STORAGE_CLASSES:  # OSS accepts any letter case here
                if given.lower() == known.lower():
                    storage_class = known
                    break
            else:
                raise errors.InvalidStorageClass(ArgumentName="StorageClass", ArgumentValue=given)
        redundancy = xml.child_text(root, "DataRedundancyType", redundancy)
        if redundancy not in ("LRS", "ZRS"):
            raise errors.InvalidArgument("Invalid DataRedundancyType.", ArgumentName="DataRedundancyType",
                                         ArgumentValue=redundancy)
    rec = BucketRecord(name=req.bucket, owner=req.server.owner_id, created=time.time(),
                       region=req.server.config.region, acl=acl, storage_class=storage_class,
                       redundancy=redundancy)
    created, existing = await req.server.engine.create_bucket(rec)
    if not created:
        if existing.owner != req.server.owner_id:
            raise errors.BucketAlreadyExists(BucketName=req.bucket)
        if explicit_class and existing.storage_class != storage_class:
            raise errors.BucketStorageClassConflict(BucketName=req.bucket)
    return Response(200, {"location": f"/{req.bucket}"}, b"")


async def delete_bucket(req: Request) -> Response:
    await req.server.engine.delete_bucket(req.bucket)
    return Response(204, {}, b"")


# -- GetBucketInfo / GetBucketLocation / bucket ACL ---------------------------------------------
async def get_bucket_info(req: Request) -> Response:
    rec = await common.require_bucket(req)
    if req.method == "HEAD":
        return Response(200, {}, b"")
    ep = endpoint(req)
    owner = req.server.owner_id
    info = [
        ("AccessMonitor", "Disabled"),
        ("CreationDate", common.iso8601(rec.created)),
        ("ExtranetEndpoint", ep),
        ("IntranetEndpoint", ep),
        ("Location", f"oss-{rec.region}"),
        ("StorageClass", rec.storage_class),
        ("TransferAcceleration", "Disabled"),
        ("CrossRegionReplication", "Disabled"),
        ("DataRedundancyType", rec.redundancy),
        ("Name", rec.name),
        ("Region", rec.region),
        ("Owner", [("DisplayName", rec.owner or owner), ("ID", rec.owner or owner)]),
        ("AccessControlList", [("Grant", rec.acl)]),
        ("ServerSideEncryptionRule", _encryption_elements(rec) or [("SSEAlgorithm", "None")]),
        ("BucketPolicy", [("LogBucket", ""), ("LogPrefix", "")]),
        ("Versioning", rec.config.get("versioning")),
    ]
    return Response.xml(xml.document("BucketInfo", [("Bucket", info)]))


async def get_bucket_location(req: Request) -> Response:
    rec = await common.require_bucket(req)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<LocationConstraint>oss-{xml.escape(rec.region)}</LocationConstraint>").encode()
    return Response.xml(body)


async def get_bucket_acl(req: Request) -> Response:
    rec = await common.require_bucket(req)
    owner = rec.owner or req.server.owner_id
    return Response.xml(xml.document("AccessControlPolicy", [
        ("Owner", [("ID", owner), ("DisplayName", owner)]),
        ("AccessControlList", [("Grant", rec.acl)]),
    ]))


async def put_bucket_acl(req: Request) -> Response:
    acl = req.header("x-oss-acl")
    rec = await common.require_bucket(req)
    if acl not in common.BUCKET_ACLS:
        raise errors.InvalidBucketAcl(ArgumentName="x-oss-acl", ArgumentValue=acl or "")
    if acl != rec.acl:
        await req.server.engine.update_bucket(dataclasses.replace(rec, acl=acl))
    return Response(200, {}, b"")


# -- ListObjects (v1) ---------------------------------------------------------------------------
async def list_objects(req: Request) -> Response:
    await common.require_bucket(req)
    enc, encoding = encoder(req)
    prefix = _param(req, "prefix")
    marker = _param(req, "marker")
    delimiter = _param(req, "delimiter")
    limit = max_keys(req)
    entries, truncated, next_marker = await req.server.engine.list_page(req.bucket, prefix, delimiter, marker, limit)
    objs, prefixes = _split(entries)
    head = _elems([("Name", req.bucket), ("Prefix", enc(prefix)), ("Marker", enc(marker)),
                   ("MaxKeys", limit), ("Delimiter", enc(delimiter)), ("EncodingType", encoding),
                   ("IsTruncated", truncated), ("NextMarker", enc(next_marker) if truncated else None)])
    return _listing("ListBucketResult", head,
                    _entries_xml("Contents", objs, enc, _owner_text(req), await restore_infos(req, objs))
                    + _prefixes_xml(prefixes, enc))


# -- ListObjectsV2 ------------------------------------------------------------------------------
def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise errors.InvalidContinuationToken(ArgumentName="continuation-token", ArgumentValue=token)


async def list_objects_v2(req: Request) -> Response:
    await common.require_bucket(req)
    if req.query.get("list-type") != "2":
        raise errors.InvalidArgument("list-type must be 2.", ArgumentName="list-type",
                                     ArgumentValue=req.query.get("list-type"))
    enc, encoding = encoder(req)
    prefix = _param(req, "prefix")
    delimiter = _param(req, "delimiter")
    start_after = _param(req, "start-after")
    token = req.query.get("continuation-token", "")
    limit = max_keys(req)
    fetch_owner = req.query.get("fetch-owner", "").lower() == "true"
    marker = _untoken(token) if token else start_after
    entries, truncated, next_marker = await req.server.engine.list_page(req.bucket, prefix, delimiter, marker, limit)
    objs, prefixes = _split(entries)
    head = _elems([("Name", req.bucket), ("Prefix", enc(prefix)),
                   ("StartAfter", enc(start_after) if start_after else None),
                   ("ContinuationToken", enc(token) if token else None),
                   ("MaxKeys", limit), ("Delimiter", enc(delimiter)), ("EncodingType", encoding),
                   ("IsTruncated", truncated),
                   ("NextContinuationToken", enc(_token(next_marker)) if truncated else None)])
    owner = _owner_text(req) if fetch_owner else ""
    return _listing("ListBucketResult", head,
                    _entries_xml("Contents", objs, enc, owner, await restore_infos(req, objs))
                    + _prefixes_xml(prefixes, enc),
                    f"<KeyCount>{len(entries)}</KeyCount>")


# -- ListObjectVersions --------------------------------------------------------------------------
def _versions_xml(entries: list, enc, owner: str, infos: dict) -> str:
    out = []
    esc = xml.escape
    for rec, _seq, latest in entries:
        head = (f"<Key>{esc(enc(rec.key))}</Key><VersionId>{esc(rec.version_id or 'null')}</VersionId>"
                f"<IsLatest>{'true' if latest else 'false'}</IsLatest>"
                f"<LastModified>{common.iso8601(rec.mtime)}</LastModified>")
        if rec.is_delete_marker:
            out.append(f"<DeleteMarker>{head}{owner}</DeleteMarker>")
        else:
            out.append(f"<Version>{head}<ETag>\"{esc(rec.etag)}\"</ETag><Type>{rec.type}</Type>"
                       f"<Size>{rec.size}</Size><StorageClass>{rec.storage_class}</StorageClass>"
                       f"{owner}{_restore_xml(infos, rec)}</Version>")
    return "".join(out)


async def list_object_versions(req: Request) -> Response:
    await common.require_bucket(req)
    enc, encoding = encoder(req)
    prefix = _param(req, "prefix")
    delimiter = _param(req, "delimiter")
    key_marker = _param(req, "key-marker")
    version_marker = _param(req, "version-id-marker")
    limit = max_keys(req)
    if version_marker and not key_marker:
        raise errors.InvalidArgument("A version-id marker cannot be specified without a key marker.",
                                     ArgumentName="version-id-marker", ArgumentValue=version_marker)
    before = 0  # a key marker alone: start after every version of that key
    if version_marker:
        version = None if version_marker == "null" else version_marker
        position = await req.server.engine.version_position(req.bucket, key_marker, version)
        before = position if position is not None else 0
    entries, truncated = await req.server.engine.list_versions_page(req.bucket, prefix, delimiter, key_marker,
                                                                      before, limit)
    versions = [e for e in entries if not isinstance(e, str)]
    prefixes = [e for e in entries if isinstance(e, str)]
    head = [("Name", req.bucket), ("Prefix", enc(prefix)), ("KeyMarker", enc(key_marker)),
            ("VersionIdMarker", version_marker), ("MaxKeys", limit),
            ("Delimiter", enc(delimiter)), ("EncodingType", encoding), ("IsTruncated", truncated)]
    if truncated:
        last = entries[-1]
        if isinstance(last, str):
            head += [("NextKeyMarker", enc(last)), ("NextVersionIdMarker", "")]
        else:
            head += [("NextKeyMarker", enc(last[0].key)),
                     ("NextVersionIdMarker", last[0].version_id or "null")]
    return _listing("ListVersionsResult", _elems(head),
                    _versions_xml(versions, enc, _owner_text(req),
                                  await restore_infos(req, [e[0] for e in versions]))
                    + _prefixes_xml(prefixes, enc))


# -- DeleteMultipleObjects ----------------------------------------------------------------------
_FROM_STANDIN = {_CTRL_STANDIN + n: n for n in range(32)}


def _ctrl_standin(m: "re.Match") -> bytes:
    n = int(m.group(1), 16) if m.group(1) else int(m.group(2))
    if n >= 32 or n in (9, 10, 13):
        return m.group(0)
    return chr(_CTRL_STANDIN + n).encode("utf-8")


def _parse_delete(body: bytes):
    """Parse a <Delete> body; keys with control characters get a second, tolerant attempt."""
    try:
        return xml.parse(body, "Delete"), False
    except errors.OssError:
        if (b"&#" not in body and not _RAW_CTRL.search(body)) or _STANDIN_BYTES.search(body):
            raise
    body = _CTRL_REF.sub(_ctrl_standin, body)
    body = _RAW_CTRL.sub(lambda m: chr(_CTRL_STANDIN + m.group(0)[0]).encode("utf-8"), body)
    return xml.parse(body, "Delete"), True


async def delete_multiple_objects(req: Request) -> Response:
    await common.require_bucket(req)
    enc, encoding = encoder(req)
    if req.header("content-md5") is None:
        raise errors.MissingContentMD5()
    root, standins = _parse_delete(await req.read_xml_body(limit=MAX_DELETE_BODY))
    quiet_text = (xml.child_text(root, "Quiet", "false") or "false").strip().lower()
    if quiet_text not in ("true", "false"):
        raise errors.MalformedXML()
    quiet = quiet_text == "true"
    nodes = xml.children(root, "Object")
    if not nodes:
        raise errors.DeleteWithoutObjects()
    if len(nodes) > MAX_DELETE_KEYS:
        raise errors.TooManyDeleteObjects()
    targets: list[tuple[str, object]] = []
    for node in nodes:
        key = xml.child_text(node, "Key")
        if not key:
            raise errors.DeleteObjectWithoutKey()
        if standins:
            key = key.translate(_FROM_STANDIN)
        raw_version = xml.child_text(node, "VersionId")
        if raw_version is not None and not raw_version:
            raise errors.EmptyDeleteVersionId()
        targets.append((key, CURRENT if raw_version is None else common.version_param(req, raw_version)))
    # every key must be deletable by the caller, or nothing is deleted
    authorizer = req.server.authorizer
    await authorizer.check_keys(req, "oss:DeleteObject", [k for k, v in targets if v is CURRENT])
    await authorizer.check_keys(req, "oss:DeleteObjectVersion", [k for k, v in targets if v is not CURRENT])

    engine = req.server.engine
    bucket = req.bucket
    gate = asyncio.Semaphore(_DELETE_CONCURRENCY)
    outcomes: dict = {}

    async def delete(key: str, version) -> None:
        async with gate:
            outcomes[key, version] = await engine.delete_object(bucket, key, version)

    # a key (or key and version) named twice is deleted once: a second marker would be wrong
    unique = list(dict.fromkeys(targets))
    await asyncio.gather(*(delete(k, v) for k, v in unique))
    children: list = [("EncodingType", encoding)]
    if not quiet:
        for key, version in unique:
            result = outcomes[key, version]
            entry = [("Key", enc(key))]
            if version is not CURRENT:
                entry.append(("VersionId", version or "null"))
            if result.delete_marker:
                entry += [("DeleteMarker", "true"), ("DeleteMarkerVersionId", result.version_id or "null")]
            children.append(("Deleted", entry))
    return Response.xml(xml.document("DeleteResult", children))


# -- LiveChannel (RTMP ingest) is not offered -----------------------------------------------------
async def list_live_channels(req: Request) -> Response:
    await common.require_bucket(req)
    prefix = _param(req, "prefix")
    marker = _param(req, "marker")
    limit = max_keys(req, low=1)
    return Response.xml(xml.document("ListLiveChannelResult", [
        ("Prefix", prefix), ("Marker", marker), ("MaxKeys", limit), ("IsTruncated", False),
        ("NextMarker", ""),
    ]))


async def live_channel_unsupported(req: Request) -> Response:
    await common.require_bucket(req)
    raise errors.LiveChannelNotSupported()


# -- bucket settings kept in BucketRecord.config ---------------------------------------------------
async def set_config(req: Request, rec: BucketRecord, name: str, value) -> None:
    """Store one bucket setting (None removes it); no write when nothing changes."""
    config = {k: v for k, v in rec.config.items() if k != name}
    if value is not None:
        config[name] = value
    if config != rec.config:
        await req.server.engine.update_bucket(dataclasses.replace(rec, config=config))


# -- bucket policy --------------------------------------------------------------------------------
MAX_BUCKET_POLICY = 16 * 1024


async def put_bucket_policy(req: Request) -> Response:

    rec = await common.require_bucket(req)
    text = (await req.read_body(limit=MAX_BUCKET_POLICY)).decode("utf-8", "replace")
    parse_policy(text, bucket_policy=True, bucket=req.bucket)  # refuses an invalid document
    await set_config(req, rec, "policy", text)
    return Response(200, {}, b"")


async def get_bucket_policy(req: Request) -> Response:
    rec = await common.require_bucket(req)
    text = rec.config.get("policy")
    if text is None:
        raise errors.NoSuchBucketPolicy(BucketName=req.bucket)
    return Response(200, {"content-type": "application/json"}, text.encode("utf-8"))


async def delete_bucket_policy(req: Request) -> Response:
    rec = await common.require_bucket(req)
    await set_config(req, rec, "policy", None)
    return Response(204, {}, b"")


# -- request payment (pay-by-requester) -----------------------------------------------------------
PAYERS = ("BucketOwner", "Requester")


async def read_choice(req: Request, root_tag: str, element: str, choices, error
                      ) -> tuple[BucketRecord, str]:
    """The bucket and the one-element setting document's value, which must be one of `choices`."""
    rec = await common.require_bucket(req)
    value = xml.child_text(xml.parse(await req.read_xml_body(), root_tag), element)
    if value not in choices:
        raise error()
    return rec, value


async def put_bucket_request_payment(req: Request) -> Response:
    rec, payer = await read_choice(req, "RequestPaymentConfiguration", "Payer", PAYERS, errors.MalformedXML)
    await set_config(req, rec, "request_payer", payer if payer == "Requester" else None)
    return Response(200, {}, b"")


async def get_bucket_request_payment(req: Request) -> Response:
    rec = await common.require_bucket(req)
    payer = rec.config.get("request_payer", "BucketOwner")
    return Response.xml(xml.document("RequestPaymentConfiguration", [("Payer", payer)]))


# -- versioning -----------------------------------------------------------------------------------
VERSIONING_STATES = ("Enabled", "Suspended")


async def put_bucket_versioning(req: Request) -> Response:
    """Enabled or Suspended; a bucket never returns to unversioned (as in OSS)."""
    rec, status = await read_choice(req, "VersioningConfiguration", "Status", VERSIONING_STATES,
                                    errors.InvalidVersioningStatus)
    await set_config(req, rec, "versioning", status)
    return Response(200, {}, b"")


async def get_bucket_versioning(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("VersioningConfiguration",
                                     [("Status", rec.config.get("versioning"))]))


# -- default encryption (PutBucketEncryption) ------------------------------------------------------
_ENCRYPTION_FIELDS = ("SSEAlgorithm", "KMSMasterKeyID", "KMSDataEncryption")


def _encryption_elements(rec: BucketRecord) -> list:
    rule = rec.config.get("encryption") or {}
    return [(name, rule[name]) for name in _ENCRYPTION_FIELDS if rule.get(name)]


async def put_bucket_encryption(req: Request) -> Response:
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "ServerSideEncryptionRule")
    applied = xml.children(root, "ApplyServerSideEncryptionByDefault")
    if len(applied) != 1:
        raise errors.MalformedXML()
    node = applied[0]
    algorithm = (xml.child_text(node, "SSEAlgorithm") or "").strip()
    key_id = (xml.child_text(node, "KMSMasterKeyID") or "").strip()
    data_algorithm = (xml.child_text(node, "KMSDataEncryption") or "").strip()
    if not algorithm:
        raise errors.MalformedXML()
    if algorithm not in common.SSE_ALGORITHMS:
        raise errors.InvalidEncryptionAlgorithm(ArgumentName="SSEAlgorithm", ArgumentValue=algorithm[:64])
    if data_algorithm and (data_algorithm != sse.SM4 or algorithm != sse.KMS):
        raise errors.InvalidDataEncryptionAlgorithm(ArgumentName="KMSDataEncryption",
                                                    ArgumentValue=data_algorithm[:64])
    if key_id:
        if algorithm != sse.KMS:
            raise errors.InvalidArgument("KMSMasterKeyID must be empty unless SSEAlgorithm is KMS.",
                                         ArgumentName="KMSMasterKeyID", ArgumentValue=key_id[:128])
        await req.server.engine.sse.check_kms_key(key_id, argument="KMSMasterKeyID")
    rule = {"SSEAlgorithm": algorithm}
    if key_id:
        rule["KMSMasterKeyID"] = key_id
    if data_algorithm:
        rule["KMSDataEncryption"] = data_algorithm
    await set_config(req, rec, "encryption", rule)
    return Response(200, {}, b"")


async def get_bucket_encryption(req: Request) -> Response:
    rec = await common.require_bucket(req)
    elements = _encryption_elements(rec)
    if not elements:
        raise errors.NoSuchServerSideEncryptionRule(BucketName=req.bucket)
    return Response.xml(xml.document("ServerSideEncryptionRule",
                                     [("ApplyServerSideEncryptionByDefault", elements)]))


async def delete_bucket_encryption(req: Request) -> Response:
    await set_config(req, await common.require_bucket(req), "encryption", None)
    return Response(204, {}, b"")
