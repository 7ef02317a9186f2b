"""`ossbox server --workers N` (issue 14): N processes serving one port and one data dir under a
supervisor, through real clients over real HTTP.

Which worker answered is read from the request id every response carries: its characters 8..16
are a per-process random prefix (http/app.py), so two prefixes mean two processes served.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid

import oss2
import pytest
import requests

from appendkit import assert_object, crc64, head_state, new_bucket, wait_until
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, TEST_DATA, ServerProcess
from test_metrics import _free_port, scrape, value
from tlscert import https_endpoint, make_self_signed

READY = "ossbox listening on "


def worker_pids(output: list[str]) -> list[int]:
    line = next(line for line in output if line.startswith("ossbox workers: "))
    return [int(p) for p in re.search(r"\(pids ([0-9, ]+)\)", line).group(1).split(", ")]


def children(pid: int) -> set[int]:
    """The live (not yet reaped) child processes of pid, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def process_of(request_id: str) -> str:
    return request_id[8:16]


def served_by(endpoint: str, connections: int, verify=True) -> list[str]:
    """The process prefix of the request id of one anonymous GET / (403) per new connection."""
    seen = []
    for _ in range(connections):
        resp = requests.get(endpoint + "/", headers={"Connection": "close"}, timeout=10, verify=verify)
        assert resp.status_code == 403
        seen.append(process_of(resp.headers["x-oss-request-id"]))
    return seen


def spread(endpoint: str, workers: int, limit: int = 400, verify=True) -> list[str]:
    """New connections until `workers` different processes have answered (the kernel picks a
    worker's socket by a hash of the connection's addresses, so how many it takes varies)."""
    seen: list[str] = []
    while len(set(seen)) < workers and len(seen) < limit:
        seen += served_by(endpoint, 10, verify)
    assert len(set(seen)) == workers, f"{len(seen)} connections all served by {set(seen)}"
    return seen


def test_first_start_ready_once_spread_metrics_summed_and_sigterm(tmp_path):
    """OSSBOX_WORKERS=2 without given keys: the generated pair and the ready line are printed once,
    after both workers serve; requests reach both; /-/metrics and --metrics-port sum them; SIGTERM
    stops everything with status 0 and removes the metrics directory."""
    metrics_port = _free_port()
    env = {**os.environ, "OSSBOX_WORKERS": "2", "TMPDIR": str(tmp_path)}
    for name in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSSBOX_ACCESS_KEY_ID", "OSSBOX_ACCESS_KEY_SECRET"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "server", "--port", "0", "--data-dir",
                             str(tmp_path / "d"), "--metrics-port", str(metrics_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = []
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith(READY):
                break
        assert output and output[-1].startswith(READY), "".join(output)
        endpoint = output[-1].split()[-1]
        pids = worker_pids(output)
        assert len(pids) == 2 and set(pids) <= children(proc.pid)
        assert sum("generated a root key pair" in line for line in output) == 1, "".join(output)
        key_id = next(line.split()[-1] for line in output if "AccessKeyId:" in line)
        assert f'"{key_id}"' in (tmp_path / "d" / "credentials.json").read_text()
        assert [d for d in os.listdir(tmp_path) if d.startswith("ossbox-metrics-")]

        seen = spread(endpoint, 2)
        for _ in range(10):  # whichever worker takes the connection
            assert requests.get(endpoint + "/-/health/ready", headers={"Connection": "close"},
                                timeout=10).json() == {"status": "ready"}
        for _ in range(6):  # each scrape answered by either worker, with the sum of both
            got = value(scrape(f"http://127.0.0.1:{metrics_port}/metrics"), "ossbox_requests_total",
                        operation="ListBuckets", status="403")
            assert got == len(seen), f"{got} ListBuckets counted, {len(seen)} answered"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        output += proc.stdout.readlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sum(line.startswith(READY) for line in output) == 1
    assert sum(line.startswith("ossbox stopped serving") for line in output) == 2, "".join(output)
    for pid in pids:  # reaped by the supervisor before it exited
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} still there"
    assert not [d for d in os.listdir(tmp_path) if d.startswith("ossbox-metrics-")]


