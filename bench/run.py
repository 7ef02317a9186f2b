#!/usr/bin/env python3
"""ossbox benchmark: raw-disk baselines and server figures, measured in the same run.

    python bench/run.py [--quick] [--repeats 3] [--json out.json] [--no-none] [--py-spy DIR]
                        [--meta postgresql://...] [--workers N] [--no-azurite]

See bench/README.md for what each figure means. Goals are printed, never asserted; the exit status
is non-zero only when a request failed or a length/CRC check did not match.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

import baselines  # noqa: E402
import osswire  # noqa: E402
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess  # noqa: E402

GOAL_SMALL_16 = 15_000     # durable 4 KiB appends/s with 16 clients
GOAL_LARGE = 800           # MB/s, 8 MiB appends
MiB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- /proc sampling of the server process ----------------------------------------------------------
def proc_cpu(pid: int) -> tuple[float, float]:
    """(utime, stime) of the whole process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (`ossbox server --workers N` runs N worker processes under a
    supervisor): the server's CPU and memory are those of the whole tree."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_cpu(pids) -> dict[int, tuple[float, float]]:
    """pid -> (utime, stime) for those of pids still alive."""
    out = {}
    for p in pids:
        try:
            out[p] = proc_cpu(p)
        except (OSError, IndexError, ValueError):
            pass
    return out


def tree_mem(pids) -> tuple[int, int]:
    """(sum of VmRSS, sum of VmHWM) in KiB over pids still alive."""
    rss = hwm = 0
    for p in pids:
        try:
            r, h = proc_mem(p)
        except (OSError, ValueError):
            continue
        rss, hwm = rss + r, hwm + h
    return rss, hwm


def tree_main_threads(pids) -> float:
    """Sum of each process's main-thread CPU (its event loop)."""
    total = 0.0
    for p in pids:
        try:
            total += thread_cpu(p, p)
        except (OSError, IndexError, ValueError):
            pass
    return total


def thread_cpu(pid: int, tid: int) -> float:
    """utime + stime of one thread (the event loop runs on the main thread, tid == pid)."""
    with open(f"/proc/{pid}/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_write_bytes(pid: int) -> int:
    """Bytes this process caused to be written to storage (/proc/<pid>/io write_bytes)."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def system_busy() -> float:
    """CPU seconds spent busy (all CPUs, everything but idle and iowait) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def kernel_cpu() -> float:
    """CPU seconds of kernel threads (kworker, jbd2, ksoftirqd: mostly I/O on our behalf) plus
    irq/softirq/steal time since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[5:8])
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] in ("0", "2") or name == "2":   # ppid 2 (kthreadd) or kthreadd itself
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def proc_mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


class Sampler:
    """Server CPU over a phase, and its peak RSS sampled every 10 ms."""

    def __init__(self, pid: int, interval: float = 0.01):
        self.pid, self.interval = pid, interval
        self._stop = threading.Event()
        self.peak_rss = 0
        self._thread = None

    def __enter__(self):
        self.pids = process_tree(self.pid)
        self.cpu0 = tree_cpu(self.pids)
        self.sys0, self.k0, self.s0 = system_busy(), kernel_cpu(), self_cpu()
        self.main0 = tree_main_threads(self.pids)
        self.wb0 = sum(proc_write_bytes(p) for p in self.pids)
        self.t0 = time.perf_counter()
        self.peak_rss = tree_mem(self.pids)[0]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak_rss = max(self.peak_rss, tree_mem(self.pids)[0])

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.wall = time.perf_counter() - self.t0
        cpu = tree_cpu(self.pids)   # a process that died during the phase: its CPU is lost
        self.user = sum(u - self.cpu0.get(p, (0.0, 0.0))[0] for p, (u, _) in cpu.items())
        self.sys = sum(s - self.cpu0.get(p, (0.0, 0.0))[1] for p, (_, s) in cpu.items())
        self.cpu = self.user + self.sys
        self.busy = system_busy() - self.sys0
        self.kernel = kernel_cpu() - self.k0
        self.mine = self_cpu() - self.s0
        self.main = tree_main_threads(self.pids) - self.main0
        self.write_bytes = sum(proc_write_bytes(p) for p in self.pids) - self.wb0
        self.peak_rss = max(self.peak_rss, tree_mem(self.pids)[0])
        self.hwm = tree_mem(self.pids)[1]
        return False

    def summary(self) -> dict:
        return {"server_cpu_s": self.cpu, "server_user_s": self.user, "server_sys_s": self.sys,
                "server_cores": self.cpu / self.wall, "server_loop_thread_cores": self.main / self.wall, "machine_busy_cores": self.busy / self.wall,
                "kernel_threads_cores": self.kernel / self.wall,
                "server_write_bytes": self.write_bytes,
                "server_peak_rss_mib": self.peak_rss / 1024, "server_hwm_mib": self.hwm / 1024}


class PySpy:
    """Optional `py-spy record` of the server during one phase (a flame graph SVG)."""

    def __init__(self, spy, pid, name):
        self.outdir, self.fmt = spy if spy else (None, None)
        self.pid, self.name, self.proc = pid, name, None

    def __enter__(self):
        if self.outdir:
            os.makedirs(self.outdir, exist_ok=True)
            exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
            ext = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[self.fmt]
            out = os.path.join(self.outdir, f"{self.name}.{ext}")
            self.proc = subprocess.Popen([exe, "record", "-r", "100", "-f", self.fmt, "--pid",
                                          str(self.pid), "-o", out], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return False


def code_version() -> str:
    """git commit of the server code, and how many files under ossbox/ differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "ossbox"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}" + (f" + {len(dirty)} uncommitted file(s) under ossbox/" if dirty else "")


def wait_quiet(max_wait: float, threshold: float, log) -> float:
    """Wait (up to max_wait s) until the machine is idle: < threshold cores busy over 1 s, twice in
    a row. Returns the busy cores of the last sample."""
    deadline = time.monotonic() + max_wait
    quiet = 0
    while True:
        b0 = system_busy()
        time.sleep(1.0)
        busy = system_busy() - b0
        quiet = quiet + 1 if busy < threshold else 0
        if quiet >= 2 or time.monotonic() >= deadline:
            return busy
        log(f"  machine busy ({busy:.2f} cores); waiting")


def other_cores(r: dict, s: Sampler) -> float:
    """Cores busy with other processes: not the server, the load client, this script or kernel
    threads/irqs (which mostly do our I/O). A noise indicator: on 2 cores it skews every figure."""
    return max(0.0, (s.busy - s.cpu - r["client_cpu"] - s.kernel - s.mine) / s.wall)


# -- phases ----------------------------------------------------------------------------------------
def head_length(bucket, key) -> int:
    import oss2
    try:
        return int(bucket.head_object(key).content_length)
    except oss2.exceptions.OssError:
        return -1


