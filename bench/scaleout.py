#!/usr/bin/env python3
"""ossbox scale-out benchmark (issue 11): 1, 2 and 3 segment-mode nodes in one run.

    python bench/scaleout.py [--store file|moto|rgw] [--seconds S] [--meta postgresql://...] [--json FILE]

Every node is its own `ossbox server` process with its own --data-dir, all on one PostgreSQL schema
(--meta) and one byte store (--data). For N = 1, 2, 3 nodes: 16 clients, spread round-robin over the
nodes, each make durable 4 KiB appends to its own object for S seconds; then 32 × 8 MiB appends
(4 clients, 8 each). Then an object made of 10,000 appends of 4 KiB is read with GetObject before and
after compaction. The clients are bench/osswire.py's (every status, next position and CRC-64
checked); final lengths are read back with HEAD through another node than the writer's.

Goals are printed, never asserted; the exit status is 1 only when a request or a check failed.
See bench/README.md, section "Scale-out".
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime
import json
import multiprocessing
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(1, REPO)

import osswire  # noqa: E402
from run import (_table, code_version, fmt, head_length, kernel_cpu, proc_cpu, self_cpu,  # noqa: E402
                 system_busy, wait_quiet)
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess  # noqa: E402

MiB = 1024 * 1024
SMALL = 4096
LARGE_CHUNK = 8 * MiB
LARGE_CLIENTS, LARGE_APPENDS_EACH = 4, 8          # 32 × 8 MiB per node count
GET_APPENDS = 10_000
STORE_BUCKET = "ossbox-scaleout"
NODE_COUNTS = (1, 2, 3)
# the server's own constant (ossbox/storage/segment_upkeep.py COMPACT_MIN_EXTENTS): compaction
# leaves an object alone at or below this many extents
COMPACT_MIN_EXTENTS = 32
HOLD_COMPACTION = "--node-with-compaction-held"   # argv[1] when this file runs as a server node


# -- a node whose compactor never runs -------------------------------------------------------------
def node_with_compaction_held(argv: list[str]) -> int:
    """Run `ossbox server` in this process with the compaction interval set to infinity: the only
    way to read an object of 10,000 extents "before compaction" (every node compacts every 2 s and
    there is no flag). Only the interval changes; the GET path is the server's own. argv is what
    ServerProcess runs after its `wrap` prefix: `python -m ossbox server ...`."""
    from ossbox.storage import segment_upkeep
    segment_upkeep.COMPACT_INTERVAL = float("inf")
    from ossbox.cli import main as ossbox_main
    return ossbox_main(argv[argv.index("ossbox") + 1:])


# -- byte stores -----------------------------------------------------------------------------------
class ByteStore:
    """The --data URL all nodes share, the environment they need for it, and the pids whose CPU
    counts as the store's (for moto: this process, which runs it in a thread)."""

    def __init__(self, kind: str, workdir: str, log):
        self.kind, self.env, self.pids, self.in_process = kind, {}, [], False
        self._cluster = self._moto = None
        if kind == "file":
            root = os.path.join(workdir, "segments")
            os.makedirs(root)
            self.url = "file://" + root
            self.note = f"file:// on {root}"
            return
        if kind == "rgw":
            from rgw import RgwCluster
            log("starting Ceph RGW (1 mon, 1 memstore OSD, radosgw)")
            t0 = time.perf_counter()
            # memstore keeps every byte in the OSD's memory, and nothing is deleted within the run
            # (segment garbage waits out a 10 min grace): room for ~1 GiB of appends and compactions
            s3 = self._cluster = RgwCluster(memstore_bytes=4 << 30).start()
            self.pids = [p.pid for p in s3.procs.values()]
            self.note = (f"Ceph RGW {_ceph_version()} (1 memstore OSD, up in "
                         f"{time.perf_counter() - t0:.1f} s)")
        else:
            from s3test import MotoS3
            s3 = self._moto = MotoS3()
            self.in_process = True
            self.note = ("moto S3 server, in a thread of the bench process: its CPU competes with "
                         "the nodes and shows as 'store cores'")
        s3.create_bucket(STORE_BUCKET)
        self.url = (f"s3://{STORE_BUCKET}/bench-{uuid.uuid4().hex[:12]}?endpoint={s3.endpoint}"
                    f"&region={s3.region}")
        self.env = {"AWS_ACCESS_KEY_ID": s3.access_key_id, "AWS_SECRET_ACCESS_KEY": s3.secret_access_key}

    def cpu(self) -> float:
        if self.in_process:
            return self_cpu()
        return sum(_cpu_or_zero(pid) for pid in self.pids)

    def close(self) -> None:
        if self._cluster:
            self._cluster.destroy()
        if self._moto:
            self._moto.stop()


