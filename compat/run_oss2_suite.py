#!/usr/bin/env python3
"""Run oss2's own integration tests (from its PyPI sdist) against a fresh local `ossbox server`.

    python compat/run_oss2_suite.py [--auth-version v1|v4|both] [--jobs 2] [--files test_object,test_multipart]
                                    [--cache-dir DIR] [--fixtures DIR] [--repo DIR] [--json OUT]

For each auth version: a fresh data dir, a fresh server on 127.0.0.1 and a free port (the key pair
of tests/serverproc.py; HTTPS on a second port for the tests in HTTPS_TESTS), then `pytest tests/` of a copy of the sdist with the variables its
tests/common.py reads (OSS_TEST_ACCESS_KEY_ID, _SECRET, _ENDPOINT, _BUCKET, _REGION, _AUTH_VERSION,
and OSS_TEST_UID / _PAYER_* / _RAM_* from a second account made with `ossbox admin`). Prints
per-file counts, the time taken, and classifies every failure as *cloud-only* or *client*
(compat/oss2_cloud_only.py says why), *fixture* (a data file the sdist lacks) or *ours*.
Exit status 1 when any failure is *ours*, 2 when the suite could not be run at all.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from oss2_cloud_only import classify_failure  # noqa: E402

OSS2_VERSION = "2.19.1"
REGION = "cn-hangzhou"


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ossbox-compat")


def fetch_sdist(cache_dir: str) -> str:
    """The unpacked sdist root (downloaded and unpacked once per cache dir). Raises RuntimeError
    with pip's output when the sdist cannot be downloaded."""
    root = os.path.join(cache_dir, f"oss2-{OSS2_VERSION}")
    if os.path.isfile(os.path.join(root, "tests", "common.py")):
        return root
    os.makedirs(cache_dir, exist_ok=True)
    archive = os.path.join(cache_dir, f"oss2-{OSS2_VERSION}.tar.gz")
    if not os.path.isfile(archive):
        # pip reads the sdist's metadata in an isolated build environment (setuptools and wheel
        # fetched for it): the venv itself may have no `wheel` ("invalid command 'bdist_wheel'")
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                              f"oss2=={OSS2_VERSION}", "-d", cache_dir],
                             capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not os.path.isfile(archive):
            raise RuntimeError(f"pip download oss2=={OSS2_VERSION} failed:\n{run.stdout}\n{run.stderr}")
    unpack = tempfile.mkdtemp(dir=cache_dir)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
        tar.extractall(unpack, members=members)
    # rename into place only when complete, so an interrupted unpack is never mistaken for one
    os.replace(os.path.join(unpack, f"oss2-{OSS2_VERSION}"), root)
    shutil.rmtree(unpack, ignore_errors=True)
    return root


# Tests that need the endpoint to answer HTTPS: test_https swaps http:// for https:// on the same
# host and port. One port cannot serve both schemes, and the whole suite cannot run over HTTPS
# either: common.py's tearDown rebuilds buckets from ListBuckets' ExtranetEndpoint, which has no
# scheme, so oss2 reaches it over http:// (real OSS answers both on 80 and 443). These run in a
# second pytest pass whose endpoint is the server's HTTPS port (--https-port, a throw-away
# self-signed certificate the pass trusts through REQUESTS_CA_BUNDLE).
HTTPS_TESTS = ["tests/test_api_base.py::TestApiBase::test_https"]


