"""SQLite metadata store (WAL) with group commit.

Reads and writes run on the event loop: a WAL read or a commit without fsync costs a few
microseconds, far less than handing work to a thread. Durability is a separate, shared step: a
transaction counts as acknowledged-safe once an fdatasync of the WAL that started after its commit
has finished, so N concurrent appends share one fsync. Checkpoints run in a background thread.
Several processes may share the database file: SQLite's locking serialises their transactions.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from .bucket_rows import BucketRows
from .errors import CommitUncertain, StorageFull, WritesRefused
from .metadata import (CURRENT_SEQ, BlobClaims, Extent, MetadataStore, RestoreRecord, T, Txn, bucket_stat_of,
                       bucket_stat_sql)
from .records import (AccessKeyRecord, BucketRecord, KmsKeyRecord, ObjectRecord, PartRecord, UploadRecord,
                      UserRecord)
from .reserve import SHM_PREALLOCATE, is_disk_full, preallocate

log = logging.getLogger("ossbox.sqlite")

SQLITE_FILE = "meta.sqlite3"  # the embedded default's database, in the data dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL, region TEXT NOT NULL,
    acl TEXT NOT NULL, storage_class TEXT NOT NULL, redundancy TEXT NOT NULL, config TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
    crc64 INTEGER NOT NULL, etag TEXT NOT NULL, blob TEXT NOT NULL, mtime REAL NOT NULL,
    storage_class TEXT NOT NULL, acl TEXT NOT NULL, headers TEXT NOT NULL, tags TEXT NOT NULL,
    content_md5 TEXT, sealed REAL, version_id TEXT, sse_key TEXT, frozen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
-- Noncurrent versions and delete markers of versioned buckets; the current version of a key stays
-- in `objects` (so the append path never looks here). seq orders a key's versions, newest last;
-- a row in `objects` is always newer than every row of its key here.
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL,
    crc64 INTEGER NOT NULL, etag TEXT NOT NULL, blob TEXT NOT NULL, mtime REAL NOT NULL,
    storage_class TEXT NOT NULL, acl TEXT NOT NULL, headers TEXT NOT NULL, tags TEXT NOT NULL,
    content_md5 TEXT, sealed REAL, version_id TEXT, sse_key TEXT, frozen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS versions_by_key ON versions (bucket, key, seq);
-- The small-append journal (journal.py). No index on blob: it would cost one more WAL page per
-- append, and the table only holds the last half second of appends (the flusher retires it), so
-- the per-blob deletes (release_blob, drop_pending) scan it. AUTOINCREMENT stays: drop_pending's
-- watermark relies on ids never being reused (see docs/architecture.md, "A lean journal row").
CREATE TABLE IF NOT EXISTS pending_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, blob TEXT NOT NULL, offset INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    storage_class TEXT NOT NULL, acl TEXT NOT NULL, headers TEXT NOT NULL, tags TEXT NOT NULL,
    sse_key TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, crc64 INTEGER NOT NULL, blob TEXT NOT NULL, mtime REAL NOT NULL,
    sse_iv TEXT,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL, user_id TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS access_keys_by_user ON access_keys (user_id);
CREATE TABLE IF NOT EXISTS user_policies (
    user_id TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS restores (
    blob TEXT PRIMARY KEY, requested REAL NOT NULL, ready_at REAL NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
-- Blobs of writes in flight (Engine._new_blob): registered before the file exists, removed by the
-- transaction that references the blob. The collector never takes a blob whose owner's lease is live.
CREATE TABLE IF NOT EXISTS blob_intents (
    blob TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (owner TEXT PRIMARY KEY, renewed REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kms_keys (
    key_id TEXT PRIMARY KEY, material BLOB NOT NULL, status TEXT NOT NULL, description TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS used_signatures (
    signature TEXT PRIMARY KEY, expires REAL NOT NULL
) WITHOUT ROWID;
-- Segment mode (--data URL): a blob's bytes as extents, inline or in a segment of the store, and
-- the blobs/segments the collector has seen unreferenced (deleted a grace period later).
CREATE TABLE IF NOT EXISTS extents (
    blob TEXT NOT NULL, start INTEGER NOT NULL, length INTEGER NOT NULL, segment TEXT, data BLOB,
    PRIMARY KEY (blob, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS garbage_marks (name TEXT PRIMARY KEY, since REAL NOT NULL) WITHOUT ROWID;
"""

# Columns added after the first release, so data dirs made by an older ossbox get them at start.
_ADDED_COLUMNS = {
    "objects": (("version_id", "TEXT"), ("sse_key", "TEXT"), ("frozen", "INTEGER NOT NULL DEFAULT 0")),
    "uploads": (("sse_key", "TEXT"),),
    "parts": (("sse_iv", "TEXT"),),
}

_U64 = 1 << 64
_OBJ_COLS = ("bucket, key, type, size, crc64, etag, blob, mtime, storage_class, acl, headers, tags, "
             "content_md5, sealed, version_id, sse_key, frozen")
_OBJ_MARKS = ",".join("?" * 17)
_GET_OBJECT = f"SELECT {_OBJ_COLS} FROM objects WHERE bucket=? AND key=?"
_UPLOAD_COLS = "upload_id, bucket, key, initiated, storage_class, acl, headers, tags, sse_key"
_PART_COLS = "upload_id, part_number, size, etag, crc64, blob, mtime, sse_iv"


