"""The one place that builds storage drivers and hands them to the engine.

An engine never constructs a driver: it is given
  * a `MetadataStore` (metadata.py) -- SQLite in the data dir by default (sqlite_store.py); a
    configuration may name another driver (`--meta postgresql://...`: postgres_store.py);
  * a blob store (blobs.py) -- object bytes in files under the data dir;
  * a lock service (locks.py) -- per-object locks, in-process + OFD byte-range locks on a file of
    the data dir.
  * in segment mode (`--data URL`, scale-out), a segment store (segments.py) built by
    `segment_store(url)`: the bytes live there, and the lock service is NoLocks (no node-local
    lock; every write is a guarded metadata transaction).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional
from urllib.parse import unquote, urlsplit

from .blobs import BlobStore
from .engine import Engine
from .locks import NoLocks, ObjectLocks
from .metadata import MetadataStore
from .reserve import DEFAULT_RESERVE
from .segment_files import FileSegmentStore
from .segments import SegmentStore
from .sqlite_store import SQLITE_FILE, SqliteStore



def open_engine(data_dir: str, *, durability: str = "fsync", meta: Optional[MetadataStore] = None,
                disk_reserve: int = DEFAULT_RESERVE, segments: Optional[SegmentStore] = None) -> Engine:
    """An engine on `data_dir` with the default drivers, or the metadata store given, and the
    object bytes in `segments` when given (segment mode). Not started: `await engine.start()`
    opens the store and recovers."""
    data_dir = os.path.abspath(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    if meta is None:
        meta = SqliteStore(os.path.join(data_dir, SQLITE_FILE), durable=durability == "fsync")
    locks = ObjectLocks(data_dir) if segments is None else NoLocks()
    try:
        return Engine(data_dir, meta=meta, blobs=BlobStore(data_dir), locks=locks,
                      durability=durability, disk_reserve=disk_reserve, segments=segments)
    except BaseException:
        locks.close()
        raise


def metadata_store(url: Optional[str], durability: str) -> Optional[MetadataStore]:
    """The metadata driver a `--meta` URL names: PostgreSQL for postgresql:// URLs; None (the
    embedded SQLite default in the data dir) without one. psycopg is imported only then: it is
    an optional extra."""
    if not url:
        return None
    from .postgres_store import PostgresStore
    return PostgresStore(url, durable=durability == "fsync")


def segment_store(url: str, environ: Optional[Mapping[str, str]] = None) -> SegmentStore:
    """The segment store a `--data` URL names: `file:///dir` (an existing, possibly shared,
    directory) or `s3://BUCKET[/PREFIX][?endpoint=URL&region=R]` with credentials from `environ`
    (default os.environ: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). obstore is imported only for
    s3:// URLs: it is an optional extra. ValueError says what is wrong with a bad URL."""
    scheme = urlsplit(url).scheme
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query:
            raise ValueError(f"a file segment store URL is file:///absolute/dir, not {url!r}")
        return FileSegmentStore(unquote(parts.path))
    if scheme == "s3":
        try:
            from .segment_s3 import S3SegmentStore
        except ImportError as e:
            raise ValueError(f"s3:// segment stores need obstore: pip install 'ossbox[s3]' ({e})") from e
        return S3SegmentStore(url, environ)
    raise ValueError(f"unknown segment store URL {url!r}: expected file:///dir or "
                     "s3://BUCKET/PREFIX?endpoint=...&region=...")


def open_storage(config) -> Engine:
    """The engine a server configuration asks for (ServerConfig: data_dir, durability,
    disk_reserve, lifecycle_day_seconds, lifecycle_interval, meta -- the metadata URL, None for the embedded SQLite default -- and data -- the
    segment store URL, None to keep the bytes in data_dir)."""
    segments = segment_store(config.data) if config.data else None
    engine = open_engine(config.data_dir, durability=config.durability,
                         meta=metadata_store(config.meta, config.durability),
                         disk_reserve=config.disk_reserve, segments=segments)
    engine.lifecycle_day = getattr(config, "lifecycle_day_seconds", engine.lifecycle_day)
    engine.lifecycle_interval = getattr(config, "lifecycle_interval", engine.lifecycle_interval)
    engine.worm_day = getattr(config, "worm_day_seconds", engine.worm_day)
    return engine
