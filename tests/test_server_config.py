"""`ossbox server --config FILE` (issue 13): a TOML file with one key per server flag; flags win over
OSSBOX_* variables, which win over the file, which wins over the defaults. docs/server-config.md."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid

import oss2
import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

from ossbox.cli import build_parser
from ossbox.cli.server_cmd import apply_config_file, config_keys, config_reference, server_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "server-config.md")


@pytest.fixture
def clean_env(monkeypatch):
    """No OSSBOX_* variable of the test runner's leaks into the servers started here."""
    for name in list(os.environ):
        if name.startswith("OSSBOX_"):
            monkeypatch.delenv(name)
    return dict(os.environ)


def _start(args, env, timeout=30):
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "server", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError("server did not start: " + "".join(lines))
        lines.append(line)
        if line.startswith("ossbox listening on "):
            return proc, line.split()[-1]


def _location(endpoint: str) -> str:
    """The region a new bucket gets: the server's (a bucket keeps the one it was created in)."""
    b = oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, "where-" + uuid.uuid4().hex[:8])
    b.create_bucket()
    return b.get_bucket_location().location


def _region_of(args, env) -> str:
    proc, endpoint = _start(["--port", "0", "--access-key-id", ACCESS_KEY_ID,
                             "--access-key-secret", ACCESS_KEY_SECRET, *args], env)
    try:
        return _location(endpoint)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_precedence_flags_then_environment_then_file_then_defaults(tmp_path, clean_env):
    data = tmp_path / "from-file"
    conf = tmp_path / "ossbox.toml"
    conf.write_text(f'data-dir = "{data}"\nregion = "cn-shanghai"\n')
    env = clean_env
    # the default, without a file
    assert _region_of(["--data-dir", str(tmp_path / "d0")], env) == "oss-cn-hangzhou"
    # the file over the default; its data-dir is used
    assert _region_of(["--config", str(conf)], env) == "oss-cn-shanghai"
    assert (data / "credentials.json").exists()
    # OSSBOX_CONFIG names the file as --config does
    assert _region_of([], dict(env, OSSBOX_CONFIG=str(conf))) == "oss-cn-shanghai"
    # the environment over the file
    assert _region_of(["--config", str(conf)], dict(env, OSSBOX_REGION="cn-beijing")) == "oss-cn-beijing"
    # a flag over both, also a flag that gives the default value
    assert _region_of(["--config", str(conf), "--region", "cn-shenzhen"],
                      dict(env, OSSBOX_REGION="cn-beijing")) == "oss-cn-shenzhen"
    assert _region_of(["--config", str(conf), "--region", "cn-hangzhou"], env) == "oss-cn-hangzhou"


def _parsed(argv, environ):
    """The settings `ossbox server ARGV` runs with, in environment `environ`."""
    from unittest import mock

    with mock.patch.dict(os.environ, environ, clear=True):
        args = build_parser().parse_args(["server", *argv])
        apply_config_file(args)
    return args


# A value for every key that is not its default (keys whose default is None need one here; a new
# flag whose default would do needs nothing).
SAMPLES = {
    "host": "0.0.0.0", "port": 9123, "data-dir": "/srv/ossbox", "region": "cn-beijing",
    "access-key-id": "LTAIfileKeyId", "access-key-secret": "fileKeySecret",
    "domain": ["a.example", "b.example"], "meta": "postgresql://ossbox@db:5432/ossbox",
    "data": "s3://bucket/prefix?endpoint=http://s3:9000&region=r", "durability": "none",
    "restore-delay": 0.5, "logging-interval": 7, "inventory-interval": 8.5,
    "lifecycle-day-seconds": 2, "worm-day-seconds": 3, "lifecycle-interval": 4,
    "idle-timeout": 5, "header-timeout": 6, "body-timeout": 9, "disk-reserve": "1MiB",
    "certfile": "/etc/ossbox/cert.pem", "keyfile": "/etc/ossbox/key.pem", "https-port": 9443,
    "shutdown-timeout": 0, "log-level": "debug",
    "access-log": "/var/log/ossbox/access.log", "log-format": "json", "metrics-port": 9100,
    "workers": 3,
}


