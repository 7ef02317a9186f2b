"""Crash consistency of AppendObject: kill -9 the server at random moments while clients append.

A real `ossbox server` subprocess is killed with SIGKILL (no shutdown code runs) while client
threads append deterministic chunks (1 B ... 300 KiB: both the journalled small path and the
fdatasync large path) to their own objects, then restarted on the same data dir and port. The
invariants, checked after every restart and at the end, through HEAD and GET:

  * an object's length is the acknowledged length, or that plus the one append that was in flight
    when the server died (it may or may not have landed) -- nothing else;
  * an append whose 200 was received is never missing;
  * the content is exactly the expected bytes for that length and x-oss-hash-crc64ecma is their
    CRC-64 (computed independently with crcmod); the object stays Appendable.

The durable run makes KILLS_LONG (30) kill -9 cycles, the one with the metadata in PostgreSQL
KILLS_PG (24), the others KILLS (12) each.

Clients re-sync after a connection error the way a careful client must: HEAD the object and accept
its length only if it equals acked or acked + in-flight length.

Also: `--durability none` (gives up power-loss safety only, so it must survive kill -9 the same
way), and "torn bytes": kill -9 while a 64 MiB streamed append is mid-body leaves the object in
its previous state, and the next append at the old length succeeds with the right content.
"""
from __future__ import annotations

import functools
import random
import threading
import time
import uuid

import oss2
import pytest

from appendkit import (ChunkSeq, Gate, assert_object, blob_sizes, crash_chunk_size, crc64, det_bytes,
                       head_state, new_bucket, wait_until)
from pgtest import PG_URL, drop_schema, pg_unreachable, schema_url
from serverproc import TEST_META, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

KILLS = 12
KILLS_LONG = 30  # the durable single-process run: at least 30 kill -9 cycles under load (issue 9)
KILLS_PG = 24    # the PostgreSQL run: at least 20 kill -9 cycles (issue 10)
START_TIMEOUT = 60


class Rig:
    """One server on a fixed data dir and port that can be killed and restarted."""

    def __init__(self, data_dir: str, durability: str, extra_args=()):
        self.data_dir = data_dir
        self.args = ["--durability", durability, *extra_args]
        self.port = 0
        self.proc: ServerProcess | None = None
        self.starts = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = ServerProcess(self.data_dir, port=self.port, extra_args=self.args)
        self.proc.start(timeout=START_TIMEOUT)
        self.port = self.proc.port
        self.starts += 1

    def kill(self) -> None:
        self.proc.kill()

    def stop(self) -> int:
        return self.proc.stop()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()


class Obj:
    """Client-side record of one object. Only its client thread mutates it; the controller reads
    it while every client is parked (the Gate's lock orders the accesses)."""

    def __init__(self, k: int, bucket_name: str):
        self.key = f"crash/{k:02d}-{bucket_name}"
        self.seq = ChunkSeq(f"crash-{bucket_name}-{k}", crash_chunk_size)
        self.n = 0          # chunks known to be in the object (acknowledged, or confirmed by HEAD)
        self.acked = 0      # chunks whose append got a 200
        self.inflight = False  # chunk n was sent and its outcome is unknown

    def allowed(self) -> list[int]:
        return [self.n, self.n + 1] if self.inflight else [self.n]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c: dict[str, int] = {}

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.c[name] = self.c.get(name, 0) + n


def _append(b: oss2.Bucket, o: Obj, stats: Stats) -> None:
    i = o.n
    data = o.seq.chunk(i)
    pos = o.seq.length(i)
    o.inflight = True
    try:
        r = b.append_object(o.key, pos, data)
    except oss2.exceptions.RequestError:
        stats.add("append_conn_errors")
        raise
    except oss2.exceptions.PositionNotEqualToLength as e:
        # the length was known to be `pos` (acked or confirmed by HEAD after the last crash)
        raise AssertionError(f"{o.key}: append of chunk {i} at {pos} got 409 with next position "
                             f"{e.next_position}; acked {o.acked} chunks = {o.seq.length(o.acked)} B")
    assert r.status == 200
    assert r.next_position == pos + len(data), (
        f"{o.key}: chunk {i} at {pos}: next position {r.next_position} != {pos + len(data)}")
    assert r.crc == o.seq.crc(i + 1), f"{o.key}: chunk {i}: crc {r.crc} != {o.seq.crc(i + 1)}"
    o.n = o.acked = i + 1
    o.inflight = False
    stats.add("acked")
    stats.add("acked_large" if len(data) > 256 * 1024 else "acked_small")


