"""High-level commands: mb, rb, ls, stat, cat, rm, cp."""
from __future__ import annotations


def register(sub, add_globals) -> None:
    """Registers the high-level commands (being written)."""