def _ceph_version() -> str:
    import subprocess
    try:
        out = subprocess.run(["radosgw", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    parts = out.split()
    return parts[2] if len(parts) > 2 else "?"


def _cpu_or_zero(pid: int) -> float:
    try:
        return sum(proc_cpu(pid))
    except OSError:
        return 0.0


def socket_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets process `pid` holds open (its connections to PostgreSQL)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            for line in list(f)[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class NodeBackends:
    """CPU seconds of each PostgreSQL backend serving our nodes (matched by the client port of each
    connection), so that other sessions on a shared database server are left out."""

    def __init__(self, url: str):
        self.url = url

    def cpu(self, node_pids: list[int]) -> dict[int, float]:
        import psycopg
        ports = set().union(*(socket_ports(pid) for pid in node_pids))
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid, client_port FROM pg_stat_activity WHERE client_port > 0").fetchall()
        return {pid: _cpu_or_zero(pid) for pid, port in rows if port in ports}


class CpuSplit:
    """Where the machine's CPU went during a phase: the nodes, the byte store, PostgreSQL, all."""

    def __init__(self, nodes: list[ServerProcess], store: ByteStore, backends: NodeBackends):
        self.nodes, self.store, self.backends = nodes, store, backends

    def _sample(self):
        pids = [n.proc.pid for n in self.nodes]
        return (sum(_cpu_or_zero(pid) for pid in pids), self.store.cpu(), self.backends.cpu(pids),
                kernel_cpu(), system_busy(), time.perf_counter())

    def __enter__(self):
        self.start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        d = [0 if isinstance(a, dict) else b - a for a, b in zip(self.start, end)]
        # per backend: one that connected during the phase counts whole, one that left is lost
        d[2] = sum(v - self.start[2].get(pid, 0.0) for pid, v in end[2].items())
        wall = d[5]
        self.summary = {"nodes_cores": d[0] / wall, "store_cores": d[1] / wall,
                        "postgres_cores": d[2] / wall, "kthreads_cores": d[3] / wall,
                        "machine_busy_cores": d[4] / wall,
                        # the load client's share is only known after the phase: see with_client
                        "rest_cores": (d[4] - d[0] - d[1] - d[2] - d[3]) / wall}
        return False


# -- load (runs in the client worker process) ------------------------------------------------------
def spread_small_appends(opts: dict) -> dict:
    """osswire's small-append clients, client i talking to node i mod N (opts["ports"])."""
    out = {"ok": 0, "fail": 0, "crc_bad": 0, "lat": [], "errors": [], "objects": {}}
    ports = opts["ports"]

    async def clients():
        deadline = asyncio.get_running_loop().time() + opts["seconds"]
        cpu0, t0 = osswire.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(osswire._one_client(i, dict(opts, port=ports[i % len(ports)]), deadline, out)
                               for i in range(opts["clients"])))
        out["wall"], out["client_cpu"] = time.perf_counter() - t0, osswire.cpu_seconds() - cpu0

    try:
        import uvloop
        uvloop.run(clients())
    except ImportError:
        asyncio.run(clients())
    latencies = sorted(out.pop("lat"))
    out["requests"] = len(latencies)
    for name, q in (("p50_ms", 0.50), ("p99_ms", 0.99)):
        out[name] = latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1e3 if latencies else None
    return out


def spread_large_appends(opts: dict) -> dict:
    """`clients` concurrent osswire.large_append writers, each on its own object and node i mod N."""
    ports = opts["ports"]
    jobs = [dict(opts, port=ports[i % len(ports)], key=f"{opts['prefix']}-{i}") for i in range(opts["clients"])]
    cpu0, t0 = osswire.cpu_seconds(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(osswire.large_append, jobs))
    return {"wall": time.perf_counter() - t0, "client_cpu": osswire.cpu_seconds() - cpu0,
            "bytes": sum(r["bytes"] for r in results), "fail": sum(r["fail"] for r in results),
            "crc_ok": all(r["crc_ok"] for r in results),
            "errors": [e for r in results for e in r["errors"]][:5],
            "objects": {job["key"]: r["bytes"] for job, r in zip(jobs, results)}}


# -- phases ----------------------------------------------------------------------------------------
class Cluster:
    """The nodes of one run: same --meta, same --data, each its own --data-dir."""

    def __init__(self, workdir: str, meta: str, store: ByteStore):
        self.workdir, self.meta, self.store = workdir, meta, store
        self.nodes: list[ServerProcess] = []
        self.started = 0
        self.backends = NodeBackends(meta)
        self.problems: list[str] = []

    def start_node(self, hold_compaction: bool = False) -> ServerProcess:
        self.started += 1
        data_dir = os.path.join(self.workdir, f"node-{self.started}")
        wrap = [sys.executable, os.path.abspath(__file__), HOLD_COMPACTION] if hold_compaction else []
        node = ServerProcess(data_dir, extra_args=["--meta", self.meta, "--data", self.store.url],
                             env=self.store.env, wrap=wrap).start()
        self.nodes.append(node)
        return node

    def stop_node(self) -> None:
        node = self.nodes.pop()
        rc = node.stop()
        if rc != 0:
            self.problems.append(f"node on port {node.port} exited with {rc}: " + "".join(node.output[-20:]))

    def stop_all(self) -> None:
        while self.nodes:
            self.stop_node()


def bucket_on(node: ServerProcess, name: str):
    import oss2
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), node.endpoint, name)