def start_server(data_dir: str, repo: str = REPO, tls: tuple[str, str] | None = None):
    """A fresh `ossbox server` of the checkout `repo` (default this one) on data_dir
    (tests/serverproc.py: 127.0.0.1, a free port, its fixed root key pair). With `tls`
    (certfile, keyfile) it also serves HTTPS on a second free port (server.https_endpoint)."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    from serverproc import ServerProcess
    env = {"PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    extra = ["--region", REGION, "--log-level", "warning"]
    if tls:
        extra += ["--certfile", tls[0], "--keyfile", tls[1], "--https-port", "0"]
    # `python -m` puts the working directory before PYTHONPATH: run it in repo (env -C execs)
    server = ServerProcess(data_dir, extra_args=extra, env=env, wrap=["env", "-C", repo]).start()
    server.https_endpoint = None
    if tls:
        from tlscert import https_endpoint
        server.https_endpoint = https_endpoint(server.output)
        if server.https_endpoint is None:
            server.stop()
            raise RuntimeError("the server printed no HTTPS address:\n" + "".join(server.output))
    return server


def make_accounts(server, work: str, key_id: str, key_secret: str, repo: str = REPO) -> dict:
    """The identities beyond the root key pair the suite reads: OSS_TEST_UID (the root account's
    UID, as GetService names the owner) and a second account for the requester-pays tests
    (OSS_TEST_PAYER_UID/_ACCESS_KEY_ID/_SECRET: a RAM-style user made with `ossbox admin`), and a
    RAM role ARN for inventory destinations (OSS_TEST_RAM_UID/_ROLE_ARN)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_"))}
    env.update(OSS_ACCESS_KEY_ID=key_id, OSS_ACCESS_KEY_SECRET=key_secret, OSS_REGION=REGION,
               OSS_ENDPOINT=server.endpoint, HOME=work,
               PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def admin(*args):
        run = subprocess.run([sys.executable, "-m", "ossbox", "admin", *args, "--output-format", "json", "-q"],
                             capture_output=True, text=True, env=env, timeout=120, cwd=repo)
        if run.returncode != 0:
            raise RuntimeError(f"ossbox admin {' '.join(args)} failed:\n{run.stderr}")
        return json.loads(run.stdout)

    import oss2
    owner = oss2.Service(oss2.Auth(key_id, key_secret), server.endpoint).list_buckets().owner.id
    payer = admin("user", "create", "oss2-suite-payer")
    key = admin("key", "create", "oss2-suite-payer")
    # inventory and replication name a RAM role to write with: ossbox takes the ARN as it is
    return {"OSS_TEST_UID": owner, "OSS_TEST_RAM_UID": owner,
            "OSS_TEST_RAM_ROLE_ARN": f"acs:ram::{owner}:role/oss2-suite-role",
            "OSS_TEST_PAYER_UID": payer["UserId"],
            "OSS_TEST_PAYER_ACCESS_KEY_ID": key["AccessKeyId"],
            "OSS_TEST_PAYER_ACCESS_KEY_SECRET": key["AccessKeySecret"]}


def prepare_sdist(cache_dir: str) -> str:
    """A directory for PYTHONPATH with what the suite imports beyond oss2's own requirements.
    The suite imports `mock` (the PyPI backport of unittest.mock, not a dependency of oss2): a
    one-line module gives it the standard library's."""
    shim = os.path.join(cache_dir, "shim")
    os.makedirs(shim, exist_ok=True)
    if importlib.util.find_spec("mock") is None:
        with open(os.path.join(shim, "mock.py"), "w") as f:
            f.write("from unittest.mock import *  # noqa: F401,F403 (oss2's tests import mock)\n")
    # test_crypto.py and test_credentials_provider.py import the STS SDK (oss2's extra for
    # AssumeRole) at module level: without it, not one of their tests runs. Kept in the cache dir,
    # not in the environment that runs this script.
    if importlib.util.find_spec("aliyunsdksts") is None and not os.path.isdir(os.path.join(shim, "aliyunsdksts")):
        run = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", shim,
                              "aliyun-python-sdk-sts"], capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            print(f"warning: cannot install aliyun-python-sdk-sts (test_crypto.py and "
                  f"test_credentials_provider.py will not import):\n{run.stderr}", file=sys.stderr)
    return shim


def copy_fixtures(fixtures: str, root: str) -> None:
    """The data files of fixtures (not its .py files) into root/tests, for one run."""
    for name in os.listdir(fixtures):
        src = os.path.join(fixtures, name)
        if os.path.isfile(src) and not name.endswith(".py"):
            shutil.copyfile(src, os.path.join(root, "tests", name))


