"""ossbox server with its metadata in PostgreSQL (--meta): selection, restarts, two processes,
a database that goes away. Skipped when no PostgreSQL answers at OSSBOX_TEST_PG."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from pgtest import PG_URL, TcpRelay, pg_schema, schema_url  # noqa: F401 (pg_schema: a fixture)
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, TEST_META, ServerProcess

pytestmark = pytest.mark.timeout(180)

# these pick their PostgreSQL themselves: the whole-suite PostgreSQL pass would only repeat them
_same_in_both_passes = pytest.mark.skipif(bool(TEST_META), reason="uses PostgreSQL in every pass; run in the SQLite pass")


def test_object_names_with_nul_are_refused(bucket):
    """PostgreSQL text cannot hold U+0000, so no driver accepts such a key (the same answer on
    SQLite and PostgreSQL)."""
    import oss2
    for key in ("a\x00b", "\x00"):
        with pytest.raises(oss2.exceptions.OssError) as info:
            bucket.put_object(key, b"x")
        assert (info.value.status, info.value.code) == (400, "InvalidObjectName")


@pytest.mark.parametrize("args,env,mentions", [
    (("--meta", "mysql://db"), {}, "--meta"),
    (("--meta", "postgresql://a b"), {}, "--meta"),
    ((), {"OSSBOX_META": "sqlite:/tmp/x"}, "OSSBOX_META"),
    ((), {"OSSBOX_META": ""}, "OSSBOX_META"),
])
def test_bad_meta_urls_are_usage_errors(tmp_path, args, env, mentions):
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--data-dir", str(tmp_path / "d"), *args],
                       capture_output=True, text=True, timeout=30, env=dict(os.environ, **env))
    assert r.returncode == 1, r
    assert r.stderr.startswith("Error: ") and mentions in r.stderr and "Traceback" not in r.stderr, r
    assert not (tmp_path / "d").exists()


def _bucket(server, name):
    import oss2
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, name)


def test_metadata_lives_in_postgres_and_survives_a_restart(tmp_path, pg_schema):
    url = schema_url(PG_URL, pg_schema)
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", url]).start()
    try:
        b = _bucket(srv, "pg-bucket")
        b.create_bucket()
        r = b.append_object("log \u00e9\x7f", 0, b"first ")
        b.append_object("log \u00e9\x7f", r.next_position, b"second")
        b.put_object("k", b"v")
    finally:
        assert srv.stop() == 0, "".join(srv.output)
    assert not (tmp_path / "d" / "meta.sqlite3").exists()  # nothing in SQLite
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", url]).start()
    try:
        b = _bucket(srv, "pg-bucket")
        assert b.get_object("log \u00e9\x7f").read() == b"first second"
        assert [o.key for o in b.list_objects().object_list] == ["k", "log \u00e9\x7f"]
    finally:
        assert srv.stop() == 0, "".join(srv.output)
    # the same metadata through OSSBOX_META instead of the flag
    srv = ServerProcess(str(tmp_path / "d"), env={"OSSBOX_META": url}).start()
    try:
        assert _bucket(srv, "pg-bucket").get_object("k").read() == b"v"
    finally:
        assert srv.stop() == 0, "".join(srv.output)


# slow (~20 s of outage and reconnects); tests/conformance/test_postgres_only.py keeps the store's
# own 503-and-back in the default suite
@pytest.mark.slow
def test_a_database_that_goes_away_answers_503_and_then_recovers(tmp_path, pg_schema):
    import oss2
    relay = TcpRelay()
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", schema_url(relay.url(PG_URL), pg_schema)]).start()
    try:
        b = _bucket(srv, "pg-away")
        b.create_bucket()
        b.put_object("k", b"kept")
        relay.down()
        with pytest.raises(oss2.exceptions.OssError) as info:
            b.get_object("k")
        err = info.value
        assert (err.status, err.code, err.ec) == (503, "ServiceUnavailable", "0000-00000002"), err
        relay.up()
        assert b.get_object("k").read() == b"kept"  # reconnected by itself, nothing lost
        b.put_object("k2", b"new")
        assert b.get_object("k2").read() == b"new"
    finally:
        relay.close()
        assert srv.stop() == 0, "".join(srv.output)


def _race(tmp_path, pg_schema, rounds):
    """Two server processes on one PostgreSQL schema (and one data dir) race appends at the same
    position: exactly one wins each round, the other gets 409 with the true length."""
    import oss2
    url = schema_url(PG_URL, pg_schema)
    data = str(tmp_path / "d")
    servers = [ServerProcess(data, extra_args=["--meta", url]).start() for _ in range(2)]
    try:
        buckets = [_bucket(s, "pg-race") for s in servers]
        buckets[0].create_bucket()
        buckets[0].append_object("obj", 0, b"")
        for r in range(rounds):
            start = threading.Barrier(2)
            results: list = [None, None]

            def go(i):
                start.wait()
                try:
                    results[i] = buckets[i].append_object("obj", r, b"%d" % i).next_position
                except oss2.exceptions.PositionNotEqualToLength as exc:
                    results[i] = exc
            threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wins = [x for x in results if isinstance(x, int)]
            assert wins == [r + 1], results
            loser = next(x for x in results if not isinstance(x, int))
            assert loser.next_position == r + 1
        assert len(buckets[1].get_object("obj").read()) == rounds
    finally:
        for s in servers:
            assert s.stop() == 0, "".join(s.output)


def test_two_server_processes_sharing_postgres_race_appends(tmp_path, pg_schema):
    _race(tmp_path, pg_schema, 40)


@pytest.mark.slow
@_same_in_both_passes
def test_two_server_processes_sharing_postgres_race_appends_500_rounds(tmp_path, pg_schema):
    _race(tmp_path, pg_schema, 500)


@pytest.mark.slow  # ~10 s of connection timeouts
def test_a_server_whose_database_is_away_still_stops_cleanly(tmp_path, pg_schema):
    relay = TcpRelay()
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", schema_url(relay.url(PG_URL), pg_schema)]).start()
    try:
        b = _bucket(srv, "pg-stop")
        b.create_bucket()
        b.append_object("log", 0, b"journalled")  # leaves a journal row for the flush at stop
        relay.down()
        assert srv.stop(timeout=60) == 0, "".join(srv.output)
        out = "".join(srv.output)
        assert "stopping without a journal flush" in out and "shutdown failed" not in out, out
    finally:
        relay.close()
        srv.kill()


@pytest.mark.slow
@_same_in_both_passes
@pytest.mark.timeout(300)
def test_database_outages_during_appends_lose_nothing_acknowledged(tmp_path, pg_schema):
    """Four appenders run while the database goes away and comes back five times: requests in an
    outage fail (503, or 500 WriteOutcomeUnknown when the connection dies during COMMIT), the
    server reconnects by itself, and after a kill -9 every acknowledged byte is still there."""
    import oss2
    relay = TcpRelay()
    url = schema_url(relay.url(PG_URL), pg_schema)
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", url]).start()
    stop = threading.Event()
    acked: dict[str, bytes] = {}
    failures: dict[str, int] = {}
    b = _bucket(srv, "pg-outage")
    b.create_bucket()

    broken: list = []

    def writer(key):
        try:
            appends(key)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            broken.append(exc)

    def appends(key):
        bk = _bucket(srv, "pg-outage")
        have, n = b"", 0
        while not stop.is_set():
            chunk = f"{key}:{n:06d};".encode() * 40
            try:
                bk.append_object(key, len(have), chunk)
                have += chunk
                acked[key] = have
                n += 1
                continue
            except oss2.exceptions.RequestError:
                pass
            except oss2.exceptions.OssError as exc:
                assert exc.status in (409, 500, 503), exc
            failures[key] = failures.get(key, 0) + 1
            while not stop.is_set():  # learn what landed: the acknowledged bytes, maybe this chunk
                try:
                    stored = bk.get_object(key).read() if have or n else b""
                    break
                except (oss2.exceptions.NoSuchKey, oss2.exceptions.RequestError, oss2.exceptions.ServerError):
                    stored = b""
                    if not have:
                        break
                    stop.wait(0.2)
            else:
                return
            assert stored in (have, have + chunk), (key, len(stored), len(have))
            if stored != have:
                have = stored
                acked[key] = have
                n += 1
    threads = [threading.Thread(target=writer, args=(f"k{i}",), daemon=True) for i in range(4)]
    try:
        for t in threads:
            t.start()
        for _ in range(5):
            stop.wait(1.5)
            relay.down()
            stop.wait(1.5)
            relay.up()
        stop.wait(3)
        stop.set()
        for t in threads:
            t.join(60)
        assert not broken, broken
        print(f"failed requests per appender: {failures}; acknowledged bytes: "
              f"{ {k: len(v) for k, v in acked.items()} }")
        # The outages cut the server's live database connections. Whether a client saw a failure
        # depends on timing: the driver retries a lost connection for up to 10 s, so a 1.5 s outage
        # is often ridden out without any (that is the point of the retry).
        assert relay.cut > 0, "the outages cut no database connection"
        assert all(len(v) > 0 for v in acked.values()) and len(acked) == 4
        srv.kill()  # kill -9: nothing acknowledged may depend on a clean stop
        srv = ServerProcess(str(tmp_path / "d"), extra_args=["--meta", schema_url(PG_URL, pg_schema)]).start()
        after = _bucket(srv, "pg-outage")
        for key, data in acked.items():
            assert after.get_object(key).read() == data, key
    finally:
        stop.set()
        relay.close()
        srv.stop()
