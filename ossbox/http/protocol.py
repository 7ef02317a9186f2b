"""The HTTP/1.1 connection: uvicorn's httptools protocol with the limits a shared server needs.

uvicorn buffers a request head without limit, closes a connection only after a response (one that
never sends a request, or stops half-way through its head, stays open for ever), answers parse
errors in text/plain, refuses `Content-Length` together with `Transfer-Encoding: chunked`, and
keeps a connection alive after a response whose request body never fully arrived (so the next
request is read as the rest of that body). This subclass changes exactly that:

* the request line and headers are capped at MAX_REQUEST_HEAD bytes: data reaches the parser in
  slices, so the parser never holds more than that (plus one slice) of a head;
* a connection is closed after `--idle-timeout` without a request (also before the first one), and
  a request head must be complete within `--header-timeout` of its first byte (400 RequestTimeout);
* protocol errors are answered with OSS XML (400 BadRequest, with the parser's reason);
* `Transfer-Encoding: chunked` wins over `Content-Length` (RFC 9112 §6.3, the Node.js SDK sends
  both), and such a connection is closed after its response, as that section requires;
* any other `Transfer-Encoding` is refused at once (400 BadRequest, connection closed): see
  transfer_coding_refusal. The leniency that lets chunked win would otherwise read such a body
  until the client closes, and the request would wait for the body timeout;
* a response sent before its request body has fully arrived carries `Connection: close`; the
  connection then *lingers*: it stops writing, discards what the client still sends, and closes
  when the client does or goes quiet. Closing at once would make the kernel answer the unread
  bytes with a reset, which destroys the response before the client reads it;
* a response body that is a range of a file as stored can be sent with os.sendfile, straight from
  the page cache to the socket (scope[SENDFILE], see _sendfile).

The body timeout (`--body-timeout`) lives in Request.body(): only the application knows when it is
waiting for body bytes rather than for its own work.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import time

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .. import errors
from ..errors import OssError
from ..wire.request import BODY_READY, REFUSED, SENDFILE
from .app import Server, new_request_id, response_headers
from .observe import RequestRecord

log = logging.getLogger("ossbox.http")

MAX_REQUEST_HEAD = 64 * 1024  # request line + headers, framing included
LINGER_IDLE = 2.0             # a lingering connection closes after this long without data...
LINGER_MAX = 30.0             # ...or this long in all, whatever the client still sends


def http_protocol(server: "Server", *, header_timeout: float) -> type:
    """The class to give uvicorn as `http=` for `server` (uvicorn instantiates it per connection)."""
    return type("OssHttpProtocol", (OssHttpProtocol,), {"oss_server": server,
                                                         "header_timeout": header_timeout})


class OssHttpProtocol(HttpToolsProtocol):
    oss_server: "Server"
    header_timeout: float

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.parser.set_dangerous_leniencies(lenient_chunked_length=True)
        self._in_head = True         # between requests or inside a request line + headers
        self._head_bytes = 0         # bytes fed to the parser since the current head began
        self._head_deadline = None   # loop time by which the current head must be complete
        self._head_timer = None      # fires at or before _head_deadline (see _head_clock)
        self._linger_timer = None    # set while lingering (see _linger)
        self._linger_deadline = 0.0
        self._keep_alive = True      # what the current request allows once its body has arrived
        self._cycle_transport = _CycleTransport(self)
        self._sendfile_fd = None     # set in connection_made when responses may use os.sendfile
        self._sendfile_dup = None    # a socket object on a dup of it, to wait for room to write
        self._sendfile_wait = None   # the future of that wait

    # -- connection --------------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        # the socket a response body may be sent to with os.sendfile: plain TCP only (TLS
        # encrypts in user space) and only a transport that exposes its socket
        sock = transport.get_extra_info("socket")
        self._sendfile_fd = (sock.fileno() if sock is not None and transport.get_extra_info("sslcontext") is None
                             and hasattr(os, "sendfile") else None)
        self.oss_server.metrics.connections.inc()
        # uvicorn arms its keep-alive timer only after a response: without this, a connection that
        # never sends a request would stay open for ever.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                            self.timeout_keep_alive_handler)

    def connection_lost(self, exc) -> None:
        self.oss_server.metrics.connections.dec()
        if self._sendfile_dup is not None:  # wake a _sendfile waiting for room, then close
            self.loop.remove_writer(self._sendfile_dup)
            self._sendfile_dup.close()
            self._sendfile_dup = None
            if self._sendfile_wait is not None and not self._sendfile_wait.done():
                self._sendfile_wait.set_result(None)
        self._cancel_head_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # A graceful stop waits for the requests in flight: watches (long-polls, event streams)
        # are answered now instead of at their timeouts (idempotent, once per connection).
        self.oss_server.stopping()
        # uvicorn's shutdown() clears cycle.keep_alive, which on_message_complete would restore
        # from _keep_alive for a request whose body is still arriving: the connection would then
        # stay open after its response and hold the graceful stop up to its end.
        self._keep_alive = False
        if self._linger_timer is not None:
            self.transport.close()
        elif (self.scheme == "https" and (self.cycle is None or self.cycle.response_complete)
              and not self.transport.get_write_buffer_size()):
            # An idle TLS connection: close() sends close_notify and then waits for the client's,
            # which a client idling in its connection pool never sends, so a graceful stop would
            # wait out its whole timeout. Nothing is in flight: cut the connection.
            self.transport.abort()
        else:
            super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self._linger_timer is not None:
            self._linger_on()
            return
        self._unset_keepalive_if_required()
        while data:
            if self._in_head:
                if self._head_deadline is None:
                    self._start_head_clock()
                room = MAX_REQUEST_HEAD + 1 - self._head_bytes
                if len(data) > room:
                    data = memoryview(data)
                    piece, data = data[:room], data[room:]
                else:
                    piece, data = data, b""
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            try:
                self.parser.feed_data(piece)
            except httptools.HttpParserUpgrade:
                pass  # no upgrades here (no WebSockets): the request is served as plain HTTP
            except httptools.HttpParserError as exc:
                if isinstance(exc.__context__, OssError):  # raised by a callback of ours
                    self._refuse(exc.__context__)
                    return
                reason = str(exc).strip().rstrip(".") or "malformed request"
                self._refuse(errors.BadRequest(f"The HTTP request is not valid: {reason}."))
                return
            if self._linger_timer is not None or self.transport.is_closing():
                return
            if self._in_head and self._head_bytes > MAX_REQUEST_HEAD:
                self._refuse(errors.RequestHeaderTooLarge())
                return

    # -- parser callbacks --------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:  # a pipelined head that began inside the previous read
            self._start_head_clock()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_deadline = None
        refusal = transfer_coding_refusal(self.parser.get_http_version(), self.headers)
        if refusal is not None:
            raise refusal  # stops the parser; data_received answers it (the app never sees it)
        super().on_headers_complete()
        cycle = self.cycle
        # set while uvicorn holds body bytes (or the end of the body) not yet received by the app
        cycle.scope[BODY_READY] = cycle.message_event.is_set
        self._keep_alive = cycle.keep_alive
        # Until the body has arrived (on_message_complete), a response closes the connection, and
        # through _CycleTransport, which lingers.
        cycle.keep_alive = False
        cycle.transport = self._cycle_transport
        if self._sendfile_fd is not None:
            cycle.scope[SENDFILE] = functools.partial(self._sendfile, cycle)

    def on_chunk_header(self) -> None:
        if self._keep_alive and any(name == b"content-length" for name, _ in self.headers):
            # Chunked with a Content-Length: read as chunked (the parser ignores the length), but
            # RFC 9112 §6.3 requires closing the connection afterwards, as an intermediary may
            # have framed the request differently.
            self._keep_alive = False

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if not cycle.response_started:
            cycle.keep_alive = self._keep_alive
            cycle.transport = self.transport  # the body is in: closing needs no lingering
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    # -- zero-copy response bodies -----------------------------------------------------------------
    async def _sendfile(self, cycle, fd: int, offset: int, count: int):
        """Send `count` bytes of `fd` from `offset` as the body of `cycle`'s response (its head
        already written, its Content-Length `count`), from the page cache with os.sendfile: no
        copy through Python. Returns the bytes sent (fewer only when the connection went away,
        and it is then closed), or None when this response cannot go that way (nothing sent).

        The transport owns the socket, so the bytes must not overtake what it still buffers nor
        race its own writes: the write buffer limits are set to 0 so that uvicorn's flow control
        (pause_writing/resume_writing) reports exactly when the buffer is empty, and only then is
        the socket written directly. When the socket is full (EAGAIN) this waits until it is
        writable again on a dup of its descriptor (the loop refuses a reader or writer on a
        transport's own one), so a slow client costs neither memory nor copies."""
        transport = self.transport
        if (cycle.transport is not transport or cycle.chunked_encoding or cycle.disconnected
                or transport.is_closing() or cycle.expected_content_length != count):
            return None  # a request body still arriving (may linger), chunked framing, gone
        low, high = transport.get_write_buffer_limits()
        transport.set_write_buffer_limits(high=0, low=0)
        sent = 0
        try:
            if self.flow.write_paused:
                await self.flow.drain()
            while sent < count and not (cycle.disconnected or transport.is_closing()):
                try:
                    n = os.sendfile(self._sendfile_fd, fd, offset + sent, count - sent)
                except BlockingIOError:
                    await self._socket_writable()
                    continue
                if n == 0:  # the file is shorter than its record said: cut the response
                    log.error("sendfile: file ended %d bytes early", count - sent)
                    break
                sent += n
        except OSError as exc:  # the client went away (EPIPE, ECONNRESET)
            log.debug("sendfile stopped: %s", exc)
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits(high=high, low=low)
        cycle.expected_content_length -= sent
        if sent < count:
            cycle.disconnected = True
            transport.abort()
        return sent

    async def _socket_writable(self) -> None:
        if self._sendfile_dup is None:
            # socket.fromfd dups the descriptor; the object closes its copy
            self._sendfile_dup = socket.fromfd(self._sendfile_fd, socket.AF_INET, socket.SOCK_STREAM)
        done = self._sendfile_wait = self.loop.create_future()
        self.loop.add_writer(self._sendfile_dup, lambda: done.done() or done.set_result(None))
        try:
            await done
        finally:
            self._sendfile_wait = None
            if self._sendfile_dup is not None:  # else connection_lost removed it and closed the dup
                self.loop.remove_writer(self._sendfile_dup)

    # -- timeouts and refusals ---------------------------------------------------------------------
    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _start_head_clock(self) -> None:
        self._head_deadline = self.loop.time() + self.header_timeout
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_clock)

    def _head_clock(self) -> None:
        """The header timer. It is not cancelled when a head completes (a timer per request costs
        more than the check): it re-arms itself for the current head's deadline, if any."""
        self._head_timer = None
        if self._head_deadline is None or self.transport.is_closing() or self._linger_timer is not None:
            return
        now = self.loop.time()
        if self.cycle is not None and not self.cycle.response_complete:
            # a pipelined head behind a response still being sent: its time starts after that one
            self._head_deadline = now + self.header_timeout
        if self._head_deadline > now:
            self._head_timer = self.loop.call_later(self._head_deadline - now, self._head_clock)
            return
        self._refuse(errors.RequestTimeout())

    def _refuse(self, exc: OssError) -> None:
        """Answer a request the application never sees with an OSS error, then close."""
        log.debug("connection from %s refused: %s", self.client, exc)
        started = self._head_started()
        cycle = self.cycle
        serving = cycle is not None and not cycle.response_complete
        if serving and cycle.response_started:  # too late for an error response: just cut the connection
            self.transport.close()
            return
        request_id = new_request_id()
        resp = self.oss_server.error_response(exc, None, {"method": "GET"}, request_id)
        out = [STATUS_LINE[resp.status]]
        out += [b"%s: %s\r\n" % pair for pair in response_headers(resp, request_id)]
        out += [b"connection: close\r\n\r\n", resp.body]
        self.transport.write(b"".join(out))
        self.oss_server.metrics.refusals.labels(exc.code).inc()
        if serving:
            # The application has the request and has not answered: it sees a disconnect, its
            # response is dropped, and its record of the request tells what this answer was.
            cycle.scope[REFUSED] = (resp.status, exc.code, exc.ec, len(resp.body))
            cycle.disconnected = True
            cycle.message_event.set()
        else:  # never routed: recorded here, as the application records the requests it answers
            self.oss_server.account(RequestRecord(
                started=time.time() - (self.loop.time() - started), latency=self.loop.time() - started,
                request_id=request_id, remote=(self.client or ("-", 0))[0], operation="Unknown",
                status=resp.status, code=exc.code, ec=exc.ec, bytes_in=0,
                bytes_out=len(resp.body)))
        self._linger()

    def _head_started(self) -> float:
        """Loop time at which the current request head began (now, if none is being read)."""
        if self._head_deadline is not None:
            return self._head_deadline - self.header_timeout
        return self.loop.time()

    def _close_after_response(self) -> None:
        """A request/response cycle closes the connection (see _CycleTransport)."""
        if self.cycle is not None and self.cycle.more_body:
            self._linger()
        else:
            self.transport.close()

    def _linger(self) -> None:
        if self.transport.is_closing() or self._linger_timer is not None:
            return
        self._head_deadline = None
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_deadline = self.loop.time() + LINGER_MAX
        self._linger_timer = self.loop.call_later(LINGER_IDLE, self.transport.close)
        self.flow.resume_reading()

    def _linger_on(self) -> None:
        """Data arrived while lingering: it is dropped; wait a little longer, up to LINGER_MAX."""
        self._unset_keepalive_if_required()  # armed after the response; the linger timer decides
        self._linger_timer.cancel()
        delay = min(LINGER_IDLE, self._linger_deadline - self.loop.time())
        self._linger_timer = self.loop.call_later(max(delay, 0.0), self.transport.close)


