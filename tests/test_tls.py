"""HTTPS: `ossbox server --certfile/--keyfile [--https-port N]` (and OSSBOX_CERTFILE/_KEYFILE/
_HTTPS_PORT), through oss2, alibabacloud-oss-v2 and the ossbox CLI; acs:SecureTransport in policies."""
from __future__ import annotations

import os
import ssl
import subprocess
import sys
import urllib.request
import uuid

import pytest
import requests

import oss2

from conftest import admin, put_policy
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess
from tlscert import https_endpoint, make_self_signed


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def tls_only(tmp_path_factory, cert):
    """A server whose --port speaks HTTPS only."""
    srv = ServerProcess(str(tmp_path_factory.mktemp("tls-only")),
                        extra_args=["--certfile", cert[0], "--keyfile", cert[1]]).start()
    yield srv
    assert srv.stop() == 0, "".join(srv.output)


@pytest.fixture(scope="module")
def dual(tmp_path_factory, cert):
    """A server with plain HTTP on --port and HTTPS on --https-port (set through OSSBOX_* variables)."""
    srv = ServerProcess(str(tmp_path_factory.mktemp("tls-dual")), env={
        "OSSBOX_CERTFILE": cert[0], "OSSBOX_KEYFILE": cert[1], "OSSBOX_HTTPS_PORT": "0"}).start()
    srv.https = https_endpoint(srv.output)
    yield srv
    assert srv.stop() == 0, "".join(srv.output)