def select_files(sdist: str, files: list[str]) -> list[str]:
    """tests/<file>.py paths of the sdist; `files` filters by name (test_object or test_object.py)."""
    tests = sorted(f for f in os.listdir(os.path.join(sdist, "tests"))
                   if f.startswith("test_") and f.endswith(".py"))
    if files:
        wanted = {f if f.endswith(".py") else f + ".py" for f in files}
        unknown = wanted - set(tests)
        if unknown:
            raise SystemExit(f"no such test file in oss2's tests/: {', '.join(sorted(unknown))}")
        tests = [t for t in tests if t in wanted]
    return ["tests/" + t for t in tests]


_CODE = re.compile(r"'Code': '([^']*)'")
_STATUS = re.compile(r"'status': (-?\d+)")
_MESSAGE = re.compile(r"'Message': '([^']*)'")


def summarize_failure(text: str) -> str:
    """One line for a failure: the OSS status/Code/Message the test saw, else pytest's `E` line."""
    code, status, message = _CODE.search(text), _STATUS.search(text), _MESSAGE.search(text)
    if code:
        return f"{status.group(1) if status else '?'} {code.group(1)}" + (f": {message.group(1)}" if message else "")
    e_lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
    line = e_lines[0] if e_lines else (text.strip().splitlines() or [""])[-1]
    return line[:300]


def parse_junit(path: str) -> list[dict]:
    """[{id, file, outcome (passed|failed|error|skipped), detail}] from pytest's junit XML."""
    results = []
    for case in ET.parse(path).getroot().iter("testcase"):
        classname = case.get("classname", "")
        if classname:
            # classname is tests.test_x.TestClass: the id in pytest's own form
            parts = classname.split(".")
            module = next((p for p in parts if p.startswith("test_")), parts[-1])
            cls = parts[-1] if parts[-1] != module else ""
            test_id = f"{module}.py::" + (f"{cls}::" if cls else "") + case.get("name", "")
        else:
            # a file that failed to import: name is tests.test_x
            module = case.get("name", "").split(".")[-1]
            test_id = f"{module}.py"
        outcome, detail, child = "passed", "", None
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                detail = (child.get("message") or "") + "\n" + (child.text or "")
                break
        results.append({"id": test_id, "file": module + ".py", "outcome": outcome,
                        "seconds": round(float(case.get("time") or 0), 1),
                        "detail": summarize_failure(detail) if outcome in ("failed", "error") else
                        (child.get("message") or "")[:200] if outcome == "skipped" else ""})
    return results


def classify(result: dict) -> None:
    """cloud-only (needs an Alibaba Cloud service) or client (a test of the SDK that cannot pass
    here), as compat/oss2_cloud_only.py says; fixture (a data file the sdist does not ship: run
    with --fixtures); else ours."""
    category, reason = classify_failure(result["id"], result["detail"])
    if category:
        result["class"], result["reason"] = category, reason
    elif "No such file or directory: 'tests/" in result["detail"]:
        result["class"], result["reason"] = "fixture", "data file not in the sdist (see --fixtures)"
    else:
        result["class"], result["reason"] = "ours", ""


