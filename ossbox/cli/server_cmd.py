"""`ossbox server`: run the OSS-compatible service."""
from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import signal
import socket
import sys

# ossbox.config.CREDENTIALS_FILE, named here for the help text: ossbox.config loads the auth layer,
# which `ossbox --help` does not need (tests/test_cli_startup.py checks the two agree)
CREDENTIALS_FILE = "credentials.json"

_ENV = "OSSBOX_"


class _EnvValue(str):
    """A flag's default taken from its OSSBOX_* variable: remembers the variable, so a bad value
    is reported under the name the user actually set."""
    variable = ""


def _env(name: str, default=None):
    value = os.environ.get(_ENV + name)
    if value is None:
        return default
    marked = _EnvValue(value)
    marked.variable = _ENV + name
    return marked


def _validated(check):
    """An argparse `type=` converter. argparse converts a string default only when the `server`
    subcommand is parsed, so OSSBOX_* variables are read and checked for the server alone and a
    bad one never breaks a client command."""
    def convert(text):
        try:
            return check(text)
        except (TypeError, ValueError) as exc:
            what = f"{text.variable}={text!r}" if isinstance(text, _EnvValue) else repr(text)
            raise argparse.ArgumentTypeError(f"{exc} (got {what})") from None
    convert.__name__ = check.__name__
    return convert


@_validated
def _port(text: str) -> int:
    if not text.strip().isascii() or not text.strip().isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError("must be a port number from 0 to 65535")
    return int(text)


_port.toml_kinds = (int,)  # the TOML types a config file may give this flag (default: strings)


