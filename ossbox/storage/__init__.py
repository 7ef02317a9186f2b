"""Storage engine: a metadata store (SQLite; PostgreSQL later) plus a blob store (files)."""
