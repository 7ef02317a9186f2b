"""ossutil-style configuration of the ossbox client: config file profiles, OSS_* environment,
flags, precedence, and the `ossbox config` command.

The CLI runs as a real subprocess (`python -m ossbox`) with a controlled environment (HOME is a
temporary directory, no OSS_*/OSSUTIL_*/proxy variables) against the session `server`; resolve()
is also tested directly with an argparse Namespace and an environ dict.
"""
from __future__ import annotations

import argparse
import os
import pty
import select
import stat
import subprocess
import sys
import time

import pytest

import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

from ossbox.cli import build_parser
from ossbox.cli.settings import UsageError, make_client, read_config, resolve

WRONG_SECRET = "thisIsNotTheSecret000000000"
REGION_MSG = "Error: region must be set in sign version 4.\n"


# -- helpers -------------------------------------------------------------------------------------
def base_env(home) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def cli(home, *args, env=None, stdin=subprocess.DEVNULL, input=None, timeout=30):
    full_env = base_env(home)
    full_env.update(env or {})
    return cliproc.run(args, env=full_env, text=True, timeout=timeout, input=input,
                       stdin=None if input is not None else stdin)


def write(path, text: str):
    path.write_text(text)
    return str(path)


def profile_text(endpoint, secret=ACCESS_KEY_SECRET, header="[default]", key_id=ACCESS_KEY_ID,
                 region="cn-hangzhou") -> str:
    lines = [header, f"access-key-id = {key_id}", f"access-key-secret = {secret}"]
    if region:
        lines.append(f"region = {region}")
    lines.append(f"endpoint = {endpoint}")
    return "\n".join(lines) + "\n"


def ok(result):
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def service_error(result, code="SignatureDoesNotMatch"):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert f"Error Code: {code}." in result.stderr, result.stderr
    return result


def usage_error(result, text=None):
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("Error: "), result.stderr
    if text is not None:
        assert text in result.stderr, result.stderr
    return result


LIST = ("api", "list-buckets", "-q")


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


# -- the config file alone ----------------------------------------------------------------------
def test_profile_file_alone_works(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint))
    r = ok(cli(home, "-c", cfg, *LIST))
    assert "<ListAllMyBucketsResult" in r.stdout


def test_default_config_path_is_home_ossutilconfig(server, home):
    write(home / ".ossutilconfig", profile_text(server.endpoint))
    ok(cli(home, *LIST))


def test_wrong_secret_in_file_is_a_service_error(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint, secret=WRONG_SECRET))
    service_error(cli(home, "-c", cfg, *LIST))


@pytest.mark.parametrize("id_key,secret_key", [
    ("access-key-id", "access-key-secret"),
    ("access_key_id", "access_key_secret"),
    ("accessKeyId", "accessKeySecret"),
    ("accesskeyid", "accesskeysecret"),
    ("AccessKeyID", "ACCESS-KEY-SECRET"),
    ("Access_Key_Id", "accessKey_secret"),
])
def test_every_key_spelling(server, home, tmp_path, id_key, secret_key):
    cfg = write(tmp_path / "conf", f"[Default]\n{id_key} = {ACCESS_KEY_ID}\n{secret_key}={ACCESS_KEY_SECRET}\n"
                                   f"Region = cn-hangzhou\nEndPoint = {server.endpoint}\n")
    ok(cli(home, "-c", cfg, *LIST))


def test_comments_quotes_and_other_sections(server, home, tmp_path):
    cfg = write(tmp_path / "conf", f"""# ossutil config
; also a comment
[default]
# the key
access-key-id = {ACCESS_KEY_ID}   # inline comment after whitespace
access-key-secret = "{ACCESS_KEY_SECRET}"
region = cn-hangzhou
endpoint = {server.endpoint}
buckets = mine

[buckets mine]
some-bucket =
  region = cn-beijing
  addressing-style = path

[Bucket-Endpoint]
other = oss-cn-shanghai.aliyuncs.com
""")
    ok(cli(home, "-c", cfg, *LIST))


