"""`ossbox config`: write a profile to the ossutil config file."""
from __future__ import annotations


def register(sub, add_globals) -> None:
    """Filled in by the config command."""
