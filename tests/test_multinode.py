"""Several ossbox nodes, each in its own network namespace, on one PostgreSQL reached over the
network (issue 11, "Multi-node suite"). The nodes share one data dir on this host (the "shared
directory" layout; the segment store comes later). PostgreSQL runs in a namespace of its own, so
that a killed run leaves nothing behind that tests/netns.py does not remove.

Needs root, `ip netns` and PostgreSQL's server binaries (skipped otherwise, saying which)."""
from __future__ import annotations

import random
import threading
import time

import oss2
import pytest

import netns
from appendhistory import LOST_RACE, OK, Attempt, check_history
from appendkit import crc64, new_bucket
from pgtest import PrivateCluster
from serverproc import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NODES = ("n1", "n2", "n3")
BUCKET = "multinode"


class Cluster:
    def __init__(self, lab: netns.NetLab, db: PrivateCluster, nodes: dict[str, ServerProcess]):
        self.lab, self.db, self.nodes = lab, db, nodes

    def bucket(self, node: str, timeout: float = 30) -> oss2.Bucket:
        return new_bucket(self.nodes[node].endpoint, BUCKET, timeout=timeout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    for reason in (netns.unavailable(), PrivateCluster.unavailable()):
        if reason:
            pytest.skip(reason)
    with netns.NetLab(["db", *NODES]) as lab:
        db = PrivateCluster(wrap=lab.wrap("db"), listen=(lab.addr["db"],), trust=(str(lab.subnet),),
                            parent=lab.workdir)
        nodes: dict[str, ServerProcess] = {}
        try:
            db.init().start()
            data = str(tmp_path_factory.mktemp("shared") / "data")
            meta = db.url_at(lab.addr["db"])
            # one after the other: the first creates the schema and the root key file
            for n in NODES:
                nodes[n] = ServerProcess(data, host=lab.addr[n], wrap=lab.wrap(n),
                                         extra_args=["--meta", meta]).start()
            new_bucket(nodes[NODES[0]].endpoint, BUCKET).create_bucket()
            yield Cluster(lab, db, nodes)
        finally:
            for n, srv in nodes.items():
                code = srv.stop()
                if code != 0:
                    print(f"node {n} exited with {code}:\n" + "".join(srv.output))
            db.destroy()


def _chunk(rnd: random.Random) -> bytes:
    """Mostly small appends (inline in the metadata commit); now and then one past the 256 KiB
    inline limit, whose bytes go to the shared data dir."""
    r = rnd.random()
    size = rnd.randint(1, 4096) if r < 0.9 else rnd.randint(4097, 64 * 1024) if r < 0.98 \
        else rnd.randint(256 * 1024 + 1, 300 * 1024)
    return rnd.randbytes(size)


def _append(bucket: oss2.Bucket, node: str, key: str, position: int, data: bytes) -> Attempt:
    try:
        r = bucket.append_object(key, position, data)
    except oss2.exceptions.PositionNotEqualToLength as exc:
        return Attempt(key, position, data, node, LOST_RACE, told=exc.next_position)
    return Attempt(key, position, data, node, OK, end=r.next_position, crc=r.crc)


def test_appenders_racing_through_three_nodes_form_one_chain_per_object(cluster):
    """Per object, one racer per node appends at the same position at the same moment (a barrier
    per round), then all move to the winner's end; every racer goes through a different node each
    round. Several objects race at once. Exactly one 200 per position, each 409 names the
    winner's end, and every node serves the same bytes and CRC-64, which match the history."""
    objects, rounds = 6, 250          # 1,500 rounds, 3 appends each
    attempts: list[Attempt] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def race(key: str) -> None:
        buckets = {n: cluster.bucket(n) for n in NODES}
        barrier = threading.Barrier(len(NODES))
        round_result: list = [None] * len(NODES)
        position = [0]

        def racer(j: int) -> None:
            rnd = random.Random(f"{key}/{j}")
            try:
                for r in range(rounds):
                    node = NODES[(j + r) % len(NODES)]
                    barrier.wait(60)
                    a = _append(buckets[node], node, key, position[0], _chunk(rnd))
                    round_result[j] = a
                    with lock:
                        attempts.append(a)
                    if barrier.wait(60) == 0:   # one racer moves the object's position on
                        wins = [x for x in round_result if x.outcome == OK]
                        assert len(wins) == 1, f"{key} round {r}: {len(wins)} winners: {round_result}"
                        position[0] = wins[0].end
                    barrier.wait(60)
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=racer, args=(j,)) for j in range(len(NODES))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    started = time.monotonic()
    keys = [f"race/{i}" for i in range(objects)]
    threads = [threading.Thread(target=race, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
    elapsed = time.monotonic() - started

    final = {}
    for key in keys:
        seen = {}
        for n in NODES:
            b = cluster.bucket(n)
            head = b.head_object(key)
            body = b.get_object(key).read()
            assert head.content_length == len(body), f"{key} on {n}: HEAD {head.content_length}, GET {len(body)}"
            assert int(head.headers["x-oss-next-append-position"]) == len(body)
            assert int(head.headers["x-oss-hash-crc64ecma"]) == crc64(body), f"{key} on {n}: CRC-64"
            seen[n] = body
        assert len(set(seen.values())) == 1, f"{key}: the nodes serve different bytes"
        final[key] = seen[NODES[0]]
    links = check_history(attempts, final, exact_losers=True)

    assert sum(links.values()) == objects * rounds
    assert len(attempts) == objects * rounds * len(NODES)
    wins_by_node = {n: sum(1 for a in attempts if a.outcome == OK and a.node == n) for n in NODES}
    assert all(wins_by_node.values()), f"some node never won a race: {wins_by_node}"
    print(f"{objects * rounds} rounds, {len(attempts)} appends in {elapsed:.1f}s; wins per node {wins_by_node}")
