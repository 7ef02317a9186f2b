"""Hotlink protection: Put/GetBucketReferer and the Referer check.

As OSS documents it (PutBucketReferer, "Hotlink protection", error pages 0003-00000501..503):
- The check applies only to requests that are anonymous or signed in the URL (presigned); a request
  signed in the Authorization header is not checked.
- An empty or missing Referer passes only with AllowEmptyReferer (default true).
- A Referer matching the blacklist is denied; else, with a whitelist, it must match it.
  Patterns use `*` (any run of characters) and `?` (one character), compared case-insensitively.
- AllowTruncateQueryString (default true) drops the Referer's query string before matching;
  TruncatePath (default false) also drops its path, leaving scheme://host[:port].
"""
from __future__ import annotations

from typing import Optional

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_config, common

MAX_REFERERS = 1000  # ossbox's bounds: the configuration is read with every checked request
MAX_REFERER_LENGTH = 1024
MAX_DOCUMENT = 64 * 1024

DEFAULTS = {"AllowEmptyReferer": True, "AllowTruncateQueryString": True, "TruncatePath": False,
            "RefererList": [], "RefererBlacklist": []}


def _bool(node, name: str, default: Optional[bool]) -> bool:
    text = xml.child_text(node, name)
    if text is None:
        if default is None:
            raise errors.MalformedXML()
        return default
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise errors.InvalidArgument(f"{name} must be true or false.", ArgumentName=name,
                                     ArgumentValue=text[:64])
    return value == "true"


def _referers(root, container: str, required: bool) -> list[str]:
    nodes = xml.children(root, container)
    if len(nodes) > 1 or (required and not nodes):
        raise errors.MalformedXML()
    values = [(c.text or "").strip() for c in xml.children(nodes[0], "Referer")] if nodes else []
    values = [v for v in values if v]
    if len(values) > MAX_REFERERS or any(len(v) > MAX_REFERER_LENGTH for v in values):
        raise errors.InvalidArgument(f"{container} holds too many or too long Referer entries.",
                                     ArgumentName=container)
    return values


def parse_configuration(body: bytes) -> dict:
    root = xml.parse(body, "RefererConfiguration")
    return {
        "AllowEmptyReferer": _bool(root, "AllowEmptyReferer", None),
        "AllowTruncateQueryString": _bool(root, "AllowTruncateQueryString", True),
        "TruncatePath": _bool(root, "TruncatePath", False),
        # oss2 and alibabacloud-oss-v2 always send RefererList (empty to clear the whitelist)
        "RefererList": _referers(root, "RefererList", required=True),
        "RefererBlacklist": _referers(root, "RefererBlacklist", required=False),
    }


async def put_bucket_referer(req: Request) -> Response:
    rec = await common.require_bucket(req)
    config = parse_configuration(await req.read_xml_body(limit=MAX_DOCUMENT))
    # the default configuration checks nothing: store none for it, so requests skip the check
    await bucket_config.set_config(req, rec, "referer", None if config == DEFAULTS else config)
    return Response(200, {}, b"")


async def get_bucket_referer(req: Request) -> Response:
    """A bucket never configured answers the defaults, as OSS does."""
    rec = await common.require_bucket(req)
    c = rec.config.get("referer") or DEFAULTS
    return Response.xml(xml.document("RefererConfiguration", [
        ("AllowEmptyReferer", c["AllowEmptyReferer"]),
        ("AllowTruncateQueryString", c["AllowTruncateQueryString"]),
        ("TruncatePath", c["TruncatePath"]),
        ("RefererList", [("Referer", r) for r in c["RefererList"]]),
        ("RefererBlacklist", [("Referer", r) for r in c["RefererBlacklist"]]),
    ]))


# -- the check ------------------------------------------------------------------------------------
def _glob(pattern: str, text: str) -> bool:
    """`*` and `?` wildcard match, case-insensitive. The classic two-pointer walk (back to the last
    `*` on a mismatch) is O(len(pattern) * len(text)) at worst: a regex would backtrack
    exponentially on an owner's "*a*a*a*" against a long attacker-chosen Referer."""
    p, t = pattern.lower(), text.lower()
    i = j = 0
    star, mark = -1, 0
    while j < len(t):
        if i < len(p) and (p[i] == "?" or p[i] == t[j]):
            i += 1
            j += 1
        elif i < len(p) and p[i] == "*":
            star, mark = i, j
            i += 1
        elif star >= 0:
            i, mark = star + 1, mark + 1
            j = mark
        else:
            return False
    return all(ch == "*" for ch in p[i:])


def _truncated(referer: str, config: dict) -> str:
    if config["AllowTruncateQueryString"]:
        referer = referer.split("?", 1)[0]
        if config["TruncatePath"]:
            scheme, sep, rest = referer.partition("://")
            referer = scheme + sep + rest.split("/", 1)[0] if sep else referer.split("/", 1)[0]
    return referer


def _matches(patterns: list[str], referer: str, config: dict) -> bool:
    candidates = {referer, _truncated(referer, config)}
    return any(_glob(p, c) for p in patterns for c in candidates)


def is_checked(req: Request) -> bool:
    """Anonymous and URL-signed requests are checked; header-signed ones are not."""
    return req.bucket is not None and "authorization" not in req.headers


async def check(req: Request) -> None:
    """Refuse the request when the bucket's Referer rules deny it (403 AccessDenied)."""
    if not is_checked(req):
        return
    rec = req.bucket_record
    if rec is None:
        rec = req.bucket_record = await req.server.engine.get_bucket(req.bucket)  # the operation reuses it
    config = rec.config.get("referer") if rec is not None else None
    if not config:
        return
    referer = (req.headers.get("referer") or "").strip()
    if not referer:
        if not config["AllowEmptyReferer"]:
            raise errors.RefererEmptyDenied()
        return
    if _matches(config["RefererBlacklist"], referer, config):
        raise errors.RefererBlacklisted()
    if config["RefererList"] and not _matches(config["RefererList"], referer, config):
        raise errors.RefererNotAllowed()
