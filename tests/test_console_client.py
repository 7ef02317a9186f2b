"""The web console's JavaScript OSS client (ossbox/console/static/js/oss.js, issue 15) in Node.js
against a real `ossbox server`: every method of the client (signing with odd keys, listings,
objects, multipart, append and its 409, seal, copy/rename, tags, ACLs, versions, restore, bucket
settings, presigned URLs with plain fetch, STS, the admin API, watch) in
tests/js/console_client_test.mjs. The browser runs the same module; Node 20 has the same fetch,
Web Crypto and TextEncoder. Its V4 signatures are also compared with the official Python SDK's
(alibabacloud_oss_v2) for fixed inputs, since the server, accepting a few canonical variants,
would not notice a small difference by itself."""
import datetime
import html
import json
import os
import re
import shutil
import subprocess
import uuid
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

JS_DIR = os.path.join(os.path.dirname(__file__), "js")
CLIENT_DIR = os.path.join(os.path.dirname(__file__), "..", "ossbox", "console", "static", "js")
NODE = shutil.which("node")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REGION = "cn-hangzhou"


def _sdk_vectors() -> list[dict]:
    """Authorization headers and presigned-URL signatures computed by the official SDK's signer."""
    from alibabacloud_oss_v2.credentials import Credentials
    from alibabacloud_oss_v2.signer.v4 import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    when = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
    cases = [
        ("PUT", "bkt", "dir/ünï cødé+%~!*'()?#.txt", [], {"content-type": "text/plain", "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                                                          "x-oss-meta-a": "b", "x-oss-object-acl": "private"}, None, 0),
        ("GET", "bkt", None, [("list-type", "2"), ("prefix", "a b/ü+&="), ("delimiter", "/"), ("encoding-type", "url")],
         {}, None, 0),
        ("POST", "bkt", "log", [("append", ""), ("position", "0")], {"content-type": "application/octet-stream"}, None, 0),
        ("POST", None, None, [("x-ossbox-admin", "ListUsers")], {"content-type": "application/json", "x-oss-ossbox-admin": "ListUsers"},
         None, 0),
        ("DELETE", "bkt", "k", [("versionId", "CAEQ+/=")], {}, "token/with+odd=chars", 0),
        ("GET", "bkt", "pre signed/ü", [("response-content-type", "text/x-ü")], {}, None, 600),
        ("PUT", "bkt", "up", [], {"content-type": "text/plain"}, "sts.token+/=", 3600),
    ]
    out = []
    for method, bucket, key, query, headers, token, expires in cases:
        path = "/" + (bucket + "/" if bucket else "") + (quote(key, safe="/") if key else "")
        qs = "&".join(quote(k, safe="") + ("=" + quote(v, safe="") if v else "") for k, v in query)
        req = HttpRequest(method, "http://127.0.0.1" + path + ("?" + qs if qs else ""), headers=dict(headers))
        ctx = SigningContext(product="oss", region=REGION, bucket=bucket, key=key, request=req,
                             credentials=Credentials(ACCESS_KEY_ID, ACCESS_KEY_SECRET, token), signing_time=when)
        vec = {"method": method, "bucket": bucket, "key": key, "query": query, "headers": headers,
               "accessKeyId": ACCESS_KEY_ID, "accessKeySecret": ACCESS_KEY_SECRET, "securityToken": token,
               "region": REGION, "datetime": when.strftime("%Y%m%dT%H%M%SZ")}
        if expires:
            ctx.auth_method_query = True
            ctx.expiration_time = when + datetime.timedelta(seconds=expires)
            SignerV4().sign(ctx)
            vec.update(expires=expires, signature=parse_qs(urlsplit(req.url).query)["x-oss-signature"][0])
        else:
            SignerV4().sign(ctx)
            vec["authorization"] = req.headers["Authorization"]
        out.append(vec)
    return out


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    """A server of its own: Archive restores complete at once (--restore-delay 0)."""
    proc = ServerProcess(str(tmp_path_factory.mktemp("console-client")), extra_args=["--restore-delay", "0"]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.mark.skipif(NODE is None, reason="node is not installed (the console's JS client runs in Node.js 20)")
def test_console_client(console_server, tmp_path):
    vectors = tmp_path / "vectors.json"
    vectors.write_text(json.dumps(_sdk_vectors()))
    run = subprocess.run(
        [NODE, os.path.join(JS_DIR, "console_client_test.mjs"), console_server.endpoint, REGION,
         ACCESS_KEY_ID, ACCESS_KEY_SECRET, str(vectors)],
        cwd=JS_DIR, capture_output=True, text=True, timeout=120)
    lines = run.stdout.strip().splitlines()
    assert lines, (run.stdout, run.stderr)
    try:
        result = json.loads(lines[-1])
    except ValueError:
        pytest.fail(f"no result line from the Node script:\n{run.stdout}\n{run.stderr}")
    failed = "\n".join(f"{f['step']}: {f['error']}" for f in result["failures"])
    assert result["ok"] and run.returncode == 0, f"failed steps:\n{failed}\n{run.stderr}"
    assert "signatures equal the official SDK's" in result["steps"]
    assert "watch (long-poll where the server has it, else HEAD polling)" in result["steps"]
    for note in result["notes"]:
        print(note)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
@pytest.mark.parametrize("origin", ["secure", "insecure"])
def test_console_client_in_chromium(console_server, origin):
    """The same module in headless Chromium, served from a bucket of the server (same origin, as
    the console is). "insecure": the page's origin is http://<a name that is not localhost>, where
    browsers offer no Web Crypto (crypto.subtle), as for a console opened at a LAN address: the
    client signs with its own SHA-256/HMAC."""
    import oss2
    name = f"cc-page-{uuid.uuid4().hex[:12]}"
    bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), console_server.endpoint, name)
    bucket.create_bucket()
    public = {"x-oss-object-acl": "public-read"}
    for f in ("oss.js", "sigv4.js", "xml.js"):
        with open(os.path.join(CLIENT_DIR, f), "rb") as fh:
            bucket.put_object(f"site/{f}", fh.read(), headers={**public, "Content-Type": "text/javascript"})
    with open(os.path.join(JS_DIR, "console_client_page.html"), "rb") as fh:
        bucket.put_object("site/page.html", fh.read(), headers={**public, "Content-Type": "text/html"})
    host = "127.0.0.1" if origin == "secure" else "ossbox-console.test"
    fragment = "&".join(f"{k}={quote(v, safe='')}" for k, v in
                        [("ak", ACCESS_KEY_ID), ("sk", ACCESS_KEY_SECRET), ("region", REGION), ("bucket", name),
                         ("prefix", "p/")])
    run = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=20000",
         f"--host-resolver-rules=MAP {host} 127.0.0.1", "--dump-dom",
         f"http://{host}:{console_server.port}/{name}/site/page.html#{fragment}"],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="out">RESULT (.*?)</pre>', run.stdout, re.S)
    assert found, (run.stdout[-2000:], run.stderr[-2000:])
    result = json.loads(html.unescape(found.group(1)))
    assert result["ok"], result["failures"]
    assert (result["secureContext"], result["webCrypto"]) == ((True, True) if origin == "secure" else (False, False))
    for obj in oss2.ObjectIterator(bucket):
        bucket.delete_object(obj.key)
    bucket.delete_bucket()
