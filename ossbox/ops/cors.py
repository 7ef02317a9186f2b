"""Cross-origin resource sharing: Put/Get/DeleteBucketCors, the preflight (OPTIONS) and the CORS
headers of actual cross-origin requests.

As OSS documents it (PutBucketCors, Options): the rules are tried in order and the first one that
matches the Origin, the method (or Access-Control-Request-Method) and every header named in
Access-Control-Request-Headers decides. A preflight is answered from the rules alone, without
authentication; no match is 403 AccessForbidden. An actual request is authorized as usual and only
gains Access-Control-* headers when a rule matches.
"""
from __future__ import annotations

from typing import Optional

from .. import errors
from ..storage.records import BucketRecord
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_config, common

MAX_RULES = 10  # "Up to 10 rules can be configured for a bucket" (GetBucketCors)
METHODS = ("GET", "PUT", "DELETE", "POST", "HEAD")
MAX_AGE_LIMIT = 2 ** 31 - 1
MAX_DOCUMENT = 64 * 1024  # ossbox's bound: the rules are read with every request that has an Origin


# -- the configuration ----------------------------------------------------------------------------
def _bool(text: Optional[str], name: str) -> bool:
    value = (text or "").strip().lower()
    if value not in ("true", "false"):
        raise errors.InvalidArgument(f"{name} must be true or false.", ArgumentName=name,
                                     ArgumentValue=(text or "")[:64])
    return value == "true"


def _texts(node, tag: str) -> list[str]:
    return [(c.text or "").strip() for c in xml.children(node, tag)]


def _one_wildcard(values: list[str], name: str) -> None:
    """AllowedOrigin and AllowedHeader may each hold at most one '*' (PutBucketCors)."""
    for v in values:
        if v.count("*") > 1:
            raise errors.InvalidArgument(f"{name} can contain at most one * wildcard.",
                                         ArgumentName=name, ArgumentValue=v[:256])


def _parse_rule(node) -> dict:
    origins = _texts(node, "AllowedOrigin")
    methods = _texts(node, "AllowedMethod")
    if not origins or not methods or not all(origins) or not all(methods):
        raise errors.InvalidArgument("A CORSRule needs at least one AllowedOrigin and one AllowedMethod.",
                                     ArgumentName="CORSRule")
    for m in methods:
        if m not in METHODS:
            raise errors.InvalidArgument(f"Unsupported method is {m}", ArgumentName="AllowedMethod",
                                         ArgumentValue=m[:64])
    # header names are case-insensitive: stored (and answered by GetBucketCors) in lower case, as OSS does
    headers = [h.lower() for h in _texts(node, "AllowedHeader") if h]
    expose = [h for h in _texts(node, "ExposeHeader") if h]
    _one_wildcard(origins, "AllowedOrigin")
    _one_wildcard(headers, "AllowedHeader")
    for h in expose:
        if "*" in h:  # browsers read Expose-Headers literally: a wildcard would expose nothing
            raise errors.InvalidArgument("ExposeHeader cannot contain a wildcard.",
                                         ArgumentName="ExposeHeader", ArgumentValue=h[:256])
    rule = {"AllowedOrigin": origins, "AllowedMethod": methods, "AllowedHeader": headers,
            "ExposeHeader": expose}
    ages = _texts(node, "MaxAgeSeconds")
    if len(ages) > 1:
        raise errors.MalformedXML()
    if ages:
        if not (ages[0].isascii() and ages[0].isdigit()) or int(ages[0]) > MAX_AGE_LIMIT:
            raise errors.InvalidArgument("MaxAgeSeconds must be a non-negative integer.",
                                         ArgumentName="MaxAgeSeconds", ArgumentValue=ages[0][:64])
        rule["MaxAgeSeconds"] = int(ages[0])
    return rule


def parse_configuration(body: bytes) -> dict:
    root = xml.parse(body, "CORSConfiguration")
    nodes = xml.children(root, "CORSRule")
    if not nodes:
        raise errors.MalformedXML()
    if len(nodes) > MAX_RULES:
        raise errors.InvalidArgument(f"Up to {MAX_RULES} CORS rules can be configured for a bucket.",
                                     ArgumentName="CORSRule", ArgumentValue=str(len(nodes)))
    config = {"rules": [_parse_rule(n) for n in nodes]}
    vary = xml.child_text(root, "ResponseVary")
    config["response_vary"] = _bool(vary, "ResponseVary") if vary is not None else False
    return config


async def put_bucket_cors(req: Request) -> Response:
    rec = await common.require_bucket(req)
    config = parse_configuration(await req.read_xml_body(limit=MAX_DOCUMENT))
    await bucket_config.set_config(req, rec, "cors", config)  # overwrites every earlier rule
    return Response(200, {}, b"")


