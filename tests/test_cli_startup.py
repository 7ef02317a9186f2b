"""`ossbox` start-up and usage errors (issue 13).

Start-up: building the parser imports neither the SDK nor the server, so `ossbox --version` and
`ossbox api ... --help` start fast. Asserted by which modules get imported (never by timing).
Usage errors: they name the unknown flag (not "--position is required" for `--postion`) and the
command's own --help. These need no server: the parser runs in-process through ossbox.cli.main.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ossbox.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("alibabacloud_oss_v2", "uvicorn", "ossbox.http", "ossbox.storage", "ossbox.auth", "oss2",
         "requests", "cryptography")


def imported_modules(*args: str) -> set[str]:
    """Every module `python -X importtime -m ossbox ARGS` imported."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "ossbox", *args], env=env, cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "ossbox.cli" in names, r.stderr[-2000:]
    return names


@pytest.mark.parametrize("args", [("--version",), ("api", "append-object", "--help"), ("api", "--help"),
                                  ("append", "--help"), ("tail", "--help"), ("server", "--help"),
                                  ("--help",)])
def test_parsing_the_command_line_imports_neither_sdk_nor_server(args):
    names = imported_modules(*args)
    heavy = sorted(n for n in names if n.split(".")[0] in HEAVY or n.startswith(HEAVY))
    assert heavy == [], heavy


def test_api_flag_table_matches_the_sdk_models():
    """api_flags.py is generated from the SDK's request models: stale after an SDK upgrade."""
    from ossbox.cli import api
    with open(os.path.join(REPO, "ossbox", "cli", "api_flags.py")) as f:
        assert f.read() == api.flag_table_source(), \
            "ossbox/cli/api_flags.py is stale: regenerate it (its docstring says how)"


def test_server_help_names_the_credentials_file():
    from ossbox import config
    from ossbox.cli import server_cmd
    assert server_cmd.CREDENTIALS_FILE == config.CREDENTIALS_FILE


def usage_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("Error: "), (out, err)
    return err


def test_unknown_flag_is_named_before_missing_required_ones(capsys):
    err = usage_error(capsys, "api", "append-object", "--postion", "3", "--bucket", "b", "--key", "k")
    assert err == ("Error: unknown flag --postion (did you mean --position?)\n"
                   "Run 'ossbox api append-object --help' for usage.\n")


def test_unknown_flag_points_at_the_commands_help(capsys):
    err = usage_error(capsys, "append", "--no-progres", "--bogus=1", "file", "oss://b/k")
    assert err == "Error: unknown flag --bogus\nRun 'ossbox append --help' for usage.\n"
    err = usage_error(capsys, "append", "--postion", "3", "file", "oss://b/k")
    assert err == "Error: unknown flag --postion\nRun 'ossbox append --help' for usage.\n"
    err = usage_error(capsys, "admin", "user", "create", "--user", "u", "--colour")
    assert err.endswith("Run 'ossbox admin user create --help' for usage.\n") and "--colour" in err
    # before the command: the top level's help
    assert usage_error(capsys, "--bogus", "ls") == "Error: unknown flag --bogus\nRun 'ossbox --help' for usage.\n"
    # an extra argument that is no flag: still the command's help
    assert usage_error(capsys, "ls", "oss://b", "extra", "-n") == \
        "Error: unrecognized arguments: extra\nRun 'ossbox ls --help' for usage.\n"


def test_known_flag_forms_are_not_reported(capsys):
    # an unambiguous prefix, -n glued to its value, `--flag=value`
    assert main(["api", "append-object", "--pos", "3", "--bucket=b", "--key", "k", "-n", "--region", "r"]) == 0
    assert "POST /b/k?append=&position=3" in capsys.readouterr().out
    assert main(["tail", "-n3", "-f", "--interval", "2", "oss://b/k", "--dry-run"]) == 0
    assert "the last 3 lines of oss://b/k and follow it" in capsys.readouterr().out
    # no unknown flag: argparse's own message
    err = usage_error(capsys, "api", "append-object", "--bucket", "b", "--key", "k")
    assert "--position" in err and "required" in err


def test_tail_short_options_are_tails_and_globals_go_before_the_command(capsys, tmp_path):
    """tail(1): -c BYTES and -n LINES. The global -c (config file) and -n (dry run) are given
    before `tail`, or by their long names after it."""
    cfg = tmp_path / "cfg"
    cfg.write_text("[default]\nregion = cn-hangzhou\n")
    assert main(["-c", str(cfg), "-n", "tail", "-c", "5", "oss://b/k"]) == 0
    assert "(dry run) would print the last 5 bytes of oss://b/k" in capsys.readouterr().out
    assert main(["tail", "-n", "3", "--config-file", str(cfg), "--dry-run", "oss://b/k"]) == 0
    assert "(dry run) would print the last 3 lines of oss://b/k" in capsys.readouterr().out
    assert main(["-n", "tail", "oss://b/k"]) == 0
    assert "the last 10 lines" in capsys.readouterr().out
    err = usage_error(capsys, "tail", "-n", "1", "-c", "1", "oss://b/k")
    assert "not allowed with" in err and "Run 'ossbox tail --help'" in err
    assert main(["tail", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "-c and -n are tail(1)'s" in help_text and "ossbox -c FILE -n tail -c 100" in help_text


def test_server_log_level_has_help(capsys):
    assert main(["server", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--log-level {debug,info,warning,error} the least severe server log messages shown" in out


def test_entry_point_reports_unknown_flag():
    """The same message from a real `python -m ossbox` process, exit status 1."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "ossbox", "api", "seal-append-object", "--bucket", "b", "--key", "k",
                        "--postion", "1"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr == ("Error: unknown flag --postion (did you mean --position?)\n"
                        "Run 'ossbox api seal-append-object --help' for usage.\n")