def small_phase(base: dict, pool, pid: int, clients: int, cfg: dict, head, log, tag: str, problems: list,
                spy=None, spy_name: str = "") -> dict:
    """`clients` connections of osswire's 4 KiB appends against base's server (pid: its process),
    with its CPU sampled; head(key) -> the stored length, for the final-length check."""
    name = f"small_{clients}"
    log(f"  {tag} {cfg['small_size']} B appends, {clients} client(s), {cfg['small_s']} s")
    opts = dict(base, clients=clients, size=cfg["small_size"], seconds=cfg["small_s"],
                prefix=f"small{clients}-{uuid.uuid4().hex[:6]}")
    with Sampler(pid) as s, PySpy(spy, pid, spy_name):
        r = pool.submit(osswire.small_appends, opts).result()
    r.update(s.summary())
    r["other_cores"] = other_cores(r, s)
    r["ops_s"] = r["ok"] / r["wall"]
    n = max(r["requests"], 1)
    r["server_cpu_us_op"] = r["server_cpu_s"] / n * 1e6
    r["client_cpu_us_op"] = r["client_cpu"] / n * 1e6
    r["write_amp"] = r["server_write_bytes"] / max(r["ok"] * cfg["small_size"], 1)
    # every object's final length, read back with HEAD, must match what the client counted
    mismatched = [k for k, pos in r["objects"].items() if head(k) != pos]
    r["length_mismatches"] = len(mismatched)
    expected = r["ok"] * cfg["small_size"]
    if sum(r["objects"].values()) != expected and r["fail"] == 0:
        mismatched.append("sum")
    r["objects"] = len(r["objects"])
    if r["fail"] or r["crc_bad"] or mismatched or not r["ok"]:
        problems.append(f"{tag} {name}: {r['ok']} ok, {r['fail']} failed, {r['crc_bad']} bad CRC, "
                        f"{len(mismatched)} length mismatches; {r['errors'][:3]}")
    return r


def run_server(durability: str, workdir: str, pool, cfg: dict, spy_dir, log, meta: str = "",
               variant: str = "", data_url: bool = False, extra=(), phases=("small_1", "small_n", "large"),
               label: str = "") -> dict:
    """One server's phases; meta: a --meta URL (PostgreSQL) instead of SQLite in the data dir;
    variant: what distinguishes this PostgreSQL run from the others (its settings); data_url: the
    scale-out layout (segment mode: --data file://<dir>, needs meta); extra: more server flags;
    phases: which of small_1, small_n, large (8 MiB appends + GetObject + SSE for the embedded
    durable server), rss (8 concurrent large appends) to run."""
    import oss2

    label = label or (durability + (" segment" if data_url else " pg" if meta else "")
                      + (f" {variant}" if variant else ""))
    data_dir = os.path.join(workdir, "data-" + re.sub(r"[^A-Za-z0-9_.-]", "-", label))
    args = ["--durability", durability] + (["--meta", meta] if meta else []) + list(extra)
    if cfg.get("has_workers") and "--workers" not in args:   # the flag exists: --workers N (default 1)
        args += ["--workers", str(cfg["workers"])]
    if data_url:
        segments = os.path.join(workdir, "segments-" + re.sub(r"[^A-Za-z0-9_.-]", "-", label))
        os.makedirs(segments, exist_ok=True)
        args += ["--data", "file://" + segments]
    srv = ServerProcess(data_dir, extra_args=args).start()
    pid = srv.proc.pid
    out = {"durability": durability, "label": label,
           "meta": "postgresql" if meta else "sqlite", "layout": "segment" if data_url else "embedded",
           "args": args[:2] + [a for a in args[2:] if not a.startswith("postgresql")], "problems": []}
    durability = label  # the tag of this run's log lines and phase names
    try:
        host, port = "127.0.0.1", srv.port
        bucket_name = "bench-" + uuid.uuid4().hex[:12]
        bucket = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, bucket_name)
        bucket.create_bucket()
        base = {"host": host, "port": port, "ak": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET,
                "bucket": bucket_name}
        out["server_start_rss_mib"] = tree_mem(process_tree(pid))[0] / 1024
        out["server_processes"] = len(process_tree(pid))

        for clients in (1, cfg["clients"]):
            name = f"small_{clients}"
            if ("small_1" if clients == 1 else "small_n") not in phases:
                continue
            out[name] = small_phase(base, pool, pid, clients, cfg, lambda k: head_length(bucket, k), log,
                                    f"[{durability}]", out["problems"], spy_dir if clients > 1 else None,
                                    f"{durability}-{name}")

        if "large" in phases:
            out["large"], out["get"] = large_object(base, pool, pid, cfg, log, out, f"[{durability}]",
                                                    spy_dir, f"{durability}-large")
        # the same with server-side encryption, against the plain figures of this server process
        out["sse"] = {}
        for algorithm in cfg["sse"] if label == "fsync" and "large" in phases else ():
            enc = oss2.Bucket(bucket.auth, bucket.endpoint, f"{bucket_name}-{algorithm.lower()}")
            enc.create_bucket()
            # bucket default encryption: the wire client sends exactly the same requests
            enc.put_bucket_encryption(oss2.models.ServerSideEncryptionRule(sse_algorithm=algorithm))
            out["sse"][algorithm] = large_object(dict(base, bucket=enc.bucket_name), pool, pid, cfg, log,
                                                 out, f"[{durability}] SSE {algorithm}", spy_dir,
                                                 f"{durability}-large-sse-{algorithm.lower()}")
            if enc.head_object("large-object").headers.get("x-oss-server-side-encryption") != algorithm:
                out["problems"].append(f"SSE {algorithm}: the object is not reported as encrypted")
        if "rss" in phases:
            out["rss"] = concurrent_large(base, pool, pid, cfg, log, out, f"[{durability}]")
        out["server_final_hwm_mib"] = tree_mem(process_tree(pid))[1] / 1024
    finally:
        rc = srv.stop()
        out["server_exit"] = rc
        if rc != 0:
            out["problems"].append(f"server exited with {rc}: " + "".join(srv.output[-20:]))
        shutil.rmtree(data_dir, ignore_errors=True)
        if data_url:
            shutil.rmtree(segments, ignore_errors=True)
    return out


