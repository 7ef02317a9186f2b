#!/usr/bin/env python3
"""The request path's own CPU, without sockets: signed 4 KiB appends through the ASGI app in-process.

    python bench/inproc.py [--appends 3000] [--durability none|fsync] [--tree DIR]

Builds `ossbox.http.app.Server` on a fresh data dir (SQLite), creates a bucket, and calls the app
with one V1-signed `POST /bkt/obj?append&position=N` after another (200 warm-up appends first),
checking every status. Prints the event-loop thread's CPU (time.thread_time) and the wall time per
append. No uvicorn, no TCP and no load client, so the figure moves only with ossbox's own work:
the HTTP layer, authentication, the append's reads, lock, blob write and commit. With
`--durability fsync` every append waits for its own WAL fdatasync (one client: no group).
`--tree` runs another checkout's code (its ossbox/ and tests/signing.py), e.g. a `git archive`
of the base commit, for a before/after on the same machine.
"""
from __future__ import annotations

import argparse
import asyncio
import email.utils
import os
import shutil
import sys
import tempfile
import time

AK, SK = "LTAIbenchAccessKeyId01", "benchAccessKeySecret0000000001"


async def run(n: int, durability: str) -> tuple[float, float]:
    from ossbox.auth import SignedRequest
    from ossbox.config import ServerConfig
    from ossbox.http.app import Server
    from ossbox.storage.records import BucketRecord
    from signing import sign_v1_header

    data_dir = tempfile.mkdtemp(prefix="ossbox-inproc-")
    srv = Server(ServerConfig(data_dir=data_dir, durability=durability, access_key_id=AK, access_key_secret=SK))
    await srv.startup()
    await srv._recovered_event.wait()
    try:
        await srv.engine.meta.write(lambda t: t.insert_bucket(BucketRecord(
            name="bkt", owner=srv.root.principal, created=time.time(), region="cn-hangzhou", acl="private")))
        body = b"x" * 4096
        date = email.utils.formatdate(usegmt=True)

        async def append(pos: int) -> None:
            headers = {"date": date, "content-type": "application/octet-stream", "content-length": "4096",
                       "host": "127.0.0.1:9000"}
            signed = SignedRequest("POST", "bkt", "obj", [("append", ""), ("position", str(pos))], headers)
            headers["authorization"] = sign_v1_header(signed, AK, SK)
            scope = {"type": "http", "method": "POST", "path": "/bkt/obj", "raw_path": b"/bkt/obj",
                     "query_string": f"append&position={pos}".encode(), "scheme": "http",
                     "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                     "client": ("127.0.0.1", 50000)}
            sent = []
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive():
                return messages.pop(0)

            async def send(message):
                sent.append(message)
            await srv(scope, receive, send)
            if sent[0]["status"] != 200:
                raise SystemExit(f"append at {pos}: status {sent[0]['status']}")

        pos = 0
        for _ in range(200):
            await append(pos)
            pos += 4096
        c0, t0 = time.thread_time(), time.perf_counter()
        for _ in range(n):
            await append(pos)
            pos += 4096
        return (time.thread_time() - c0) / n, (time.perf_counter() - t0) / n
    finally:
        await srv.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--appends", type=int, default=3000)
    p.add_argument("--durability", choices=("none", "fsync"), default="none")
    p.add_argument("--tree", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = p.parse_args()
    tree = os.path.abspath(args.tree)
    sys.path[:0] = [tree, os.path.join(tree, "tests")]
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    cpu, wall = runner(run(args.appends, args.durability))
    print(f"{tree} --durability {args.durability}: {cpu * 1e6:.1f} µs loop-thread CPU per append, "
          f"{wall * 1e6:.1f} µs wall ({args.appends} appends)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
