"""PostObject (browser form upload, `POST /<bucket>` with multipart/form-data) over real HTTP.

The forms are built here the way OSS's PostObject documentation and its browser samples build
them (fields first, `file` last), and signed with the documented algorithms written out in this
file, independently of the server's code:
  V1: Signature = base64(HMAC-SHA1(secret, base64(policy)))
  V4: x-oss-signature = hex(HMAC-SHA256(signing key(secret, yyyymmdd, region, "oss"), base64(policy)))
oss2 has no PostObject API. ali-oss has policy signing helpers (calculatePostSignature for V1,
signPostObjectPolicyV4 for V4): test_ali_oss_signed_form signs with those and sends the form with
Node's own FormData and fetch (tests/js/post_object_form.js; needs `npm ci --prefix tests/js`).
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import uuid
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import oss2
import pytest
import requests

from conftest import admin, put_policy
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

REGION = "cn-hangzhou"   # the server's default region


# -- the client side, as the documentation describes it ------------------------------------------
def encode_policy(conditions, expires_in=3600, expiration=None):
    if expiration is None:
        when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expires_in)
        expiration = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    doc = {"expiration": expiration, "conditions": conditions}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def sign_v1(policy_b64, secret=ACCESS_KEY_SECRET):
    return base64.b64encode(hmac.new(secret.encode(), policy_b64.encode(), hashlib.sha1).digest()).decode()


def v4_fields(ak=ACCESS_KEY_ID, region=REGION, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"x-oss-signature-version": "OSS4-HMAC-SHA256",
            "x-oss-credential": f"{ak}/{now:%Y%m%d}/{region}/oss/aliyun_v4_request",
            "x-oss-date": f"{now:%Y%m%dT%H%M%SZ}"}


def sign_v4(policy_b64, date8, secret=ACCESS_KEY_SECRET, region=REGION):
    key = hmac.new(("aliyun_v4" + secret).encode(), date8.encode(), hashlib.sha256).digest()
    for part in (region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def build_form(fields, content=b"hello", filename="hello.txt", file_type="text/plain", after=()):
    """multipart/form-data as a browser sends it: each field, then the file, then `after`."""
    boundary = "----WebKitFormBoundary" + uuid.uuid4().hex[:16]
    out = bytearray()
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
        out += value.encode() + b"\r\n"
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {file_type}\r\n\r\n").encode()
    out += content + b"\r\n"
    for name, value in after:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
        out += value.encode() + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post(server, bucket_name, fields, **kw):
    body, ctype = build_form(list(fields.items()) if isinstance(fields, dict) else fields, **kw)
    return requests.post(f"{server.endpoint}/{bucket_name}", data=body, headers={"Content-Type": ctype},
                         allow_redirects=False, timeout=30)


def v1_form(bucket_name, key, conditions=None, **extra):
    policy = encode_policy(conditions if conditions is not None else [{"bucket": bucket_name}])
    fields = {"key": key, "OSSAccessKeyId": ACCESS_KEY_ID, "policy": policy, "Signature": sign_v1(policy)}
    fields.update(extra)
    return fields


def v4_form(bucket_name, key, conditions=None, **extra):
    v4 = v4_fields()
    conds = [{"bucket": bucket_name}] + [{k: v} for k, v in v4.items()] + list(conditions or [])
    policy = encode_policy(conds)
    fields = {"key": key, "policy": policy, **v4,
              "x-oss-signature": sign_v4(policy, v4["x-oss-date"][:8])}
    fields.update(extra)
    return fields


def error_of(resp):
    root = ElementTree.fromstring(resp.content)
    return root.findtext("Code"), root.findtext("Message"), resp.headers.get("x-oss-ec")


def assert_missing(bucket, key):
    assert not bucket.object_exists(key)


# -- uploads ----------------------------------------------------------------------------------------
def test_v1_upload_stores_object_and_fields(server, bucket):
    n = bucket.bucket_name
    fields = v1_form(n, "up/${filename}", [{"bucket": n}, ["starts-with", "$key", "up/"],
                                           ["content-length-range", 1, 100]],
                     **{"Content-Type": "image/png", "Cache-Control": "no-cache",
                        "Content-Disposition": "attachment;filename=a.png", "Content-Encoding": "identity",
                        "Expires": "Thu, 01 Dec 2050 16:00:00 GMT", "x-oss-meta-uuid": "myuuid",
                        "x-oss-object-acl": "public-read", "x-oss-storage-class": "IA"})
    r = post(server, n, fields, content=b"\x89PNG-data", filename="pic.png")
    assert r.status_code == 204, r.content   # no success_action_status: 204
    obj = bucket.get_object("up/pic.png")
    assert obj.read() == b"\x89PNG-data"
    h = obj.headers
    assert h["Content-Type"] == "image/png"
    assert h["Cache-Control"] == "no-cache"
    assert h["Content-Disposition"] == "attachment;filename=a.png"
    assert h["x-oss-meta-uuid"] == "myuuid"
    assert h["x-oss-storage-class"] == "IA"
    assert r.headers["ETag"] == h["ETag"]
    assert bucket.get_object_acl("up/pic.png").acl == "public-read"


def test_v4_upload_201_answers_post_response(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v4_form(n, "v4/obj.txt", success_action_status="201"), content=b"v4 body")
    assert r.status_code == 201, r.content
    root = ElementTree.fromstring(r.content)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == n
    assert root.findtext("Key") == "v4/obj.txt"
    assert root.findtext("ETag") == bucket.head_object("v4/obj.txt").etag.join('""')
    assert root.findtext("Location").endswith(f"/{n}/v4/obj.txt")
    assert bucket.get_object("v4/obj.txt").read() == b"v4 body"


def test_file_content_type_used_when_no_field(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "ct"), file_type="text/csv")
    assert r.status_code == 204, r.content
    assert bucket.head_object("ct").content_type == "text/csv"


@pytest.mark.parametrize("status,expect", [("200", 200), ("204", 204), ("999", 204)])
def test_success_action_status(server, bucket, status, expect):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "s" + status, success_action_status=status))
    assert r.status_code == expect, r.content
    assert r.content == b""
    assert bucket.get_object("s" + status).read() == b"hello"


def test_success_action_redirect(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "red/${filename}", success_action_redirect="https://example.com/done?x=1",
                                success_action_status="201"), filename="r.bin")
    assert r.status_code == 303, r.content
    loc = urlsplit(r.headers["Location"])
    assert (loc.scheme, loc.netloc, loc.path) == ("https", "example.com", "/done")
    q = parse_qs(loc.query)
    assert q["x"] == ["1"] and q["bucket"] == [n] and q["key"] == ["red/r.bin"]
    assert q["etag"] == [bucket.head_object("red/r.bin").etag.join('""')]


def test_fields_after_the_file_are_ignored(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "late"), after=[("x-oss-meta-late", "yes"), ("submit", "Upload")])
    assert r.status_code == 204, r.content
    assert "x-oss-meta-late" not in bucket.head_object("late").headers


def test_large_file_streams_through(server, bucket):
    n = bucket.bucket_name
    content = bytes(range(256)) * (12 * 4096)   # 12 MiB: many body chunks
    r = post(server, n, v4_form(n, "big", [["content-length-range", 0, len(content)]]), content=content)
    assert r.status_code == 204, r.content
    assert hashlib.md5(bucket.get_object("big").read()).hexdigest() == hashlib.md5(content).hexdigest()


def test_forbid_overwrite(server, bucket):
    n = bucket.bucket_name
    bucket.put_object("taken", b"old")
    r = post(server, n, v1_form(n, "taken", **{"x-oss-forbid-overwrite": "true"}))
    assert r.status_code == 409 and error_of(r)[0] == "FileAlreadyExists"
    assert bucket.get_object("taken").read() == b"old"


def test_callback_field_is_delivered_with_form_variables(server, bucket, callback_server):
    n = bucket.bucket_name
    cb = base64.b64encode(json.dumps({
        "callbackUrl": callback_server.url,
        "callbackBody": "object=${object}&size=${size}&op=${operation}&who=${x:who}"}).encode()).decode()
    r = post(server, n, v1_form(n, "cb", callback=cb, **{"x:who": "form"}), content=b"called")
    assert r.status_code == 200 and r.content == b'{"Status":"OK"}'
    [(_, _, body)] = callback_server.received
    assert parse_qs(body.decode()) == {"object": ["cb"], "size": ["6"], "op": ["PostObject"], "who": ["form"]}
    assert bucket.get_object("cb").read() == b"called"


def test_failed_callback_is_203_and_the_object_stays(server, bucket, callback_server):
    n = bucket.bucket_name
    callback_server.answer = (500, b"no")
    cb = base64.b64encode(json.dumps({"callbackUrl": callback_server.url, "callbackBody": "x"}).encode()).decode()
    r = post(server, n, v1_form(n, "cb", callback=cb), content=b"kept")
    assert r.status_code == 203 and error_of(r)[0] == "CallbackFailed"
    assert bucket.get_object("cb").read() == b"kept"


def test_malformed_callback_field_is_refused_before_storing(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "cb", callback="not base64 json"))
    assert r.status_code == 400 and error_of(r)[0] == "InvalidArgument"
    assert_missing(bucket, "cb")


# -- anonymous and authorization ----------------------------------------------------------------------
def test_anonymous_needs_public_read_write(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, {"key": "anon"})
    assert r.status_code == 403 and error_of(r)[0] == "AccessDenied"
    assert_missing(bucket, "anon")
    bucket.put_bucket_acl("public-read")
    assert post(server, n, {"key": "anon"}).status_code == 403
    bucket.put_bucket_acl("public-read-write")
    r = post(server, n, {"key": "anon"}, content=b"anonymous")
    assert r.status_code == 204, r.content
    assert bucket.get_object("anon").read() == b"anonymous"


def test_anonymous_policy_is_still_enforced(server, bucket):
    n = bucket.bucket_name
    bucket.put_bucket_acl("public-read-write")
    policy = encode_policy([["starts-with", "$key", "public/"]])
    r = post(server, n, {"key": "private/x", "policy": policy})
    assert r.status_code == 403
    assert error_of(r)[1] == 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "public/"]'
    assert post(server, n, {"key": "public/x", "policy": policy}).status_code == 204


def test_bucket_policy_allows_anonymous_post(server, bucket):
    n = bucket.bucket_name
    bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [{
        "Effect": "Allow", "Principal": ["*"], "Action": ["oss:PutObject"],
        "Resource": [f"acs:oss:*:*:{n}/drop/*"]}]}))
    assert post(server, n, {"key": "drop/a"}).status_code == 204
    assert post(server, n, {"key": "other"}).status_code == 403


def test_ram_user_signature_is_authorized_as_put_object(server, bucket, user):
    n = bucket.bucket_name
    policy = encode_policy([{"bucket": n}])
    fields = {"key": "ram/a", "OSSAccessKeyId": user["ak"], "policy": policy,
              "Signature": sign_v1(policy, user["sk"])}
    r = post(server, n, fields)
    assert r.status_code == 403 and error_of(r)[0] == "AccessDenied"   # no RAM policy yet
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:PutObject", "Resource": f"acs:oss:*:*:{n}/ram/*"}])
    assert post(server, n, fields).status_code == 204
    assert bucket.get_object("ram/a").read() == b"hello"


# -- signature failures -------------------------------------------------------------------------------
def test_v1_wrong_signature(server, bucket):
    n = bucket.bucket_name
    fields = v1_form(n, "bad")
    fields["Signature"] = sign_v1(fields["policy"], "not-the-secret")
    r = post(server, n, fields)
    assert r.status_code == 403 and error_of(r)[0] == "SignatureDoesNotMatch"
    assert_missing(bucket, "bad")


def test_unknown_access_key(server, bucket):
    n = bucket.bucket_name
    fields = v1_form(n, "bad", OSSAccessKeyId="LTAInobodyhasthis")
    r = post(server, n, fields)
    assert r.status_code == 403 and error_of(r)[0] == "InvalidAccessKeyId"


def test_v4_wrong_signature_and_scope(server, bucket):
    n = bucket.bucket_name
    fields = v4_form(n, "bad")
    fields["x-oss-signature"] = "0" * 64
    r = post(server, n, fields)
    assert r.status_code == 403 and error_of(r)[0] == "SignatureDoesNotMatch"
    fields = v4_form(n, "bad")
    fields["x-oss-credential"] = fields["x-oss-credential"].replace("aliyun_v4_request", "v4")
    assert post(server, n, fields).status_code == 400
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=8)
    fields = v4_form(n, "bad", **v4_fields(now=old))
    fields["x-oss-signature"] = sign_v4(fields["policy"], f"{old:%Y%m%d}")
    r = post(server, n, fields)
    assert r.status_code == 403 and error_of(r)[1] == "Request has expired."
    assert_missing(bucket, "bad")


def test_signature_without_policy(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, {"key": "np", "OSSAccessKeyId": ACCESS_KEY_ID, "Signature": "x"})
    assert r.status_code == 400
    assert error_of(r)[2] == "0002-00000702"


# -- policy failures ------------------------------------------------------------------------------------
DENIED = "Invalid according to Policy: Policy Condition failed: "


@pytest.mark.parametrize("conditions,extra,status,code,message", [
    ([["eq", "$key", "other"]], {}, 403, "AccessDenied", DENIED + '["eq", "$key", "other"]'),
    ([{"key": "other"}], {}, 403, "AccessDenied", DENIED + '["eq", "$key", "other"]'),
    ([{"bucket": "another-bucket"}], {}, 403, "AccessDenied", DENIED + '["eq", "$bucket", "another-bucket"]'),
    ([["starts-with", "$key", "user/"]], {}, 403, "AccessDenied", DENIED + '["starts-with", "$key", "user/"]'),
    ([["eq", "$success_action_status", "201"]], {"success_action_status": "200"}, 403, "AccessDenied",
     DENIED + '["eq", "$success_action_status", "201"]'),
    ([["in", "$content-type", ["image/jpg", "image/png"]]], {"Content-Type": "text/plain"}, 403,
     "AccessDenied", DENIED + '["in", "$content-type", ["image/jpg", "image/png"]]'),
    ([["not-in", "$cache-control", ["no-cache"]]], {"Cache-Control": "no-cache"}, 403, "AccessDenied",
     DENIED + '["not-in", "$cache-control", ["no-cache"]]'),
    ([{"x-oss-meta-uuid": "required"}], {"x-oss-meta-uuid": "other"}, 403, "AccessDenied",
     DENIED + '["eq", "$x-oss-meta-uuid", "required"]'),
    ([["content-length-range", 0, 3]], {}, 400, "EntityTooLarge", None),
    ([["content-length-range", 100, 200]], {}, 400, "EntityTooSmall", None),
    ([["content-length-range", 20, 10]], {}, 400, "InvalidPolicyDocument", None),
    ([["content-length-range", 1, "ten"]], {}, 400, "InvalidPolicyDocument", None),
    ([["matches", "$key", "k"]], {}, 400, "InvalidPolicyDocument", None),
])
def test_policy_condition_failures(server, bucket, conditions, extra, status, code, message):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "k", conditions, **extra))
    assert r.status_code == status, r.content
    got_code, got_message, _ec = error_of(r)
    assert got_code == code
    if message is not None:
        assert got_message == message
    assert_missing(bucket, "k")


def test_same_conditions_pass(server, bucket):
    n = bucket.bucket_name
    conds = [["eq", "$key", "k"], ["starts-with", "$key", ""], ["in", "$content-type", ["text/plain"]],
             ["not-in", "$cache-control", ["no-cache"]], ["content-length-range", 5, 5],
             {"x-oss-meta-uuid": "required"}, ["eq", "$success_action_status", "200"]]
    r = post(server, n, v4_form(n, "k", conds, **{"Content-Type": "text/plain", "x-oss-meta-uuid": "required",
                                                  "success_action_status": "200"}))
    assert r.status_code == 200, r.content


def _raw_policy_form(n, policy_b64):
    return {"key": "k", "OSSAccessKeyId": ACCESS_KEY_ID, "policy": policy_b64, "Signature": sign_v1(policy_b64)}


@pytest.mark.parametrize("doc,ec", [
    (b"not json", "0006-00000201"),
    (b"{}", "0006-00000209"),
    (b'{"conditions": []}', "0006-00000208"),
    (b'{"expiration": 123, "conditions": []}', "0006-00000210"),
    (b'{"expiration": "", "conditions": []}', "0006-00000211"),
    (b'{"expiration": "2050-01-01T00:00:00.000Z"}', "0006-00000201"),
])
def test_invalid_policy_document(server, bucket, doc, ec):
    n = bucket.bucket_name
    r = post(server, n, _raw_policy_form(n, base64.b64encode(doc).decode()))
    assert r.status_code == 400, r.content
    assert error_of(r)[0] == "InvalidPolicyDocument" and error_of(r)[2] == ec
    assert_missing(bucket, "k")


def test_expired_policy(server, bucket):
    n = bucket.bucket_name
    policy = encode_policy([{"bucket": n}], expiration="2020-01-01T00:00:00.000Z")
    r = post(server, n, _raw_policy_form(n, policy))
    assert r.status_code == 403
    assert error_of(r)[:2] == ("AccessDenied", "Invalid according to Policy: Policy expired.")
    assert_missing(bucket, "k")


# -- malformed forms ---------------------------------------------------------------------------------------
def test_key_after_file_is_missing_key(server, bucket):
    n = bucket.bucket_name
    fields = v1_form(n, "k")
    key = fields.pop("key")
    r = post(server, n, fields, after=[("key", key)])
    assert r.status_code == 400
    assert "must contain a field named 'key'" in error_of(r)[1]


def test_no_file_field(server, bucket):
    n = bucket.bucket_name
    boundary = "xyz"
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{boundary}--\r\n"
    r = requests.post(f"{server.endpoint}/{n}", data=body.encode(),
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
    assert r.status_code == 400 and "field named 'file'" in error_of(r)[1]


def test_truncated_form_stores_nothing(server, bucket):
    n = bucket.bucket_name
    body, ctype = build_form(list(v1_form(n, "cut").items()), content=b"x" * 1000)
    body = body[:-40]   # the closing boundary never comes
    r = requests.post(f"{server.endpoint}/{n}", data=body, headers={"Content-Type": ctype}, timeout=30)
    assert r.status_code == 400 and error_of(r)[0] == "MalformedPOSTRequest"
    assert_missing(bucket, "cut")


def test_not_a_form(server, bucket):
    r = requests.post(f"{server.endpoint}/{bucket.bucket_name}", data=b"key=k",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert r.status_code == 400 and error_of(r)[0] == "MalformedPOSTRequest"


def test_oss2_sees_the_uploaded_object(server, oss2_auth, bucket):
    n = bucket.bucket_name
    assert post(server, n, v1_form(n, "seen")).status_code == 204
    assert [o.key for o in oss2.ObjectIterator(bucket)] == ["seen"]


def test_signature_is_checked_before_the_policy_is_read(server, bucket):
    n = bucket.bucket_name
    policy = base64.b64encode(b"not json").decode()
    fields = {"key": "k", "OSSAccessKeyId": ACCESS_KEY_ID, "policy": policy, "Signature": sign_v1(policy, "wrong")}
    r = post(server, n, fields)
    assert r.status_code == 403 and error_of(r)[0] == "SignatureDoesNotMatch"


def test_missing_bucket(server):
    n = "t-missing-" + uuid.uuid4().hex[:12]
    r = post(server, n, v1_form(n, "k"))
    assert r.status_code == 404 and error_of(r)[0] == "NoSuchBucket"


def test_virtual_hosted_form_post(server, bucket):
    """Browsers post the form to the bucket's own domain: `POST /` with Host <bucket>.<endpoint>."""
    n = bucket.bucket_name
    body, ctype = build_form(list(v4_form(n, "vh", success_action_status="201").items()))
    r = requests.post(f"{server.endpoint}/", data=body, allow_redirects=False, timeout=30,
                      headers={"Content-Type": ctype, "Host": f"{n}.oss-cn-hangzhou.aliyuncs.com"})
    assert r.status_code == 201, r.content
    assert ElementTree.fromstring(r.content).findtext("Location") == \
        f"http://{n}.oss-cn-hangzhou.aliyuncs.com/vh"
    assert bucket.get_object("vh").read() == b"hello"