def with_client(r: dict) -> None:
    """The load client's cores, and what is left of the machine's busy time: this script and
    other people's processes (noise: on 2 cores anything above ~0.1 skews the figures)."""
    r["client_cores"] = r["client_cpu"] / r["wall"]
    r["other_cores"] = max(0.0, r.pop("rest_cores") - r["client_cores"])


def check_lengths(nodes: list[ServerProcess], bucket_name: str, objects: dict) -> int:
    """HEAD every object through the node after its writer's (read-after-write on another node):
    how many lengths differ from what the client counted. Client i (key suffix -i) wrote on node
    i mod N."""
    bad = 0
    for key, length in objects.items():
        node = nodes[(int(key.rsplit("-", 1)[1]) + 1) % len(nodes)]
        if head_length(bucket_on(node, bucket_name), key) != length:
            bad += 1
    return bad


def node_count_order(rounds: int) -> list[int]:
    """1, 2, 3 nodes, then 3, 2, 1 in the second round, and so on: a slow drift of the machine
    (other people's jobs on 2 cores) weighs on every node count alike."""
    return [n for r in range(rounds) for n in (NODE_COUNTS if r % 2 == 0 else NODE_COUNTS[::-1])]


def run_node_counts(cluster: Cluster, pool, cfg: dict, bucket_name: str, log) -> list:
    """The 4 KiB and 8 MiB phases for each node count of each round: [(nodes, phases), ...]."""
    out = []
    for k, n in enumerate(node_count_order(cfg["rounds"])):
        while len(cluster.nodes) < n:
            cluster.start_node()
        while len(cluster.nodes) > n:
            cluster.stop_node()
        nodes = cluster.nodes
        base = {"host": "127.0.0.1", "ports": [node.port for node in nodes], "ak": ACCESS_KEY_ID,
                "secret": ACCESS_KEY_SECRET, "bucket": bucket_name}
        phase = {}
        out.append((n, phase))

        log(f"  {n} node(s): {cfg['clients']} clients × durable 4 KiB appends, {cfg['seconds']} s")
        with CpuSplit(nodes, cluster.store, cluster.backends) as cpu:
            r = pool.submit(spread_small_appends, dict(base, clients=cfg["clients"], size=SMALL,
                                                       seconds=cfg["seconds"], prefix=f"small-n{n}-{k}")).result()
        r.update(cpu.summary)
        r["ops_s"] = r["ok"] / r["wall"]
        with_client(r)
        r["length_mismatches"] = check_lengths(nodes, bucket_name, r["objects"])
        r["objects"] = len(r["objects"])
        if r["fail"] or r["crc_bad"] or r["length_mismatches"]:
            cluster.problems.append(f"{n} node(s), 4 KiB: {r['fail']} failed, {r['crc_bad']} bad CRC, "
                                    f"{r['length_mismatches']} length mismatches; {r['errors'][:3]}")
        phase["small"] = r

        total = LARGE_CLIENTS * LARGE_APPENDS_EACH
        log(f"  {n} node(s): {total} × 8 MiB appends ({LARGE_CLIENTS} clients)")
        with CpuSplit(nodes, cluster.store, cluster.backends) as cpu:
            r = pool.submit(spread_large_appends, dict(base, clients=LARGE_CLIENTS, chunk=LARGE_CHUNK,
                                                       total=LARGE_APPENDS_EACH * LARGE_CHUNK,
                                                       prefix=f"large-n{n}-{k}")).result()
        r.update(cpu.summary)
        r["mb_s"] = r["bytes"] / r["wall"] / 1e6
        with_client(r)
        r["length_mismatches"] = check_lengths(nodes, bucket_name, r["objects"])
        r["objects"] = len(r["objects"])
        if r["fail"] or not r["crc_ok"] or r["length_mismatches"]:
            cluster.problems.append(f"{n} node(s), 8 MiB: {r['fail']} failed, CRC ok {r['crc_ok']}, "
                                    f"{r['length_mismatches']} length mismatches; {r['errors'][:3]}")
        phase["large"] = r
    return out


