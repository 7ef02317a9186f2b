"""Bucket and object naming rules (used by addressing and by x-oss-copy-source)."""
from __future__ import annotations

from .. import errors

_BUCKET_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
MAX_KEY_BYTES = 1023


def valid_bucket_name(name: str) -> bool:
    return (3 <= len(name) <= 63 and set(name) <= _BUCKET_CHARS
            and name[0] != "-" and name[-1] != "-")


def validate_key(key: str) -> None:
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidObjectName(Key=key)
    if not 1 <= len(raw) <= MAX_KEY_BYTES or key[0] in "/\\":
        raise errors.InvalidObjectName(Key=key if len(raw) <= MAX_KEY_BYTES else None)
    if "\0" in key:  # PostgreSQL text cannot hold U+0000: refused on every metadata driver alike
        raise errors.InvalidObjectName(Key=key.replace("\0", "\\0"))