def concurrent_large(base: dict, pool, pid: int, cfg: dict, log, out: dict, tag: str) -> dict:
    """Peak server RSS while `rss_clients` clients each append `rss_total` bytes in 8 MiB appends,
    all at once (memory must stay flat however large the bodies in flight)."""
    n, chunk = cfg["rss_clients"], cfg["large_chunk"]
    total = cfg["rss_total"] // chunk * chunk
    log(f"  {tag} {n} concurrent clients x {total / 1e6:.0f} MB in {chunk // MiB} MiB appends (peak RSS)")
    opts = dict(base, clients=n, chunk=chunk, total=total, prefix="rss-" + uuid.uuid4().hex[:6])
    with Sampler(pid) as s:
        r = pool.submit(osswire.parallel_large_appends, opts).result()
    r.update(s.summary())
    r["other_cores"] = other_cores(r, s)
    r["mb_s"] = r["bytes"] / r["wall"] / 1e6
    r["bytes_per_client"] = total
    if r["fail"] or not r["crc_ok"] or r["bytes"] != n * total:
        out["problems"].append(f"{tag} concurrent large appends: {r['fail']} failed, CRC ok {r['crc_ok']}, "
                               f"{r['bytes']} of {n * total} bytes; {r['errors'][:2]}")
    return r


def trivial_app(workdir: str, pool, cfg: dict, log) -> dict:
    """The HTTP stack's ceiling: bench/trivialapp.py (a raw-ASGI app under ossbox's uvicorn settings)
    driven by the same client with the same checks, `clients` connections."""
    import http.client
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "trivialapp.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = {"label": "trivial raw-ASGI app", "problems": []}
    try:
        line = proc.stdout.readline()
        if not line.startswith("trivial app listening on "):
            raise RuntimeError(f"trivial app did not start: {line}{proc.stdout.read()}")
        port = int(line.rsplit(":", 1)[1])
        base = {"host": "127.0.0.1", "port": port, "ak": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET,
                "bucket": "trivial"}

        def head(key):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("HEAD", f"/trivial/{key}")
                resp = conn.getresponse()
                return int(resp.getheader("content-length", "-1")) if resp.status == 200 else -1
            finally:
                conn.close()

        out["small_n"] = small_phase(base, pool, proc.pid, cfg["clients"], cfg, head, log, "[trivial app]",
                                     out["problems"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if rc != 0:
            out["problems"].append(f"trivial app exited with {rc}")
    return out


def azurite_run(workdir: str, pool, cfg: dict, log, skip: str) -> dict:
    """The same 4 KiB append workload against Azurite's Append Block (bench/azwire.py)."""
    import azwire
    if skip:
        return {"skipped": skip}
    reason = azwire.ensure_azurite(log)
    if reason:
        return {"skipped": reason}
    location = os.path.join(workdir, "azurite")
    az = azwire.Azurite(location)
    out = {"version": azwire.azurite_version(), "problems": []}
    try:
        az.start()
    except (OSError, RuntimeError) as exc:
        return {"skipped": f"azurite did not start: {exc}"}
    try:
        azwire.create_container("127.0.0.1", az.port, "bench")
        n = cfg["clients"]
        log(f"  [azurite {out['version']}] {cfg['small_size']} B Append Block, {n} clients, {cfg['small_s']} s")
        opts = {"host": "127.0.0.1", "port": az.port, "container": "bench", "clients": n,
                "size": cfg["small_size"], "seconds": cfg["small_s"], "prefix": f"small{n}"}
        with Sampler(az.proc.pid) as s:
            r = pool.submit(azwire.small_appends, opts).result()
        r.update(s.summary())
        r["other_cores"] = other_cores(r, s)
        r["ops_s"] = r["ok"] / r["wall"]
        r["server_cpu_us_op"] = r["server_cpu_s"] / max(r["requests"], 1) * 1e6
        r["client_cpu_us_op"] = r["client_cpu"] / max(r["requests"], 1) * 1e6
        if r["fail"] or r["crc_bad"] or r["length_mismatches"] or not r["ok"]:
            out["problems"].append(f"azurite: {r['ok']} ok, {r['fail']} failed, {r['crc_bad']} bad CRC, "
                                   f"{r['length_mismatches']} length mismatches; {r['errors'][:3]}")
        out["small_n"] = r
    finally:
        rc = az.stop()
        shutil.rmtree(location, ignore_errors=True)
    out["exit"] = rc
    return out


def server_has_flag(flag: str) -> bool:
    """Whether `ossbox server --help` lists flag (e.g. --workers, which a branch may not have yet)."""
    try:
        # the working directory the servers start in (not the repo's: `python -m` puts it first
        # on sys.path, so the repo's ossbox would answer for a tree given by PYTHONPATH)
        r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--help"], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return re.search(rf"(^|\s){re.escape(flag)}\b", r.stdout) is not None


def workers_run(workdir: str, pool, cfg: dict, log, n: int, skip: str) -> dict:
    """The durable N-client phase on `--workers 1` and on `--workers n`, one fresh server each."""
    if skip:
        return {"skipped": skip}
    out = {"n": n, "problems": []}
    for w in (1, n):
        log(f"server --durability fsync --workers {w}")
        try:
            d = run_server("fsync", workdir, pool, cfg, None, log, extra=["--workers", str(w)],
                           phases=("small_n",), label=f"fsync workers={w}")
        except RuntimeError as exc:   # e.g. the flag exists but the server refuses the value
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "error" in ln.lower() or "unrecognized" in ln), lines[-1:])
            return {"skipped": f"ossbox server --workers {w} did not start: {why}"}
        out["problems"] += d["problems"]
        out[f"workers_{w}"] = d
    return out


def run_postgres(url: str, workdir: str, pool, cfg: dict, log, settings: tuple = (),
                 data_url: bool = False) -> dict:
    """The durable phases with the PostgreSQL driver, in a fresh schema of `url`; `settings`
    (name=value pairs, e.g. commit_delay=100) are set for the server's sessions through libpq's
    options, so variants of the server configuration run in one bench against one database."""
    from pgtest import drop_schema, schema_url
    schema = "ossbox_bench_" + uuid.uuid4().hex[:12]
    variant = ",".join(settings)
    log(f"server --durability fsync --meta (PostgreSQL, schema {schema}{', ' + variant if variant else ''})"
        + (" --data file://... (segment mode)" if data_url else ""))
    try:
        return run_server("fsync", workdir, pool, cfg, None, log, meta=schema_url(url, schema, settings),
                          variant=variant, data_url=data_url)
    finally:
        drop_schema(url, schema)


