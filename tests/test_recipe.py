"""The container recipe (deploy/, issue 13). Images cannot be pulled here, so the slow test replays
the Dockerfile's steps in a plain venv with deploy/check-recipe.sh (install as RUN does, start as
ENTRYPOINT/CMD does, probe the HEALTHCHECK, stop with STOPSIGNAL); the fast ones check that the
compose file wires the scale-out setup together."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from serverproc import TEST_META

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(bool(TEST_META), reason="the recipe's server keeps its own (SQLite) metadata whatever "
                    "OSSBOX_TEST_META says: this run would repeat the one of the SQLite pass")
def test_the_dockerfile_steps_work_in_a_plain_venv():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSBOX_") and k != "PYTHONPATH"}
    r = subprocess.run([os.path.join(DEPLOY, "check-recipe.sh")], capture_output=True, text=True,
                       timeout=850, env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "check-recipe: HEALTHCHECK passed" in r.stdout
    assert "check-recipe: SIGTERM: exit status 0" in r.stdout
    assert r.stdout.rstrip().endswith("check-recipe: the recipe works")


def _compose():
    with open(os.path.join(DEPLOY, "compose.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)s", str(text))
    assert m, text
    return float(m.group(1))


def test_compose_runs_nodes_on_postgres_and_s3_behind_a_balancer():
    services = _compose()["services"]
    nodes = {name: s for name, s in services.items() if s.get("image") == "ossbox:local"}
    assert len(nodes) >= 2
    assert services["postgres"]["image"].startswith("postgres:")
    assert "minio" in services["minio"]["image"]
    env = dict(line.split("=", 1) for line in open(os.path.join(DEPLOY, "ossbox.env"))
               if "=" in line and not line.startswith("#"))
    assert env["OSSBOX_META"].startswith("postgresql://") and "@postgres:" in env["OSSBOX_META"]
    assert env["OSSBOX_DATA"].startswith("s3://") and "minio:9000" in env["OSSBOX_DATA"]
    lb = services["nginx"]
    assert set(lb["depends_on"]) == set(nodes)
    assert all(d["condition"] == "service_healthy" for d in lb["depends_on"].values())
    conf = open(os.path.join(DEPLOY, "nginx.conf")).read()
    for name in nodes:
        assert f"server {name}:9000" in conf
    # docker stop's SIGKILL comes after the graceful window the image gives the server
    dockerfile = open(os.path.join(DEPLOY, "Dockerfile")).read()
    window = float(re.search(r"OSSBOX_SHUTDOWN_TIMEOUT=(\d+)", dockerfile).group(1))
    for node in nodes.values():
        assert _seconds(node["stop_grace_period"]) > window
    assert "HEALTHCHECK" in dockerfile and "/-/health/ready" in dockerfile
