"""A deliberately small OSS load client: raw keep-alive HTTP/1.1, V1 header signatures.

No oss2/requests on the data path: a request costs the client a few µs (one HMAC-SHA1, one
f-string, one write), so the client is not the bottleneck on a 2-core machine. The functions at the
bottom (`small_appends`, `large_append`, `get_object`) run inside a separate worker process (see
run.py) and return plain dicts, including the worker's own CPU seconds for the phase.

Only what the benchmark needs is parsed from a response: the status line, Content-Length (to skip an
error body), x-oss-next-append-position and x-oss-hash-crc64ecma.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import os
import resource
import socket
import time
from email.utils import formatdate

import fastcrc

CONTENT_TYPE = "application/octet-stream"


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class DateCache:
    """RFC 1123 Date string, recomputed once per second."""

    def __init__(self):
        self._sec = -1
        self._value = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._value = formatdate(now, usegmt=True)
        return self._value


def sign_v1(secret: bytes, verb: str, content_md5: str, content_type: str, date: str,
            resource_: str) -> str:
    """base64(HMAC-SHA1(secret, VERB\\nMD5\\nType\\nDate\\n<resource>)) — no x-oss-* headers sent."""
    sts = f"{verb}\n{content_md5}\n{content_type}\n{date}\n{resource_}"
    return base64.b64encode(hmac.digest(secret, sts.encode("utf-8"), "sha1")).decode("ascii")


def append_request(ak: str, secret: bytes, host: str, bucket: str, key: str, position: int,
                   length: int, date: str) -> bytes:
    """Request head (no body) of `POST /bucket/key?append&position=N`, path-style."""
    res = f"/{bucket}/{key}?append&position={position}"
    sig = sign_v1(secret, "POST", "", CONTENT_TYPE, date, res)
    return (f"POST {res} HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {length}\r\n"
            f"Authorization: OSS {ak}:{sig}\r\n\r\n").encode("ascii")


def get_request(ak: str, secret: bytes, host: str, bucket: str, key: str, date: str) -> bytes:
    res = f"/{bucket}/{key}"
    sig = sign_v1(secret, "GET", "", "", date, res)
    return (f"GET {res} HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n"
            f"Authorization: OSS {ak}:{sig}\r\n\r\n").encode("ascii")


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


# -- asyncio client for small appends ------------------------------------------------------------
class _Conn(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self):
        self.transport = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        self.lost = exc or ConnectionResetError("server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def data_received(self, data):
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        try:
            status, headers = parse_head(bytes(self.buf[:end]))
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            self.waiter.set_exception(exc)
            return
        total = end + 4 + length
        if len(self.buf) < total:
            return
        body = bytes(self.buf[end + 4:total])
        del self.buf[:total]
        self.waiter.set_result((status, headers, body))

    def request(self, data: bytes, body: bytes) -> asyncio.Future:
        if self.lost is not None:
            raise self.lost
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.writelines((data, body))
        return self.waiter


async def _one_client(idx: int, opts: dict, deadline: float, out: dict) -> None:
    loop = asyncio.get_running_loop()
    host, port = opts["host"], opts["port"]
    ak, secret, bucket = opts["ak"], opts["secret"].encode(), opts["bucket"]
    key = f"{opts['prefix']}-{idx:03d}"
    body = os.urandom(opts["size"])
    hosthdr = f"{host}:{port}"
    dates = DateCache()
    _, conn = await loop.create_connection(_Conn, host, port)
    pos, crc = 0, 0
    ok = fail = crc_bad = 0
    lat = out["lat"]
    errors = out["errors"]
    perf = time.perf_counter
    try:
        while loop.time() < deadline:
            head = append_request(ak, secret, hosthdr, bucket, key, pos, len(body), dates())
            t0 = perf()
            status, headers, rbody = await conn.request(head, body)
            lat.append(perf() - t0)
            nxt = headers.get("x-oss-next-append-position")
            if status == 200 and nxt is not None and int(nxt) == pos + len(body):
                pos += len(body)
                crc = fastcrc.crc64.xz(body, crc)
                if int(headers.get("x-oss-hash-crc64ecma", "-1")) != crc:
                    crc_bad += 1
                    crc = int(headers.get("x-oss-hash-crc64ecma", "0"))
                ok += 1
            else:
                fail += 1
                if len(errors) < 5:
                    errors.append(f"{key}@{pos}: {status} {rbody[:300]!r}")
                if nxt is None:
                    break          # cannot resynchronise this client
                pos = int(nxt)     # e.g. 409 PositionNotEqualToLength: continue from the real length
                crc = int(headers.get("x-oss-hash-crc64ecma", "0"))
    except Exception as exc:  # connection reset, parse error: count it and stop this client
        fail += 1
        errors.append(f"{key}@{pos}: {type(exc).__name__}: {exc}")
    finally:
        if conn.transport is not None:
            conn.transport.close()
    out["ok"] += ok
    out["fail"] += fail
    out["crc_bad"] += crc_bad
    out["objects"][key] = pos


def small_appends(opts: dict) -> dict:
    """`clients` connections, each appending `size` bytes to its own object until `seconds` pass."""
    return run_clients(opts, _one_client)


def run_clients(opts: dict, one_client) -> dict:
    """`clients` concurrent one_client(idx, opts, deadline, out) coroutines until `seconds` pass, on
    uvloop; out: their shared counters, plus wall and client CPU, and latency p50/p99/max."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    out = {"ok": 0, "fail": 0, "crc_bad": 0, "lat": [], "errors": [], "objects": {}}

    async def main():
        loop = asyncio.get_running_loop()
        deadline = loop.time() + opts["seconds"]
        c0, t0 = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(one_client(i, opts, deadline, out) for i in range(opts["clients"])))
        out["wall"] = time.perf_counter() - t0
        out["client_cpu"] = cpu_seconds() - c0

    asyncio.run(main())
    lat = sorted(out.pop("lat"))
    out["requests"] = len(lat)
    out["p50_ms"] = lat[len(lat) // 2] * 1e3 if lat else None
    out["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3 if lat else None
    out["max_ms"] = lat[-1] * 1e3 if lat else None
    return out


# -- blocking socket client for large bodies -----------------------------------------------------
def _recv_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict, bytes]:
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("server closed the connection")
        buf += data
    status, headers = parse_head(bytes(buf[:end]))
    length = int(headers.get("content-length", "0"))
    while len(buf) < end + 4 + length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("server closed the connection")
        buf += data
    body = bytes(buf[end + 4:end + 4 + length])
    del buf[:end + 4 + length]
    return status, headers, body


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def large_append(opts: dict) -> dict:
    """`total` bytes as `chunk`-byte appends on one connection; checks every status and the CRC."""
    host, port, ak, secret = opts["host"], opts["port"], opts["ak"], opts["secret"].encode()
    bucket, key, chunk, total = opts["bucket"], opts["key"], opts["chunk"], opts["total"]
    hosthdr = f"{host}:{port}"
    data = bytearray(os.urandom(chunk))
    view = memoryview(data)
    dates = DateCache()
    sock = _connect(host, port)
    buf = bytearray()
    pos, crc, fail, errors = 0, 0, 0, []
    server_crc = None
    n = total // chunk
    # the local CRC of each chunk is computed while the server handles it (after sendall, before
    # reading the response); its cost (~1 ms per 8 MiB) is reported as client_crc_s
    crc_time = 0.0
    c0, t0 = cpu_seconds(), time.perf_counter()
    for i in range(n):
        data[0:8] = i.to_bytes(8, "little")       # every chunk differs
        head = append_request(ak, secret, hosthdr, bucket, key, pos, chunk, dates())
        sock.sendall(head)
        sock.sendall(view)
        t1 = time.perf_counter()
        crc = fastcrc.crc64.xz(data, crc)          # overlaps with the server's processing
        crc_time += time.perf_counter() - t1
        status, headers, body = _recv_response(sock, buf)
        nxt = headers.get("x-oss-next-append-position")
        if status != 200 or nxt is None or int(nxt) != pos + chunk:
            fail += 1
            errors.append(f"{key}@{pos}: {status} {body[:300]!r}")
            break
        pos += chunk
        server_crc = int(headers.get("x-oss-hash-crc64ecma", "-1"))
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    sock.close()
    return {"bytes": pos, "wall": wall, "client_cpu": cpu, "fail": fail, "errors": errors,
            "requests": n, "crc_local": crc, "crc_server": server_crc,
            "crc_ok": fail == 0 and server_crc == crc, "client_crc_s": crc_time}


def get_object(opts: dict) -> dict:
    """GET the whole object on one connection; CRC-64 of the received bytes is checked."""
    host, port, ak, secret = opts["host"], opts["port"], opts["ak"], opts["secret"].encode()
    bucket, key = opts["bucket"], opts["key"]
    sock = _connect(host, port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    bufsize = 8 * 1024 * 1024
    rbuf = bytearray(bufsize)
    view = memoryview(rbuf)
    c0, t0 = cpu_seconds(), time.perf_counter()
    sock.sendall(get_request(ak, secret, f"{host}:{port}", bucket, key, DateCache()()))
    head = bytearray()
    while True:
        end = head.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("server closed the connection")
        head += data
    status, headers = parse_head(bytes(head[:end]))
    length = int(headers.get("content-length", "0"))
    already = bytes(head[end + 4:])
    crc = fastcrc.crc64.xz(already, 0)
    got = len(already)
    fill = 0
    while got < length:
        want = min(bufsize - fill, length - got)
        n = sock.recv_into(view[fill:fill + want])
        if n == 0:
            break
        fill += n
        got += n
        if fill == bufsize:
            crc = fastcrc.crc64.xz(view, crc)
            fill = 0
    if fill:
        crc = fastcrc.crc64.xz(view[:fill], crc)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    sock.close()
    hdr_crc = headers.get("x-oss-hash-crc64ecma")
    return {"status": status, "bytes": got, "content_length": length, "wall": wall,
            "client_cpu": cpu, "crc": crc, "crc_header": int(hdr_crc) if hdr_crc else None}


def parallel_large_appends(opts: dict) -> dict:
    """`clients` threads, each appending `total` bytes to its own object (key `{prefix}-{i}`) in
    `chunk`-byte appends on its own connection (large_append's checks, per object), all at once."""
    import concurrent.futures
    n = opts["clients"]
    c0, t0 = cpu_seconds(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        runs = list(ex.map(lambda i: large_append(dict(opts, key=f"{opts['prefix']}-{i}")), range(n)))
    wall = time.perf_counter() - t0
    return {"clients": n, "bytes": sum(r["bytes"] for r in runs), "wall": wall,
            "client_cpu": cpu_seconds() - c0, "fail": sum(r["fail"] for r in runs),
            "crc_ok": all(r["crc_ok"] for r in runs), "errors": [e for r in runs for e in r["errors"]][:5],
            "requests": sum(r["requests"] for r in runs)}