def access_log_cost(workdir: str, pool, cfg: dict, log, rounds: int) -> dict:
    """Durable 4 KiB appends (1 and N clients) against a server without --access-log (the baseline)
    and one with --access-log to a file on the same disk, alternated ABBA per round so drift on
    the shared machine falls on both sides alike: the ratio (with / without) per round."""
    import oss2

    def phase(with_log: bool, clients: int, tag: str) -> float:
        data_dir = os.path.join(workdir, f"alog-{tag}")
        log_path = os.path.join(workdir, f"alog-{tag}.log")
        srv = ServerProcess(data_dir, extra_args=["--durability", "fsync"]
                            + (["--access-log", log_path] if with_log else [])).start()
        r = None
        try:
            name = "bench-" + uuid.uuid4().hex[:12]
            oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, name).create_bucket()
            opts = {"host": "127.0.0.1", "port": srv.port, "ak": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET,
                    "bucket": name, "clients": clients, "size": cfg["small_size"], "seconds": cfg["small_s"],
                    "prefix": f"alog{clients}"}
            r = pool.submit(osswire.small_appends, opts).result()
            if r["fail"] or r["crc_bad"]:
                raise RuntimeError(f"access-log phase {tag}: {r['fail']} failed, {r['crc_bad']} bad CRC")
            return r["ok"] / r["wall"]
        finally:
            if srv.stop() != 0:
                raise RuntimeError(f"access-log phase {tag}: unclean server exit")
            if with_log and r is not None:  # every acknowledged append has its line
                with open(log_path) as f:
                    lines = sum(1 for _ in f)
                if lines < r["ok"]:
                    raise RuntimeError(f"access log has {lines} lines for {r['ok']} appends")
                os.unlink(log_path)
            shutil.rmtree(data_dir, ignore_errors=True)

    out = {}
    for clients in (1, cfg["clients"]):
        ratios, pairs = [], []
        for i in range(rounds):
            order = (False, True) if i % 2 == 0 else (True, False)
            got = {}
            for with_log in order:
                log(f"  access log {'on ' if with_log else 'off'}: {clients} client(s), round {i + 1}/{rounds}")
                got[with_log] = phase(with_log, clients, f"{clients}-{i}-{int(with_log)}")
            pairs.append((got[False], got[True]))
            ratios.append(got[True] / got[False])
        out[f"small_{clients}"] = {"ops_s_without_with": pairs, "ratios": ratios}
    return out


def render_access_log(res: dict) -> str:
    rows = [("4 KiB durable appends", "without (ops/s)", "with --access-log (ops/s)", "ratio range")]
    for name, r in res.items():
        pairs = r["ops_s_without_with"]
        rows.append((name.replace("small_", "") + " client(s)", " / ".join(f"{a:.0f}" for a, _ in pairs),
                     " / ".join(f"{b:.0f}" for _, b in pairs),
                     f"{min(r['ratios']):.2f}-{max(r['ratios']):.2f}"))
    return _table(rows)


def large_object(base: dict, pool, pid: int, cfg: dict, log, out: dict, tag: str, spy_dir, spy_name: str):
    """The large object as 8 MiB appends on one connection, then one GetObject of it: (large, get)."""
    key = "large-object"
    log(f"  {tag} {cfg['large_total'] // MiB} MiB as {cfg['large_chunk'] // MiB} MiB appends")
    opts = dict(base, key=key, chunk=cfg["large_chunk"], total=cfg["large_total"])
    with Sampler(pid) as s, PySpy(spy_dir, pid, spy_name):
        r = pool.submit(osswire.large_append, opts).result()
    r.update(s.summary())
    r["other_cores"] = other_cores(r, s)
    r["mb_s"] = r["bytes"] / r["wall"] / 1e6
    r["server_cpu_s_gib"] = r["server_cpu_s"] / (r["bytes"] / 1024 ** 3) if r["bytes"] else None
    r["client_cpu_s_gib"] = r["client_cpu"] / (r["bytes"] / 1024 ** 3) if r["bytes"] else None
    r["write_amp"] = r["server_write_bytes"] / max(r["bytes"], 1)
    if r["fail"] or not r["crc_ok"]:
        out["problems"].append(f"{tag} large append: {r['fail']} failed, CRC local {r['crc_local']} "
                               f"server {r['crc_server']}; {r['errors'][:2]}")
    crc_expected = r["crc_local"]

    log(f"  {tag} GetObject of the {r['bytes'] // MiB} MiB object")
    with Sampler(pid) as s:
        g = pool.submit(osswire.get_object, dict(base, key=key)).result()
    g.update(s.summary())
    g["other_cores"] = other_cores(g, s)
    g["mb_s"] = g["bytes"] / g["wall"] / 1e6
    g["server_cpu_s_gib"] = g["server_cpu_s"] / (g["bytes"] / 1024 ** 3) if g["bytes"] else None
    g["client_cpu_s_gib"] = g["client_cpu"] / (g["bytes"] / 1024 ** 3) if g["bytes"] else None
    g["crc_ok"] = g["crc"] == crc_expected and g["bytes"] == r["bytes"]
    if g["status"] != 200 or not g["crc_ok"]:
        out["problems"].append(f"{tag} get: status {g['status']}, {g['bytes']} bytes, CRC {g['crc']} "
                               f"expected {crc_expected} (header {g['crc_header']})")
    return r, g


# -- report ----------------------------------------------------------------------------------------
def fmt(v, unit="", digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}{unit}"


def ratio(v, b):
    return f"{v / b:.2f}×" if v is not None and b else "—"


