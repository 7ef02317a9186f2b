"""Graceful shutdown (issue 13): on SIGTERM/SIGINT the server stops accepting connections, lets the
requests in flight finish within --shutdown-timeout, cuts those still running, and says so.

Driven through real `ossbox server` processes and oss2. A request is held "in flight" by a body
generator that sends its first chunk and then waits for the test's go-ahead, so nothing here
depends on timing: the test decides when the request may complete (after the signal, or never
within the bound). An append that finished is acknowledged and must be there after a restart; one
that was cut must leave the object exactly as it was (no torn bytes), the next append at the old
position must succeed, and a cut PutObject of a new key must leave no object.
"""
from __future__ import annotations

import re
import signal
import socket
import threading
import uuid

import oss2
import pytest

from appendkit import det_bytes, new_bucket, wait_until
from serverproc import ServerProcess

CHUNK = 64 * 1024


class HeldBody:
    """An iterable request body: its first chunk, then (once `go` is set) the rest."""

    def __init__(self, data: bytes):
        self.data = data
        self.started = threading.Event()
        self.go = threading.Event()

    def __iter__(self):
        yield self.data[:CHUNK]
        self.started.set()
        self.go.wait(60)
        for i in range(CHUNK, len(self.data), CHUNK):
            yield self.data[i:i + CHUNK]


def _in_thread(fn):
    result = {}

    def run():
        try:
            result["ok"] = fn()
        except Exception as exc:  # noqa: BLE001 - the test looks at which one it was
            result["error"] = exc
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _stopping(srv: ServerProcess) -> bool:
    return any(line.startswith("ossbox stopping:") for line in srv.output)


def _summary(srv: ServerProcess) -> str:
    lines = [line for line in srv.output if line.startswith("ossbox stopped serving")]
    assert len(lines) == 1, "".join(srv.output)
    return lines[0]


def _server_side_unread(port: int) -> list:
    """Bytes waiting in the kernel receive queue of each established server-side connection on
    port (/proc/net/tcp): 0 means the server has read everything its client sent."""
    queues = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, queue = fields[1], fields[3], fields[4]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01":  # ESTABLISHED
                queues.append(int(queue.split(":")[1], 16))
    return queues


def _wait_in_flight(srv: ServerProcess, bodies) -> None:
    """Each body sent its first chunk (so its request head too), and the server read it all: the
    server parses what it reads at once and starts the request's task on the complete head, so
    both requests are then in flight on the server, not in a socket buffer."""
    for body in bodies:
        assert body.started.wait(30), "the request body never started"
    wait_until(lambda: (lambda q: len(q) >= len(bodies) and not any(q))(_server_side_unread(srv.port)),
               30, what="the server to read the request heads")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_append_and_upload_finish_after_the_signal(tmp_path, sig):
    srv = ServerProcess(str(tmp_path / "data"), extra_args=["--shutdown-timeout", "60"]).start()
    name = "drain-" + uuid.uuid4().hex[:8]
    old, new = det_bytes("old", 100_000), det_bytes("new", 10 * CHUNK + 123)
    try:
        b = new_bucket(srv.endpoint, name)
        b.create_bucket()
        b.append_object("log", 0, old)
        append_body, put_body = HeldBody(new), HeldBody(new)
        appending, appended = _in_thread(
            lambda: new_bucket(srv.endpoint, name).append_object("log", len(old), append_body))
        putting, put = _in_thread(lambda: new_bucket(srv.endpoint, name).put_object("up", put_body))
        _wait_in_flight(srv, [append_body, put_body])
        srv.proc.send_signal(sig)
        wait_until(lambda: _stopping(srv), 30, what="the stopping line")
        stopping = next(line for line in srv.output if line.startswith("ossbox stopping:"))
        assert "2 request(s) in flight" in stopping, stopping
        # it no longer accepts connections, while the two requests are still running
        wait_until(lambda: _refused(srv.port), 10, what="the listener to close")
        assert appending.is_alive() and putting.is_alive()
        append_body.go.set()
        put_body.go.set()
        appending.join(60)
        putting.join(60)
        assert "error" not in appended and "error" not in put, (appended, put)
        assert appended["ok"].next_position == len(old) + len(new)
        assert srv.proc.wait(60) == 0
        summary = _summary(srv)
        assert re.search(r"2 request\(s\) were in flight, 2 finished, 0 cut", summary), summary
    finally:
        srv.kill()

    srv = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = new_bucket(srv.endpoint, name)
        assert b.get_object("log").read() == old + new
        assert b.get_object("up").read() == new
    finally:
        srv.stop()


def test_requests_beyond_the_bound_are_cut_cleanly(tmp_path):
    srv = ServerProcess(str(tmp_path / "data"), extra_args=["--shutdown-timeout", "1"]).start()
    name = "cut-" + uuid.uuid4().hex[:8]
    old, new = det_bytes("old", 100_000), det_bytes("new", 10 * CHUNK + 123)
    append_body, put_body = HeldBody(new), HeldBody(new)
    try:
        b = new_bucket(srv.endpoint, name)
        b.create_bucket()
        b.append_object("log", 0, old)
        appending, appended = _in_thread(
            lambda: new_bucket(srv.endpoint, name).append_object("log", len(old), append_body))
        putting, put = _in_thread(lambda: new_bucket(srv.endpoint, name).put_object("up", put_body))
        _wait_in_flight(srv, [append_body, put_body])
        srv.proc.send_signal(signal.SIGTERM)
        # the bodies never complete within the bound: the server cuts both and exits cleanly
        assert srv.proc.wait(60) == 0
        stopping = next(line for line in srv.output if line.startswith("ossbox stopping:"))
        assert "2 request(s) in flight" in stopping, stopping
        summary = _summary(srv)
        assert re.search(r"2 request\(s\) were in flight, 0 finished, 2 cut", summary), summary
        assert "--shutdown-timeout 1 s exceeded" in summary, summary
        append_body.go.set()
        put_body.go.set()
        appending.join(60)
        putting.join(60)
        assert "error" in appended and "error" in put, (appended, put)   # neither was acknowledged
    finally:
        append_body.go.set()
        put_body.go.set()
        srv.kill()

    srv = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = new_bucket(srv.endpoint, name)
        # the cut append left the object exactly as it was: no torn bytes
        assert b.head_object("log").content_length == len(old)
        assert b.get_object("log").read() == old
        with pytest.raises(oss2.exceptions.NoSuchKey):
            b.get_object("up")
        assert [o.key for o in oss2.ObjectIterator(b)] == ["log"]
        # and the next append at the old position is the one that lands
        assert b.append_object("log", len(old), b"tail").next_position == len(old) + 4
        assert b.get_object("log").read() == old + b"tail"
    finally:
        srv.stop()


def test_idle_connections_do_not_hold_up_the_stop(tmp_path):
    """Clients idling in their connection pools are closed at once: with nothing in flight the
    stop does not wait for --shutdown-timeout."""
    srv = ServerProcess(str(tmp_path / "data"), extra_args=["--shutdown-timeout", "600"]).start()
    try:
        buckets = [new_bucket(srv.endpoint, "idle-" + uuid.uuid4().hex[:8]) for _ in range(3)]
        for b in buckets:
            b.create_bucket()   # each keeps its connection open in its pool
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(60) == 0
        stopping = next(line for line in srv.output if line.startswith("ossbox stopping:"))
        assert "0 request(s) in flight" in stopping, stopping
        assert "0 request(s) were in flight, 0 finished, 0 cut" in _summary(srv)
    finally:
        srv.kill()