def _resync(b: oss2.Bucket, o: Obj, stats: Stats) -> None:
    st = head_state(b, o.key)
    length, crc = (st[0], st[1]) if st else (0, 0)
    if st is None and o.n != 0:
        raise AssertionError(f"{o.key}: disappeared; {o.acked} chunks were acknowledged")
    for m in o.allowed():
        if o.seq.length(m) == length:
            assert crc == o.seq.crc(m), f"{o.key}: HEAD crc {crc} != {o.seq.crc(m)} at length {length}"
            stats.add("inflight_landed" if m > o.n else "inflight_lost")
            o.n = m
            o.inflight = False
            return
    raise AssertionError(f"{o.key}: HEAD length {length}; allowed "
                         f"{[o.seq.length(m) for m in o.allowed()]} (acked {o.seq.length(o.acked)})")


def _client(c: int, endpoints: list[str], bucket_name: str, objs: list[Obj], gate: Gate, stats: Stats,
            failures: list) -> None:
    rnd = random.Random(f"client-{c}")
    buckets = [new_bucket(ep, bucket_name) for ep in endpoints]
    try:
        while gate.checkpoint():
            pending = [o for o in objs if o.inflight]
            o = pending[0] if pending else rnd.choice(objs)
            b = rnd.choice(buckets)  # with two servers, any request may go to either
            try:
                if o.inflight:
                    _resync(b, o, stats)
                else:
                    _append(b, o, stats)
            except oss2.exceptions.RequestError:
                time.sleep(0.02)  # server down: the outcome stays unknown, re-sync next time
            except oss2.exceptions.ServerError as e:
                if e.status >= 500:
                    stats.add(f"status_{e.status}_{e.code}")
                    time.sleep(0.02)
                else:
                    raise
    except BaseException as e:  # noqa: BLE001 - reported by the controller
        failures.append(f"client {c}: {e!r}")


def _verify_all(endpoint: str, bucket_name: str, objs: list[Obj], where: str, stats: Stats) -> None:
    b = new_bucket(endpoint, bucket_name)
    for o in objs:
        st = head_state(b, o.key)
        if st is None:
            assert o.n == 0, f"{where}{o.key}: missing, but {o.acked} chunks were acknowledged"
            continue
        length = st[0]
        assert length >= o.seq.length(o.acked), (
            f"{where}{o.key}: length {length} < acknowledged {o.seq.length(o.acked)}: an acked append is missing")
        ms = [m for m in o.allowed() if o.seq.length(m) == length]
        assert ms, (f"{where}{o.key}: length {length}, allowed only "
                    f"{[o.seq.length(m) for m in o.allowed()]} (acked chunks {o.acked}, in flight {o.inflight})")
        assert_object(b, o.key, o.seq.prefix(ms[0]), where)
        stats.add("verified_objects")


def run_crash_cycles(tmp_path, durability: str, kills: int = KILLS, nclients: int = 8,
                     per_client: int = 2, nservers: int = 1, extra_args=()) -> Stats:
    """nservers > 1: that many processes share the data dir; each kill hits one of them (sometimes
    all), the others keep serving the same objects meanwhile. extra_args go to every server
    (e.g. --meta postgresql://...)."""
    rigs = [Rig(str(tmp_path / "data"), durability, extra_args) for _ in range(nservers)]
    gate = Gate(nclients)
    stats = Stats()
    failures: list[str] = []
    threads: list[threading.Thread] = []
    rnd = random.Random(f"controller-{durability}")
    try:
        for rig in rigs:
            rig.start()
        endpoints = [rig.endpoint for rig in rigs]
        bucket_name = "crash-" + uuid.uuid4().hex[:12]
        new_bucket(endpoints[0], bucket_name).create_bucket()
        objs = [Obj(k, bucket_name) for k in range(nclients * per_client)]
        threads = [threading.Thread(target=_client, daemon=True, name=f"client-{c}",
                                    args=(c, endpoints, bucket_name,
                                          objs[c * per_client:(c + 1) * per_client], gate, stats,
                                          failures))
                   for c in range(nclients)]
        for th in threads:
            th.start()

        def alive():
            return sum(th.is_alive() for th in threads)

        def verify(where):
            for ep in endpoints:
                _verify_all(ep, bucket_name, objs, where, stats)

        for k in range(kills):
            time.sleep(rnd.uniform(0.2, 1.0))
            assert not failures, failures
            victims = rigs if rnd.random() < 0.2 else [rnd.choice(rigs)]
            for rig in victims:
                rig.kill()              # kill -9 at a random moment, appends in flight
            gate.pause()                # then let every client finish its current request and park
            gate.wait_parked(alive, 60)
            assert not failures, failures
            if rnd.random() < 0.25:     # sometimes die again during start-up / journal replay
                victims[0].start()
                time.sleep(rnd.uniform(0, 0.05))
                victims[0].kill()
                stats.add("double_kills")
            for rig in victims:
                rig.start()
            # through one process per cycle (alternating), through all of them at the end
            _verify_all(endpoints[k % nservers], bucket_name, objs,
                        f"after kill {k + 1} ({durability}, {nservers} servers): ", stats)
            gate.resume()

        time.sleep(1.0)
        gate.pause()
        gate.wait_parked(alive, 60)
        assert not failures, failures
        verify(f"at the end ({durability}): ")
        # a clean shutdown (journal flush) and restart must keep the same state
        for rig in rigs:
            rig.stop()
        for rig in rigs:
            rig.start()
        verify(f"after clean restart ({durability}): ")
        gate.stop()
        for th in threads:
            th.join(60)
        assert not any(th.is_alive() for th in threads), "client threads did not finish"
        assert not failures, failures
        unexpected = {k: v for k, v in stats.c.items() if k.startswith("status_")}
        assert not unexpected, f"server errors during the run: {unexpected}"
        assert stats.c.get("acked_small", 0) > 50 and stats.c.get("acked_large", 0) > 5, stats.c
        assert sum(o.acked for o in objs) > 0
        return stats
    finally:
        gate.stop()
        for rig in rigs:
            rig.close()
        for th in threads:
            th.join(10)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("durability", ["fsync", "none"])
