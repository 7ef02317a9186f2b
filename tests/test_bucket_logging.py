"""Bucket logging through the official SDKs against a real server: Put/Get/DeleteBucketLogging with
OSS's errors, and the access logs written as objects in the target bucket in OSS's format and
naming (docs/website.md, "Bucket logging")."""
import re
import time
import uuid

import oss2
import pytest
import requests

import alibabacloud_oss_v2 as v2oss
from conftest import bucket_pair, make_v2_client, v2_error
import pgtest
from pgtest import PG_URL, schema_url
from serverproc import ACCESS_KEY_ID, ServerProcess

pg_schema = pgtest.pg_schema   # a fixture: a fresh PostgreSQL schema


@pytest.fixture(scope="module")
def log_server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-logging")),
                         extra_args=["--logging-interval", "0.5"]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture
def buckets(log_server):
    yield from bucket_pair(log_server.endpoint)


def wait_for_logs(target, prefix, count=1, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        keys = [o.key for o in oss2.ObjectIterator(target, prefix=prefix)]
        if len(keys) >= count or time.monotonic() > deadline:
            return keys
        time.sleep(0.2)


def test_put_get_delete(buckets):
    source, target = buckets
    assert source.get_bucket_logging().target_bucket == ""
    for prefix in ["日志+/", "logs/", ""]:
        source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, prefix))
        got = source.get_bucket_logging()
        assert (got.target_bucket, got.target_prefix) == (target.bucket_name, prefix)
    source.delete_bucket_logging()
    source.delete_bucket_logging()  # idempotent
    assert source.get_bucket_logging().target_bucket == ""


def test_put_without_logging_enabled_turns_it_off(buckets):
    source, target = buckets
    source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, "p/"))
    source.put_bucket_logging(oss2.models.BucketLogging("", ""))  # <BucketLoggingStatus/>
    assert source.get_bucket_logging().target_bucket == ""


def test_target_bucket_must_exist(log_server, buckets):
    source, _ = buckets
    client = make_v2_client(log_server.endpoint)
    err = v2_error(client.put_bucket_logging, v2oss.models.PutBucketLoggingRequest(
        bucket=source.bucket_name, bucket_logging_status=v2oss.models.BucketLoggingStatus(
            logging_enabled=v2oss.models.LoggingEnabled(target_bucket="no-such-" + uuid.uuid4().hex[:10],
                                                        target_prefix="x/"))))
    assert err.status_code == 400 and err.code == "InvalidTargetBucketForLogging"
    assert source.get_bucket_logging().target_bucket == ""


LINE = re.compile(r'^(\S+) - - \[[^\]]+\] "(\w+) (\S+) HTTP/1.1" (\d{3}) (\d+) (\d+) "[^"]*" "[^"]*" "[^"]*" '
                  r'"([0-9A-F]{24})" "true" "[^"]*" "(\w*)" "([^"]*)" "([^"]*)" \S+ \d+ "([^"]*)" .*"([^"]*)"$')


def test_access_logs_are_written_to_the_target(log_server, buckets):
    source, target = buckets
    source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, "access/"))
    put = source.put_object("a b.txt", b"hello")
    got = source.get_object("a b.txt")
    got.read()
    with pytest.raises(oss2.exceptions.NoSuchKey) as missing:
        source.get_object("missing")
    anon = requests.get(f"{log_server.endpoint}/{source.bucket_name}/a%20b.txt")
    assert anon.status_code == 403
    keys = wait_for_logs(target, "access/")
    assert keys, "no access log written"
    name = re.compile(rf"^access/{source.bucket_name}\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]+$")
    assert all(name.match(k) for k in keys), keys
    lines = []
    # the four requests may straddle a flush: read until all are there
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = [ln for k in wait_for_logs(target, "access/")
                 for ln in target.get_object(k).read().decode().splitlines()]
        if len(lines) >= 4:
            break
        time.sleep(0.2)
    parsed = {m.group(7): m for m in map(LINE.match, lines) if m}
    assert len(parsed) == len(lines), lines
    p = parsed[put.request_id]
    assert (p.group(2), p.group(4), p.group(8), p.group(9)) == ("PUT", "200", "PutObject", source.bucket_name)
    assert p.group(10) == "a%20b.txt" and p.group(12) == ACCESS_KEY_ID
    g = parsed[got.request_id]
    assert (g.group(2), g.group(4), g.group(8)) == ("GET", "200", "GetObject") and int(g.group(5)) == 5
    m = parsed[missing.value.request_id]
    assert (m.group(4), m.group(11)) == ("404", "NoSuchKey")
    a = parsed[anon.headers["x-oss-request-id"]]
    assert (a.group(4), a.group(11), a.group(12)) == ("403", "AccessDenied", "-")


def test_logs_stop_after_delete(buckets):
    source, target = buckets
    source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, "gone/"))
    source.delete_bucket_logging()
    unlogged = source.put_object("k", b"v")
    source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, "on/"))
    marker = source.put_object("k2", b"v")
    wait_for_logs(target, "on/")
    # lines are buffered together: once k2's line is written, k's would have been too
    text = "".join(target.get_object(o.key).read().decode() for o in oss2.ObjectIterator(target))
    assert marker.request_id in text
    assert unlogged.request_id not in text


# -- several nodes ---------------------------------------------------------------------------------------
def test_two_nodes_each_deliver_their_lines(tmp_path, pg_schema):
    """Two nodes on one PostgreSQL and one segment store: each writes the lines of the requests it
    served as its own objects (names never collide), and every line arrives exactly once."""
    store = tmp_path / "segments"
    store.mkdir()
    args = ["--meta", schema_url(PG_URL, pg_schema), "--data", f"file://{store}", "--logging-interval", "0.3"]
    nodes = [ServerProcess(str(tmp_path / f"n{i}"), extra_args=args).start() for i in (1, 2)]
    try:
        pair = bucket_pair(nodes[0].endpoint)
        source, target = next(pair)
        source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, "multi/"))
        ids = []
        for i in range(10):
            b = oss2.Bucket(source.auth, nodes[i % 2].endpoint, source.bucket_name)
            ids.append(b.put_object(f"k{i}", b"v").request_id)
        deadline = time.monotonic() + 20
        while True:
            text = "".join(target.get_object(k).read().decode() for k in wait_for_logs(target, "multi/"))
            if all(i in text for i in ids) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [text.count(f'"{i}"') for i in ids] == [1] * len(ids)
        names = [k for k in wait_for_logs(target, "multi/")]
        assert len({n.rsplit("-", 1)[1][:12] for n in names}) == 2   # one writer id per node
        next(pair, None)   # removes the buckets
    finally:
        for n in nodes:
            n.stop()