def render(res: dict) -> str:
    b = res["baseline"]
    rows = [("figure", "value", "baseline", "ratio", "goal")]
    rows.append(("raw 4 KiB append+fdatasync, 1 file", fmt(b["fsync_1"]["ops_s"], " /s"), "", "", ""))
    rows.append((f"raw 4 KiB append+fdatasync, {b['fsync_n']['threads']} threads/files",
                 fmt(b["fsync_n"]["ops_s"], " /s"), "", "", ""))
    rows.append(("raw write 8 MiB + fdatasync (seq)", fmt(b["seq"]["mb_s"], " MB/s"), "", "", ""))
    rows.append(("raw loopback TCP (Python)", fmt(b["loopback"]["mb_s"], " MB/s"), "", "", ""))
    f1 = b["fsync_1"]["ops_s"]
    for d in res["runs"]:
        tag = d.get("label", d["durability"])
        n = res["config"]["clients"]
        s1, sn, lg, gt = d.get("small_1"), d.get(f"small_{n}"), d.get("large"), d.get("get")
        goal_s = f"≥ {GOAL_SMALL_16:,} /s" if tag == "fsync" else ""
        goal_l = f"≥ {GOAL_LARGE:,} MB/s" if tag == "fsync" else ""
        if s1:
            rows.append((f"[{tag}] 4 KiB appends, 1 client", fmt(s1["ops_s"], " /s"), fmt(f1, " /s"),
                         ratio(s1["ops_s"], f1), ""))
        if sn:
            rows.append((f"[{tag}] 4 KiB appends, {n} clients", fmt(sn["ops_s"], " /s"), fmt(f1, " /s"),
                         ratio(sn["ops_s"], f1), goal_s))
        if not lg:
            continue
        rows.append((f"[{tag}] {lg['bytes'] // MiB} MiB as 8 MiB appends", fmt(lg["mb_s"], " MB/s"),
                     fmt(b["seq"]["mb_s"], " MB/s"), ratio(lg["mb_s"], b["seq"]["mb_s"]), goal_l))
        rows.append((f"[{tag}] GetObject {gt['bytes'] // MiB} MiB", fmt(gt["mb_s"], " MB/s"),
                     fmt(b["loopback"]["mb_s"], " MB/s"), ratio(gt["mb_s"], b["loopback"]["mb_s"]), ""))
        for algorithm, (elg, egt) in d.get("sse", {}).items():  # ratio: against the plain run above
            rows.append((f"[{tag}] SSE {algorithm}: 8 MiB appends", fmt(elg["mb_s"], " MB/s"),
                         fmt(lg["mb_s"], " MB/s plain"), ratio(elg["mb_s"], lg["mb_s"]), ""))
            rows.append((f"[{tag}] SSE {algorithm}: GetObject", fmt(egt["mb_s"], " MB/s"),
                         fmt(gt["mb_s"], " MB/s plain"), ratio(egt["mb_s"], gt["mb_s"]), ""))
    text = [_table(rows)]

    rows = [("phase", "p50 / p99 ms", "server CPU", "sys", "client CPU", "server cores", "loop thread",
             "kthreads", "other procs", "disk/payload", "peak RSS", "failures")]
    for d in res["runs"]:
        tag = d.get("label", d["durability"])
        n = res["config"]["clients"]
        for name in ("small_1", f"small_{n}"):
            r = d.get(name)
            if r is None:
                continue
            rows.append((f"[{tag}] {name.replace('small_', '4 KiB × ')} client(s)",
                         f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}",
                         fmt(r["server_cpu_us_op"], " µs/op"), _sys(r),
                         fmt(r["client_cpu_us_op"], " µs/op"),
                         fmt(r["server_cores"], "", 2), fmt(r["server_loop_thread_cores"], "", 2),
                         fmt(r["kernel_threads_cores"], "", 2),
                         fmt(r["other_cores"], "", 2), fmt(r.get("write_amp"), "×", 2),
                         fmt(r["server_peak_rss_mib"], " MiB"),
                         f"{r['fail']} fail, {r['crc_bad']} CRC, {r['length_mismatches']} len"))
        whole = [(f"[{tag}] 8 MiB appends", d["large"]), (f"[{tag}] GetObject", d["get"])] if "large" in d else []
        for algorithm, (elg, egt) in d.get("sse", {}).items():
            whole += [(f"[{tag}] SSE {algorithm}: 8 MiB appends", elg),
                      (f"[{tag}] SSE {algorithm}: GetObject", egt)]
        for label, r in whole:
            ok = r["crc_ok"] and not r.get("fail")
            rows.append((label, f"{r['wall']:.2f} s total",
                         fmt(r["server_cpu_s_gib"], " s/GiB", 2), _sys(r),
                         fmt(r["client_cpu_s_gib"], " s/GiB", 2),
                         fmt(r["server_cores"], "", 2), fmt(r["server_loop_thread_cores"], "", 2),
                         fmt(r["kernel_threads_cores"], "", 2),
                         fmt(r["other_cores"], "", 2), fmt(r.get("write_amp"), "×", 2),
                         fmt(r["server_peak_rss_mib"], " MiB"),
                         "CRC ok" if ok else "CRC/STATUS MISMATCH"))
    text.append(_table(rows))
    notes = ["server RSS at start: " + ", ".join(
        f"{d.get('label', d['durability'])} {d['server_start_rss_mib']:.0f} MiB (VmHWM at end {d['server_final_hwm_mib']:.0f} MiB)"
        for d in res["runs"])]
    for d in res["runs"]:
        notes += [f"PROBLEM [{d.get('label', d['durability'])}]: {p}" for p in d["problems"]]
    notes += driver_ratios(res)
    la = res["machine"]["loadavg_at_start"]
    notes.append(f"load average at start {la[0]:.2f} (other processes on the machine skew results; "
                 f"see 'other procs')")
    cold = min(b["seq"]["runs_mb_s"])
    plain = next((d for d in res["runs"] if d.get("label") == "fsync" and "large" in d), None)
    notes.append("raw seq write runs: " + ", ".join(f"{v:,.0f}" for v in b["seq"]["runs_mb_s"])
                 + " MB/s (the faster one is the baseline)"
                 + (f"; [fsync] 8 MiB appends ÷ the slower run: {plain['large']['mb_s'] / cold:.2f}× "
                    "(the server's blob, like the first run, needs page-cache pages nothing freed "
                    "just before; docs/performance.md)" if plain and cold else ""))
    notes.append(f"server code: {res['server_code']}")
    notes.append(f"total bench time {res['elapsed_s']:.1f} s")
    return "\n\n".join(text) + "\n\n" + "\n".join(notes)


def driver_ratios(res: dict) -> list[str]:
    """Each PostgreSQL run / SQLite, figure by figure, for the runs of one durability (same run)."""
    by = {d.get("label", d["durability"]): d for d in res["runs"]}
    n = res["config"]["clients"]
    lines = []
    for durability in ("fsync", "none"):
        sq = by.get(durability)
        for label, pg in by.items():
            segment = label.startswith(durability + " segment")
            if not (sq and (label.startswith(durability + " pg") or segment)):
                continue
            parts = [f"{name} {pg[k][f] / sq[k][f]:.2f}×" for name, k, f in (
                ("1 client", "small_1", "ops_s"), (f"{n} clients", f"small_{n}", "ops_s"),
                ("8 MiB appends", "large", "mb_s"), ("GetObject", "get", "mb_s")) if sq[k][f]]
            what = ("scale-out layout (PostgreSQL + file:// segments) / embedded" if segment else
                    f"PostgreSQL{label[len(durability) + 3:]} / SQLite metadata")
            lines.append(f"{what} [{durability}]: " + ", ".join(parts))
    return lines


def _sys(r) -> str:
    return f"{r['server_sys_s'] / r['server_cpu_s']:.0%}" if r["server_cpu_s"] else "—"


def _table(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in rows[1:]])


GOAL_RSS_MIB = 150