def _to_i64(v: int) -> int:  # SQLite integers are signed; CRC-64 values are not
    return v - _U64 if v >= 1 << 63 else v


def _to_u64(v: int) -> int:
    return v + _U64 if v < 0 else v


def _obj_row(r: ObjectRecord) -> tuple:
    return (r.bucket, r.key, r.type, r.size, _to_i64(r.crc64), r.etag, r.blob, r.mtime,
            r.storage_class, r.acl, json.dumps(r.headers), json.dumps(r.tags), r.content_md5, r.sealed,
            r.version_id, r.sse_key, int(r.frozen))


# Decoded header sets by their JSON text: most objects of a bucket share one (content-type and
# little else), and json.loads costs more than a dict copy. Only sets of str values (all there
# are) are kept, so the shallow copy each caller gets is its own.
_HEADER_SETS: dict[str, dict] = {}


def _headers(text: str) -> dict:
    known = _HEADER_SETS.get(text)
    if known is None:
        known = json.loads(text)
        if not all(type(v) is str for v in known.values()):
            return known
        if len(_HEADER_SETS) >= 1024:
            _HEADER_SETS.clear()
        _HEADER_SETS[text] = known
    return dict(known)


def _tags(text: str) -> list:
    return [] if text == "[]" else [tuple(t) for t in json.loads(text)]


def _obj(row) -> Optional[ObjectRecord]:
    if row is None:
        return None
    return ObjectRecord(bucket=row[0], key=row[1], type=row[2], size=row[3], crc64=_to_u64(row[4]),
                        etag=row[5], blob=row[6], mtime=row[7], storage_class=row[8], acl=row[9],
                        headers=_headers(row[10]), tags=_tags(row[11]),
                        content_md5=row[12], sealed=row[13], version_id=row[14], sse_key=row[15],
                        frozen=bool(row[16]))


def _bucket(row) -> Optional[BucketRecord]:
    if row is None:
        return None
    return BucketRecord(name=row[0], owner=row[1], created=row[2], region=row[3], acl=row[4],
                        storage_class=row[5], redundancy=row[6],
                        config={} if row[7] == "{}" else json.loads(row[7]))


def _upload(row) -> Optional[UploadRecord]:
    if row is None:
        return None
    return UploadRecord(upload_id=row[0], bucket=row[1], key=row[2], initiated=row[3],
                        storage_class=row[4], acl=row[5], headers=json.loads(row[6]),
                        tags=[tuple(t) for t in json.loads(row[7])], sse_key=row[8])


def _part(row) -> PartRecord:
    return PartRecord(upload_id=row[0], part_number=row[1], size=row[2], etag=row[3],
                      crc64=_to_u64(row[4]), blob=row[5], mtime=row[6], sse_iv=row[7])


def _connect(path: str, busy_timeout_ms: int = 30000) -> sqlite3.Connection:
    # synchronous=NORMAL: commits reach the WAL without an fsync; durability comes from the
    # store's own group fdatasync of the WAL (see SqliteStore.write).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=busy_timeout_ms / 1000)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    return conn