def _seconds_at_least_zero(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError("must be a number of seconds >= 0")
    return value


_seconds = _validated(_seconds_at_least_zero)
_seconds.toml_kinds = (int, float)


@_validated
def _workers(text: str) -> int:
    if not text.strip().isascii() or not text.strip().isdigit() or not 1 <= int(text) <= 1024:
        raise ValueError("must be a number of processes from 1 to 1024")
    return int(text)


_workers.toml_kinds = (int,)


def _one_of(*choices):
    def check(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(text)
    check.__name__ = "choice"
    return _validated(check)


@_validated
def _positive_seconds(text: str) -> float:
    value = _seconds_at_least_zero(text)
    if value == 0:
        raise ValueError("must be a number of seconds > 0")
    return value


_positive_seconds.toml_kinds = (int, float)


@_validated
def _size(text: str) -> int:
    size = parse_size(text)
    if size is None:
        raise ValueError("must be a size such as 16MiB, 512KiB or 0")
    return size


_size.toml_kinds = (int, str)  # bytes, or a string with a unit


@_validated
def _not_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return str(text)


@_validated
def _data_url(text: str) -> str:
    """Where object bytes go in segment mode; the store itself is opened (and a missing directory
    or bucket reported) when the server starts."""
    if not text.startswith(("file:///", "s3://")):
        raise ValueError("must be file:///absolute/dir or s3://BUCKET/PREFIX?endpoint=URL&region=R")
    return str(text)


@_validated
def _meta_url(text: str) -> str:
    """A PostgreSQL connection URL (libpq syntax), checked here so that a typo is a usage error
    rather than a failed start."""
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql://user@host:port/database URL")
    try:
        from psycopg.conninfo import conninfo_to_dict
        import psycopg_pool  # noqa: F401  (the driver needs it)
    except ImportError:
        raise ValueError("needs the PostgreSQL driver: pip install 'ossbox[postgres]'") from None
    try:
        conninfo_to_dict(str(text))
    except Exception as exc:  # psycopg.ProgrammingError: a malformed URL
        raise ValueError(f"is not a valid PostgreSQL URL: {str(exc).strip()}") from None
    return str(text)


def register(sub) -> None:
    p = sub.add_parser("server", help="run the OSS-compatible HTTP server",
                       description="Run an OSS-compatible server. Every flag can also be set with "
                                   "the OSSBOX_<FLAG> environment variable (e.g. OSSBOX_PORT) or as a key "
                                   "of a TOML config file (--config; e.g. port = 9000); flags win over "
                                   "the environment, which wins over the file (docs/server-config.md). "
                                   f"The root key pair is kept in <data-dir>/{CREDENTIALS_FILE}; "
                                   "--show-credentials prints it.")
    _record_given_flags(p)
    p.add_argument("--config", type=_not_empty, default=_env("CONFIG"), metavar="TOML",
                   help="read settings from this TOML file: one key per flag, named as the flag "
                        "without its dashes (data-dir = \"/srv/ossbox\"); flags and OSSBOX_* "
                        "variables win over it")
    p.add_argument("--host", type=_not_empty, default=_env("HOST", "127.0.0.1"),
                   help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=_env("PORT", "9000"),
                   help="port to bind, 0 to 65535; 0 picks a free port (default 9000)")
    p.add_argument("--data-dir", type=_not_empty, default=_env("DATA_DIR", "./ossbox-data"),
                   help="where metadata, object data and the root key pair "
                        f"({CREDENTIALS_FILE}) live (default ./ossbox-data)")
    p.add_argument("--region", type=_not_empty, default=_env("REGION", "cn-hangzhou"),
                   help="region name (default cn-hangzhou)")
    p.add_argument("--access-key-id", default=_env("ACCESS_KEY_ID"),
                   help=f"root access key id, kept in <data-dir>/{CREDENTIALS_FILE} for later starts "
                        "(default: the kept pair; on the first start, a generated one)")
    p.add_argument("--access-key-secret", default=_env("ACCESS_KEY_SECRET"), help="root access key secret")
    p.add_argument("--show-credentials", nargs="?", const="text", choices=("text", "env"), default=None,
                   help=f"print the root key pair kept in <data-dir>/{CREDENTIALS_FILE} and exit; "
                        "`--show-credentials env` prints it as shell `export OSS_ACCESS_KEY_ID=... "
                        "OSS_ACCESS_KEY_SECRET=...` lines for the client commands and SDKs, as in "
                        "`eval \"$(ossbox server --show-credentials env)\"`")
    p.add_argument("--domain", action="append", default=None,
                   help="domain for virtual-hosted style <bucket>.<domain> (repeatable; "
                        "OSSBOX_DOMAIN takes a comma-separated list)")
    p.add_argument("--meta", type=_meta_url, default=_env("META"), metavar="URL",
                   help="keep the metadata in PostgreSQL at this postgresql:// URL (a schema: "
                        "?options=-csearch_path%%3Dname) instead of SQLite in the data dir")
    p.add_argument("--data", type=_data_url, default=_env("DATA"), metavar="URL",
                   help="keep object bytes as immutable segments in a shared store instead of the "
                        "data dir: file:///shared/dir or s3://BUCKET/PREFIX?endpoint=URL&region=R "
                        "(credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY). With --meta, "
                        "any number of servers started alike serve the same buckets")
    p.add_argument("--durability", type=_one_of("fsync", "none"), default=_env("DURABILITY", "fsync"),
                   metavar="{fsync,none}",
                   help="fsync (default): a 200 means the data is on stable storage; none: "
                        "acknowledged from the page cache (survives kill -9, not power loss)")
    p.add_argument("--restore-delay", type=_seconds, default=_env("RESTORE_DELAY", "60"),
                   metavar="SECONDS",
                   help="seconds a RestoreObject of an Archive/ColdArchive/DeepColdArchive object "
                        "takes to complete (default 60)")
    p.add_argument("--logging-interval", type=_positive_seconds, default=_env("LOGGING_INTERVAL", "300"),
                   metavar="SECONDS",
                   help="seconds between writes of bucket access logs (PutBucketLogging) into their "
                        "target buckets (default 300)")
    p.add_argument("--inventory-interval", type=_positive_seconds, default=_env("INVENTORY_INTERVAL", "86400"),
                   metavar="SECONDS",
                   help="seconds between reports of a Daily bucket inventory; Weekly ones run every "
                        "seventh time (default 86400)")
    p.add_argument("--lifecycle-day-seconds", type=_positive_seconds,
                   default=_env("LIFECYCLE_DAY_SECONDS", "86400"), metavar="SECONDS",
                   help="how long one day of a bucket lifecycle rule (Days, NoncurrentDays) lasts; "
                        "shorten it to watch rules run (default 86400)")
    p.add_argument("--worm-day-seconds", type=_positive_seconds,
                   default=_env("WORM_DAY_SECONDS", "86400"), metavar="SECONDS",
                   help="how long one day of a bucket retention policy (WORM) lasts: its retention "
                        "period and the one-day InProgress window; shorten it for tests (default 86400)")
    p.add_argument("--lifecycle-interval", type=_positive_seconds, default=_env("LIFECYCLE_INTERVAL", "3600"),
                   metavar="SECONDS",
                   help="seconds between scans that apply bucket lifecycle rules (default 3600; OSS "
                        "runs its rules once a day)")
    p.add_argument("--idle-timeout", type=_positive_seconds, default=_env("IDLE_TIMEOUT", "75"),
                   metavar="SECONDS",
                   help="close a connection that sends no request for this long (default 75)")
    p.add_argument("--header-timeout", type=_positive_seconds, default=_env("HEADER_TIMEOUT", "60"),
                   metavar="SECONDS",
                   help="a request line and headers must arrive within this long of their first "
                        "byte (default 60; 400 RequestTimeout)")
    p.add_argument("--body-timeout", type=_positive_seconds, default=_env("BODY_TIMEOUT", "60"),
                   metavar="SECONDS",
                   help="a request body that sends nothing for this long fails with 400 "
                        "RequestTimeout and the connection is closed (default 60)")
    p.add_argument("--disk-reserve", type=_size, default=_env("DISK_RESERVE", "16MiB"), metavar="SIZE",
                   help="disk space kept back in the data dir (file space.reserve) so that start-up "
                        "and deletes work on a full disk; bytes or KiB/MiB/GiB, 0 disables "
                        "(default 16MiB)")
    p.add_argument("--certfile", type=_not_empty, default=_env("CERTFILE"), metavar="PEM",
                   help="serve HTTPS with this certificate (chain) in PEM: on --port, or on "
                        "--https-port beside plain HTTP on --port")
    p.add_argument("--keyfile", type=_not_empty, default=_env("KEYFILE"), metavar="PEM",
                   help="the certificate's private key in PEM (default: read from --certfile)")
    p.add_argument("--https-port", type=_port, default=_env("HTTPS_PORT"), metavar="PORT",
                   help="with --certfile: serve HTTPS on this port and plain HTTP on --port "
                        "(0 picks a free port); without it, --port serves HTTPS only")
    p.add_argument("--shutdown-timeout", type=_seconds, default=_env("SHUTDOWN_TIMEOUT", "30"),
                   metavar="SECONDS",
                   help="on SIGTERM/SIGINT, stop accepting connections and give the requests in flight "
                        "this long to finish; those still running then are cut (default 30)")
    p.add_argument("--workers", type=_workers, default=_env("WORKERS"), metavar="N",
                   help="server processes serving the same ports and data dir, under one supervisor "
                        "that restarts a worker that dies; 1 runs a single process without a "
                        "supervisor (default: the number of cores this process may use)")
    p.add_argument("--access-log", type=_not_empty, default=_env("ACCESS_LOG"), metavar="-|PATH",
                   help="write one line per request to PATH (appended) or to stdout with '-'; "
                        "written by a thread of its own, never on the request path (default: off)")
    p.add_argument("--log-format", type=_one_of("text", "json"), default=_env("LOG_FORMAT", "text"),
                   metavar="{text,json}", help="format of --access-log lines (default text)")
    p.add_argument("--metrics-port", type=_port, default=_env("METRICS_PORT"), metavar="PORT",
                   help="serve the Prometheus metrics (GET /metrics) on this port of --host only, "
                        "instead of GET /-/metrics on --port (default: on --port)")
    p.add_argument("--no-console", action="store_true", default=_env("NO_CONSOLE", False),
                   help="do not serve the web console at /-/console/ (it then answers 404; "
                        "OSSBOX_NO_CONSOLE takes 1/0, true/false, yes/no; docs/console.md)")
    p.add_argument("--log-level", type=_one_of("debug", "info", "warning", "error"),
                   default=_env("LOG_LEVEL", "warning"), metavar="{debug,info,warning,error}",
                   help="the least severe server log messages shown, on stderr (default warning)")
    p.set_defaults(func=run_server, needs_settings=False, server_parser=p)


_RECORDING: dict = {}


def _recording(cls: type) -> type:
    """cls, recording in namespace._given the dest of every flag the command line gives."""
    if cls not in _RECORDING:
        def __call__(self, parser, namespace, values, option_string=None):
            given = getattr(namespace, "_given", None)
            if given is None:
                given = set()
                setattr(namespace, "_given", given)
            given.add(self.dest)
            return cls.__call__(self, parser, namespace, values, option_string)
        _RECORDING[cls] = type(cls.__name__, (cls,), {"__call__": __call__})
    return _RECORDING[cls]


def _record_given_flags(parser: argparse.ArgumentParser) -> None:
    """Every flag added to parser from now on records in namespace._given that the command line
    gave it: those win over the config file, and argparse alone cannot tell a flag given with its
    default value from no flag."""
    add = parser.add_argument

    def add_argument(*args, **kwargs):
        action = add(*args, **kwargs)
        action.__class__ = _recording(type(action))
        return action
    parser.add_argument = add_argument


# -- the config file (--config / OSSBOX_CONFIG) ----------------------------------------------------
# Flags that are no setting: --help, --config itself, and --show-credentials (an action, not a
# way to run the server).
_NOT_IN_FILE = {"help", "config", "show_credentials"}
_TOML_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
                    list: "an array", dict: "a table"}


def server_parser() -> argparse.ArgumentParser:
    """A fresh `ossbox server` parser (for the config keys outside a command line)."""
    sub = argparse.ArgumentParser(prog="ossbox").add_subparsers()
    register(sub)
    return sub.choices["server"]


def config_keys(parser: argparse.ArgumentParser) -> dict:
    """Config file key -> the argparse action of its flag: every long flag of `ossbox server` but
    _NOT_IN_FILE, named as the flag without its leading dashes. Derived from the parser so that a
    new flag gets its key (and its validation) without anything else to change."""
    keys = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if action.dest not in _NOT_IN_FILE and longs:
            keys[longs[0][2:]] = action
    return keys


def _toml_kinds(action) -> tuple:
    if isinstance(action, argparse._AppendAction):
        return (list, str)
    if action.nargs == 0:  # store_true and the like
        return (bool,)
    builtin = {int: (int,), float: (int, float)}.get(action.type)  # a plain type=int / type=float
    return builtin or getattr(action.type, "toml_kinds", (str,))


def env_variable(action) -> str:
    return _ENV + action.dest.upper()


def _kinds_text(kinds) -> str:
    if kinds == (int, float):
        return "a number"
    names = [("an array of strings" if k is list else _TOML_KIND_NAMES[k]) for k in kinds]
    return " or ".join(names)


def _file_value(path: str, key: str, action, value):
    """The flag value of config file entry key = value, checked as the flag's own value is."""
    from .settings import UsageError

    kinds = _toml_kinds(action)
    kind = type(value)
    if kind not in kinds or (kind is list and not all(isinstance(v, str) for v in value)):
        got = "an array with a non-string" if kind is list else _TOML_KIND_NAMES.get(kind, kind.__name__)
        raise UsageError(f"config file {path}: key '{key}' must be {_kinds_text(kinds)}, "
                         f"not {got} ({value!r})")
    if kind is bool:
        return value
    if isinstance(action, argparse._AppendAction):
        items = value if kind is list else [d for d in value.split(",") if d.strip()]
        return [_file_value(path, key, argparse.Action([], action.dest, type=action.type), v) for v in items]
    try:
        converted = value if action.type is None else action.type(repr(value) if kind is float else str(value))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"config file {path}: key '{key}' {exc}") from None
    except (TypeError, ValueError):  # a plain type=int / type=float converter
        raise UsageError(f"config file {path}: key '{key}': invalid value {value!r}") from None
    if action.choices is not None and converted not in action.choices:
        raise UsageError(f"config file {path}: key '{key}' must be one of "
                         f"{', '.join(map(str, action.choices))} (got {value!r})")
    return converted