def test_racing_appenders_across_workers(tmp_path):
    """Appenders on connections spread over both workers race at one position each round:
    exactly one wins, every other gets 409 PositionNotEqualToLength with the true next position."""
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--workers", "2"]).start()
    try:
        name = "race-" + uuid.uuid4().hex[:8]
        clients = [new_bucket(srv.endpoint, name) for _ in range(8)]
        clients[0].create_bucket()
        key, nthreads, rounds = "race", len(clients), 12
        barrier = threading.Barrier(nthreads, timeout=30)
        results = [[None] * nthreads for _ in range(rounds)]
        state = {"pos": 0}
        done = threading.Barrier(nthreads, timeout=30, action=lambda: state.update(
            pos=max(r[1] for r in results[state["round"]] if r[0] == "ok"), round=state["round"] + 1))
        state["round"] = 0

        def appender(t: int):
            for r in range(rounds):
                barrier.wait()
                data = f"<r{r}t{t}>".encode() * (t + 1)
                try:
                    res = clients[t].append_object(key, state["pos"], data)
                    results[r][t] = ("ok", res.next_position, res.request_id, data, res.crc)
                except oss2.exceptions.PositionNotEqualToLength as e:
                    results[r][t] = ("409", e.next_position, e.request_id, None, None)
                done.wait()

        threads = [threading.Thread(target=appender, args=(t,), daemon=True) for t in range(nthreads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not any(th.is_alive() for th in threads)
        content, crc, processes = b"", 0, set()
        for r, res in enumerate(results):
            winners = [x for x in res if x and x[0] == "ok"]
            assert len(winners) == 1, f"round {r}: {res}"
            content += winners[0][3]
            crc = crc64(winners[0][3], crc)
            assert winners[0][1] == len(content) and winners[0][4] == crc
            losers = [x for x in res if x is not winners[0]]
            assert all(x[0] == "409" and x[1] == len(content) for x in losers), f"round {r}: {res}"
            processes |= {process_of(x[2]) for x in res}
        assert len(processes) == 2, f"all appends were served by {processes}"
        assert clients[1].get_object(key).read() == content
    finally:
        assert srv.stop() == 0


def test_kill9_of_a_worker_restarts_it_and_serving_goes_on(tmp_path):
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--workers", "2"]).start()
    try:
        b = new_bucket(srv.endpoint, "kill-" + uuid.uuid4().hex[:8])
        b.create_bucket()
        b.append_object("log", 0, b"before")
        first_seen = spread(srv.endpoint, 2)
        first = set(first_seen)
        before = value(scrape(srv.endpoint + "/-/metrics"), "ossbox_requests_total",
                       operation="ListBuckets", status="403")
        assert before == len(first_seen)
        victim, survivor = worker_pids(srv.output)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim not in children(srv.proc.pid), 10, what="the dead worker reaped")
        # every new connection is answered meanwhile: by the survivor, or (those the kernel put
        # on the dead worker's socket, which the supervisor keeps open) by the restarted worker
        meanwhile = served_by(srv.endpoint, 10)
        wait_until(lambda: any("restarted (pid" in line for line in srv.output), 15,
                   what="the worker restarted")
        line = next(line for line in srv.output if "restarted (pid" in line)
        new = int(re.search(r"pid (\d+)", line).group(1))
        assert children(srv.proc.pid) == {survivor, new}
        assert any(f"(pid {victim}) died (killed by signal 9)" in line for line in srv.output)
        now_seen = spread(srv.endpoint, 2)
        now = set(now_seen)
        assert len(now - first) == 1 and set(meanwhile) <= now  # the survivor, and a new process
        assert b.append_object("log", 6, b" after").next_position == 12
        assert b.get_object("log").read() == b"before after"
        # the dead worker's counts stay in the sums
        after = value(scrape(srv.endpoint + "/-/metrics"), "ossbox_requests_total",
                      operation="ListBuckets", status="403")
        assert after == before + 10 + len(now_seen)
        # a worker that keeps dying is restarted later each time (a crash loop does not spin)
        os.kill(new, signal.SIGKILL)
        wait_until(lambda: sum("restarted (pid" in line for line in srv.output) == 2, 15,
                   what="the second restart")
        delays = re.findall(r"worker 0 \(pid \d+\) died \(killed by signal 9\); restarting it in ([0-9.]+) s",
                            "".join(srv.output))
        assert delays == ["0.5", "1.0"], delays
    finally:
        assert srv.stop() == 0


@pytest.mark.skipif(bool(TEST_DATA), reason="segment mode (OSSBOX_TEST_DATA) has no journal to replay")
def test_a_restarted_worker_replays_the_journal_while_the_other_appends(tmp_path):
    """kill -9 of one worker during durable small appends (journalled) on both workers: the
    restarted worker replays the journal -- rows of both workers -- while the other keeps
    appending to the same blobs. Every acknowledged append is there, byte for byte."""
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--workers", "2", "--durability", "fsync",
                                                         "--log-level", "info"]).start()
    stop = threading.Event()
    name = "replay-" + uuid.uuid4().hex[:8]
    new_bucket(srv.endpoint, name).create_bucket()
    kept: dict[str, bytearray] = {}
    failures: list = []

    def appender(k: int):
        b, key, n = new_bucket(srv.endpoint, name, timeout=15), f"obj-{k}", 0
        kept[key] = content = bytearray()
        while not stop.is_set():
            chunk = f"<{k}:{n}>".encode() * 40
            n += 1
            try:
                b.append_object(key, len(content), chunk)
                content += chunk
            except (oss2.exceptions.RequestError, oss2.exceptions.PositionNotEqualToLength):
                # the connection died with its worker (or a retry found it done): the append
                # took effect or not, nothing in between
                state = head_state(b, key)
                length = state[0] if state else 0
                if length == len(content) + len(chunk):
                    content += chunk
                elif length != len(content):
                    failures.append((key, length, len(content), len(chunk)))
                    return
    threads = [threading.Thread(target=appender, args=(k,)) for k in range(4)]
    try:
        for th in threads:
            th.start()
        wait_until(lambda: sum(map(len, kept.values())) > 100_000, 30, what="appends under way")
        victim = worker_pids(srv.output)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: any("restarted (pid" in line for line in srv.output), 15, what="the restart")
        grown = sum(map(len, kept.values()))
        wait_until(lambda: sum(map(len, kept.values())) > grown + 50_000, 30, what="appends after the restart")
    finally:
        stop.set()
        for th in threads:
            th.join(60)
        assert srv.stop() == 0
    assert not failures, failures
    srv.start()  # again: what was acknowledged must have been kept
    try:
        for key, content in kept.items():
            assert_object(new_bucket(srv.endpoint, name), key, bytes(content), "after the restart: ")
    finally:
        assert srv.stop() == 0
    # the restarted worker found rows to replay: at least the other's since its last flush (the
    # flusher retires rows every 0.5 s; 4 appenders add some in any such window)
    assert any(" replayed " in line and "journalled appends" in line for line in srv.output), "".join(srv.output)


