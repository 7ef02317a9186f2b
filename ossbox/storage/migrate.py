"""`ossbox admin migrate`: move an embedded deployment's metadata (SQLite in the data dir) to
PostgreSQL. Blobs stay where they are: the target server runs on the same data dir.

Table by table, column for column: both drivers keep the same tables with the same columns and
the same encodings (JSON text for headers/tags/config, CRC-64 as a signed 64-bit integer), so a
row is copied as it is. What is copied and what is not:

  buckets, objects, uploads, parts, settings, users, access_keys, user_policies, restores,
  kms_keys   -- every row (settings hold the server's secrets: STS key, SSE master key, ...;
                without them tokens and encrypted objects would become unreadable)
  versions, pending_chunks -- every row WITH its seq / id: seq orders a key's versions and the
                journal is replayed in id order; the target's identity sequences are moved past
                them (and past SQLite's AUTOINCREMENT high-water mark) so new rows sort after
  used_signatures -- the unexpired ones (replay protection of admin requests)
  blob_intents, leases -- dropped: they describe writes in flight of a running process, and the
                source has none (migrate refuses a live lease). An intent left by a crashed
                writer names a blob no row references; on the target its file is an ordinary
                orphan that the collector removes after its grace period, as it would have been
                on the source.

Safety:
  * the source must be stopped: the copy runs under SQLite's write lock (BEGIN IMMEDIATE: no
    process can commit meanwhile), and a lease renewed within LEASE_TTL means a server is (or
    was until less than a minute ago) running on it -- refused;
  * the target must be empty (any row in any table: a server that ever started there created
    its own secrets) unless force, which replaces its contents;
  * all of it is ONE transaction on the target: a failure leaves the target as it was, never
    half-migrated;
  * afterwards the source is marked (setting MIGRATED_TO): an engine refuses to start on a
    marked SQLite store, since a server on the stale copy would see none of the new writes and
    its collector would delete their blobs.
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Optional

from .journal import LEASE_TTL
from .sqlite_store import _SCHEMA, SQLITE_FILE, _add_missing_columns, _connect

# Setting in a migrated SQLite store: where its metadata went (no server may start on it again).
MIGRATED_TO = "migrated-to"

# (table, identity column or None), in an order that needs nothing copied later
COPIED = [("buckets", None), ("objects", None), ("versions", "seq"), ("pending_chunks", "id"),
          ("uploads", None), ("parts", None), ("settings", None), ("users", None),
          ("access_keys", None), ("user_policies", None), ("restores", None), ("kms_keys", None),
          ("used_signatures", None), ("extents", None), ("garbage_marks", None)]
DROPPED = ["blob_intents", "leases"]


class MigrationRefused(RuntimeError):
    """The migration cannot run safely (source in use, target not empty, ...)."""


@dataclass
class MigrationReport:
    copied: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def source_path(spec: str) -> str:
    """The SQLite file of `--from sqlite:DATA_DIR` (a data dir, or the database file itself)."""
    if not spec.startswith("sqlite:"):
        raise MigrationRefused(f"--from must be sqlite:DATA_DIR, got {spec!r}")
    path = spec[len("sqlite:"):]
    if os.path.isdir(path):
        path = os.path.join(path, SQLITE_FILE)
    if not os.path.isfile(path):
        raise MigrationRefused(f"no ossbox metadata at {path}")
    return path


def redacted(url: str) -> str:
    """url without a password (it is stored in the source's marker and printed)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def migrate(source: str, target_url: str, *, force: bool = False) -> MigrationReport:
    """Copy the SQLite store at `source` (see source_path) into the PostgreSQL database at
    target_url, in one target transaction, then mark the source. Raises MigrationRefused."""
    import asyncio

    import psycopg
    from psycopg import sql

    from .postgres_store import PostgresStore

    # The target's schema: created / brought up to date by the driver itself, as at a server start.
    asyncio.run(_prepare_target(PostgresStore(target_url)))

    src = _connect(source, busy_timeout_ms=10000)
    try:
        src.executescript(_SCHEMA)  # a data dir of an older ossbox: the columns it lacks, as a start adds them
        _add_missing_columns(src)
        src.execute("BEGIN IMMEDIATE")  # no process commits to the source until we are done
        _check_source(src, force)
        report = MigrationReport()
        with psycopg.connect(target_url, autocommit=True, client_encoding="UTF8") as dst:
            cur = dst.cursor()
            cur.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            try:
                _check_target(cur, force)
                for table, identity in COPIED:
                    report.copied[table] = _copy_table(src, cur, sql, table, identity)
                for table in DROPPED:
                    report.dropped[table] = src.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                cur.execute("COMMIT")
            except BaseException:
                if not dst.broken:
                    cur.execute("ROLLBACK")
                raise
        src.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (MIGRATED_TO, redacted(target_url)))
        src.execute("COMMIT")
        return report
    finally:
        if src.in_transaction:
            src.execute("ROLLBACK")
        src.close()


async def _prepare_target(store) -> None:
    await store.start()
    await store.close()


def _check_source(src: sqlite3.Connection, force: bool) -> None:
    now = time.time()
    live = src.execute("SELECT owner, renewed FROM leases WHERE renewed >= ?", (now - LEASE_TTL,)).fetchall()
    if live:
        owner, renewed = live[0]
        raise MigrationRefused(
            f"the source is in use: server {owner} renewed its lease {now - renewed:.0f} s ago. Stop every "
            f"server on the data dir first (a server that crashed is considered gone {LEASE_TTL} s after "
            "its last renewal)")
    moved = src.execute("SELECT value FROM settings WHERE name=?", (MIGRATED_TO,)).fetchone()
    if moved and not force:
        raise MigrationRefused(f"the source was already migrated to {moved[0]}; use --force to copy it again")


def _check_target(cur, force: bool) -> None:
    tables = [t for t, _ in COPIED] + DROPPED
    counts = {t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    if any(counts.values()):
        held = ", ".join(f"{t} {n}" for t, n in counts.items() if n)
        if not force:
            raise MigrationRefused(f"the target already holds metadata ({held}); use --force to replace it")
        live = cur.execute("SELECT owner FROM leases WHERE renewed >= %s", (time.time() - LEASE_TTL,)).fetchone()
        if live:  # --force replaces a stopped deployment's data, never a running one's
            raise MigrationRefused(f"the target is in use by server {live[0]}: stop it first")
        for t in tables:
            cur.execute(f"DELETE FROM {t}")


def _copy_table(src: sqlite3.Connection, cur, sql, table: str, identity: Optional[str]) -> int:
    columns = [row[1] for row in src.execute(f"PRAGMA table_info({table})")]
    select = f"SELECT {', '.join(columns)} FROM {table}"
    args: tuple = ()
    if table == "used_signatures":
        select, args = select + " WHERE expires >= ?", (time.time(),)
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    count = 0
    with cur.copy(copy) as out:
        for row in src.execute(select, args):
            out.write_row(row)
            count += 1
    if identity is not None:
        # new rows must come after the copied ones (seq orders versions; id orders the journal)
        top = src.execute(f"SELECT max({identity}) FROM {table}").fetchone()[0] or 0
        auto = src.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
        top = max(top, auto[0] if auto else 0)
        if top:
            cur.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s)", (table, identity, top))
    return count
