"""A private network of Linux network namespaces for multi-node tests (issue 11, "Multi-node suite").

`NetLab(names)` makes one namespace per name, `ossbox-<pid>-<name>`, each joined by a veth pair to
a bridge in the root namespace, with addresses from a private /24 that nothing on this machine uses
(10.213.X.0/24; the bridge is .1 so clients in the test process reach every node). Only links and
addresses the lab creates are touched. `partition(name)` takes a node's bridge-side veth down
(every packet to and from it is dropped, its sockets stay open as on a real cut cable) and `heal`
brings it back up; `popen(name, argv)` runs a command inside a namespace.

Teardown kills whatever still runs in the lab's namespaces (`ip netns pids`), then deletes them
(after their veths, which deletes the peers at once), the bridge and the lab's work dir. A run that was killed before its
teardown leaves namespaces, links and processes behind; every new lab first removes those of
runs whose process no longer exists, recognised by the pid in their names.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

PREFIX = "ossbox-"              # namespaces: ossbox-<pid>-<name>
LINK_PREFIX = "obx"             # links: obx<pid>b (bridge), obx<pid>v<i> (bridge side of node i)
SUBNET_POOL = ipaddress.ip_network("10.213.0.0/16")   # private; one /24 per run


def unavailable() -> str:
    """'' when namespaces can be made here, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "no `ip` command (iproute2)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"`ip netns add` does not work here: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    out = _ip("-j", "netns", "list", check=False).stdout.strip()
    return [n["name"] for n in json.loads(out)] if out else []


def _kill_inside(ns: str) -> None:
    """SIGKILL every process in namespace ns and wait (briefly) until they are gone."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = [int(p) for p in _ip("netns", "pids", ns, check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def remove_leftovers() -> list[str]:
    """Delete the namespaces, links and work dirs of earlier labs whose test process is gone;
    returns their names."""
    removed = []
    for ns in _namespaces():
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)-.+", ns)
        if m and not _pid_alive(int(m.group(1))):
            _kill_inside(ns)
            _ip("netns", "del", ns, check=False)
            removed.append(ns)
    links = json.loads(_ip("-j", "link", "show").stdout or "[]")
    for link in links:
        m = re.fullmatch(LINK_PREFIX + r"(\d+)[bv]\d*", link["ifname"])
        if m and not _pid_alive(int(m.group(1))):
            _ip("link", "del", link["ifname"], check=False)
            removed.append(link["ifname"])
    for entry in os.listdir(tempfile.gettempdir()):
        m = re.fullmatch(re.escape(PREFIX) + r"(\d+)-lab", entry)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(tempfile.gettempdir(), entry), ignore_errors=True)
            removed.append(entry)
    return removed


def _free_subnet(start: int) -> ipaddress.IPv4Network:
    """A /24 of SUBNET_POOL that overlaps no address or route of the root namespace."""
    used = []
    for link in json.loads(_ip("-j", "addr", "show").stdout or "[]"):
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for route in json.loads(_ip("-j", "route", "show", "table", "all").stdout or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            try:
                used.append(ipaddress.ip_network(dst, strict=False))
            except ValueError:
                pass
    subnets = list(SUBNET_POOL.subnets(new_prefix=24))
    for k in range(len(subnets)):
        net = subnets[(start + k) % len(subnets)]
        if net.network_address.packed[2] in (0, 255):
            continue
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise RuntimeError(f"no free /24 in {SUBNET_POOL}")


class NetLab:
    """Namespaces on one bridge. Use as a context manager (teardown also on failure)."""

    def __init__(self, names: list[str]):
        self.pid = os.getpid()
        self.names = list(names)
        self.bridge = f"{LINK_PREFIX}{self.pid}b"
        self.ns: dict[str, str] = {}      # name -> namespace
        self.veth: dict[str, str] = {}    # name -> bridge-side veth (in the root namespace)
        self.addr: dict[str, str] = {}    # name -> its address on the bridge
        self.subnet: ipaddress.IPv4Network | None = None
        self.bridge_addr = ""
        self.procs: list[subprocess.Popen] = []
        # scratch space of the lab's processes, removed with the lab (also by remove_leftovers)
        self.workdir = os.path.join(tempfile.gettempdir(), f"{PREFIX}{self.pid}-lab")

    def __enter__(self) -> "NetLab":
        remove_leftovers()
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)   # services that drop root (PostgreSQL) keep their files here
        self.subnet = _free_subnet(self.pid)
        hosts = self.subnet.hosts()
        self.bridge_addr = str(next(hosts))
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.bridge_addr}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, name in enumerate(self.names):
            ns, outer, inner = f"{PREFIX}{self.pid}-{name}", f"{LINK_PREFIX}{self.pid}v{i}", f"obx{i}"
            _ip("netns", "add", ns)
            self.ns[name] = ns
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
            self.veth[name] = outer
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            self.addr[name] = str(next(hosts))
            _ip("addr", "add", f"{self.addr[name]}/24", "dev", inner, ns=ns)
            _ip("link", "set", inner, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)

    def down(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for ns in self.ns.values():
            _kill_inside(ns)
        # deleting a veth deletes its peer at once; a deleted namespace frees its links later
        for veth in self.veth.values():
            _ip("link", "del", veth, check=False)
        self.veth.clear()
        for ns in self.ns.values():
            _ip("netns", "del", ns, check=False)
        self.ns.clear()
        _ip("link", "del", self.bridge, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- running things inside -------------------------------------------------------------------
    def wrap(self, name: str) -> list[str]:
        """The argv prefix that runs a command inside name's namespace (`ip netns exec` execs it,
        so the Popen pid is the command's own)."""
        return ["ip", "netns", "exec", self.ns[name]]

    def popen(self, name: str, argv: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(self.wrap(name) + list(argv), **kw)
        self.procs.append(p)
        return p

    # -- faults ----------------------------------------------------------------------------------
    def partition(self, name: str) -> None:
        """Cut name off the network: nothing reaches it or leaves it until heal()."""
        _ip("link", "set", self.veth[name], "down")

    def heal(self, name: str) -> None:
        _ip("link", "set", self.veth[name], "up")
