"""How a request names its bucket: path-style, or virtual-hosted without flags for the Host forms
SDKs send to a server of one's own (`<bucket>.oss-<region>[-internal].aliyuncs.com`,
`<bucket>.localhost`); a Host that looks virtual-hosted but is not understood is a clear 400.

The official Node.js client (ali-oss, installed by `npm ci --prefix tests/js`) given
`endpoint: 'http://127.0.0.1:<port>'` sends `Host: <bucket>.oss-cn-hangzhou.aliyuncs.com` with no
bucket in the path: it used to fail every call with 403 SignatureDoesNotMatch."""
import json
import os
import shutil
import subprocess
import uuid

import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from test_bad_input import assert_oss_error, send

JS_DIR = os.path.join(os.path.dirname(__file__), "js")
NODE = shutil.which("node")


def _ali_oss_missing() -> str:
    if NODE is None:
        return "node is not installed"
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "ali-oss")):
        return "ali-oss is not installed: run `npm ci --prefix tests/js --no-audit --no-fund`"
    return ""


@pytest.mark.skipif(bool(_ali_oss_missing()), reason=_ali_oss_missing() or "-")
@pytest.mark.parametrize("mode", ["ip", "ip-v4", "cname", "localhost", "path"])
def test_ali_oss(server, mode):
    """create bucket, list buckets, put, append (and a wrong position), get, head, list (also with an
    empty prefix, which ali-oss signs as `prefix=` under V4), delete,
    delete bucket, through ali-oss configured each way its users point it at their own server."""
    host = "localhost" if mode in ("localhost", "path") else "127.0.0.1"
    bucket = f"js-{mode}-{uuid.uuid4().hex[:12]}"
    run = subprocess.run(
        [NODE, os.path.join(JS_DIR, "ali_oss_client.js"), mode, f"http://{host}:{server.port}", bucket],
        cwd=JS_DIR, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OSSBOX_AK=ACCESS_KEY_ID, OSSBOX_SK=ACCESS_KEY_SECRET))
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0 and lines, (run.stdout, run.stderr)
    result = json.loads(lines[-1])
    assert result["ok"], result
    assert "deleteBucket" in result["steps"]


def _get(server, host, path, bucket, key):
    return send(server, "GET", path, headers={"Host": host}, bucket=bucket, key=key)


@pytest.fixture
def stored(bucket):
    bucket.put_object("dir/k", b"virtual")
    return bucket.bucket_name


@pytest.mark.parametrize("suffix", ["oss-cn-hangzhou.aliyuncs.com", "oss-cn-shanghai-internal.aliyuncs.com",
                                    "oss-accelerate.aliyuncs.com", "OSS-CN-HANGZHOU.ALIYUNCS.COM:80",
                                    "localhost", "localhost:9000"])
def test_virtual_hosted_without_flags(server, stored, suffix):
    st, _, body = _get(server, f"{stored}.{suffix}", "/dir/k", stored, "dir/k")
    assert (st, body) == (200, b"virtual")
    # the bucket itself (ListObjects) through the same Host
    st, _, body = _get(server, f"{stored}.{suffix}", "/", stored, None)
    assert st == 200 and b"<Key>dir/k</Key>" in body


@pytest.mark.parametrize("host", ["myhost:9000", "127.0.0.1:9000", "localhost", "[::1]:9000",
                                  "oss-cn-hangzhou.aliyuncs.com", ".oss-cn-hangzhou.aliyuncs.com",
                                  "storage.example.com"])
def test_other_hosts_stay_path_style(server, stored, host):
    st, _, body = _get(server, host, f"/{stored}/dir/k", stored, "dir/k")
    assert (st, body) == (200, b"virtual")


@pytest.mark.parametrize("host", ["x.y.aliyuncs.com", "b1c.cn-hangzhou.aliyuncs.com", "a.b.oss-cn-hangzhou.aliyuncs.com",
                                  "a.b.localhost", "bucket.aliyuncs.com"])
def test_host_not_understood_is_a_clear_400(server, stored, host):
    """Not a SignatureDoesNotMatch: the error names the Host and says how to address the server."""
    r = _get(server, host, f"/{stored}/dir/k", stored, "dir/k")
    assert_oss_error(r, 400, "InvalidArgument")
    assert r[1]["x-oss-ec"] == "0016-00000009"
    assert f"<ArgumentValue>{host}</ArgumentValue>".encode() in r[2]
    assert b"path-style" in r[2] and b"--domain" in r[2]


def test_domain_flag_still_wins(tmp_path):
    """--domain keeps working, also for a domain under localhost."""
    import oss2
    from serverproc import ServerProcess
    srv = ServerProcess(str(tmp_path), extra_args=["--domain", "s3.localhost"]).start()
    try:
        b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "dom")
        b.create_bucket()
        b.put_object("k", b"d")
        assert _get(srv, "dom.s3.localhost", "/k", "dom", "k")[:3:2] == (200, b"d")
        assert _get(srv, "dom.localhost", "/k", "dom", "k")[:3:2] == (200, b"d")
    finally:
        assert srv.stop() == 0
