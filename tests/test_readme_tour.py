"""The README's first hour, executed (issue 13, "The first hour"), so that it cannot rot.

* "A quick tour": every ```sh and ```python block of that section is run in order, as one shell
  session in a fresh directory with a fresh HOME, against a real `ossbox server` started there the
  way "Two commands" starts it (no flags but `--port 0`: the default `./ossbox-data`, a generated key
  pair). Each python block is saved as `tour.py` and run with `python tour.py`, as the README says.
  The only change made to the blocks: the README's endpoint `127.0.0.1:9000` becomes the test
  server's `127.0.0.1:<port>`. The `.venv` the tour activates is a directory of shims for this
  interpreter and this checkout (`python`, `pip`, `ossbox`), so the checkout's code is what runs;
  pip may not reach an index (PIP_NO_INDEX): what the tour installs must already be in the test
  environment, which `pip install -e '.[test]'` provides.
  Checked: every command's exit status (`set -e -o pipefail`), the outputs the README's comments
  promise (a python line `print(...)  # X` must print the line X), the client half's results,
  that the tour installs what its python imports and creates the files it reads.
* "Two commands": the test command is the one `.ci/run` runs, and every extra `pip install
  '.[...]'` names anywhere in the README exists in pyproject.toml.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
README_ENDPOINT = "127.0.0.1:9000"
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def section(title: str) -> str:
    """The text of the `## title` section, up to the next `## ` heading."""
    m = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert m, f"README.md has no section '## {title}'"
    return m.group(1)


def code_blocks(text: str) -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in FENCE.findall(text)]


def tour_blocks() -> list[tuple[str, str]]:
    blocks = code_blocks(section("A quick tour"))
    assert blocks and {lang for lang, _ in blocks} == {"sh", "python"}, blocks
    return blocks


# == the tour's own promises, read from its text =================================================
def test_tour_installs_what_its_python_imports():
    blocks = tour_blocks()
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    installed_with_ossbox = {re.split(r"[<>=;\[ ]", d)[0].replace("-", "_") for d in deps}
    shell_so_far = ""
    for lang, body in blocks:
        if lang == "sh":
            shell_so_far += body
            continue
        for module in re.findall(r"^\s*(?:import|from)\s+(\w+)", body, re.M):
            if module in sys.stdlib_module_names or module in installed_with_ossbox:
                continue
            assert re.search(rf"^\s*pip install [^#\n]*\b{module}\b", shell_so_far, re.M), (
                f"the tour's python imports {module} but no earlier block runs `pip install {module}`")


def test_tour_creates_the_files_it_reads():
    text = "".join(body for _, body in tour_blocks())
    for path in re.findall(r"file://(\S+)", text):
        assert re.search(rf">\s*{re.escape(path)}\b", text.split("file://" + path)[0]), (
            f"the tour reads {path} before creating it")


def test_tour_uses_one_endpoint_the_test_can_replace():
    text = "".join(body for _, body in tour_blocks())
    assert README_ENDPOINT in text
    assert len(re.findall(r"127\.0\.0\.1:\d+|localhost:\d+", text)) == text.count(README_ENDPOINT)


# == the tour, run ==================================================================================
def make_venv_shims(venv: Path) -> None:
    """`.venv/bin/{activate,python,python3,pip,ossbox}` running this interpreter on this checkout."""
    bin_ = venv / "bin"
    bin_.mkdir(parents=True)
    py = shlex.quote(sys.executable)
    shims = {"python": f'exec {py} "$@"', "python3": f'exec {py} "$@"', "pip": f'exec {py} -m pip "$@"',
             "ossbox": f'exec {py} -m ossbox "$@"'}
    for name, line in shims.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{line}\n")
        (bin_ / name).chmod(0o755)
    (bin_ / "activate").write_text(f'VIRTUAL_ENV={shlex.quote(str(venv))}\nexport VIRTUAL_ENV\n'
                                   f'PATH={shlex.quote(str(bin_))}:"$PATH"\nexport PATH\n')


def tour_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OSS_", "OSSUTIL_", "OSSBOX_", "VIRTUAL_ENV", "PIP_"))}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONIOENCODING="utf-8", LANG="C.UTF-8")
    return env


@pytest.fixture
def tour_dir(tmp_path):
    """A fresh directory with the shimmed .venv and a server started in it as "Two commands" does."""
    (tmp_path / "home").mkdir()
    make_venv_shims(tmp_path / ".venv")
    env = tour_env(tmp_path / "home")
    proc = subprocess.Popen([str(tmp_path / ".venv/bin/ossbox"), "server", "--port", "0"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ossbox listening on "):
                break
        else:
            raise AssertionError("server did not start: " + "".join(lines))
        assert "generated a root key pair" in "".join(lines)  # what the tour's text says it prints
        port = int(line.rsplit(":", 1)[1])
        yield tmp_path, env, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def tour_script(blocks, workdir: Path, port: int) -> tuple[str, list[list[str]]]:
    """One bash script running the blocks in order; each block's output follows a marker line.
    Also: per block, the lines its python `print(...)  # expected` comments promise."""
    parts, promised = ["set -e -o pipefail"], []
    for i, (lang, body) in enumerate(blocks):
        body = body.replace(README_ENDPOINT, f"127.0.0.1:{port}")
        parts.append(f"echo '@@block {i}@@'")
        if lang == "sh":
            parts.append(body)
            promised.append([])
        else:
            (workdir / f"tour{i}.py").write_text(body)
            # the README says "save it as tour.py and run python tour.py"
            parts.append(f"cp tour{i}.py tour.py && python tour.py")
            promised.append([c.strip() for c in re.findall(r"^\s*print\(.*\)\s*#\s*(.+)$", body, re.M)])
    return "\n".join(parts) + "\n", promised


def test_quick_tour_runs_as_written(tour_dir):
    workdir, env, port = tour_dir
    blocks = tour_blocks()
    script, promised = tour_script(blocks, workdir, port)
    r = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"the tour failed ({r.returncode})\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    outputs = re.split(r"^@@block \d+@@\n", r.stdout, flags=re.M)[1:]
    assert len(outputs) == len(blocks), r.stdout
    for out, lines in zip(outputs, promised):
        printed = out.splitlines()
        assert lines == [p for p in printed if p in lines], f"promised {lines}, printed:\n{out}"

    # the client half: the README's comments and the data it wrote
    cli = outputs[max(i for i, (lang, _) in enumerate(blocks) if lang == "sh")]
    assert re.search(r'"X-Oss-Next-Append-Position":\s*\[\s*"23"\s*\]', cli), cli
    assert "second line\nthird line\n" in cli, cli  # tail -n 2
    assert cli.rstrip("\n").endswith("first line\nsecond line\nthird line"), cli  # cat
    assert "oss://tour-cli/app.log" in cli  # ls
    # the keys came from the data dir the server generated them in, not from this environment
    assert (workdir / "ossbox-data" / "credentials.json").exists()


# == "Two commands" ==================================================================================
def test_two_commands_are_what_ci_runs_and_pyproject_supports():
    blocks = code_blocks(section("Two commands"))
    assert [lang for lang, _ in blocks] == ["sh", "sh"], blocks
    server_cmd, test_cmd = (body.strip() for _, body in blocks)

    # the test command's steps are .ci/run's (which adds only --quiet)
    ci_steps = set()
    for line in (REPO / ".ci/run").read_text().splitlines():
        if not line.lstrip().startswith("#"):
            ci_steps.update(step.strip().replace(" --quiet", "") for step in line.split("&&"))
    for step in test_cmd.split("&&"):
        assert step.strip() in ci_steps, f"README's `{step.strip()}` is not a step of .ci/run"

    # the server command installs the `ossbox` script it then runs
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert ".venv/bin/pip install . " in server_cmd and server_cmd.endswith(".venv/bin/ossbox server")
    assert project["scripts"]["ossbox"] == "ossbox.cli:main"

    # every extra the README installs exists
    extras = set(project["optional-dependencies"])
    named = {e.strip() for group in re.findall(r"\.\[([\w,\s-]+)\]", README) for e in group.split(",")}
    assert named and named <= extras, f"README installs extras {named - extras} that pyproject lacks"