def goal_ratios(res: dict, rep: dict) -> list[tuple[str, object, str]]:
    """(figure, value or 'skipped: why', goal) of one repeat: the issue-14 goal table, each ratio
    between two figures of this repeat; then the same for the PostgreSQL and scale-out layouts."""
    n = res["config"]["clients"]
    b, triv, az = rep["baseline"], rep["trivial"].get("small_n"), rep["azurite"].get("small_n")
    by = {d["label"]: d for d in rep["runs"]}
    rows = []

    def div(a, c):
        return a / c if a is not None and c else None

    def get(d, *path):
        """d[path...], or None when that phase did not run."""
        for k in path:
            d = d.get(k) if isinstance(d, dict) else None
        return d

    for label, tag in (("fsync", ""), ("fsync pg", " [PostgreSQL metadata]"),
                       ("fsync segment", " [scale-out: PostgreSQL + file:// segments]")):
        d = by.get(label)
        if d is None:
            continue
        sn, s1 = d.get(f"small_{n}"), d.get("small_1")
        rows.append((f"durable 4 KiB appends/s, {n} clients ÷ trivial raw-ASGI app, same client{tag}",
                     div(get(sn, "ops_s"), triv["ops_s"]) if triv else "skipped: " + rep["trivial"].get("skipped", "?"),
                     "≥ 0.5×"))
        rows.append((f"same ÷ raw {b['fsync_n']['threads']}-thread write+fdatasync{tag}",
                     div(get(sn, "ops_s"), b["fsync_n"]["ops_s"]), "≥ 1.0×"))
        rows.append((f"server CPU µs per durable append ÷ trivial app's µs per request{tag}",
                     div(get(sn, "server_cpu_us_op"), triv["server_cpu_us_op"]) if triv else "skipped", "≤ 3×"))
        rows.append((f"durable 4 KiB appends/s, 1 client ÷ raw 1-thread write+fdatasync{tag}",
                     div(get(s1, "ops_s"), b["fsync_1"]["ops_s"]), "≥ 0.6×"))
        rows.append((f"durable 8 MiB appends MB/s ÷ raw write+fdatasync of the same bytes{tag}",
                     div(get(d, "large", "mb_s"), b["seq"]["mb_s"]), "≥ 0.9×"))
        rows.append((f"GetObject MB/s ÷ raw loopback TCP{tag}", div(get(d, "get", "mb_s"), b["loopback"]["mb_s"]),
                     "≥ 0.9×"))
        rows.append((f"ossbox ÷ Azurite, {n} clients, same workload{tag}",
                     div(get(sn, "ops_s"), az["ops_s"]) if az else "skipped: " + rep["azurite"].get("skipped", "?"),
                     "≥ 10×"))
        if label == "fsync":
            w = rep["workers"]
            if "skipped" in w:
                rows.append(("N server processes ÷ 1 process (N = cores)", "skipped: " + w["skipped"],
                             "≥ 0.8 × N"))
            else:
                rows.append((f"N server processes ÷ 1 process (N = {w['n']})",
                             div(w[f"workers_{w['n']}"][f"small_{n}"]["ops_s"], w["workers_1"][f"small_{n}"]["ops_s"]),
                             f"≥ {0.8 * w['n']:.1f}× (0.8 × N)"))
            if "rss" in d:
                r = d["rss"]
                rows.append((f"peak RSS, {r['clients']} concurrent {r['bytes_per_client'] / 1e6:.0f} MB appends",
                             ("MiB", r["server_peak_rss_mib"]), f"stays flat (< {GOAL_RSS_MIB} MiB)"))
    return rows


def figures(res: dict, rep: dict) -> list[tuple[str, object, str]]:
    """(figure, value, unit) of one repeat: the absolute measurements behind the ratios."""
    n = res["config"]["clients"]
    b = rep["baseline"]
    rows = [("raw 4 KiB write+fdatasync, 1 thread", b["fsync_1"]["ops_s"], "/s"),
            (f"raw 4 KiB write+fdatasync, {b['fsync_n']['threads']} threads", b["fsync_n"]["ops_s"], "/s"),
            ("raw write 8 MiB + fdatasync", b["seq"]["mb_s"], "MB/s"),
            ("raw loopback TCP", b["loopback"]["mb_s"], "MB/s")]
    t = rep["trivial"].get("small_n")
    if t:
        rows += [(f"trivial raw-ASGI app, {n} clients", t["ops_s"], "/s"),
                 ("trivial app server CPU per request", t["server_cpu_us_op"], "µs")]
    a = rep["azurite"].get("small_n")
    if a:
        rows += [(f"Azurite Append Block, {n} clients", a["ops_s"], "/s"),
                 ("Azurite server CPU per append", a["server_cpu_us_op"], "µs")]
    for d in rep["runs"]:
        tag = f"[{d['label']}]"
        for k, what in (("small_1", "4 KiB appends, 1 client"), (f"small_{n}", f"4 KiB appends, {n} clients")):
            if k in d:
                rows.append((f"{tag} {what}", d[k]["ops_s"], "/s"))
        if f"small_{n}" in d:
            rows.append((f"{tag} server CPU per append, {n} clients", d[f"small_{n}"]["server_cpu_us_op"], "µs"))
        if "large" in d:
            rows += [(f"{tag} 8 MiB appends", d["large"]["mb_s"], "MB/s"),
                     (f"{tag} GetObject", d["get"]["mb_s"], "MB/s")]
        if "rss" in d:
            rows += [(f"{tag} {d['rss']['clients']} concurrent 8 MiB appenders", d["rss"]["mb_s"], "MB/s"),
                     (f"{tag} peak RSS, {d['rss']['clients']} concurrent appenders", d["rss"]["server_peak_rss_mib"],
                      "MiB")]
    w = rep["workers"]
    if "skipped" not in w:
        for k in (1, w["n"]):
            rows.append((f"[fsync] --workers {k}: 4 KiB appends, {n} clients", w[f"workers_{k}"][f"small_{n}"]["ops_s"],
                         "/s"))
    return rows


def _range(values, unit="×", digits=2) -> str:
    nums = [v for v in values if isinstance(v, (int, float))]
    skipped = [v for v in values if isinstance(v, str)]
    if not nums:
        return skipped[0] if skipped else "—"
    lo, hi = min(nums), max(nums)
    sep = "" if unit == "×" else " "
    text = (f"{lo:,.{digits}f}{sep}{unit}" if len(nums) == 1 or f"{lo:.{digits}f}" == f"{hi:.{digits}f}"
            else f"{lo:,.{digits}f}–{hi:,.{digits}f}{sep}{unit}")
    return text + (f" ({len(skipped)} repeat(s) skipped)" if skipped else "")


def render_final(res: dict) -> str:
    """The goal table with each ratio as min–max over the repeats, then the figures behind them."""
    reps = res["repeats"]
    per = [goal_ratios(res, rep) for rep in reps]
    rows = [("figure", f"measured range ({len(reps)} repeat{'s' if len(reps) > 1 else ''})", "goal")]
    for i, (figure, _, goal) in enumerate(per[0]):
        values = [p[i][1] for p in per if i < len(p)]
        if values and isinstance(values[0], tuple):   # an absolute figure (peak RSS)
            rows.append((figure, _range([v[1] for v in values], values[0][0], 0), goal))
        else:
            rows.append((figure, _range(values), goal))
    text = ["GOALS (issue 14): every ratio between figures of the same repeat", _table(rows)]
    per = [figures(res, rep) for rep in reps]
    rows = [("figure", "measured range")]
    for i, (figure, _, unit) in enumerate(per[0]):
        values = [p[i][1] for p in per if i < len(p) and p[i][0] == figure]
        rows.append((figure, _range(values, unit, 0)))
    text += ["", "FIGURES behind the ratios", _table(rows)]
    for rep in reps:
        for what in ("trivial", "azurite", "workers"):
            if "skipped" in rep[what]:
                text.append(f"repeat {rep['repeat']}: {what} skipped: {rep[what]['skipped']}")
    return "\n".join(text)


