"""`ossbox append SRC oss://bucket/key` (exactly-once under retries) and `ossbox tail`."""
from __future__ import annotations


def register(sub, add_globals) -> None:
    """Registers append and tail (being written)."""
