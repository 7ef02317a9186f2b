"""What a V1 signature must cover (issue 9, item 5; docs/architecture.md "What a V1 signature must
cover").

OSS's V1 signature signs only "sub-resources" of the query, and SDKs disagree on the list, so the
verifier tolerates extra query keys it does not know. The rule: no unsigned query key may change
what an operation does. Keys that select or change an operation must be signed; listing
parameters (prefix, marker, max-keys, ...) stay unsigned as in OSS, since they only choose which
part of a listing a read returns.
"""
from __future__ import annotations

import email.utils
import pathlib
import re
from urllib.parse import quote

import oss2
import pytest
import requests
from oss2.models import PAYER_REQUESTER

from conftest import as_user, put_policy
from ossbox.auth import SignedRequest, subresources
from ossbox.http import router
from signing import sign_v1_header

# Query keys the server acts on that V1 leaves unsigned, each with the reason it is harmless.
UNSIGNED_BY_DESIGN = {
    # listing parameters: unsigned in OSS's V1 too; they only page or filter a read
    "prefix": "listing", "marker": "listing", "max-keys": "listing", "delimiter": "listing",
    "encoding-type": "listing", "start-after": "listing", "fetch-owner": "listing",
    "key-marker": "listing", "upload-id-marker": "listing", "max-uploads": "listing",
    "max-parts": "listing", "part-number-marker": "listing", "version-id-marker": "listing",
    "tag-key": "listing (ListBuckets filter)", "tag-value": "listing (ListBuckets filter)",
    "list-type": "ListObjects V1 or V2: both are the same read (oss:ListObjects)",
    # no SDK signs it in V1 (OSS's neither): it turns a captured ListBuckets into DescribeRegions,
    # a read of the server's one region and the Host the client used -- nothing private
    "regions": "DescribeRegions reveals nothing",
    # oss2 2.19.1 sends PutBucketAccessMonitor/GetBucketAccessMonitor as "?accessmonitor" (lowercase;
    # Bucket.ACCESS_MONITOR) and does not sign it in V1 (not in its sub-resource list), so it cannot be
    # required. Added to a captured request it selects a bucket read of one flag (Get), or a PUT whose
    # body must be an AccessMonitorConfiguration -- which only a PutBucketAccessMonitor request carries
    "accessmonitor": "oss2 does not sign it; a captured request cannot become a different write",
    # only ever leads to a refusal
    "select": "501 NotImplemented",
    # ignored on GET; on POST it names SelectObject / CreateSelectObjectMeta (reads, authorized as
    # GetObject) only when no other sub-resource does, and an object POST without a sub-resource
    # is never a valid request, so adding it cannot turn a captured request into another one
    "x-oss-process": "only a lone POST sub-resource: no signed request to convert",
    # a watch is a wait on the same object, authorized as GetObject: added to a captured GetObject
    # it answers with the length, CRC-64 and ETag -- less than replaying that GetObject reads
    "x-ossbox-watch": "a GetObject-authorized wait on the same object",
    "timeout": "only how long a watch waits",
    # the admin API binds its action in the signed x-oss-ossbox-admin header
    "x-ossbox-admin": "admin action is taken from a signed header",
    # the signature and credential parameters themselves
    "OSSAccessKeyId": "auth", "Expires": "auth", "Signature": "auth", "x-oss-signature": "auth",
    "x-oss-signature-version": "auth", "x-oss-credential": "auth", "x-oss-date": "auth",
    "x-oss-expires": "auth", "x-oss-access-key-id": "auth", "x-oss-additional-headers": "auth",
    "x-oss-security-token": "a token must name the signing key and carry a valid MAC",
}

_ROOT = pathlib.Path(__file__).resolve().parent.parent / "ossbox"
_USES = re.compile(r'query\.get\("([^"]+)"|query\["([^"]+)"\]|"([^"]+)" in (?:req\.)?query\b'
                   r'|_param\(req, "([^"]+)"'  # _param, _int_param
                   r'|header_or_query\(req, "[^"]+", "([^"]+)"')


def interpreted_query_keys() -> set[str]:
    """Every query key the server's code reads (found in the source), plus the router's tables."""
    keys = set()
    for path in _ROOT.rglob("*.py"):
        if path.name.startswith("signature"):
            continue
        for m in _USES.finditer(path.read_text()):
            keys.update(g for g in m.groups() if g)
    for table in (router._OBJECT_OPS, router._BUCKET_OPS, router._SERVICE_OPS):
        for entries in table.values():
            for sub, _h, _a in entries:
                if sub:  # a key, or a tuple of keys and key=value conditions
                    keys.update(c.partition("=")[0] for c in (sub if isinstance(sub, tuple) else (sub,)))
    keys.update(router._UNSUPPORTED_BUCKET | router._UNSUPPORTED_OBJECT)
    from ossbox.ops.args import RESPONSE_OVERRIDES
    keys.update(RESPONSE_OVERRIDES)
    return keys


def test_every_interpreted_query_key_is_signed_in_v1_or_harmless():
    keys = interpreted_query_keys()
    assert {"append", "position", "versionId", "uploadId", "partNumber", "x-oss-traffic-limit",
            "response-content-type", "prefix", "max-uploads", "x-ossbox-admin", "callback",
            "callback-var", "regions"} <= keys  # the scan works
    unsigned = sorted(k for k in keys if k not in subresources._CORE_SUB and k not in UNSIGNED_BY_DESIGN)
    assert not unsigned, f"query keys that change an operation but V1 does not sign: {unsigned}"