def read_config_file(path: str) -> dict:
    from .settings import UsageError

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None


def apply_config_file(args, environ=None) -> None:
    """Fill args from the --config file, for every setting neither a flag nor its OSSBOX_*
    variable gave (flags > environment > file > defaults). Every key is checked, also those a
    flag overrides: a mistake in the file is reported the first time it is read."""
    from .settings import UsageError

    path = args.config
    if path is None:
        return
    env = os.environ if environ is None else environ
    keys = config_keys(args.server_parser)
    given = getattr(args, "_given", set())
    values = {}
    for key, value in read_config_file(path).items():
        action = keys.get(key)
        if action is None:
            import difflib

            near = difflib.get_close_matches(key.replace("_", "-"), keys, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise UsageError(f"config file {path}: unknown key '{key}'{hint}; the keys are the "
                             "flags of 'ossbox server --help' without their dashes "
                             "(docs/server-config.md)")
        values[action.dest] = _file_value(path, key, action, value)
    for dest, value in values.items():
        action = next(a for a in keys.values() if a.dest == dest)
        if dest not in given and env_variable(action) not in env:
            setattr(args, dest, value)


def config_reference() -> str:
    """The Markdown table of every config file key (docs/server-config.md embeds it; a test
    checks that the two agree). Defaults are those of an empty environment."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(_ENV)}
    for k in saved:
        del os.environ[k]
    try:
        keys = config_keys(server_parser())
    finally:
        os.environ.update(saved)
    rows = ["| key | environment | TOML type | default | what it sets |",
            "| --- | --- | --- | --- | --- |"]
    for key, action in keys.items():
        kinds = _toml_kinds(action)
        if action.default is None:
            default = "(none)"
        elif kinds == (bool,):
            default = f"`{str(action.default).lower()}`"
        elif kinds[0] in (int, float) and str(action.default).replace(".", "").isdigit():
            default = f"`{action.default}`"
        else:
            default = f'`"{action.default}"`'
        help_text = " ".join((action.help or "").replace("%%", "%").replace("|", "\\|").split())
        rows.append(f"| `{key}` | `{env_variable(action)}` | {_kinds_text(kinds)} | {default} | {help_text} |")
    return "\n".join(rows) + "\n"


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
               "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3}


def parse_size(text: str):
    """Bytes from "4096", "512KiB", "16MiB", "1G" (binary units); None if not a size."""
    m = re.fullmatch(r"\s*([0-9]{1,15})\s*([a-zA-Z]*)\s*", text or "")
    unit = _SIZE_UNITS.get(m.group(2).lower()) if m else None
    return None if unit is None else int(m.group(1)) * unit


def _bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        exc.filename = port  # which of the two ports failed, for the message
        raise
    # Listen now: the ready line is printed during startup, and a client that connects before
    # uvicorn starts accepting must wait in the backlog rather than be refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _bind_each(host: str, port: int, count: int) -> list:
    """`count` listening sockets on one port, one per worker of `--workers N`, which the kernel
    (SO_REUSEPORT) hands new connections to by a hash of their addresses. Why not one shared
    socket: every worker's event loop (libuv) accepts all it can each time it wakes, so of 16
    connections opened together one worker took 15 (measured: 15/1 in 3 tries of 5). First a
    plain bind, which fails if anything listens there (SO_REUSEPORT alone would let a second
    server on the port split its traffic silently) and picks the port for port 0; then the group
    on that port."""
    probe = _bind(host, port)
    port = probe.getsockname()[1]
    probe.close()
    group: list = []
    try:
        for _ in range(count):
            group.append(_bind(host, port, reuse_port=True))
    except OSError:
        for sock in group:
            sock.close()
        raise
    return group


def tls_context(certfile, keyfile, https_port):
    """The server-side TLS context of --certfile/--keyfile, or None without them. A certificate
    or key that cannot be loaded is a usage error at start, not a failed handshake later."""
    from .settings import UsageError

    if certfile is None:
        if keyfile is not None or https_port is not None:
            raise UsageError("--keyfile and --https-port (OSSBOX_KEYFILE, OSSBOX_HTTPS_PORT) need "
                             "--certfile (OSSBOX_CERTFILE)\nRun 'ossbox server --help' for usage.")
        return None
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # TLS 1.2+, no client certificates
    try:
        ctx.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        what = f"{certfile}" + (f" and {keyfile}" if keyfile else "")
        raise UsageError(f"cannot load the TLS certificate and key from {what}: "
                         f"{getattr(exc, 'strerror', None) or exc}")
    return ctx


def _server_class():
    import asyncio

    import uvicorn

    class OssUvicornServer(uvicorn.Server):
        """uvicorn's server with HTTPS listeners of its own TLS context beside the plain ones
        (uvicorn applies one `ssl` to every socket it is given), and a graceful shutdown that
        says what it did."""
        tls_sockets: list = []
        tls_context = None

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.should_exit or not self.tls_sockets:
                return
            loop = asyncio.get_running_loop()
            for sock in self.tls_sockets:
                # the same protocol class and shared state as uvicorn's own listeners, so graceful
                # shutdown waits for these connections too; scope["scheme"] is "https" on them
                server = await loop.create_server(
                    lambda: self.config.http_protocol_class(config=self.config, server_state=self.server_state,
                                                            app_state=self.lifespan.state),
                    sock=sock, ssl=self.tls_context, backlog=self.config.backlog)
                self.servers.append(server)

        async def shutdown(self, sockets=None):
            """uvicorn.Server.shutdown's steps, counted and reported: stop accepting, ask every
            connection to close after its current response, wait up to --shutdown-timeout for
            the requests in flight, cut (cancel) those still running, then stop the app. A cut
            request never acknowledged anything: the engine publishes a write in one commit, so
            it either committed before the cut (its client may still miss the 200) or left no
            trace."""
            loop = asyncio.get_running_loop()
            state, timeout = self.server_state, self.config.timeout_graceful_shutdown
            began = loop.time()
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            seen = set(state.tasks)
            print(f"ossbox stopping: no longer accepting connections; {len(seen)} request(s) in flight "
                  f"on {len(state.connections)} open connection(s); waiting up to {timeout:g} s for them",
                  flush=True)
            for connection in list(state.connections):
                connection.shutdown()
            # uvicorn's condition, bounded: connections that still have something to send, and
            # the requests themselves
            while (state.connections or state.tasks) and not self.force_exit \
                    and loop.time() - began < timeout:
                seen.update(state.tasks)
                await asyncio.sleep(0.05)
            seen.update(state.tasks)
            cut = list(state.tasks)
            for task in cut:
                task.cancel(msg="cut: --shutdown-timeout exceeded")
            if cut:
                await asyncio.wait(cut, timeout=5)
            for connection in list(state.connections):
                # what is left (cut requests, clients that never close): closed now, so that
                # their clients see the end at once rather than when the process exits
                connection.transport.abort()
            reason = "a second SIGINT" if self.force_exit else f"--shutdown-timeout {timeout:g} s"
            print(f"ossbox stopped serving after {loop.time() - began:.1f} s: {len(seen)} request(s) "
                  f"were in flight, {len(seen) - len(cut)} finished, {len(cut)} cut"
                  + (f" ({reason} exceeded)" if cut else ""), flush=True)
            if not self.force_exit:
                await self.lifespan.shutdown()

    return OssUvicornServer


def show_credentials(data_dir: str, form: str = "text") -> int:
    """`ossbox server --show-credentials [text|env]`: the kept root pair, read from the data dir (no
    server needs to run, and nothing is created). `env` gives the client-side variables (OSS_*, what
    `ossbox` client commands and the SDKs' environment providers read) as `export` lines, so that a
    new user's second terminal gets the keys with one `eval` instead of copying them by hand."""
    from .settings import UsageError

    try:
        from ..config import read_credentials
        stored = read_credentials(data_dir)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {os.path.join(data_dir, CREDENTIALS_FILE)}: {exc}")
    if stored is None:
        raise UsageError(f"no root key pair in {os.path.abspath(data_dir)} yet: `ossbox server "
                         f"--data-dir {data_dir}` generates one on its first start")
    if form == "env":
        print(f"export OSS_ACCESS_KEY_ID={shlex.quote(stored['access_key_id'])}\n"
              f"export OSS_ACCESS_KEY_SECRET={shlex.quote(stored['access_key_secret'])}", flush=True)
        return 0
    print(f"root key pair of {os.path.abspath(data_dir)} (kept in {CREDENTIALS_FILE}):\n"
          f"  AccessKeyId:     {stored['access_key_id']}\n  AccessKeySecret: {stored['access_key_secret']}",
          flush=True)
    return 0


def run_server(args, _settings=None) -> int:
    from .settings import UsageError

    apply_config_file(args)
    args.no_console = _switch(args.no_console)
    if args.show_credentials:
        return show_credentials(args.data_dir, args.show_credentials)

    if bool(args.access_key_id) != bool(args.access_key_secret):
        raise UsageError("--access-key-id and --access-key-secret (OSSBOX_ACCESS_KEY_ID and "
                         "OSSBOX_ACCESS_KEY_SECRET) go together\nRun 'ossbox server --help' for usage.")
    tls = tls_context(args.certfile, args.keyfile, args.https_port)
    if args.access_log not in (None, "-"):
        try:
            open(args.access_log, "a").close()
        except OSError as exc:
            raise UsageError(f"cannot write the access log {args.access_log}: {exc.strerror}")
    workers = args.workers if args.workers is not None else default_workers()
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if workers == 1:
            socks = [_bind(args.host, args.port)]
            tls_socks = [None if args.https_port is None else _bind(args.host, args.https_port)]
        else:
            socks = _bind_each(args.host, args.port, workers)
            tls_socks = [None] * workers if args.https_port is None else _bind_each(args.host, args.https_port,
                                                                                    workers)
        # Workers share the metrics port (scrapes are few, any worker answers): bound here, once
        # (a single process leaves it to prometheus-client's own server, which binds it, as before).
        metrics_sock = None if workers == 1 or args.metrics_port is None else _bind(args.host, args.metrics_port)
    except OSError as exc:
        print(f"ossbox: cannot listen on {args.host}:{exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    listeners = [Listeners(sock, tls_sock, tls, metrics_sock) for sock, tls_sock in zip(socks, tls_socks)]
    if workers == 1:  # no supervisor: one process, started and stopped exactly as it always was
        return serve(args, listeners[0])
    from .supervisor import supervise
    return supervise(args, listeners, serve)


_SWITCH_WORDS = {"1": True, "true": True, "yes": True, "on": True,
                 "0": False, "false": False, "no": False, "off": False, "": False}


def _switch(value) -> bool:
    """An on/off flag's value: a bool from the flag or config file, or the text of its OSSBOX_*
    variable (1/0, true/false, yes/no, on/off)."""
    from .settings import UsageError

    if isinstance(value, bool):
        return value
    word = _SWITCH_WORDS.get(str(value).strip().lower())
    if word is None:
        name = value.variable if isinstance(value, _EnvValue) else "the value"
        raise UsageError(f"{name}={value!r}: must be 1 or 0 (also true/false, yes/no, on/off)")
    return word


def default_workers() -> int:
    """--workers' default: one worker per core this process may run on (its CPU affinity, which
    containers and taskset narrow; os.cpu_count() would count the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Listeners:
    """The sockets one server process serves: bound before it starts, by the supervisor for each
    worker of `--workers N` (so that all serve the same ports, also a free one picked with 0)."""

    def __init__(self, sock, tls_sock, tls, metrics_sock=None):
        self.port = sock.getsockname()[1]
        if tls is not None and tls_sock is None:  # --port itself serves HTTPS
            sock, tls_sock = None, sock
        self.sock, self.tls_sock, self.tls, self.metrics_sock = sock, tls_sock, tls, metrics_sock

    def ready_lines(self, host: str) -> list[str]:
        """What a started server prints last; the very last line is the one whoever starts it
        waits for (tests/serverproc.py)."""
        shown_host = f"[{host}]" if ":" in host else host
        lines = []
        if self.tls_sock is not None and self.sock is not None:
            # before the ready line (the last one): whoever waits for it can read both addresses
            lines.append(f"ossbox serving HTTPS on https://{shown_host}:{self.tls_sock.getsockname()[1]}")
        lines.append(f"ossbox listening on {'http' if self.sock is not None else 'https'}://{shown_host}:{self.port}")
        return lines


def serve(args, sockets: Listeners, report=None) -> int:
    """Run one server process on the bound sockets until SIGTERM/SIGINT; its exit status.
    report: None to print the start-up lines, else a callable that a worker of `--workers N`
    hands them to instead (when it serves), for the supervisor to print once."""
    import uvicorn

    from ..http.app import Server
    from ..http.protocol import http_protocol

    domains = args.domain if args.domain is not None else [
        d for d in (_env("DOMAIN", "") or "").split(",") if d.strip()]
    from ..config import ServerConfig
    cfg = ServerConfig(host=args.host, port=sockets.port, data_dir=args.data_dir, region=args.region,
                       access_key_id=args.access_key_id, access_key_secret=args.access_key_secret,
                       domains=domains, durability=args.durability)
    cfg.restore_delay = args.restore_delay
    cfg.logging_interval = args.logging_interval
    cfg.inventory_interval = args.inventory_interval
    cfg.lifecycle_day_seconds = args.lifecycle_day_seconds
    cfg.lifecycle_interval = args.lifecycle_interval
    cfg.worm_day_seconds = args.worm_day_seconds
    cfg.body_timeout = args.body_timeout
    cfg.disk_reserve = args.disk_reserve
    cfg.meta = args.meta
    cfg.data = args.data
    cfg.access_log = args.access_log
    cfg.log_format = args.log_format
    cfg.metrics_port = args.metrics_port
    cfg.metrics_socket = sockets.metrics_sock
    cfg.console = not args.no_console
    app = Server(cfg)

    original_startup = app.startup

    async def announce():
        await original_startup()
        kept = os.path.abspath(os.path.join(cfg.data_dir, CREDENTIALS_FILE))
        lines = []
        if cfg.generated_credentials:
            lines.append(f"ossbox generated a root key pair (kept in {kept}; "
                         "`ossbox server --show-credentials` prints it again):\n"
                         f"  AccessKeyId:     {cfg.access_key_id}\n  AccessKeySecret: {cfg.access_key_secret}")
        elif cfg.replaced_access_key_id:
            lines.append(f"ossbox keeps the given root key pair (AccessKeyId {cfg.access_key_id}) in {kept}; "
                         f"it replaces the pair of AccessKeyId {cfg.replaced_access_key_id}")
        if report is None:
            for line in lines + sockets.ready_lines(args.host):
                print(line, flush=True)
            return
        # a worker serves (health checks at once, OSS requests after its journal replay) as a
        # single process does when it prints the ready line; the supervisor prints it once all
        # have reported (supervisor.py)
        report(lines)

    app.startup = announce
    # The app sends its own Date (taken per response); uvicorn's is refreshed once a second.
    config = uvicorn.Config(app, loop="uvloop", http=http_protocol(app, header_timeout=args.header_timeout),
                            ws="none", lifespan="on", access_log=False, server_header=False,
                            date_header=False, log_level=args.log_level,
                            timeout_keep_alive=args.idle_timeout,
                            timeout_graceful_shutdown=args.shutdown_timeout)
    server = _server_class()(config)
    tls_sock = sockets.tls_sock
    server.tls_sockets, server.tls_context = ([tls_sock], sockets.tls) if tls_sock is not None else ([], None)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler
    # that was installed before it; a no-op one makes a clean stop exit with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sockets.sock] if sockets.sock is not None else [])
    return 0 if server.started and app.start_error is None else 1
