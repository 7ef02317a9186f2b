"""The HTTP stack's own ceiling: a raw-ASGI app under the uvicorn settings `ossbox server` uses.

    python bench/trivialapp.py [--port 0]     # prints "trivial app listening on http://127.0.0.1:PORT"

It reads the request body and answers 200 with exactly the headers bench/osswire.py checks, so the
same load client and the same checks run unchanged against it: POST (an append) adds the body to a
per-key length and CRC-64 kept in a dict and answers `x-oss-next-append-position` and
`x-oss-hash-crc64ecma`; HEAD answers the key's length as Content-Length (the final-length check).
No signature check, no position check, no storage: what is left of a request is uvicorn + uvloop +
httptools, the ASGI call, reading the body and building the response -- what every ossbox request
pays before its own work starts.
"""
from __future__ import annotations

import argparse
import signal
import socket
import sys

import fastcrc

# key (the request path) -> [length, crc64]
OBJECTS: dict[str, list[int]] = {}


async def app(scope, receive, send):
    if scope["type"] != "http":   # lifespan is off; anything else is not ours
        return
    path = scope["path"]
    body_len, crc = 0, None
    state = OBJECTS.get(path)
    if scope["method"] == "POST":
        if state is None:
            state = OBJECTS[path] = [0, 0]
        crc = state[1]
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                body_len += len(chunk)
                crc = fastcrc.crc64.xz(chunk, crc)
            more = message.get("more_body", False)
        state[0] += body_len
        state[1] = crc
        headers = [(b"content-length", b"0"),
                   (b"x-oss-next-append-position", str(state[0]).encode()),
                   (b"x-oss-hash-crc64ecma", str(crc).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["method"] == "HEAD" and state is not None:
        headers = [(b"content-length", str(state[0]).encode()),
                   (b"x-oss-hash-crc64ecma", str(state[1]).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def main(argv=None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    # ossbox server's settings (ossbox/cli/server_cmd.py), with uvicorn's own httptools protocol in
    # place of ossbox's subclass of it (which only adds limits and timeouts)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", ws="none", lifespan="off",
                            access_log=False, server_header=False, date_header=False,
                            log_level="warning")
    server = uvicorn.Server(config)
    config_startup = server.startup

    async def startup(sockets=None):
        await config_startup(sockets=sockets)
        print(f"trivial app listening on http://{args.host}:{port}", flush=True)

    server.startup = startup
    for sig in (signal.SIGTERM, signal.SIGINT):   # as ossbox: a clean stop exits 0
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