def _toml(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    return repr(value)


def _flag_argv(key, value) -> list:
    if isinstance(value, list):
        return [a for v in value for a in (f"--{key}", v)]
    if isinstance(value, bool):
        return [f"--{key}"] if value else []
    return [f"--{key}", str(value)]


def test_every_key_is_accepted_and_sets_what_its_flag_sets(tmp_path, clean_env):
    keys = config_keys(server_parser())
    assert "show-credentials" not in keys and "config" not in keys and "help" not in keys
    missing = [k for k, a in keys.items() if k not in SAMPLES and a.default is None]
    assert not missing, f"add a sample value for the new key(s) {missing}"
    values = {k: SAMPLES.get(k, a.default) for k, a in keys.items()}
    conf = tmp_path / "all.toml"
    conf.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in values.items()))
    from_file = _parsed(["--config", str(conf)], clean_env)
    from_flags = _parsed([a for k, v in values.items() for a in _flag_argv(k, v)], clean_env)
    defaults = _parsed([], clean_env)
    for key, action in keys.items():
        assert getattr(from_file, action.dest) == getattr(from_flags, action.dest), key
        if key in SAMPLES:  # really set from the file, not left at the default
            assert getattr(from_file, action.dest) != getattr(defaults, action.dest), key


def test_every_key_of_the_file_is_overridden_by_its_flag_and_variable(tmp_path, clean_env):
    keys = config_keys(server_parser())
    conf = tmp_path / "all.toml"
    conf.write_text("".join(f"{k} = {_toml(SAMPLES[k])}\n" for k in keys if k in SAMPLES))
    for key, action in keys.items():
        if key not in SAMPLES or key == "domain":
            continue
        flag_value = {"port": 9999, "https-port": 9998, "durability": "fsync", "log-level": "error",
                      "disk-reserve": "2MiB", "log-format": "text", "metrics-port": 9101}.get(key, SAMPLES[key] + 1 if not isinstance(SAMPLES[key], str)
                                                    else SAMPLES[key] + "x")
        if key in ("meta",):
            flag_value = "postgresql://other@db:5432/other"
        if key in ("data",):
            flag_value = "file:///srv/other"
        by_flag = _parsed(["--config", str(conf), f"--{key}", str(flag_value)], clean_env)
        by_env = _parsed(["--config", str(conf)], dict(clean_env, **{"OSSBOX_" + action.dest.upper(): str(flag_value)}))
        expected = _parsed([f"--{key}", str(flag_value)], clean_env)
        assert getattr(by_flag, action.dest) == getattr(expected, action.dest), key
        assert getattr(by_env, action.dest) == getattr(expected, action.dest), key
        assert getattr(expected, action.dest) != getattr(_parsed(["--config", str(conf)], clean_env),
                                                         action.dest), key
    # domain: the flag is repeatable, the variable comma-separated
    by_flag = _parsed(["--config", str(conf), "--domain", "c.example"], clean_env)
    assert by_flag.domain == ["c.example"]
    by_env = _parsed(["--config", str(conf)], dict(clean_env, OSSBOX_DOMAIN="d.example"))
    assert by_env.domain is None   # run_server then reads OSSBOX_DOMAIN


@pytest.mark.parametrize("text, mentions", [
    ("prot = 9000\n", ["unknown key 'prot'", "did you mean 'port'"]),
    ("data_dir = '/x'\n", ["unknown key 'data_dir'", "did you mean 'data-dir'"]),
    ("show-credentials = true\n", ["unknown key 'show-credentials'"]),
    ("[server]\nport = 9000\n", ["unknown key 'server'"]),
    ('port = "9000"\n', ["key 'port' must be an integer, not a string"]),
    ("port = 99999\n", ["key 'port'", "port number"]),
    ("host = 5\n", ["key 'host' must be a string, not an integer"]),
    ("restore-delay = true\n", ["key 'restore-delay' must be a number, not a boolean"]),
    ("restore-delay = -1\n", ["key 'restore-delay'", "seconds >= 0"]),
    ("durability = 'maybe'\n", ["key 'durability'", "fsync, none", "maybe"]),
    ("disk-reserve = 'lots'\n", ["key 'disk-reserve'", "size"]),
    ("domain = [1, 2]\n", ["key 'domain' must be an array of strings or a string"]),
    ("meta = 'mysql://x'\n", ["key 'meta'", "postgresql://"]),
    ("port = [\n", ["is not valid TOML"]),
    ("\xff\xfe = 1\n", ["is not valid TOML"]),
])
def test_bad_files_are_usage_errors_naming_file_and_key(tmp_path, clean_env, text, mentions):
    conf = tmp_path / "bad.toml"
    conf.write_bytes(text.encode("latin-1"))
    data = tmp_path / "d"
    # a flag overriding the bad key does not hide the mistake
    for argv, env in ((["--config", str(conf)], clean_env),
                      (["--port", "0"], dict(clean_env, OSSBOX_CONFIG=str(conf)))):
        r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--data-dir", str(data), *argv],
                           capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 1, r
        assert r.stderr.startswith("Error: ") and "Traceback" not in r.stderr, r.stderr
        assert str(conf) in r.stderr, r.stderr
        for m in mentions:
            assert m in r.stderr, (m, r.stderr)
        assert not data.exists()   # refused before anything was created