def count_extents(meta: str, bucket_name: str, key: str) -> int:
    import psycopg
    with psycopg.connect(meta, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM extents WHERE blob = "
                            "(SELECT blob FROM objects WHERE bucket=%s AND key=%s)", (bucket_name, key)).fetchone()[0]


def timed_gets(pool, base: dict, crc: int, size: int, rounds: int, problems: list, tag: str) -> dict:
    """`rounds` whole-object GETs (CRC-64 and length checked); the median, best and each."""
    walls = []
    for _ in range(rounds):
        g = pool.submit(osswire.get_object, base).result()
        walls.append(g["wall"])
        if g["status"] != 200 or g["bytes"] != size or g["crc"] != crc:
            problems.append(f"GET {tag}: status {g['status']}, {g['bytes']} of {size} bytes, "
                            f"CRC {g['crc']} expected {crc}")
    med = statistics.median(walls)
    return {"ms": med * 1e3, "best_ms": min(walls) * 1e3, "mb_s": size / med / 1e6,
            "runs_ms": [w * 1e3 for w in walls]}


def run_get(cluster: Cluster, pool, cfg: dict, bucket_name: str, log) -> dict:
    """An object of 10,000 × 4 KiB appends, built and read through a node whose compactor is held;
    then a normal node joins, compacts it, and the same GETs run again."""
    cluster.stop_all()
    held = cluster.start_node(hold_compaction=True)
    key = "get-10000-appends"
    base = {"host": "127.0.0.1", "port": held.port, "ak": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET,
            "bucket": bucket_name, "key": key}
    out = {"appends": GET_APPENDS, "append_size": SMALL}
    log(f"  building an object of {GET_APPENDS:,} × 4 KiB appends (compaction held)")
    b = pool.submit(osswire.large_append, dict(base, chunk=SMALL, total=GET_APPENDS * SMALL)).result()
    out["build_s"], out["build_appends_s"] = b["wall"], GET_APPENDS / b["wall"]
    size = GET_APPENDS * SMALL
    if b["fail"] or not b["crc_ok"] or b["bytes"] != size:
        cluster.problems.append(f"GET object build: {b['fail']} failed, CRC ok {b['crc_ok']}; {b['errors'][:2]}")
        return out
    out["extents_before"] = count_extents(cluster.meta, bucket_name, key)
    log(f"  GetObject × {cfg['get_rounds']} with {out['extents_before']:,} extents")
    out["before"] = timed_gets(pool, base, b["crc_local"], size, cfg["get_rounds"], cluster.problems, "before")

    log("  a node with its compactor running joins; waiting for the extent count to settle")
    cluster.start_node()
    t0 = time.perf_counter()
    counts, last_change = [(0.0, out["extents_before"])], t0
    while time.perf_counter() - t0 < cfg["compact_timeout"]:
        time.sleep(0.25)
        c = count_extents(cluster.meta, bucket_name, key)
        now = time.perf_counter()
        if c != counts[-1][1]:
            counts.append((now - t0, c))
            last_change = now
        # settled: at or under the compactor's threshold and unchanged for two compaction passes
        if c <= COMPACT_MIN_EXTENTS and now - last_change > 4.5:
            break
    out["extents_after"] = counts[-1][1]
    out["compaction_trace"] = counts
    out["compacted_in_s"] = counts[-1][0]
    if out["extents_after"] > COMPACT_MIN_EXTENTS:
        cluster.problems.append(f"compaction left {out['extents_after']} extents after {cfg['compact_timeout']} s")
    log(f"  GetObject × {cfg['get_rounds']} with {out['extents_after']:,} extents")
    out["after"] = timed_gets(pool, base, b["crc_local"], size, cfg["get_rounds"], cluster.problems, "after")
    return out


