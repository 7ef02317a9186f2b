"""`ossbox server --workers N`: N server processes on the same ports and data dir, under a
supervisor process (docs/architecture.md, "Several worker processes").

The supervisor binds the ports (server_cmd.run_server) and forks the workers, which inherit the
listening sockets and each run the normal server (server_cmd.serve) on them. Each port has one
socket per worker, all bound with SO_REUSEPORT: the kernel spreads new connections over them by
a hash of their addresses. One socket shared by all workers was tried first and dropped: every
worker's event loop (libuv) accepts all it can each time it wakes, so of 16 connections opened
together one worker took 15. The supervisor keeps every socket open, so the connections waiting
on the socket of a worker that died wait for its restart instead of being reset, and a port
picked with `--port 0` stays the same. The metrics port (`--metrics-port`) is one shared socket:
scrapes are few and any worker answers them.

What must happen once happens once:
* The first worker starts alone: it creates the root key pair on a first start and replays the
  journal; the others start after its replay is done. (A worker restarted later replays while the
  others serve; that is safe, as it is for any process starting on a data dir in use: the replay
  rewrites only committed bytes, which never change, and retires only rows it synced itself.)
* The start-up lines (credentials, addresses, the ready line) are printed by the supervisor, once,
  after every worker has reported that it serves.
* Background jobs coordinate through the metadata store as several nodes do: lifecycle and
  inventory claim run slots (storage/periodic.py), the journal flusher and garbage collector work
  under leases, and bucket access logs are written per process under unique names.

Workers are forked after the server modules are imported, so a worker starts without importing
them again; the supervisor runs no thread and no event loop, so forking it is safe.
"""
from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import sys
import tempfile
import time

log = logging.getLogger("ossbox.supervisor")

RESTART_DELAY = 0.5       # seconds before the first restart of a worker that died
RESTART_DELAY_MAX = 30.0  # the delay doubles per death in a row, up to this
STABLE_AFTER = 30.0       # a worker that served this long starts the doubling afresh
_POLL = 0.2               # seconds between looks at signals and dead workers


class _Worker:
    def __init__(self, slot: int, pid: int):
        self.slot, self.pid = slot, pid
        self.started = time.monotonic()
        self.ready = False


