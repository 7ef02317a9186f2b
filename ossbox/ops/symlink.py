"""PutSymlink / GetSymlink, and reading an object through a symlink (GetObject, HeadObject).

A symlink is an object version of type Symlink with no bytes; its target key (same bucket) is
kept in its stored `x-oss-symlink-target` header. Following OSS's PutSymlink page: the target is
not checked when the link is made; reads check the caller's access to the link (the route's
oss:GetObject) and to the target, and read the target's current version.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote, unquote

from .. import errors
from ..storage.engine import CURRENT
from ..storage.records import SYMLINK, SYMLINK_TARGET, ObjectRecord
from ..wire.names import validate_key
from ..wire.request import Request, Response
from . import common, public_grants
from .args import forbid_overwrite, parse_creation


def _target(req: Request) -> str:
    raw = req.header(SYMLINK_TARGET)
    if not raw:
        raise errors.MissingSymlinkTarget(ArgumentName=SYMLINK_TARGET)
    try:
        target = unquote(raw, errors="strict")  # the SDKs send it URL-encoded
    except UnicodeDecodeError:
        raise errors.InvalidArgument("x-oss-symlink-target is not URL-encoded UTF-8.",
                                     ArgumentName=SYMLINK_TARGET, ArgumentValue=raw[:64])
    validate_key(target)  # "the same naming rules as object names" (PutSymlink page)
    return target


async def put_symlink(req: Request) -> Response:
    bucket = await common.require_bucket(req)
    target = _target(req)
    template = parse_creation(req).new_object(bucket, req.key)
    await public_grants.refuse_public_object_acl(req, bucket)
    template.headers[SYMLINK_TARGET] = target
    rec = await req.server.engine.put_symlink(template, forbid_overwrite=forbid_overwrite(req))
    headers = {"etag": f'"{rec.etag}"', **common.version_headers(bucket, rec)}
    return Response(200, headers, b"")


async def get_symlink(req: Request) -> Response:
    bucket, rec = await common.locate_object(req)
    if rec.type != SYMLINK:
        raise errors.NotSymlink(Key=req.key)
    headers = {k: v for k, v in rec.headers.items() if k != SYMLINK_TARGET}
    headers.update({
        SYMLINK_TARGET: quote(rec.headers[SYMLINK_TARGET], safe=""),
        "etag": f'"{rec.etag}"',
        "last-modified": common.http_date(rec.mtime),
        **common.version_headers(bucket, rec),
    })
    return Response(200, headers, b"")


async def _readable_target(req: Request, link: ObjectRecord) -> str:
    """The link's target key, once the caller is known to be allowed to read it."""
    target = link.headers.get(SYMLINK_TARGET, "")
    await req.server.authorizer.check_action(req, "oss:GetObject", link.bucket, target)
    return target


async def target_record(req: Request, link: ObjectRecord) -> ObjectRecord:
    """The current version of the link's target (HeadObject through a symlink)."""
    target = await _readable_target(req, link)
    return _followable(await req.server.engine.get_object(link.bucket, target), target)


async def open_readable(req: Request):
    """(bucket, link, rec, reader) for a read of the object the request names (`?versionId=` or
    the current version): through a symlink, `link` is the symlink and rec/reader its target's
    (the target's bytes are read); otherwise `link` is None. The caller closes the reader."""
    bucket = await common.require_bucket(req)
    version = common.version_param(req)
    engine = req.server.engine
    if version is CURRENT:
        rec, reader = await engine.open_object(req.bucket, req.key)
        if rec is None:
            raise await common.no_such_key(req, bucket)
    else:
        rec = await common.require_version(req, req.bucket, req.key, version)
        reader = engine.open_version(rec)
    link = None
    if rec.type == SYMLINK:
        reader.close()
        link = rec
        rec, reader = await open_target(req, link)
    return bucket, link, rec, reader


async def open_target(req: Request, link: ObjectRecord):
    """target_record with a reader of its bytes, consistent with it (GetObject), as the
    engine's open_object gives them."""
    target = await _readable_target(req, link)
    rec, reader = await req.server.engine.open_object(link.bucket, target)
    try:
        return _followable(rec, target), reader
    except BaseException:
        if reader is not None:
            reader.close()
        raise


def _followable(rec: Optional[ObjectRecord], target: str) -> ObjectRecord:
    if rec is None:
        raise errors.SymlinkTargetNotExist(Key=target)
    if rec.type == SYMLINK:  # one level only, never a chain (or a loop)
        raise errors.InvalidTargetType(Key=target)
    return rec


def apply_link_headers(headers: dict[str, str], link: ObjectRecord, target: ObjectRecord) -> None:
    """What a read through a symlink reports about the link itself over the target's headers:
    its type, its own user metadata (oss2's test_put_symlink reads the link's x-oss-meta-* from
    HeadObject; the target's are not the link's), and the later of the two modification times."""
    for name in [h for h in headers if h.startswith("x-oss-meta-")]:
        del headers[name]
    headers.update((k, v) for k, v in link.headers.items() if k.startswith("x-oss-meta-"))
    headers["x-oss-object-type"] = SYMLINK
    headers["last-modified"] = common.http_date(max(link.mtime, target.mtime))
