"""DeleteMultipleObjects: up to 1000 keys (or key versions) deleted in one request."""
from __future__ import annotations

import asyncio
import re

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from ..storage.engine import CURRENT
from . import common
from .listing import encoder

MAX_DELETE_KEYS = 1000
MAX_DELETE_BODY = 6 * 1024 * 1024   # 1000 keys of 1023 bytes, even with every byte XML-escaped
_DELETE_CONCURRENCY = 64
# XML 1.0 forbids C0 control characters even as character references, but keys may contain them and
# alibabacloud-oss-v2 sends them as `&#07;` (oss2 sends them raw). See _parse_delete.
_CTRL_REF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{1,2})|0*([0-9]{1,2}));")
_RAW_CTRL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CTRL_STANDIN = 0xE000        # private-use stand-ins U+E000..U+E01F, used only if the body has none
_STANDIN_BYTES = re.compile(rb"\xee\x80[\x80-\x9f]")  # UTF-8 of U+E000..U+E01F
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
    # A retention policy (WORM) protecting any of the objects refuses the whole request before
    # anything is deleted (OSS's DeleteResult has no per-key error; each delete checks again)
    if any(v is CURRENT for k, v in targets) and (await common.require_bucket(req)).config.get("worm"):
        for key in dict.fromkeys(k for k, v in targets if v is CURRENT):
            await engine.check_retention(await engine.get_object(bucket, key))
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
