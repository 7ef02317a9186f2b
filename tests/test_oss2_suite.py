"""oss2's own integration tests (from its PyPI sdist, oss2==2.19.1) against a fresh server, V1 and
V4 signatures, through compat/run_oss2_suite.py: every failure must be one that needs an Alibaba
Cloud service (compat/oss2_cloud_only.py says which and why) or a data file the sdist lacks.
The sdist is cached under OSSBOX_COMPAT_CACHE (default ~/.cache/ossbox-compat);
OSSBOX_OSS2_FILES=test_object,test_bucket runs only those files of the suite."""
import json
import os
import subprocess
import sys
import warnings

import pytest
from serverproc import TEST_META

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "compat", "run_oss2_suite.py")

# The runner starts its own embedded servers: a PostgreSQL pass of the suite would repeat it as is.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600),
              pytest.mark.skipif(bool(TEST_META), reason="starts its own embedded servers; run in the SQLite pass")]


@pytest.mark.xfail(reason="issue 12 in progress", strict=False)
def test_oss2_suite_has_no_failure_of_ours(tmp_path):
    out = tmp_path / "oss2.json"
    cmd = [sys.executable, SCRIPT, "--auth-version", "both", "--json", str(out)]
    if os.environ.get("OSSBOX_COMPAT_CACHE"):
        cmd += ["--cache-dir", os.environ["OSSBOX_COMPAT_CACHE"]]
    if os.environ.get("OSSBOX_OSS2_FILES"):
        cmd += ["--files", os.environ["OSSBOX_OSS2_FILES"]]
    # its work dirs (server data, a copy of the sdist) land in this test's tmp_path, removed with it
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=3500,
                         env=dict(os.environ, TMPDIR=str(tmp_path)))
    if run.returncode == 2 and "cannot get the oss2 sdist" in run.stderr:
        pytest.skip("the oss2==2.19.1 sdist cannot be downloaded (pip download --no-binary :all:): "
                    + run.stderr.strip().splitlines()[-1])
    assert out.exists(), (run.returncode, run.stdout[-4000:], run.stderr[-4000:])
    result = json.loads(out.read_text())
    ours = [f"{r['auth_version']} {x['id']}: {x['detail']}" for r in result["runs"] for x in r["results"]
            if x.get("class") == "ours"]
    if ours:
        listing = "\n".join(ours)
        warnings.warn(f"oss2 suite: {len(ours)} failures are ours ({result['seconds']} s):\n{listing}")
    assert not ours, f"{len(ours)} failures of oss2's suite are ours:\n" + "\n".join(ours)
    assert run.returncode == 0, run.stdout[-4000:]
