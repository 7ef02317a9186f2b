"""High-level commands: registered from their modules."""
from __future__ import annotations


def register(sub, add_globals) -> None:
    from . import append_cmd, highlevel

    highlevel.register(sub, add_globals)
    append_cmd.register(sub, add_globals)
