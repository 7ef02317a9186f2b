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
    logging_interval: float = 300.0               # seconds between writes of bucket access logs
    inventory_interval: float = 86400.0           # seconds between Daily inventory reports (Weekly: 7x)
    lifecycle_day_seconds: float = 86400.0        # how long "a day" of a lifecycle rule lasts
    lifecycle_interval: float = 3600.0            # seconds between lifecycle scans
    worm_day_seconds: float = 86400.0             # how long "a day" of a bucket retention policy lasts
    body_timeout: float = 60.0                    # seconds a request body may pause (RequestTimeout)
    disk_reserve: int = 16 * 1024 * 1024          # bytes kept back for start-up and deletes on a full disk
    meta: Optional[str] = None                    # postgresql:// URL of the metadata; None: SQLite in data_dir
    data: Optional[str] = None                    # segment store URL (file:///, s3://); None: bytes in data_dir
    access_log: Optional[str] = None              # --access-log: "-" (stdout) or a file path; None: off
    log_format: str = "text"                      # --log-format of the access log: text or json
    metrics_port: Optional[int] = None            # serve /-/metrics on this port only (None: on the main one)
    console: bool = True                          # serve the web console at /-/console/ (--no-console: off)
    metrics_socket: Optional[object] = None       # metrics_port bound by the --workers supervisor, to serve
    generated_credentials: bool = False           # set when a key pair was generated on this start
    replaced_access_key_id: Optional[str] = None  # the kept key id that given keys replaced on this start

    def root_credential(self) -> Credential:
        """The root key pair of this data dir, kept in credentials.json (mode 0600).

        Given keys (flags or OSSBOX_ACCESS_KEY_*) are the ones kept, so a later start without them
        serves the same pair; without any, the kept pair is used, or on the very first start one
        is generated, kept and printed. The owner id is generated once and never changes: it owns
        the buckets, whatever the key pair is."""
        path = credentials_path(self.data_dir)
        given = bool(self.access_key_id and self.access_key_secret)
        stored = read_credentials(self.data_dir)
        if stored is None:
            fresh = {
                "owner_id": str(secrets.randbelow(9 * 10 ** 15) + 10 ** 15),
                "access_key_id": self.access_key_id if given else "LTAI" + "".join(
                    secrets.choice(string.ascii_letters + string.digits) for _ in range(20)),
                "access_key_secret": self.access_key_secret if given else secrets.token_urlsafe(24)[:30],
            }
            os.makedirs(self.data_dir, exist_ok=True)
            stored = _write_credentials(path, fresh, replace=False)
            self.generated_credentials = stored is fresh and not given
        if given and (stored["access_key_id"], stored["access_key_secret"]) != (
                self.access_key_id, self.access_key_secret):
            self.replaced_access_key_id = stored["access_key_id"]
            stored = _write_credentials(path, dict(stored, access_key_id=self.access_key_id,
                                                   access_key_secret=self.access_key_secret), replace=True)
        self.access_key_id = stored["access_key_id"]
        self.access_key_secret = stored["access_key_secret"]
        return Credential(self.access_key_id, self.access_key_secret, stored["owner_id"])


def credentials_path(data_dir: str) -> str:
    return os.path.join(data_dir, CREDENTIALS_FILE)


def read_credentials(data_dir: str) -> Optional[dict]:
    """The kept root pair and owner id of a data dir, or None before its first start."""
    try:
        with open(credentials_path(data_dir), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _write_credentials(path: str, doc: dict, *, replace: bool) -> dict:
    """Durably write the credentials file and return what it holds. Without `replace`, the first
    of several processes starting together on one data dir wins (a hard link cannot overwrite)
    and the others adopt its pair, so every process serves the pair the file holds."""
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                with open(path, encoding="utf-8") as f:
                    return json.load(f)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return doc