def run_version(sdist: str, shim: str, files: list[str], auth_version: str, timeout: int, keep: bool,
                fixtures: str = "", repo: str = REPO) -> dict:
    # one work dir per run: the server's data dir, a copy of the sdist (its tests write files into
    # the current directory, which must be the sdist's root: they open tests/example.jpg),
    # pytest's log (`tail -f` it to follow a run) and its junit report
    work = tempfile.mkdtemp(prefix=f"ossbox-oss2-{auth_version}-")
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir)
    root = os.path.join(work, "oss2")
    shutil.copytree(sdist, root)
    if fixtures:
        # the data files the sdist does not ship (example.jpg, sample CSV/JSON, encrypted samples)
        copy_fixtures(fixtures, root)
    https_tests = [t for t in HTTPS_TESTS if t.split("::")[0] in files]
    tls = None
    if https_tests:
        sys.path.insert(0, os.path.join(REPO, "tests"))
        from tlscert import make_self_signed
        tls = make_self_signed(work)
    server = start_server(data_dir, repo, tls)
    from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
    junit = os.path.join(work, "junit.xml")
    log_path = os.path.join(work, "pytest.log")
    # Buckets named as the SDK's own CI names them (tests/common.py's default): test_bucket_with_group_id
    # lists buckets by the prefix "oss-python-sdk-".
    env = dict(os.environ,
               OSS_TEST_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_TEST_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
               OSS_TEST_ENDPOINT=server.endpoint, OSS_TEST_BUCKET="oss-python-sdk-", OSS_TEST_REGION=REGION,
               OSS_TEST_AUTH_VERSION=auth_version)
    # the cloud-only identities (an STS role, an auth server) stay unset: the tests that need them
    # are listed in oss2_cloud_only.py
    for name in list(env):
        if name.startswith("OSS_TEST_") and name not in (
                "OSS_TEST_ACCESS_KEY_ID", "OSS_TEST_ACCESS_KEY_SECRET", "OSS_TEST_ENDPOINT",
                "OSS_TEST_BUCKET", "OSS_TEST_REGION", "OSS_TEST_AUTH_VERSION"):
            del env[name]
    try:
        env.update(make_accounts(server, work, ACCESS_KEY_ID, ACCESS_KEY_SECRET, repo))
    except Exception:
        server.stop()
        raise
    env["PYTHONPATH"] = shim
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           "-rfE", "--rootdir", root, "-o", "junit_logging=no",
           "-o", "junit_family=xunit1", "--continue-on-collection-errors",
           # native tracebacks: pytest's own parse the test's source with ast, which fails after a
           # RecursionError in a test (INTERNALERROR "AST constructor recursion depth mismatch",
           # which ends the whole session)
           "--assert=plain", "--tb=native"]
    if importlib.util.find_spec("pytest_timeout") is not None:
        cmd[4:4] = ["--timeout", str(timeout)]
    print(f"auth {auth_version}: server {server.endpoint}, pytest log {log_path}", flush=True)
    # the main pass over plain HTTP, then the HTTPS tests against the HTTPS port (HTTPS_TESTS)
    passes = [(cmd + ["--junitxml", junit, *files, *(f"--deselect={t}" for t in https_tests)], env)]
    if https_tests:
        https_env = dict(env, OSS_TEST_ENDPOINT=server.https_endpoint, REQUESTS_CA_BUNDLE=tls[0])
        passes.append((cmd + ["--junitxml", junit + ".https.xml", *https_tests], https_env))
    started = time.monotonic()
    try:
        with open(log_path, "w") as log:
            for argv, pass_env in passes:
                code = subprocess.run(argv, cwd=root, env=pass_env, stdout=log,
                                      stderr=subprocess.STDOUT).returncode
                log.flush()
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    results = []
    for argv, _ in passes:
        report_path = argv[argv.index("--junitxml") + 1]
        if not os.path.isfile(report_path):
            with open(log_path) as log:
                raise RuntimeError(f"pytest produced no report (exit {code}):\n{log.read()[-4000:]}")
        results += parse_junit(report_path)
    server_errors = [ln for ln in server.output if "Traceback" in ln or "ERROR" in ln]
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    for r in results:
        if r["outcome"] in ("failed", "error"):
            classify(r)
    return {"auth_version": auth_version, "seconds": round(elapsed, 1), "results": results,
            "server_error_lines": len(server_errors), "work_dir": work if keep else ""}


