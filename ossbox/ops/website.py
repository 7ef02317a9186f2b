"""Static website hosting: PutBucketWebsite / GetBucketWebsite / DeleteBucketWebsite and the
serving behaviour (index document, error document, redirecting routing rules).

The configuration is kept in BucketRecord.config["website"] as a normalized dict:
  {"index": {"suffix", "subdir": bool, "type": 0|1|2} | None,
   "error": {"key", "status": 200|404} | None,
   "rules": [{"num", "cond": {...}, "redirect": {...}}]}   (rules sorted by RuleNumber)

When it applies (OSS's PutBucketWebsite page, docs/website.md): ossbox has no separate website
endpoint, so the behaviour applies on the one endpoint to plain GET/HEAD object requests of a
bucket with a website configuration, signed or anonymous (oss2's test_website reads the index
document with a signed GetObject of "<dir>/"). The bucket root is the exception OSS documents:
an anonymous GET / returns the index document, a signed one still lists the bucket.

Mirror rules (back-to-origin fetch) are stored and returned by GetBucketWebsite but not
fetched: a request they would serve falls through to the error document (docs/website.md).
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote, urlencode

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_config, common

MAX_RULES = 20                 # OSS: at most 20 RoutingRule elements
MAX_INCLUDE_HEADERS = 10
MAX_MIRROR_HEADERS = 10        # each of Pass, Remove, Set
REDIRECT_TYPES = ("Mirror", "External", "Internal", "AliCDN")
REDIRECT_CODES = (301, 302, 307)
_MIRROR_BOOLS = ("MirrorPassQueryString", "MirrorFollowRedirect", "MirrorCheckMd5")
_MIRROR_TEXT = ("MirrorURL", "MirrorURLSlave", "MirrorURLProbe", "MirrorSNI")
_SIGNATURE_PARAMS = {"OSSAccessKeyId", "Expires", "Signature", "security-token"}
_NOT_FOR_MIRROR = ("Protocol", "HostName", "ReplaceKeyPrefixWith", "HttpRedirectCode", "ReplaceKeyWith")


def _bad(message: str, name: str = "", value: str = "") -> errors.OssError:
    return errors.InvalidArgument(message, ArgumentName=name or None, ArgumentValue=(value or "")[:256] or None)


def _bool(text: Optional[str], name: str) -> Optional[bool]:
    if text is None:
        return None
    low = text.strip().lower()
    if low not in ("true", "false"):
        raise _bad(f"{name} must be true or false.", name, text)
    return low == "true"


def _int(text: Optional[str], name: str) -> Optional[int]:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise _bad(f"{name} must be an integer.", name, text)


# -- parsing ----------------------------------------------------------------------------------------
def parse_website(body: bytes) -> dict:
    root = xml.parse(body, "WebsiteConfiguration")
    index_nodes = xml.children(root, "IndexDocument")
    error_nodes = xml.children(root, "ErrorDocument")
    rules_nodes = xml.children(root, "RoutingRules")
    if len(index_nodes) > 1 or len(error_nodes) > 1 or len(rules_nodes) > 1:
        raise errors.MalformedXML()
    index = error = None
    if index_nodes:
        node = index_nodes[0]
        suffix = xml.child_text(node, "Suffix") or ""
        if not suffix or "/" in suffix:
            raise _bad("The IndexDocument Suffix must be non-empty and contain no '/'.", "Suffix", suffix)
        kind = _int(xml.child_text(node, "Type"), "Type")
        if kind is not None and kind not in (0, 1, 2):
            raise _bad("The IndexDocument Type must be 0, 1 or 2.", "Type", str(kind))
        index = {"suffix": suffix, "subdir": bool(_bool(xml.child_text(node, "SupportSubDir"), "SupportSubDir")),
                 "type": kind or 0}
    if error_nodes:
        node = error_nodes[0]
        key = xml.child_text(node, "Key") or ""
        if not key:
            raise _bad("The ErrorDocument Key must be non-empty.", "Key", key)
        status = _int(xml.child_text(node, "HttpStatus"), "HttpStatus")
        if status is not None and status not in (200, 404):
            raise _bad("The ErrorDocument HttpStatus must be 200 or 404.", "HttpStatus", str(status))
        error = {"key": key, "status": status or 404}
    rules = [_parse_rule(n) for n in xml.children(rules_nodes[0], "RoutingRule")] if rules_nodes else []
    if len(rules) > MAX_RULES:
        raise _bad(f"A website configuration has at most {MAX_RULES} routing rules.", "RoutingRule",
                   str(len(rules)))
    if len({r["num"] for r in rules}) != len(rules):
        raise _bad("RuleNumber must be unique.", "RuleNumber")
    if index is None and error is None and not rules:
        raise errors.MalformedXML()
    rules.sort(key=lambda r: r["num"])
    return {"index": index, "error": error, "rules": rules}


def _parse_rule(node) -> dict:
    num = _int(xml.child_text(node, "RuleNumber"), "RuleNumber")
    if num is None or num <= 0:
        raise _bad("RuleNumber must be a positive integer.", "RuleNumber", str(num))
    conds, redirects = xml.children(node, "Condition"), xml.children(node, "Redirect")
    if len(conds) != 1 or len(redirects) != 1:
        raise errors.MalformedXML()
    c = conds[0]
    cond = {"prefix": xml.child_text(c, "KeyPrefixEquals"), "suffix": xml.child_text(c, "KeySuffixEquals"),
            "code": _int(xml.child_text(c, "HttpErrorCodeReturnedEquals"), "HttpErrorCodeReturnedEquals"),
            "headers": []}
    for h in xml.children(c, "IncludeHeader"):
        header = {"key": xml.child_text(h, "Key") or ""}
        if not header["key"]:
            raise _bad("An IncludeHeader needs a Key.", "IncludeHeader")
        for tag in ("Equals", "StartsWith", "EndsWith"):
            if xml.child_text(h, tag) is not None:
                header[tag] = xml.child_text(h, tag)
        cond["headers"].append(header)
    if len(cond["headers"]) > MAX_INCLUDE_HEADERS:
        raise _bad(f"A Condition has at most {MAX_INCLUDE_HEADERS} IncludeHeader.", "IncludeHeader")
    return {"num": num, "cond": cond, "redirect": _parse_redirect(redirects[0], cond)}


def _parse_redirect(r, cond: dict) -> dict:
    kind = xml.child_text(r, "RedirectType") or ""
    if kind not in REDIRECT_TYPES:
        raise _bad("RedirectType must be Mirror, External, Internal or AliCDN.", "RedirectType", kind)
    red = {"RedirectType": kind, "PassQueryString": _bool(xml.child_text(r, "PassQueryString"), "PassQueryString")}
    if kind == "Mirror":
        for tag in _NOT_FOR_MIRROR:
            if xml.child_text(r, tag):
                raise _bad(f"{tag} is not allowed with RedirectType Mirror.", tag, xml.child_text(r, tag))
        if cond["code"] != 404:
            raise _bad("A Mirror rule's HttpErrorCodeReturnedEquals must be 404.", "HttpErrorCodeReturnedEquals",
                       str(cond["code"]))
        for tag in _MIRROR_TEXT:
            red[tag] = xml.child_text(r, tag)
        for tag in _MIRROR_BOOLS:
            red[tag] = _bool(xml.child_text(r, tag), tag)
        for tag in ("MirrorURL", "MirrorURLSlave"):
            url = red[tag]
            if (url is not None or tag == "MirrorURL") and not (
                    (url or "").startswith(("http://", "https://")) and url.endswith("/")):
                raise _bad(f"{tag} must start with http:// or https:// and end with '/'.", tag, url or "")
        if red["MirrorURLSlave"] and not red["MirrorURLProbe"]:
            raise _bad("MirrorURLProbe is required with MirrorURLSlave.", "MirrorURLProbe")
        if red["MirrorPassQueryString"] is not None:
            # OSS: MirrorPassQueryString takes precedence over PassQueryString for Mirror rules
            red["PassQueryString"] = red["MirrorPassQueryString"]
        _parse_mirror_headers(xml.children(r, "MirrorHeaders"))   # validates the limits
        # Everything else a Mirror rule says (MirrorHeaders, MirrorTaggings, MirrorAuth, ...)
        # is kept as given, so GetBucketWebsite returns it whole although ossbox never fetches.
        known = {"RedirectType", "PassQueryString", *_MIRROR_TEXT, *_MIRROR_BOOLS}
        red["extra"] = [_tree(c) for c in r if _local(c.tag) not in known]
        return red
    if kind in ("External", "AliCDN"):
        red["Protocol"] = xml.child_text(r, "Protocol")
        if red["Protocol"] is not None and red["Protocol"] not in ("http", "https"):
            raise _bad("Protocol must be http or https.", "Protocol", red["Protocol"])
        red["HostName"] = xml.child_text(r, "HostName")
        code = _int(xml.child_text(r, "HttpRedirectCode"), "HttpRedirectCode")
        if code is not None and code not in REDIRECT_CODES:
            raise _bad("HttpRedirectCode must be 301, 302 or 307.", "HttpRedirectCode", str(code))
        red["HttpRedirectCode"] = code
    red["ReplaceKeyWith"] = xml.child_text(r, "ReplaceKeyWith")
    red["ReplaceKeyPrefixWith"] = xml.child_text(r, "ReplaceKeyPrefixWith")
    if red["ReplaceKeyWith"] is not None and red["ReplaceKeyPrefixWith"] is not None:
        raise _bad("ReplaceKeyWith and ReplaceKeyPrefixWith cannot both be set.", "ReplaceKeyWith")
    return red


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _tree(node) -> list:
    """An element as [tag, text] or [tag, [children...]]; true/false written as OSS does."""
    kids = list(node)
    if kids:
        return [_local(node.tag), [_tree(k) for k in kids]]
    text = (node.text or "").strip()
    return [_local(node.tag), text.lower() if text.lower() in ("true", "false") else text]


def _parse_mirror_headers(nodes) -> Optional[dict]:
    if not nodes:
        return None
    n = nodes[0]
    out = {"PassAll": _bool(xml.child_text(n, "PassAll"), "PassAll"),
           "Pass": [c.text or "" for c in xml.children(n, "Pass")],
           "Remove": [c.text or "" for c in xml.children(n, "Remove")],
           "Set": [[xml.child_text(s, "Key") or "", xml.child_text(s, "Value") or ""] for s in xml.children(n, "Set")]}
    for tag in ("Pass", "Remove", "Set"):
        if len(out[tag]) > MAX_MIRROR_HEADERS:
            raise _bad(f"MirrorHeaders has at most {MAX_MIRROR_HEADERS} {tag}.", tag)
    return out


# -- rendering ----------------------------------------------------------------------------------------
_REDIRECT_ORDER = ("RedirectType", "PassQueryString", "MirrorURL", "MirrorURLSlave", "MirrorURLProbe", "MirrorSNI",
                   "MirrorPassQueryString", "MirrorFollowRedirect", "MirrorCheckMd5", "Protocol", "HostName",
                   "ReplaceKeyPrefixWith", "ReplaceKeyWith", "HttpRedirectCode")


def render_website(cfg: dict) -> bytes:
    out = []
    if cfg["index"]:
        i = cfg["index"]
        out.append(("IndexDocument", [("Suffix", i["suffix"]), ("SupportSubDir", i["subdir"]), ("Type", i["type"])]))
    if cfg["error"]:
        out.append(("ErrorDocument", [("Key", cfg["error"]["key"]), ("HttpStatus", cfg["error"]["status"])]))
    if cfg["rules"]:
        out.append(("RoutingRules", [("RoutingRule", _render_rule(r)) for r in cfg["rules"]]))
    return xml.document("WebsiteConfiguration", out)


def _render_rule(rule: dict) -> list:
    c = rule["cond"]
    cond = [("KeyPrefixEquals", c["prefix"]), ("KeySuffixEquals", c["suffix"]),
            ("HttpErrorCodeReturnedEquals", c["code"])]
    cond += [("IncludeHeader", [(k[0].upper() + k[1:] if k == "key" else k, v) for k, v in h.items()])
             for h in c["headers"]]
    red = [(tag, rule["redirect"].get(tag)) for tag in _REDIRECT_ORDER]
    red += [tuple(item) for item in rule["redirect"].get("extra", ())]
    return [("RuleNumber", rule["num"]), ("Condition", cond), ("Redirect", red)]


# -- the operations -----------------------------------------------------------------------------------
async def put_bucket_website(req: Request) -> Response:
    rec = await common.require_bucket(req)
    cfg = parse_website(await req.read_xml_body())
    await bucket_config.set_config(req, rec, "website", cfg)
    return Response(200, {}, b"")


async def get_bucket_website(req: Request) -> Response:
    rec = await common.require_bucket(req)
    cfg = rec.config.get("website")
    if cfg is None:
        raise errors.NoSuchWebsite(BucketName=req.bucket)
    return Response.xml(render_website(cfg))


async def delete_bucket_website(req: Request) -> Response:
    await bucket_config.set_config(req, await common.require_bucket(req), "website", None)
    return Response(204, {}, b"")


# -- serving ------------------------------------------------------------------------------------------
def applies(req: Request, handler, object_handlers, list_handler) -> bool:
    """Whether this request is served as a website request (see the module notes)."""
    rec = req.bucket_record
    if rec is None or not rec.config.get("website") or req.method not in ("GET", "HEAD"):
        return False
    if req.key is None:
        # the bucket root: anonymous visitors get the index document, signed callers the listing
        return handler is list_handler and not req.query and req.identity is None
    # any query (a presigned URL's signature, response-* overrides, a visitor's ?x=1) but versionId,
    # which names one version rather than a page of the site
    return handler in object_handlers and "versionId" not in req.query


def _missing(exc: errors.OssError) -> bool:
    return exc.status == 404 and exc.code == "NoSuchKey"


def _header_matches(req: Request, h: dict) -> bool:
    value = req.headers.get(h["key"].lower())
    if value is None:
        return False
    if "Equals" in h and value != h["Equals"]:
        return False
    if "StartsWith" in h and not value.startswith(h["StartsWith"]):
        return False
    if "EndsWith" in h and not value.endswith(h["EndsWith"]):
        return False
    return True


def _rule_for(req: Request, cfg: dict, key: str, code: Optional[int]) -> Optional[dict]:
    """The first rule (by RuleNumber) whose Condition holds for this key and outcome (`code`: the
    status the request would get, None before the object is looked up)."""
    for rule in cfg["rules"]:
        c = rule["cond"]
        if c["code"] is not None and c["code"] != code:
            continue
        if c["code"] is None and code is not None:
            continue  # rules without an error condition were judged before the lookup
        if c["prefix"] is not None and not key.startswith(c["prefix"]):
            continue
        if c["suffix"] is not None and not key.endswith(c["suffix"]):
            continue
        if not all(_header_matches(req, h) for h in c["headers"]):
            continue
        if rule["redirect"]["RedirectType"] == "Mirror":
            continue  # not fetched by ossbox (module notes)
        return rule
    return None


def _new_key(rule: dict, key: str) -> str:
    red = rule["redirect"]
    if red.get("ReplaceKeyWith") is not None:
        return red["ReplaceKeyWith"].replace("${key}", key)
    if red.get("ReplaceKeyPrefixWith") is not None:
        prefix = rule["cond"]["prefix"] or ""
        return red["ReplaceKeyPrefixWith"] + key[len(prefix):]
    return key


def _location(req: Request, key: str, *, proto: Optional[str] = None, host: Optional[str] = None,
              query: Optional[str] = None) -> str:
    """An absolute URL of `key` in this bucket (path-style when the request was path-style)."""
    scheme = proto or req.scope.get("scheme", "http")
    own_host = req.host or f"{req.server.config.host}:{req.server.config.port}"
    path = quote(key, safe="/~")
    if host is None and req.server.host_bucket(own_host) is None:
        path = f"{req.bucket}/{path}"  # path-style: the bucket is the first path segment
    url = f"{scheme}://{host or own_host}/{path}"
    return f"{url}?{query}" if query else url


async def _apply_rule(req: Request, rule: dict, key: str, handler) -> Response:
    red = rule["redirect"]
    new_key = _new_key(rule, key)
    if red["RedirectType"] == "Internal":
        return await _serve(req, new_key, handler)
    # the visitor's query, never a presigned URL's credentials
    passed = [(k, v) for k, v in req.query_list if k not in _SIGNATURE_PARAMS and not k.startswith("x-oss-")]
    query = urlencode(passed) if red.get("PassQueryString") and passed else None
    location = _location(req, new_key, proto=red.get("Protocol"), host=red.get("HostName"), query=query)
    return Response(red.get("HttpRedirectCode") or 302, {"location": location}, b"")


async def _serve(req: Request, key: str, handler) -> Response:
    """The handler's answer for `key`, authorized as a read of that key."""
    req.key = key
    await req.server.authorizer.check(req, "oss:GetObject")
    return await handler(req)


