"""Server-side encryption at rest: per-object data keys, CTR keystreams, key wrapping, built-in KMS.

Key hierarchy:
  * every encrypted object (and every encrypted multipart upload) has its own random data key:
    32 bytes for AES-256, 16 bytes for SM4, with a random 16-byte initial counter block;
  * the data key is stored wrapped (AES-256-GCM) in the object's row (`ObjectRecord.sse_key`), by
    the server master key (SSE-OSS: AES256 / SM4) or by a key of the built-in KMS (SSE-KMS);
  * the master key and the KMS keys live in the metadata store (settings / kms_keys).

Data is encrypted in CTR mode: the keystream for byte `offset` depends only on the key, the initial
counter block and the offset, so an append encrypts just its own bytes (nothing stored is rewritten)
and a ranged read decrypts from any offset. CTR gives no integrity; the CRC-64 and MD5 ossbox keeps
are computed over the plaintext and checked by the SDKs on download.
"""
from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DefaultKmsKeyMissing, KeyRecordDamaged, KeyUnwrapFailed, KmsKeyDisabled, KmsKeyNotFound
from .metadata import MetadataStore
from .records import KmsKeyRecord
from .server_keys import server_secret

AES256, KMS, SM4 = "AES256", "KMS", "SM4"
H_ALGORITHM = "x-oss-server-side-encryption"
H_DATA_ALGORITHM = "x-oss-server-side-data-encryption"
H_KEY_ID = "x-oss-server-side-encryption-key-id"

ENABLED, DISABLED = "Enabled", "Disabled"
MASTER_KEY_SETTING = "sse-master-key"
DEFAULT_KMS_KEY_SETTING = "kms-default-key"
DEFAULT_KMS_DESCRIPTION = "Default key managed by ossbox for SSE-KMS"
NAMED_KMS_DESCRIPTION = "Made by ossbox for the key id a request named"
MAX_KMS_KEY_ID = 256

# cipher name -> (cryptography algorithm, data key length, largest read chunk). Ciphers run on the
# event loop like the rest of the data path: AES (AES-NI) at ~3 GB/s costs a 1 MiB read chunk about
# what its pread does; SM4 without hardware support runs at ~100 MB/s, so reads of SM4 objects go in
# 64 KiB steps (~0.6 ms each) instead of stalling other requests ~10 ms per 1 MiB. Moving the cipher
# to a thread was measured and cost SM4 ~45% more CPU per byte for a single stream.
_CIPHERS = {"AES-256-CTR": (algorithms.AES, 32, 1 << 62), "SM4-CTR": (algorithms.SM4, 16, 64 * 1024)}
_BLOCK = 16
_COUNTER_SPACE = 1 << 128
_MASTER_WRAP = "master"
_KMS_WRAP = "kms:"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _aad(cipher: str, wrap: str) -> bytes:
    # Binds the wrapped key to its cipher and wrapping key: a row edited to claim another cipher
    # or wrapping key fails to unwrap instead of decrypting garbage.
    return f"ossbox-sse|{cipher}|{wrap}".encode()


