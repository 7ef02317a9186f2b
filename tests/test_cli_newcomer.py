"""What a newcomer meets first, run as a real `ossbox` subprocess (and a real `ossbox server`):
the root key pair kept in the data dir, object bytes on stdout with nothing after them, --dry-run
sending nothing, an unreachable endpoint failing at once, and server flags validated for the
server alone (issue 9, items 13 to 18; item 17 is in test_cli_api.py)."""
from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import socket
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest

import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

ELAPSED = re.compile(r"^\d+\.\d+\(s\) elapsed$")


def client_env(endpoint: str, home) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_", "OSSBOX_"))}
    env.update(OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
               OSS_REGION="cn-hangzhou", OSS_ENDPOINT=endpoint, HOME=str(home), PYTHONIOENCODING="utf-8")
    return env


def run(env, *args, stdin: bytes = b"", timeout: float = 60, cwd=None) -> subprocess.CompletedProcess:
    return cliproc.run(args, input=stdin, env=env, timeout=timeout, cwd=cwd)


def show(r: subprocess.CompletedProcess) -> str:
    return f"{r.args[3:]} -> {r.returncode}\nstdout: {r.stdout[:1500]!r}\nstderr: {r.stderr.decode()[:1500]}"


def run_all(env, calls, timeout: float = 60) -> list:
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda args: run(env, *args, timeout=timeout), calls))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# == 13. the root key pair: given keys are the ones kept; --show-credentials =========================
def start_server(data_dir, *args, env=None):
    """(process, lines printed up to the ready line, endpoint)."""
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "server", "--port", "0", "--data-dir", str(data_dir),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **(env or {})))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("ossbox listening on "):
            return proc, lines, line.split()[-1]
    proc.wait(10)
    raise AssertionError("server did not start: " + "".join(lines))


def stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def show_credentials(data_dir) -> tuple[str, str]:
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--show-credentials", "--data-dir", str(data_dir)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r
    assert "credentials.json" in r.stdout
    return r.stdout.split("AccessKeyId:")[1].split()[0], r.stdout.split("AccessKeySecret:")[1].split()[0]


def test_given_keys_are_the_ones_kept(tmp_path):
    data = tmp_path / "data"
    proc, lines, endpoint = start_server(data, "--access-key-id", "myid", "--access-key-secret", "mysecret")
    try:
        assert "AccessKeySecret" not in "".join(lines)   # nothing generated, nothing to print
        b = oss2.Bucket(oss2.Auth("myid", "mysecret"), endpoint, "kept-keys")
        b.create_bucket()
        b.put_object("k", b"v")
    finally:
        stop(proc)
    kept = json.loads((data / "credentials.json").read_text())
    assert (kept["access_key_id"], kept["access_key_secret"]) == ("myid", "mysecret")
    assert stat.S_IMODE(os.stat(data / "credentials.json").st_mode) == 0o600
    assert show_credentials(data) == ("myid", "mysecret")

    # a restart without the flags serves the same pair (and the buckets it owns)
    proc, lines, endpoint = start_server(data)
    try:
        assert "AccessKeyId" not in "".join(lines)
        assert oss2.Bucket(oss2.Auth("myid", "mysecret"), endpoint, "kept-keys").get_object("k").read() == b"v"
    finally:
        stop(proc)


