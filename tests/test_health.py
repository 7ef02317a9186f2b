"""Health endpoints (issue 13): GET /-/health/live is 200 while the process serves; GET
/-/health/ready is 200 when it can serve and 503 while it replays the journal after a crash, while
the metadata database cannot be reached, and while the disk is full. No credentials; a short JSON
body."""
from __future__ import annotations

import os
import threading
import uuid

import pytest
import requests

from appendkit import det_bytes, new_bucket, wait_until
from pgtest import PG_URL, PrivateCluster, TcpRelay, pg_schema, schema_url  # noqa: F401 (pg_schema: a fixture)
from serverproc import TEST_DATA, TEST_META, ServerProcess

FAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faults")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def health(endpoint: str, which: str) -> tuple[int, dict]:
    resp = requests.get(f"{endpoint}/-/health/{which}", timeout=30)
    assert resp.headers["content-type"] == "application/json"
    return resp.status_code, resp.json()


def wait_ready(endpoint: str) -> None:
    """The ready line comes before the journal replay (if any) has finished: wait for it."""
    wait_until(lambda: health(endpoint, "ready")[0] == 200, 30, interval=0.05, what="ready")


def test_live_and_ready_without_credentials(server):
    assert health(server.endpoint, "live") == (200, {"status": "live"})
    wait_ready(server.endpoint)
    assert health(server.endpoint, "ready") == (200, {"status": "ready"})
    # a signature, even a bad one, changes nothing: these are not OSS requests
    resp = requests.get(server.endpoint + "/-/health/ready", headers={"Authorization": "OSS x:y"})
    assert resp.status_code == 200
    assert requests.head(server.endpoint + "/-/health/live").status_code == 200
    assert requests.delete(server.endpoint + "/-/health/live").status_code == 405
    assert requests.get(server.endpoint + "/-/health/other").status_code == 404


def test_ready_is_503_while_the_disk_is_full(tmp_path):
    # Twice the reserve is more than is free: the server starts in its full-disk state (the one it
    # is in after releasing its reserve on a full disk; tests/test_disk_full.py).
    st = os.statvfs(tmp_path)
    reserve = st.f_bavail * st.f_frsize // 2 + 1024 ** 3
    srv = ServerProcess(str(tmp_path / "d"), env={"OSSBOX_DISK_RESERVE": str(reserve)}).start()
    try:
        assert health(srv.endpoint, "live")[0] == 200
        wait_until(lambda: health(srv.endpoint, "ready")[1]["status"] != "recovering", 30)
        status, body = health(srv.endpoint, "ready")
        assert (status, body["status"]) == (503, "disk full")
    finally:
        assert srv.stop() == 0, "".join(srv.output)


@pytest.mark.skipif(bool(TEST_DATA), reason="segment mode has no journal to replay")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_ready_is_503_while_the_journal_is_replayed(tmp_path, workers):
    """Small appends are acknowledged once journalled; the blob's fdatasync is made to hang
    (tests/faults: blob-hang), so the journal is never retired, and the server is killed. On the
    next start the replay's fdatasync hangs too: the server is live, not ready, and an OSS request
    waits for the replay; once the sync goes through it is ready and the appends are all there.
    With --workers 2 every worker answers so during its replay (none waits for another's)."""
    triggers = tmp_path / "faults"
    triggers.mkdir()
    path = [FAULTS] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [ROOT]
    env = {"PYTHONPATH": os.pathsep.join(path), "OSSBOX_TEST_FAULTS": str(triggers)}
    data = str(tmp_path / "d")
    (triggers / "blob-hang").touch()
    srv = ServerProcess(data, env=env).start()
    try:
        name = "recover-" + uuid.uuid4().hex[:8]
        b = new_bucket(srv.endpoint, name)
        b.create_bucket()
        acked = b""
        for i in range(3):
            chunk = det_bytes(f"{name}-{i}", 3000)
            b.append_object("log", len(acked), chunk)
            acked += chunk
        wait_until(lambda: (triggers / "blob-hang.waiting").exists(), 30, what="the flusher to hang")
    finally:
        srv.kill()
    os.unlink(triggers / "blob-hang.waiting")

    srv = ServerProcess(data, env=env, extra_args=["--workers", workers]).start()
    try:
        wait_until(lambda: (triggers / "blob-hang.waiting").exists(), 30, what="the replay to hang")
        assert health(srv.endpoint, "live") == (200, {"status": "live"})
        status, body = health(srv.endpoint, "ready")
        assert (status, body["status"]) == (503, "recovering")
        got = {}
        reader = threading.Thread(target=lambda: got.update(body=new_bucket(srv.endpoint, name).get_object("log").read()))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive()  # waits for the replay, as it would in the listen backlog
        os.unlink(triggers / "blob-hang")
        wait_until(lambda: health(srv.endpoint, "ready")[0] == 200, 30, what="ready after the replay")
        reader.join(30)
        assert got["body"] == acked
    finally:
        assert srv.stop() == 0, "".join(srv.output)


@pytest.mark.postgres
def test_ready_is_503_while_postgresql_is_unreachable(tmp_path, pg_schema):
    relay = TcpRelay()
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", schema_url(relay.url(PG_URL), pg_schema)]).start()
    try:
        wait_ready(srv.endpoint)
        assert health(srv.endpoint, "ready") == (200, {"status": "ready"})
        relay.down()
        status, body = health(srv.endpoint, "ready")
        assert (status, body["status"]) == (503, "metadata unavailable")
        assert health(srv.endpoint, "live")[0] == 200
        relay.up()
        wait_until(lambda: health(srv.endpoint, "ready")[0] == 200, 60, interval=0.5,
                   what="ready once the database is back")
    finally:
        relay.up()  # a clean stop writes to the database: let it through first
        rc = srv.stop()
        relay.close()
        assert rc == 0, "".join(srv.output)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(bool(TEST_META), reason="runs a PostgreSQL cluster of its own; run in the SQLite pass")
def test_ready_is_503_while_postgresql_is_stopped(tmp_path):
    """The same with the database really stopped (`pg_ctl stop`) and started again: a private
    cluster (tests/pgtest.py)."""
    reason = PrivateCluster.unavailable()
    if reason:
        pytest.skip(f"cannot make a private PostgreSQL cluster: {reason}")
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", schema_url(cluster.url, "ossbox_health")]).start()
        try:
            wait_ready(srv.endpoint)
            cluster.stop()
            status, body = health(srv.endpoint, "ready")
            assert (status, body["status"]) == (503, "metadata unavailable")
            assert health(srv.endpoint, "live")[0] == 200
            cluster.start()
            wait_until(lambda: health(srv.endpoint, "ready")[0] == 200, 60, interval=0.5,
                       what="ready once the database is back")
        finally:
            assert srv.stop() == 0, "".join(srv.output)
    finally:
        cluster.destroy()
