"""PostgreSQL restarts under append load (issues 10 and 11, proof): a private cluster made by the
test (`initdb` on a free port of 127.0.0.1) is restarted with `pg_ctl restart -m immediate`
several times, and once kept away longer than the driver's retry window, while appenders run
against `ossbox server --meta` on it: one server in the embedded layout, or two servers in segment
mode (`--data file://...` shared, a --data-dir each) with the appenders' requests spread over both
and bodies of mixed sizes (inline ones, and some over 256 KiB that become segments).

Invariants (tests/restartload.py): every response is 200 or 503 ServiceUnavailable as OSS XML
(Code, EC) -- never another 5xx, never a hang (each request has a bounded client timeout and the
servers are never killed while the load runs, so a connection error is a failure); the servers
reconnect by themselves; every acknowledged append is present afterwards through every server,
byte for byte, with a matching CRC-64, and the 200s form an unbroken chain -- also after a kill -9
of the servers. The figures (outage lengths, 503 counts, time to the first acknowledged append
after the database is back) are printed.
"""
from __future__ import annotations

import threading
import time

import pytest

from appendkit import crash_chunk_size, new_bucket
from pgtest import PrivateCluster, schema_url
from restartload import check_everything_acknowledged, start_appenders, stop_appenders, totals
from serverproc import TEST_META, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600),
              pytest.mark.skipif(bool(TEST_META), reason="runs a PostgreSQL cluster of its own; run in the SQLite pass")]

RESTARTS = 4        # pg_ctl restart -m immediate while the appenders run
LONG_OUTAGE = 16.0  # seconds the database stays away once: longer than the driver's retry window
REQUEST_TIMEOUT = 45  # the driver answers 503 after its retry window (10 s) + pool timeout (5 s)
APPENDERS = 4
BUCKET = "pg-restart"


def journalled_sizes(rnd):
    """Mostly journalled small appends, sometimes a large (fdatasync) one."""
    return 300 * 1024 if rnd.random() < 0.05 else rnd.randint(1, 4096)


LAYOUTS = {
    # name: (servers, --data for the servers or None, append sizes)
    "one-server": (1, None, journalled_sizes),
    # inline up to 256 KiB, some past it (a segment each): appendkit.crash_chunk_size
    "two-servers-segments": (2, "segments", crash_chunk_size),
}


@pytest.fixture
def cluster():
    reason = PrivateCluster.unavailable()
    if reason:
        pytest.skip(f"cannot make a private PostgreSQL cluster: {reason}")
    c = PrivateCluster()
    try:
        c.init()
        c.start()
    except Exception as exc:  # noqa: BLE001
        c.destroy()
        pytest.skip(f"cannot make a private PostgreSQL cluster: {exc}")
    yield c
    c.destroy()


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_postgres_restarts_during_appends_lose_nothing_acknowledged(tmp_path, cluster, layout):
    n_servers, data, size_fn = LAYOUTS[layout]
    args = ["--meta", schema_url(cluster.url, "ossbox_restart")]
    if data:
        (tmp_path / data).mkdir()
        args += ["--data", f"file://{tmp_path / data}"]
    servers = [ServerProcess(str(tmp_path / f"node{i}"), extra_args=args).start() for i in range(n_servers)]
    endpoints = [s.endpoint for s in servers]
    stop, threads = threading.Event(), []
    outages = []
    try:
        new_bucket(endpoints[0], BUCKET).create_bucket()
        stop, threads = start_appenders(endpoints, BUCKET, APPENDERS, size_fn, REQUEST_TIMEOUT)

        def acks():
            return sorted(x.end for t in threads for x in t.answers if x.op == "append" and x.status == "200")

        def outage(kind, down, back):
            t0 = time.monotonic()
            down()
            t_down = time.monotonic()
            back()
            t_up = time.monotonic()
            deadline = t_up + 60
            while not any(a > t_up for a in acks()) and time.monotonic() < deadline \
                    and not any(t.error for t in threads):
                time.sleep(0.01)
            assert not any(t.error for t in threads), [t.error for t in threads if t.error]
            after = [a for a in acks() if a > t_up]
            assert after, f"no append acknowledged within 60 s after the database came back ({kind})"
            outages.append({"kind": kind, "database_away_s": round(t_up - t0, 2),
                            "command_s": round(t_down - t0, 2),
                            "first_ack_after_back_s": round(after[0] - t_up, 2)})

        for _ in range(RESTARTS):
            stop.wait(2.0)
            outage("restart -m immediate", lambda: cluster.restart("immediate"), lambda: None)
        stop.wait(2.0)
        outage(f"stop -m immediate, {LONG_OUTAGE:.0f} s away, start",
               lambda: (cluster.stop("immediate"), time.sleep(LONG_OUTAGE)), cluster.start)
        stop.wait(2.0)
        stop_appenders(threads, stop, REQUEST_TIMEOUT * 3)

        counts = totals(threads)
        lost_commits = [line.strip() for s in servers for line in s.output if "during COMMIT" in line]
        slowest = max((x for t in threads for x in t.answers), key=lambda x: x.end - x.start)
        big = sum(1 for t in threads for x in t.answers
                  if x.op == "append" and x.status == "200" and x.size > 256 * 1024)
        print(f"\n{layout}: outages: {outages}\nresponses: {counts}\nacknowledged appends over 256 KiB: "
              f"{big}\nCOMMITs that lost their connection: {len(lost_commits)} {lost_commits[:6]}\n"
              f"slowest request: {slowest.end - slowest.start:.1f} s ({slowest}); acknowledged bytes: "
              f"{ {t.key: len(t.have) for t in threads} }")
        assert counts.get("append 503", 0) + counts.get("append 503 outcome unknown", 0) > 0, \
            f"the long outage produced no 503: {counts}"
        assert all(t.n > 0 for t in threads)
        assert big > 0 or not data, "no append went to a segment"

        for where in ("after the restarts: ", "after kill -9 of ossbox and a restart: "):
            check_everything_acknowledged(endpoints, BUCKET, threads, where)
            for i, s in enumerate(servers):
                s.kill()
                servers[i] = ServerProcess(s.data_dir, port=s.port, extra_args=args).start()
    finally:
        stop.set()
        for s in servers:
            s.kill()