async def get_bucket_cors(req: Request) -> Response:
    rec = await common.require_bucket(req)
    config = rec.config.get("cors")
    if not config:
        raise errors.NoSuchCORSConfiguration(BucketName=req.bucket)
    rules = []
    for r in config["rules"]:
        node = [("AllowedOrigin", o) for o in r["AllowedOrigin"]]
        node += [("AllowedMethod", m) for m in r["AllowedMethod"]]
        node += [("AllowedHeader", h) for h in r["AllowedHeader"]]
        node += [("ExposeHeader", h) for h in r["ExposeHeader"]]
        node.append(("MaxAgeSeconds", r.get("MaxAgeSeconds")))
        rules.append(("CORSRule", node))
    rules.append(("ResponseVary", bool(config.get("response_vary"))))
    return Response.xml(xml.document("CORSConfiguration", rules))


async def delete_bucket_cors(req: Request) -> Response:
    await bucket_config.set_config(req, await common.require_bucket(req), "cors", None)
    return Response(204, {}, b"")


# -- matching -------------------------------------------------------------------------------------
def _wildcard_match(pattern: str, value: str) -> bool:
    """`pattern` with at most one '*' (any run of characters) against `value`."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _requested_headers(value: Optional[str]) -> list[str]:
    return [h.strip() for h in (value or "").split(",") if h.strip()]


def matching_rule(config: dict, origin: str, method: str, headers: list[str]) -> Optional[dict]:
    """The first rule allowing this origin, method and every header (header names ignore case)."""
    for rule in config.get("rules", ()):
        if not any(_wildcard_match(o, origin) for o in rule["AllowedOrigin"]):
            continue
        if method not in rule["AllowedMethod"]:
            continue
        if all(any(_wildcard_match(a, h.lower()) for a in rule["AllowedHeader"]) for h in headers):
            return rule
    return None


def _allow_headers(rule: dict, origin: str, vary: bool) -> dict[str, str]:
    # The request's own Origin is echoed, not a '*' rule: that is what OSS answers, and a browser
    # sending credentials accepts only its own origin.
    out = {"access-control-allow-origin": origin,
           "access-control-allow-methods": ", ".join(rule["AllowedMethod"])}
    if rule["ExposeHeader"]:
        out["access-control-expose-headers"] = ", ".join(rule["ExposeHeader"])
    if rule.get("MaxAgeSeconds") is not None:
        out["access-control-max-age"] = str(rule["MaxAgeSeconds"])
    if vary:
        out["vary"] = "Origin"
    return out


# -- the preflight (OPTIONS) ----------------------------------------------------------------------
async def preflight(req: Request) -> Response:
    """OPTIONS /bucket[/key]: answered from the rules only (a browser sends no credentials)."""
    rec = await common.require_bucket(req)
    config = rec.config.get("cors")
    if not config:
        raise errors.CorsNotEnabled()
    origin = req.headers.get("origin")
    method = req.headers.get("access-control-request-method")
    vary = {"vary": "Origin"} if config.get("response_vary") else {}
    if not origin or not method:
        raise errors.CorsNotAllowed(headers=vary)
    headers = _requested_headers(req.headers.get("access-control-request-headers"))
    rule = matching_rule(config, origin, method.strip(), headers)
    if rule is None:
        raise errors.CorsNotAllowed(headers=vary)
    out = _allow_headers(rule, origin, bool(config.get("response_vary")))
    if headers:
        out["access-control-allow-headers"] = ", ".join(headers)
    return Response(200, out, b"")


# -- actual requests ------------------------------------------------------------------------------
async def response_headers(req: Request) -> dict[str, str]:
    """The Access-Control-* headers an actual (non-OPTIONS) request's response gets: those of the
    first matching rule when the request carries an Origin, and `Vary: Origin` with ResponseVary.

    The bucket record is looked up only for a request with an Origin; one without gets
    `Vary: Origin` only when its operation read the record anyway, so plain requests (appends,
    the hot path) pay nothing for CORS."""
    if req.bucket is None:
        return {}
    origin = req.headers.get("origin")
    rec: Optional[BucketRecord] = req.bucket_record
    if rec is None:
        if not origin:
            return {}
        rec = await req.server.engine.get_bucket(req.bucket)
        if rec is None:
            return {}
    config = rec.config.get("cors")
    if not config:
        return {}
    vary = bool(config.get("response_vary"))
    if origin:
        rule = matching_rule(config, origin, req.method, [])
        if rule is not None:
            return _allow_headers(rule, origin, vary)
    return {"vary": "Origin"} if vary else {}