def test_kill9_during_appends(tmp_path, durability):
    t0 = time.monotonic()
    kills = KILLS_LONG if durability == "fsync" else KILLS
    stats = run_crash_cycles(tmp_path, durability, kills=kills)
    print(f"\n[{durability}] {kills} kills in {time.monotonic() - t0:.1f}s: {dict(sorted(stats.c.items()))}")
    # at least one kill must have caught an append in flight, or the test proved little
    assert stats.c.get("inflight_landed", 0) + stats.c.get("inflight_lost", 0) > 0, stats.c


def test_kill9_one_of_two_processes(tmp_path):
    """Two processes on one data dir; kill -9 hits one of them (sometimes both) while the other
    keeps appending to the same objects: the dead one's object locks must be released by the
    kernel and its torn bytes must stay invisible and be overwritten."""
    t0 = time.monotonic()
    stats = run_crash_cycles(tmp_path, "fsync", kills=KILLS, nservers=2)
    print(f"\n[2 processes] {KILLS} kills in {time.monotonic() - t0:.1f}s: {dict(sorted(stats.c.items()))}")
    assert stats.c.get("inflight_landed", 0) + stats.c.get("inflight_lost", 0) > 0, stats.c


@pytest.mark.postgres
def test_kill9_during_appends_postgres(tmp_path):
    """The same kill -9 cycles with the metadata in PostgreSQL (a fresh schema of the test
    database): a commit acknowledged by PostgreSQL must survive the ossbox process dying."""
    if TEST_META:
        pytest.skip("whole-suite PostgreSQL mode: test_kill9_during_appends[fsync] runs these cycles on "
                    "PostgreSQL already")
    reason = pg_unreachable(PG_URL)
    if reason:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    schema = "ossbox_crash_" + uuid.uuid4().hex[:12]
    t0 = time.monotonic()
    try:
        stats = run_crash_cycles(tmp_path, "fsync", kills=KILLS_PG,
                                 extra_args=["--meta", schema_url(PG_URL, schema)])
    finally:
        drop_schema(PG_URL, schema)
    print(f"\n[postgresql] {KILLS_PG} kills in {time.monotonic() - t0:.1f}s: {dict(sorted(stats.c.items()))}")
    assert stats.c.get("inflight_landed", 0) + stats.c.get("inflight_lost", 0) > 0, stats.c


# -- torn bytes: kill -9 in the middle of a large streamed body -----------------------------------

TORN_TOTAL = 64 * 1024 * 1024
TORN_BLOCK = 1024 * 1024
TORN_STALL = 24 * 1024 * 1024


@functools.lru_cache(maxsize=None)
def _torn_bytes(i: int) -> bytes:
    return det_bytes(f"torn-{i}", TORN_BLOCK)


class _ClientAbort(Exception):
    pass


class _Stall:
    """Shared by the two stalling bodies: after TORN_STALL bytes, signal `midway` and wait for
    `release`; then either go on sending (the server is dead by then) or abort the request."""

    def __init__(self):
        self.midway = threading.Event()
        self.release = threading.Event()
        self.abort = False

    def at(self, pos: int) -> None:
        if pos >= TORN_STALL and not self.release.is_set():
            self.midway.set()
            self.release.wait(60)
        if pos >= TORN_STALL and self.abort:
            raise _ClientAbort("client gives up mid-body")


