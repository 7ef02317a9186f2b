import os
import signal
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, META_SESSION, TEST_META, ServerProcess


def pytest_configure(config):
    """Where PYTHONDONTWRITEBYTECODE is set, each of the hundreds of ossbox processes the suite
    starts would compile every ossbox module it imports again (~0.1 s each; 40 s of the default
    suite on a 2-core machine). The variable only stops Python from writing bytecode, not from
    reading it: the package is compiled once here, into its __pycache__ directories (where any
    Python run without the variable puts them; ignored by git). xdist's workers skip this."""
    if hasattr(config, "workerinput") or not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return
    import compileall

    import ossbox
    compileall.compile_dir(os.path.dirname(ossbox.__file__), quiet=1)


@pytest.fixture(scope="session", autouse=True)
def test_meta_schemas():
    """Whole-suite mode (OSSBOX_TEST_META): the PostgreSQL schemas the servers of this session
    made are dropped at its end."""
    yield
    if TEST_META:
        from pgtest import drop_schemas
        drop_schemas(TEST_META, META_SESSION)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One ossbox server (embedded default: SQLite + local data dir) for the whole session."""
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-data"))).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture(params=["sigint-default", "sigint-ignored"])
def runner_sigint(request):
    """Runs a test twice: as usual, and with SIGINT ignored in the test process, as when the test
    runner was started under `trap '' INT` (children then inherit the ignored disposition)."""
    if request.param == "sigint-default":
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.fixture
def oss2_auth():
    import oss2
    return oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)


@pytest.fixture
def bucket_name(server, oss2_auth):
    """A fresh, empty bucket created through oss2 (deleted with its objects afterwards)."""
    import oss2
    name = "t-" + uuid.uuid4().hex[:20]
    oss2.Bucket(oss2_auth, server.endpoint, name).create_bucket()
    yield name
    remove_bucket(oss2_auth, server.endpoint, name)


def remove_bucket(auth, endpoint: str, name: str) -> None:
    """Delete a test bucket with everything in it (ignoring a bucket that is already gone)."""
    import oss2
    b = oss2.Bucket(auth, endpoint, name)
    try:
        if b.get_bucket_versioning().status is not None:  # every version and delete marker
            from oss2.models import BatchDeleteObjectVersion, BatchDeleteObjectVersionList
            while True:
                page = b.list_object_versions(max_keys=1000)
                found = [(v.key, v.versionid) for v in page.versions + page.delete_marker]
                if not found:
                    break
                b.delete_object_versions(BatchDeleteObjectVersionList(
                    [BatchDeleteObjectVersion(k, v) for k, v in found]))
        keys = [o.key for o in oss2.ObjectIterator(b, max_keys=1000)]
        for i in range(0, len(keys), 1000):
            b.batch_delete_objects(keys[i:i + 1000])
        for up in oss2.MultipartUploadIterator(b):
            b.abort_multipart_upload(up.key, up.upload_id)
        b.delete_bucket()
    except oss2.exceptions.OssError:
        pass


def v2_error(fn, *args, **kwargs):
    """Call an alibabacloud-oss-v2 operation that must fail; return its ServiceError."""
    import alibabacloud_oss_v2 as oss
    with pytest.raises(oss.exceptions.OperationError) as info:
        fn(*args, **kwargs)
    err = info.value.unwrap()
    assert isinstance(err, oss.exceptions.ServiceError), err
    return err


@pytest.fixture
def bucket(server, oss2_auth, bucket_name):
    """oss2.Bucket (V1 signatures) on a fresh bucket."""
    import oss2
    return oss2.Bucket(oss2_auth, server.endpoint, bucket_name)


@pytest.fixture
def bucket_v4(server, bucket_name):
    """oss2.Bucket with V4 signatures on the same fresh bucket."""
    import oss2
    auth = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET))
    return oss2.Bucket(auth, server.endpoint, bucket_name, region="cn-hangzhou")


def make_v2_client(endpoint: str):
    import alibabacloud_oss_v2 as oss
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = endpoint
    cfg.retry_max_attempts = 1
    return oss.Client(cfg)


@pytest.fixture
def v2(server):
    """alibabacloud-oss-v2 client (V4 signatures)."""
    return make_v2_client(server.endpoint)


# -- access control: RAM users through the admin API (root only) -------------------------------
def admin(server, action, body=None, method="POST"):
    """Call the admin API as root through the official SDK, with the request `ossbox admin` builds
    (action in a signed header, Content-MD5 of the JSON body, a nonce)."""
    import json
    from ossbox.cli.admin_cmd import build_input
    client = make_v2_client(server.endpoint)
    out = client.invoke_operation(build_input(action, body or {}, method))
    text = out.http_response.content if out.http_response is not None else b""
    return json.loads(text) if text else {}


@pytest.fixture
def user(server):
    """A fresh RAM user with one access key, made through the admin API."""
    name = "u" + uuid.uuid4().hex[:10]
    created = admin(server, "CreateUser", {"UserName": name})
    key = admin(server, "CreateAccessKey", {"UserName": name})
    return {"name": name, "id": created["UserId"], "ak": key["AccessKeyId"], "sk": key["AccessKeySecret"]}


def put_policy(server, user, statements, name="p"):
    import json
    admin(server, "PutUserPolicy", {"UserName": user["name"], "PolicyName": name,
                                    "PolicyDocument": json.dumps({"Version": "1", "Statement": statements})})


def as_user(server, user, bucket_name):
    import oss2
    return oss2.Bucket(oss2.Auth(user["ak"], user["sk"]), server.endpoint, bucket_name)


# -- a callback server for upload callbacks (tests/test_callback.py, PostObject) ----------------------
class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.received.append((self.path, dict(self.headers), body))
        status, answer = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_server():
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    srv.received, srv.answer = [], (200, b'{"Status":"OK"}')
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/notify?from=oss"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def bucket_pair(endpoint: str):
    """Two fresh oss2 buckets (a source and a target: logging, inventory), removed afterwards."""
    import oss2
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    made = [oss2.Bucket(auth, endpoint, p + uuid.uuid4().hex[:16]) for p in ("s-", "t-")]
    for b in made:
        b.create_bucket()
    yield made
    for b in made:
        remove_bucket(auth, endpoint, b.bucket_name)
