"""bench/run.py's code paths, run for a second or two so they cannot rot: the trivial raw-ASGI app
driven by the load client, the ratio table over repeats, the JSON dump, and a failed check turning
into a reported problem. No figure is asserted (speed lives in bench/, not in tests)."""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import re
import sys

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import run as bench_run  # noqa: E402


def test_one_tiny_run_prints_every_goal_row_and_checks_pass(tmp_path, capsys):
    out_json = tmp_path / "out.json"
    rc = bench_run.main(["--seconds", "0.3", "--baseline-seconds", "0.2", "--large-mib", "16",
                         "--rss-mb", "9", "--clients", "4", "--sse", "", "--no-none", "--no-azurite",
                         "--no-workers", "--dir", str(tmp_path), "--json", str(out_json)])
    text = capsys.readouterr().out
    assert rc == 0, text
    goals = text.split("GOALS (issue 14)")[1].split("FIGURES behind the ratios")[0]
    for row in ("4 clients ÷ trivial raw-ASGI app", "same ÷ raw 4-thread write+fdatasync",
                "server CPU µs per durable append ÷ trivial app's µs per request",
                "1 client ÷ raw 1-thread write+fdatasync", "8 MiB appends MB/s ÷ raw write+fdatasync",
                "GetObject MB/s ÷ raw loopback TCP", "peak RSS, 8 concurrent"):
        line = next(ln for ln in goals.splitlines() if row in ln)
        assert re.search(r"\s\d[\d,.–]*(×| MiB)\s{2,}", line), line   # a measured value, not "—"
    assert "skipped: --no-azurite" in goals and "skipped: --no-workers" in goals
    res = json.loads(out_json.read_text())
    (rep,) = res["repeats"]
    trivial = rep["trivial"]["small_n"]
    assert trivial["ok"] > 0 and trivial["fail"] == trivial["crc_bad"] == trivial["length_mismatches"] == 0
    assert trivial["server_cpu_us_op"] > 0
    assert rep["runs"][0]["rss"]["crc_ok"] and rep["runs"][0]["rss"]["bytes"] == 8 * 8 * 1024 * 1024   # one 8 MiB append each


def test_a_wrong_final_length_is_a_problem(tmp_path):
    """The trivial app's run keeps the bench's checks: a final length that does not match is reported."""
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    cfg = {"clients": 2, "small_size": 4096, "small_s": 0.3}
    real_phase = bench_run.small_phase

    def lying_head(*args):
        args = list(args)
        args[5] = lambda key: -1   # every HEAD says "missing"
        return real_phase(*args)
    try:
        bench_run.small_phase = lying_head
        out = bench_run.trivial_app(str(tmp_path), pool, cfg, lambda msg: None)
    finally:
        bench_run.small_phase = real_phase
        pool.shutdown()
    assert out["small_n"]["ok"] > 0
    assert out["small_n"]["length_mismatches"] == 2
    assert any("length mismatches" in p for p in out["problems"]), out["problems"]
