"""PostgreSQL helpers for the tests: where the test database is, schema URLs, cleanup."""
from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

# the database the conformance suite uses (CI: the `test` database, trust auth)
PG_URL = os.environ.get("OSSBOX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(url: str, schema: str) -> str:
    """url with its search_path set to `schema` (libpq's options parameter: -csearch_path=...)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def pg_unreachable(url: str) -> str:
    """'' when a PostgreSQL server answers at url, else why not."""
    try:
        import psycopg
        import psycopg_pool  # noqa: F401  (the driver needs it too)
    except ImportError as exc:
        return f"the postgres extra is not installed ({exc})"
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
