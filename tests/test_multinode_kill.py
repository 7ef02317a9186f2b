"""kill -9 of scale-out nodes mid-append (issue 11, "Proof"): three `ossbox server` nodes on one
PostgreSQL schema and one shared segment directory (`--data file://...`), clients appending
through all of them, and a killer that makes KILLS cycles. Each cycle kills one node at one of the
points an append passes (tests/faults/sitecustomize.py triggers, one-shot):

  * while a body streams (a plain SIGKILL while 300 KiB-1 MiB bodies are in flight),
  * after the segment is in the store, before anything references it (kill-after-segment-put),
  * after the compare-and-set UPDATE, before COMMIT (kill-after-update),
  * after COMMIT, before the reply (kill-after-commit),

then restarts it. Checked at the end: the history of every object is one unbroken chain (no
acknowledged append lost, an unacknowledged one either wholly in or wholly out, nothing else
visible; tests/appendhistory.py), every node serves the same bytes and CRC-64, and after the
collector has run, the segment store holds exactly the segments some row references (the
orphans of killed writers are collected)."""
from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid

import oss2
import pytest

from appendhistory import OK, UNKNOWN, Attempt, check_history
from appendkit import crc64, new_bucket, wait_until
from pgtest import PG_URL, drop_schema, pg_unreachable, schema_url
from serverproc import TEST_META, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(bool(TEST_META), reason="runs on a PostgreSQL schema of its own; run in the SQLite pass")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAULTS = os.path.join(ROOT, "tests", "faults")
NODES = ("n1", "n2", "n3")
KILLS = 32
POINTS = ("streaming", "kill-after-segment-put", "kill-after-update", "kill-after-commit")
OBJECTS = 6
BUCKET = "killnodes"


class Node:
    def __init__(self, name: str, work: str, meta: str, segments: str):
        self.name = name
        self.faults = os.path.join(work, f"faults-{name}")
        os.makedirs(self.faults)
        path = [FAULTS, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p], ROOT]
        self.env = {"PYTHONPATH": os.pathsep.join(path), "OSSBOX_TEST_FAULTS": self.faults}
        self.args = ["--meta", meta, "--data", f"file://{segments}"]
        self.data_dir = os.path.join(work, f"node-{name}")
        self.port = 0
        self.proc: ServerProcess | None = None
        self.lock = threading.Lock()  # held while the node is down

    def start(self) -> None:
        self.proc = ServerProcess(self.data_dir, port=self.port, extra_args=self.args, env=self.env).start(timeout=60)
        self.port = self.proc.port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _chunk(rnd: random.Random) -> bytes:
    r = rnd.random()
    size = rnd.randint(1, 8192) if r < 0.85 else rnd.randint(300 * 1024, 600 * 1024)
    return rnd.randbytes(size)