def supervise(args, listeners: list, serve) -> int:
    """Run len(listeners) workers, worker i running serve(args, listeners[i], report) (that is
    server_cmd.serve, passed in rather than imported: server_cmd imports this module), until
    SIGTERM/SIGINT; the exit status."""
    # Metrics of all workers go to files in a private directory (prometheus-client's multiprocess
    # mode), which a scrape of any worker sums. The variable must be set before prometheus-client
    # is first imported: it chooses where values live at import time.
    metrics_dir = tempfile.mkdtemp(prefix="ossbox-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        if "prometheus_client" in sys.modules:
            log.warning("prometheus_client was imported before the workers were set up: "
                        "/-/metrics shows the requests of the worker that answers it only")
        return Supervisor(args, listeners, serve, metrics_dir).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Supervisor:
    def __init__(self, args, listeners: list, serve, metrics_dir: str):
        self.args, self.listeners, self.serve, self.metrics_dir = args, listeners, serve, metrics_dir
        count = self.count = len(listeners)
        self.workers: dict[int, _Worker] = {}      # pid -> worker
        self.deaths = [0] * count                  # deaths in a row, per slot
        self.restart_at: dict[int, float] = {}     # slot -> monotonic time of its restart
        self.lines: list[str] = []                 # start-up lines the workers reported
        self.signals: list[int] = []
        self.stopping = False
        self.serving = False                       # every worker reported, the ready line is out
        self.status = 0

    # -- the workers ------------------------------------------------------------------------------
    def start(self, slot: int) -> None:
        # held back across the fork, so that the child never runs the supervisor's handlers
        stop_signals = {signal.SIGTERM, signal.SIGINT}
        sys.stdout.flush()  # or the child would write out a copy of what is buffered
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        pid = os.fork()
        if pid == 0:
            self._run_worker(slot, stop_signals)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        self.workers[pid] = _Worker(slot, pid)

    def _run_worker(self, slot: int, stop_signals) -> None:
        """In the forked child: serve until stopped, then exit without returning into the
        supervisor's code."""
        status = 1
        try:
            for sig in stop_signals:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
            os.close(self.ready_r)
            _die_with_parent(self.parent)
            write = self.ready_w

            def report(lines: list) -> None:
                # one write of less than PIPE_BUF bytes: whole, whatever other workers write
                os.write(write, json.dumps({"pid": os.getpid(), "lines": lines}).encode() + b"\n")
            for other in self.listeners[:slot] + self.listeners[slot + 1:]:
                for sock in (other.sock, other.tls_sock):
                    if sock is not None:  # the supervisor keeps them: only this copy closes
                        sock.close()
            status = self.serve(self.args, self.listeners[slot], report)
        except SystemExit as exc:  # uvicorn's failed start (status 3), as a single process has it
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # reported and mapped as `ossbox server` alone does (cli/__init__.py)
            try:
                from .output import exit_code_for
                status = exit_code_for(exc)
            except BaseException:  # the child must not return into the supervisor's code
                import traceback
                traceback.print_exc()
        finally:
            try:
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(status)

    def _stop_workers(self, sig: int) -> None:
        for pid in self.workers:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        import importlib
        for module in ("uvicorn", "uvloop", "ossbox.http.app", "ossbox.http.protocol"):
            importlib.import_module(module)  # before forking, so that no worker imports them again

        self.parent = os.getpid()
        self.ready_r, self.ready_w = os.pipe()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.signals.append(signum))
        buffer = b""
        self.start(0)   # alone: see the module's docstring
        while self.workers or not self.stopping:
            self._handle_signals()
            self._reap()
            readable, _, _ = select.select([self.ready_r], [], [], _POLL)
            if readable:
                chunk = os.read(self.ready_r, 65536)
                buffer += chunk
                *messages, buffer = buffer.split(b"\n")
                for message in messages:
                    self._started(json.loads(message))
            now = time.monotonic()
            for slot, when in list(self.restart_at.items()):
                if when <= now and not self.stopping:
                    del self.restart_at[slot]
                    self.start(slot)
        os.close(self.ready_r)
        os.close(self.ready_w)
        return self.status

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if not self.stopping:
                # each worker stops gracefully within its --shutdown-timeout
                self.stopping = True
                self.restart_at.clear()
                self._stop_workers(signal.SIGTERM)
            elif sig == signal.SIGINT:
                self._stop_workers(signal.SIGINT)  # a second Ctrl-C: cut the requests in flight

    def _started(self, message: dict) -> None:
        worker = self.workers.get(message["pid"])
        if worker is None:
            return
        worker.ready = True
        self.lines += [line for line in message["lines"] if line not in self.lines]
        if self.serving:
            log.warning("worker %d restarted (pid %d)", worker.slot, worker.pid)
            return
        if self.stopping:
            return
        if len(self.workers) == 1 and self.count > 1 and worker.slot == 0:
            for slot in range(1, self.count):
                self.start(slot)
            return
        if all(w.ready for w in self.workers.values()) and len(self.workers) == self.count:
            self.serving = True
            pids = ", ".join(str(w.pid) for w in sorted(self.workers.values(), key=lambda w: w.slot))
            for line in self.lines + [f"ossbox workers: {self.count} (pids {pids})"] \
                    + self.listeners[0].ready_lines(self.args.host):
                print(line, flush=True)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            from prometheus_client import multiprocess
            multiprocess.mark_process_dead(pid, self.metrics_dir)  # its gauges leave the sums
            if self.stopping:
                continue
            how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit status {os.waitstatus_to_exitcode(status)}")
            if not self.serving:
                # it could not start (a bad setting, a store it cannot open): restarting would
                # only repeat that; its own error is on stderr above
                print(f"ossbox: worker {worker.slot} (pid {pid}) could not start ({how}); stopping",
                      file=sys.stderr, flush=True)
                self.status = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1
                self.status = self.status or 1
                self.stopping = True
                self._stop_workers(signal.SIGTERM)
                continue
            if time.monotonic() - worker.started >= STABLE_AFTER:
                self.deaths[worker.slot] = 0
            delay = min(RESTART_DELAY_MAX, RESTART_DELAY * 2 ** self.deaths[worker.slot])
            self.deaths[worker.slot] += 1
            log.warning("worker %d (pid %d) died (%s); restarting it in %.1f s", worker.slot, pid, how, delay)
            self.restart_at[worker.slot] = time.monotonic() + delay


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker if the supervisor dies (kill -9 of the server's pid must
    not leave workers serving the port). Linux only; elsewhere they outlive it."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the prctl
        os._exit(1)
