"""PostgreSQL restarts under append load (issue 10, proof): a private cluster made by the test
(`initdb` on a free port of 127.0.0.1) is restarted with `pg_ctl restart -m immediate` several
times, and once kept away longer than the driver's retry window, while appenders run against an
`ossbox server --meta` on it.

Invariants: every response is 200 or 503 ServiceUnavailable as OSS XML (Code, EC) -- never another
5xx, never a hang (each request has a bounded client timeout and the server is never killed here,
so a connection error is a failure); the server reconnects by itself; every acknowledged append
is present afterwards, byte for byte, with a matching CRC-64, also after a kill -9 of the server.
The figures (outage lengths, 503 counts, time to the first acknowledged append after the database
is back) are printed.
"""
from __future__ import annotations

import random
import threading
import time

import oss2
import pytest

from appendkit import assert_object, det_bytes, new_bucket
from pgtest import PrivateCluster, schema_url
from serverproc import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

RESTARTS = 4        # pg_ctl restart -m immediate while the appenders run
LONG_OUTAGE = 16.0  # seconds the database stays away once: longer than the driver's retry window
REQUEST_TIMEOUT = 45  # the driver answers 503 after its retry window (10 s) + pool timeout (5 s)
APPENDERS = 4


class Appender(threading.Thread):
    def __init__(self, endpoint: str, bucket: str, k: int, stop: threading.Event, acks: list):
        super().__init__(daemon=True, name=f"appender-{k}")
        self.b = new_bucket(endpoint, bucket, timeout=REQUEST_TIMEOUT)
        self.key = f"restart/{k}"
        self.rnd = random.Random(f"appender-{k}")
        self.stop, self.acks = stop, acks
        self.have = b""
        self.n = 0
        self.status: dict[str, int] = {}
        self.error: BaseException | None = None
        self.slowest = 0.0
        self.last_append_error = ""

    def count(self, what: str) -> None:
        self.status[what] = self.status.get(what, 0) + 1

    def call(self, fn, *args):
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.slowest = max(self.slowest, time.monotonic() - t0)

    def run(self):
        try:
            while not self.stop.is_set():
                self.step()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def step(self):
        # mostly journalled small appends, sometimes a large (fdatasync) one
        size = 300 * 1024 if self.rnd.random() < 0.05 else self.rnd.randint(1, 4096)
        chunk = det_bytes(f"{self.key}-{self.n}", size)
        try:
            r = self.call(self.b.append_object, self.key, len(self.have), chunk)
        except oss2.exceptions.ServerError as exc:
            self.check_error(exc)
            self.last_append_error = f"{exc.status} {exc.ec} {exc.message}"
            self.resync(chunk)
            return
        assert r.next_position == len(self.have) + len(chunk), (self.key, r.next_position)
        self.have += chunk
        self.n += 1
        self.count("200")
        self.acks.append(time.monotonic())

    def check_error(self, exc: oss2.exceptions.ServerError) -> None:
        if exc.status == 503:
            # OSS XML: oss2 parsed Code and EC out of the body
            assert exc.code == "ServiceUnavailable" and exc.ec, (exc.status, exc.code, exc.ec, exc.body)
            self.count("503" if exc.ec != "0000-00000006" else "503 commit outcome unknown")
        else:  # e.g. 500 WriteOutcomeUnknown from a COMMIT whose connection dropped
            raise AssertionError(f"{self.key}: unexpected {exc.status} {exc.code} {exc.ec}: {exc.body!r}")

    def resync(self, chunk: bytes) -> None:
        """Learn what the failed append left: the acknowledged bytes, or those plus the chunk."""
        while not self.stop.is_set():
            try:
                stored = self.call(self.b.get_object, self.key).read() if self.have else None
                if stored is None:
                    try:
                        stored = self.call(self.b.get_object, self.key).read()
                    except oss2.exceptions.NoSuchKey:
                        stored = b""
            except oss2.exceptions.ServerError as exc:
                self.check_error(exc)
                continue
            assert stored in (self.have, self.have + chunk), (self.key, len(stored), len(self.have))
            if stored != self.have:
                # only "outcome unknown" may have taken effect: a plain 503 means "not done, try again"
                assert self.last_append_error.startswith("503 0000-00000006"), (
                    f"{self.key}: an append answered {self.last_append_error!r} took effect")
                self.count("append answered 503 outcome unknown, landed")
                self.have = stored
                self.n += 1
            return


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


def test_postgres_restarts_during_appends_lose_nothing_acknowledged(tmp_path, cluster):
    url = schema_url(cluster.url, "ossbox_restart")
    data = str(tmp_path / "d")
    srv = ServerProcess(data, extra_args=["--meta", url]).start()
    stop = threading.Event()
    acks: list[float] = []
    threads: list[Appender] = []
    outages = []
    try:
        new_bucket(srv.endpoint, "pg-restart").create_bucket()
        threads = [Appender(srv.endpoint, "pg-restart", k, stop, acks) for k in range(APPENDERS)]
        for t in threads:
            t.start()

        def outage(kind, down, back):
            t0 = time.monotonic()
            down()
            t_down = time.monotonic()
            back()
            t_up = time.monotonic()
            n = len(acks)
            deadline = t_up + 60
            while len(acks) == n and time.monotonic() < deadline and not any(t.error for t in threads):
                time.sleep(0.01)
            assert not any(t.error for t in threads), [t.error for t in threads if t.error]
            assert len(acks) > n, f"no append acknowledged within 60 s after the database came back ({kind})"
            first = next(a for a in acks[n:] if a >= t_up) if any(a >= t_up for a in acks[n:]) else acks[n]
            outages.append({"kind": kind, "database_away_s": round(t_up - t0, 2),
                            "command_s": round(t_down - t0, 2),
                            "first_ack_after_back_s": round(max(0.0, first - t_up), 2)})

        for _ in range(RESTARTS):
            stop.wait(2.0)
            outage("restart -m immediate", lambda: cluster.restart("immediate"), lambda: None)
        stop.wait(2.0)
        outage(f"stop -m immediate, {LONG_OUTAGE:.0f} s away, start",
               lambda: (cluster.stop("immediate"), time.sleep(LONG_OUTAGE)), cluster.start)
        stop.wait(2.0)
        stop.set()
        for t in threads:
            t.join(REQUEST_TIMEOUT * 3)
        assert not any(t.is_alive() for t in threads), "an appender hung"
        assert not any(t.error for t in threads), [f"{t.key}: {t.error!r}" for t in threads if t.error]

        totals: dict[str, int] = {}
        for t in threads:
            for k, v in t.status.items():
                totals[k] = totals.get(k, 0) + v
        lost_commits = [line.strip() for line in srv.output if "during COMMIT" in line]
        print(f"\noutages: {outages}\nresponses: {totals}\nCOMMITs that lost their connection: "
              f"{len(lost_commits)} {lost_commits[:6]}\nslowest request: "
              f"{max(t.slowest for t in threads):.1f} s; acknowledged bytes: "
              f"{ {t.key: len(t.have) for t in threads} }")
        assert totals.get("503", 0) + totals.get("503 commit outcome unknown", 0) > 0, \
            f"the long outage produced no 503: {totals}"
        assert all(t.n > 0 for t in threads)

        for where in ("after the restarts: ", "after kill -9 of ossbox and a restart: "):
            b = new_bucket(srv.endpoint, "pg-restart")
            for t in threads:
                assert_object(b, t.key, t.have, where)  # length, content, CRC-64, next position
            srv.kill()
            srv = ServerProcess(data, port=srv.port, extra_args=["--meta", url]).start()
    finally:
        stop.set()
        srv.kill()
