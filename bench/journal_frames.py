"""WAL frames (and so pwrites: two per frame) that a durable small append's metadata transaction
writes, for the journal layouts docs/architecture.md ("A lean durable path") compares.

It replays what SqliteStore does for an append, without the server: the compare-and-set UPDATE
of the object row plus the journal INSERT of the chunk, `synchronous=NORMAL`, no autocheckpoint,
`group` appends per transaction over `clients` objects; every `flush_every` appends the journal
is retired (as the flusher does) and the WAL checkpointed. Frames are counted from the WAL's
growth per commit (each frame is page_size + 24 bytes).

    python bench/journal_frames.py               # the table in docs/performance.md
    python bench/journal_frames.py --size 65536  # other chunk sizes
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ossbox.storage.sqlite_store import _SCHEMA  # noqa: E402  (the schema this checkout ships)

LAYOUTS = {
    # the shipped schema, whatever it is in this checkout
    "schema": None,
    # the release before the lean journal: AUTOINCREMENT and an index on blob
    "autoinc+index": """CREATE TABLE pending_chunks (id INTEGER PRIMARY KEY AUTOINCREMENT,
        blob TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL);
        CREATE INDEX pending_chunks_blob ON pending_chunks (blob);""",
    "autoinc": """CREATE TABLE pending_chunks (id INTEGER PRIMARY KEY AUTOINCREMENT,
        blob TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL);""",
    "rowid": """CREATE TABLE pending_chunks (id INTEGER PRIMARY KEY,
        blob TEXT NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL);""",
    "without-rowid": """CREATE TABLE pending_chunks (blob TEXT NOT NULL, offset INTEGER NOT NULL,
        data BLOB NOT NULL, PRIMARY KEY (blob, offset)) WITHOUT ROWID;""",
}


def measure(layout: str, *, page_size: int = 4096, group: int = 1, size: int = 4096, appends: int = 4000,
            clients: int = 16, flush_every: int = 400) -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "meta.sqlite3")
        c = sqlite3.connect(path, isolation_level=None)
        c.execute(f"PRAGMA page_size={page_size}")
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.executescript(_SCHEMA)
        if LAYOUTS[layout] is not None:
            c.execute("DROP TABLE pending_chunks")
            c.executescript(LAYOUTS[layout])
        keyed = layout == "without-rowid"
        blobs = [f"{random.getrandbits(128):032x}" for _ in range(clients)]
        for i, blob in enumerate(blobs):
            c.execute("INSERT INTO objects (bucket, key, type, size, crc64, etag, blob, mtime, storage_class, acl, "
                      "headers, tags) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      ("bench", f"obj-{i:03d}", "Appendable", 0, 0, "E" * 34, blob, time.time(), "Standard",
                       "default", json.dumps({"Content-Type": "application/octet-stream"}), "[]"))
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = [0] * clients
        data = os.urandom(size)
        wal = path + "-wal"
        frames = done = 0
        spent = 0.0
        while done < appends:
            before = os.path.getsize(wal)
            t0 = time.perf_counter()
            c.execute("BEGIN IMMEDIATE")
            for g in range(group):
                i = (done + g) % clients
                c.execute("UPDATE objects SET size=?, crc64=?, etag=?, mtime=?, acl=?, sealed=? WHERE bucket=? "
                          "AND key=? AND blob=? AND size=? AND sealed IS NULL",
                          (sizes[i] + size, random.getrandbits(63), "F" * 34, time.time(), "default", None,
                           "bench", f"obj-{i:03d}", blobs[i], sizes[i]))
                c.execute("INSERT INTO pending_chunks (blob, offset, data) VALUES (?,?,?)", (blobs[i], sizes[i], data))
                sizes[i] += size
            c.execute("COMMIT")
            spent += time.perf_counter() - t0
            frames += (os.path.getsize(wal) - before) // (page_size + 24)
            done += group
            if done % flush_every < group:
                if keyed:
                    c.executemany("DELETE FROM pending_chunks WHERE blob=? AND offset<?", zip(blobs, sizes))
                else:
                    c.execute("DELETE FROM pending_chunks WHERE id<=(SELECT max(id) FROM pending_chunks)")
                c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
    return {"layout": layout, "page_size": page_size, "group": group, "size": size,
            "frames": frames / done, "pwrites": 2 * frames / done, "us": spent / done * 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=4096, help="chunk size (default 4096)")
    p.add_argument("--appends", type=int, default=4000)
    args = p.parse_args()
    runs = [(layout, 4096, g) for g in (1, 8) for layout in ("autoinc+index", "autoinc", "rowid", "without-rowid")]
    runs += [("rowid", 16384, 1), ("schema", 4096, 1), ("schema", 4096, 8)]
    print(f"{'layout':15s} {'page':>6s} {'group':>5s} {'frames/append':>14s} {'pwrites':>8s} {'µs/append':>10s}")
    for layout, page_size, group in runs:
        r = measure(layout, page_size=page_size, group=group, size=args.size, appends=args.appends)
        print(f"{layout:15s} {page_size:6d} {group:5d} {r['frames']:14.2f} {r['pwrites']:8.1f} {r['us']:10.1f}")


if __name__ == "__main__":
    main()