class _SqliteTxn(Txn):
    def __init__(self, conn: sqlite3.Connection, buckets: Optional[BucketRows] = None):
        self.c = conn
        self._buckets = buckets  # told before any bucket row changes (bucket_rows.py)

    def _bucket_changing(self) -> None:
        if self._buckets is not None:
            self._buckets.changing()

    def get_bucket(self, name):
        return _bucket(self.c.execute("SELECT * FROM buckets WHERE name=?", (name,)).fetchone())

    def insert_bucket(self, rec):
        self._bucket_changing()
        cur = self.c.execute(
            "INSERT OR IGNORE INTO buckets VALUES (?,?,?,?,?,?,?,?)",
            (rec.name, rec.owner, rec.created, rec.region, rec.acl, rec.storage_class, rec.redundancy,
             json.dumps(rec.config)))
        return cur.rowcount == 1

    def update_bucket(self, rec):
        self._bucket_changing()
        self.c.execute("UPDATE buckets SET acl=?, storage_class=?, redundancy=?, config=? WHERE name=?",
                       (rec.acl, rec.storage_class, rec.redundancy, json.dumps(rec.config), rec.name))

    def delete_bucket(self, name):
        self._bucket_changing()
        self.c.execute("DELETE FROM buckets WHERE name=?", (name,))

    def bucket_is_empty(self, name):
        return (self.c.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone() is None
                and self.c.execute("SELECT 1 FROM versions WHERE bucket=? LIMIT 1", (name,)).fetchone()
                is None
                and self.c.execute("SELECT 1 FROM uploads WHERE bucket=? LIMIT 1", (name,)).fetchone()
                is None)

    def get_object(self, bucket, key):
        return _obj(self.c.execute(f"SELECT {_OBJ_COLS} FROM objects WHERE bucket=? AND key=?",
                                   (bucket, key)).fetchone())

    def put_object(self, rec):
        old = self.get_object(rec.bucket, rec.key)
        self.c.execute(f"INSERT OR REPLACE INTO objects ({_OBJ_COLS}) VALUES ({_OBJ_MARKS})",
                       _obj_row(rec))
        if old is not None and old.blob != rec.blob:
            self.release_blob(old.blob)
        return old

    def insert_object(self, rec):
        cur = self.c.execute(
            f"INSERT OR IGNORE INTO objects ({_OBJ_COLS}) VALUES ({_OBJ_MARKS})",
            _obj_row(rec))
        return cur.rowcount == 1

    def cas_object(self, rec, expect_blob, expect_size):
        cur = self.c.execute(
            "UPDATE objects SET size=?, crc64=?, etag=?, mtime=?, acl=?, sealed=? "
            "WHERE bucket=? AND key=? AND blob=? AND size=? AND sealed IS NULL",
            (rec.size, _to_i64(rec.crc64), rec.etag, rec.mtime, rec.acl, rec.sealed, rec.bucket,
             rec.key, expect_blob, expect_size))
        return cur.rowcount == 1

    def seal_object(self, bucket, key, expect_blob, expect_size, when):
        return self.c.execute(
            "UPDATE objects SET sealed=? WHERE bucket=? AND key=? AND blob=? AND size=? AND sealed IS NULL",
            (when, bucket, key, expect_blob, expect_size)).rowcount == 1

    def update_object(self, rec):
        self.c.execute(
            "UPDATE objects SET acl=?, headers=?, tags=?, storage_class=?, sealed=?, mtime=? "
            "WHERE bucket=? AND key=? AND blob=?",
            (rec.acl, json.dumps(rec.headers), json.dumps(rec.tags), rec.storage_class, rec.sealed,
             rec.mtime, rec.bucket, rec.key, rec.blob))

    def delete_object(self, bucket, key):
        old = self.get_object(bucket, key)
        if old is not None:
            self.c.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))
            self.release_blob(old.blob)
        return old

    def remove_current(self, bucket, key):
        self.c.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))

    def archive_version(self, rec):
        self.c.execute(f"INSERT INTO versions ({_OBJ_COLS}) VALUES ({_OBJ_MARKS})", _obj_row(rec))

    def get_noncurrent(self, bucket, key, version_id):
        row = self.c.execute(f"SELECT seq, {_OBJ_COLS} FROM versions WHERE bucket=? AND key=? "
                             "AND version_id IS ? ORDER BY seq DESC LIMIT 1",
                             (bucket, key, version_id)).fetchone()
        return (row[0], _obj(row[1:])) if row else None

    def newest_noncurrent(self, bucket, key):
        row = self.c.execute(f"SELECT seq, {_OBJ_COLS} FROM versions WHERE bucket=? AND key=? "
                             "ORDER BY seq DESC LIMIT 1", (bucket, key)).fetchone()
        return (row[0], _obj(row[1:])) if row else None

    def delete_noncurrent(self, seq):
        self.c.execute("DELETE FROM versions WHERE seq=?", (seq,))

    def update_noncurrent(self, seq, rec):
        self.c.execute("UPDATE versions SET acl=?, headers=?, tags=?, storage_class=?, mtime=? WHERE seq=?",
                       (rec.acl, json.dumps(rec.headers), json.dumps(rec.tags), rec.storage_class,
                        rec.mtime, seq))

    def add_pending_chunk(self, blob, offset, data):
        self.c.execute("INSERT INTO pending_chunks (blob, offset, data) VALUES (?,?,?)", (blob, offset, data))

    def drop_pending(self, upto_id, blobs):
        # one pass over the ids up to the watermark (there is no index on blob: see _SCHEMA)
        self.c.execute("DELETE FROM pending_chunks WHERE id<=? AND blob IN (SELECT value FROM json_each(?))",
                       (upto_id, json.dumps(list(blobs))))

    def release_blob(self, blob):
        self.c.execute("DELETE FROM pending_chunks WHERE blob=?", (blob,))
        self.c.execute("DELETE FROM restores WHERE blob=?", (blob,))

    def add_blob_intent(self, blob, owner, created):
        self.c.execute("INSERT INTO blob_intents VALUES (?,?,?)", (blob, owner, created))

    def adopt_blob(self, blob):
        return self.c.execute("DELETE FROM blob_intents WHERE blob=?", (blob,)).rowcount == 1

    def drop_blob_intent(self, blob, owner, lease_cutoff=None):
        sql, args = "DELETE FROM blob_intents WHERE blob=? AND owner=?", [blob, owner]
        if lease_cutoff is not None:
            sql += " AND NOT EXISTS (SELECT 1 FROM leases WHERE owner=? AND renewed>=?)"
            args += [owner, lease_cutoff]
        return self.c.execute(sql, args).rowcount == 1

    def renew_lease(self, owner, now):
        self.c.execute("INSERT OR REPLACE INTO leases VALUES (?,?)", (owner, now))

    def add_extent(self, blob, extent):
        self.c.execute("INSERT INTO extents VALUES (?,?,?,?,?)",
                       (blob, extent.start, extent.length, extent.segment, extent.data))

    def extents_below(self, blob, end):
        return [Extent(*r) for r in self.c.execute(
            "SELECT start, length, segment, data FROM extents WHERE blob=? AND start<? ORDER BY start",
            (blob, end))]

    def drop_extents(self, blob, starts):
        return sum(self.c.execute("DELETE FROM extents WHERE blob=? AND start=?", (blob, s)).rowcount
                   for s in starts)

    def mark_garbage(self, names, since):
        self.c.executemany("INSERT OR IGNORE INTO garbage_marks VALUES (?,?)", [(n, since) for n in names])

    def unmark_garbage(self, names):
        self.c.executemany("DELETE FROM garbage_marks WHERE name=?", [(n,) for n in names])

    def drop_lease(self, owner, renewed_before):
        self.c.execute("DELETE FROM leases WHERE owner=? AND renewed<?", (owner, renewed_before))

    def insert_upload(self, rec):
        self.c.execute(f"INSERT INTO uploads ({_UPLOAD_COLS}) VALUES (?,?,?,?,?,?,?,?,?)",
                       (rec.upload_id, rec.bucket, rec.key, rec.initiated, rec.storage_class, rec.acl,
                        json.dumps(rec.headers), json.dumps(rec.tags), rec.sse_key))

    def get_upload(self, upload_id):
        return _upload(self.c.execute(f"SELECT {_UPLOAD_COLS} FROM uploads WHERE upload_id=?", (upload_id,)).fetchone())

    def delete_upload(self, upload_id):
        parts = self.get_parts(upload_id)
        self.c.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
        self.c.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        return parts

    def put_part(self, rec):
        old = self.c.execute(f"SELECT {_PART_COLS} FROM parts WHERE upload_id=? AND part_number=?",
                             (rec.upload_id, rec.part_number)).fetchone()
        self.c.execute(f"INSERT OR REPLACE INTO parts ({_PART_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                       (rec.upload_id, rec.part_number, rec.size, rec.etag, _to_i64(rec.crc64), rec.blob,
                        rec.mtime, rec.sse_iv))
        return _part(old) if old else None

    def get_parts(self, upload_id):
        return [_part(r) for r in self.c.execute(
            f"SELECT {_PART_COLS} FROM parts WHERE upload_id=? ORDER BY part_number", (upload_id,))]

    def get_setting(self, name):
        row = self.c.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def set_setting(self, name, value):
        self.c.execute("INSERT OR REPLACE INTO settings VALUES (?,?)", (name, value))

    def setdefault_setting(self, name, value):
        self.c.execute("INSERT OR IGNORE INTO settings VALUES (?,?)", (name, value))
        return self.c.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()[0]

    def insert_user(self, rec):
        cur = self.c.execute("INSERT OR IGNORE INTO users VALUES (?,?,?)", (rec.user_id, rec.name, rec.created))
        return cur.rowcount == 1

    def delete_user(self, user_id):
        self.c.execute("DELETE FROM access_keys WHERE user_id=?", (user_id,))
        self.c.execute("DELETE FROM user_policies WHERE user_id=?", (user_id,))
        self.c.execute("DELETE FROM users WHERE user_id=?", (user_id,))

    def insert_access_key(self, rec):
        self.c.execute("INSERT INTO access_keys VALUES (?,?,?,?,?)",
                       (rec.access_key_id, rec.secret, rec.user_id, rec.status, rec.created))

    def set_access_key_status(self, access_key_id, status):
        return self.c.execute("UPDATE access_keys SET status=? WHERE access_key_id=?",
                              (status, access_key_id)).rowcount == 1

    def delete_access_key(self, access_key_id):
        return self.c.execute("DELETE FROM access_keys WHERE access_key_id=?", (access_key_id,)).rowcount == 1

    def put_user_policy(self, user_id, name, document):
        self.c.execute("INSERT OR REPLACE INTO user_policies VALUES (?,?,?)", (user_id, name, document))

    def delete_user_policy(self, user_id, name):
        return self.c.execute("DELETE FROM user_policies WHERE user_id=? AND name=?",
                              (user_id, name)).rowcount == 1

    def get_restore(self, blob):
        row = self.c.execute("SELECT blob, requested, ready_at, expires_at FROM restores WHERE blob=?",
                             (blob,)).fetchone()
        return RestoreRecord(*row) if row else None

    def put_restore(self, rec):
        self.c.execute("INSERT OR REPLACE INTO restores VALUES (?,?,?,?)",
                       (rec.blob, rec.requested, rec.ready_at, rec.expires_at))

    def insert_kms_key(self, rec, if_absent=False):
        verb = "INSERT OR IGNORE" if if_absent else "INSERT"
        self.c.execute(f"{verb} INTO kms_keys VALUES (?,?,?,?,?)",
                       (rec.key_id, rec.material, rec.status, rec.description, rec.created))

    def set_kms_key_status(self, key_id, status):
        return self.c.execute("UPDATE kms_keys SET status=? WHERE key_id=?", (status, key_id)).rowcount == 1

    def claim_signature(self, signature, expires, now):
        self.c.execute("DELETE FROM used_signatures WHERE expires < ?", (now,))
        return self.c.execute("INSERT OR IGNORE INTO used_signatures VALUES (?,?)",
                              (signature, expires)).rowcount == 1


