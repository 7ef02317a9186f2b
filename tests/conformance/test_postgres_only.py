"""What only the PostgreSQL driver has: schema versions, a database that goes away."""
from __future__ import annotations

import asyncio

import pytest

from ossbox.storage.errors import MetadataUnavailable
from pgtest import PG_URL, TcpRelay, driver  # noqa: F401  (driver: the fixture)

pytestmark = [pytest.mark.timeout(120), pytest.mark.postgres,
              pytest.mark.parametrize("driver", ["postgres"], indirect=True)]


@pytest.fixture
def pg(driver):
    return driver


def test_a_newer_schema_is_refused(pg):
    import psycopg
    from ossbox.storage.postgres_store import SCHEMA_VERSION, SchemaTooNew

    async def start_close():
        store = pg.store()
        await store.start()
        await store.close()
    asyncio.run(start_close())  # creates the schema in its own search_path schema
    with psycopg.connect(pg.url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew, match="newer than this ossbox knows"):
        asyncio.run(start_close())


def test_a_database_that_goes_away_is_503_and_comes_back_by_itself(pg):
    from ossbox.storage.postgres_store import PostgresStore
    from pgtest import schema_url
    relay = TcpRelay()

    async def scenario():
        store = PostgresStore(schema_url(relay.url(PG_URL), pg.schema), retry_window=5.0, connect_timeout=1.0)
        await store.start()
        try:
            await store.write(lambda t: t.set_setting("a", "1"))
            relay.down()
            for op in (store.get_setting("a"), store.write(lambda t: t.set_setting("a", "2"))):
                with pytest.raises(MetadataUnavailable):
                    await op
            relay.up()
            assert await store.get_setting("a") == "1"  # the failed write never happened
            await store.write(lambda t: t.set_setting("a", "3"))
            assert await store.get_setting("a") == "3"
        finally:
            await store.close()
    try:
        asyncio.run(scenario())
    finally:
        relay.close()


@pytest.mark.slow  # ~10 s of connection retries before the start gives up
def test_an_unreachable_database_stops_the_start(pg):
    from ossbox.storage.postgres_store import PostgresStore
    relay = TcpRelay()
    relay.down()

    async def scenario():
        store = PostgresStore(relay.url(PG_URL), connect_timeout=0.5)
        with pytest.raises(RuntimeError, match="cannot connect to the metadata database"):
            await store.start()
    try:
        asyncio.run(scenario())
    finally:
        relay.close()


def test_writes_that_need_no_durability_commit_asynchronously(pg):
    """write(durable=False), and every write of a store without durability (--durability none),
    runs with synchronous_commit off; the others wait for their WAL flush."""
    def setting(t):
        return t.c("SHOW synchronous_commit").fetchone()[0]

    async def scenario():
        for durable_store, expect in ((True, ("off", "on")), (False, ("off", "off"))):
            store = pg.store(durable_store)
            await store.start()
            try:
                assert (await store.write(setting, durable=False), await store.write(setting)) == expect
            finally:
                await store.close()
    asyncio.run(scenario())


class _DroppingConnections:
    """Pooled connections that drop at chosen statements, as a network cut or a database crash
    would: `after` runs the statement first (a COMMIT that took effect, its reply lost), `before`
    drops without sending it (the server sees the connection close and rolls back). Each fault
    (SQL substring, when) fires once, in order."""

    def __init__(self, store, faults):
        self.faults = list(faults)
        self.fired = []
        pool = store._pool
        real_get, real_put = pool.getconn, pool.putconn
        pool.getconn = lambda *a, **kw: _Dropping(real_get(*a, **kw), self)
        pool.putconn = lambda conn: real_put(conn.real if isinstance(conn, _Dropping) else conn)

    def check(self, conn, query, run):
        import psycopg
        if self.faults and self.faults[0][0] in str(query):
            where, when = self.faults.pop(0)
            self.fired.append(where)
            if when == "after":
                run()
            conn.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly (injected)")
        return run()


