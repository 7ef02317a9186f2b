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