class SqliteStore(MetadataStore):
    CHECKPOINT_INTERVAL = 0.5  # seconds between background WAL checkpoints

    def __init__(self, path: str, durable: bool = True):
        self.path = path
        self.durable = durable
        self._read: Optional[sqlite3.Connection] = None
        self._conn: Optional[sqlite3.Connection] = None
        self._txn: Optional[_SqliteTxn] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ossbox-sqlite")
        self._wal_fd = -1
        self._commits = 0          # transactions this process has committed
        self._synced = 0           # ... of which these are known to be on stable storage
        self._sync_task: Optional[asyncio.Task] = None
        # durable writes waiting for the fsync under way to end, then committed together
        self._group: Optional[list] = None
        self._group_task: Optional[asyncio.Task] = None
        self._failed: Optional[BaseException] = None  # the WAL fsync error that stopped all writes
        self._shm_fd = -1          # held open while connections are (see start)
        self._checkpointer: Optional[asyncio.Task] = None
        self._buckets: Optional[BucketRows] = None  # bucket rows reused while provably current

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        setup = _connect(self.path)
        setup.executescript(_SCHEMA)
        _add_missing_columns(setup)
        _drop_retired(setup)
        setup.close()
        self._read = _connect(self.path)
        # SQLite extends the wal-index one byte per page, leaving holes that a write through its
        # mapping must fill: on a full disk that is a SIGBUS, so give it real blocks up front.
        # The descriptor stays open until the connections are closed: SQLite's locks on the -shm
        # are POSIX record locks, which the kernel drops when the process closes ANY descriptor
        # of the file. Closing this one at once released the dead-man-switch lock that tells
        # other processes the wal-index is in use; the next process to open the database then
        # truncated and rebuilt the -shm under this one's mapping (SIGBUS, or a corrupt index).
        try:
            self._shm_fd = os.open(self.path + "-shm", os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:  # not in WAL mode after all: nothing is mapped
            pass
        else:
            preallocate(self._shm_fd, self.path + "-shm", SHM_PREALLOCATE)
        # The writer never waits inside SQLite (that would block the event loop): a write lock
        # held by another process is retried asynchronously, and checkpoints run off the loop.
        self._conn = _connect(self.path, busy_timeout_ms=0)
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._buckets = BucketRows(self.path + "-buckets")
        self._txn = _SqliteTxn(self._conn, self._buckets)
        self._checkpointer = self._loop.create_task(self._checkpoint_loop())

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            try:
                await self._checkpointer
            except asyncio.CancelledError:
                pass
            self._checkpointer = None
        if self._group_task is not None:
            await asyncio.gather(self._group_task, return_exceptions=True)
        if self._sync_task is not None:
            await asyncio.gather(self._sync_task, return_exceptions=True)
        if self._conn is not None:
            if self._failed is None:  # after a failed fsync, leave the WAL to recovery at restart
                try:
                    await self._loop.run_in_executor(self._pool, self._checkpoint)
                except sqlite3.Error as exc:
                    if not is_disk_full(exc):
                        raise
                    # the WAL stays and is recovered at the next start, as after a crash
            self._conn.close()
            self._conn = None
        if self._read is not None:
            self._read.close()
            self._read = None
        if self._wal_fd >= 0:
            os.close(self._wal_fd)
            self._wal_fd = -1
        if self._shm_fd >= 0:  # only now: see start()
            os.close(self._shm_fd)
            self._shm_fd = -1
        if self._buckets is not None:
            self._buckets.close()
            self._buckets = None
        self._pool.shutdown(wait=True)

    # -- writes and group commit -----------------------------------------------------------------
    async def write(self, fn: Callable[[Txn], T], *, durable: bool = True) -> T:
        """Run fn in a transaction on the event loop (a WAL commit without fsync takes a few
        microseconds), then wait until the WAL is on stable storage. One fdatasync of the WAL
        covers every commit made before it started: that is the group commit.

        While such an fdatasync is under way, a durable write could not be covered by it anyway:
        instead of committing at once it joins the group that commits in ONE transaction as
        soon as that fdatasync ends (see _commit_group), so a group of concurrent appends shares
        its BEGIN/COMMIT and the WAL pages they all touch, not only the fsync.

        Two outcomes must never be confused: an exception before COMMIT means "rolled back"
        (the caller may delete what it prepared), one after means "committed, durability
        unknown" (CommitUncertain: nothing the transaction references may be deleted)."""
        if self._failed is not None:
            raise WritesRefused()
        started = time.monotonic()
        held = False  # a cancellation that came after the commit: re-delivered once it is durable
        if self.durable and durable and (self._group is not None or self._syncing()):
            result, target, held = await self._join_group(fn)
        else:
            await self._begin()
            try:
                result = fn(self._txn)
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:  # SQLite itself rolls back on SQLITE_FULL and some I/O errors
                    self._conn.execute("ROLLBACK")
                if is_disk_full(exc):
                    raise StorageFull() from exc
                raise
            finally:
                self._buckets.changed()  # a bucket change is committed or rolled back: fills may go on
            self._commits += 1
            target = self._commits
        if self.durable and durable:
            await self._settle(target, held)
        self.observe_commit(time.monotonic() - started)
        return result

    def _syncing(self) -> bool:
        return self._sync_task is not None and not self._sync_task.done()

    async def _join_group(self, fn: Callable[[Txn], T]) -> tuple[T, int, bool]:
        """fn's result and commit number from the next group transaction, and whether this
        caller was cancelled after its commit. A caller cancelled before its fn ran is left out
        of the group (nothing happened: CancelledError); once fn has run, its outcome stands."""
        if self._group is None:
            self._group = []
            self._group_task = self._loop.create_task(self._commit_group())
        done = self._loop.create_future()
        self._group.append((fn, done))
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            if not done.done():
                done.cancel()  # _commit_group skips it
                raise
            if done.exception() is not None:
                raise  # rolled back anyway
            result, target = done.result()
            return result, target, True
        result, target = done.result()  # raises fn's exception: its changes were rolled back
        return result, target, False

    async def _commit_group(self) -> None:
        """Commit the waiting durable writes in one transaction once the WAL fdatasync under way
        has finished, each fn inside its own SAVEPOINT: one that raises is rolled back alone and
        gets its exception, the others commit. If the transaction as a whole fails (COMMIT, or
        SQLite rolling everything back on a full disk or an I/O error), every write of the group
        gets that error: none of them happened."""
        group = self._group
        try:
            sync = self._sync_task
            if sync is not None:
                await asyncio.wait([sync])  # its failure is its own writers' (and _failed's) business
            self._group = None  # writes arriving from now on start the next group
            if self._failed is not None:
                raise WritesRefused()
            await self._begin()
        except BaseException as exc:  # WritesRefused, an error of BEGIN, or the loop closing
            if self._group is group:
                self._group = None
            _fail_rest(group, exc)
            if not isinstance(exc, Exception):
                raise
            return
        conn = self._conn
        group = [(fn, done) for fn, done in group if not done.done()]  # cancelled callers left out
        several = len(group) > 1
        results = []
        try:
            for fn, done in group:
                if several:
                    conn.execute("SAVEPOINT w")
                try:
                    value = fn(self._txn)
                except Exception as exc:
                    if not (several and conn.in_transaction):
                        raise  # alone, or SQLite rolled back the whole transaction
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    done.set_exception(_rolled_back(exc))
                    continue
                if several:
                    conn.execute("RELEASE w")
                results.append((done, value))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            _fail_rest(group, _rolled_back(exc))
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._buckets.changed()  # a bucket change is committed or rolled back: fills may go on
        self._commits += len(results)  # counted per write: observe_sync_group's group size
        for done, value in results:
            done.set_result((value, self._commits))
        if results and not self._syncing():
            self._sync_task = self._loop.create_task(self._sync_wal())

    async def _begin(self) -> None:
        delay = 0.0002
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            await asyncio.sleep(delay)  # another process is writing: its transactions are short
            delay = min(delay * 2, 0.01)

    async def _settle(self, target: int, cancelled: bool = False) -> None:
        """Wait until commit `target` is durable. Its transaction is already committed, so the
        wait is never abandoned: a cancellation (uvicorn cancels requests when SIGTERM's graceful
        shutdown times out) is held back until the fsync has finished, then re-delivered at the
        caller's next suspension point -- by then write() has returned and the caller knows the
        commit happened. `cancelled`: one already held back (it came while a group commit was
        made). A failed fsync leaves the outcome unknown: CommitUncertain."""
        try:
            while self._synced < target:
                if self._failed is not None:
                    raise CommitUncertain() from self._failed
                if self._sync_task is None or self._sync_task.done():
                    self._sync_task = self._loop.create_task(self._sync_wal())
                try:
                    await asyncio.shield(self._sync_task)
                except asyncio.CancelledError:
                    if self._sync_task.cancelled():  # the loop itself is being torn down
                        raise CommitUncertain() from None
                    cancelled = True
                except Exception as exc:
                    raise CommitUncertain() from exc
        finally:
            if cancelled:
                task = asyncio.current_task()
                if hasattr(task, "uncancel"):  # 3.11+: keep the cancel count balanced for asyncio.timeout
                    task.uncancel()
                task.cancel()

    async def _sync_wal(self) -> None:
        upto = self._commits
        if self._wal_fd < 0:
            self._wal_fd = os.open(self.path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
        try:
            await self._loop.run_in_executor(self._pool, os.fdatasync, self._wal_fd)
        except OSError as exc:
            # Linux may drop the dirty pages of a failed writeback and report the error once: a
            # later fdatasync could succeed although these commits never reached the disk. So no
            # commit from now on can be made durable -- refuse writes until a restart.
            if self._failed is None:
                self._failed = exc
                log.critical("fdatasync of the metadata WAL failed (%s): refusing all writes until "
                             "restart", exc)
            raise
        self.observe_sync_group(upto - self._synced)
        self._synced = max(self._synced, upto)

    async def _checkpoint_loop(self) -> None:
        while self._failed is None:  # no checkpoint copies frames whose durability failed
            await asyncio.sleep(self.CHECKPOINT_INTERVAL)
            try:
                await self._loop.run_in_executor(self._pool, self._checkpoint)
            except sqlite3.Error:
                pass  # busy with another process's checkpoint: the next round catches up

    async def reclaim_space(self) -> None:
        """The WAL keeps its largest size, and its frames can be reused only after a complete
        checkpoint: on a full disk, a delete's commit that must append to it fails, and so does
        a checkpoint that must grow the database. So, when a delete needs space (after the reserve
        was released, engine.py), copy the WAL into the database now -- the released blocks go to
        that growth -- and truncate the WAL, which gives back its blocks (megabytes after a burst
        of writes) for the delete and the next checkpoints."""
        def truncate():
            conn = _connect(self.path, busy_timeout_ms=2000)  # waits for readers, briefly
            try:
                busy, _frames, _copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                return not busy
            finally:
                conn.close()
        if self._failed is not None:  # no checkpoint copies frames whose durability failed
            return
        try:
            done = await self._loop.run_in_executor(self._pool, truncate)
        except sqlite3.Error as exc:
            log.warning("could not checkpoint the metadata WAL on a full disk: %s", exc)
        else:
            if not done:
                log.warning("could not truncate the metadata WAL on a full disk: readers kept it busy")

    def _checkpoint(self) -> None:
        """Copy committed WAL frames into the database (SQLite syncs the WAL before and the
        database after), so the WAL can restart instead of growing."""
        conn = _connect(self.path, busy_timeout_ms=0)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    # -- reads -----------------------------------------------------------------------------------
    async def get_bucket(self, name):
        # a fresh record each time (callers may change it); only the row is reused
        return _bucket(self._buckets.row(name, self._select_bucket))

    def _select_bucket(self, name):
        return self._fetchone("SELECT * FROM buckets WHERE name=?", (name,))

    def _fetchone(self, sql: str, args: tuple):
        """One row, read through the write connection when it is between transactions: its page
        cache survives its own commits, while the read connection's is dropped by every commit
        (each append's) and re-read page by page. Reads never wait there (busy_timeout 0): a busy
        database (another process recovering the WAL) is read through the read connection."""
        conn = self._conn
        if not conn.in_transaction:
            try:
                return conn.execute(sql, args).fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
        return self._read.execute(sql, args).fetchone()

    async def list_buckets(self, prefix, marker, limit):
        rows = self._read.execute(
            "SELECT * FROM buckets WHERE name > ? AND name >= ? ORDER BY name LIMIT ?",
            (marker, prefix, limit * 4 + 100)).fetchall()
        out = [b for b in map(_bucket, rows) if b.name.startswith(prefix)]
        return out[:limit]

    async def get_object(self, bucket, key):
        return _obj(self._fetchone(_GET_OBJECT, (bucket, key)))

    async def list_objects(self, bucket, prefix, after, limit, inclusive=False):
        within, bounds = prefix_range(prefix, "?")
        sql = (f"SELECT {_OBJ_COLS} FROM objects WHERE bucket=? AND key {'>=' if inclusive else '>'} ? "
               f"{within} ORDER BY key LIMIT ?")
        args = [bucket, after, *bounds, limit]
        return [r for r in map(_obj, self._read.execute(sql, args)) if r.key.startswith(prefix)]

    async def get_version(self, bucket, key, version_id):
        row = self._read.execute(f"SELECT {_OBJ_COLS} FROM objects WHERE bucket=? AND key=? AND version_id IS ?",
                                 (bucket, key, version_id)).fetchone()
        if row is None:
            row = self._read.execute(f"SELECT {_OBJ_COLS} FROM versions WHERE bucket=? AND key=? "
                                     "AND version_id IS ? ORDER BY seq DESC LIMIT 1",
                                     (bucket, key, version_id)).fetchone()
        return _obj(row)

    async def newest_noncurrent(self, bucket, key):
        return _obj(self._read.execute(f"SELECT {_OBJ_COLS} FROM versions WHERE bucket=? AND key=? "
                                       "ORDER BY seq DESC LIMIT 1", (bucket, key)).fetchone())

    async def version_position(self, bucket, key, version_id):
        if self._read.execute("SELECT 1 FROM objects WHERE bucket=? AND key=? AND version_id IS ?",
                              (bucket, key, version_id)).fetchone():
            return CURRENT_SEQ
        row = self._read.execute("SELECT max(seq) FROM versions WHERE bucket=? AND key=? AND version_id IS ?",
                                 (bucket, key, version_id)).fetchone()
        return row[0]

    async def list_versions(self, bucket, prefix, after_key, before_seq, limit):
        within, bounds = prefix_range(prefix, "?")
        where = "bucket=? AND (key > ? OR (key = ? AND {seq} < ?)) " + within
        args = [bucket, after_key, after_key, before_seq, *bounds]
        # A noncurrent row is the latest only when its key has no current row and nothing newer.
        sql = (f"SELECT {CURRENT_SEQ} AS seq, {_OBJ_COLS}, 1 FROM objects WHERE {where.format(seq=CURRENT_SEQ)} "
               f"UNION ALL SELECT seq, {_OBJ_COLS}, "
               "(NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket=v.bucket AND o.key=v.key) "
               " AND seq = (SELECT max(seq) FROM versions w WHERE w.bucket=v.bucket AND w.key=v.key)) "
               f"FROM versions v WHERE {where.format(seq='seq')} ORDER BY key, seq DESC LIMIT ?")
        rows = self._read.execute(sql, [*args, *args, limit]).fetchall()
        return [(_obj(r[1:18]), r[0], bool(r[18])) for r in rows if r[2].startswith(prefix)]

    async def bucket_stat(self, bucket):
        by_class, others = bucket_stat_sql("?")
        c = self._read
        c.execute("BEGIN")  # one snapshot for both queries
        try:
            rows = c.execute(by_class, (bucket, bucket)).fetchall()
            other = c.execute(others, (bucket,) * 4).fetchone()
        finally:
            c.execute("COMMIT")
        return bucket_stat_of(rows, other)

    async def get_upload(self, upload_id):
        return _upload(self._read.execute(f"SELECT {_UPLOAD_COLS} FROM uploads WHERE upload_id=?", (upload_id,)).fetchone())

    async def list_uploads(self, bucket, prefix, key_marker, upload_id_marker, limit):
        # OSS: a key-marker alone skips that key's uploads; with an upload-id-marker it resumes
        # inside the key after that upload.
        if upload_id_marker:
            where, args = "(key > ? OR (key = ? AND upload_id > ?))", [key_marker, key_marker, upload_id_marker]
        else:
            where, args = "key > ?", [key_marker]
        rows = self._read.execute(
            f"SELECT {_UPLOAD_COLS} FROM uploads WHERE bucket=? AND {where} AND key >= ? ORDER BY key, upload_id LIMIT ?",
            (bucket, *args, prefix, limit * 4 + 100)).fetchall()
        return [u for u in map(_upload, rows) if u.key.startswith(prefix)][:limit]

    async def list_parts(self, upload_id, after, limit):
        return [_part(r) for r in self._read.execute(
            f"SELECT {_PART_COLS} FROM parts WHERE upload_id=? AND part_number>? ORDER BY part_number LIMIT ?",
            (upload_id, after, limit))]

    async def pending_summary(self):
        row = self._read.execute("SELECT max(id) FROM pending_chunks").fetchone()
        if row[0] is None:
            return 0, []
        blobs = [r[0] for r in self._read.execute(
            "SELECT DISTINCT blob FROM pending_chunks WHERE id<=?", (row[0],))]
        return row[0], blobs

    async def pending_chunks(self):
        return list(self._read.execute("SELECT id, blob, offset, data FROM pending_chunks ORDER BY id"))

    async def get_setting(self, name):
        row = self._read.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    async def get_user(self, *, name=None, user_id=None):
        if name is not None:
            row = self._read.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        else:
            row = self._read.execute("SELECT * FROM users WHERE user_id=?", (user_id,)).fetchone()
        return UserRecord(*row) if row else None

    async def list_users(self):
        return [UserRecord(*r) for r in self._read.execute("SELECT * FROM users ORDER BY name")]

    async def get_access_key(self, access_key_id):
        row = self._read.execute("SELECT * FROM access_keys WHERE access_key_id=?", (access_key_id,)).fetchone()
        return AccessKeyRecord(*row) if row else None

    async def list_access_keys(self, user_id):
        return [AccessKeyRecord(*r) for r in self._read.execute(
            "SELECT * FROM access_keys WHERE user_id=? ORDER BY created", (user_id,))]

    async def list_user_policies(self, user_id):
        return [(r[0], r[1]) for r in self._read.execute(
            "SELECT name, document FROM user_policies WHERE user_id=? ORDER BY name", (user_id,))]

    async def get_restore(self, blob):
        row = self._read.execute("SELECT blob, requested, ready_at, expires_at FROM restores WHERE blob=?",
                                 (blob,)).fetchone()
        return RestoreRecord(*row) if row else None

    async def get_kms_key(self, key_id):
        row = self._read.execute("SELECT * FROM kms_keys WHERE key_id=?", (key_id,)).fetchone()
        return KmsKeyRecord(*row) if row else None

    async def list_kms_keys(self):
        return [KmsKeyRecord(*r) for r in self._read.execute("SELECT * FROM kms_keys ORDER BY created, key_id")]

    async def extents(self, blob, start, end):
        return [Extent(*r) for r in self._read.execute(
            "SELECT start, length, segment, data FROM extents WHERE blob=? AND start<? AND start+length>? "
            "ORDER BY start", (blob, end, start))]

    async def compaction_candidates(self, min_extents, limit, small):
        return [r[0] for r in self._read.execute(
            "SELECT blob FROM extents WHERE length < ? GROUP BY blob HAVING count(*) > ? LIMIT ?",
            (small, min_extents, limit))]

    async def blob_claims(self):
        c = self._read
        c.execute("BEGIN")  # one read transaction: one WAL snapshot for every table
        try:
            refs = {r[0] for r in c.execute("SELECT blob FROM objects")}
            refs.update(r[0] for r in c.execute("SELECT blob FROM versions"))
            refs.update(r[0] for r in c.execute("SELECT blob FROM parts"))
            intents = dict(c.execute("SELECT blob, owner FROM blob_intents"))
            leases = dict(c.execute("SELECT owner, renewed FROM leases"))
            extent_blobs = {r[0] for r in c.execute("SELECT DISTINCT blob FROM extents")}
            extent_segments = {r[0] for r in c.execute(
                "SELECT DISTINCT segment FROM extents WHERE segment IS NOT NULL")}
            marks = dict(c.execute("SELECT name, since FROM garbage_marks"))
        finally:
            c.execute("COMMIT")
        return BlobClaims(refs, intents, leases, extent_blobs, extent_segments, marks)


def _fail_rest(group: list, exc: BaseException) -> None:
    """Every write of a group that has no outcome yet gets `exc` (none of them committed)."""
    for _fn, done in group:
        if not done.done():
            done.set_exception(exc)


def _rolled_back(exc: BaseException) -> BaseException:
    """What a write whose transaction (or savepoint) rolled back raises."""
    if is_disk_full(exc):
        full = StorageFull()
        full.__cause__ = exc
        return full
    return exc


def _drop_retired(conn: sqlite3.Connection) -> None:
    """Drop what older releases created and this one no longer keeps: the index on the journal's
    blob column (each append paid a WAL page for it; see _SCHEMA)."""
    conn.execute("DROP INDEX IF EXISTS pending_chunks_blob")


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns:
            if name not in have:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise


def prefix_range(prefix: str, mark: str) -> tuple[str, list]:
    """SQL (with `mark` placeholders) and arguments bounding `key` to the range of keys that
    may start with prefix: keys with the prefix sort below prefix-with-last-char+1."""
    if not prefix:
        return "", []
    bound = _successor(prefix)
    if bound is None:
        return f"AND key >= {mark}", [prefix]
    return f"AND key >= {mark} AND key < {mark}", [prefix, bound]


def _successor(prefix: str) -> Optional[str]:
    """The smallest string above every string starting with prefix (None: no such bound)."""
    nxt = ord(prefix[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not valid text: skip to the next scalar value
        nxt = 0xE000
    return prefix[:-1] + chr(nxt) if nxt <= 0x10FFFF else None