def test_generated_pair_is_shown_again_and_replaced_by_given_keys(tmp_path):
    data = tmp_path / "data"
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--show-credentials", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no root key pair" in r.stderr and "Traceback" not in r.stderr, r
    assert not data.exists()   # showing creates nothing

    proc, lines, endpoint = start_server(data)
    try:
        text = "".join(lines)
        assert "credentials.json" in text and "--show-credentials" in text
        generated = text.split("AccessKeyId:")[1].split()[0], text.split("AccessKeySecret:")[1].split()[0]
        oss2.Bucket(oss2.Auth(*generated), endpoint, "gen-then-given").create_bucket()
    finally:
        stop(proc)
    assert show_credentials(data) == generated

    # given keys on a later start replace the kept pair (said so on start), and stay
    env = {"OSSBOX_ACCESS_KEY_ID": "envid", "OSSBOX_ACCESS_KEY_SECRET": "envsecret"}
    proc, lines, endpoint = start_server(data, env=env)
    try:
        assert f"replaces the pair of AccessKeyId {generated[0]}" in "".join(lines)
    finally:
        stop(proc)
    assert show_credentials(data) == ("envid", "envsecret")
    proc, lines, endpoint = start_server(data)
    try:
        b = oss2.Bucket(oss2.Auth("envid", "envsecret"), endpoint, "gen-then-given")
        assert b.get_bucket_info().name == "gen-then-given"    # same owner, new key
        with pytest.raises(oss2.exceptions.OssError) as refused:
            oss2.Bucket(oss2.Auth(*generated), endpoint, "gen-then-given").get_bucket_info()
        assert (refused.value.status, refused.value.code) == (403, "InvalidAccessKeyId")
    finally:
        stop(proc)


