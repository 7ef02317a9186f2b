"""A fault-injecting HTTP proxy for tests: sits on 127.0.0.1 (free port) in front of a server.

Each client connection carries one request: the proxy reads it whole (Content-Length or chunked
body), asks `rule(info)` what to do, and then
  * "forward"        sends it upstream with `Connection: close`, reads the response to EOF and
                     passes it back (the response carries `connection: close`, so the client opens
                     a new connection for its next request);
  * "drop_response"  sends it upstream, lets the server process it completely (reads the whole
                     response), then closes the client connection without a byte: the request
                     took effect but the client never learns so;
  * "drop_request"   closes the client connection without contacting the server: the request
                     never happened;
  * "delay_request"  closes the client connection at once, but keeps the request and delivers it
                     to the server just before the next AppendObject request is forwarded: a
                     request that was stuck in the network and lands after the client gave up
                     (so the client's resend then meets PositionNotEqualToLength).
Signatures are unaffected: neither Host nor Connection is signed by the OSS V1/V4 signers.

`rule` runs before anything is forwarded, so it may also act as another client (for example
append to the object itself) to simulate a concurrent writer. `FaultProxy.append_plan({n: action})`
builds a rule that applies `action` to the n-th AppendObject request (1-based).
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import parse_qs, urlsplit

FORWARD, DROP_RESPONSE, DROP_REQUEST, DELAY_REQUEST = "forward", "drop_response", "drop_request", "delay_request"


@dataclass
class RequestInfo:
    index: int                 # 1-based, over all requests seen by the proxy
    method: str
    target: str                # request target (path?query)
    headers: dict              # lower-case name -> value
    body: bytes
    append_index: int = 0      # 1-based among AppendObject requests (POST ...?append), else 0

    @property
    def query(self) -> dict:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def is_append(self) -> bool:
        return self.append_index > 0


@dataclass
class LogEntry:
    info: RequestInfo
    action: str
    status: Optional[int] = None   # upstream status, when it was forwarded


class FaultProxy:
    def __init__(self, upstream: str, rule: Optional[Callable[[RequestInfo], Optional[str]]] = None,
                 timeout: float = 30.0, respond: Optional[Callable[[bytes], bytes]] = None):
        """respond: rewrites each forwarded response (status line, headers and body as received)."""
        parts = urlsplit(upstream if "://" in upstream else "http://" + upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.rule = rule
        self.respond = respond
        self.timeout = timeout
        self.log: list[LogEntry] = []
        self._lock = threading.Lock()
        self._count = 0
        self._appends = 0
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stopped = threading.Event()
        self._delayed: list[tuple[bytes, LogEntry]] = []
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FaultProxy":
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- rules -------------------------------------------------------------------------------------
    def append_plan(self, plan: dict, before: Optional[Callable[[RequestInfo], None]] = None) -> "FaultProxy":
        """Apply plan[n] (an action, or a callable returning one) to the n-th append request."""
        def rule(info: RequestInfo) -> str:
            if before is not None:
                before(info)
            action = plan.get(info.append_index) if info.is_append else None
            if callable(action):
                action = action(info)
            return action or FORWARD
        self.rule = rule
        return self

    def actions(self, appends_only: bool = True) -> list[str]:
        with self._lock:
            return [e.action for e in self.log if e.info.is_append or not appends_only]

    # -- plumbing ----------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(self.timeout)
        try:
            request = _read_request(conn)
            if request is None:
                return
            head, body, raw_body = request
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            query = parse_qs(urlsplit(target).query, keep_blank_values=True)
            with self._lock:
                self._count += 1
                append_index = 0
                if method == "POST" and "append" in query:
                    self._appends += 1
                    append_index = self._appends
                info = RequestInfo(self._count, method, target, headers, body, append_index)
            action = (self.rule(info) if self.rule else None) or FORWARD
            entry = LogEntry(info, action)
            with self._lock:
                self.log.append(entry)
            if action == DROP_REQUEST:
                return
            if info.is_append:
                self._deliver_delayed()
            out_head = [lines[0]] + [l for l in lines[1:] if l and not l.lower().startswith(("connection:", "keep-alive:"))]
            out_head.append("Connection: close")
            data = ("\r\n".join(out_head) + "\r\n\r\n").encode("latin-1") + raw_body
            if action == DELAY_REQUEST:
                with self._lock:
                    self._delayed.append((data, entry))
                return
            response = _exchange(self.upstream, data, self.timeout)
            entry.status = _status(response)
            if action == DROP_RESPONSE:
                return
            conn.sendall(self.respond(response) if self.respond is not None else response)
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


    def _deliver_delayed(self) -> None:
        with self._lock:
            delayed, self._delayed = self._delayed, []
        for data, entry in delayed:
            entry.status = _status(_exchange(self.upstream, data, self.timeout))


def _status(response: bytes) -> Optional[int]:
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def _recv_until(conn: socket.socket, buf: bytearray, marker: bytes) -> int:
    while True:
        i = buf.find(marker)
        if i >= 0:
            return i
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed")
        buf += chunk


def _recv_exactly(conn: socket.socket, buf: bytearray, n: int) -> None:
    while len(buf) < n:
        chunk = conn.recv(max(65536, n - len(buf)))
        if not chunk:
            raise ValueError("connection closed")
        buf += chunk


def _read_request(conn: socket.socket):
    """(header block, decoded body, body as sent) of one request, or None at a clean EOF."""
    buf = bytearray()
    try:
        end = _recv_until(conn, buf, b"\r\n\r\n")
    except ValueError:
        return None
    head = bytes(buf[:end])
    rest = bytearray(buf[end + 4:])
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        raw = bytearray()
        while True:
            i = _recv_until(conn, rest, b"\r\n")
            size = int(bytes(rest[:i]).split(b";")[0], 16)
            _recv_exactly(conn, rest, i + 2 + size + 2)
            raw += rest[:i + 2 + size + 2]
            body += rest[i + 2:i + 2 + size]
            del rest[:i + 2 + size + 2]
            if size == 0:
                break   # (trailers are not used by the SDKs)
        return head, bytes(body), bytes(raw)
    length = int(headers.get("content-length", "0") or 0)
    _recv_exactly(conn, rest, length)
    body = bytes(rest[:length])
    return head, body, body


def _exchange(upstream, data: bytes, timeout: float) -> bytes:
    """Send one request upstream and read the whole response (the server closes after it)."""
    with socket.create_connection(upstream, timeout=timeout) as up:
        up.sendall(data)
        chunks = []
        while True:
            chunk = up.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