# -- report ----------------------------------------------------------------------------------------
CORES = ("nodes_cores", "store_cores", "postgres_cores", "client_cores", "kthreads_cores", "other_cores",
         "machine_busy_cores")


def summarize(runs: list) -> dict:
    """Per node count: the median of each rate and latency over the rounds (with every value), the
    mean of each CPU share, and the sums of the failed checks."""
    out: dict = {}
    for n in sorted({n for n, _ in runs}):
        out[n] = {}
        for phase, rate in (("small", "ops_s"), ("large", "mb_s")):
            rs = [ph[phase] for m, ph in runs if m == n]
            s = out[n][phase] = {rate: statistics.median(r[rate] for r in rs), "each": [r[rate] for r in rs],
                                 "fail": sum(r["fail"] for r in rs),
                                 "crc_bad": sum(r.get("crc_bad", 0) + (not r.get("crc_ok", True)) for r in rs),
                                 "length_mismatches": sum(r["length_mismatches"] for r in rs)}
            s.update({k: statistics.fmean(r[k] for r in rs) for k in CORES})
            if phase == "small":
                s.update({k: statistics.median(r[k] for r in rs) for k in ("p50_ms", "p99_ms")})
    return out


def render(res: dict) -> str:
    counts = res["summary"]
    names = [f"{n} node{'s' if n > 1 else ''}" for n in counts]
    one = counts[NODE_COUNTS[0]]

    def with_ratio(n, phase, field, unit):
        v, b = counts[n][phase][field], one[phase][field]
        return fmt(v, unit) + (f" ({v / b:.2f}×)" if n != NODE_COUNTS[0] and b else "")

    c = res["config"]
    rows = [("figure", *names)]
    rows.append((f"durable 4 KiB appends/s, {c['clients']} clients",
                 *(with_ratio(n, "small", "ops_s", " /s") for n in counts)))
    if c["rounds"] > 1:
        rows.append(("  each round", *(", ".join(f"{v:,.0f}" for v in counts[n]["small"]["each"]) for n in counts)))
    rows.append(("  p50 / p99 latency ms",
                 *(f"{counts[n]['small']['p50_ms']:.1f} / {counts[n]['small']['p99_ms']:.1f}" for n in counts)))
    rows.append(("  CPU per append ms: nodes / PG", *(
        f"{counts[n]['small']['nodes_cores'] / counts[n]['small']['ops_s'] * 1e3:.2f} / "
        f"{counts[n]['small']['postgres_cores'] / counts[n]['small']['ops_s'] * 1e3:.2f}" for n in counts)))
    rows.append((f"8 MiB appends MB/s, {LARGE_CLIENTS} clients × {LARGE_APPENDS_EACH}",
                 *(with_ratio(n, "large", "mb_s", " MB/s") for n in counts)))
    if c["rounds"] > 1:
        rows.append(("  each round", *(", ".join(f"{v:,.0f}" for v in counts[n]["large"]["each"]) for n in counts)))
    for phase, label in (("small", "4 KiB"), ("large", "8 MiB")):
        rows.append((f"  {label}: cores nodes/store/PG/client/kthreads/other (all)", *(
            "/".join(f"{counts[n][phase][k]:.2f}" for k in CORES[:-1])
            + f" ({counts[n][phase]['machine_busy_cores']:.2f})"
            for n in counts)))
    rows.append(("  checks (fail, CRC, HEAD length)", *(
        f"{counts[n]['small']['fail'] + counts[n]['large']['fail']} / "
        f"{counts[n]['small']['crc_bad'] + counts[n]['large']['crc_bad']} / "
        f"{counts[n]['small']['length_mismatches'] + counts[n]['large']['length_mismatches']}" for n in counts)))
    text = [_table(rows)]

    g = res.get("get", {})
    if "after" in g:
        rows = [("GetObject, 10,000 × 4 KiB appends (40 MB)", "extents", "median ms", "best ms", "MB/s")]
        for when in ("before", "after"):
            rows.append((f"{when} compaction", fmt(g[f"extents_{when}"]), fmt(g[when]["ms"], "", 1),
                         fmt(g[when]["best_ms"], "", 1), fmt(g[when]["mb_s"])))
        rows.append(("after / before", "", f"{g['after']['ms'] / g['before']['ms']:.2f}×", "",
                     f"{g['after']['mb_s'] / g['before']['mb_s']:.2f}×"))
        text.append(_table(rows))
        text.append(f"built at {g['build_appends_s']:,.0f} appends/s (one client, one node, {g['build_s']:.1f} s); "
                    f"compacted to {g['extents_after']} extent(s) {g['compacted_in_s']:.1f} s after a "
                    f"compacting node joined (count over time: "
                    + ", ".join(f"{t:.1f} s {n:,}" for t, n in g["compaction_trace"]) + ")")

    m, c = res["machine"], res["config"]
    notes = [f"machine: {m['cpus']} CPUs (nproc), {m['mem_gib']:.0f} GiB, Python {m['python']}, kernel {m['kernel']}; "
             f"every node, PostgreSQL, the store and the load client share these CPUs; load average "
             f"at start {m['loadavg_at_start'][0]:.2f}",
             "cores: CPU-seconds per second of the phase; kthreads: kernel threads and irqs (mostly our "
             "I/O and loopback traffic); other: the rest of the machine's busy time (this script, "
             "other processes: above ~0.1 it skews the figures)",
             f"byte store: {res['store']}", f"metadata: {res['postgres']}",
             f"{c['rounds']} round(s) of {' '.join(map(str, node_count_order(c['rounds'])))} nodes; "
             "figures are medians over the rounds, CPU shares means; ratios in parentheses: against "
             "1 node in this run",
             f"server code: {res['server_code']}; {res['date']}; bench took {res['elapsed_s']:.0f} s"]
    notes += [f"PROBLEM: {p}" for p in res["problems"]]
    return "\n\n".join(text) + "\n\n" + "\n".join(notes)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", choices=("file", "moto", "rgw"),
                   help="byte store the nodes share (default: rgw when Ceph is installed, else moto)")
    p.add_argument("--meta", metavar="URL", default=None,
                   help="PostgreSQL database (a fresh schema in it, dropped afterwards; default: the "
                        "test database of tests/pgtest.py, postgresql://postgres@127.0.0.1:5432/test)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each 4 KiB phase (default 5)")
    p.add_argument("--clients", type=int, default=16, help="4 KiB append clients (default 16)")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat the node counts: 1 2 3, then 3 2 1, ... (medians reported; default 1)")
    p.add_argument("--get-rounds", type=int, default=5, help="GETs before and after compaction (median)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECS",
                   help="first wait up to SECS for the machine to be idle")
    p.add_argument("--json", metavar="FILE", help="write all measurements as JSON")
    args = p.parse_args(argv)

    from pgtest import PG_URL, drop_schema, pg_unreachable, schema_url
    from rgw import RgwCluster
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    url = args.meta or PG_URL
    reason = pg_unreachable(url)
    if reason:
        print(f"PostgreSQL not reachable at {url}: {reason}", file=sys.stderr)
        return 2
    kind = args.store or ("rgw" if RgwCluster.unavailable() == "" else "moto")
    cfg = {"seconds": args.seconds, "clients": args.clients, "rounds": args.rounds, "get_rounds": args.get_rounds,
           "compact_timeout": 120.0, "store": kind}
    if args.wait_quiet:
        wait_quiet(args.wait_quiet, 0.25, log)
    t_start = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="ossbox-scaleout-")
    schema = "ossbox_scale_" + uuid.uuid4().hex[:12]
    meta = schema_url(url, schema)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                       "loadavg_at_start": os.getloadavg(),
                       "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3},
           "server_code": code_version(), "config": cfg, "problems": []}
    store = cluster = None
    try:
        import psycopg
        with psycopg.connect(url) as conn:
            res["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
        res["postgres"] = f"PostgreSQL {res['postgres']} at {url.split('@')[-1]}, schema {schema}"
        # the load client runs in its own process, so its CPU shows separately from the nodes'
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        pool.submit(osswire.cpu_seconds).result()
        store = ByteStore(kind, workdir, log)
        res["store"] = store.note
        cluster = Cluster(workdir, meta, store)
        bucket_name = "scale-" + uuid.uuid4().hex[:10]
        log(f"nodes on {kind}, PostgreSQL schema {schema}")
        bucket_on(cluster.start_node(), bucket_name).create_bucket()
        res["node_counts"] = run_node_counts(cluster, pool, cfg, bucket_name, log)
        res["summary"] = summarize(res["node_counts"])
        res["get"] = run_get(cluster, pool, cfg, bucket_name, log)
        pool.shutdown()
    finally:
        if cluster:
            cluster.stop_all()
            res["problems"] += cluster.problems
        if store:
            store.close()
        shutil.rmtree(workdir, ignore_errors=True)
        drop_schema(url, schema)
    res["elapsed_s"] = time.perf_counter() - t_start
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(res, indent=2))
    print(render(res))
    return int(bool(res["problems"]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == HOLD_COMPACTION:
        sys.exit(node_with_compaction_held(sys.argv[2:]))
    sys.exit(main())
