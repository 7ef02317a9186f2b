"""`ossbox server` as a user runs it: flags, environment, credentials, addressing, signals."""
import os
import signal
import subprocess
import sys
import time

import oss2
import pytest
import requests

from conftest import make_v2_client
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

import alibabacloud_oss_v2 as oss


def _start(args, env=None, timeout=30):
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "server", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, **(env or {})))
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("ossbox listening on "):
            return proc, lines, line.split()[-1]
    proc.kill()
    raise AssertionError("server did not start: " + "".join(lines))


def test_generated_credentials_are_kept_and_printed(tmp_path):
    proc, lines, endpoint = _start(["--port", "0", "--data-dir", str(tmp_path)])
    try:
        text = "".join(lines)
        ak = text.split("AccessKeyId:")[1].split()[0]
        sk = text.split("AccessKeySecret:")[1].split()[0]
        b = oss2.Bucket(oss2.Auth(ak, sk), endpoint, "gen-creds")
        b.create_bucket()
        assert b.append_object("k", 0, b"x").next_position == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    # a second start reuses the kept pair and does not print it again
    proc, lines, endpoint = _start(["--port", "0", "--data-dir", str(tmp_path)])
    try:
        assert "AccessKeyId" not in "".join(lines)
        b = oss2.Bucket(oss2.Auth(ak, sk), endpoint, "gen-creds")
        assert b.get_object("k").read() == b"x"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0


def test_environment_variables_configure_the_server(tmp_path):
    env = {"OSSBOX_PORT": "0", "OSSBOX_DATA_DIR": str(tmp_path), "OSSBOX_ACCESS_KEY_ID": "envKeyId",
           "OSSBOX_ACCESS_KEY_SECRET": "envKeySecret", "OSSBOX_REGION": "cn-shanghai"}
    proc, _lines, endpoint = _start([], env=env)
    try:
        assert os.path.exists(tmp_path / "meta.sqlite3")
        auth = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider("envKeyId", "envKeySecret"))
        b = oss2.Bucket(auth, endpoint, "env-bucket", region="cn-shanghai")
        b.create_bucket()
        assert b.append_object("k", 0, b"abc").next_position == 3
        wrong_region = oss2.Bucket(auth, endpoint, "env-bucket", region="cn-hangzhou")
        with pytest.raises(oss2.exceptions.OssError) as e:
            wrong_region.head_object("k")
        assert e.value.status == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_virtual_hosted_style(tmp_path):
    srv = ServerProcess(str(tmp_path), extra_args=["--domain", "oss.test.local"]).start()
    try:
        path_style = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "vhost")
        path_style.create_bucket()
        path_style.append_object("dir/obj", 0, b"hello")
        # Host: vhost.oss.test.local, path /dir/obj; the connection still goes to 127.0.0.1
        auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        req = oss2.http.Request("GET", f"{srv.endpoint}/dir/obj", headers={"Host": "vhost.oss.test.local"})
        auth._sign_request(req, "vhost", "dir/obj")
        r = requests.get(f"{srv.endpoint}/dir/obj", headers=dict(req.headers), timeout=10)
        assert r.status_code == 200 and r.content == b"hello"
        assert r.headers["x-oss-object-type"] == "Appendable"
    finally:
        assert srv.stop() == 0


def test_presigned_urls(server, bucket, bucket_v4):
    bucket.append_object("shared", 0, b"presigned")
    for b in (bucket, bucket_v4):
        url = b.sign_url("GET", "shared", 60)
        r = requests.get(url, timeout=10)
        assert r.status_code == 200 and r.content == b"presigned"
        assert requests.get(url.replace("shared", "shared2"), timeout=10).status_code == 403
    # presigning an append is legal: POST with ?append&position=N signed
    url = bucket.sign_url("POST", "shared", 60, params={"append": "", "position": "9"})
    r = requests.post(url, data=b"!", timeout=10)
    assert r.status_code == 200 and r.headers["x-oss-next-append-position"] == "10"
    expired = bucket.sign_url("GET", "shared", -10)
    r = requests.get(expired, timeout=10)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content


def test_v2_presign(server, v2, bucket_name):
    v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="p", position=0, body=b"v2"))
    pre = v2.presign(oss.GetObjectRequest(bucket=bucket_name, key="p"))
    r = requests.get(pre.url, timeout=10)
    assert r.status_code == 200 and r.content == b"v2"


def test_wrong_credentials_are_refused(server, bucket_name):
    bad_secret = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, "wrong-secret"), server.endpoint, bucket_name)
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch) as e:
        bad_secret.append_object("k", 0, b"x")
    assert e.value.ec == "0002-00000040" and "StringToSign" in e.value.details
    unknown = oss2.Bucket(oss2.Auth("LTAIunknown", "s"), server.endpoint, bucket_name)
    with pytest.raises(oss2.exceptions.OssError) as e:
        unknown.append_object("k", 0, b"x")
    assert (e.value.status, e.value.code) == (403, "InvalidAccessKeyId")
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.append_object("k", 0, b"x")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, bucket_name).head_object("k")


def test_head_error_carries_x_oss_err(server, bucket):
    with pytest.raises(oss2.exceptions.NoSuchKey) as e:
        bucket.head_object("missing")
    assert e.value.ec == "0026-00000001" and e.value.request_id
    client = make_v2_client(server.endpoint)
    with pytest.raises(oss.exceptions.OperationError) as e:
        client.head_object(oss.HeadObjectRequest(bucket=bucket.bucket_name, key="missing"))
    se = e.value.unwrap()
    assert (se.status_code, se.code, se.ec) == (404, "NoSuchKey", "0026-00000001")


def test_port_in_use_is_a_clear_error(server):
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--port", str(server.port)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot listen" in r.stderr