async def serve(req: Request, handler) -> Response:
    """Answer a website request: rules, then the object or index document, then the error
    document. `handler` is GetObject or HeadObject."""
    cfg = req.bucket_record.config["website"]
    key = req.key or ""
    rule = _rule_for(req, cfg, key, None)
    if rule is not None:
        return await _apply_rule(req, rule, key, handler)
    index = cfg["index"]
    try:
        if key == "" or key.endswith("/"):
            if index is None:
                if not key:
                    return await _not_found(req, cfg, key, handler)
                return await _serve(req, key, handler)
            # SupportSubDir false: every directory shows the root's index document
            return await _serve(req, (key if index["subdir"] else "") + index["suffix"], handler)
        return await _serve(req, key, handler)
    except errors.OssError as exc:
        if not _missing(exc):
            raise
        if index is not None and index["subdir"] and key and not key.endswith("/"):
            sub_index = f"{key}/{index['suffix']}"
            if index["type"] == 0 and await req.server.engine.get_object(req.bucket, sub_index) is not None:
                # Type 0: the key is a directory with an index document: redirect to "<key>/"
                return Response(302, {"location": _location(req, key + "/")}, b"")
            if index["type"] == 2:
                try:
                    return await _serve(req, sub_index, handler)
                except errors.OssError as exc2:
                    if not _missing(exc2):
                        raise
        req.key = key or None
        return await _not_found(req, cfg, key, handler, exc)


async def _not_found(req: Request, cfg: dict, key: str, handler, exc=None) -> Response:
    rule = _rule_for(req, cfg, key, 404)
    if rule is not None:
        return await _apply_rule(req, rule, key, handler)
    error = cfg["error"]
    if error is not None:
        try:
            resp = await _serve(req, error["key"], handler)
        except errors.OssError as exc2:
            if not _missing(exc2):
                raise
        else:
            if resp.status == 200:
                resp.status = error["status"]
            return resp
    raise exc or errors.NoSuchKey(Key=key)
