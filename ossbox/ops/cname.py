"""Custom domain names (CNAME): CreateCnameToken (POST ?cname&comp=token), GetCnameToken (GET
?cname=<domain>&comp=token), PutCname (POST ?cname&comp=add), ListCname (GET ?cname), DeleteCname
(POST ?cname&comp=delete).

OSS binds a domain only after proving its owner controls it: the owner publishes the token of
CreateCnameToken as a DNS TXT record `_dnsauth.<domain>` and PutCname checks it. ossbox keeps the
tokens (valid 72 hours, as OSS's) in BucketRecord.config["cname_tokens"] and the bound domains in
config["cnames"], but has no way to look such a record up for the caller (it runs off the cloud
and keeps no resolver), so PutCname answers NeedVerifyDomainOwnership, as OSS does for a domain
whose TXT record it cannot find; ListCname lists what is bound (nothing unless the metadata says
so), DeleteCname removes a binding and its token. docs/bucket-configs.md.
"""
from __future__ import annotations

import re
import secrets
import time

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config

TOKEN_SECONDS = 72 * 3600
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9*]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")


def _gmt(ts: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts))


def _domain(text) -> str:
    domain = (text or "").strip().lower()
    if not _DOMAIN.fullmatch(domain):
        raise errors.InvalidArgument("The domain name is not valid.", ArgumentName="Domain",
                                     ArgumentValue=domain[:253])
    return domain


async def _body_domain(req: Request):
    root = xml.parse(await req.read_xml_body(), "BucketCnameConfiguration")
    cnames = xml.children(root, "Cname")
    if len(cnames) != 1:
        raise errors.MalformedXML()
    return _domain(xml.child_text(cnames[0], "Domain")), cnames[0]


def _tokens(rec, now: float) -> dict:
    return {d: t for d, t in (rec.config.get("cname_tokens") or {}).items() if t["expires"] > now}


def _token_xml(req: Request, domain: str, token: dict) -> Response:
    return Response.xml(xml.document("CnameToken", [
        ("Bucket", req.bucket), ("Cname", domain), ("Token", token["token"]),
        ("ExpireTime", _gmt(token["expires"]))]))


async def create_cname_token(req: Request) -> Response:
    rec = await common.require_bucket(req)
    domain, _ = await _body_domain(req)
    now = time.time()
    tokens = _tokens(rec, now)
    tokens[domain] = {"token": secrets.token_hex(16), "expires": now + TOKEN_SECONDS}
    await set_config(req, rec, "cname_tokens", tokens)
    return _token_xml(req, domain, tokens[domain])


async def get_cname_token(req: Request) -> Response:
    rec = await common.require_bucket(req)
    domain = _domain(req.query.get("cname"))
    token = _tokens(rec, time.time()).get(domain)
    if token is None:
        raise errors.CnameTokenNotFound(Cname=domain)
    return _token_xml(req, domain, token)


async def put_cname(req: Request) -> Response:
    rec = await common.require_bucket(req)
    domain, node = await _body_domain(req)
    if domain in (rec.config.get("cnames") or {}):
        return Response(200, {}, b"")
    # the ownership proof is a DNS TXT record ossbox cannot see (module notes)
    raise errors.NeedVerifyDomainOwnership(Cname=domain)


async def list_cname(req: Request) -> Response:
    rec = await common.require_bucket(req)
    bound = rec.config.get("cnames") or {}
    return Response.xml(xml.document("ListCnameResult", [
        ("Bucket", req.bucket), ("Owner", rec.owner or req.server.owner_id)] + [
        ("Cname", [("Domain", d), ("LastModified", common.iso8601(c["modified"])), ("Status", "Enabled"),
                   ("IsPurgeCdnCache", "false")]) for d, c in sorted(bound.items())]))


async def delete_cname(req: Request) -> Response:
    rec = await common.require_bucket(req)
    domain, _ = await _body_domain(req)
    bound = dict(rec.config.get("cnames") or {})
    bound.pop(domain, None)
    tokens = _tokens(rec, time.time())
    tokens.pop(domain, None)
    await set_config(req, rec, "cnames", bound or None)
    await set_config(req, await req.server.engine.require_bucket(req.bucket), "cname_tokens", tokens or None)
    return Response(200, {}, b"")


async def post_cname(req: Request) -> Response:
    """POST ?cname: comp= says which of the three operations it is."""
    comp = req.query.get("comp")
    handler = {"token": create_cname_token, "add": put_cname, "delete": delete_cname}.get(comp)
    if handler is None:
        raise errors.InvalidArgument("comp must be token, add or delete.", ArgumentName="comp",
                                     ArgumentValue=(comp or "")[:32])
    return await handler(req)