def test_sts_token_field(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}])
    creds = admin(server, "AssumeRole", {"UserName": user["name"], "DurationSeconds": 900})["Credentials"]
    policy = encode_policy([{"bucket": n}])
    fields = {"key": "sts", "OSSAccessKeyId": creds["AccessKeyId"], "policy": policy,
              "Signature": sign_v1(policy, creds["AccessKeySecret"])}
    r = post(server, n, fields)   # an STS key without its token
    assert r.status_code == 403 and error_of(r)[0] == "InvalidSecurityToken"
    fields["x-oss-security-token"] = creds["SecurityToken"]
    r = post(server, n, fields)
    assert r.status_code == 204, r.content
    assert bucket.get_object("sts").read() == b"hello"


def test_server_side_encryption_field(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "enc", **{"x-oss-server-side-encryption": "AES256"}))
    assert r.status_code == 204, r.content
    assert r.headers["x-oss-server-side-encryption"] == "AES256"
    assert bucket.head_object("enc").headers["x-oss-server-side-encryption"] == "AES256"
    r = post(server, n, v1_form(n, "enc2", **{"x-oss-server-side-encryption": "DES"}))
    assert r.status_code == 400
    assert_missing(bucket, "enc2")


def test_header_injection_refused(server, bucket):
    n = bucket.bucket_name
    r = post(server, n, v1_form(n, "inj", **{"x-oss-meta-a": "x\r\nSet-Cookie: y"}))
    assert r.status_code == 400 and error_of(r)[0] == "InvalidArgument"
    assert_missing(bucket, "inj")