def test_https_port_is_served_by_every_worker(tmp_path):
    cert, key = make_self_signed(str(tmp_path))
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--workers", "2", "--certfile", cert, "--keyfile", key,
                                                         "--https-port", "0"]).start()
    try:
        assert sum(line.startswith("ossbox serving HTTPS on ") for line in srv.output) == 1
        assert srv.output[-1].startswith(READY)
        https = set(spread(https_endpoint(srv.output), 2, verify=cert))
        assert set(spread(srv.endpoint, 2)) == https  # the same two processes on both ports
        srv.proc.send_signal(signal.SIGINT)  # Ctrl-C stops as SIGTERM does
        assert srv.proc.wait(30) == 0
    finally:
        assert srv.stop() == 0
    wait_until(lambda: sum(line.startswith("ossbox stopped serving") for line in srv.output) == 2, 10,
               what="both workers' stop lines")


def test_a_worker_that_cannot_start_stops_the_server(tmp_path):
    """A setting no worker can start with is reported once and ends the server with the status a
    single process would have, rather than a restart loop."""
    (tmp_path / "file").write_text("x")
    results = []
    for workers in ("1", "2"):
        r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--port", "0", "--workers", workers,
                            "--data-dir", str(tmp_path / "file" / "d"), "--access-key-id", ACCESS_KEY_ID,
                            "--access-key-secret", ACCESS_KEY_SECRET],
                           capture_output=True, text=True, timeout=60)
        results.append(r)
        assert r.returncode != 0 and "Not a directory" in r.stderr, r.stderr
        assert READY not in r.stdout
    single, several = results
    assert several.returncode == single.returncode
    assert several.stderr.count("Not a directory") == 1, several.stderr
    assert "could not start" in several.stderr


