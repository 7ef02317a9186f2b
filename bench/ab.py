#!/usr/bin/env python3
"""Interleaved A/B runs of bench/run.py's concurrent durable phase against several code trees.

    python bench/ab.py [--rounds 3] [--seconds 5] [--clients 16] TREE [TREE ...]

Each TREE is a checkout of ossbox (a `git worktree`, or `git archive <commit> | tar -x -C DIR`).
Every round starts one `ossbox server --durability fsync` per tree in turn, on a fresh data dir,
with that tree's code (PYTHONPATH=TREE), runs 1 s of warm-up and then `--seconds` of 4 KiB appends
from `--clients` connections (the same load client as bench/run.py, bench/osswire.py, with the
same checks), and prints appends/s and the server's CPU per append (user+system, all threads).
The trees alternate, so a change in the machine's load hits all of them alike; `other` is the
cores busy with other processes during the run (above ~0.1 the figures are skewed, and the CPU
per append is then the steadier of the two). The last lines give each tree's median.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import osswire  # noqa: E402
from run import proc_cpu, system_busy  # noqa: E402
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess  # noqa: E402


def one_run(tree: str, pool, seconds: float, clients: int) -> dict:
    import oss2
    workdir = tempfile.mkdtemp(prefix="ossbox-ab-")
    here = os.getcwd()
    os.chdir(tree)  # `python -m ossbox` looks in the working directory first
    try:
        srv = ServerProcess(os.path.join(workdir, "data"), extra_args=["--durability", "fsync"],
                            env={"PYTHONPATH": tree}).start()
    finally:
        os.chdir(here)
    try:
        bucket = "ab-" + uuid.uuid4().hex[:10]
        oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, bucket).create_bucket()
        opts = {"host": "127.0.0.1", "port": srv.port, "ak": ACCESS_KEY_ID, "secret": ACCESS_KEY_SECRET,
                "bucket": bucket, "clients": clients, "size": 4096, "seconds": 1.0, "prefix": "warm"}
        pool.submit(osswire.small_appends, opts).result()
        c0, b0 = sum(proc_cpu(srv.proc.pid)), system_busy()
        r = pool.submit(osswire.small_appends, dict(opts, seconds=seconds, prefix="m")).result()
        cpu, busy = sum(proc_cpu(srv.proc.pid)) - c0, system_busy() - b0
    finally:
        rc = srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    n = max(r["requests"], 1)
    return {"ops_s": r["ok"] / r["wall"], "us_op": cpu / n * 1e6,
            "other": max(0.0, (busy - cpu - r["client_cpu"]) / r["wall"]),
            "bad": r["fail"] + r["crc_bad"] + (rc != 0)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trees", nargs="+")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=16)
    args = p.parse_args()
    trees = [os.path.abspath(t) for t in args.trees]
    results: dict[str, list[dict]] = {t: [] for t in trees}
    bad = 0
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for rnd in range(args.rounds):
            for tree in trees:
                r = one_run(tree, pool, args.seconds, args.clients)
                results[tree].append(r)
                bad += r["bad"]
                print(f"round {rnd + 1}  {tree:40s} {r['ops_s']:7,.0f} appends/s  {r['us_op']:5.0f} µs/append"
                      f"  other {r['other']:.2f}" + ("  FAILED CHECKS" if r["bad"] else ""), flush=True)
    for tree in trees:
        rs = results[tree]
        print(f"median  {tree:40s} {statistics.median(r['ops_s'] for r in rs):7,.0f} appends/s  "
              f"{statistics.median(r['us_op'] for r in rs):5.0f} µs/append")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
