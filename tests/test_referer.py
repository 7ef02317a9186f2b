"""Hotlink protection through oss2 and alibabacloud-oss-v2: Put/GetBucketReferer and the Referer check,
which applies to anonymous and presigned-URL requests only (header-signed ones are not checked)."""
import http.client
from urllib.parse import urlparse

import pytest
import requests

import oss2
import alibabacloud_oss_v2 as oss
from oss2.models import BucketReferer

from conftest import as_user, put_policy


def _anon_get(server, bucket_name, key, referer=None):
    u = urlparse(server.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", f"/{bucket_name}/{key}", headers={"Referer": referer} if referer is not None else {})
        r = conn.getresponse()
        return r.status, r.getheader("x-oss-ec"), r.read()
    finally:
        conn.close()


def test_get_bucket_referer_defaults_and_round_trip(bucket):
    got = bucket.get_bucket_referer()  # never configured: OSS's defaults
    assert got.allow_empty_referer is True and got.referers == [] and got.allow_truncate_query_string is True
    bucket.put_bucket_referer(BucketReferer(False, ["http://www.aliyun.com", "https://*.example.com", "http://?.x.cn"],
                                            allow_truncate_query_string=False,
                                            black_referers=["http://bad.example.com"]))
    got = bucket.get_bucket_referer()
    assert got.allow_empty_referer is False
    assert got.allow_truncate_query_string is False
    assert got.referers == ["http://www.aliyun.com", "https://*.example.com", "http://?.x.cn"]
    assert got.black_referers == ["http://bad.example.com"]
    # an empty RefererList clears the whitelist (overwrite semantics)
    bucket.put_bucket_referer(BucketReferer(True, []))
    got = bucket.get_bucket_referer()
    assert got.allow_empty_referer is True and got.referers == [] and got.black_referers == []


def test_put_bucket_referer_refuses_bad_documents(bucket):
    for body, code in [
        (b"<RefererConfiguration><RefererList/></RefererConfiguration>", "MalformedXML"),  # no AllowEmptyReferer
        (b"<RefererConfiguration><AllowEmptyReferer>true</AllowEmptyReferer></RefererConfiguration>",
         "MalformedXML"),  # no RefererList
        (b"<RefererConfiguration><AllowEmptyReferer>yes</AllowEmptyReferer><RefererList/>"
         b"</RefererConfiguration>", "InvalidArgument"),
        (b"<Referer/>", "MalformedXML"),
    ]:
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.put_bucket_referer(body)
        assert (info.value.status, info.value.code) == (400, code), body


def test_referer_check_on_anonymous_requests(server, bucket, bucket_name):
    bucket.put_object("pic.png", b"img")
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    assert _anon_get(server, bucket_name, "pic.png")[0] == 200
    bucket.put_bucket_referer(BucketReferer(False, ["http://www.aliyun.com", "https://*.example.com",
                                                    "http://?.x.cn"],
                                            black_referers=["https://bad.example.com"]))
    status, ec, body = _anon_get(server, bucket_name, "pic.png")
    assert (status, ec) == (403, "0003-00000501")
    assert b"You are denied by bucket referer policy." in body and b"<Code>AccessDenied</Code>" in body
    assert _anon_get(server, bucket_name, "pic.png", "http://evil.test/page")[:2] == (403, "0003-00000503")
    assert _anon_get(server, bucket_name, "pic.png", "https://bad.example.com?x=1")[:2] == (403, "0003-00000502")
    for ok in ("http://www.aliyun.com", "https://cdn.example.com", "HTTPS://Cdn.Example.com",
               "https://a.b.example.com", "http://a.x.cn",
               "http://www.aliyun.com?from=ad"):  # the query string is truncated by default
        assert _anon_get(server, bucket_name, "pic.png", ok)[0] == 200, ok
    # the whole Referer must match: a path is kept unless TruncatePath
    for refused in ("http://ab.x.cn", "http://www.aliyun.com/page", "http://www.aliyun.com.evil.test",
                    "https://a.b.example.com/deep/page.html"):
        assert _anon_get(server, bucket_name, "pic.png", refused)[0] == 403, refused
    # TruncatePath: the path is dropped too before matching
    bucket.put_bucket_referer(b"<RefererConfiguration><AllowEmptyReferer>true</AllowEmptyReferer>"
                              b"<AllowTruncateQueryString>true</AllowTruncateQueryString>"
                              b"<TruncatePath>true</TruncatePath><RefererList><Referer>http://www.aliyun.com"
                              b"</Referer></RefererList></RefererConfiguration>")
    assert _anon_get(server, bucket_name, "pic.png", "http://www.aliyun.com/page?a=1")[0] == 200
    assert _anon_get(server, bucket_name, "pic.png")[0] == 200  # empty allowed now
    # with query-string truncation off, a Referer with a query no longer matches
    bucket.put_bucket_referer(BucketReferer(True, ["http://www.aliyun.com"], allow_truncate_query_string=False))
    assert _anon_get(server, bucket_name, "pic.png", "http://www.aliyun.com?from=ad")[0] == 403
    # blacklist only: everything else passes
    bucket.put_bucket_referer(BucketReferer(True, [], black_referers=["*evil*"]))
    assert _anon_get(server, bucket_name, "pic.png", "http://ok.test")[0] == 200
    assert _anon_get(server, bucket_name, "pic.png", "http://evil.test")[0] == 403


def test_referer_check_presigned_yes_header_signed_no(server, bucket, bucket_name):
    bucket.put_object("doc", b"body")
    bucket.put_bucket_referer(BucketReferer(False, ["https://app.example.com*"]))
    # header-signed (oss2's normal requests): not checked, even without a Referer
    assert bucket.get_object("doc").read() == b"body"
    assert bucket.get_object("doc", headers={"Referer": "http://evil.test"}).read() == b"body"
    # presigned URL: checked
    url = bucket.sign_url("GET", "doc", 60)
    r = requests.get(url)
    assert (r.status_code, r.headers.get("x-oss-ec")) == (403, "0003-00000501")
    assert requests.get(url, headers={"Referer": "http://evil.test/"}).status_code == 403
    r = requests.get(url, headers={"Referer": "https://app.example.com/index.html"})
    assert r.status_code == 200 and r.content == b"body"


def test_referer_v2_and_ram_actions(server, v2, bucket, bucket_name, user):
    v2.put_bucket_referer(oss.PutBucketRefererRequest(bucket=bucket_name, referer_configuration=oss.RefererConfiguration(
        allow_empty_referer=False, allow_truncate_query_string=True, truncate_path=True,
        referer_list=oss.RefererList(referers=["http://*.aliyun.com"]),
        referer_blacklist=oss.RefererBlacklist(referers=["http://x.aliyun.com"]))))
    got = v2.get_bucket_referer(oss.GetBucketRefererRequest(bucket=bucket_name)).referer_configuration
    assert got.allow_empty_referer is False and got.truncate_path is True
    assert got.referer_list.referers == ["http://*.aliyun.com"]
    assert got.referer_blacklist.referers == ["http://x.aliyun.com"]
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetBucketReferer"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}"]}])
    b = as_user(server, user, bucket_name)
    assert b.get_bucket_referer().referers == ["http://*.aliyun.com"]
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.put_bucket_referer(BucketReferer(True, []))
