"""Plain records the metadata store hands out; the operations layer renders them."""
from __future__ import annotations

import base64
import os
import random
import struct
import time
from dataclasses import dataclass, field, replace

NORMAL, APPENDABLE, MULTIPART = "Normal", "Appendable", "Multipart"
DELETE_MARKER = "DeleteMarker"  # a version with no data: the key reads as deleted while it is the latest
# PutSymlink's object: no bytes of its own (an empty blob, so every blob rule still holds); it names
# its target object in the stored header below, and reads resolve it (see ops/symlink.py).
SYMLINK = "Symlink"
SYMLINK_TARGET = "x-oss-symlink-target"


@dataclass
class BucketRecord:
    name: str
    owner: str
    created: float
    region: str
    acl: str = "private"
    storage_class: str = "Standard"
    redundancy: str = "LRS"
    config: dict = field(default_factory=dict)  # room for later bucket settings (policy, versioning...)


@dataclass
class ObjectRecord:
    bucket: str
    key: str
    type: str
    size: int
    crc64: int
    etag: str                        # without quotes
    blob: str                        # blob id; stored file names never come from keys
    mtime: float
    storage_class: str = "Standard"
    acl: str = "default"
    headers: dict = field(default_factory=dict)  # stored response headers: content-type, x-oss-meta-*, ...
    tags: list = field(default_factory=list)     # [(key, value), ...] in the order given
    content_md5: str | None = None   # base64 MD5, Normal objects only
    sealed: float | None = None      # SealAppendObject time
    version_id: str | None = None    # None: the "null" version (written while versioning was off/suspended)
    sse_key: str | None = None       # server-side encryption: wrapped data key material (None: plain bytes)
    frozen: bool = False             # an appendable version that was once noncurrent: never appendable again

    @property
    def is_delete_marker(self) -> bool:
        return self.type == DELETE_MARKER

    def evolve(self, **changes) -> "ObjectRecord":
        return replace(self, **changes)


@dataclass
class UploadRecord:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    storage_class: str = "Standard"
    acl: str = "default"
    headers: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    sse_key: str | None = None       # the data key every part and the final object are encrypted with


@dataclass
class PartRecord:
    upload_id: str
    part_number: int
    size: int
    etag: str
    crc64: int
    blob: str
    mtime: float
    sse_iv: str | None = None        # this part's counter start under the upload's data key


@dataclass
class UserRecord:
    user_id: str
    name: str
    created: float


@dataclass
class AccessKeyRecord:
    access_key_id: str
    secret: str
    user_id: str
    status: str          # Active | Inactive
    created: float


@dataclass
class KmsKeyRecord:
    """A key of the built-in KMS: it wraps the data keys of SSE-KMS objects."""
    key_id: str
    material: bytes      # 32 bytes (AES-256-GCM key wrapping)
    status: str          # Enabled | Disabled
    description: str
    created: float


def new_id() -> str:
    return os.urandom(16).hex()


def new_version_id() -> str:
    """OSS-shaped version id ("CAEQ" + base64): a time prefix keeps ids of one key roughly ordered,
    the random tail makes them unique across processes."""
    raw = time.time_ns().to_bytes(8, "big") + os.urandom(16)
    return "CAEQ" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def appendable_etag(now: float | None = None) -> str:
    """OSS's appendable ETag shape: 8 random bytes, write time as LE uint32, 4 zero bytes."""
    stamp = int(now if now is not None else time.time()) & 0xFFFFFFFF
    # ETags must differ between writes, not be secret: no need for a getrandom() syscall per append
    return (random.getrandbits(64).to_bytes(8, "little") + struct.pack("<I", stamp) + b"\0\0\0\0").hex().upper()
