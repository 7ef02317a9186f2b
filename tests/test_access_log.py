"""The server's access log (--access-log, --log-format; issue 13): one line per request with time,
request id, remote address, AccessKeyId (or anonymous), OSS operation, bucket, key, status, EC,
bytes in/out and latency -- for signed, anonymous and refused requests, as text and as JSON."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import oss2
import pytest
import requests

from appendkit import new_bucket, wait_until
from serverproc import ACCESS_KEY_ID, ServerProcess
from test_connections import connect, read_response
from test_metrics import scrape, value

TEXT_FIELDS = ("time", "request_id", "remote", "access_key_id", "operation", "bucket", "key", "status", "code",
               "ec", "bytes_in", "bytes_out", "latency_ms")


def parse_text(line: str) -> dict:
    parts = line.rstrip("\n").split(" ")
    assert len(parts) == len(TEXT_FIELDS), line
    rec = {k: (None if v == "-" else v) for k, v in zip(TEXT_FIELDS, parts)}
    for k in ("status", "bytes_in", "bytes_out"):
        rec[k] = int(rec[k])
    rec["latency_ms"] = float(rec["latency_ms"])
    return rec


def _traffic(endpoint: str) -> tuple[str, list[str]]:
    """Signed, anonymous and refused requests; returns the bucket and the request ids, in order."""
    name = "alog-" + uuid.uuid4().hex[:8]
    b = new_bucket(endpoint, name)
    ids = [b.create_bucket().request_id]
    ids.append(b.append_object("dir/a key", 0, b"x" * 100).request_id)
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as conflict:
        b.append_object("dir/a key", 0, b"y")
    ids.append(conflict.value.request_id)
    ids.append(b.get_object("dir/a key").request_id)
    anon = requests.get(f"{endpoint}/{name}/dir/a%20key")  # anonymous, private bucket: 403
    assert anon.status_code == 403
    ids.append(anon.headers["x-oss-request-id"])
    return name, ids


def _check(records: list[dict], name: str, ids: list[str]) -> None:
    by_id = {r["request_id"]: r for r in records}
    put_bucket, append, conflict, get, anon = (by_id[i] for i in ids)
    for r in (put_bucket, append, conflict, get, anon):
        assert r["remote"] == "127.0.0.1" and r["bucket"] == name
        assert r["time"].endswith("Z") and r["latency_ms"] >= 0
    assert (put_bucket["operation"], put_bucket["status"], put_bucket["key"]) == ("PutBucket", 200, None)
    assert (append["access_key_id"], append["operation"], append["status"]) == (ACCESS_KEY_ID, "AppendObject", 200)
    assert append["bytes_in"] == 100 and append["ec"] is None
    assert (conflict["operation"], conflict["status"], conflict["code"], conflict["ec"]) == (
        "AppendObject", 409, "PositionNotEqualToLength", "0026-00000016")
    assert conflict["bytes_out"] > 0  # the error document
    assert (get["operation"], get["status"], get["bytes_out"]) == ("GetObject", 200, 100)
    assert (anon["access_key_id"], anon["operation"], anon["status"], anon["code"]) == (
        "anonymous", "GetObject", 403, "AccessDenied")
    assert anon["ec"] and anon["ec"].startswith("0003-")


def test_text_access_log_to_a_file(tmp_path):
    path = tmp_path / "access.log"
    srv = ServerProcess(str(tmp_path / "d"), extra_args=["--access-log", str(path)]).start()
    try:
        name, ids = _traffic(srv.endpoint)

        def lines():
            return path.read_text().splitlines() if path.exists() else []
        wait_until(lambda: len(lines()) >= len(ids), 10, what="the access log lines")
        records = [parse_text(line) for line in lines()]
        _check(records, name, ids)
        # a key with a space is one field (percent-encoded), not two
        assert {r["key"] for r in records if r["operation"] == "AppendObject"} == {"dir/a%20key"}
        # metrics and health requests are not OSS requests: not logged
        requests.get(srv.endpoint + "/-/health/live")
    finally:
        assert srv.stop() == 0, "".join(srv.output)
    assert len(lines()) == len(ids)  # everything queued is written by a clean stop


def test_json_access_log_to_stdout_from_the_environment(tmp_path):
    srv = ServerProcess(str(tmp_path / "d"), env={"OSSBOX_ACCESS_LOG": "-", "OSSBOX_LOG_FORMAT": "json"}).start()
    try:
        name, ids = _traffic(srv.endpoint)

        def records():
            return [json.loads(line) for line in list(srv.output) if line.startswith("{")]
        wait_until(lambda: len(records()) >= len(ids), 10, what="the access log lines")
        recs = records()
        _check(recs, name, ids)
        assert {r["key"] for r in recs if r["operation"] == "AppendObject"} == {"dir/a key"}
    finally:
        assert srv.stop() == 0, "".join(srv.output)


@pytest.mark.parametrize("args", [["--log-format", "xml"], ["--access-log", "/nonexistent-dir/x.log"]])
def test_bad_access_log_flags_are_usage_errors(tmp_path, args):
    run = subprocess.run([sys.executable, "-m", "ossbox", "server", "--port", "0", "--data-dir", str(tmp_path),
                          *args], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "log" in run.stderr and "Traceback" not in run.stderr, run.stderr


def _answer(srv: ServerProcess, data: bytes):
    """Send raw bytes on a connection of their own: (status, headers, body) of the answer."""
    with connect(srv, timeout=10.0) as s:
        s.sendall(data)
        return read_response(s)


def test_requests_the_connection_refuses_are_logged_and_counted(tmp_path):
    """Malformed HTTP, a head too large or too slow, a transfer coding other than chunked: answered by
    the connection layer before any routing, yet each is one access-log line and is counted, like
    every request the server answers. A bad chunk in the body of a routed request is the request's
    own line, with the answer the client got."""
    path = tmp_path / "access.log"
    srv = ServerProcess(str(tmp_path / "d"),
                        extra_args=["--access-log", str(path), "--log-format", "json", "--header-timeout", "1"]).start()
    try:
        name = "refused-" + uuid.uuid4().hex[:8]
        new_bucket(srv.endpoint, name).create_bucket()
        before = scrape(srv.endpoint + "/-/metrics")
        answers = [
            _answer(srv, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n"),
            _answer(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n"),
            _answer(srv, b"PUT /%s/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" % name.encode()),
            _answer(srv, b"GET /%s/slow HTTP/1.1\r\nHost: x\r\n" % name.encode()),  # never ends its head
            _answer(srv, b"PUT /%s/chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"zz\r\nhello\r\n0\r\n\r\n" % name.encode()),
        ]
        codes = ["BadRequest", "RequestHeaderSectionTooLarge", "BadRequest", "RequestTimeout", "BadRequest"]
        for (status, _, body), code in zip(answers, codes):
            assert status == 400 and f"<Code>{code}</Code>".encode() in body, body

        def records():
            lines = path.read_text().splitlines() if path.exists() else []
            return [json.loads(line) for line in lines]
        wait_until(lambda: len(records()) >= 1 + len(answers), 10, what="the access log lines")
        by_id = {r["request_id"]: r for r in records()}
        got = []
        for answer in answers:
            rid = answer[1]["x-oss-request-id"]
            got.append(by_id.pop(rid, None))  # the request id the client got is the line's
        unrouted, routed = got[:4], got[4]
        for rec, code in zip(unrouted, codes):
            assert rec is not None
            assert (rec["status"], rec["code"], rec["operation"], rec["remote"]) == (400, code, "Unknown", "127.0.0.1")
            assert rec["ec"] and rec["bytes_out"] > 0 and rec["access_key_id"] == "anonymous"
        assert unrouted[3]["latency_ms"] >= 900  # the head's clock: --header-timeout 1
        if routed is None:  # the application's own request id: found by its key
            routed = next(r for r in by_id.values() if r["key"] == "chunky")
        assert (routed["status"], routed["code"], routed["operation"], routed["bucket"]) == (
            400, "BadRequest", "PutObject", name)
        after = scrape(srv.endpoint + "/-/metrics")
        for code, n in (("BadRequest", 3), ("RequestHeaderSectionTooLarge", 1), ("RequestTimeout", 1)):
            assert value(after, "ossbox_connection_refusals_total", code=code) - value(
                before, "ossbox_connection_refusals_total", code=code) == n
        assert value(after, "ossbox_requests_total", operation="Unknown", status="400") - value(
            before, "ossbox_requests_total", operation="Unknown", status="400") == 4
        assert value(after, "ossbox_requests_total", operation="PutObject", status="400") - value(
            before, "ossbox_requests_total", operation="PutObject", status="400") == 1
    finally:
        assert srv.stop() == 0, "".join(srv.output)
