"""Raw disk baselines, measured in the same run and on the same filesystem as the server's data dir."""
from __future__ import annotations

import os
import threading
import time


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def fsync_appends(directory: str, seconds: float, size: int = 4096) -> dict:
    """One file: write `size` bytes at the end + fdatasync, in a loop, for `seconds`."""
    path = os.path.join(directory, "baseline-fsync.dat")
    data = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
    lat = []
    try:
        c0 = _cpu()
        t0 = now = time.perf_counter()
        deadline = t0 + seconds
        while now < deadline:
            os.write(fd, data)
            os.fdatasync(fd)
            t1 = time.perf_counter()
            lat.append(t1 - now)
            now = t1
        wall = now - t0
        cpu = _cpu() - c0
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    n = len(lat)
    return {"ops": n, "wall": wall, "ops_s": n / wall, "p50_ms": lat[n // 2] * 1e3,
            "p99_ms": lat[int(n * 0.99)] * 1e3, "cpu_us_op": cpu / n * 1e6}


def fsync_appends_parallel(directory: str, seconds: float, threads: int = 16, size: int = 4096) -> dict:
    """`threads` threads, each appending + fdatasync to its own file (ext4 can share a journal commit)."""
    data = os.urandom(size)
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def worker(i):
        path = os.path.join(directory, f"baseline-fsync-{i}.dat")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        n = 0
        try:
            while time.perf_counter() < deadline:
                os.write(fd, data)
                os.fdatasync(fd)
                n += 1
        finally:
            os.close(fd)
            os.unlink(path)
        counts[i] = n

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    return {"ops": sum(counts), "wall": wall, "ops_s": sum(counts) / wall, "threads": threads}


def sequential_write(directory: str, total: int, chunk: int = 8 * 1024 * 1024) -> dict:
    """`total` bytes in `chunk`-byte writes, one fdatasync after each chunk (what a durable 8 MiB
    append has to do at least)."""
    path = os.path.join(directory, "baseline-seq.dat")
    data = os.urandom(chunk)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        c0 = _cpu()
        t0 = time.perf_counter()
        written = 0
        while written < total:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fdatasync(fd)
            written += chunk
        wall = time.perf_counter() - t0
        cpu = _cpu() - c0
    finally:
        os.close(fd)
        os.unlink(path)
    return {"bytes": written, "wall": wall, "mb_s": written / wall / 1e6, "cpu_s": cpu}


def loopback(total: int, chunk: int = 8 * 1024 * 1024) -> dict:
    """Raw loopback TCP: one thread sendall()s `total` bytes, the caller recv_into()s them. The
    ceiling for GetObject of a page-cached object (no disk involved)."""
    import socket

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    data = os.urandom(chunk)

    def sender():
        conn, _ = lsock.accept()
        with conn:
            sent = 0
            while sent < total:
                conn.sendall(data)
                sent += chunk

    th = threading.Thread(target=sender)
    th.start()
    sock = socket.create_connection(lsock.getsockname())
    buf = bytearray(chunk)
    view = memoryview(buf)
    got = 0
    t0 = time.perf_counter()
    while got < total:
        n = sock.recv_into(view)
        if n == 0:
            break
        got += n
    wall = time.perf_counter() - t0
    th.join()
    sock.close()
    lsock.close()
    return {"bytes": got, "wall": wall, "mb_s": got / wall / 1e6}