def test_credentials_section_of_ossutil_1(server, home, tmp_path):
    cfg = write(tmp_path / "conf", f"[Credentials]\nlanguage=EN\nendpoint={server.endpoint}\n"
                                   f"accessKeyID={ACCESS_KEY_ID}\naccessKeySecret={ACCESS_KEY_SECRET}\n")
    # 1.x files have no region: v4 needs one, v1 does not
    r = cli(home, "-c", cfg, *LIST)
    usage_error(r)
    assert r.stderr == REGION_MSG
    ok(cli(home, "-c", cfg, "--region", "cn-hangzhou", *LIST))
    ok(cli(home, "-c", cfg, "--sign-version", "v1", *LIST))


def test_default_section_wins_over_credentials_section(server, home, tmp_path):
    body = f"[Credentials]\naccessKeyID={ACCESS_KEY_ID}\naccessKeySecret={WRONG_SECRET}\n"
    good = f"[default]\naccess-key-secret={ACCESS_KEY_SECRET}\nregion=cn-hangzhou\nendpoint={server.endpoint}\n"
    ok(cli(home, "-c", write(tmp_path / "a", body + good), *LIST))
    ok(cli(home, "-c", write(tmp_path / "b", good + body), *LIST))


# -- precedence: flags > environment > file ----------------------------------------------------
def test_env_overrides_file(server, home, tmp_path):
    bad = write(tmp_path / "bad", profile_text(server.endpoint, secret=WRONG_SECRET))
    good = write(tmp_path / "good", profile_text(server.endpoint))
    ok(cli(home, "-c", bad, *LIST, env={"OSS_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}))
    service_error(cli(home, "-c", good, *LIST, env={"OSS_ACCESS_KEY_SECRET": WRONG_SECRET}))


def test_env_alone_works_without_a_file(server, home):
    env = {"OSS_ACCESS_KEY_ID": ACCESS_KEY_ID, "OSS_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
           "OSS_REGION": "cn-hangzhou", "OSS_ENDPOINT": server.endpoint}
    ok(cli(home, *LIST, env=env))
    r = cli(home, *LIST, env={k: v for k, v in env.items() if k != "OSS_REGION"})
    usage_error(r)
    assert r.stderr == REGION_MSG


def test_env_endpoint_and_region_override_file(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text("http://127.0.0.1:1", region="cn-nowhere"))
    ok(cli(home, "-c", cfg, *LIST, env={"OSS_ENDPOINT": server.endpoint, "OSS_REGION": "cn-hangzhou"}))


def test_flags_override_env(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint))
    ok(cli(home, "-c", cfg, "-k", ACCESS_KEY_SECRET, *LIST, env={"OSS_ACCESS_KEY_SECRET": WRONG_SECRET}))
    service_error(cli(home, "-c", cfg, "-k", WRONG_SECRET, *LIST,
                      env={"OSS_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}))
    ok(cli(home, "-c", cfg, "--endpoint", server.endpoint, *LIST, env={"OSS_ENDPOINT": "http://127.0.0.1:1"}))


def test_ignore_env_var(server, home, tmp_path):
    good = write(tmp_path / "good", profile_text(server.endpoint))
    bad = write(tmp_path / "bad", profile_text(server.endpoint, secret=WRONG_SECRET))
    ok(cli(home, "-c", good, "--ignore-env-var", *LIST, env={"OSS_ACCESS_KEY_SECRET": WRONG_SECRET}))
    service_error(cli(home, "-c", bad, "--ignore-env-var", *LIST, env={"OSS_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}))
    # flags still count
    ok(cli(home, "-c", bad, "--ignore-env-var", "-k", ACCESS_KEY_SECRET, *LIST))


def test_ossutil_config_file_env(server, home, tmp_path):
    good = write(tmp_path / "good", profile_text(server.endpoint))
    bad = write(tmp_path / "bad", profile_text(server.endpoint, secret=WRONG_SECRET))
    ok(cli(home, *LIST, env={"OSSUTIL_CONFIG_FILE": good}))
    service_error(cli(home, *LIST, env={"OSSUTIL_CONFIG_FILE": bad}))
    ok(cli(home, "-c", good, *LIST, env={"OSSUTIL_CONFIG_FILE": bad}))        # the flag wins
    ok(cli(home, "--config-file", good, *LIST, env={"OSSUTIL_CONFIG_FILE": bad}))


def test_ossutil_profile_env(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint, secret=WRONG_SECRET)
                + profile_text(server.endpoint, header="[profile good]"))
    service_error(cli(home, "-c", cfg, *LIST))
    ok(cli(home, "-c", cfg, *LIST, env={"OSSUTIL_PROFILE": "good"}))
    ok(cli(home, "-c", cfg, "--profile", "GOOD", *LIST))                          # names are case-insensitive
    service_error(cli(home, "-c", cfg, "--profile", "default", *LIST, env={"OSSUTIL_PROFILE": "good"}))
    usage_error(cli(home, "-c", cfg, *LIST, env={"OSSUTIL_PROFILE": "nope"}), "profile 'nope' not found")


# -- profiles ------------------------------------------------------------------------------------
def test_profile_with_source_profile_chain(server, home, tmp_path):
    cfg = write(tmp_path / "conf", f"""[profile creds]
access-key-id = {ACCESS_KEY_ID}
access-key-secret = {ACCESS_KEY_SECRET}

[profile place]
source-profile = creds
region = cn-hangzhou

[profile app]
source_profile = place
endpoint = {server.endpoint}

[profile app-bad]
source-profile = app
access-key-secret = {WRONG_SECRET}
""")
    ok(cli(home, "-c", cfg, "--profile", "app", *LIST))
    service_error(cli(home, "-c", cfg, "--profile", "app-bad", *LIST))   # own values win


def test_source_profile_loop_and_missing(server, home, tmp_path):
    loop = write(tmp_path / "loop", "[profile a]\nsource-profile = b\n[profile b]\nsource-profile = a\n")
    usage_error(cli(home, "-c", loop, "--profile", "a", *LIST), "source-profile loop")
    self_loop = write(tmp_path / "self", "[default]\nsource-profile = default\n")
    usage_error(cli(home, "-c", self_loop, *LIST), "source-profile loop")
    missing = write(tmp_path / "missing", "[profile a]\nsource-profile = ghost\n")
    usage_error(cli(home, "-c", missing, "--profile", "a", *LIST), "source-profile 'ghost'")


def test_missing_profile_is_a_usage_error(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint))
    usage_error(cli(home, "-c", cfg, "--profile", "nope", *LIST), "profile 'nope' not found")
    usage_error(cli(home, "-c", str(tmp_path / "does-not-exist"), "--profile", "nope", *LIST))


def test_unreadable_config_is_a_usage_error(home, tmp_path):
    usage_error(cli(home, "-c", str(tmp_path), *LIST), "cannot read config file")   # a directory
    cfg = write(tmp_path / "broken", "[default\naccess-key-id = x\n")
    usage_error(cli(home, "-c", cfg, *LIST), "cannot read config file")


# -- region, signing, endpoint, addressing ---------------------------------------------------------
def test_v4_without_region_message(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint, region=None))
    r = cli(home, "-c", cfg, *LIST)
    assert r.returncode == 1
    assert r.stderr == REGION_MSG
    assert r.stdout == ""
    r = cli(home, "-i", ACCESS_KEY_ID, "-k", ACCESS_KEY_SECRET, "-e", server.endpoint, *LIST)
    assert (r.returncode, r.stderr) == (1, REGION_MSG)


def test_sign_version_v1_without_region(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint, region=None))
    ok(cli(home, "-c", cfg, "--sign-version", "v1", *LIST))
    ok(cli(home, "-c", cfg, "--sign-version=v1", *LIST))
    cfg_v1 = write(tmp_path / "conf-v1", profile_text(server.endpoint, region=None) + "sign-version = v1\n")
    ok(cli(home, "-c", cfg_v1, *LIST))
    usage_error(cli(home, "-c", cfg, "--sign-version", "v3", *LIST))


def test_addressing_style_path_with_a_host_name(server, home, tmp_path, bucket_name):
    endpoint = server.endpoint.replace("127.0.0.1", "localhost")
    cfg = write(tmp_path / "conf", profile_text(endpoint) + "addressing-style = path\n")
    r = ok(cli(home, "-c", cfg, "api", "list-objects-v2", "--bucket", bucket_name, "-q"))
    assert f"<Name>{bucket_name}</Name>" in r.stdout
    cfg2 = write(tmp_path / "conf2", profile_text(endpoint))
    ok(cli(home, "-c", cfg2, "--addressing-style", "path", "api", "list-objects-v2", "--bucket", bucket_name, "-q"))


def test_endpoint_derived_from_region():
    s = resolve(argparse.Namespace(access_key_id="a", access_key_secret="b", region="cn-shanghai",
                                   config_file="/nonexistent"), {})
    client = make_client(s)
    assert client._client._options.endpoint.geturl() == "https://oss-cn-shanghai.aliyuncs.com"


# -- option syntax -------------------------------------------------------------------------------
def test_option_syntax_and_last_one_wins(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint, secret=WRONG_SECRET))
    ok(cli(home, "-c", cfg, f"-k={ACCESS_KEY_SECRET}", *LIST))
    ok(cli(home, f"--config-file={cfg}", f"--access-key-secret={ACCESS_KEY_SECRET}", *LIST))
    ok(cli(home, "-c", cfg, "-k", WRONG_SECRET, "-k", ACCESS_KEY_SECRET, *LIST))
    service_error(cli(home, "-c", cfg, "-k", ACCESS_KEY_SECRET, "-k", WRONG_SECRET, *LIST))
    # a flag after the command overrides the same flag before it
    ok(cli(home, "-c", cfg, "-k", WRONG_SECRET, "api", "list-buckets", "-q", "-k", ACCESS_KEY_SECRET))
    ok(cli(home, f"-i={ACCESS_KEY_ID}", f"-k={ACCESS_KEY_SECRET}", "--region=cn-hangzhou",
           f"-e={server.endpoint}", *LIST))


def test_mode_anonymous_and_sts_without_token(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text(server.endpoint))
    service_error(cli(home, "-c", cfg, "--mode", "Anonymous", *LIST), code="AccessDenied")
    usage_error(cli(home, "-c", cfg, "--mode", "ststoken", *LIST), "sts-token must be set")
    usage_error(cli(home, "-c", cfg, "--mode", "EcsRamRole", *LIST))
    ram = write(tmp_path / "ram", profile_text(server.endpoint) + "mode = RamRoleArn\n")
    usage_error(cli(home, "-c", ram, *LIST), "not supported by ossbox")
    # keys given on the command line drop a weaker mode from the file
    ok(cli(home, "-c", ram, "-i", ACCESS_KEY_ID, "-k", ACCESS_KEY_SECRET, *LIST))


def test_only_one_half_of_the_key_pair(home, tmp_path):
    usage_error(cli(home, "-c", str(tmp_path / "none"), "-i", "x", "--region", "cn-hangzhou", *LIST),
                "access-key-secret must be set")


# -- ossbox config (non-interactive) ---------------------------------------------------------------
def test_config_non_interactive_writes_a_working_file(server, home, tmp_path):
    path = tmp_path / "sub" / "conf"
    ok(cli(home, "config", "-c", str(path), "--access-key-id", ACCESS_KEY_ID, "--access-key-secret",
           ACCESS_KEY_SECRET, "--region", "cn-hangzhou", "--endpoint", server.endpoint))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == (f"[default]\naccess-key-id = {ACCESS_KEY_ID}\naccess-key-secret = "
                                f"{ACCESS_KEY_SECRET}\nregion = cn-hangzhou\nendpoint = {server.endpoint}\n")
    ok(cli(home, "-c", str(path), *LIST))


def test_config_default_path_and_profile(server, home):
    ok(cli(home, "config", "-i", ACCESS_KEY_ID, "-k", ACCESS_KEY_SECRET, "--region", "cn-hangzhou",
           "-e", server.endpoint, "--profile", "Work"))
    text = (home / ".ossutilconfig").read_text()
    assert text.startswith("[profile Work]\n")
    ok(cli(home, "--profile", "work", *LIST))
    usage_error(cli(home, *LIST), "region must be set")   # no [default] profile: nothing configured


def test_config_keeps_other_sections_and_comments(server, home, tmp_path):
    original = """# my settings
[profile other]
accessKeyId = OTHERID   # keep me
region = cn-beijing

[default]
accessKeyId = OLDID
access_key_secret = OLDSECRET
sts-token = STALE
mode = StsToken
output-format = json

[buckets b]
x =
  region = cn-beijing
"""
    cfg = write(tmp_path / "conf", original)
    os.chmod(cfg, 0o644)
    ok(cli(home, "config", "-c", cfg, "-i", ACCESS_KEY_ID, "-k", ACCESS_KEY_SECRET, "--region", "cn-hangzhou",
           "-e", server.endpoint))
    text = open(cfg).read()
    assert text == f"""# my settings
[profile other]
accessKeyId = OTHERID   # keep me
region = cn-beijing

[default]
accessKeyId = {ACCESS_KEY_ID}
access_key_secret = {ACCESS_KEY_SECRET}
output-format = json
region = cn-hangzhou
endpoint = {server.endpoint}

[buckets b]
x =
  region = cn-beijing
"""
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    r = ok(cli(home, "-c", cfg, "api", "list-buckets", "-q"))
    assert r.stdout.lstrip().startswith("{")    # output-format = json from the file
    assert read_config(cfg)["other"] == {"access_key_id": "OTHERID", "region": "cn-beijing"}


@pytest.mark.timeout(60)  # never waiting on a prompt is the point: a hang is a failure
def test_config_non_tty_with_missing_values_is_a_usage_error(home, tmp_path):
    cfg = tmp_path / "conf"
    usage_error(cli(home, "config", "-c", str(cfg), "-i", ACCESS_KEY_ID), "--access-key-secret")
    # no flags at all: interactive, but stdin is a pipe -> refused, even with answers piped in
    usage_error(cli(home, "config", "-c", str(cfg), input=f"{ACCESS_KEY_ID}\n{ACCESS_KEY_SECRET}\n\n\n"),
                "stdin is not a terminal")
    usage_error(cli(home, "config"), "stdin is not a terminal")
    assert not cfg.exists()


def test_config_updates_one_value_of_a_complete_profile(server, home, tmp_path):
    cfg = write(tmp_path / "conf", profile_text("http://127.0.0.1:1"))
    ok(cli(home, "config", "-c", cfg, "-e", server.endpoint))      # id/secret/region already there
    ok(cli(home, "-c", cfg, *LIST))


def test_config_rejects_bad_values(home, tmp_path):
    cfg = tmp_path / "conf"
    usage_error(cli(home, "config", "-c", str(cfg), "-i", "a", "-k", "b", "--region", "cn hangzhou"))
    usage_error(cli(home, "config", "-c", str(cfg), "--mode", "Bogus", "-i", "a", "-k", "b", "--region", "r"))
    assert not cfg.exists()


# -- ossbox config (interactive, through a pseudo-terminal) -----------------------------------------
class Pty:
    def __init__(self, home, *args, env=None):
        self.master, slave = pty.openpty()
        full_env = base_env(home)
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "ossbox", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=full_env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"did not see {text!r}; got {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"EOF before {text!r}; got {self.seen!r}")
                self.seen += chunk.decode("utf-8", "replace")
        at = self.seen.index(text) + len(text)
        before, self.seen = self.seen[:at], self.seen[at:]
        return before

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 15.0) -> int:
        try:
            while True:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(self.master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    self.seen += chunk.decode("utf-8", "replace")
                elif self.proc.poll() is not None:
                    break
            return self.proc.wait(timeout)
        finally:
            os.close(self.master)


def test_config_interactive(server, home):
    t = Pty(home, "config")
    t.expect(f"(default {home}/.ossutilconfig, carriage return will use the default file")
    t.expect("commands):")
    t.send("")
    t.expect("Please enter Access Key ID [")
    t.expect("]:")
    t.send(ACCESS_KEY_ID)
    t.expect("Please enter Access Key Secret [")
    t.expect("]:")
    t.send(ACCESS_KEY_SECRET)
    t.expect("Please enter Region [cn-hangzhou]:")
    t.send("")                                   # the default region
    t.expect("Please enter Endpoint")
    t.expect(":")
    t.send(server.endpoint)
    assert t.finish() == 0, t.seen
    path = home / ".ossutilconfig"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_config(str(path)) == {"default": {
        "access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET, "region": "cn-hangzhou",
        "endpoint": server.endpoint}}
    ok(cli(home, *LIST))

    # again: Enter keeps every stored value; the stored keys are shown masked
    t = Pty(home, "config")
    t.expect("commands):")
    t.send("")
    t.expect(f"Please enter Access Key ID [****************{ACCESS_KEY_ID[-2:]}]:")
    t.send("")
    t.expect(f"Please enter Access Key Secret [****************{ACCESS_KEY_SECRET[-2:]}]:")
    t.send("")
    t.expect("Please enter Region [cn-hangzhou]:")
    t.send("")
    t.expect(f"[{server.endpoint}]:")
    t.send("")
    assert t.finish() == 0, t.seen
    assert ACCESS_KEY_SECRET not in t.seen.replace(f"{ACCESS_KEY_SECRET}\r\n", "")
    ok(cli(home, *LIST))


def test_config_interactive_other_file_and_profile(server, home, tmp_path):
    target = tmp_path / "elsewhere.conf"
    t = Pty(home, "config", "--profile", "dev")
    t.expect("commands):")
    t.send(str(target))
    for prompt, answer in (("Access Key ID", ACCESS_KEY_ID), ("Access Key Secret", ACCESS_KEY_SECRET),
                           ("Region", "cn-hangzhou"), ("Endpoint", server.endpoint)):
        t.expect(f"Please enter {prompt}")
        t.expect("]:")
        t.send(answer)
    assert t.finish() == 0, t.seen
    assert target.read_text().startswith("[profile dev]\n")
    assert not (home / ".ossutilconfig").exists()
    ok(cli(home, "-c", str(target), "--profile", "dev", *LIST))


def test_config_flags_on_a_tty_ask_only_for_missing_values(server, home, tmp_path):
    cfg = tmp_path / "conf"
    t = Pty(home, "config", "-c", str(cfg), "-i", ACCESS_KEY_ID, "-e", server.endpoint)
    t.expect("Please enter Access Key Secret [")
    t.expect("]:")
    t.send(ACCESS_KEY_SECRET)
    t.expect("Please enter Region [cn-hangzhou]:")
    t.send("")
    assert t.finish() == 0, t.seen
    assert "Access Key ID" not in t.seen
    ok(cli(home, "-c", str(cfg), *LIST))


def test_config_interactive_eof_writes_nothing(home):
    t = Pty(home, "config")
    t.expect("commands):")
    t.send("")
    t.expect("Access Key ID")
    os.write(t.master, b"\x04")                 # Ctrl-D: end of input
    assert t.finish() == 1, t.seen
    assert not (home / ".ossutilconfig").exists()


# -- config set / get / list-profiles -------------------------------------------------------------
def test_config_set_get_list_profiles(server, home, tmp_path):
    cfg = str(tmp_path / "conf")
    for key, value in (("access_key_id", ACCESS_KEY_ID), ("accessKeySecret", ACCESS_KEY_SECRET),
                       ("region", "cn-hangzhou"), ("endpoint", server.endpoint)):
        ok(cli(home, "config", "set", key, value, "-c", cfg))
    ok(cli(home, "-c", cfg, *LIST))
    ok(cli(home, "config", "set", "source-profile", "default", "--profile", "Dev", "-c", cfg))
    ok(cli(home, "config", "set", "access-key-secret", WRONG_SECRET, "--profile", "dev", "-c", cfg))
    service_error(cli(home, "-c", cfg, "--profile", "dev", *LIST))
    assert ok(cli(home, "config", "get", "region", "--profile", "dev", "-c", cfg)).stdout == "cn-hangzhou\n"
    assert ok(cli(home, "config", "get", "AccessKeySecret", "--profile", "dev", "-c", cfg)).stdout \
        == WRONG_SECRET + "\n"
    assert ok(cli(home, "-c", cfg, "config", "list-profiles")).stdout == "default\ndev\n"
    # an empty value removes the key: dev falls back to default's secret
    ok(cli(home, "config", "set", "access-key-secret", "", "--profile", "dev", "-c", cfg))
    ok(cli(home, "-c", cfg, "--profile", "dev", *LIST))
    usage_error(cli(home, "config", "get", "sts-token", "-c", cfg), "sts-token is not set")
    whole = ok(cli(home, "config", "get", "-c", cfg)).stdout
    assert f"access-key-id = {ACCESS_KEY_ID}\n" in whole
    assert ACCESS_KEY_SECRET not in whole and "access-key-secret = ****" in whole
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600


def test_config_set_get_errors(home, tmp_path):
    cfg = str(tmp_path / "conf")
    usage_error(cli(home, "config", "set", "regoin", "x", "-c", cfg), "unknown config key")
    usage_error(cli(home, "config", "set", "sign-version", "v3", "-c", cfg))
    usage_error(cli(home, "config", "set", "retry-times", "many", "-c", cfg))
    usage_error(cli(home, "config", "set", "region"))                    # VALUE missing
    usage_error(cli(home, "config", "get", "region", "--profile", "nope", "-c", cfg), "not found")
    assert ok(cli(home, "config", "list-profiles", "-c", cfg)).stdout == ""
    ok(cli(home, "config", "set", "mode", "ststoken", "-c", cfg))
    assert ok(cli(home, "config", "get", "mode", "-c", cfg)).stdout == "StsToken\n"


def test_config_set_uses_ossutil_env(home, tmp_path):
    cfg = str(tmp_path / "conf")
    env = {"OSSUTIL_CONFIG_FILE": cfg, "OSSUTIL_PROFILE": "ci"}
    ok(cli(home, "config", "set", "region", "cn-beijing", env=env))
    assert open(cfg).read() == "[profile ci]\nregion = cn-beijing\n"
    assert ok(cli(home, "config", "get", "region", env=env)).stdout == "cn-beijing\n"


# -- resolve() directly ----------------------------------------------------------------------------
def ns(**kw) -> argparse.Namespace:
    return argparse.Namespace(**kw)


@pytest.fixture
def conf(tmp_path):
    def make(text: str) -> str:
        return write(tmp_path / "conf", text)
    return make


def test_resolve_per_setting_precedence(conf):
    path = conf("[default]\naccess-key-id = FILEID\naccess-key-secret = FILESECRET\nregion = file-region\n"
                "endpoint = http://file\nretry-times = 3\nread-timeout = 7\n")
    env = {"OSS_ACCESS_KEY_SECRET": "ENVSECRET", "OSS_REGION": "env-region"}
    s = resolve(ns(config_file=path, region="flag-region"), env)
    assert (s.access_key_id, s.access_key_secret, s.region, s.endpoint) == \
        ("FILEID", "ENVSECRET", "flag-region", "http://file")
    assert (s.retry_times, s.read_timeout) == (3, 7.0)
    assert s.sources["access_key_id"] == "file"
    assert s.sources["access_key_secret"] == "env"
    assert s.sources["region"] == "flag"
    assert s.sources["config_file"] == "flag" and s.sources["profile"] == "default"


def test_resolve_ignore_env_var_and_empty_env(conf):
    path = conf("[default]\nregion = file-region\n")
    env = {"OSS_REGION": "env-region", "OSS_ENDPOINT": ""}
    assert resolve(ns(config_file=path), env).region == "env-region"
    s = resolve(ns(config_file=path, ignore_env_var=True), env)
    assert (s.region, s.sources["region"]) == ("file-region", "file")
    assert resolve(ns(config_file=path), env).endpoint is None          # an empty variable is unset


def test_resolve_ossutil_env_and_flags(tmp_path):
    a = write(tmp_path / "a", "[default]\nregion = a\n[profile p]\nregion = ap\n")
    b = write(tmp_path / "b", "[default]\nregion = b\n")
    env = {"OSSUTIL_CONFIG_FILE": a, "OSSUTIL_PROFILE": "p"}
    assert resolve(ns(), env).region == "ap"
    assert resolve(ns(profile="default"), env).region == "a"
    assert resolve(ns(config_file=b, profile="default"), env).region == "b"
    # --ignore-env-var concerns OSS_* only, not OSSUTIL_*
    assert resolve(ns(ignore_env_var=True), env).region == "ap"
    with pytest.raises(UsageError, match="profile 'p' not found"):
        resolve(ns(config_file=b), env)


def test_resolve_home_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / ".ossutilconfig", "[default]\nregion = from-home\n")
    s = resolve(ns(), {})
    assert (s.region, s.config_file, s.sources["config_file"]) == \
        ("from-home", str(tmp_path / ".ossutilconfig"), "default")


def test_resolve_missing_file_and_default_profile(tmp_path):
    s = resolve(ns(config_file=str(tmp_path / "none")), {})
    assert s.region is None and s.access_key_id is None
    resolve(ns(config_file=str(tmp_path / "none"), profile="DEFAULT"), {})
    with pytest.raises(UsageError):
        resolve(ns(config_file=str(tmp_path / "none"), profile="x"), {})


def test_resolve_stale_token_and_mode_are_dropped(conf):
    path = conf("[default]\naccess-key-id = FILEID\naccess-key-secret = FILESECRET\nsts-token = FILETOKEN\n"
                "mode = StsToken\n")
    s = resolve(ns(config_file=path), {})
    assert (s.sts_token, s.mode) == ("FILETOKEN", "StsToken")
    s = resolve(ns(config_file=path, access_key_id="FLAGID", access_key_secret="FLAGSECRET"), {})
    assert (s.sts_token, s.mode) == (None, None)
    assert s.sources["sts_token"] == "dropped:file"
    env = {"OSS_ACCESS_KEY_ID": "E", "OSS_ACCESS_KEY_SECRET": "S", "OSS_SESSION_TOKEN": "ENVTOKEN"}
    s = resolve(ns(config_file=path), env)
    assert (s.access_key_id, s.sts_token, s.mode) == ("E", "ENVTOKEN", None)
    # a token stronger than the key id is kept
    s = resolve(ns(config_file=path, sts_token="FLAGTOKEN"), {})
    assert (s.access_key_id, s.sts_token) == ("FILEID", "FLAGTOKEN")


def test_resolve_mode_names(conf):
    path = conf("[default]\nmode = anonymous\n")
    assert resolve(ns(config_file=path), {}).mode == "Anonymous"
    p = build_parser()
    args = p.parse_args(["--mode", "ak", "-c", path, "api", "list-buckets"])
    assert resolve(args, {}).mode == "AK"


def test_resolve_profiles_case_and_sections(conf):
    path = conf("""top-level = ignored
[DEFAULT]
region = r-default
[Profile  Dev ]
Source-Profile = Default
Endpoint = http://dev
[profile default]
connect_timeout = 4
[buckets x]
bucket1 =
  region = other
""")
    s = resolve(ns(config_file=path, profile="dev"), {})
    assert (s.region, s.endpoint, s.connect_timeout) == ("r-default", "http://dev", 4.0)


def test_resolve_credentials_section_order(conf):
    for text in ("[Credentials]\naccessKeyID = OLD\nendpoint = e1\n[default]\naccess-key-id = NEW\n",
                 "[default]\naccess-key-id = NEW\n[Credentials]\naccessKeyID = OLD\nendpoint = e1\n"):
        s = resolve(ns(config_file=conf(text)), {})
        assert (s.access_key_id, s.endpoint) == ("NEW", "e1")


def test_resolve_errors(conf):
    with pytest.raises(UsageError, match="loop"):
        resolve(ns(config_file=conf("[profile a]\nsource-profile=b\n[profile b]\nsource-profile=c\n"
                                    "[profile c]\nsource-profile=A\n"), profile="a"), {})
    with pytest.raises(UsageError, match="retry-times"):
        resolve(ns(config_file=conf("[default]\nretry-times = lots\n")), {})
    with pytest.raises(UsageError, match="skip_verify_cert|skip-verify-cert"):
        resolve(ns(config_file=conf("[default]\nskip-verify-cert = maybe\n")), {})
    with pytest.raises(UsageError, match="sign-version"):
        resolve(ns(config_file=conf("[default]\nsign-version = v2\n")), {})
    with pytest.raises(UsageError, match="addressing-style"):
        resolve(ns(config_file=conf("[default]\naddressing-style = sideways\n")), {})


def test_resolve_parsed_option_syntax(conf):
    path = conf("[default]\nregion = r\n")
    p = build_parser()
    args = p.parse_args([f"-c={path}", "-k=a=b", "--region=one", "api", "--region", "two", "list-buckets",
                         "--region=three", "-q"])
    s = resolve(args, {"OSS_REGION": "env"})
    assert (s.access_key_secret, s.region, s.quiet) == ("a=b", "three", True)


def test_make_client_region_rules():
    with pytest.raises(UsageError) as info:
        make_client(resolve(ns(config_file="/nonexistent", access_key_id="a", access_key_secret="b"), {}))
    assert str(info.value) == "region must be set in sign version 4."
    make_client(resolve(ns(config_file="/nonexistent", access_key_id="a", access_key_secret="b",
                           sign_version="v1"), {}))
    with pytest.raises(UsageError, match="not supported"):
        make_client(resolve(ns(config_file="/nonexistent", mode="EcsRamRole", region="r"), {}))
    with pytest.raises(UsageError, match="access-key-id must be set"):
        make_client(resolve(ns(config_file="/nonexistent", access_key_secret="b", region="r"), {}))