def test_body_over_5gb_refused_before_it_is_read(server, bucket):
    """The example of OSS's 0006-00000003 page: a form whose Content-Length is 6443500495."""
    import http.client
    n = bucket.bucket_name
    body, ctype = build_form(list(v1_form(n, "huge").items()))
    host, port = urlsplit(server.endpoint).hostname, urlsplit(server.endpoint).port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.putrequest("POST", f"/{n}")
    conn.putheader("Content-Type", ctype)
    conn.putheader("Content-Length", "6443500495")
    conn.endheaders()
    conn.send(body[:1000])
    r = conn.getresponse()
    assert r.status == 400
    assert r.getheader("x-oss-ec") == "0006-00000003"
    assert ElementTree.fromstring(r.read()).findtext("Code") == "EntityTooLarge"
    conn.close()
    assert_missing(bucket, "huge")


# -- ali-oss: its own policy signing helpers, the platform's FormData and fetch -----------------------
JS_DIR = os.path.join(os.path.dirname(__file__), "js")
NODE = shutil.which("node")
_NO_ALI_OSS = NODE is None or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "ali-oss"))


@pytest.mark.skipif(_NO_ALI_OSS, reason="node or ali-oss missing: run `npm ci --prefix tests/js --no-audit --no-fund`")
@pytest.mark.parametrize("version", ["v1", "v4"])
def test_ali_oss_signed_form(server, bucket, version):
    n = bucket.bucket_name
    key = f"js/{version}.txt"
    run = subprocess.run([NODE, os.path.join(JS_DIR, "post_object_form.js"), version, server.endpoint, n, key],
                         cwd=JS_DIR, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, OSSBOX_AK=ACCESS_KEY_ID, OSSBOX_SK=ACCESS_KEY_SECRET))
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and lines, (run.stdout, run.stderr)
    result = json.loads(lines[-1])
    assert result["status"] == 201, result
    assert ElementTree.fromstring(result["body"]).findtext("Key") == key
    obj = bucket.get_object(key)
    assert obj.read() == f"posted by ali-oss {version}".encode()
    assert obj.headers["x-oss-meta-from"] == "ali-oss"
    assert obj.headers["Content-Type"] == "text/plain"


def test_public_object_acl_field_is_refused_under_block_public_access(server, bucket):
    n = bucket.bucket_name
    bucket.put_bucket_public_access_block(True)
    r = post(server, n, v1_form(n, "pub", **{"x-oss-object-acl": "public-read"}))
    assert r.status_code == 403 and error_of(r)[0] == "AccessDenied", r.content
    assert_missing(bucket, "pub")
    r = post(server, n, v1_form(n, "priv", **{"x-oss-object-acl": "private"}))
    assert r.status_code == 204, r.content
    bucket.delete_bucket_public_access_block()
    r = post(server, n, v1_form(n, "pub", **{"x-oss-object-acl": "public-read"}))
    assert r.status_code == 204 and bucket.get_object_acl("pub").acl == "public-read"