class Keystream:
    """A CTR keystream positioned at a byte offset; `apply` en- or decrypts the next bytes (CTR is
    its own inverse). Sequential chunks go through one cipher context."""

    __slots__ = ("_ctx", "max_chunk")

    def __init__(self, algorithm, key: bytes, iv: bytes, offset: int, max_chunk: int):
        self.max_chunk = max_chunk  # read at most this much per step (a slow cipher blocks the loop)
        counter = (int.from_bytes(iv, "big") + offset // _BLOCK) % _COUNTER_SPACE
        self._ctx = Cipher(algorithm(key), modes.CTR(counter.to_bytes(_BLOCK, "big"))).encryptor()
        skip = offset % _BLOCK
        if skip:
            self._ctx.update(bytes(skip))

    def apply(self, data) -> bytes:
        return self._ctx.update(data)


@dataclass(frozen=True)
class DataKey:
    cipher: str          # "AES-256-CTR" | "SM4-CTR"
    key: bytes
    iv: bytes            # the object's initial counter block

    def stream(self, offset: int = 0, iv: Optional[bytes] = None) -> Keystream:
        """The keystream at `offset`; `iv` overrides the counter start (multipart parts have their own)."""
        algorithm, _size, max_chunk = _CIPHERS[self.cipher]
        return Keystream(algorithm, self.key, self.iv if iv is None else iv, offset, max_chunk)


def requested(headers: dict) -> bool:
    return H_ALGORITHM in headers


def new_counter_block() -> bytes:
    return os.urandom(_BLOCK)


class Keyring:
    """Creates, wraps and unwraps data keys; runs the built-in KMS. Used on the event loop only."""

    CACHE_SIZE = 4096    # unwrapped data keys kept, so an append does not unwrap per request

    def __init__(self, meta: MetadataStore):
        self.meta = meta
        self._master: Optional[bytes] = None
        self._cache: OrderedDict[str, tuple[Optional[str], DataKey]] = OrderedDict()

    # -- wrapping keys ---------------------------------------------------------------------------
    async def _master_key(self) -> bytes:
        if self._master is None:
            self._master = await server_secret(self.meta, MASTER_KEY_SETTING)
        return self._master

    async def default_kms_key(self) -> KmsKeyRecord:
        """The managed key SSE-KMS uses when no key id is given, made on first use. Several
        processes may race: the settings row decides (first writer wins) in the same transaction
        that inserts the key."""
        key_id = await self.meta.get_setting(DEFAULT_KMS_KEY_SETTING)
        if key_id is None:
            fresh = new_kms_key(DEFAULT_KMS_DESCRIPTION)

            def txn(t):
                chosen = t.setdefault_setting(DEFAULT_KMS_KEY_SETTING, fresh.key_id)
                if chosen == fresh.key_id:
                    t.insert_kms_key(fresh)
                return chosen
            key_id = await self.meta.write(txn)
        rec = await self.meta.get_kms_key(key_id)
        if rec is None:
            raise DefaultKmsKeyMissing()
        return rec

    # -- the built-in KMS's management API (admin CreateKmsKey, ListKmsKeys, ...) ----------------
    async def get_kms_key(self, key_id: str) -> Optional[KmsKeyRecord]:
        return await self.meta.get_kms_key(key_id)

    async def list_kms_keys(self) -> list[KmsKeyRecord]:
        return await self.meta.list_kms_keys()

    async def create_kms_key(self, description: str) -> KmsKeyRecord:
        rec = new_kms_key(description)
        await self.meta.write(lambda t: t.insert_kms_key(rec))
        return rec

    async def set_kms_key_status(self, key_id: str, status: str) -> bool:
        """Enable or disable a key (takes effect at the next use of every data key it wraps);
        False if the key is gone."""
        return await self.meta.write(lambda t: t.set_kms_key_status(key_id, status))

    async def default_kms_key_id(self) -> Optional[str]:
        """The id of the default key, None before SSE-KMS first needed one."""
        return await self.meta.get_setting(DEFAULT_KMS_KEY_SETTING)

    async def check_kms_key(self, key_id: Optional[str], argument: str = H_KEY_ID) -> KmsKeyRecord:
        """The KMS key to encrypt with: `key_id` (named by `argument` of the request) or the
        default key; it must be enabled. A well-formed id the built-in KMS does not know yet gets
        a new key made under it: OSS stores the id a client names, and ossbox has no cloud KMS to
        ask, so the data is encrypted under a real key of that id (docs/architecture.md,
        "Unknown key id")."""
        if key_id is None:
            rec = await self.default_kms_key()
        else:
            rec = await self.meta.get_kms_key(key_id)
            if rec is None:
                if not valid_kms_key_id(key_id):
                    raise KmsKeyNotFound(key_id, argument)
                fresh = new_kms_key(NAMED_KMS_DESCRIPTION, key_id)
                # Several requests may name the same new id at once: the first insert wins.
                await self.meta.write(lambda t: t.insert_kms_key(fresh, if_absent=True))
                rec = await self.meta.get_kms_key(key_id)
        if rec.status != ENABLED:
            raise KmsKeyDisabled(rec.key_id)
        return rec

    # -- data keys -------------------------------------------------------------------------------
    async def create(self, headers: dict) -> tuple[Optional[DataKey], Optional[str], dict]:
        """A new data key for an object (or upload) whose SSE request headers are `headers`:
        (key, its stored form for `sse_key`, the headers to store, with the KMS key id actually
        used). Headers that ask for no encryption come back unchanged with no key."""
        algorithm = headers.get(H_ALGORITHM)
        if algorithm is None:
            return None, None, headers
        cipher = "SM4-CTR" if algorithm == SM4 or headers.get(H_DATA_ALGORITHM) == SM4 else "AES-256-CTR"
        out = {k: v for k, v in headers.items() if k != H_KEY_ID}
        if algorithm == KMS:
            kms = await self.check_kms_key(headers.get(H_KEY_ID))
            wrap, wrapping_key = _KMS_WRAP + kms.key_id, kms.material
            out[H_KEY_ID] = kms.key_id
        else:
            wrap, wrapping_key = _MASTER_WRAP, await self._master_key()
        key = DataKey(cipher, os.urandom(_CIPHERS[cipher][1]), new_counter_block())
        nonce = os.urandom(12)
        wrapped = nonce + AESGCM(wrapping_key).encrypt(nonce, key.key, _aad(cipher, wrap))
        stored = json.dumps({"v": 1, "cipher": cipher, "wrap": wrap, "iv": _b64(key.iv),
                             "key": _b64(wrapped)}, separators=(",", ":"))
        self._remember(stored, kms.key_id if algorithm == KMS else None, key)
        return key, stored, out

    async def open(self, stored: Optional[str]) -> Optional[DataKey]:
        """The data key behind an `sse_key` value (None: plain data). A key wrapped by a KMS key
        needs that key enabled at every use, so disabling it takes effect at once."""
        if stored is None:
            return None
        hit = self._cache.get(stored)
        if hit is not None:
            self._cache.move_to_end(stored)
            kms_id, key = hit
            if kms_id is not None:
                rec = await self.meta.get_kms_key(kms_id)
                if rec is None or rec.status != ENABLED:
                    raise KmsKeyDisabled(kms_id)
            return key
        try:
            doc = json.loads(stored)
            cipher, wrap = doc["cipher"], doc["wrap"]
            iv, wrapped = base64.b64decode(doc["iv"]), base64.b64decode(doc["key"])
        except (ValueError, KeyError, TypeError):
            raise KeyRecordDamaged()
        kms_id = None
        if wrap.startswith(_KMS_WRAP):
            kms_id = wrap[len(_KMS_WRAP):]
            rec = await self.meta.get_kms_key(kms_id)
            if rec is None or rec.status != ENABLED:
                raise KmsKeyDisabled(kms_id)
            wrapping_key = rec.material
        else:
            wrapping_key = await self._master_key()
        try:
            raw = AESGCM(wrapping_key).decrypt(wrapped[:12], wrapped[12:], _aad(cipher, wrap))
        except InvalidTag:  # wrong wrapping key or an edited record
            raise KeyUnwrapFailed()
        key = DataKey(cipher, raw, iv)
        self._remember(stored, kms_id, key)
        return key

    def _remember(self, stored: str, kms_id: Optional[str], key: DataKey) -> None:
        self._cache[stored] = (kms_id, key)
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)


def new_kms_key(description: str, key_id: Optional[str] = None) -> KmsKeyRecord:
    return KmsKeyRecord(key_id=key_id or str(uuid.uuid4()), material=os.urandom(32), status=ENABLED,
                        description=description, created=time.time())


def valid_kms_key_id(key_id: str) -> bool:
    """Ids of Alibaba Cloud KMS keys are UUIDs, aliases (alias/...) or ARNs (acs:kms:...): printable
    ASCII without spaces, well under 256 characters."""
    return 0 < len(key_id) <= MAX_KMS_KEY_ID and all("!" <= c <= "~" for c in key_id)
