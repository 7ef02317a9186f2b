"""Bucket CORS through oss2 and alibabacloud-oss-v2: Put/Get/DeleteBucketCors, the OPTIONS
preflight (raw HTTP, unauthenticated, as a browser sends it) and CORS headers on actual requests."""
import http.client
from urllib.parse import urlparse

import pytest

import oss2
import alibabacloud_oss_v2 as oss
from oss2.models import BucketCors, CorsRule

from conftest import as_user, put_policy, v2_error


def _raw(server, method, path, headers=None, body=b""):
    """One unsigned request, as a browser's preflight is."""
    u = urlparse(server.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _rules():
    return BucketCors([
        CorsRule(allowed_origins=["http://app.example.com"], allowed_methods=["GET", "PUT"],
                 allowed_headers=["x-oss-meta-*", "Content-Type"], expose_headers=["ETag", "x-oss-request-id"],
                 max_age_seconds=600),
        CorsRule(allowed_origins=["https://*.example.org"], allowed_methods=["GET"]),
    ], response_vary=True)


def test_put_get_delete_bucket_cors(bucket):
    with pytest.raises(oss2.exceptions.NoSuchCors):
        bucket.get_bucket_cors()
    bucket.put_bucket_cors(_rules())
    got = bucket.get_bucket_cors()
    assert len(got.rules) == 2
    first = got.rules[0]
    assert first.allowed_origins == ["http://app.example.com"]
    assert first.allowed_methods == ["GET", "PUT"]
    assert first.allowed_headers == ["x-oss-meta-*", "content-type"]  # lower-cased, as OSS stores them
    assert first.expose_headers == ["ETag", "x-oss-request-id"]
    assert first.max_age_seconds == 600
    assert got.rules[1].max_age_seconds is None
    assert got.response_vary is True
    # overwrite semantics: the new rules replace all old ones
    bucket.put_bucket_cors(BucketCors([CorsRule(allowed_origins=["*"], allowed_methods=["HEAD"])]))
    got = bucket.get_bucket_cors()
    assert [r.allowed_methods for r in got.rules] == [["HEAD"]]
    assert got.response_vary is False
    assert bucket.delete_bucket_cors().status == 204
    with pytest.raises(oss2.exceptions.NoSuchCors) as info:
        bucket.get_bucket_cors()
    assert info.value.status == 404
    assert bucket.delete_bucket_cors().status == 204  # deleting nothing is fine


def test_put_bucket_cors_refuses_bad_rules(bucket):
    bad = [
        [CorsRule(allowed_origins=["*"], allowed_methods=["PATCH"])],
        [CorsRule(allowed_origins=["http://*.*.com"], allowed_methods=["GET"])],
        [CorsRule(allowed_origins=["*"], allowed_methods=["GET"], expose_headers=["x-*"])],
        [CorsRule(allowed_origins=["*"], allowed_methods=["GET"])] * 11,
    ]
    for rules in bad:
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.put_bucket_cors(BucketCors(rules))
        assert (info.value.status, info.value.code) == (400, "InvalidArgument"), rules
    for age in ("-1", "\u00b2", "x", "99999999999"):
        body = ("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                f"<MaxAgeSeconds>{age}</MaxAgeSeconds></CORSRule></CORSConfiguration>").encode()
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.put_bucket_cors(body)
        assert (info.value.status, info.value.code) == (400, "InvalidArgument"), age
    for body in (b"<CORSConfiguration></CORSConfiguration>", b"<CORSConfiguration><CORSRule>",
                 b"<Other/>"):
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.put_bucket_cors(body)
        assert (info.value.status, info.value.code) == (400, "MalformedXML")
    with pytest.raises(oss2.exceptions.NoSuchCors):
        bucket.get_bucket_cors()  # nothing was stored


def test_bucket_cors_v2(v2, bucket_name):
    err = v2_error(v2.get_bucket_cors, oss.GetBucketCorsRequest(bucket=bucket_name))
    assert (err.status_code, err.code) == (404, "NoSuchCORSConfiguration")
    v2.put_bucket_cors(oss.PutBucketCorsRequest(bucket=bucket_name, cors_configuration=oss.CORSConfiguration(
        cors_rules=[oss.CORSRule(allowed_origins=["*"], allowed_methods=["PUT", "GET"],
                                 allowed_headers=["*"], max_age_seconds=30)])))
    got = v2.get_bucket_cors(oss.GetBucketCorsRequest(bucket=bucket_name)).cors_configuration
    assert got.cors_rules[0].allowed_methods == ["PUT", "GET"]
    assert got.cors_rules[0].max_age_seconds == 30
    r = v2.option_object(oss.OptionObjectRequest(bucket=bucket_name, key="k", origin="http://x.test",
                                                 access_control_request_method="PUT",
                                                 access_control_request_headers="x-oss-meta-a"))
    assert r.access_control_allow_origin == "http://x.test"
    assert r.access_control_allow_headers == "x-oss-meta-a"
    assert r.access_control_max_age == 30
    v2.delete_bucket_cors(oss.DeleteBucketCorsRequest(bucket=bucket_name))
    err = v2_error(v2.get_bucket_cors, oss.GetBucketCorsRequest(bucket=bucket_name))
    assert err.code == "NoSuchCORSConfiguration"


def test_preflight_without_credentials(server, bucket, bucket_name):
    path = f"/{bucket_name}/some/key.txt"
    pre = {"Origin": "http://app.example.com", "Access-Control-Request-Method": "PUT",
           "Access-Control-Request-Headers": "x-oss-meta-color, content-type"}
    status, headers, body = _raw(server, "OPTIONS", path, pre)
    assert status == 403 and b"<Code>AccessForbidden</Code>" in body
    assert b"CORSResponse" in body
    bucket.put_bucket_cors(_rules())

    status, headers, body = _raw(server, "OPTIONS", path, pre)
    assert status == 200, body
    assert headers["access-control-allow-origin"] == "http://app.example.com"
    assert headers["access-control-allow-methods"] == "GET, PUT"
    assert headers["access-control-allow-headers"] == "x-oss-meta-color, content-type"
    assert headers["access-control-expose-headers"] == "ETag, x-oss-request-id"
    assert headers["access-control-max-age"] == "600"
    assert headers["vary"] == "Origin"
    # on the bucket itself too, and the wildcard origin of the second rule
    status, headers, _ = _raw(server, "OPTIONS", f"/{bucket_name}",
                              {"Origin": "https://www.example.org", "Access-Control-Request-Method": "GET"})
    assert status == 200 and headers["access-control-allow-origin"] == "https://www.example.org"
    assert headers["access-control-allow-methods"] == "GET"
    assert "access-control-max-age" not in headers

    refused = [
        {**pre, "Origin": "http://evil.test"},                              # origin
        {**pre, "Access-Control-Request-Method": "DELETE"},                 # method
        {**pre, "Access-Control-Request-Headers": "x-oss-meta-a, authorization"},  # a header
        {"Origin": "https://www.example.org", "Access-Control-Request-Method": "PUT"},
        {"Origin": "http://app.example.com"},                               # no method
    ]
    for h in refused:
        status, headers, body = _raw(server, "OPTIONS", path, h)
        assert status == 403, h
        assert b"<Code>AccessForbidden</Code>" in body and b"CORSResponse: This CORS request is not allowed" in body
        assert "access-control-allow-origin" not in headers
    status, _, body = _raw(server, "OPTIONS", "/no-such-bucket-cors-x/k", pre)
    assert status == 404 and b"NoSuchBucket" in body
    # any signature on a preflight is ignored, even one by an unknown key (OSS; alibabacloud-oss-v2's tests)
    status, headers, _ = _raw(server, "OPTIONS", path, {**pre, "Authorization": "OSS LTAInosuchkey:c2lnbmF0dXJl"})
    assert status == 200 and headers["access-control-allow-origin"] == "http://app.example.com"


def test_actual_requests_carry_cors_headers(server, bucket, bucket_name):
    bucket.put_object("k", b"data")
    origin = {"Origin": "http://app.example.com"}
    assert "access-control-allow-origin" not in bucket.get_object("k", headers=origin).headers
    bucket.put_bucket_cors(_rules())
    r = bucket.get_object("k", headers=origin)
    assert r.read() == b"data"
    assert r.headers["access-control-allow-origin"] == "http://app.example.com"
    assert r.headers["access-control-expose-headers"] == "ETag, x-oss-request-id"
    assert r.headers["vary"] == "Origin"
    # PUT is allowed for this origin, DELETE is not (no CORS headers, the request still works)
    assert bucket.put_object("k2", b"x", headers=origin).headers["access-control-allow-origin"] == \
        "http://app.example.com"
    d = bucket.delete_object("k2", headers=origin)
    assert "access-control-allow-origin" not in d.headers and d.headers["vary"] == "Origin"
    # an error answer carries them too, so the browser can read it
    with pytest.raises(oss2.exceptions.NoSuchKey) as info:
        bucket.get_object("missing", headers=origin)
    assert info.value.headers["access-control-allow-origin"] == "http://app.example.com"
    # an anonymous request is still refused by authorization, with CORS headers
    status, headers, _ = _raw(server, "GET", f"/{bucket_name}/k", origin)
    assert status == 403 and headers["access-control-allow-origin"] == "http://app.example.com"


def test_cors_ram_actions(server, bucket, bucket_name, user):
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetBucketCors"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}"]}])
    b = as_user(server, user, bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.put_bucket_cors(_rules())
    bucket.put_bucket_cors(_rules())
    assert len(b.get_bucket_cors().rules) == 2
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.delete_bucket_cors()
