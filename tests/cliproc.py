"""Run `ossbox` CLI commands in tests as processes forked from one that has imported the CLI and
the SDK already.

The CLI tests run the `ossbox` command some hundreds of times. As `python -m ossbox` each run
started an interpreter and imported alibabacloud-oss-v2 (requests, urllib3, pycryptodome) and the
CLI's modules: ~0.3-0.6 s of CPU per run on a 2-core machine, more than half of the default suite's
time in the CLI test files. Here a zygote process (one per test process, started on first use)
imports all that once; every command is a fork of it that takes the caller's stdin/stdout/stderr
(passed as file descriptors over a Unix socket), working directory, environment and a fresh
SIGINT disposition, then runs the command as `python -m ossbox` would and exits with its status.
So each command is still a process of its own with its own exit status, file descriptors and
environment; what a fork does not give is a fresh interpreter, which only the tests of start-up
itself (tests/test_cli_startup.py) need, and those run `python -m ossbox` directly. `ossbox server`
also runs as a real subprocess (its --workers supervisor sets PROMETHEUS_MULTIPROC_DIR before
prometheus-client is imported). OSSBOX_TEST_CLI_FORK=0 makes every command a real subprocess.

run() takes the subprocess.run arguments the CLI tests use and returns a CompletedProcess.
"""
from __future__ import annotations

import atexit
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FORK = os.environ.get("OSSBOX_TEST_CLI_FORK", "1") != "0"
_lock = threading.Lock()
_zygote: "_Zygote | None" = None


def run(args, *, env=None, input=None, stdin=None, cwd=None, timeout=None,
        text=False) -> subprocess.CompletedProcess:
    """`subprocess.run([sys.executable, "-m", "ossbox", *args], ..., capture_output=True)`."""
    args = [str(a) for a in args]
    cmd = [sys.executable, "-m", "ossbox", *args]
    if not FORK or (args and args[0] == "server"):
        return subprocess.run(cmd, env=env, input=input, stdin=stdin, cwd=cwd, timeout=timeout, text=text,
                              capture_output=True)
    if isinstance(input, str):
        input = input.encode()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_w = None
    if input is not None or stdin == subprocess.PIPE:
        in_r, in_w = os.pipe()
    elif stdin == subprocess.DEVNULL:
        in_r = os.open(os.devnull, os.O_RDONLY)
    elif stdin is None:  # inherited, as subprocess does
        in_r = os.dup(0)
    else:
        in_r = os.dup(stdin if isinstance(stdin, int) else stdin.fileno())
    request = {"args": args, "env": dict(os.environ if env is None else env),
               "cwd": os.fspath(cwd) if cwd is not None else os.getcwd()}
    conn = None
    try:
        try:
            conn = _get_zygote().start(request, [in_r, out_w, err_w])
        finally:  # the child's ends: the zygote has its own copies now
            _close(in_r, out_w, err_w)
        pid = int(_recv(conn, None).split()[1])
    except BaseException:
        _close(out_r, err_r, in_w)
        if conn is not None:
            conn.close()
        raise
    try:
        stdout, stderr, status = _communicate(conn, pid, out_r, err_r, in_w, input or b"", cmd, timeout)
    finally:
        conn.close()
    code = os.waitstatus_to_exitcode(status)
    if text:
        stdout, stderr = _text(stdout), _text(stderr)
    return subprocess.CompletedProcess(cmd, code, stdout, stderr)


