"""The nearest peer with a position-checked append: Azure Blob "Append Block" on Azurite.

The load client is bench/osswire.py's, request for request: the same `_Conn` protocol (raw
keep-alive HTTP/1.1 on asyncio + uvloop, one request in flight per connection), one object per
client, a signature per request (SharedKey: HMAC-SHA256 where OSS V1 is HMAC-SHA1) and a Date cached
per second. Each client first creates its Append Blob (Put Blob, x-ms-blob-type: AppendBlob), then
appends `size` bytes with `PUT ...?comp=appendblock` and `x-ms-blob-condition-appendpos: N` (the
service refuses the block with 412 unless the blob is exactly N bytes long: the same precondition
as OSS's `position`). A response counts only if it is 201 and its `x-ms-blob-append-offset` is N.
Afterwards every blob is read back: its length and CRC-64 must match what the client appended.

Azurite itself (npm package `azurite`) is installed into bench/.azurite on first use.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import os
import shutil
import socket
import subprocess
import time

import fastcrc

import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from osswire import DateCache, _Conn, _connect, _recv_response, run_clients  # noqa: E402
from serverproc import wait_for_line  # noqa: E402

ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (documented in Azurite's README; not a secret)
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZF"
               "PTOtr/KBHBeksoGMGw==")
API_VERSION = "2021-12-02"
PREFIX = os.path.join(HERE, ".azurite")
BIN = os.path.join(PREFIX, "node_modules", ".bin", "azurite-blob")
PACKAGE = "azurite@3"


# -- Azurite itself ---------------------------------------------------------------------------------
def ensure_azurite(log) -> str:
    """'' when bench/.azurite has Azurite (installing it with npm if needed), else why not."""
    if os.path.exists(BIN):
        return ""
    if shutil.which("node") is None:
        return "node is not installed"
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    log(f"installing {PACKAGE} into {PREFIX} (npm install --prefix)")
    try:
        r = subprocess.run([npm, "install", "--prefix", PREFIX, "--no-audit", "--no-fund", PACKAGE],
                           capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm install {PACKAGE} failed: {exc}"
    if r.returncode != 0 or not os.path.exists(BIN):
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return f"npm install {PACKAGE} failed (exit {r.returncode}): {' | '.join(tail)}"
    return ""


def azurite_version() -> str:
    import json
    try:
        with open(os.path.join(PREFIX, "node_modules", "azurite", "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Azurite:
    """azurite-blob on 127.0.0.1 and a free port, its workspace (blobs + LokiJS metadata) in `location`."""

    def __init__(self, location: str):
        self.location = location
        self.proc = None
        self.port = None
        self.output: list[str] = []

    def start(self, timeout: float = 60.0) -> "Azurite":
        os.makedirs(self.location, exist_ok=True)
        for _ in range(3):                      # the free port may be taken before Azurite binds it
            self.port = _free_port()
            self.proc = subprocess.Popen(
                [BIN, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", self.location,
                 "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if wait_for_line(self.proc, lambda ln: "successfully listens" in ln, self.output, timeout):
                return self
            self.stop()
        raise RuntimeError("azurite did not start:\n" + "".join(self.output[-20:]))

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else 0


# -- SharedKey requests -----------------------------------------------------------------------------
def sign(key: bytes, verb: str, length: int, path: str, query: str, xms: list) -> str:
    """SharedKey signature (version 2015-02-21+): the 12 standard header lines (only Content-Length
    is sent; empty when 0), the x-ms-* headers sorted, then /account/path and the query as
    `name:value` lines. `xms`: (lower-case name, value) pairs, already sorted; `query`: one
    `name=value` or ''."""
    lines = [verb, "", "", str(length) if length else "", "", "", "", "", "", "", "", ""]
    sts = "\n".join(lines) + "\n" + "".join(f"{n}:{v}\n" for n, v in xms) + f"/{ACCOUNT}{path}"
    if query:
        name, _, value = query.partition("=")
        sts += f"\n{name}:{value}"
    return base64.b64encode(hmac.digest(key, sts.encode("utf-8"), "sha256")).decode("ascii")


def request(key: bytes, host: str, verb: str, path: str, query: str, length: int, date: str,
            extra: list = ()) -> bytes:
    """Request head (no body). path: /account/container[/blob], path-style as Azurite serves it."""
    xms = sorted([("x-ms-date", date), ("x-ms-version", API_VERSION), *extra])
    sig = sign(key, verb, length, path, query, xms)
    target = path + ("?" + query if query else "")
    hdrs = "".join(f"{n}: {v}\r\n" for n, v in xms)
    return (f"{verb} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n{hdrs}"
            f"Authorization: SharedKey {ACCOUNT}:{sig}\r\n\r\n").encode("ascii")


def _key() -> bytes:
    return base64.b64decode(ACCOUNT_KEY)


def create_container(host: str, port: int, container: str) -> None:
    sock = _connect(host, port)
    try:
        sock.sendall(request(_key(), f"{host}:{port}", "PUT", f"/{ACCOUNT}/{container}", "restype=container",
                             0, DateCache()()))
        status, _, body = _recv_response(sock, bytearray())
    finally:
        sock.close()
    if status != 201:
        raise RuntimeError(f"create container: {status} {body[:300]!r}")


def read_back(host: str, port: int, container: str, names: list) -> dict:
    """name -> (length, CRC-64) of each blob, read with GET on one connection."""
    sock = _connect(host, port)
    buf = bytearray()
    out = {}
    dates = DateCache()
    try:
        for name in names:
            sock.sendall(request(_key(), f"{host}:{port}", "GET", f"/{ACCOUNT}/{container}/{name}", "", 0,
                                 dates()))
            status, _, body = _recv_response(sock, buf)
            out[name] = (len(body), fastcrc.crc64.xz(body, 0)) if status == 200 else (-status, None)
    finally:
        sock.close()
    return out


# -- the load -----------------------------------------------------------------------------------------
async def _one_client(idx: int, opts: dict, deadline: float, out: dict) -> None:
    loop = asyncio.get_running_loop()
    host, port, container = opts["host"], opts["port"], opts["container"]
    key = _key()
    name = f"{opts['prefix']}-{idx:03d}"
    path = f"/{ACCOUNT}/{container}/{name}"
    body = os.urandom(opts["size"])
    hosthdr = f"{host}:{port}"
    dates = DateCache()
    _, conn = await loop.create_connection(_Conn, host, port)
    pos, crc = 0, 0
    ok = fail = 0
    lat, errors = out["lat"], out["errors"]
    perf = time.perf_counter
    try:
        status, _, rbody = await conn.request(
            request(key, hosthdr, "PUT", path, "", 0, dates(), [("x-ms-blob-type", "AppendBlob")]), b"")
        if status != 201:
            raise RuntimeError(f"create append blob: {status} {rbody[:300]!r}")
        while loop.time() < deadline:
            head = request(key, hosthdr, "PUT", path, "comp=appendblock", len(body), dates(),
                           [("x-ms-blob-condition-appendpos", str(pos))])
            t0 = perf()
            status, headers, rbody = await conn.request(head, body)
            lat.append(perf() - t0)
            offset = headers.get("x-ms-blob-append-offset")
            if status == 201 and offset is not None and int(offset) == pos:
                pos += len(body)
                crc = fastcrc.crc64.xz(body, crc)
                ok += 1
            else:
                fail += 1
                if len(errors) < 5:
                    errors.append(f"{name}@{pos}: {status} offset {offset} {rbody[:300]!r}")
                break      # the blob's real length is unknown from a refusal: stop this client
    except Exception as exc:
        fail += 1
        errors.append(f"{name}@{pos}: {type(exc).__name__}: {exc}")
    finally:
        if conn.transport is not None:
            conn.transport.close()
    out["ok"] += ok
    out["fail"] += fail
    out["objects"][name] = (pos, crc)


def small_appends(opts: dict) -> dict:
    """osswire.small_appends against Azurite, plus the read-back check of every blob."""
    out = run_clients(opts, _one_client)
    objects = out.pop("objects")
    stored = read_back(opts["host"], opts["port"], opts["container"], list(objects))
    out["length_mismatches"] = sum(1 for n, (pos, _) in objects.items() if stored[n][0] != pos)
    out["crc_bad"] = sum(1 for n, (_, crc) in objects.items() if stored[n][1] != crc)
    out["objects"] = len(objects)
    return out