def rep_problems(rep: dict) -> list[str]:
    out = [f"[{d['label']}] {p}" for d in rep["runs"] for p in d["problems"]]
    for what in ("trivial", "azurite", "workers"):
        out += [f"[{what}] {p}" for p in rep[what].get("problems", ())]
    return out


def render_extra(res: dict, rep: dict) -> str:
    """Detail rows of one repeat's trivial app, Azurite, --workers and concurrent large phases."""
    rows = [("phase", "rate", "p50 / p99 ms", "server CPU", "client CPU", "server cores", "loop thread",
             "other procs", "peak RSS", "checks")]

    def small(label, r):
        rows.append((label, fmt(r["ops_s"], " /s"), f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}",
                     fmt(r["server_cpu_us_op"], " µs/op"), fmt(r["client_cpu_us_op"], " µs/op"),
                     fmt(r["server_cores"], "", 2), fmt(r["server_loop_thread_cores"], "", 2),
                     fmt(r["other_cores"], "", 2), fmt(r["server_peak_rss_mib"], " MiB"),
                     f"{r['fail']} fail, {r['crc_bad']} CRC, {r['length_mismatches']} len"))

    n = res["config"]["clients"]
    if "small_n" in rep["trivial"]:
        small(f"trivial raw-ASGI app, {n} clients", rep["trivial"]["small_n"])
    if "small_n" in rep["azurite"]:
        small(f"Azurite {rep['azurite']['version']} Append Block, {n} clients", rep["azurite"]["small_n"])
    w = rep["workers"]
    if "skipped" not in w:
        for k in (1, w["n"]):
            small(f"[fsync] --workers {k}, {n} clients", w[f"workers_{k}"][f"small_{n}"])
    for d in rep["runs"]:
        if "rss" in d:
            r = d["rss"]
            rows.append((f"[{d['label']}] {r['clients']} × {r['bytes_per_client'] // MiB} MiB concurrent 8 MiB appends",
                         fmt(r["mb_s"], " MB/s"), f"{r['wall']:.2f} s total", fmt(r["server_cpu_s"], " s", 2),
                         fmt(r["client_cpu"], " s", 2), fmt(r["server_cores"], "", 2),
                         fmt(r["server_loop_thread_cores"], "", 2), fmt(r["other_cores"], "", 2),
                         fmt(r["server_peak_rss_mib"], " MiB"),
                         "CRC ok" if r["crc_ok"] and not r["fail"] else "CRC/STATUS MISMATCH"))
    return _table(rows) if len(rows) > 1 else ""