def test_show_credentials_env_is_eval_able_by_a_shell(tmp_path):
    """`eval "$(ossbox server --show-credentials env)"` (the README tour's second terminal) exports
    the kept pair as the client-side OSS_* variables, quoted for the shell whatever the secret holds."""
    data = tmp_path / "data"
    secret = "it's $HOME `x` a b"
    stop(start_server(data, "--access-key-id", "tourid", "--access-key-secret", secret)[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSS_")}
    script = (f'eval "$({shlex.quote(sys.executable)} -m ossbox server --show-credentials env '
              f'--data-dir {shlex.quote(str(data))})"; printf "%s\\n%s\\n" "$OSS_ACCESS_KEY_ID" "$OSS_ACCESS_KEY_SECRET"')
    r = subprocess.run(["sh", "-ec", script], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r
    assert r.stdout == f"tourid\n{secret}\n"
    # the default form is still the human one
    assert show_credentials(data) == ("tourid", secret.split()[0])


def test_server_help_names_the_credentials_file():
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "credentials.json" in r.stdout and "--show-credentials" in r.stdout


# == 14. object bytes on stdout are never followed by anything ====================================
def test_object_data_on_stdout_is_exact(server, bucket, bucket_name, tmp_path):
    payload = os.urandom(3000) + b"\nlast line\n"
    bucket.put_object("bin", payload)
    bucket.put_object("empty", b"")
    env = client_env(server.endpoint, tmp_path)
    u = f"oss://{bucket_name}"
    cat, head, empty, cp_out, tail_c, api_get = run_all(env, [
        ("cat", f"{u}/bin"),
        ("cat", f"{u}/bin", "--head", "10"),
        ("cat", f"{u}/empty"),
        ("cp", f"{u}/bin", "-"),
        ("tail", "-c", "100", f"{u}/bin"),
        ("api", "get-object", "--bucket", bucket_name, "--key", "bin"),
    ])
    for r, expected in ((cat, payload), (head, payload[:10]), (empty, b""), (cp_out, payload),
                        (tail_c, payload[-100:]), (api_get, payload)):
        assert r.returncode == 0 and r.stdout == expected, show(r)
    for r in (cat, head, empty, cp_out, api_get):   # the trailer is still shown, on stderr
        assert ELAPSED.match(r.stderr.decode().strip()), show(r)
    # -q: no trailer at all; a command whose output is not object data keeps it on stdout
    quiet = run(env, "cat", f"{u}/bin", "-q")
    assert quiet.stdout == payload and quiet.stderr == b"", show(quiet)
    listing = run(env, "ls", u)
    assert ELAPSED.match(listing.stdout.decode().strip().splitlines()[-1]), show(listing)


# == 15. --dry-run sends nothing =====================================================================
def dry_run_commands(bucket: str, tmp_path, every: bool) -> list[tuple]:
    """Every command with --dry-run, or one of each (those that used to list or HEAD first)."""
    local = tmp_path / "local.txt"
    local.write_bytes(b"local data\n")
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "dir" / "a.txt").write_bytes(b"a")
    u = f"oss://{bucket}"
    sample = [
        ("ls",), ("stat", f"{u}/k"), ("cat", f"{u}/k"), ("rb", u, "-f"), ("rm", "-r", "-f", f"{u}/p/"),
        ("cp", f"{u}/k", str(tmp_path / "down.txt")), ("append", str(local), f"{u}/k"), ("tail", "-f", f"{u}/k"),
        ("api", "append-object", "--bucket", bucket, "--key", "k", "--position", "0", "--body", "x"),
        ("admin", "key", "create", "alice"),
    ]
    if not every:
        return sample
    return sample + [
        ("ls", u), ("ls", f"{u}/p/", "-d"), ("ls", u, "-m"), ("ls", u, "-a"),
        ("stat", u), ("cat", f"{u}/k", "--tail", "3"), ("mb", f"oss://{bucket}-new"), ("rb", u),
        ("rm", f"{u}/k"), ("rm", f"{u}/k", "-m"), ("rm", f"{u}/k", "-a"), ("rm", "-r", f"{u}/p/"),
        ("cp", str(local), f"{u}/k"), ("cp", "-r", str(tmp_path / "dir"), f"{u}/d/"),
        ("cp", "-r", f"{u}/p/", str(tmp_path / "down")), ("cp", f"{u}/k", f"{u}/k2"),
        ("cp", "-r", f"{u}/p/", f"{u}/q/"), ("cp", f"{u}/k", "-"),
        ("append", f"{u}/src", f"{u}/k"), ("append", "-", f"{u}/k"), ("tail", f"{u}/k"),
        ("api", "list-buckets"), ("api", "get-object", "--bucket", bucket, "--key", "k"),
        ("admin", "user", "list"),
    ]


@pytest.mark.parametrize("every", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["one-of-each", "every-command"])
def test_dry_run_sends_nothing(tmp_path, every):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)   # a connection attempt completes in the kernel and waits here
    try:
        commands = dry_run_commands("dry-bucket", tmp_path, every)
        listening = client_env(f"http://127.0.0.1:{listener.getsockname()[1]}", tmp_path)
        refused = client_env(f"http://127.0.0.1:{closed_port()}", tmp_path)
        calls = [(*c, "--dry-run") for c in commands]
        # every command exits at once: a request would hang on the silent listener (timeout)
        # or fail on the closed port (exit 3)
        results = run_all(listening, calls, timeout=30) + run_all(refused, calls, timeout=30)
        for r in results:
            assert r.returncode == 0, show(r)
            # a description of what would be done, or of the request that would be sent
            assert b"dry run" in r.stdout or r.stdout.startswith((b"GET /", b"POST /")), show(r)
        ready, _, _ = select.select([listener], [], [], 0)
        assert ready == [], "a --dry-run command opened a connection"
    finally:
        listener.close()


def test_dry_run_needs_no_credentials_or_region(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_", "OSSBOX_"))}
    # the endpoint stays local: without it, a regression would send to the public cloud
    env.update(HOME=str(tmp_path), OSS_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    for args in (("ls", "--dry-run"), ("stat", "oss://some-bucket/k", "--dry-run"),
                 ("rm", "-r", "-f", "oss://some-bucket/p/", "--dry-run")):
        r = run(env, *args, timeout=30)
        assert r.returncode == 0 and b"(dry run) would" in r.stdout, show(r)


def test_dry_run_client_refuses_to_send():
    """The safety net under every command: a dry run's SDK client has a transport that refuses
    to send, so a command that forgot its dry-run branch fails instead of sending."""
    import alibabacloud_oss_v2 as oss

    from ossbox.cli.settings import DryRunRefused, Settings, make_client
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        client = make_client(Settings(access_key_id="id", access_key_secret="secret", region="cn-hangzhou",
                                      endpoint=f"http://127.0.0.1:{listener.getsockname()[1]}", dry_run=True))
        with pytest.raises(oss.exceptions.OperationError) as refused:
            client.list_buckets(oss.models.ListBucketsRequest())
        assert isinstance(refused.value.unwrap(), DryRunRefused)
        assert select.select([listener], [], [], 0)[0] == []
    finally:
        listener.close()


# == 16. an unreachable endpoint fails at once ========================================================
@pytest.mark.timeout(120)
def test_connection_refused_fails_at_once_with_a_clear_message(bucket_name, tmp_path):
    port = closed_port()
    env = client_env(f"http://127.0.0.1:{port}", tmp_path)
    local = tmp_path / "f.txt"
    local.write_bytes(b"data")
    u = f"oss://{bucket_name}"
    calls = [("ls",), ("ls", u), ("stat", f"{u}/k"), ("cat", f"{u}/k"), ("mb", f"{u}x"), ("rm", f"{u}/k"),
             ("cp", str(local), f"{u}/k"), ("cp", f"{u}/k", str(tmp_path / "out")), ("append", str(local), f"{u}/k"),
             ("tail", f"{u}/k"), ("api", "list-buckets"), ("api", "head-object", "--bucket", bucket_name, "--key", "k"),
             ("admin", "user", "list")]
    # the default 10 retries with backoff took about 62 s per command; a refused connection is
    # not retried now, so each command ends long before this bound
    for r in run_all(env, calls, timeout=25):
        assert r.returncode == 3, show(r)                  # ossutil's client/network error
        err = r.stderr.decode()
        assert err.startswith("Error: ") and "connection refused" in err and f":{port}" in err, show(r)
        assert "Traceback" not in err and r.stdout == b"", show(r)


# == 18. server flags are validated, and only for the server =========================================
@pytest.mark.parametrize("args, env, mentions", [
    (("--port", "99999"), {}, "--port"),
    (("--port", "-1"), {}, "--port"),
    (("--port", "http"), {}, "--port"),
    ((), {"OSSBOX_PORT": "99999"}, "OSSBOX_PORT"),
    ((), {"OSSBOX_PORT": "abc"}, "OSSBOX_PORT"),
    ((), {"OSSBOX_RESTORE_DELAY": "soon"}, "OSSBOX_RESTORE_DELAY"),
    ((), {"OSSBOX_LOG_LEVEL": "loud"}, "OSSBOX_LOG_LEVEL"),
    ((), {"OSSBOX_DURABILITY": "maybe"}, "OSSBOX_DURABILITY"),
    (("--durability", "maybe"), {}, "--durability"),
    (("--restore-delay", "-5"), {}, "--restore-delay"),
    (("--access-key-id", "only-the-id"), {}, "--access-key-secret"),
])
def test_bad_server_settings_are_usage_errors(tmp_path, args, env, mentions):
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--data-dir", str(tmp_path / "d"), *args],
                       capture_output=True, text=True, timeout=30, env=dict(os.environ, **env))
    assert r.returncode == 1, r
    assert r.stderr.startswith("Error: ") and mentions in r.stderr and "Traceback" not in r.stderr, r
    assert not (tmp_path / "d").exists()   # refused before anything was created


def test_server_variables_do_not_affect_client_commands(server, bucket, bucket_name, tmp_path):
    bucket.put_object("k", b"hello")
    env = client_env(server.endpoint, tmp_path)
    env.update(OSSBOX_PORT="not-a-port", OSSBOX_RESTORE_DELAY="soon", OSSBOX_LOG_LEVEL="loud",
               OSSBOX_DURABILITY="maybe", OSSBOX_DATA_DIR="", OSSBOX_HOST="")
    for r in run_all(env, [("cat", f"oss://{bucket_name}/k", "-q"), ("ls", "-s", "-q"),
                           ("api", "get-object", "--bucket", bucket_name, "--key", "k", "-q"),
                           ("admin", "user", "list", "-q"), ("config", "list-profiles")]):
        assert r.returncode == 0 and r.stderr == b"", show(r)
    assert run(env, "cat", f"oss://{bucket_name}/k", "-q").stdout == b"hello"