def transfer_coding_refusal(http_version: str, headers) -> OssError | None:
    """Why a request's Transfer-Encoding cannot frame its body, or None when it can (it has none,
    or exactly `chunked`).

    * HTTP/1.0 with any Transfer-Encoding: RFC 9112 §6.1 says to treat its framing as faulty (it
      was likely forwarded by something that did not decode it) — refused like faulty framing;
    * a final coding other than chunked (`gzip`, `identity`, `chunked, gzip`, unknown codings,
      codings with parameters): RFC 9112 §6.3 — the body length cannot be determined, 400 and close;
    * chunked after another coding (`gzip, chunked`): the framing is sound, but the body would still
      be gzip-coded and OSS stores bytes as sent (content codings are `Content-Encoding`'s job).
      RFC 9112 §6.1 suggests 501 for a coding the server does not implement; ossbox answers 400,
      like every other request it cannot take, since a 5xx would tell the client to retry.
    Several Transfer-Encoding headers are one list, in order (RFC 9110 §5.3)."""
    values = [value for name, value in headers if name == b"transfer-encoding"]
    if not values:
        return None
    if http_version == "1.0":
        return errors.BadRequest("The HTTP request is not valid: Transfer-Encoding is not allowed "
                                 "in an HTTP/1.0 request.")
    codings = [c.strip().lower().decode("latin-1") for v in values for c in v.split(b",")]
    codings = [c for c in codings if c]  # empty list elements are allowed (RFC 9110 §5.6.1)
    if codings == ["chunked"]:
        return None
    if not codings or codings[-1] != "chunked":
        return errors.BadRequest("The HTTP request is not valid: the final Transfer-Encoding must "
                                 "be chunked.")
    return errors.BadRequest("The HTTP request is not valid: Transfer-Encoding "
                             f"{', '.join(codings)!r} is not supported; only chunked is.")


class _CycleTransport:
    """The transport uvicorn's request/response cycle writes to: the connection's own, except that
    closing it goes through OssHttpProtocol._close_after_response (which may linger)."""
    __slots__ = ("_protocol",)

    def __init__(self, protocol: OssHttpProtocol):
        self._protocol = protocol

    def write(self, data) -> None:
        self._protocol.transport.write(data)

    def is_closing(self) -> bool:
        p = self._protocol
        return p.transport.is_closing() or p._linger_timer is not None

    def close(self) -> None:
        self._protocol._close_after_response()
