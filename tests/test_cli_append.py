"""`ossbox append` and `ossbox tail`: the real CLI as a subprocess against a real `ossbox server`.

Contents and CRCs are checked through oss2 and an independent CRC-64 (crcmod). The exactly-once
tests put tests/faultproxy.py between the CLI and the server, losing append responses, losing
append requests, delivering a request late, and letting another writer append in between.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import crcmod
import oss2
import pytest

from faultproxy import DELAY_REQUEST, DROP_REQUEST, DROP_RESPONSE, FaultProxy
import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, default_sigint

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
TIMEOUT = 60


@pytest.fixture
def env(server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    e = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_"))}
    e.update(OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
             OSS_REGION="cn-hangzhou", OSS_ENDPOINT=server.endpoint, HOME=str(home))
    return e


def cli(env, *args, input=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    return cliproc.run(args, env=env, input=input, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def assert_appendable(bucket, key: str, expected: bytes) -> None:
    h = bucket.head_object(key)
    assert h.object_type == "Appendable"
    assert h.content_length == len(expected)
    assert int(h.headers["x-oss-hash-crc64ecma"]) == crc64(expected)
    assert bucket.get_object(key).read() == expected


def write_file(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# -- basic append --------------------------------------------------------------------------------
def test_append_local_file_twice(env, bucket, bucket_name, tmp_path):
    a, b = os.urandom(3000), os.urandom(5000)
    url = f"oss://{bucket_name}/logs/app.log"
    r = ok(cli(env, "append", write_file(tmp_path, "a", a), url))
    out = r.stdout.decode()
    assert f"Success: appended 3000 bytes to {url}, object size 3000" in out
    assert out.rstrip().endswith("(s) elapsed")
    assert r.stderr == b""   # not a TTY: no progress bar
    r = ok(cli(env, "append", write_file(tmp_path, "b", b), url, "-q"))
    assert r.stdout.decode().strip() == f"Success: appended 5000 bytes to {url}, object size 8000"
    assert_appendable(bucket, "logs/app.log", a + b)


def test_append_stdin(env, bucket, bucket_name):
    url = f"oss://{bucket_name}/piped"
    ok(cli(env, "append", "-", url, input=b"first line\n"))
    ok(cli(env, "append", "-", url, input=b"second line\n"))
    ok(cli(env, "append", "-", url, input=b""))   # nothing to add: object unchanged
    assert_appendable(bucket, "piped", b"first line\nsecond line\n")
    ok(cli(env, "append", "-", f"oss://{bucket_name}/dir%2Fa%20b.log", "--encoding-type", "url", input=b"x"))
    assert_appendable(bucket, "dir/a b.log", b"x")


def test_append_empty_input_creates_object(env, bucket, bucket_name):
    ok(cli(env, "append", "-", f"oss://{bucket_name}/empty", "--content-type", "text/x-log", input=b""))
    h = bucket.head_object("empty")
    assert (h.object_type, h.content_length, h.content_type) == ("Appendable", 0, "text/x-log")


def test_append_stdin_unbounded_pipe_flushes_partial_parts(env, bucket, bucket_name):
    """A slow producer (tail -f | ossbox append -): lines show up while the pipe is still open."""
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "append", "-", f"oss://{bucket_name}/live",
                             "--flush-interval", "0.2"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        expected = b""
        for i in range(3):
            line = f"event {i}\n".encode()
            proc.stdin.write(line)
            proc.stdin.flush()
            expected += line
            deadline = time.monotonic() + 10
            while True:
                try:
                    if bucket.get_object("live").read() == expected:
                        break
                except oss2.exceptions.NoSuchKey:
                    pass
                assert time.monotonic() < deadline, f"{expected!r} not appended while the pipe is open"
                time.sleep(0.05)
        assert proc.poll() is None
        out, err = proc.communicate(timeout=TIMEOUT)   # closes stdin: EOF
        assert proc.returncode == 0, err
        assert f"appended {len(expected)} bytes".encode() in out
        assert_appendable(bucket, "live", expected)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_append_from_oss_source(env, bucket, bucket_name):
    normal = os.urandom(70_000)
    bucket.put_object("src/normal.bin", normal, headers={"Content-Encoding": "gzip"})  # copied byte for byte
    url = f"oss://{bucket_name}/dst"
    ok(cli(env, "append", "--part-size", "16K", f"oss://{bucket_name}/src/normal.bin", url))
    assert_appendable(bucket, "dst", normal)
    # an appendable source, even the destination itself (its length is taken once, at the start)
    ok(cli(env, "append", "--part-size", "20K", url, url))
    assert_appendable(bucket, "dst", normal + normal)
    r = cli(env, "append", f"oss://{bucket_name}/no-such-source", url)
    assert r.returncode == 2, r.stderr
    assert_appendable(bucket, "dst", normal + normal)


def test_creation_flags_apply_only_when_created(env, bucket, bucket_name, tmp_path):
    url = f"oss://{bucket_name}/flags.log"
    first = write_file(tmp_path, "first", b"hello\n")
    ok(cli(env, "append", first, url, "--metadata", "owner=alice,team=infra", "--metadata", "x-oss-meta-env=prod",
           "--tagging", "project=ossbox", "--tagging", "stage=test,kind=log file",
           "--acl", "public-read", "--storage-class", "IA", "--content-type", "text/plain",
           "--cache-control", "no-cache", "--content-disposition", "attachment; filename=f.log",
           "--content-encoding", "identity", "--expires", "2030-10-12T00:00:00.000Z"))

    def check():
        h = bucket.head_object("flags.log")
        assert h.headers["x-oss-meta-owner"] == "alice"
        assert h.headers["x-oss-meta-team"] == "infra"
        assert h.headers["x-oss-meta-env"] == "prod"
        assert h.content_type == "text/plain"
        assert h.headers["Cache-Control"] == "no-cache"
        assert h.headers["Content-Disposition"] == "attachment; filename=f.log"
        assert h.headers["Content-Encoding"] == "identity"
        assert h.headers["Expires"] == "Sat, 12 Oct 2030 00:00:00 GMT"
        assert h.headers["x-oss-storage-class"] == "IA"
        tags = bucket.get_object_tagging("flags.log").tag_set.tagging_rule
        assert tags == {"project": "ossbox", "stage": "test", "kind": "log file"}
        assert bucket.get_object_acl("flags.log").acl == "public-read"

    check()
    second = write_file(tmp_path, "second", b"world\n")
    ok(cli(env, "append", second, url, "--metadata", "owner=bob", "--tagging", "project=other",
           "--acl", "private", "--content-type", "application/json", "--cache-control", "max-age=1"))
    check()
    assert_appendable(bucket, "flags.log", b"hello\nworld\n")


def test_append_to_normal_object_fails(env, bucket, bucket_name, tmp_path):
    bucket.put_object("normal", b"not appendable")
    r = cli(env, "append", write_file(tmp_path, "x", b"more"), f"oss://{bucket_name}/normal")
    assert r.returncode == 2
    assert b"Error:" in r.stderr and b"not an appendable object" in r.stderr
    assert bucket.get_object("normal").read() == b"not appendable"


def test_usage_errors(env, bucket_name, tmp_path):
    assert cli(env, "append", str(tmp_path / "missing"), f"oss://{bucket_name}/k").returncode == 1
    assert cli(env, "append", "-", "not-a-url", input=b"x").returncode == 1
    assert cli(env, "append", "-", f"oss://{bucket_name}/k", "--part-size", "lots", input=b"x").returncode == 1
    assert cli(env, "append", "-", f"oss://{bucket_name}/k", "--metadata", "novalue", input=b"x").returncode == 1


def test_multi_part_append_lands_intact(env, bucket, bucket_name, server, tmp_path):
    data = os.urandom(1_000_000 + 123)
    with FaultProxy(server.endpoint) as proxy:
        ok(cli(env, "append", write_file(tmp_path, "big", data), f"oss://{bucket_name}/big",
               "--part-size", "128K", "-e", proxy.endpoint))
        assert proxy.actions() == ["forward"] * 8   # ceil(1000123 / 131072) appends, one each
    assert_appendable(bucket, "big", data)


# -- exactly once --------------------------------------------------------------------------------
def test_exactly_once_with_lost_responses_and_requests(env, bucket, bucket_name, server, tmp_path):
    data = os.urandom(10 * 4096 + 77)   # 11 parts of 4 KiB
    existing = b"already there\n"
    bucket.append_object("eo", 0, existing)
    plan = {1: DROP_RESPONSE, 2: DROP_REQUEST, 4: DROP_RESPONSE, 5: DROP_RESPONSE, 7: DELAY_REQUEST,
            9: DROP_REQUEST, 10: DROP_REQUEST, 12: DROP_RESPONSE}
    with FaultProxy(server.endpoint).append_plan(plan) as proxy:
        r = ok(cli(env, "append", write_file(tmp_path, "in", data), f"oss://{bucket_name}/eo",
                   "--part-size", "4K", "-e", proxy.endpoint))
        log = list(proxy.log)
    assert b"object size %d" % (len(existing) + len(data)) in r.stdout
    assert_appendable(bucket, "eo", existing + data)
    appends = [e for e in log if e.info.is_append]
    assert {e.action for e in appends} == {"forward", DROP_RESPONSE, DROP_REQUEST, DELAY_REQUEST}
    # the late request landed and the resend of that part met PositionNotEqualToLength
    assert 409 in [e.status for e in appends]
    # lost responses were settled by HEAD, not by sending the part again
    assert [e.status for e in appends if e.action == DROP_RESPONSE] == [200] * 4
    assert len(appends) == 11 + 3 + 1


def test_exactly_once_stdin_source(env, bucket, bucket_name, server):
    data = b"".join(b"line %05d\n" % i for i in range(3000))
    plan = {2: DROP_RESPONSE, 3: DROP_REQUEST, 5: DROP_RESPONSE}
    with FaultProxy(server.endpoint).append_plan(plan) as proxy:
        ok(cli(env, "append", "-", f"oss://{bucket_name}/eo-stdin", "--part-size", "8K",
               "-e", proxy.endpoint, input=data))
        assert DROP_RESPONSE in proxy.actions()
    assert_appendable(bucket, "eo-stdin", data)


def test_gives_up_after_retry_times(env, bucket, bucket_name, server, tmp_path):
    with FaultProxy(server.endpoint, rule=lambda i: DROP_REQUEST if i.append_index >= 2 else None) as proxy:
        r = cli(env, "append", write_file(tmp_path, "in", b"x" * 3000), f"oss://{bucket_name}/gives-up",
                "--part-size", "1K", "--retry-times", "2", "-e", proxy.endpoint)
        assert r.returncode == 3, r.stderr
        assert proxy.actions() == ["forward"] + [DROP_REQUEST] * 3
    assert b"1024 bytes of the input were appended" in r.stderr
    assert_appendable(bucket, "gives-up", b"x" * 1024)


def test_append_from_a_pipe_survives_a_server_restart(tmp_path):
    """A refused connection sends nothing, so `append -` resends its part (within --retry-times)
    while the server restarts; only the first HEAD fails at once on a refused connection."""
    srv = ServerProcess(str(tmp_path / "data")).start()
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), srv.endpoint, "restarted")
    b.create_bucket()
    e = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_"))}
    e.update(OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET, OSS_REGION="cn-hangzhou",
             OSS_ENDPOINT=srv.endpoint, HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "append", "-", "oss://restarted/log",
                             "--flush-interval", "0.1"], env=e, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"before\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 20
        while not (b.object_exists("log") and b.get_object("log").read() == b"before\n"):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        assert srv.stop() == 0
        proc.stdin.write(b"during\n")      # its append is refused: the server is down
        proc.stdin.flush()
        time.sleep(1.0)
        assert proc.poll() is None          # still retrying
        srv = ServerProcess(str(tmp_path / "data"), port=srv.port).start()
        out, err = proc.communicate(b"after\n", timeout=TIMEOUT)
        assert proc.returncode == 0, err
        assert_appendable(b, "log", b"before\nduring\nafter\n")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.stop()


def test_other_writer_in_between_fails_without_damage(env, bucket, bucket_name, server, tmp_path):
    data = os.urandom(5 * 1024)

    def other_writer(info):
        if info.append_index == 3:   # before our third part reaches the server
            pos = bucket.head_object("shared").content_length
            bucket.append_object("shared", pos, b"OTHER WRITER\n")

    with FaultProxy(server.endpoint).append_plan({}, before=other_writer) as proxy:
        r = cli(env, "append", write_file(tmp_path, "in", data), f"oss://{bucket_name}/shared",
                "--part-size", "1K", "-e", proxy.endpoint)
        assert proxy.actions() == ["forward"] * 3   # stopped at the conflict
    assert r.returncode == 2, r.stderr
    assert b"another writer" in r.stderr
    assert_appendable(bucket, "shared", data[:2048] + b"OTHER WRITER\n")


def test_other_writer_after_lost_response(env, bucket, bucket_name, server, tmp_path):
    """Our part landed but its response was lost, then someone else appended: no resend, exit 2."""
    data = os.urandom(4 * 1024)
    state = {"armed": False}

    def rule(info):
        if info.append_index == 2:
            state["armed"] = True
            return DROP_RESPONSE
        if state["armed"] and info.method == "HEAD":   # the CLI checking what happened
            state["armed"] = False
            bucket.append_object("shared2", bucket.head_object("shared2").content_length, b"THEIRS")
        return None

    with FaultProxy(server.endpoint, rule=rule) as proxy:
        r = cli(env, "append", write_file(tmp_path, "in", data), f"oss://{bucket_name}/shared2",
                "--part-size", "1K", "-e", proxy.endpoint)
        assert proxy.actions() == ["forward", DROP_RESPONSE]
    assert r.returncode == 2, r.stderr
    assert_appendable(bucket, "shared2", data[:2048] + b"THEIRS")


# -- tail ----------------------------------------------------------------------------------------
def test_tail_lines_and_bytes(env, bucket, bucket_name):
    lines = [b"line %d\n" % i for i in range(1, 26)]
    bucket.append_object("t.log", 0, b"".join(lines))
    url = f"oss://{bucket_name}/t.log"
    assert ok(cli(env, "tail", url)).stdout == b"".join(lines[-10:])
    assert ok(cli(env, "tail", "-n", "3", url)).stdout == b"".join(lines[-3:])
    assert ok(cli(env, "tail", "-n", "100", url)).stdout == b"".join(lines)
    assert ok(cli(env, "tail", "-n", "0", url)).stdout == b""
    assert ok(cli(env, "tail", "-c", "12", url)).stdout == b"".join(lines)[-12:]
    assert ok(cli(env, "tail", "--bytes", "1K", url)).stdout == b"".join(lines)
    bucket.append_object("t.log", bucket.head_object("t.log").content_length, b"partial")
    assert ok(cli(env, "tail", "-n", "2", url)).stdout == lines[-1] + b"partial"
    bucket.put_object("normal.txt", b"a\nb\nc\n")   # not only appendable objects
    assert ok(cli(env, "tail", "-n", "2", f"oss://{bucket_name}/normal.txt")).stdout == b"b\nc\n"
    assert cli(env, "tail", f"oss://{bucket_name}/missing").returncode == 2
    assert cli(env, "tail", "-n", "1", "-c", "1", url).returncode == 1


class _Reader(threading.Thread):
    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.data = stream, bytearray()

    def run(self):
        while True:
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                return
            self.data += chunk

    def wait_for(self, expected: bytes, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while bytes(self.data) != expected:
            assert time.monotonic() < deadline, (bytes(self.data), expected)
            time.sleep(0.05)


def test_tail_follow(env, bucket, bucket_name, tmp_path):
    bucket.append_object("f.log", 0, b"old 1\nold 2\n")
    url = f"oss://{bucket_name}/f.log"
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "tail", "-f", "-n", "1", "--interval", "0.2", url],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = _Reader(proc.stdout), _Reader(proc.stderr)
    out.start()
    err.start()
    try:
        expected = b"old 2\n"
        out.wait_for(expected)
        for i in range(3):   # appends by another process through oss2 ...
            chunk = b"new %d\n" % i
            bucket.append_object("f.log", bucket.head_object("f.log").content_length, chunk)
            expected += chunk
            out.wait_for(expected)
        chunk = os.urandom(3000)   # ... and through `ossbox append`, several parts
        ok(cli(env, "append", write_file(tmp_path, "more", chunk), url, "--part-size", "1K"))
        expected += chunk
        out.wait_for(expected)

        # truncated/replaced: a notice, then following from the new end
        bucket.delete_object("f.log")
        bucket.append_object("f.log", 0, b"xy")
        deadline = time.monotonic() + 10
        while b"truncated" not in err.data and b"replaced" not in err.data and b"deleted" not in err.data:
            assert time.monotonic() < deadline, bytes(err.data)
            time.sleep(0.05)
        time.sleep(1.0)   # a few polls: the new end is taken before the next append
        bucket.append_object("f.log", 2, b"after\n")
        expected += b"after\n"
        out.wait_for(expected)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.join(5)
        err.join(5)
    assert code == 0, bytes(err.data)
    assert bytes(out.data) == expected


def test_tail_follow_interrupted_by_sigint(env, bucket, bucket_name, runner_sigint):
    bucket.append_object("i.log", 0, b"a\n")
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "tail", "-f", "--interval", "0.2",
                             f"oss://{bucket_name}/i.log"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_sigint)
    out = _Reader(proc.stdout)
    out.start()
    try:
        out.wait_for(b"a\n")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tail_follow_stops_when_the_reader_goes_away(env, bucket, bucket_name):
    """`ossbox tail -f ... | head -c 5` ends once head has gone, without waiting for an append."""
    bucket.append_object("r.log", 0, b"0123456789\n")
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "tail", "-f", "--interval", "0.2",
                             f"oss://{bucket_name}/r.log"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.read(5) == b"01234"
        proc.stdout.close()
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
