"""Compare the Python S3 client libraries for ossbox's segment store (issue 11): obstore, opendal and
aiobotocore, against a private Ceph RGW (tests/rgw.py) and moto's server, in one run.

    PYTHONPATH=$PWD /work/venv/bin/python bench/byte_store_libs.py [--rounds 5] [--targets rgw,moto]
        [--rss-gib 1] [--json out.json]

Per target: a capability probe per library (conditional create, not-found, ranged GET, LIST by prefix,
connection refused), then `rounds` rounds in which every library runs every phase once, in a new
random order each round (the machine is shared: ratios between libraries in the same round mean
more than absolute figures), then a peak-RSS check: each library streams a `--rss-gib` GiB body from
an async generator to the store in a fresh process. Results: docs/byte-store-libraries.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from importlib.metadata import version

LIBS = ("obstore", "obstore_signed", "opendal", "aiobotocore")
BUCKET = "segments"
MIB = 1 << 20


# -- one adapter per library: the operations a segment store needs --------------------------------
class Obstore:
    # obstore (like botocore) signs a SHA-256 of every body by default; opendal sends UNSIGNED-PAYLOAD.
    # Both ways are measured: "obstore" unsigned (the body's integrity is ossbox's CRC-64 and TLS),
    # "obstore_signed" as shipped.
    unsigned_payload = True

    def __init__(self, endpoint: str, key: str, secret: str, region: str):
        from obstore.store import S3Store
        self.store = S3Store(BUCKET, endpoint=endpoint, access_key_id=key, secret_access_key=secret,
                             region=region, virtual_hosted_style_request=False,
                             unsigned_payload=self.unsigned_payload,
                             client_options={"allow_http": True}, retry_config={"max_retries": 0})

    async def put(self, key: str, data: bytes) -> None:
        import obstore
        await obstore.put_async(self.store, key, data, use_multipart=False)

    async def create(self, key: str, data: bytes) -> None:
        import obstore
        await obstore.put_async(self.store, key, data, mode="create")

    async def put_stream(self, key: str, chunks, part_size: int) -> None:
        import obstore
        # an async iterator always goes up as a multipart upload (parts of chunk_size)
        await obstore.put_async(self.store, key, chunks, chunk_size=part_size, max_concurrency=4)

    async def get(self, key: str) -> int:
        import obstore
        n = 0
        async for chunk in await obstore.get_async(self.store, key):
            n += len(chunk)
        return n

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        import obstore
        return bytes(await obstore.get_range_async(self.store, key, start=start, length=length))

    async def delete(self, key: str) -> None:
        import obstore
        await obstore.delete_async(self.store, key)

    async def list(self, prefix: str) -> list[str]:
        import obstore
        out = []
        async for batch in obstore.list(self.store, prefix):
            out += [m["path"] for m in batch]
        return out

    async def close(self) -> None:
        pass


class ObstoreSigned(Obstore):
    unsigned_payload = False


class Opendal:
    def __init__(self, endpoint: str, key: str, secret: str, region: str):
        import opendal
        self.op = opendal.AsyncOperator("s3", bucket=BUCKET, endpoint=endpoint, region=region,
                                        access_key_id=key, secret_access_key=secret,
                                        disable_config_load="true", disable_ec2_metadata="true")

    async def put(self, key: str, data: bytes) -> None:
        await self.op.write(key, data)

    async def create(self, key: str, data: bytes) -> None:
        await self.op.write(key, data, if_not_exists=True)

    async def put_stream(self, key: str, chunks, part_size: int) -> None:
        # the writer buffers `chunk` bytes and sends them as multipart parts (a single PUT if the
        # whole body fits into one chunk)
        async with await self.op.open(key, "wb", chunk=part_size, concurrent=4) as f:
            async for chunk in chunks:
                await f.write(chunk)

    async def get(self, key: str) -> int:
        n = 0
        async with await self.op.open(key, "rb") as f:
            while chunk := await f.read(MIB):
                n += len(chunk)
        return n

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        return bytes(await self.op.read(key, offset=start, size=length))

    async def delete(self, key: str) -> None:
        await self.op.delete(key)

    async def list(self, prefix: str) -> list[str]:
        return [e.path async for e in await self.op.list(prefix, recursive=True)]

    async def close(self) -> None:
        pass


class Aiobotocore:
    def __init__(self, endpoint: str, key: str, secret: str, region: str):
        self.args = dict(endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                         region_name=region)
        self.client = None

    async def open(self) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session
        # checksums "when_required": botocore >= 1.36 otherwise sends CRC32 trailers with
        # aws-chunked bodies by default (not every S3 server takes them)
        config = AioConfig(s3={"addressing_style": "path"}, max_pool_connections=32,
                           retries={"max_attempts": 1}, request_checksum_calculation="when_required",
                           response_checksum_validation="when_required")
        self._cm = get_session().create_client("s3", config=config, **self.args)
        self.client = await self._cm.__aenter__()

    async def put(self, key: str, data: bytes) -> None:
        await self.client.put_object(Bucket=BUCKET, Key=key, Body=data)

    async def create(self, key: str, data: bytes) -> None:
        await self.client.put_object(Bucket=BUCKET, Key=key, Body=data, IfNoneMatch="*")

    async def put_stream(self, key: str, chunks, part_size: int) -> None:
        # no streaming PUT of an async iterator: the multipart loop is ours (sequential parts)
        c = self.client
        upload = (await c.create_multipart_upload(Bucket=BUCKET, Key=key))["UploadId"]
        parts, buf = [], bytearray()
        try:
            async def send(body: bytes) -> None:
                n = len(parts) + 1
                r = await c.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=n, Body=body)
                parts.append({"PartNumber": n, "ETag": r["ETag"]})
            async for chunk in chunks:
                buf += chunk
                if len(buf) >= part_size:
                    await send(bytes(buf))
                    buf.clear()
            if buf or not parts:
                await send(bytes(buf))
            await c.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload,
                                              MultipartUpload={"Parts": parts})
        except BaseException:
            await c.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)
            raise

    async def get(self, key: str) -> int:
        r = await self.client.get_object(Bucket=BUCKET, Key=key)
        n = 0
        async with r["Body"] as body:
            async for chunk in body.iter_chunks(MIB):
                n += len(chunk)
        return n

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        r = await self.client.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={start}-{start + length - 1}")
        async with r["Body"] as body:
            return await body.read()

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=BUCKET, Key=key)

    async def list(self, prefix: str) -> list[str]:
        out = []
        async for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)


ADAPTERS = {"obstore": Obstore, "obstore_signed": ObstoreSigned, "opendal": Opendal, "aiobotocore": Aiobotocore}


async def connect(lib: str, target: dict):
    a = ADAPTERS[lib](target["endpoint"], target["key"], target["secret"], target["region"])
    if hasattr(a, "open"):
        await a.open()
    return a


# -- targets ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint)
    target = {"name": "moto", "endpoint": endpoint, "key": "test", "secret": "test", "region": "us-east-1"}
    return target, proc.kill


def start_rgw(memstore_bytes: int):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from rgw import RgwCluster
    reason = RgwCluster.unavailable()
    if reason:
        raise SystemExit(reason)
    c = RgwCluster(memstore_bytes=memstore_bytes)
    t0 = time.monotonic()
    try:
        c.start()
    except BaseException:
        c.destroy()
        raise
    target = {"name": "rgw", "endpoint": c.endpoint, "key": c.access_key_id, "secret": c.secret_access_key,
              "region": c.region, "bring_up_s": round(time.monotonic() - t0, 1)}
    return target, c.destroy


def wait_http(endpoint: str, timeout: float = 30) -> None:
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(endpoint + "/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def make_bucket(target: dict) -> None:
    a = await connect("aiobotocore", target)
    try:
        await a.client.create_bucket(Bucket=BUCKET)
    finally:
        await a.close()


# -- capability probe ----------------------------------------------------------------------------
def describe(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__module__}.{type(exc).__name__}: {first}"


async def outcome(call) -> str:
    """What one awaited call did: 'no error', or the exception each library raises for it."""
    try:
        result = await call
    except Exception as exc:  # noqa: BLE001 - recording what each library raises
        return describe(exc)
    return f"returned {len(result)} bytes" if isinstance(result, bytes) else "no error"


async def probe(lib: str, target: dict) -> dict:
    a = await connect(lib, target)
    out: dict = {}
    p = f"probe-{lib}/"
    data = bytes(range(256)) * 64
    try:
        await a.create(p + "c", b"first")
        out["create_existing"] = await outcome(a.create(p + "c", b"second"))
        out["create_kept_first"] = await a.get_range(p + "c", 0, 5) == b"first"
        out["get_missing"] = await outcome(a.get(p + "missing"))
        out["range_missing"] = await outcome(a.get_range(p + "missing", 0, 10))
        out["delete_missing"] = await outcome(a.delete(p + "missing"))
        await a.put(p + "r", data)
        out["range_ok"] = await a.get_range(p + "r", 1000, 10) == data[1000:1010]
        out["range_past_end"] = await outcome(a.get_range(p + "r", 1 << 20, 10))
        await a.put(p + "sub/x", b"x")
        await a.put(p + "subzero", b"z")
        out["list_prefix"] = sorted(await a.list(p + "sub/"))
    finally:
        await a.close()
    b = await connect(lib, dict(target, endpoint=f"http://127.0.0.1:{free_port()}"))
    t0 = time.perf_counter()
    out["connection_refused"] = await outcome(b.put("x", b"x"))
    out["connection_refused_s"] = round(time.perf_counter() - t0, 3)
    await b.close()
    return out


# -- timed phases ----------------------------------------------------------------------------------
async def phase_put4k_seq(a, lib: str, n: int) -> dict:
    data = os.urandom(4096)
    lat = []
    for i in range(n):
        t = time.perf_counter()
        await a.put(f"p4/{lib}/{uuid.uuid4().hex}", data)
        lat.append(time.perf_counter() - t)
    return {"ops_s": n / sum(lat), "p50_ms": statistics.median(lat) * 1000}


async def phase_put4k_c16(a, lib: str, n: int) -> dict:
    data = os.urandom(4096)
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await a.put(f"c16/{lib}/{uuid.uuid4().hex}", data)
    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    return {"ops_s": n / (time.perf_counter() - t)}


async def phase_8m(a, lib: str, n: int) -> dict:
    data = os.urandom(8 * MIB)
    key = f"big/{lib}/{uuid.uuid4().hex}"
    t = time.perf_counter()
    for _ in range(n):
        await a.put(key, data)
    put = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        assert await a.get(key) == len(data)
    get = time.perf_counter() - t
    lat = []
    for i in range(n * 10):
        start = random.randrange(0, len(data) - 4096)
        t = time.perf_counter()
        got = await a.get_range(key, start, 4096)
        lat.append(time.perf_counter() - t)
        assert got == data[start:start + 4096]
    await a.delete(key)
    return {"put_MBps": n * 8 / put, "get_MBps": n * 8 / get, "range4k_p50_ms": statistics.median(lat) * 1000}


async def run_rounds(target: dict, rounds: int, scale: float) -> list[dict]:
    rows = []
    for r in range(rounds):
        order = list(LIBS)
        random.shuffle(order)
        for lib in order:
            a = await connect(lib, target)
            try:
                await a.put("warmup", b"w")           # connection set up outside the timing
                row = {"target": target["name"], "round": r, "lib": lib}
                for name, coro in (("put4k_seq", phase_put4k_seq(a, lib, int(200 * scale))),
                                   ("put4k_c16", phase_put4k_c16(a, lib, int(400 * scale))),
                                   ("8m", phase_8m(a, lib, max(2, int(5 * scale))))):
                    for k, v in (await coro).items():
                        row[f"{name}_{k}" if name != "8m" else k] = round(v, 2)
            finally:
                await a.close()
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# -- peak RSS of a streamed upload (in a fresh process per library) ----------------------------------
def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss() -> None:
    # "5" resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0, proc(5))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


async def rss_child(lib: str, target: dict, total: int, part_size: int) -> dict:
    a = await connect(lib, target)
    block = os.urandom(MIB)
    await a.put("warmup", b"w")

    async def body():
        # a fresh buffer per chunk, as from a socket: a library may keep references instead of copies
        for _ in range(total // MIB):
            yield memoryview(block).tobytes()
    key = f"rss/{lib}"
    before = _status_mib("VmRSS")
    reset_peak_rss()
    t = time.perf_counter()
    await a.put_stream(key, body(), part_size)
    secs = time.perf_counter() - t
    put_peak = _status_mib("VmHWM")
    reset_peak_rss()
    t = time.perf_counter()
    n = await a.get(key)
    get_secs = time.perf_counter() - t
    get_peak = _status_mib("VmHWM")
    assert n == total, (n, total)
    await a.delete(key)
    await a.close()
    # obstore's and opendal's tokio threads may still drop Python objects just after the last
    # call; if the interpreter is finalizing by then, the process aborts (SIGABRT) about one exit
    # in three (pyo3-async-runtimes#40). A moment's wait inside the loop avoids it.
    await asyncio.sleep(0.1)
    return {"lib": lib, "rss_before_MiB": round(before, 1), "put_peak_rss_MiB": round(put_peak, 1),
            "get_peak_rss_MiB": round(get_peak, 1), "stream_put_MBps": round(total / MIB / secs, 1),
            "stream_get_MBps": round(total / MIB / get_secs, 1)}


def rss_check(lib: str, target: dict, gib: float) -> dict:
    r = subprocess.run([sys.executable, __file__, "--rss-child", lib, json.dumps(target), str(gib)],
                       capture_output=True, text=True)
    if not r.stdout.strip():
        return {"lib": lib, "error": f"exit {r.returncode}: {r.stderr.strip()[-600:]}"}
    # the exit status too: opendal sometimes aborts (SIGABRT) at interpreter exit after its work
    return dict(json.loads(r.stdout.strip().splitlines()[-1]), exit=r.returncode)


# -- driver ------------------------------------------------------------------------------------------
def summarise(rows: list[dict]) -> dict:
    """Median per (target, lib, metric), and each library's median ratio to aiobotocore in the same round."""
    out: dict = {}
    metrics = [k for k in rows[0] if k not in ("target", "round", "lib")]
    for tgt in sorted({r["target"] for r in rows}):
        for lib in LIBS:
            mine = [r for r in rows if r["target"] == tgt and r["lib"] == lib]
            base = {r["round"]: r for r in rows if r["target"] == tgt and r["lib"] == "aiobotocore"}
            out[f"{tgt}/{lib}"] = {
                m: {"median": round(statistics.median(r[m] for r in mine), 2),
                    "ratio_to_aiobotocore": round(statistics.median(r[m] / base[r["round"]][m] for r in mine), 2)}
                for m in metrics}
    return out