def _close(*fds) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _text(data: bytes) -> str:
    """As subprocess's text mode on these machines: UTF-8 (the locale's), universal newlines."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _recv(conn: socket.socket, deadline) -> bytes:
    conn.settimeout(None if deadline is None else max(deadline - time.monotonic(), 0.001))
    msg = conn.recv(64)
    if not msg:
        raise RuntimeError("the CLI zygote went away")
    return msg


def _communicate(conn, pid, out_r, err_r, in_w, data: bytes, cmd, timeout):
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks = {out_r: [], err_r: []}
    status = None
    sel = selectors.DefaultSelector()
    try:
        sel.register(out_r, selectors.EVENT_READ)
        sel.register(err_r, selectors.EVENT_READ)
        sel.register(conn, selectors.EVENT_READ)
        if in_w is not None:
            os.set_blocking(in_w, False)
            sel.register(in_w, selectors.EVENT_WRITE)
        view = memoryview(data)
        while len(sel.get_map()):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(cmd, timeout, b"".join(chunks[out_r]), b"".join(chunks[err_r]))
            for key, _ in sel.select(left):
                fd = key.fd
                if key.fileobj is conn:
                    sel.unregister(conn)
                    status = int(_recv(conn, deadline).split()[1])
                elif fd == in_w:
                    try:
                        n = os.write(in_w, view[:65536]) if view else 0
                    except BrokenPipeError:
                        n, view = 0, view[:0]
                    view = view[n:]
                    if not view:
                        sel.unregister(in_w)
                        os.close(in_w)
                        in_w = None
                else:
                    piece = os.read(fd, 65536)
                    if piece:
                        chunks[fd].append(piece)
                    else:
                        sel.unregister(fd)
    finally:
        sel.close()
        _close(out_r, err_r, in_w)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r]), status


class _Zygote:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ossbox-cli-zygote-")
        self.path = os.path.join(self.dir, "socket")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), self.path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        ready = self.proc.stdout.readline()  # after the imports, with the socket listening
        if ready != b"ready\n":
            raise RuntimeError(f"the CLI zygote did not start: {ready!r}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, request: dict, fds: list) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(self.path)
        socket.send_fds(conn, [json.dumps(request).encode()], fds)
        return conn

    def stop(self) -> None:
        self.proc.stdin.close()  # EOF: the zygote exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        os.rmdir(self.dir)


def _get_zygote() -> _Zygote:
    global _zygote
    with _lock:
        if _zygote is None or not _zygote.alive():
            if _zygote is None:
                atexit.register(lambda: _zygote is not None and _zygote.stop())
            _zygote = _Zygote()
        return _zygote


# -- the zygote ------------------------------------------------------------------------------------
def _serve(path: str) -> None:
    # What `ossbox <command>` imports, once: the CLI and every module its commands load lazily.
    import importlib
    import pkgutil

    importlib.import_module("alibabacloud_oss_v2")
    import ossbox.cli
    for module in pkgutil.iter_modules(ossbox.cli.__path__):
        if module.name != "supervisor":  # `ossbox server --workers` only (never forked from here)
            __import__(f"ossbox.cli.{module.name}")

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")  # EOF when the tests end
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            if key.data == "parent":
                return
            if key.data == "accept":
                _fork_command(listener, sel)
            else:
                _report_exit(sel, key)


def _fork_command(listener: socket.socket, sel: selectors.BaseSelector) -> None:
    """Take one command off the socket and fork it; the child never returns from here."""
    conn, _ = listener.accept()
    try:
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        request = json.loads(msg)
    except (OSError, ValueError):
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        for other in list(sel.get_map().values()):
            if isinstance(other.data, tuple):  # another command's pidfd and socket
                os.close(other.fileobj)
                other.data[1].close()
        sel.close()
        listener.close()
        conn.close()
        _child(request, fds)  # does not return
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)  # readable when the child exits
    try:
        conn.send(b"pid %d" % pid)
    except OSError:
        pass
    sel.register(pidfd, selectors.EVENT_READ, (pid, conn))


def _report_exit(sel: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
    """A command has exited (its pidfd is readable): reap it and send its wait status."""
    pid, conn = key.data
    sel.unregister(key.fd)
    os.close(key.fd)
    _, status = os.waitpid(pid, 0)
    try:
        conn.send(b"exit %d" % status)
    except OSError:
        pass
    conn.close()


def _child(request: dict, fds: list) -> None:
    """Become `python -m ossbox <args>` with the caller's stdio, directory and environment."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as `python -m` sets it (the zygote ran as a script in tests/)
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a new interpreter sets it up
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    encoding, _, errors = (os.environ.get("PYTHONIOENCODING") or "").partition(":")
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))

    def stream(fd: int, mode: str, errors_default: str):
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = (io.BufferedReader(raw) if mode == "rb" else io.BufferedWriter(raw))
        return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", errors=errors or errors_default,
                                line_buffering=raw.isatty(), write_through=unbuffered and mode == "wb")
    sys.stdin = sys.__stdin__ = stream(0, "rb", sys.__stdin__.errors)
    sys.stdout = sys.__stdout__ = stream(1, "wb", sys.__stdout__.errors)
    sys.stderr = sys.__stderr__ = stream(2, "wb", "backslashreplace")
    sys.argv = [os.path.join(os.path.dirname(sys.modules["ossbox"].__file__), "__main__.py"), *request["args"]]
    from ossbox.cli import main
    code = main(request["args"])
    # The end of an interpreter, less the teardown of every module (a tenth of a second here):
    # non-daemon threads joined, atexit handlers run, the streams flushed.
    threading._shutdown()
    atexit._run_exitfuncs()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            code = code or 120  # as Python exits when flushing stdout fails at the end
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    # run as a script: this file's directory (tests/) is sys.path[0]; the repository's ossbox is
    # found as the test process finds it (installed, or PYTHONPATH)
    _serve(sys.argv[1])