class _Dropping:
    def __init__(self, real, plan):
        self.real, self.plan = real, plan

    def __getattr__(self, name):
        return getattr(self.real, name)

    def execute(self, query, params=None):
        return self.plan.check(self.real, query, lambda: self.real.execute(query, params))

    def cursor(self):
        cur, plan, real = self.real.cursor(), self.plan, self.real

        class Cursor:
            def __getattr__(self, name):
                return getattr(cur, name)

            def execute(self, query, params=None):
                return plan.check(real, query, lambda: cur.execute(query, params))
        return Cursor()


@pytest.mark.parametrize("faults, committed_first", [
    # the COMMIT took effect and its reply was lost: resolved as committed, fn not run again
    ([("COMMIT", "after")], True),
    # the connection dropped before the COMMIT reached the database: rolled back, fn runs again
    ([("COMMIT", "before")], False),
    # ... and the resolver's own connection drops after its fence went in: the retried resolution
    # must still say "rolled back" (it reads whose mark holds the token, not its insert's count)
    ([("COMMIT", "before"), ("fenced", "after")], False),
    ([("COMMIT", "after"), ("fenced", "after")], True),
])
def test_a_commit_whose_connection_drops_is_resolved_exactly_once(pg, faults, committed_first):
    """An acknowledged write is never lost and never applied twice when the connection drops
    during its COMMIT, however the resolution itself is interrupted."""
    from ossbox.storage.records import APPENDABLE, BucketRecord, ObjectRecord

    async def scenario():
        store = pg.store()
        await store.start()
        try:
            await store.write(lambda t: t.insert_bucket(BucketRecord("b", "owner", 1.0, "cn-hangzhou")))
            log = ObjectRecord(bucket="b", key="log", type=APPENDABLE, size=0, crc64=0, etag="E",
                               blob="B", mtime=1.5)
            await store.write(lambda t: t.insert_object(log))
            plan = _DroppingConnections(store, faults)
            runs = []

            def append(t):
                runs.append(1)
                return t.cas_object(log.evolve(size=10), "B", 0)
            assert await store.write(append) is True  # acknowledged
            assert plan.faults == [] and plan.fired == [f for f, _ in faults]
            assert len(runs) == (1 if committed_first else 2)
            assert (await store.get_object("b", "log")).size == 10  # applied, exactly once
        finally:
            await store.close()
    asyncio.run(scenario())


def test_a_writer_stopped_inside_its_transaction_holds_its_row_locks_only_briefly(pg, monkeypatch):
    """A node that stops between its UPDATE and its COMMIT -- frozen, or cut off the network, so
    that PostgreSQL hears nothing more from it -- must not keep the rows it updated locked: the
    database ends such a session after IDLE_IN_TRANSACTION_TIMEOUT, and another node's write of
    the same row goes ahead. The stopped writer, when it resumes, finds its connection gone and
    runs its transaction again (tests/test_multinode.py cuts a node off for real)."""
    import threading
    import time

    from ossbox.storage import postgres_store
    monkeypatch.setattr(postgres_store, "IDLE_IN_TRANSACTION_TIMEOUT", 1.0)
    inside, resume = threading.Event(), threading.Event()

    def stopped_writer(t):
        t.set_setting("row", "stopped writer")
        inside.set()
        resume.wait(30)

    async def scenario():
        stopped, other = pg.store(), pg.store()
        await stopped.start()
        await other.start()
        try:
            first = asyncio.ensure_future(stopped.write(stopped_writer))
            await asyncio.get_running_loop().run_in_executor(None, inside.wait, 10)
            started = time.monotonic()
            await other.write(lambda t: t.set_setting("row", "other writer"))
            waited = time.monotonic() - started
            resume.set()
            await first
            assert waited < 5, f"the other writer waited {waited:.1f}s for the stopped writer's row lock"
            assert await other.get_setting("row") == "stopped writer"  # it ran again, after the other
        finally:
            resume.set()
            await stopped.close()
            await other.close()
    asyncio.run(scenario())