async def main_async(args) -> dict:
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "load_avg_at_start": os.getloadavg(),
        "versions": {p: version(p) for p in ("obstore", "opendal", "aiobotocore", "botocore", "moto")},
        "ceph": subprocess.run(["ceph-mon", "--version"], capture_output=True, text=True).stdout.strip()
        if "rgw" in args.targets else "",
        "targets": {}, "rows": [],
    }
    for name in args.targets.split(","):
        target, stop = start_moto() if name == "moto" else start_rgw(int((args.rss_gib + 3) * 1024 * MIB))
        try:
            await make_bucket(target)
            info = {k: v for k, v in target.items() if k == "bring_up_s"}
            info["probe"] = {lib: await probe(lib, target) for lib in LIBS if lib != "obstore_signed"}
            print(json.dumps(info), flush=True)
            result["rows"] += await run_rounds(target, args.rounds, args.scale)
            if args.rss_gib:
                info["rss"] = [rss_check(lib, target, args.rss_gib) for lib in LIBS if lib != "obstore_signed"]
                print(json.dumps(info["rss"]), flush=True)
            result["targets"][name] = info
        finally:
            stop()
    result["summary"] = summarise(result["rows"]) if result["rows"] else {}
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        lib, target, gib = sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(rss_child(lib, target, int(gib * 1024) * MIB, 8 * MIB))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="rgw,moto")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the request counts per phase")
    ap.add_argument("--rss-gib", type=float, default=1.0, help="streamed upload size for the RSS check (0: skip)")
    ap.add_argument("--json", help="write the full result here")
    args = ap.parse_args()
    result = asyncio.run(main_async(args))
    print(json.dumps(result["summary"], indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
