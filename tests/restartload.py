"""Append load for the restart tests (tests/test_pg_restart.py: PostgreSQL restarted,
tests/test_store_restart.py: the S3 store restarted): appenders, each on its own object, sending
every request to one of several servers, recording every attempt for tests/appendhistory.py.

The only answers allowed are 200 and 503 ServiceUnavailable as OSS XML (Code and EC; HEAD's in
x-oss-err): another status, a connection error or a client timeout fails the appender (the
servers are never killed while it runs). After a 503 the appender learns from a HEAD what the
append left (its CRC-64 tells the two candidates apart without reading bytes from the store,
which may be the thing that is down): a plain 503 must have left nothing, only "outcome unknown"
(EC 0000-00000006) may have taken effect.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import oss2

from appendhistory import OK, UNKNOWN, Attempt, check_history
from appendkit import assert_object, crc64, det_bytes, new_bucket

OUTCOME_UNKNOWN_EC = "0000-00000006"
RESYNC_WINDOW = 180.0  # seconds an appender keeps asking what a failed append left


@dataclass(frozen=True)
class Answer:
    """One request as the client saw it: when it started and ended (monotonic), what it was."""
    start: float
    end: float
    op: str        # "append" or "head"
    size: int      # the append's body length (0 for a HEAD)
    node: int      # index of the server it went to
    status: str    # "200", "503" or "503 outcome unknown"


class Appender(threading.Thread):
    def __init__(self, endpoints: list[str], bucket: str, k: int, stop: threading.Event, size_fn,
                 timeout: float, prefix: str = "restart"):
        super().__init__(daemon=True, name=f"appender-{k}")
        self.buckets = [new_bucket(e, bucket, timeout=timeout) for e in endpoints]
        self.key = f"{prefix}/{k}"
        self.rnd = random.Random(f"appender-{k}")
        self.size_fn = size_fn
        self.stop = stop
        self.have = bytearray()
        self.crc = 0           # independent CRC-64 of self.have
        self.n = 0
        self.attempts: list[Attempt] = []
        self.answers: list[Answer] = []
        self.error: BaseException | None = None
        self.last_append_error = ""

    # -- the load --------------------------------------------------------------------------------
    def run(self):
        try:
            while not self.stop.is_set():
                self.step()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def call(self, op: str, size: int, fn, *args):
        node = self.rnd.randrange(len(self.buckets))
        t0 = time.monotonic()
        try:
            result = fn(self.buckets[node], *args)
        except oss2.exceptions.ServerError as exc:
            self.answers.append(Answer(t0, time.monotonic(), op, size, node, self.check_error(exc, op)))
            raise
        self.answers.append(Answer(t0, time.monotonic(), op, size, node, "200"))
        return node, result

    def step(self):
        chunk = det_bytes(f"{self.key}-{self.n}", self.size_fn(self.rnd))
        pos = len(self.have)
        try:
            node, r = self.call("append", len(chunk), lambda b: b.append_object(self.key, pos, chunk))
        except oss2.exceptions.ServerError as exc:
            self.last_append_error = f"{exc.status} {exc.ec} {exc.message}"
            if exc.ec == OUTCOME_UNKNOWN_EC:
                self.attempts.append(Attempt(self.key, pos, chunk, "?", UNKNOWN))
            self.resync(chunk)
            return
        self.attempts.append(Attempt(self.key, pos, chunk, str(node), OK, r.next_position, r.crc))
        assert r.next_position == pos + len(chunk), (self.key, pos, r.next_position)
        self.grow(chunk)

    def grow(self, chunk: bytes) -> None:
        self.have += chunk
        self.crc = crc64(chunk, self.crc)
        self.n += 1

    def check_error(self, exc: oss2.exceptions.ServerError, op: str) -> str:
        if exc.status == 503 and exc.code == "ServiceUnavailable" and exc.ec:
            return "503 outcome unknown" if exc.ec == OUTCOME_UNKNOWN_EC else "503"
        raise AssertionError(f"{self.key}: {op} answered {exc.status} {exc.code!r} {exc.ec!r}: {exc.body!r}")

    def resync(self, chunk: bytes) -> None:
        """Learn from HEAD what the failed append left: the acknowledged bytes, or those plus chunk.
        Not bounded by `stop`: the final check needs to know."""
        deadline = time.monotonic() + RESYNC_WINDOW
        while True:
            try:
                _node, h = self.call("head", 0, lambda b: b.head_object(self.key))
                length, crc = h.content_length, int(h.headers["x-oss-hash-crc64ecma"])
            except oss2.exceptions.NotFound:
                length, crc = 0, 0
            except oss2.exceptions.ServerError:  # a 503 (anything else raised in call)
                assert time.monotonic() < deadline, f"{self.key}: HEAD kept answering 503 for {RESYNC_WINDOW} s"
                time.sleep(0.2)
                continue
            if (length, crc) == (len(self.have), self.crc):
                return
            assert (length, crc) == (len(self.have) + len(chunk), crc64(chunk, self.crc)), \
                f"{self.key}: after a failed append the object has {length} bytes (CRC {crc}), " \
                f"neither the {len(self.have)} acknowledged nor those plus the {len(chunk)} of the append"
            # only "outcome unknown" may have taken effect: a plain 503 means "not done, try again"
            assert self.last_append_error.startswith(f"503 {OUTCOME_UNKNOWN_EC}"), \
                f"{self.key}: an append answered {self.last_append_error!r} took effect"
            self.grow(chunk)
            return


def start_appenders(endpoints: list[str], bucket: str, count: int, size_fn, timeout: float,
                    prefix: str = "restart") -> tuple[threading.Event, list[Appender]]:
    """`count` running appenders on objects prefix/0, prefix/1, ... and the event that stops them."""
    stop = threading.Event()
    appenders = [Appender(endpoints, bucket, k, stop, size_fn, timeout, prefix) for k in range(count)]
    for a in appenders:
        a.start()
    return stop, appenders


def stop_appenders(appenders: list[Appender], stop: threading.Event, timeout: float) -> None:
    stop.set()
    for a in appenders:
        a.join(timeout)
    assert not any(a.is_alive() for a in appenders), "an appender hung"
    raise_errors(appenders)


def raise_errors(appenders: list[Appender]) -> None:
    errors = [f"{a.key}: {a.error!r}" for a in appenders if a.error]
    assert not errors, errors


def answers(appenders: list[Appender]) -> list[Answer]:
    return sorted((x for a in appenders for x in a.answers), key=lambda x: x.start)


def totals(appenders: list[Appender]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in answers(appenders):
        k = f"{x.op} {x.status}"
        out[k] = out.get(k, 0) + 1
    return out


def check_everything_acknowledged(endpoints: list[str], bucket: str, appenders: list[Appender],
                                  where: str = "") -> None:
    """Through every server: each object is exactly its acknowledged bytes (HEAD and GET, length,
    content, independent CRC-64, next position), and the history of 200s is an unbroken chain."""
    for i, endpoint in enumerate(endpoints):
        b = new_bucket(endpoint, bucket)
        final = {}
        for a in appenders:
            expected = bytes(a.have)
            assert_object(b, a.key, expected, f"{where}server {i}: ")
            final[a.key] = expected
        check_history([x for a in appenders for x in a.attempts], final)