def report(run: dict) -> int:
    v = run["auth_version"]
    per_file = collections.OrderedDict()
    for r in sorted(run["results"], key=lambda r: r["file"]):
        per_file.setdefault(r["file"], collections.Counter())[r["outcome"]] += 1
    print(f"\n== oss2 {OSS2_VERSION} tests, auth {v}: {run['seconds']} s ==")
    print(f"{'file':45} {'passed':>6} {'failed':>6} {'skipped':>7} {'error':>5}")
    total = collections.Counter()
    for f, c in per_file.items():
        total.update(c)
        print(f"{f:45} {c['passed']:6} {c['failed']:6} {c['skipped']:7} {c['error']:5}")
    print(f"{'TOTAL':45} {total['passed']:6} {total['failed']:6} {total['skipped']:7} {total['error']:5}")
    slowest = sorted(run["results"], key=lambda r: -r.get("seconds", 0))[:5]
    print("slowest: " + ", ".join(f"{r['id']} {r.get('seconds', 0)} s" for r in slowest))
    if run.get("server_error_lines"):
        print(f"server log: {run['server_error_lines']} lines with Traceback/ERROR")
    bad = [r for r in run["results"] if r["outcome"] in ("failed", "error")]
    ours = [r for r in bad if r["class"] == "ours"]
    for cls in ("cloud-only", "client", "fixture"):
        rows = [r for r in bad if r["class"] == cls]
        if rows:
            print(f"\n-- {v}: {len(rows)} {cls} failures --")
            for r in rows:
                print(f"  {r['id']}  [{r['reason']}]")
    if ours:
        print(f"\n-- {v}: {len(ours)} failures that are OURS --")
        for r in ours:
            print(f"  {r['id']}  {r['detail']}")
    return len(ours)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--auth-version", choices=["v1", "v4", "both"], default="both")
    p.add_argument("--files", default="", help="comma-separated test files of oss2's tests/ (default all)")
    p.add_argument("--cache-dir", default=default_cache_dir(), help="where the sdist is kept (default %(default)s)")
    p.add_argument("--timeout", type=int, default=300, help="per-test timeout in seconds (pytest-timeout)")
    p.add_argument("--fixtures", default="", help="the tests/ dir of a checkout of aliyun-oss-python-sdk: "
                   "its data files (example.jpg, ...) are copied into the sdist's tests/")
    p.add_argument("--repo", default=REPO, help="the ossbox checkout whose server to test (default %(default)s)")
    p.add_argument("--jobs", type=int, default=1, help="with --auth-version both: run the two at once (2)")
    p.add_argument("--json", help="also write the results as JSON to this file")
    p.add_argument("--from-json", help="do not run: reclassify and print the results of an earlier --json")
    p.add_argument("--keep", action="store_true", help="keep the work dirs (server data, pytest.log, junit.xml)")
    args = p.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            earlier = json.load(f)
        ours = 0
        for run in earlier["runs"]:
            for r in run["results"]:
                if r["outcome"] in ("failed", "error"):
                    classify(r)
            ours += report(run)
        print(f"\ntotal time {earlier['seconds']} s; failures that are ours: {ours}")
        return 1 if ours else 0
    try:
        sdist = fetch_sdist(args.cache_dir)
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"cannot get the oss2 sdist: {exc}", file=sys.stderr)
        return 2
    shim = prepare_sdist(args.cache_dir)
    files = select_files(sdist, [f.strip() for f in args.files.split(",") if f.strip()])
    versions = ["v1", "v4"] if args.auth_version == "both" else [args.auth_version]
    started = time.monotonic()
    runs, ours = [], 0
    # each version has its own server and work dir, so they can run side by side (--jobs 2): the
    # suite spends much of its time waiting on its own sleeps and on the server
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {v: pool.submit(run_version, sdist, shim, files, v, args.timeout, args.keep, args.fixtures,
                                  os.path.abspath(args.repo)) for v in versions}
        for v, future in futures.items():
            try:
                run = future.result()
            except RuntimeError as exc:
                print(f"auth {v}: {exc}", file=sys.stderr)
                return 2
            runs.append(run)
            ours += report(run)
    total = round(time.monotonic() - started, 1)
    print(f"\ntotal time {total} s; failures that are ours: {ours}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"oss2": OSS2_VERSION, "seconds": total, "ours": ours, "runs": runs}, f, indent=1)
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