def test_a_missing_file_is_a_usage_error(tmp_path, clean_env):
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--data-dir", str(tmp_path / "d"),
                        "--config", str(tmp_path / "nope.toml")], capture_output=True, text=True,
                       timeout=30, env=clean_env)
    assert r.returncode == 1 and r.stderr.startswith("Error: cannot read the config file "), r
    assert "nope.toml" in r.stderr and "No such file" in r.stderr
    assert not (tmp_path / "d").exists()


def test_the_doc_lists_every_key_with_the_current_table():
    doc = open(DOC, encoding="utf-8").read()
    table = re.search(r"<!-- config-reference: begin -->\n(.*?)<!-- config-reference: end -->", doc, re.S)
    assert table, "docs/server-config.md lost its config-reference markers"
    assert table.group(1) == config_reference(), (
        "docs/server-config.md is out of date: regenerate its table (see the doc)")
    for key in config_keys(server_parser()):
        assert f"| `{key}` |" in doc


def test_the_doc_example_file_runs_a_server(tmp_path, clean_env):
    doc = open(DOC, encoding="utf-8").read()
    example = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    conf = tmp_path / "ossbox.toml"
    conf.write_text(example)
    keys = config_keys(server_parser())
    for line in example.splitlines():
        if line and not line.startswith("#"):
            assert line.split("=")[0].strip() in keys, line
    # the example's machine-wide paths and port replaced by flags, which win over the file
    proc, endpoint = _start(["--config", str(conf), "--host", "127.0.0.1", "--port", "0",
                             "--data-dir", str(tmp_path / "data"), "--access-key-id", ACCESS_KEY_ID,
                             "--access-key-secret", ACCESS_KEY_SECRET], clean_env)
    try:
        assert _location(endpoint) == "oss-cn-hangzhou"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_server_help_names_the_config_file(clean_env):
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--help"], capture_output=True,
                       text=True, timeout=30, env=clean_env)
    assert r.returncode == 0
    assert "--config TOML" in r.stdout and "--shutdown-timeout SECONDS" in r.stdout


def test_a_new_flag_gets_its_key_with_its_checks(tmp_path, clean_env):
    """Keys come from the parser: a flag added later (plain argparse: type=int, choices,
    store_true) is a key at once, checked as the flag is."""
    from ossbox.cli.settings import UsageError

    parser = server_parser()
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--flavour", choices=["a", "b"], default="a")
    parser.add_argument("--verbose-stop", action="store_true")
    conf = tmp_path / "new.toml"

    def parsed(text, argv=()):
        conf.write_text(text)
        args = parser.parse_args(["--config", str(conf), *argv])
        apply_config_file(args, clean_env)
        return args
    args = parsed("batch-size = 4\nflavour = 'b'\nverbose-stop = true\n")
    assert (args.batch_size, args.flavour, args.verbose_stop) == (4, "b", True)
    assert parsed("batch-size = 4\n", ["--batch-size", "2"]).batch_size == 2
    for text, message in (("batch-size = '4'\n", "key 'batch-size' must be an integer, not a string"),
                          ("flavour = 'c'\n", "key 'flavour' must be one of a, b"),
                          ("verbose-stop = 1\n", "key 'verbose-stop' must be a boolean")):
        with pytest.raises(UsageError, match=re.escape(message)):
            parsed(text)
