"""`ossbox server`: run the OSS-compatible service."""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys

from ..config import ServerConfig

_ENV = "OSSBOX_"


def _env(name: str, default=None):
    return os.environ.get(_ENV + name, default)


def register(sub) -> None:
    p = sub.add_parser("server", help="run the OSS-compatible HTTP server",
                       description="Run an OSS-compatible server. Every flag can also be set with "
                                   "the OSSBOX_<FLAG> environment variable (e.g. OSSBOX_PORT).")
    p.add_argument("--host", default=_env("HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(_env("PORT", "9000")),
                   help="port to bind; 0 picks a free port (default 9000)")
    p.add_argument("--data-dir", default=_env("DATA_DIR", "./ossbox-data"),
                   help="where metadata and object data live (default ./ossbox-data)")
    p.add_argument("--region", default=_env("REGION", "cn-hangzhou"), help="region name (default cn-hangzhou)")
    p.add_argument("--access-key-id", default=_env("ACCESS_KEY_ID"),
                   help="root access key id (default: generated once and kept in the data dir)")
    p.add_argument("--access-key-secret", default=_env("ACCESS_KEY_SECRET"), help="root access key secret")
    p.add_argument("--domain", action="append", default=None,
                   help="domain for virtual-hosted style <bucket>.<domain> (repeatable; "
                        "OSSBOX_DOMAIN takes a comma-separated list)")
    p.add_argument("--durability", choices=("fsync", "none"), default=_env("DURABILITY", "fsync"),
                   help="fsync (default): a 200 means the data is on stable storage; none: "
                        "acknowledged from the page cache (survives kill -9, not power loss)")
    p.add_argument("--restore-delay", type=float, default=_env("RESTORE_DELAY", "60"),
                   metavar="SECONDS",
                   help="seconds a RestoreObject of an Archive/ColdArchive/DeepColdArchive object "
                        "takes to complete (default 60)")
    p.add_argument("--idle-timeout", type=float, default=_env("IDLE_TIMEOUT", "75"), metavar="SECONDS",
                   help="close a connection that sends no request for this long (default 75)")
    p.add_argument("--header-timeout", type=float, default=_env("HEADER_TIMEOUT", "60"),
                   metavar="SECONDS",
                   help="a request line and headers must arrive within this long of their first "
                        "byte (default 60; 400 RequestTimeout)")
    p.add_argument("--body-timeout", type=float, default=_env("BODY_TIMEOUT", "60"), metavar="SECONDS",
                   help="a request body that sends nothing for this long fails with 400 "
                        "RequestTimeout and the connection is closed (default 60)")
    p.add_argument("--disk-reserve", default=_env("DISK_RESERVE", "16MiB"), metavar="SIZE",
                   help="disk space kept back in the data dir (file space.reserve) so that start-up "
                        "and deletes work on a full disk; bytes or KiB/MiB/GiB, 0 disables "
                        "(default 16MiB)")
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "warning"),
                   choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run_server, needs_settings=False)


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
               "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3}


def parse_size(text: str):
    """Bytes from "4096", "512KiB", "16MiB", "1G" (binary units); None if not a size."""
    m = re.fullmatch(r"\s*([0-9]{1,15})\s*([a-zA-Z]*)\s*", text or "")
    unit = _SIZE_UNITS.get(m.group(2).lower()) if m else None
    return None if unit is None else int(m.group(1)) * unit


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen now: the ready line is printed during startup, and a client that connects before
    # uvicorn starts accepting must wait in the backlog rather than be refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(args, _settings=None) -> int:
    import uvicorn

    from ..http.app import Server
    from ..http.protocol import http_protocol

    domains = args.domain if args.domain is not None else [
        d for d in (_env("DOMAIN", "") or "").split(",") if d.strip()]
    if bool(args.access_key_id) != bool(args.access_key_secret):
        print("ossbox: --access-key-id and --access-key-secret go together", file=sys.stderr)
        return 2
    if not 0 <= args.restore_delay < float("inf"):
        print("ossbox: --restore-delay must be a number of seconds >= 0", file=sys.stderr)
        return 2
    for flag in ("idle_timeout", "header_timeout", "body_timeout"):
        if not 0 < getattr(args, flag) < float("inf"):
            print(f"ossbox: --{flag.replace('_', '-')} must be a number of seconds > 0", file=sys.stderr)
            return 2
    reserve = parse_size(args.disk_reserve)
    if reserve is None:
        print("ossbox: --disk-reserve must be a size such as 16MiB, 512KiB or 0", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"ossbox: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    cfg = ServerConfig(host=args.host, port=port, data_dir=args.data_dir, region=args.region,
                       access_key_id=args.access_key_id, access_key_secret=args.access_key_secret,
                       domains=domains, durability=args.durability)
    cfg.restore_delay = args.restore_delay
    cfg.body_timeout = args.body_timeout
    cfg.disk_reserve = reserve
    app = Server(cfg)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host

    original_startup = app.startup

    async def announce():
        await original_startup()
        if cfg.generated_credentials:
            print(f"ossbox generated a root key pair (kept in {os.path.abspath(cfg.data_dir)}):\n"
                  f"  AccessKeyId:     {cfg.access_key_id}\n  AccessKeySecret: {cfg.access_key_secret}",
                  flush=True)
        print(f"ossbox listening on http://{shown_host}:{port}", flush=True)

    app.startup = announce
    # The app sends its own Date (taken per response); uvicorn's is refreshed once a second.
    config = uvicorn.Config(app, loop="uvloop", http=http_protocol(app, header_timeout=args.header_timeout),
                            ws="none", lifespan="on", access_log=False, server_header=False,
                            date_header=False, log_level=args.log_level,
                            timeout_keep_alive=args.idle_timeout, timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler
    # that was installed before it; a no-op one makes a clean stop exit with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    return 0 if server.started else 1
