"""Several ossbox nodes, each in its own network namespace, on one PostgreSQL reached over the
network (issue 11, "Multi-node suite"), in segment mode: object bytes in a shared segment store
(`--data file:///...`, a directory every node sees), each node with a data dir of its own that
holds nothing durable. PostgreSQL runs in a namespace of its own, so that a killed run leaves
nothing behind that tests/netns.py does not remove.

Needs root, `ip netns` and PostgreSQL's server binaries (skipped otherwise, saying which)."""
from __future__ import annotations

import os
import random
import threading
import time

import oss2
import pytest

import netns
from appendhistory import LOST_RACE, OK, UNKNOWN, Attempt, check_history
from appendkit import crc64, new_bucket, wait_until
from pgtest import PrivateCluster
from serverproc import TEST_META, ServerProcess

# Always on a PostgreSQL cluster of its own (in its own namespace), whatever OSSBOX_TEST_META says:
# the whole-suite PostgreSQL pass would only run the same minute again.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.skipif(bool(TEST_META), reason="runs its own PostgreSQL; run in the SQLite pass")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAULTS = os.path.join(ROOT, "tests", "faults")
NODES = ("n1", "n2", "n3")
BUCKET = "multinode"
PARTITION = 8.0              # seconds a node is cut off
STALL_BOUND = 8.0            # seconds a request to a node that is not cut off may take at most
CLIENT_TIMEOUT_AWAY = 2.0    # seconds the clients of the cut-off node wait for an answer


def _fault_env(triggers: str) -> dict:
    """A node's environment with tests/faults/sitecustomize.py loaded, its triggers in `triggers`."""
    os.makedirs(triggers, exist_ok=True)
    path = [FAULTS, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p], ROOT]
    return {"PYTHONPATH": os.pathsep.join(path), "OSSBOX_TEST_FAULTS": triggers}


class Cluster:
    def __init__(self, lab: netns.NetLab, db: PrivateCluster, nodes: dict[str, ServerProcess]):
        self.lab, self.db, self.nodes = lab, db, nodes

    def trigger(self, node: str, name: str) -> str:
        """The path of fault trigger `name` of node (tests/faults/sitecustomize.py)."""
        return os.path.join(self.lab.workdir, f"faults-{node}", name)

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
            shared = tmp_path_factory.mktemp("shared")
            segments = shared / "segments"
            segments.mkdir()
            meta = db.url_at(lab.addr["db"])
            # one after the other: the first creates the schema
            for n in NODES:
                nodes[n] = ServerProcess(str(shared / f"node-{n}"), host=lab.addr[n], wrap=lab.wrap(n),
                                         extra_args=["--meta", meta, "--data", f"file://{segments}"],
                                         env=_fault_env(os.path.join(lab.workdir, f"faults-{n}"))).start()
            new_bucket(nodes[NODES[0]].endpoint, BUCKET).create_bucket()
            yield Cluster(lab, db, nodes)
        finally:
            for n, srv in nodes.items():
                code = srv.stop()
                if code != 0:
                    print(f"node {n} exited with {code}:\n" + "".join(srv.output))
            db.destroy()


def _chunk(rnd: random.Random) -> bytes:
    """Mostly appends of up to 64 KiB (journalled inline in the metadata commit); now and then one
    past the 256 KiB inline limit, whose bytes go to the shared data dir."""
    r = rnd.random()
    size = rnd.randint(1, 4096) if r < 0.9 else rnd.randint(4097, 64 * 1024) if r < 0.98 \
        else rnd.randint(256 * 1024 + 1, 300 * 1024)
    return rnd.randbytes(size)


def _attempt(bucket: oss2.Bucket, node: str, key: str, position: int, data: bytes) -> Attempt:
    """_append, with a request that got no answer (timeout, connection lost, 5xx) as UNKNOWN."""
    try:
        return _append(bucket, node, key, position, data)
    except (oss2.exceptions.RequestError, oss2.exceptions.ServerError):
        return Attempt(key, position, data, node, UNKNOWN)


def _append(bucket: oss2.Bucket, node: str, key: str, position: int, data: bytes) -> Attempt:
    try:
        r = bucket.append_object(key, position, data)
    except oss2.exceptions.PositionNotEqualToLength as exc:
        return Attempt(key, position, data, node, LOST_RACE, told=exc.next_position)
    return Attempt(key, position, data, node, OK, end=r.next_position, crc=r.crc)


def _read_everywhere(cluster: Cluster, keys: list[str]) -> dict[str, bytes]:
    """Each object's bytes, after checking that every node serves the same, with HEAD's length,
    next append position and CRC-64 agreeing with them."""
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
    return final


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

    links = check_history(attempts, _read_everywhere(cluster, keys), exact_losers=True)

    assert sum(links.values()) == objects * rounds
    assert len(attempts) == objects * rounds * len(NODES)
    wins_by_node = {n: sum(1 for a in attempts if a.outcome == OK and a.node == n) for n in NODES}
    assert all(wins_by_node.values()), f"some node never won a race: {wins_by_node}"
    print(f"{objects * rounds} rounds, {len(attempts)} appends in {elapsed:.1f}s; wins per node {wins_by_node}")


