"""PostgreSQL helpers for the tests: where the test database is, schema URLs, cleanup."""
from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

# the database the conformance suite uses (CI: the `test` database, trust auth)
PG_URL = os.environ.get("OSSBOX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(url: str, schema: str, settings: tuple = ()) -> str:
    """url with its search_path set to `schema`, and each name=value of `settings` set, through
    libpq's options parameter (-csearch_path=... -cname=value); options already in url are kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    options = [v for k, v in query if k == "options"]
    options += [f"-csearch_path={schema}"] + [f"-c{s}" for s in settings]
    query = [(k, v) for k, v in query if k != "options"] + [("options", " ".join(options))]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def pg_unreachable(url: str) -> str:
    """'' when a PostgreSQL server answers at url, else why not."""
    missing = _driver_missing()
    if missing:
        return missing
    import psycopg
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ""


def drop_schema(url: str, schema: str) -> None:
    drop_schemas(url, schema, exact=True)


def drop_schemas(url: str, prefix: str, exact: bool = False) -> None:
    """Drop the schema named `prefix` (exact) or every schema whose name starts with it."""
    import psycopg
    from psycopg import sql
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        if exact:
            names = [prefix]
        else:
            names = [r[0] for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,))]
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_schema():
    """The name of a fresh schema in the test database, dropped afterwards (skips without one)."""
    reason = pg_unreachable(PG_URL)
    if reason:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    name = "ossbox_srv_" + uuid.uuid4().hex[:12]
    yield name
    drop_schema(PG_URL, name)


class TcpRelay:
    """A TCP relay on 127.0.0.1 (free port) in front of the database: `down()` cuts every
    connection and refuses new ones (the database "goes away"), `up()` lets them through again."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432):
        import socket
        import threading
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.available = True
        self.links: list = []
        self.cut = 0          # live connections (client side) that down() cut
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        return parts._replace(netloc=f"{user}127.0.0.1:{self.port}").geturl()

    def _accept(self) -> None:
        import socket
        import threading
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.available:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.links += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:
        import socket
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self) -> None:
        import socket
        self.available = False
        with self.lock:
            links, self.links = self.links, []
            self.cut += len(links) // 2
        for s in links:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def up(self) -> None:
        self.available = True

    def close(self) -> None:
        self.down()
        self.listener.close()


# -- tests/conformance: one metadata-store suite run against every driver (the model: JuiceFS's
# testMeta(t, m) run by each engine). SQLite always; PostgreSQL when one answers at PG_URL, else
# those cases are skipped with the reason. A module uses it with `from pgtest import driver`
# (not a conftest.py there: test modules import the suite's tests/conftest.py by that name).
class Driver:
    """Makes stores of one driver that share one database (as two processes or a restart would)."""

    def __init__(self, kind: str, tmp_path):
        self.kind = kind
        self.path = str(tmp_path / "meta.sqlite3")
        self.schema = "ossbox_conf_" + uuid.uuid4().hex[:12]

    def store(self, durable: bool = True):
        if self.kind == "sqlite":
            from ossbox.storage.sqlite_store import SqliteStore
            return SqliteStore(self.path, durable=durable)
        from ossbox.storage.postgres_store import PostgresStore
        return PostgresStore(schema_url(PG_URL, self.schema), durable=durable)

    @property
    def url(self) -> str:
        return schema_url(PG_URL, self.schema)

    def cleanup(self) -> None:
        if self.kind == "postgres":
            drop_schema(PG_URL, self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def driver(request, tmp_path):
    if request.param == "postgres":
        reason = pg_unreachable(PG_URL)
        if reason:
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    d = Driver(request.param, tmp_path)
    yield d
    d.cleanup()


# -- a private PostgreSQL cluster (initdb on a free port) for tests that restart the database ------
PG_BIN = os.environ.get("OSSBOX_TEST_PG_BIN", "/usr/lib/postgresql/15/bin")


class PrivateCluster:
    """A throw-away cluster under a temp dir, listening on 127.0.0.1 and a free port only (no Unix
    socket). PostgreSQL refuses to run as root, so as root its commands run as the `postgres` OS
    user through runuser. `unavailable()` says why one cannot be made here ('' when it can).

    For multi-node tests (tests/netns.py) it can run inside a network namespace: `wrap` is the
    argv prefix that enters it (`ip netns exec NS`), `listen` adds that namespace's addresses to
    127.0.0.1, and `trust` the networks whose clients connect without a password."""

    def __init__(self, *, wrap: tuple = (), listen: tuple = (), trust: tuple = (), parent: str | None = None):
        import socket
        import tempfile
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.root = tempfile.mkdtemp(prefix="ossbox-pgcluster-", dir=parent)
        self.data = os.path.join(self.root, "data")
        self.logfile = os.path.join(self.root, "server.log")
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.wrap = list(wrap)
        self.listen = ["127.0.0.1", *listen]
        self.trust = list(trust)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_at(self, host: str) -> str:
        return f"postgresql://postgres@{host}:{self.port}/postgres"

    @staticmethod
    def unavailable() -> str:
        import shutil
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
                return f"no {tool} in {PG_BIN} (set OSSBOX_TEST_PG_BIN)"
        if os.geteuid() == 0:
            import pwd
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no `postgres` OS user to run PostgreSQL as"
            if not shutil.which("runuser"):
                return "running as root and there is no runuser to run PostgreSQL as `postgres`"
        return _driver_missing()

    def run(self, tool: str, *args: str, timeout: float = 120) -> None:
        import subprocess
        cmd = [os.path.join(PG_BIN, tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        cmd = self.wrap + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if r.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}"
                               + self.log_tail())

    def log_tail(self) -> str:
        try:
            with open(self.logfile) as f:
                return "\n--- server log ---\n" + "".join(f.readlines()[-30:])
        except OSError:
            return ""

    def init(self) -> "PrivateCluster":
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C", "--no-instructions")
        if self.trust:
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                f.writelines(f"host all all {net} trust\n" for net in self.trust)
        return self

    def _opts(self) -> str:
        return (f"-p {self.port} -c listen_addresses={','.join(self.listen)} -c unix_socket_directories='' "
                "-c shared_buffers=16MB -c max_connections=50")

    def start(self) -> None:
        self.run("pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", self.logfile, "-o", self._opts())

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", self.data)

    def restart(self, mode: str = "immediate") -> None:
        self.run("pg_ctl", "restart", "-w", "-t", "60", "-m", mode, "-D", self.data, "-l", self.logfile,
                 "-o", self._opts())

    def destroy(self) -> None:
        import shutil
        try:
            self.stop("immediate")
        except Exception:  # noqa: BLE001 - not running (any more)
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def _driver_missing() -> str:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        return f"the postgres extra is not installed ({exc})"
    return ""
