"""Server secrets (the STS signing key, the SSE master key): one helper for all of them.

A secret is 32 random bytes kept hex-encoded in the metadata settings and created on first use.
Every process (and, on a shared store, every node) must end up with the same secret, so creation
is insert-if-absent: racing creators each propose one and all read back the first one stored.
"""
from __future__ import annotations

import os

from .metadata import MetadataStore

SECRET_BYTES = 32


async def server_secret(meta: MetadataStore, name: str) -> bytes:
    value = await meta.get_setting(name)
    if not value:
        fresh = os.urandom(SECRET_BYTES).hex()
        value = await meta.write(lambda t: t.setdefault_setting(name, fresh))
    return bytes.fromhex(value)


ACCOUNT_ID_SETTING = "account-id"


async def account_id(meta: MetadataStore, proposed: str) -> str:
    """The account (root owner) id every node serves: the first one stored wins. A data dir's
    credentials.json proposes its own (so an existing deployment keeps the id its buckets carry);
    a node joining a shared store adopts the stored one, or its buckets would belong to
    different owners on different nodes."""
    value = await meta.get_setting(ACCOUNT_ID_SETTING)
    if not value:
        value = await meta.write(lambda t: t.setdefault_setting(ACCOUNT_ID_SETTING, proposed))
    return value
