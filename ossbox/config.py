"""Server configuration: flags, their OSSBOX_* environment variables, and the root credential."""
from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass, field
from typing import Optional

from .auth import Credential

CREDENTIALS_FILE = "credentials.json"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: str = "./ossbox-data"
    region: str = "cn-hangzhou"
    access_key_id: Optional[str] = None
    access_key_secret: Optional[str] = None
    domains: list = field(default_factory=list)   # virtual-hosted style: <bucket>.<domain>
    durability: str = "fsync"                     # fsync: a 200 is on stable storage; none: page cache
    restore_delay: float = 60.0                   # seconds a RestoreObject takes to complete
    body_timeout: float = 60.0                    # seconds a request body may pause (RequestTimeout)
    disk_reserve: int = 16 * 1024 * 1024          # bytes kept back for start-up and deletes on a full disk
    generated_credentials: bool = False           # set when a key pair was generated on this start

    def metadata_store(self):
        return None  # the engine's default: SQLite in the data dir

    def root_credential(self) -> Credential:
        """The configured pair, or the one generated once and kept in the data dir."""
        path = os.path.join(self.data_dir, CREDENTIALS_FILE)
        stored = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
        if stored is None:
            stored = {
                "owner_id": str(secrets.randbelow(9 * 10 ** 15) + 10 ** 15),
                "access_key_id": "LTAI" + "".join(secrets.choice(string.ascii_letters + string.digits)
                                                  for _ in range(20)),
                "access_key_secret": secrets.token_urlsafe(24)[:30],
            }
            os.makedirs(self.data_dir, exist_ok=True)
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(stored, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            if not self.access_key_id:
                self.generated_credentials = True
        if self.access_key_id and self.access_key_secret:
            return Credential(self.access_key_id, self.access_key_secret, stored["owner_id"])
        self.access_key_id = stored["access_key_id"]
        self.access_key_secret = stored["access_key_secret"]
        return Credential(self.access_key_id, self.access_key_secret, stored["owner_id"])
