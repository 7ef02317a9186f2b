"""Attempts to get in where one should not: forged and replayed signatures, expired URLs, path
tricks, header injection, oversized headers, callers without rights. Each must fail with a 4xx OSS
error and leave every stored byte as it was."""
import email.utils
import http.client
import json
import os
import time
import uuid
from urllib.parse import urlparse

import oss2
import pytest
import requests

from ossbox.auth import SignedRequest
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from conftest import admin, put_policy
from signing import sign_v1_header


@pytest.fixture
def guarded(server, bucket):
    """A bucket with known content; after the test, the content must be exactly the same."""
    bucket.append_object("log", 0, b"original bytes")
    bucket.put_object("doc", b"document")
    before = _snapshot(bucket)
    yield bucket
    assert _snapshot(bucket) == before, "a refused request changed stored data"


def _snapshot(bucket):
    objects = sorted((o.key, o.size, o.etag) for o in oss2.ObjectIterator(bucket))
    return objects, bucket.get_object("log").read(), bucket.get_object("doc").read(), \
        bucket.get_bucket_acl().acl


def raw(server, method, path, headers, body=b""):
    u = urlparse(server.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def signed_headers(method, bucket, key, query, date, secret=ACCESS_KEY_SECRET, extra=None):
    headers = {"date": date, **(extra or {})}
    headers["authorization"] = sign_v1_header(SignedRequest(method, bucket, key, query, dict(headers)),
                                              ACCESS_KEY_ID, secret)
    return headers


def test_forged_signatures(server, guarded):
    n = guarded.bucket_name
    date = email.utils.formatdate(usegmt=True)
    # signed for position 0, replayed with another position: the position is signed
    h = signed_headers("POST", n, "log", [("append", ""), ("position", "0")], date)
    status, body = raw(server, "POST", f"/{n}/log?append&position=14", h, b"!")
    assert status == 403 and b"SignatureDoesNotMatch" in body
    # signed for one key, used on another
    h = signed_headers("DELETE", n, "other", [], date)
    status, body = raw(server, "DELETE", f"/{n}/doc", h)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    # the right key id with a guessed secret; a truncated signature; garbage
    for auth in [signed_headers("DELETE", n, "doc", [], date, secret="guess")["authorization"],
                 f"OSS {ACCESS_KEY_ID}:" + "A" * 27 + "=", f"OSS {ACCESS_KEY_ID}:", "OSS", "Bearer xyz"]:
        status, body = raw(server, "DELETE", f"/{n}/doc", {"date": date, "authorization": auth})
        assert 400 <= status < 500, (auth, status)


def test_replays_past_their_time(server, guarded):
    n = guarded.bucket_name
    old = email.utils.formatdate(time.time() - 16 * 60, usegmt=True)  # 16 minutes ago
    status, body = raw(server, "DELETE", f"/{n}/doc", signed_headers("DELETE", n, "doc", [], old))
    assert status == 403 and b"RequestTimeTooSkewed" in body
    expired = guarded.sign_url("DELETE", "doc", -1)
    r = requests.delete(expired, timeout=10)
    assert r.status_code == 403 and b"expired" in r.content
    v4 = oss2.Bucket(oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(
        ACCESS_KEY_ID, ACCESS_KEY_SECRET)), server.endpoint, n, region="cn-hangzhou")
    short = v4.sign_url("DELETE", "doc", 1)
    time.sleep(2.2)
    r = requests.delete(short, timeout=10)
    assert r.status_code == 403
    too_long = v4.sign_url("GET", "doc", 604801)
    assert requests.get(too_long, timeout=10).status_code == 400


def test_path_tricks_stay_keys(server, guarded):
    tricky = ["../escape", "a/../../b", "..%2F..%2Fetc", "./dot", "back\\slash/../x", "nul\u0000byte"]
    stored = []
    for key in tricky:
        try:
            guarded.put_object(key, b"k")
            stored.append(key)
        except oss2.exceptions.OssError as e:
            assert 400 <= e.status < 500
    for key in stored:
        assert guarded.get_object(key).read() == b"k"
    names = set()
    for root, _dirs, files in os.walk(server.data_dir):
        names.update(files)
    assert not any("escape" in f or "etc" == f or "dot" in f for f in names)
    for key in stored:
        guarded.delete_object(key)


def test_header_injection_is_refused(server, guarded):
    with pytest.raises(oss2.exceptions.OssError) as e:
        guarded.get_object("doc", params={"response-content-disposition": "inline\r\nSet-Cookie: a=1"})
    assert (e.value.status, e.value.code) == (400, "InvalidArgument")
    r = guarded.get_object("doc", params={"response-content-disposition": "attachment; filename=ok.txt"})
    assert r.headers["Content-Disposition"] == "attachment; filename=ok.txt"


def test_oversized_headers_are_refused(server, guarded):
    with pytest.raises(oss2.exceptions.OssError) as e:
        guarded.get_object("doc", headers={f"x-oss-junk-{i}": "v" * 1000 for i in range(70)})
    assert (e.value.status, e.value.code) == (400, "RequestHeaderSectionTooLarge")


def test_callers_without_rights_change_nothing(server, guarded):
    n = guarded.bucket_name
    anon = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, n)
    name = "u" + uuid.uuid4().hex[:10]
    admin(server, "CreateUser", {"UserName": name})
    key = admin(server, "CreateAccessKey", {"UserName": name})
    reader = {"name": name}
    put_policy(server, reader, [{"Effect": "Allow", "Action": "oss:GetObject", "Resource": "*"}])
    ram = oss2.Bucket(oss2.Auth(key["AccessKeyId"], key["AccessKeySecret"]), server.endpoint, n)
    assert ram.get_object("doc").read() == b"document"
    for who in (anon, ram):
        attempts = [lambda: who.append_object("log", 14, b"x"), lambda: who.put_object("doc", b"y"),
                    lambda: who.delete_object("doc"), lambda: who.put_object_acl("doc", "public-read-write"),
                    lambda: who.put_bucket_acl("public-read-write"), lambda: who.batch_delete_objects(["doc"]),
                    lambda: who.copy_object(n, "doc", "copy"), lambda: who.delete_bucket(),
                    lambda: who.put_bucket_policy(json.dumps({"Version": "1", "Statement": [
                        {"Effect": "Allow", "Action": "oss:*", "Principal": ["*"],
                         "Resource": [f"acs:oss:*:*:{n}/*"]}]}))]
        for attempt in attempts:
            with pytest.raises(oss2.exceptions.OssError) as e:
                attempt()
            assert e.value.status == 403, e.value