# -- against a real server ------------------------------------------------------------------------
def _v1_headers(method, bucket, key, query, ak, sk):
    h = {"date": email.utils.formatdate(usegmt=True)}
    h["authorization"] = sign_v1_header(SignedRequest(method, bucket, key, query, dict(h)), ak, sk)
    return h


def _url(server, bucket, key, query):
    q = "&".join(quote(k, safe="") + ("=" + quote(v, safe="") if v else "") for k, v in query)
    return f"{server.endpoint}/{bucket}/{quote(key)}" + ("?" + q if q else "")


def _code(r) -> str:
    m = re.search(rb"<Code>([^<]*)</Code>", r.content)
    return m.group(1).decode() if m else ""


def test_unsigned_request_payer_cannot_accept_charges(server, bucket, user):
    """A RAM user's V1 request that was refused (requester pays, charges not accepted) must not
    succeed once someone adds `x-oss-request-payer=requester` it never signed."""
    n = bucket.bucket_name
    bucket.put_object("k", b"data")
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": [f"acs:oss:*:*:{n}/*"]}])
    bucket.put_bucket_request_payment(PAYER_REQUESTER)
    h = _v1_headers("GET", n, "k", [], user["ak"], user["sk"])
    r = requests.get(_url(server, n, "k", []), headers=h, timeout=10)
    assert (r.status_code, r.headers.get("x-oss-ec")) == (403, "0003-00000703")
    r = requests.get(_url(server, n, "k", [("x-oss-request-payer", "requester")]), headers=h, timeout=10)
    assert (r.status_code, _code(r)) == (403, "SignatureDoesNotMatch"), r.content[:300]
    assert b"x-oss-request-payer" in r.content and b"must cover" in r.content
    # the same parameter signed (oss2 signs it in presigned URLs) is accepted
    url = as_user(server, user, n).sign_url("GET", "k", 60, params={"x-oss-request-payer": "requester"})
    r = requests.get(url, timeout=10)
    assert (r.status_code, r.content) == (200, b"data")
    # and a presigned URL without it cannot have it added
    url = as_user(server, user, n).sign_url("GET", "k", 60)
    assert requests.get(url + "&x-oss-request-payer=requester", timeout=10).status_code == 403


def test_unsigned_traffic_limit_is_refused(server, bucket):
    bucket.put_object("k", b"data")
    n = bucket.bucket_name
    h = _v1_headers("GET", n, "k", [], "LTAItestAccessKeyId0001", "testAccessKeySecret0000000001")
    assert requests.get(_url(server, n, "k", []), headers=h, timeout=10).status_code == 200
    r = requests.get(_url(server, n, "k", [("x-oss-traffic-limit", "245760")]), headers=h, timeout=10)
    assert (r.status_code, _code(r)) == (403, "SignatureDoesNotMatch")
    url = bucket.sign_url("GET", "k", 60, params={"x-oss-traffic-limit": "819200"})  # oss2 signs it
    assert requests.get(url, timeout=10).content == b"data"
    url = bucket.sign_url("GET", "k", 60)
    assert requests.get(url + "&x-oss-traffic-limit=245760", timeout=10).status_code == 403


@pytest.mark.parametrize("method,signed,added", [
    ("PUT", [], [("acl", "")]),                                  # PutObject -> PutObjectAcl
    ("PUT", [], [("tagging", "")]),                              # PutObject -> PutObjectTagging
    ("PUT", [], [("uploadId", "x"), ("partNumber", "1")]),       # PutObject -> UploadPart
    ("POST", [("append", ""), ("position", "0")], [("uploads", "")]),
    ("DELETE", [], [("versionId", "v1")]),                       # DeleteObject -> delete a version
    ("DELETE", [], [("tagging", "")]),
    ("GET", [], [("acl", "")]),
    ("GET", [], [("response-content-type", "text/html")]),
    ("POST", [("append", ""), ("position", "0")], [("seal", "")]),
])
def test_captured_request_cannot_become_another_operation(server, bucket, method, signed, added):
    n = bucket.bucket_name
    bucket.put_object("k", b"data")
    before = bucket.get_object("k").read(), bucket.get_object_acl("k").acl
    h = _v1_headers(method, n, "k", signed, "LTAItestAccessKeyId0001", "testAccessKeySecret0000000001")
    r = requests.request(method, _url(server, n, "k", signed + added), headers=h, data=b"x", timeout=10)
    assert (r.status_code, _code(r)) == (403, "SignatureDoesNotMatch"), r.content[:300]
    assert (bucket.get_object("k").read(), bucket.get_object_acl("k").acl) == before


def test_listing_parameters_stay_unsigned_like_oss(server, bucket):
    """OSS's V1 does not sign prefix/marker/max-keys: a signed listing accepts them unsigned (they
    page or filter the same read); oss2 itself never signs them."""
    for k in ("a/1", "b/1"):
        bucket.put_object(k, b"x")
    n = bucket.bucket_name
    h = _v1_headers("GET", n, None, [], "LTAItestAccessKeyId0001", "testAccessKeySecret0000000001")
    r = requests.get(f"{server.endpoint}/{n}/?prefix=b/&max-keys=5", headers=h, timeout=10)
    assert r.status_code == 200 and b"<Key>b/1</Key>" in r.content and b"a/1" not in r.content