@pytest.fixture
def trust(monkeypatch, cert):
    """requests (under oss2 and the v2 SDK) trusts the test certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert[0])


def root_bucket(endpoint: str, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, name)


def test_tls_only_port_serves_oss2_over_https(tls_only, trust):
    assert tls_only.endpoint.startswith("https://127.0.0.1:")
    b = root_bucket(tls_only.endpoint, "tls-" + uuid.uuid4().hex[:12])
    b.create_bucket()
    b.put_object("k.txt", b"over tls " * 300)
    assert b.get_object("k.txt").read() == b"over tls " * 300
    # gzip over TLS too
    r = b.get_object("k.txt", headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and r.read() == b"over tls " * 300
    r = b.append_object("log", 0, b"a")
    b.append_object("log", r.next_position, b"b", init_crc=r.crc)
    assert b.get_object("log").read() == b"ab"
    # the port speaks TLS only: a plain HTTP request gets no HTTP answer
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(tls_only.endpoint.replace("https://", "http://") + "/", timeout=10)


def test_certificate_is_verified(tls_only, cert):
    """Without trusting the certificate, a verifying client refuses the connection; with it
    (cafile), the handshake and a request succeed."""
    url = tls_only.endpoint + "/"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=10)
    ctx = ssl.create_default_context(cafile=cert[0])
    with pytest.raises(urllib.error.HTTPError) as info:   # anonymous ListBuckets: 403, over TLS
        urllib.request.urlopen(url, context=ctx, timeout=10)
    assert info.value.code == 403 and info.value.headers["x-oss-request-id"]


def test_dual_ports_share_the_buckets(dual, trust):
    assert dual.endpoint.startswith("http://") and dual.https.startswith("https://")
    assert dual.endpoint != dual.https.replace("https://", "http://")
    name = "dual-" + uuid.uuid4().hex[:12]
    root_bucket(dual.endpoint, name).create_bucket()
    root_bucket(dual.https, name).put_object("k", b"written over https")
    assert root_bucket(dual.endpoint, name).get_object("k").read() == b"written over https"


def test_v2_sdk_over_https(tls_only, trust):
    import alibabacloud_oss_v2 as oss
    from conftest import make_v2_client
    name = "v2tls-" + uuid.uuid4().hex[:12]
    client = make_v2_client(tls_only.endpoint)  # verifies against REQUESTS_CA_BUNDLE
    client.put_bucket(oss.PutBucketRequest(bucket=name))
    client.put_object(oss.PutObjectRequest(bucket=name, key="k", body=b"v2 over tls"))
    assert client.get_object(oss.GetObjectRequest(bucket=name, key="k")).body.read() == b"v2 over tls"


def test_v2_sdk_with_verification_disabled(tls_only):
    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region, cfg.endpoint, cfg.retry_max_attempts = "cn-hangzhou", tls_only.endpoint, 1
    cfg.insecure_skip_verify = True
    client = oss.Client(cfg)
    name = "v2nv-" + uuid.uuid4().hex[:12]
    client.put_bucket(oss.PutBucketRequest(bucket=name))
    assert client.get_bucket_info(oss.GetBucketInfoRequest(bucket=name)).bucket_info.name == name


def test_cli_over_https(tls_only, cert, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_", "REQUESTS_"))}
    env.update(OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
               OSS_REGION="cn-hangzhou", OSS_ENDPOINT=tls_only.endpoint, HOME=str(tmp_path))
    name = "cli-" + uuid.uuid4().hex[:12]

    def run(*args, extra_env=None):
        return subprocess.run([sys.executable, "-m", "ossbox", *args], capture_output=True, text=True,
                              env={**env, **(extra_env or {})}, timeout=60, cwd=tmp_path)

    refused = run("mb", f"oss://{name}", "--retry-times", "0")   # the certificate is not trusted
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr or "certificate" in refused.stderr.lower()
    made = run("mb", f"oss://{name}", "--skip-verify-cert")
    assert made.returncode == 0, made.stderr
    src = tmp_path / "f.txt"
    src.write_bytes(b"cli over tls")
    up = run("cp", str(src), f"oss://{name}/f.txt", extra_env={"REQUESTS_CA_BUNDLE": cert[0]})
    assert up.returncode == 0, up.stderr
    cat = run("cat", f"oss://{name}/f.txt", "--skip-verify-cert")
    assert cat.returncode == 0 and cat.stdout == "cli over tls", cat.stderr


def test_secure_transport_condition(dual, trust):
    """acs:SecureTransport is true over HTTPS and false over plain HTTP, in Allow and in Deny."""
    name = "st-" + uuid.uuid4().hex[:12]
    root_bucket(dual.endpoint, name).create_bucket()
    root_bucket(dual.endpoint, name).put_object("k", b"secret")

    user = "st" + uuid.uuid4().hex[:10]
    admin(dual, "CreateUser", {"UserName": user})
    key = admin(dual, "CreateAccessKey", {"UserName": user})
    person = {"name": user, "ak": key["AccessKeyId"], "sk": key["AccessKeySecret"]}

    def as_user(endpoint):
        return oss2.Bucket(oss2.Auth(person["ak"], person["sk"]), endpoint, name)

    # Allow only over TLS
    put_policy(dual, person, [{"Effect": "Allow", "Action": ["oss:GetObject"],
                               "Resource": [f"acs:oss:*:*:{name}/*"],
                               "Condition": {"Bool": {"acs:SecureTransport": ["true"]}}}])
    assert as_user(dual.https).get_object("k").read() == b"secret"
    with pytest.raises(oss2.exceptions.AccessDenied):
        as_user(dual.endpoint).get_object("k")

    # Allow everything, but Deny plain HTTP
    put_policy(dual, person, [
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": [f"acs:oss:*:*:{name}/*"]},
        {"Effect": "Deny", "Action": ["oss:GetObject"], "Resource": [f"acs:oss:*:*:{name}/*"],
         "Condition": {"Bool": {"acs:SecureTransport": ["false"]}}}])
    assert as_user(dual.https).get_object("k").read() == b"secret"
    with pytest.raises(oss2.exceptions.AccessDenied):
        as_user(dual.endpoint).get_object("k")

    # a bucket policy sees the same (the user's own policy now allows without a condition)
    put_policy(dual, person, [{"Effect": "Allow", "Action": ["oss:GetObject"],
                               "Resource": [f"acs:oss:*:*:{name}/*"]}])
    assert as_user(dual.endpoint).get_object("k").read() == b"secret"
    root_bucket(dual.endpoint, name).put_bucket_policy(
        '{"Version":"1","Statement":[{"Effect":"Deny","Principal":["*"],"Action":["oss:GetObject"],'
        '"Resource":["acs:oss:*:*:' + name + '/*"],"Condition":{"Bool":{"acs:SecureTransport":["false"]}}}]}')
    with pytest.raises(oss2.exceptions.AccessDenied):
        as_user(dual.endpoint).get_object("k")
    assert as_user(dual.https).get_object("k").read() == b"secret"


def _server_usage(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "ossbox", "server", "--port", "0",
                           "--data-dir", str(tmp_path / "d"), *args],
                          capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("OSSBOX_")},
                               **(env or {})})


def test_usage_errors(tmp_path, cert):
    r = _server_usage(tmp_path, "--https-port", "0")
    assert r.returncode == 1 and "--certfile" in r.stderr
    r = _server_usage(tmp_path, "--keyfile", cert[1])
    assert r.returncode == 1 and "--certfile" in r.stderr
    r = _server_usage(tmp_path, "--certfile", str(tmp_path / "missing.pem"))
    assert r.returncode == 1 and "cannot load the TLS certificate" in r.stderr
    r = _server_usage(tmp_path, "--certfile", cert[1], "--keyfile", cert[1])   # a key is no certificate
    assert r.returncode == 1 and "cannot load the TLS certificate" in r.stderr
    r = _server_usage(tmp_path, env={"OSSBOX_CERTFILE": cert[0], "OSSBOX_KEYFILE": cert[1],
                                     "OSSBOX_HTTPS_PORT": "99999"})
    assert r.returncode == 1 and "OSSBOX_HTTPS_PORT" in r.stderr


def test_combined_pem_needs_no_keyfile(tmp_path, cert, trust):
    combined = tmp_path / "both.pem"
    combined.write_bytes(open(cert[1], "rb").read() + open(cert[0], "rb").read())
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--certfile", str(combined)]).start()
    try:
        assert srv.endpoint.startswith("https://")
        b = root_bucket(srv.endpoint, "pem-" + uuid.uuid4().hex[:12])
        b.create_bucket()
        assert b.get_bucket_info().name == b.bucket_name
    finally:
        assert srv.stop() == 0


def test_stop_does_not_wait_for_idle_tls_clients(tmp_path, cert, trust):
    """SIGTERM with a client idling on a pooled TLS connection: the server ends that connection
    at once. (A TLS close waits for the client's close_notify, which an idle pooled connection
    never sends: the stop used to wait out uvicorn's whole 10 s graceful timeout.)"""
    import signal
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--certfile", cert[0], "--keyfile", cert[1]]).start()
    session = requests.Session()
    try:
        assert session.get(srv.endpoint + "/", timeout=10).status_code == 403   # now pooled and idle
        srv.proc.send_signal(signal.SIGTERM)
        # a bound far below the 10 s the old stop took, not a measurement
        assert srv.proc.wait(timeout=6) == 0
    finally:
        session.close()
        srv.kill()
