"""The one place that builds storage drivers and hands them to the engine.

An engine never constructs a driver: it is given
  * a `MetadataStore` (metadata.py) -- SQLite in the data dir by default (sqlite_store.py); a
    configuration may name another driver (`--meta postgresql://...`: postgres_store.py);
  * a blob store (blobs.py) -- object bytes in files under the data dir;
  * a lock service (locks.py) -- per-object locks, in-process + OFD byte-range locks on a file of
    the data dir.
"""
from __future__ import annotations

import os
from typing import Optional

from .blobs import BlobStore
from .engine import Engine
from .locks import ObjectLocks
from .metadata import MetadataStore
from .reserve import DEFAULT_RESERVE
from .sqlite_store import SQLITE_FILE, SqliteStore



def open_engine(data_dir: str, *, durability: str = "fsync", meta: Optional[MetadataStore] = None,
                disk_reserve: int = DEFAULT_RESERVE) -> Engine:
    """An engine on `data_dir` with the default drivers, or the metadata store given. Not started:
    `await engine.start()` opens the store and recovers."""
    data_dir = os.path.abspath(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    if meta is None:
        meta = SqliteStore(os.path.join(data_dir, SQLITE_FILE), durable=durability == "fsync")
    locks = ObjectLocks(data_dir)
    try:
        return Engine(data_dir, meta=meta, blobs=BlobStore(data_dir), locks=locks,
                      durability=durability, disk_reserve=disk_reserve)
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


def open_storage(config) -> Engine:
    """The engine a server configuration asks for (ServerConfig: data_dir, durability,
    disk_reserve, and meta -- the metadata URL, None for the embedded SQLite default)."""
    return open_engine(config.data_dir, durability=config.durability,
                       meta=metadata_store(config.meta, config.durability),
                       disk_reserve=config.disk_reserve)
