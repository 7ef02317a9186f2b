"""The official Node.js client ali-oss (tests/js/package.json pins it) through compat/ali_oss_smoke.js
with a plain `endpoint: 'http://127.0.0.1:PORT'`: append (and a wrong position: 409
PositionNotEqualToLength naming the next position), head, get, range get, put, copy, ACL, object
tagging, list, listV2, multipart, signatureUrl (fetched), a PostObject form upload, a CORS preflight,
deleteMulti. One test per step, so the report says which client feature works."""
import json
import os
import subprocess
import uuid

import pytest

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
from test_addressing import NODE, _ali_oss_missing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "compat", "ali_oss_smoke.js")

STEPS = ["putBucket", "append", "appendWrongPosition", "head", "get", "rangeGet", "put", "copy", "objectAcl",
         "bucketAcl", "objectTagging", "list", "listV2", "multipart", "signatureUrl", "postObject",
         "corsPreflight", "deleteMulti", "deleteBucket"]

pytestmark = pytest.mark.skipif(bool(_ali_oss_missing()), reason=_ali_oss_missing() or "-")


@pytest.fixture(scope="module")
def smoke(server):
    """The script's run against the session's server: {step: "ok" | reason}."""
    bucket = f"ali-smoke-{uuid.uuid4().hex[:12]}"
    run = subprocess.run([NODE, SCRIPT, f"http://127.0.0.1:{server.port}", bucket], cwd=REPO,
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, OSSBOX_AK=ACCESS_KEY_ID, OSSBOX_SK=ACCESS_KEY_SECRET))
    lines = run.stdout.strip().splitlines()
    assert lines, (run.stdout, run.stderr)
    result = json.loads(lines[-1])
    assert "error" not in result, (run.stdout, run.stderr)
    return result["steps"]


@pytest.mark.parametrize("step", STEPS)
def test_ali_oss_step(smoke, step):
    assert step in smoke, f"the script ran no step {step!r}: {sorted(smoke)}"
    assert smoke[step] == "ok", f"{step}: {smoke[step]}"