def test_a_partitioned_node_stalls_no_one_else_for_long_and_loses_nothing_acknowledged(cluster):
    """Free-running appenders, one per (object, node), append to shared objects through all three
    nodes and to other objects through the other two only; one node is cut off the network (its
    veth down) in the middle of that, for PARTITION seconds, then healed.
    - Appends to the objects the cut-off node never wrote go on through the others, none taking
      longer than STALL_BOUND.
    - A shared object whose append the node was in the middle of stays locked until the node is
      back (the shared-dir layout's per-object lock, see the next test), but no request to the
      other nodes outlasts the partition by more than STALL_BOUND.
    - Afterwards every node serves the same bytes and CRC-64, in which every acknowledged append
      is, and nothing but attempts whose outcome is unknown (history checker)."""
    away = NODES[-1]
    shared = [f"partition/shared-{i}" for i in range(3)]
    elsewhere = [f"partition/elsewhere-{i}" for i in range(2)]
    attempts: list[Attempt] = []
    timings: list[tuple[float, float]] = []      # (start, seconds) of each attempt
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def appender(key: str, node: str) -> None:
        # clients of the node that goes away give up soon; the others wait long enough to
        # measure how long a stalled request takes
        bucket = cluster.bucket(node, timeout=CLIENT_TIMEOUT_AWAY if node == away else PARTITION + STALL_BOUND * 2)
        rnd = random.Random(f"{key}/{node}")
        position = 0
        try:
            while not stop.is_set():
                data = rnd.randbytes(rnd.randint(1, 4096))
                started = time.monotonic()
                a = _attempt(bucket, node, key, position, data)
                took = time.monotonic() - started
                if a.outcome == UNKNOWN and node != away:
                    errors.append(AssertionError(f"{node} gave no answer to {a} within {took:.1f}s"))
                with lock:
                    attempts.append(a)
                    timings.append((started, took))
                position = a.end if a.outcome == OK else a.told if a.outcome == LOST_RACE else position
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(k, n)) for k in shared for n in NODES]
    threads += [threading.Thread(target=appender, args=(k, n)) for k in elsewhere for n in NODES if n != away]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        cut = time.monotonic()
        cluster.lab.partition(away)
        time.sleep(PARTITION)
        cluster.lab.heal(away)
        healed = time.monotonic()
        time.sleep(3)
    finally:
        cluster.lab.heal(away)
        stop.set()
        for t in threads:
            t.join(PARTITION + STALL_BOUND * 3)
    assert not any(t.is_alive() for t in threads), "appenders still blocked after the run"
    if errors:
        raise errors[0]

    final = _read_everywhere(cluster, shared + elsewhere)
    links = check_history(attempts, final)
    near = [(a, s, d) for a, (s, d) in zip(attempts, timings) if a.node != away]
    unrelated = [(a, s, d) for a, s, d in near if a.key in elsewhere]
    during = [a for a, s, d in unrelated if a.outcome == OK and cut < s and s + d < healed]
    slowest = max(d for _, _, d in unrelated)
    past_heal = max(s + d - healed for _, s, d in near if s < healed)
    slowest_shared = max(d for a, _, d in near if a.key in shared)
    print(f"{away} cut off for {PARTITION}s: {len(attempts)} attempts, {sum(links.values())} appends in the "
          f"objects, {sum(1 for a in attempts if a.outcome == UNKNOWN)} with unknown outcome; "
          f"{len(during)} acknowledged by the others on unrelated objects while it was away, slowest "
          f"{slowest:.2f}s; slowest on shared objects {slowest_shared:.2f}s, "
          f"requests to the others sent before the heal ended at most {past_heal:.2f}s after it")
    assert slowest < STALL_BOUND, f"an append to an object the cut-off node never wrote took {slowest:.1f}s"
    assert during, "the other nodes acknowledged nothing while the node was away"
    assert past_heal < STALL_BOUND, f"a request to the other nodes ended {past_heal:.1f}s after the heal"


def test_a_node_cut_off_between_update_and_commit_does_not_keep_the_object_locked(cluster):
    """A node's append has done its UPDATE (the object's row is locked) and is about to COMMIT
    when the node is cut off: its COMMIT never arrives, and PostgreSQL hears nothing more from that
    session. Appends to the same object through the other nodes must still be answered within
    STALL_BOUND (not only after the node comes back), and the cut-off append, whose client never
    got an answer, is either wholly in the object or not at all."""
    away, near = NODES[-1], NODES[0]
    key = "partition/locked"
    first = _append(cluster.bucket(near), near, key, 0, b"first")
    assert first.outcome == OK
    attempts = [first]
    hang = cluster.trigger(away, "pg-hang-before-commit")
    open(hang, "w").close()
    stuck: list = []
    client = threading.Thread(target=lambda: stuck.append(_attempt(
        cluster.bucket(away, timeout=CLIENT_TIMEOUT_AWAY), away, key, first.end, b"from the node cut off")))
    client.start()
    try:
        wait_until(lambda: os.path.exists(hang + ".waiting"), 10, what="the append to reach its COMMIT")
        cluster.lab.partition(away)
        os.unlink(hang)                  # the COMMIT leaves now, into the cut
        started = time.monotonic()
        bucket = cluster.bucket(near, timeout=STALL_BOUND * 2)
        later = _attempt(bucket, near, key, first.end, b"through a node still there")
        took = time.monotonic() - started
        attempts.append(later)
        if later.outcome == LOST_RACE:   # the cut-off append got in first after all: follow it
            attempts.append(_attempt(bucket, near, key, later.told, b"after it"))
    finally:
        if os.path.exists(hang):
            os.unlink(hang)
        cluster.lab.heal(away)
        client.join(CLIENT_TIMEOUT_AWAY * 3)
    attempts += stuck
    print(f"an append through {near} took {took:.2f}s while {away} held the row and was cut off: {later}")
    assert took < STALL_BOUND, f"an append through {near} waited {took:.1f}s for the row the cut-off node held"
    assert later.outcome != UNKNOWN, later
    check_history(attempts, _read_everywhere(cluster, [key]))
