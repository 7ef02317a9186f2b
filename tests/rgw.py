"""A private single-node Ceph with the RADOS Gateway (S3 API) on 127.0.0.1, for the tests that need a
real S3-compatible store (scale-out byte store, issue 11; ../shared/spec/scaleout.md).

One monitor, one OSD on `memstore` (bytes in the OSD's memory, nothing on disk) and radosgw with the
beast frontend, all under a temp dir, on free ports, no cephx, no mgr. `RgwCluster.unavailable()`
says why one cannot be made here ('' when it can); the `rgw` fixture skips with that reason.

Bring-up is one mon, `ceph osd new`, the OSD's mkfs, then radosgw, which creates its own pools: about
1 s on the 2-core dev machine, most of it saved by a short `paxos propose interval` (see _conf()).
Daemons run in the foreground as our children and die with the test process (setpriv --pdeathsig).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from s3test import S3Endpoint

# the packages that hold the binaries (Debian 12: Ceph 16.2 "pacific"); .ci/install-ceph installs them
PACKAGES = ("ceph-mon", "ceph-osd", "radosgw")
TOOLS = ("monmaptool", "ceph-mon", "ceph-osd", "ceph", "radosgw", "radosgw-admin")

ACCESS_KEY_ID = "OSSBOXRGWTESTKEY000"
SECRET_ACCESS_KEY = "ossbox-rgw-test-secret-0000000000000000"


def _with_parent(cmd: list) -> list:
    """cmd, run so that it gets SIGKILL when the thread that started it dies: a test run that is itself
    killed (timeout, ^C twice) leaves no Ceph daemon behind. Through util-linux's setpriv rather than
    prctl in a preexec_fn, which may deadlock a process that has threads (moto's server, pools).
    Start the cluster from a thread that outlives it (the main thread)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RgwCluster(S3Endpoint):
    """`start()` brings it up (blocks until radosgw answers and the S3 user exists), `destroy()`
    kills every daemon it started and removes the temp dir. `stop_rgw()`/`start_rgw()` take the
    gateway down and up again on the same port (the store "restarts" under load); the bytes stay
    in the OSD."""

    def __init__(self, memstore_bytes: int = 1 << 30):
        self.root = tempfile.mkdtemp(prefix="ossbox-ceph-")
        self.conf = os.path.join(self.root, "ceph.conf")
        self.fsid = str(uuid.uuid4())
        self.mon_port = _free_port()
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.access_key_id = ACCESS_KEY_ID
        self.secret_access_key = SECRET_ACCESS_KEY
        self.memstore_bytes = memstore_bytes
        self.procs: dict[str, subprocess.Popen] = {}

    @staticmethod
    def unavailable() -> str:
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            return (f"Ceph is not installed (no {', '.join(missing)}; Debian packages "
                    f"{' '.join(PACKAGES)}, see .ci/install-ceph)")
        return ""

    # -- configuration ---------------------------------------------------------------------------
    def _conf(self) -> str:
        r = self.root
        return f"""[global]
fsid = {self.fsid}
mon host = v2:127.0.0.1:{self.mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
run dir = {r}/run
admin socket = {r}/run/$name.asok
log file = {r}/log/$name.log
pid file = {r}/run/$name.pid
# no cephx: a private cluster on loopback, and no keyrings to generate and hand around
auth cluster required = none
auth service required = none
auth client required = none
# no session keys without cephx, so no "secure" (encrypted) msgr2 mode: radosgw asks the monitor for
# secure only by default and then fails with "get_initial_auth_request returned -13"
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
# one OSD: every pool has one replica (at the default 3, min 2, radosgw's pools never become active
# and it never answers)
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
# the monitor batches map changes for up to `paxos propose interval` (1 s); radosgw's first start
# waits on a dozen of them (a pool each, then its PGs): bring-up 11.6 s at the default, 1.0 s here
paxos propose interval = 0.01
paxos min wait = 0.001
# memstore: objects live in the OSD's memory and are gone when it stops; the size is only its limit
osd objectstore = memstore
memstore device bytes = {self.memstore_bytes}

[mon.a]
mon data = {r}/mon

[osd.0]
osd data = {r}/osd

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:{self.port} tcp_nodelay=1
rgw data = {r}/rgw
# deleted and overwritten objects' tail RADOS objects go to RGW's garbage collector, which by default
# waits 2 h and runs hourly: memstore would fill up, and a full OSD blocks writes (no error, a hang)
rgw gc obj min wait = 2
rgw gc processor period = 5
# no other background work that competes with the tests for 2 cores
rgw enable lc threads = false
rgw dynamic resharding = false
"""

    # -- running the tools -----------------------------------------------------------------------
    def _run(self, *cmd: str, timeout: float = 60) -> str:
        r = subprocess.run([cmd[0], "-c", self.conf, *cmd[1:]], capture_output=True, text=True,
                           timeout=timeout, cwd=self.root)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}"
                               + self.log_tail())
        return r.stdout

    def _daemon(self, name: str, *cmd: str) -> None:
        # -f: stay in the foreground, so the process is ours to kill by pid (no daemonising)
        with open(os.path.join(self.root, "log", f"{name}.out"), "wb") as out:
            self.procs[name] = subprocess.Popen(
                _with_parent([cmd[0], "-f", "-c", self.conf, *cmd[1:]]), cwd=self.root, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = 20) -> str:
        out = []
        for name in sorted(os.listdir(os.path.join(self.root, "log"))):
            with open(os.path.join(self.root, "log", name), errors="replace") as f:
                tail = f.readlines()[-lines:]
            if tail:
                out.append(f"\n--- {name} ---\n" + "".join(tail))
        return "".join(out)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> "RgwCluster":
        for d in ("run", "log", "mon", "osd", "rgw"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(self._conf())
        deadline = time.monotonic() + timeout
        monmap = os.path.join(self.root, "monmap")
        subprocess.run(["monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                        f"[v2:127.0.0.1:{self.mon_port}]", monmap], check=True, capture_output=True)
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap)
        self._daemon("mon.a", "ceph-mon", "-i", "a")

        osd_uuid = str(uuid.uuid4())
        # `osd new` also waits for the monitor to form its quorum of one
        osd_id = self._run("ceph", "--connect-timeout", "30", "osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise RuntimeError(f"expected OSD id 0, got {osd_id!r}")
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("osd.0", "ceph-osd", "-i", "0")
        self.start_rgw(deadline - time.monotonic())
        self._run("radosgw-admin", "user", "create", "--uid", "ossbox", "--display-name", "ossbox tests",
                  "--access-key", self.access_key_id, "--secret", self.secret_access_key)
        return self

    def start_rgw(self, timeout: float = 120) -> None:
        """Start radosgw (again) and wait until it answers HTTP; the first start creates its pools."""
        import urllib.error
        import urllib.request
        self._daemon("rgw", "radosgw", "-n", "client.rgw")
        deadline = time.monotonic() + timeout
        while True:
            proc = self.procs["rgw"]
            if proc.poll() is not None:
                raise RuntimeError(f"radosgw exited ({proc.returncode})" + self.log_tail())
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return                       # any S3 answer (403 for anonymous) means it serves
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"radosgw did not answer on {self.endpoint} within {timeout:.0f} s"
                                       + self.log_tail())
                time.sleep(0.2)

    def stop_rgw(self) -> None:
        """Kill radosgw (SIGKILL: the gateway vanishes mid-request, as in a crash)."""
        self._kill("rgw")

    def _kill(self, name: str) -> None:
        # SIGKILL: nothing in a memstore cluster is worth a clean shutdown, and a daemon stuck on a
        # full OSD does not answer SIGTERM
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.kill()
            proc.wait(30)

    def destroy(self) -> None:
        for name in ("rgw", "osd.0", "mon.a"):
            self._kill(name)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def rgw():
    """A running RgwCluster for the session (one bring-up), destroyed at the end; skips when Ceph is
    not installed."""
    reason = RgwCluster.unavailable()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("obstore", reason="the s3 extra (obstore) is not installed")
    cluster = RgwCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
