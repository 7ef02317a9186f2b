"""Shared helpers for the append race and crash suites (tests/test_race.py, tests/test_crash.py).

Everything here talks to a real `ossbox server` subprocess over HTTP through oss2, and checks
results against an independent CRC-64/XZ (crcmod), never against the server's own code.
"""
from __future__ import annotations

import os
import random
import threading
import time

import crcmod
import oss2

from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)

CLIENT_TIMEOUT = 30  # seconds: oss2 uses it as the connect and the read timeout


def auth() -> oss2.Auth:
    return oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)


def new_bucket(endpoint: str, name: str, timeout: float = CLIENT_TIMEOUT) -> oss2.Bucket:
    """An oss2.Bucket with its own HTTP session (own connection pool)."""
    return oss2.Bucket(auth(), endpoint, name, session=oss2.Session(), connect_timeout=timeout)


def wait_until(pred, timeout: float, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def head_state(bucket: oss2.Bucket, key: str):
    """(length, crc, object type, next-append-position header) of key, or None if absent."""
    try:
        h = bucket.head_object(key)
    except oss2.exceptions.NotFound:
        return None
    nxt = h.headers.get("x-oss-next-append-position")
    return (h.content_length, int(h.headers["x-oss-hash-crc64ecma"]), h.object_type,
            int(nxt) if nxt is not None else None)


def read_all(bucket: oss2.Bucket, key: str) -> bytes:
    # enable_crc on the Bucket would make oss2 verify too; we verify independently anyway
    return bucket.get_object(key).read()


def assert_object(bucket: oss2.Bucket, key: str, expected: bytes, where: str = "") -> None:
    """HEAD and GET agree with `expected` exactly (length, content, independent CRC, type)."""
    st = head_state(bucket, key)
    assert st is not None, f"{where}{key}: missing"
    length, crc, otype, nxt = st
    assert otype == "Appendable", f"{where}{key}: type {otype}"
    assert length == len(expected), f"{where}{key}: HEAD length {length} != expected {len(expected)}"
    assert nxt == len(expected), f"{where}{key}: next-append-position {nxt} != {len(expected)}"
    assert crc == crc64(expected), f"{where}{key}: HEAD crc {crc} != independent {crc64(expected)}"
    data = read_all(bucket, key)
    assert len(data) == len(expected), f"{where}{key}: GET returned {len(data)} bytes, expected {len(expected)}"
    if data != expected:
        first = next(i for i in range(len(data)) if data[i] != expected[i])
        raise AssertionError(f"{where}{key}: content differs from expected at byte {first} of {len(data)}")


def det_bytes(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


class ChunkSeq:
    """The deterministic sequence of chunks appended to one object: chunk i depends only on
    (name, i). Keeps the cumulative lengths and CRCs, and the concatenated content."""

    def __init__(self, name: str, size_fn):
        self.name = name
        self.size_fn = size_fn
        self.chunks: list[bytes] = []
        self.cum = [0]
        self.crcs = [0]
        self.content = bytearray()

    def chunk(self, i: int) -> bytes:
        while len(self.chunks) <= i:
            j = len(self.chunks)
            rnd = random.Random(f"{self.name}#{j}")
            data = rnd.randbytes(self.size_fn(rnd))
            self.chunks.append(data)
            self.cum.append(self.cum[-1] + len(data))
            self.crcs.append(crc64(data, self.crcs[-1]))
            self.content += data
        return self.chunks[i]

    def length(self, n: int) -> int:
        if n > 0:
            self.chunk(n - 1)
        return self.cum[n]

    def crc(self, n: int) -> int:
        if n > 0:
            self.chunk(n - 1)
        return self.crcs[n]

    def prefix(self, n: int) -> bytes:
        return bytes(self.content[:self.length(n)])


def crash_chunk_size(rnd: random.Random) -> int:
    """1 B ... 300 KiB: mostly small (journalled in the metadata commit), some medium (still
    journalled, <= 256 KiB) and some past the inline-journal limit (fdatasync path)."""
    r = rnd.random()
    if r < 0.70:
        return rnd.randint(1, 4096)
    if r < 0.88:
        return rnd.randint(4097, 256 * 1024)
    return rnd.randint(256 * 1024 + 1, 300 * 1024)


def blob_sizes(data_dir: str) -> dict[str, int]:
    out = {}
    for dirpath, _dirs, files in os.walk(os.path.join(data_dir, "blobs")):
        for f in files:
            try:
                out[f] = os.path.getsize(os.path.join(dirpath, f))
            except FileNotFoundError:
                pass
    return out


class Gate:
    """Lets a controller stop all client threads at a request boundary (parked) and resume them."""

    def __init__(self, parties: int):
        self.parties = parties
        self.cond = threading.Condition()
        self.paused = False
        self.parked = 0
        self.stopped = False

    def checkpoint(self, timeout: float = 120.0) -> bool:
        """Called by clients between requests. Returns False when the run is over."""
        with self.cond:
            if self.paused and not self.stopped:
                self.parked += 1
                self.cond.notify_all()
                ok = self.cond.wait_for(lambda: not self.paused or self.stopped, timeout)
                self.parked -= 1
                if not ok:
                    raise AssertionError("client parked for too long")
            return not self.stopped

    def pause(self) -> None:
        with self.cond:
            self.paused = True

    def wait_parked(self, alive, timeout: float) -> None:
        """Wait until every live client is parked (`alive()` = number of live client threads)."""
        deadline = time.monotonic() + timeout
        ok = False
        while not ok and time.monotonic() < deadline:
            with self.cond:  # poll too: a client that dies does not notify
                ok = self.cond.wait_for(lambda: self.parked >= alive(), 0.1)
        if not ok:
            raise AssertionError(f"clients did not park within {timeout}s "
                                 f"({self.parked} parked, {alive()} alive)")

    def resume(self) -> None:
        with self.cond:
            self.paused = False
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
