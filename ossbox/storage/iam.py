"""Identities kept in the metadata store: RAM-style users, their access keys and identity
policies, and the signatures of admin requests already served (replay protection).

The storage API's IAM part (`Engine.iam`): the admin operations, the authenticator and the
authorizer use these methods, never a metadata transaction.
"""
from __future__ import annotations

from typing import Optional

from .metadata import MetadataStore
from .records import AccessKeyRecord, UserRecord


class Identities:
    def __init__(self, meta: MetadataStore):
        self._meta = meta

    # -- users -----------------------------------------------------------------------------------
    async def get_user(self, *, name: Optional[str] = None, user_id: Optional[str] = None
                       ) -> Optional[UserRecord]:
        return await self._meta.get_user(name=name, user_id=user_id)

    async def list_users(self) -> list[UserRecord]:
        return await self._meta.list_users()

    async def create_user(self, rec: UserRecord) -> bool:
        """False if the name or id is taken (the first of racing creators wins)."""
        return await self._meta.write(lambda t: t.insert_user(rec))

    async def delete_user(self, user_id: str) -> None:
        """Remove the user with its access keys and policies."""
        await self._meta.write(lambda t: t.delete_user(user_id))

    # -- access keys -----------------------------------------------------------------------------
    async def get_access_key(self, access_key_id: str) -> Optional[AccessKeyRecord]:
        return await self._meta.get_access_key(access_key_id)

    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]:
        return await self._meta.list_access_keys(user_id)

    async def create_access_key(self, rec: AccessKeyRecord) -> None:
        await self._meta.write(lambda t: t.insert_access_key(rec))

    async def set_access_key_status(self, access_key_id: str, status: str) -> bool:
        """False if the key is gone."""
        return await self._meta.write(lambda t: t.set_access_key_status(access_key_id, status))

    async def delete_access_key(self, access_key_id: str) -> bool:
        return await self._meta.write(lambda t: t.delete_access_key(access_key_id))

    # -- identity policies -----------------------------------------------------------------------
    async def list_user_policies(self, user_id: str) -> list[tuple[str, str]]:
        """[(policy name, document)] attached to the user."""
        return await self._meta.list_user_policies(user_id)

    async def put_user_policy(self, user_id: str, name: str, document: str) -> None:
        await self._meta.write(lambda t: t.put_user_policy(user_id, name, document))

    async def delete_user_policy(self, user_id: str, name: str) -> bool:
        return await self._meta.write(lambda t: t.delete_user_policy(user_id, name))

    # -- replay protection -----------------------------------------------------------------------
    async def claim_signature(self, signature: str, expires: float, now: float) -> bool:
        """Record `signature` as used until `expires`; False when it already is (shared by every
        process on the store, so a replay to another node is refused too)."""
        return await self._meta.write(lambda t: t.claim_signature(signature, expires, now))