def test_nodes_killed_at_every_point_of_an_append_lose_nothing_acknowledged(tmp_path):
    reason = pg_unreachable(PG_URL)
    if reason:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {reason}")
    schema = "ossbox_kill_" + uuid.uuid4().hex[:10]
    meta = schema_url(PG_URL, schema)
    segments = tmp_path / "segments"
    segments.mkdir()
    nodes = [Node(n, str(tmp_path), meta, str(segments)) for n in NODES]
    stop = threading.Event()
    attempts: list[Attempt] = []
    alock = threading.Lock()
    counts = {p: 0 for p in POINTS}
    try:
        for node in nodes:
            node.start()
        new_bucket(nodes[0].endpoint, BUCKET).create_bucket()
        # one account on every node (each has a credentials.json of its own): the bucket is its
        # owner's on every node, so creating it again anywhere is not "someone else's bucket"
        owners = set()
        for node in nodes:
            b = new_bucket(node.endpoint, BUCKET)
            b.create_bucket()
            owners.add(b.get_bucket_info().owner.id)
        assert len(owners) == 1, owners

        errors: list[BaseException] = []

        def client(k: int) -> None:
            try:
                appender(k)
            except BaseException as e:  # reported by the test, not lost as a thread's warning
                errors.append(e)

        def appender(k: int) -> None:
            rnd = random.Random(k)
            key, pos = f"obj-{k}", 0
            buckets = {}
            # (position, length) of an append whose answer never came: a client's timeout on a
            # loaded machine leaves it in flight at a live node, so it may land after the HEAD
            # below has read the old length (the history check accepts it either way)
            in_flight = None
            while not stop.is_set():
                node = rnd.choice(nodes)
                if node.proc is None or node.proc.proc.poll() is not None:
                    time.sleep(0.01)
                    continue
                b = buckets.get((node.name, node.port)) or new_bucket(node.endpoint, BUCKET, timeout=10)
                buckets[(node.name, node.port)] = b
                data = _chunk(rnd)
                try:
                    r = b.append_object(key, pos, data)
                    a = Attempt(key, pos, data, node.name, OK, end=r.next_position, crc=r.crc)
                except oss2.exceptions.PositionNotEqualToLength as e:
                    if in_flight is None or e.next_position != in_flight[0] + in_flight[1] or pos != in_flight[0]:
                        raise AssertionError(f"{key}: a single writer was told {e.next_position} at {pos}") from e
                    pos, in_flight = e.next_position, None  # the unanswered append did land, late
                    continue
                except (oss2.exceptions.RequestError, oss2.exceptions.ServerError):
                    a = Attempt(key, pos, data, node.name, UNKNOWN)
                with alock:
                    attempts.append(a)
                if a.outcome == OK:
                    pos, in_flight = a.end, None
                    continue
                in_flight = (pos, len(data))
                # the outcome is unknown: learn it from any live node (the append landed whole or not at all)
                while not stop.is_set():
                    other = rnd.choice(nodes)
                    try:
                        length = new_bucket(other.endpoint, BUCKET, timeout=5).head_object(key).content_length
                    except oss2.exceptions.NotFound:
                        length = 0
                    except (oss2.exceptions.RequestError, oss2.exceptions.ServerError):
                        time.sleep(0.05)
                        continue
                    assert length in (pos, pos + len(data)), f"{key}: length {length} after {pos}+{len(data)}"
                    if length != pos:
                        in_flight = None  # it landed
                    pos = length
                    break

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(OBJECTS)]
        for t in threads:
            t.start()
        rnd = random.Random(99)
        for cycle in range(KILLS):
            node = rnd.choice(nodes)
            point = POINTS[cycle % len(POINTS)]
            time.sleep(rnd.uniform(0.2, 0.6))
            if point == "streaming":
                node.proc.kill()
            else:
                trigger = os.path.join(node.faults, point)
                open(trigger, "w").close()
                try:
                    wait_until(lambda: node.proc.proc.poll() is not None, 15, what=f"{node.name} to reach {point}")
                finally:
                    if os.path.exists(trigger):
                        os.unlink(trigger)
            node.proc.kill()  # reaps it (a self-killed one too)
            counts[point] += 1
            node.start()
        stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors

        final = {}
        for k in range(OBJECTS):
            key = f"obj-{k}"
            seen = set()
            for node in nodes:
                b = new_bucket(node.endpoint, BUCKET)
                body = b.get_object(key).read()
                head = b.head_object(key)
                assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(body)
                seen.add(body)
            assert len(seen) == 1, f"{key}: nodes serve different bytes"
            final[key] = seen.pop()
        links = check_history(attempts, final)
        unknown = sum(a.outcome == UNKNOWN for a in attempts)
        print(f"{KILLS} kills {counts}; {len(attempts)} appends ({unknown} with no answer), "
              f"{sum(links.values())} in the chains, {sum(map(len, final.values())) // 1024} KiB")
        for node in nodes:
            assert node.proc.stop() == 0, "".join(node.proc.output)
            node.proc = None
        assert _collected(meta, str(segments), str(tmp_path / "collector"))
    finally:
        stop.set()
        for node in nodes:
            if node.proc is not None:
                node.proc.kill()
        drop_schema(PG_URL, schema)


def _collected(meta: str, segments: str, data_dir: str) -> bool:
    """Run the collector with no grace periods (the killed nodes' leases expired), twice (marks,
    then deletes); then every segment file is referenced and no temp file is left."""
    from ossbox.storage import journal, segment_upkeep
    from ossbox.storage.drivers import metadata_store, open_engine
    from ossbox.storage.segment_files import FileSegmentStore

    async def run() -> bool:
        eng = open_engine(data_dir, meta=metadata_store(meta, "fsync"), segments=FileSegmentStore(segments))
        await eng.start()
        try:
            for _ in range(3):
                await eng.collect_garbage(grace=0)
                await asyncio.sleep(0.01)
            claims = await eng.meta.blob_claims()
            listed = {i.name async for i in eng.segments.list()}
            used = claims.extent_segments | claims.referenced
            assert listed <= used, f"unreferenced segments left: {sorted(listed - used)[:5]}"
            assert not os.listdir(os.path.join(segments, "tmp")), "temp files of killed writers left"
            return True
        finally:
            await eng.stop()
    saved = (journal.LEASE_TTL, segment_upkeep.LEASE_TTL, segment_upkeep.GC_GRACE_SECONDS)
    segment_upkeep.LEASE_TTL = segment_upkeep.GC_GRACE_SECONDS = 0
    try:
        return asyncio.run(run())
    finally:
        journal.LEASE_TTL, segment_upkeep.LEASE_TTL, segment_upkeep.GC_GRACE_SECONDS = saved