def one_repeat(i: int, res: dict, args, cfg: dict, workdir: str, pool, log, skip: dict) -> dict:
    """Every phase once: baselines, trivial app, the servers, Azurite, --workers."""
    t0 = time.perf_counter()
    rep = {"repeat": i + 1}
    log(f"== repeat {i + 1}/{args.repeats}: baseline: raw disk and loopback")
    b = rep["baseline"] = {}
    b["fsync_1"] = baselines.fsync_appends(workdir, cfg["baseline_fsync_s"])
    b["fsync_n"] = baselines.fsync_appends_parallel(workdir, cfg["baseline_par_s"], args.clients)
    # the first large write after a while is often much slower on this VM (fresh guest pages);
    # run it twice and take the faster one as the ceiling, keeping both in the JSON
    runs = [baselines.sequential_write(workdir, cfg["large_total"]) for _ in range(2)]
    b["seq"] = dict(max(runs, key=lambda r: r["mb_s"]), runs_mb_s=[r["mb_s"] for r in runs])
    b["loopback"] = baselines.loopback(cfg["large_total"])

    small = {"small_1", "small_n"} & set(cfg["phases"])
    rep["trivial"] = rep["azurite"] = rep["workers"] = {"skipped": "--phases"}
    if small:
        log("trivial raw-ASGI app (bench/trivialapp.py)")
        rep["trivial"] = trivial_app(workdir, pool, cfg, log)

    rep["runs"] = []
    for durability in ("fsync",) if args.no_none else ("fsync", "none"):
        log(f"server --durability {durability}" + (f" --workers {cfg['workers']}" if cfg["has_workers"] else ""))
        spy = (args.py_spy, args.py_spy_format) if args.py_spy and i == 0 else None
        phases = ("small_1", "small_n", "large") + (("rss",) if durability == "fsync" and not args.no_rss else ())
        phases = tuple(x for x in phases if x in cfg["phases"])
        rep["runs"].append(run_server(durability, workdir, pool, cfg, spy, log, phases=phases))
    if args.meta:
        rep["runs"].append(run_postgres(args.meta, workdir, pool, cfg, log))
        for variant in args.pg_setting:
            settings = tuple(x.strip() for x in variant.split(",") if x.strip())
            rep["runs"].append(run_postgres(args.meta, workdir, pool, cfg, log, settings))
        if not args.no_segment:
            rep["runs"].append(run_postgres(args.meta, workdir, pool, cfg, log, data_url=True))

    if "small_n" not in cfg["phases"]:
        return dict(rep, elapsed_s=time.perf_counter() - t0)
    log("Azurite (npm package azurite): Append Block with x-ms-blob-condition-appendpos")
    rep["azurite"] = azurite_run(workdir, pool, cfg, log, skip["azurite"])
    row_n = cfg["workers"] if cfg["workers"] > 1 else os.cpu_count() or 1
    rep["workers"] = workers_run(workdir, pool, cfg, log, row_n, skip["workers"])
    rep["elapsed_s"] = time.perf_counter() - t0
    return rep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s small-append phases, 256 MiB large object, "
                   "64 MiB per concurrent large appender")
    p.add_argument("--repeats", type=int, default=1, metavar="R",
                   help="run every phase R times, interleaved (all phases, then all again), and print "
                        "each ratio as min–max over the repeats (default 1)")
    p.add_argument("--meta", metavar="URL", help="also run the durable phases with the metadata in this "
                   "PostgreSQL database (postgresql://...; a fresh schema, dropped afterwards), and in "
                   "the scale-out layout (that database + --data file://<dir>)")
    p.add_argument("--no-segment", action="store_true", help="with --meta: skip the scale-out layout")
    p.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE[,...]",
                   help="with --meta: one more PostgreSQL run with these server settings for ossbox's "
                   "sessions (e.g. commit_delay=100,commit_siblings=2); repeat for more variants")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="start the servers with `ossbox server --workers N` (default 1: per-process "
                        "figures, like for like with the one-process trivial app); the row 'N server "
                        "processes ÷ 1 process' runs the durable N-client phase on --workers 1 and "
                        "--workers N (N > 1), else on the number of cores")
    p.add_argument("--no-workers", action="store_true", help="skip the --workers row")
    p.add_argument("--no-azurite", action="store_true", help="skip the Azurite comparison")
    p.add_argument("--phases", default="small_1,small_n,large,rss", metavar="P[,P...]",
                   help="server phases to run (default all: small_1,small_n,large,rss); without small_n "
                        "the trivial app (without both small phases), Azurite and --workers are skipped")
    p.add_argument("--no-rss", action="store_true", help="skip the concurrent large appends (peak RSS)")
    p.add_argument("--rss-mb", type=int, metavar="MB",
                   help="bytes per concurrent large appender, in MB (default 500; 64 with --quick)")
    p.add_argument("--json", metavar="FILE", help="write all measurements as JSON ('-': to stdout; "
                   "default: a file in the temp dir, its path printed)")
    p.add_argument("--no-none", action="store_true", help="skip the --durability none comparison")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--seconds", type=float, help="duration of each small-append phase")
    p.add_argument("--large-mib", type=int, help="size of the large object in MiB")
    p.add_argument("--baseline-seconds", type=float, metavar="S",
                   help="duration of each raw fdatasync baseline (default 3; 2 and 1.5 with --quick)")
    p.add_argument("--sse", default="AES256", metavar="ALGS",
                   help="server-side encryption algorithms (comma-separated: AES256,SM4,KMS; '' for none) "
                        "whose large appends and GetObject are measured against the plain ones of the "
                        "durable server (default AES256)")
    p.add_argument("--dir", default=None, help="where the baselines and the server data go "
                                                "(default: the system temp dir)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECS",
                   help="first wait up to SECS for the machine to be idle (other processes skew "
                        "every figure on 2 cores)")
    p.add_argument("--py-spy", metavar="DIR", help="record py-spy profiles of the server during "
                                                   "the concurrent and large phases (needs py-spy; first repeat)")
    p.add_argument("--py-spy-format", default="flamegraph", choices=("flamegraph", "raw", "speedscope"),
                   help="py-spy output format (raw = collapsed stacks, good for grep)")
    p.add_argument("--access-log-rounds", type=int, default=0, metavar="N",
                   help="also measure durable 4 KiB appends without and with --access-log to a file, "
                        "N alternating rounds (ratio with/without per round)")
    p.add_argument("--access-log-only", action="store_true",
                   help="with --access-log-rounds: run only that comparison")
    args = p.parse_args(argv)
    args.repeats = max(1, args.repeats)

    quick = args.quick
    rss_mb = args.rss_mb or (64 if quick else 500)
    cfg = {"quick": quick, "clients": args.clients, "small_size": 4096,
           "small_s": args.seconds or (3.0 if quick else 10.0),
           "large_chunk": 8 * MiB, "large_total": (args.large_mib or (256 if quick else 1024)) * MiB,
           "baseline_fsync_s": args.baseline_seconds or (2.0 if quick else 3.0),
           "baseline_par_s": args.baseline_seconds or (1.5 if quick else 3.0),
           "sse": [a.strip().upper() for a in args.sse.split(",") if a.strip()],
           "workers": max(1, args.workers), "has_workers": False,
           "rss_clients": 8, "rss_total": max(1, round(rss_mb * 1e6 / (8 * MiB))) * 8 * MiB,
           "repeats": args.repeats,
           "phases": [x.strip() for x in args.phases.split(",") if x.strip()]}
    t_start = time.perf_counter()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    if args.wait_quiet:
        wait_quiet(args.wait_quiet, 0.25, log)
        t_start = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="ossbox-bench-", dir=args.dir)
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "kernel": platform.release(), "workdir": workdir,
                       "loadavg_at_start": os.getloadavg()},
           "server_code": code_version(),
           "config": cfg}
    try:
        # the load client runs in its own process, so its CPU shows separately from ours
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        warm = pool.submit(osswire.cpu_seconds)

        if args.access_log_only:
            warm.result()
            res["access_log"] = access_log_cost(workdir, pool, cfg, log, max(args.access_log_rounds, 1))
            pool.shutdown()
            print(render_access_log(res["access_log"]))
            write_json(res, args.json)
            return 0
        warm.result()
        has_workers = cfg["has_workers"] = server_has_flag("--workers")
        if not has_workers and cfg["workers"] != 1:
            log(f"ossbox server has no --workers flag on this code: --workers {cfg['workers']} is not passed")
        skip = {"has_workers": has_workers, "azurite": "--no-azurite" if args.no_azurite else "",
                "workers": "--no-workers" if args.no_workers else "" if has_workers else
                "ossbox server has no --workers flag on this code"}
        res["repeats"] = []
        for i in range(args.repeats):
            res["repeats"].append(one_repeat(i, res, args, cfg, workdir, pool, log, skip))
        if args.access_log_rounds:
            res["access_log"] = access_log_cost(workdir, pool, cfg, log, args.access_log_rounds)
        pool.shutdown()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    res["elapsed_s"] = time.perf_counter() - t_start
    problems = []
    for rep in res["repeats"]:
        view = dict(res, **rep)
        if args.repeats > 1:
            print(f"==== repeat {rep['repeat']} of {args.repeats} ({rep['elapsed_s']:.0f} s)")
        print(render(view))
        extra = render_extra(res, rep)
        if extra:
            print("\n" + extra)
        for p_ in rep_problems(rep):
            problems.append(p_)
            if not p_.startswith("[") or p_.split("]")[0][1:] in ("trivial", "azurite", "workers"):
                print(f"PROBLEM (repeat {rep['repeat']}): {p_}")   # the servers' are in render's notes
        print()
    if "access_log" in res:
        print(render_access_log(res["access_log"]))
    print("=" * 100)
    print(render_final(res))
    print(f"\nserver code {res['server_code']}; {args.repeats} repeat(s); total {res['elapsed_s']:.0f} s; "
          f"load average at start {res['machine']['loadavg_at_start'][0]:.2f}")
    write_json(res, args.json)
    return 1 if problems else 0


def write_json(res: dict, path) -> None:
    if path == "-":
        print(json.dumps(res, indent=2))
        return
    if not path:
        path = os.path.join(tempfile.gettempdir(), f"ossbox-bench-{res['date'].replace(':', '')}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"all measurements as JSON: {path}")


if __name__ == "__main__":
    sys.exit(main())