def test_workers_1_runs_no_supervisor(tmp_path):
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--workers", "1"]).start()
    try:
        assert requests.get(srv.endpoint + "/-/health/ready", timeout=10).status_code == 200
        assert children(srv.proc.pid) == set()
        assert not any(line.startswith("ossbox workers:") for line in srv.output)
    finally:
        assert srv.stop() == 0


def test_workers_value_is_checked(tmp_path, monkeypatch, capsys):
    """--workers, OSSBOX_WORKERS and the config key `workers` are checked alike before anything starts."""
    from ossbox.cli import main

    (tmp_path / "c.toml").write_text("workers = 0\n")
    for args, env in [(["--workers", "0"], None), (["--workers", "two"], None), ([], "-1"),
                      (["--config", str(tmp_path / "c.toml")], None)]:
        if env is not None:
            monkeypatch.setenv("OSSBOX_WORKERS", env)
        assert main(["server", "--port", "0", "--data-dir", str(tmp_path / "d"), *args]) == 1
        err = capsys.readouterr().err
        assert "from 1 to 1024" in err and ("OSSBOX_WORKERS=" in err) == (env is not None), err
        monkeypatch.delenv("OSSBOX_WORKERS", raising=False)
    assert not (tmp_path / "d").exists()

def test_access_log_lines_of_both_workers_stay_whole(tmp_path):
    """Both workers log ~1 KiB lines to one file and to one stdout pipe at once: every line is
    whole, once."""
    log_file = tmp_path / "access.log"
    servers = [ServerProcess(str(tmp_path / "f"), extra_args=["--workers", "2", "--access-log", str(log_file),
                                                               "--log-format", "json"]).start(),
               ServerProcess(str(tmp_path / "o"), extra_args=["--workers", "2", "--access-log", "-",
                                                               "--log-format", "json"]).start()]
    ids = [[], []]

    def client(n: int, t: int):
        with requests.Session() as s:
            for i in range(40):
                resp = s.get(f"{servers[n].endpoint}/no-such-bucket/{'k' * 900}-{t}-{i}", timeout=30,
                             headers={"Connection": "close"})  # a new connection: either worker
                ids[n].append(resp.headers["x-oss-request-id"])
    threads = [threading.Thread(target=client, args=(n, t)) for n in (0, 1) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    for srv in servers:
        assert srv.stop() == 0
    out_lines = [line for line in servers[1].output if line.startswith("{")]
    for n, lines in enumerate((log_file.read_text().splitlines(keepends=True), out_lines)):
        assert all(line.endswith("}\n") for line in lines)
        logged = [json.loads(line)["request_id"] for line in lines]
        assert sorted(logged) == sorted(ids[n]) and len(ids[n]) == 240
        assert len({process_of(i) for i in logged}) == 2, "one worker served every request"