class _StallingBody:
    """A file-like body with a Content-Length of TORN_TOTAL that stalls after TORN_STALL bytes."""

    def __init__(self, stall: _Stall):
        self.pos = 0
        self.stall = stall

    def __len__(self):
        return TORN_TOTAL

    def read(self, n=-1):
        if self.pos >= TORN_TOTAL:
            return b""
        self.stall.at(self.pos)
        block = _torn_bytes(self.pos // TORN_BLOCK)
        off = self.pos % TORN_BLOCK
        n = TORN_BLOCK - off if n is None or n < 0 else min(n, TORN_BLOCK - off)
        out = block[off:off + n]
        self.pos += len(out)
        return out


def _stalling_chunks(stall: _Stall):
    """A generator body (oss2/requests send it with Transfer-Encoding: chunked)."""
    for i in range(TORN_TOTAL // TORN_BLOCK):
        stall.at(i * TORN_BLOCK)
        yield _torn_bytes(i)


@pytest.mark.parametrize("body", ["chunked", "content-length"])
@pytest.mark.parametrize("existing", [True, False], ids=["existing-object", "creating-append"])
@pytest.mark.parametrize("how", ["kill9", "client-abort"])
def test_torn_large_append_leaves_previous_state(tmp_path, body, existing, how):
    """kill -9 (or the client going away) while a 64 MiB streamed append is mid-body, with a
    good part of the body already written past the committed length: the object is exactly its
    previous state (or still absent), and the next append at the old length works."""
    rig = Rig(str(tmp_path / "data"), "fsync")
    result: dict = {}
    t = None
    try:
        rig.start()
        name = "torn-" + uuid.uuid4().hex[:12]
        b = new_bucket(rig.endpoint, name)
        b.create_bucket()
        key = "torn-object"
        before = b""
        if existing:
            # small (journalled) and large (fdatasync) history before the torn append
            for i, size in enumerate([1000, 300 * 1024, 5, 70 * 1024]):
                chunk = det_bytes(f"pre-{i}", size)
                r = b.append_object(key, len(before), chunk)
                before += chunk
                assert r.next_position == len(before) and r.crc == crc64(before)
        old_len = len(before)
        sizes_before = blob_sizes(rig.data_dir)

        stall = _Stall()
        data = _stalling_chunks(stall) if body == "chunked" else _StallingBody(stall)

        def big_append():
            try:
                result["ok"] = new_bucket(rig.endpoint, name).append_object(key, old_len, data)
            except Exception as e:  # noqa: BLE001
                result["error"] = e

        t = threading.Thread(target=big_append, daemon=True)
        t.start()
        assert stall.midway.wait(60), f"the large append never got to the middle: {result}"

        # the server has written a good part of the body past the committed length: torn bytes
        def grown():
            sizes = blob_sizes(rig.data_dir)
            return any(sz >= old_len + 16 * 1024 * 1024 and sz > sizes_before.get(blob, 0)
                       for blob, sz in sizes.items())
        wait_until(grown, 30, what="the server to write the body into a blob")
        if how == "kill9":
            rig.kill()
        else:
            stall.abort = True
        stall.release.set()
        t.join(60)
        assert not t.is_alive(), "the client did not notice the failure"
        assert "ok" not in result, f"an append whose body was never finished succeeded: {result}"
        if how == "kill9":
            assert isinstance(result.get("error"), oss2.exceptions.RequestError), result
            rig.start()
        else:
            err = result.get("error")
            assert isinstance(err, oss2.exceptions.RequestError) or isinstance(err, _ClientAbort), result
        b = new_bucket(rig.endpoint, name)
        if existing:
            assert_object(b, key, before, f"after the torn append ({how}): ")
        else:
            assert head_state(b, key) is None, f"a creating append that never completed left an object ({how})"
            with pytest.raises(oss2.exceptions.NoSuchKey):
                b.get_object(key)
        # the next append at the old length succeeds and overwrites the torn bytes
        nxt = det_bytes("after-torn", 4321)
        r = b.append_object(key, old_len, nxt)
        expected = before + nxt
        assert r.next_position == len(expected) and r.crc == crc64(expected)
        assert_object(b, key, expected, "after the append following the torn one: ")
        big = det_bytes("after-torn-big", 3 * 1024 * 1024 + 7)
        r = b.append_object(key, len(expected), big)
        expected += big
        assert r.next_position == len(expected) and r.crc == crc64(expected)
        assert_object(b, key, expected, "after a large append following the torn one: ")
        # and it all survives one more kill -9
        rig.kill()
        rig.start()
        assert_object(new_bucket(rig.endpoint, name), key, expected, "after a further kill -9: ")
    finally:
        if t is not None and t.is_alive():
            rig.kill()
        rig.close()
