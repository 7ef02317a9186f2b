"""Run a real `ossbox server` subprocess on 127.0.0.1 and a free port, for tests and benchmarks."""
from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

ACCESS_KEY_ID = "LTAItestAccessKeyId0001"
ACCESS_KEY_SECRET = "testAccessKeySecret0000000001"

# Whole-suite mode for another metadata driver: with OSSBOX_TEST_META=postgresql://..., every server
# started here keeps its metadata in PostgreSQL, in a schema derived from its data dir (restarts and
# processes sharing a data dir share it; separate data dirs stay independent). The schemas of one
# test session share a prefix (inherited by subprocesses) and are dropped at its end (conftest.py).
TEST_META = os.environ.get("OSSBOX_TEST_META", "")
META_SESSION = os.environ.setdefault("OSSBOX_TEST_META_SESSION", "ossbox_t" + secrets.token_hex(4) + "_")
# Under pytest-xdist every worker inherits the controller's prefix and drops "its" schemas when its
# own session ends, while other workers still use theirs: each worker gets a prefix of its own
# (its subprocesses inherit the extended one, hence the check).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER and not META_SESSION.endswith(f"_{_WORKER}_"):
    META_SESSION = os.environ["OSSBOX_TEST_META_SESSION"] = f"{META_SESSION}{_WORKER}_"


def default_sigint() -> None:
    """preexec_fn for a child that a test stops with SIGINT: restore SIGINT's default action in
    the child, as a shell does for the commands it runs, so the test also works when the test
    runner itself was started with SIGINT ignored (`trap '' INT`, some CI runners), a disposition
    every child would otherwise inherit (and Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def meta_args(data_dir: str) -> list[str]:
    """`--meta URL` for a server on data_dir in whole-suite mode, else nothing."""
    if not TEST_META:
        return []
    from pgtest import schema_url
    digest = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:16]
    return ["--meta", schema_url(TEST_META, META_SESSION + digest)]


# Whole-suite mode for segment mode (the scale-out layout: no object lock, no journal):
#   OSSBOX_TEST_DATA=file  every server started here keeps its object bytes as segments in
#                          <data dir>/segments (--data file:///...);
#   OSSBOX_TEST_DATA=rgw   ... in a private Ceph RGW (tests/rgw.py) brought up once for the test
#                          session, under a prefix derived from the data dir (--data s3://...).
TEST_DATA = os.environ.get("OSSBOX_TEST_DATA", "")
SUITE_BUCKET = "ossbox-suite"
_suite_rgw = None


def _rgw():
    """The session's RGW, started on first use and destroyed when the process exits."""
    global _suite_rgw
    if _suite_rgw is None:
        import atexit

        from rgw import RgwCluster
        reason = RgwCluster.unavailable()
        if reason:
            raise RuntimeError(f"OSSBOX_TEST_DATA=rgw: {reason}")
        cluster = RgwCluster(memstore_bytes=8 << 30)
        atexit.register(cluster.destroy)
        cluster.start()
        cluster.create_bucket(SUITE_BUCKET)
        _suite_rgw = cluster
    return _suite_rgw


def data_args(data_dir: str) -> list[str]:
    """`--data URL` for a server on data_dir in segment whole-suite mode, else nothing."""
    if not TEST_DATA:
        return []
    if TEST_DATA == "file":
        segments = os.path.join(os.path.realpath(data_dir), "segments")
        os.makedirs(segments, exist_ok=True)
        return ["--data", "file://" + segments]
    if TEST_DATA == "rgw":
        rgw = _rgw()
        prefix = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()[:16]
        return ["--data", f"s3://{SUITE_BUCKET}/{prefix}?endpoint={rgw.endpoint}&region={rgw.region}"]
    raise RuntimeError(f"OSSBOX_TEST_DATA={TEST_DATA!r}: expected 'file' or 'rgw'")


def data_env() -> dict:
    """The environment a server in segment whole-suite mode needs (the S3 store's credentials)."""
    if TEST_DATA != "rgw":
        return {}
    rgw = _rgw()
    return {"AWS_ACCESS_KEY_ID": rgw.access_key_id, "AWS_SECRET_ACCESS_KEY": rgw.secret_access_key}


def meta_db(data_dir: str):
    """A DB-API connection to the metadata of the servers on data_dir, for tests that look at
    (or age) stored rows: SQLite's file, or in whole-suite mode that data dir's PostgreSQL
    schema. SQL uses `?` placeholders either way; `with db:` commits (autocommit on PostgreSQL)."""
    if not TEST_META:
        import sqlite3
        return sqlite3.connect(os.path.join(data_dir, "meta.sqlite3"), timeout=30)
    import psycopg
    conn = psycopg.connect(meta_args(data_dir)[1], autocommit=True)

    class PgMeta:
        def execute(self, sql, args=()):
            return conn.execute(sql.replace("?", "%s"), args)

        def close(self):
            conn.close()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None
    return PgMeta()


def wait_for_line(proc: subprocess.Popen, ready, output: list, timeout: float):
    """Read proc's (text) stdout into output until a line for which ready(line) is true: that line,
    with the rest of the output drained into output by a thread from then on; None at EOF or after
    timeout (checked between lines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if ready(line):
            def drain():
                for rest in proc.stdout:
                    output.append(rest)
            threading.Thread(target=drain, daemon=True).start()
            return line
    return None


class ServerProcess:
    def __init__(self, data_dir: str, *, port: int = 0, extra_args=(), env=None, host: str = "127.0.0.1",
                 wrap=()):
        """wrap: an argv prefix the server runs under, e.g. `ip netns exec NS` (tests/netns.py);
        it must exec the server, so that signals reach it."""
        self.data_dir = data_dir
        self.port = port
        self.host = host
        self.wrap = list(wrap)
        self.extra_args = list(extra_args)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.endpoint = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        cmd = [*self.wrap, sys.executable, "-m", "ossbox", "server", "--host", self.host, "--port", str(self.port),
               "--data-dir", self.data_dir, "--access-key-id", ACCESS_KEY_ID,
               "--access-key-secret", ACCESS_KEY_SECRET, *self.extra_args]
        if not any(a.split("=")[0] == "--meta" for a in self.extra_args) and "OSSBOX_META" not in (self.env or {}):
            cmd += meta_args(self.data_dir)
        if not any(a.split("=")[0] == "--data" for a in self.extra_args) and "OSSBOX_DATA" not in (self.env or {}):
            cmd += data_args(self.data_dir)
        # One process per server unless a test asks for more (--workers / OSSBOX_WORKERS, also set
        # for the whole run): the suite starts hundreds of servers, many at once under xdist on a
        # machine with few cores, and many tests look at one process (kill -9 of its pid, faults
        # injected into it, its stdout). The multi-worker default (one per core) is exercised by
        # tests/test_workers.py, the README tour and the tests that run `ossbox server` directly.
        if not any(a.split("=")[0] == "--workers" for a in self.extra_args) \
                and "OSSBOX_WORKERS" not in {**os.environ, **(self.env or {})}:
            cmd += ["--workers", "1"]
        env = {**os.environ, **data_env(), **(self.env or {})}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        line = wait_for_line(self.proc, lambda ln: ln.startswith("ossbox listening on "), self.output, timeout)
        if line is not None:
            self.endpoint = line.split()[-1].strip()
            self.port = int(self.endpoint.rsplit(":", 1)[1])
            return self
        self.kill()
        raise RuntimeError("ossbox server did not start:\n" + "".join(self.output))

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
