"""One metadata-store suite, run against every driver (the model: JuiceFS's testMeta(t, m) run by
each engine). SQLite always; PostgreSQL when one is reachable at OSSBOX_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/test), else those cases are skipped with the reason."""
from __future__ import annotations

import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))  # tests/ for pgtest
from pgtest import PG_URL, drop_schema, pg_unreachable, schema_url  # noqa: E402


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
