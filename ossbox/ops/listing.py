"""The object listings: ListObjects (v1), ListObjectsV2, ListObjectVersions, and the listing
parameters (max-keys, encoding-type, prefix/marker) the other list operations share."""
from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import quote

from .. import errors, numeric
from ..wire import xml
from ..wire.request import Request, Response
from . import common, restore

DEFAULT_MAX_KEYS = 100
MAX_KEYS = 1000
MAX_NAME_BYTES = 1023          # prefix / marker / delimiter values must be shorter than 1024 bytes


# -- shared helpers -----------------------------------------------------------------------------
def max_keys(req: Request, low: int = 0, high: int = MAX_KEYS, default: int = DEFAULT_MAX_KEYS,
             name: str = "max-keys") -> int:
    value = req.query.get(name)
    if value is None:
        return default
    return numeric.decimal_argument(value, name, low, high, error=errors.InvalidMaxKeys,
                                    message=f"{name} must be an integer between {low} and {high}.")


def listing_param(req: Request, name: str) -> str:
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


# -- ListObjects (v1) ---------------------------------------------------------------------------
async def list_objects(req: Request) -> Response:
    await common.require_bucket(req)
    enc, encoding = encoder(req)
    prefix = listing_param(req, "prefix")
    marker = listing_param(req, "marker")
    delimiter = listing_param(req, "delimiter")
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
    prefix = listing_param(req, "prefix")
    delimiter = listing_param(req, "delimiter")
    start_after = listing_param(req, "start-after")
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
    prefix = listing_param(req, "prefix")
    delimiter = listing_param(req, "delimiter")
    key_marker = listing_param(req, "key-marker")
    version_marker = listing_param(req, "version-id-marker")
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
