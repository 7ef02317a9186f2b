"""Prometheus metrics at GET /-/metrics (issue 13): no credentials, the exposition parsed with
prometheus-client's own parser, and counters that move with what oss2 does -- appends, a 409
PositionNotEqualToLength, bytes in and out, metadata commits and the WAL's group commit."""
from __future__ import annotations

import socket
import uuid

import oss2
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from appendkit import new_bucket
from serverproc import TEST_DATA, TEST_META, ServerProcess
from test_bad_input import send


def scrape(url: str) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counters_move_with_appends_and_a_409(server):
    url = server.endpoint + "/-/metrics"
    b = new_bucket(server.endpoint, "metrics-" + uuid.uuid4().hex[:8])
    b.create_bucket()
    before = scrape(url)
    b.append_object("log", 0, b"a" * 1000)
    b.append_object("log", 1000, b"b" * 24)
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength):
        b.append_object("log", 0, b"stale")
    assert b.get_object("log").read() == b"a" * 1000 + b"b" * 24
    after = scrape(url)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ossbox_requests_total", operation="AppendObject", status="200") == 2
    assert delta("ossbox_requests_total", operation="AppendObject", status="409") == 1
    assert delta("ossbox_requests_total", operation="GetObject", status="200") == 1
    assert delta("ossbox_appends_total") == 2
    assert delta("ossbox_append_position_conflicts_total") == 1
    assert delta("ossbox_request_duration_seconds_count", operation="AppendObject", status="200") == 2
    assert delta("ossbox_request_duration_seconds_bucket", operation="AppendObject", status="409", le="+Inf") == 1
    # bytes the server read: the refused append is answered before its body is read
    assert delta("ossbox_request_bytes_total", operation="AppendObject") == 1000 + 24
    assert delta("ossbox_response_bytes_total", operation="GetObject") == 1024
    assert delta("ossbox_metadata_commit_seconds_count") >= 2
    if not TEST_META and not TEST_DATA:  # the SQLite WAL's group commit
        assert delta("ossbox_wal_fsync_group_size_count") >= 1
        assert delta("ossbox_wal_fsync_group_size_sum") >= 1
    assert value(after, "ossbox_disk_free_bytes") > 0
    assert value(after, "ossbox_open_connections") >= 1      # the scrape's own connection
    assert value(after, "ossbox_requests_in_flight") == 0    # the scrape is not an OSS request


def test_metrics_need_no_credentials_and_only_path_style_reaches_them(server):
    # a bucket named "-" cannot exist: /-/metrics is never an OSS request, with or without a signature
    resp = requests.get(server.endpoint + "/-/metrics", headers={"Authorization": "OSS nobody:bad"})
    assert resp.status_code == 200 and "ossbox_requests_total" in resp.text
    assert requests.post(server.endpoint + "/-/metrics").status_code == 405
    # virtual-hosted, /-/metrics is the key "-/metrics" of the Host's bucket: an ordinary request
    port = server.endpoint.rsplit(":", 1)[1]
    name = "vh-" + uuid.uuid4().hex[:8]
    b = new_bucket(server.endpoint, name)
    b.create_bucket()
    b.put_object("-/metrics", b"an object")
    resp = requests.get(server.endpoint + "/-/metrics", headers={"Host": f"{name}.localhost:{port}"})
    assert resp.status_code == 403 and b"<Code>AccessDenied</Code>" in resp.content  # anonymous, private bucket
    st, _, body = send(server, "GET", "/-/metrics", headers={"Host": f"{name}.localhost:{port}"},
                       bucket=name, key="-/metrics")
    assert (st, body) == (200, b"an object")
    assert b.get_object("-/metrics").read() == b"an object"  # path-style: /<bucket>/-/metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_port_serves_them_alone(tmp_path):
    port = _free_port()
    srv = ServerProcess(str(tmp_path / "d"), env={"OSSBOX_METRICS_PORT": str(port)}).start()
    try:
        b = new_bucket(srv.endpoint, "mp-" + uuid.uuid4().hex[:8])
        b.create_bucket()
        b.put_object("k", b"v")
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        assert value(samples, "ossbox_requests_total", operation="PutObject", status="200") == 1
        assert requests.get(srv.endpoint + "/-/metrics").status_code == 404
        assert requests.get(srv.endpoint + "/-/health/live").status_code == 200
    finally:
        assert srv.stop() == 0, "".join(srv.output)
