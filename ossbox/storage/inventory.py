"""Bucket inventory reports (PutBucketInventory): the scheduler that writes them.

Configurations live in BucketRecord.config["inventory"] (parsed by ops/inventory.py). Every
`interval` seconds (--inventory-interval; OSS runs Daily inventories once a day) one node claims
the run in the shared settings (as the lifecycle scanner does, so several nodes on one metadata
store produce each report once) and writes, for every enabled configuration that is due (Daily:
every run; Weekly: when the last report is 7 intervals old), a report in OSS's layout in the
destination bucket:

  <Prefix>/<SourceBucket>/<Id>/data/<uuid>.csv.gz        gzipped CSV, one object version per row
  <Prefix>/<SourceBucket>/<Id>/<YYYY-MM-DDTHH-MMZ>/manifest.json
  <Prefix>/<SourceBucket>/<Id>/<YYYY-MM-DDTHH-MMZ>/manifest.checksum   (MD5 of manifest.json)

CSV columns: Bucket, Key (URL-encoded), then with IncludedObjectVersions=All VersionId,
IsLatest, IsDeleteMarker, then the OptionalFields in the order given. The manifest's fileSchema
names them. A data file holds at most ROWS_PER_FILE rows.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import time
import uuid
from typing import Optional
from urllib.parse import quote

from .access_log import write_object
from .errors import StorageError
from .metadata import CURRENT_SEQ
from .periodic import Periodic, claim_slot
from .records import MULTIPART, ObjectRecord

log = logging.getLogger("ossbox.inventory")

DEFAULT_INTERVAL = 86400.0
RUN_CLAIM = "inventory-next-run"   # setting: wall time before which no node starts a run
LAST_RUN = "inventory-last:"       # setting prefix: + "<bucket>/<id>": time of its last report
WEEK = 7
PAGE = 1000
ROWS_PER_FILE = 1_000_000


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _selected(flt: dict, rec: ObjectRecord) -> bool:
    if rec.is_delete_marker:
        return True   # markers have no size or class: only the prefix selects them
    if "begin" in flt and rec.mtime < flt["begin"]:
        return False
    if "end" in flt and rec.mtime > flt["end"]:
        return False
    if "lower" in flt and rec.size < flt["lower"]:
        return False
    if "upper" in flt and rec.size > flt["upper"]:
        return False
    if flt.get("classes") and rec.storage_class not in flt["classes"]:
        return False
    return True


def _field(name: str, rec: ObjectRecord) -> str:
    if rec.is_delete_marker:
        return ""
    if name == "Size":
        return str(rec.size)
    if name == "LastModifiedDate":
        return _iso(rec.mtime)
    if name == "ETag":
        return rec.etag
    if name == "StorageClass":
        return rec.storage_class
    if name == "IsMultipartUploaded":
        return "true" if rec.type == MULTIPART else "false"
    if name == "EncryptionStatus":
        return "true" if "x-oss-server-side-encryption" in rec.headers else "false"
    if name == "ObjectAcl":
        return rec.acl
    if name == "TaggingCount":
        return str(len(rec.tags))
    if name == "ObjectType":
        return rec.type
    if name == "Crc64":
        return str(rec.crc64)
    return ""


def schema(cfg: dict) -> list[str]:
    cols = ["Bucket", "Key"]
    if cfg["versions"] == "All":
        cols += ["VersionId", "IsLatest", "IsDeleteMarker"]
    return cols + list(cfg["fields"])


class InventoryRunner(Periodic):
    """Runs every `interval` seconds while the server runs (started by http.app.Server)."""

    name = "inventory run"

    def __init__(self, engine, interval: float = DEFAULT_INTERVAL):
        super().__init__(interval)
        self.engine = engine

    async def tick(self) -> None:
        if await claim_slot(self.engine.meta, RUN_CLAIM, self.interval):
            await self.run()

    async def run(self, now: Optional[float] = None) -> int:
        """Write the reports that are due; the number written."""
        now = time.time() if now is None else now
        done, marker = 0, ""
        while True:
            buckets = await self.engine.meta.list_buckets("", marker, PAGE)
            for b in buckets:
                for cfg in (b.config.get("inventory") or {}).values():
                    if cfg["enabled"] and await self._due(b.name, cfg, now):
                        try:
                            done += await self.report(b.name, cfg, now)
                        except StorageError as exc:
                            log.warning("inventory %s of %s not written: %s", cfg["id"], b.name, exc)
            if len(buckets) < PAGE:
                return done
            marker = buckets[-1].name

    async def _due(self, bucket: str, cfg: dict, now: float) -> bool:
        if cfg["frequency"] == "Daily":
            return True
        last = await self.engine.meta.get_setting(f"{LAST_RUN}{bucket}/{cfg['id']}")
        return last is None or float(last) + (WEEK - 0.5) * self.interval <= now

    async def _rows(self, bucket: str, cfg: dict):
        prefix, flt = cfg["filter"].get("prefix", ""), cfg["filter"]
        if cfg["versions"] == "All":
            after_key, before_seq = "", CURRENT_SEQ + 1
            while True:
                page = await self.engine.list_versions(bucket, prefix, after_key, before_seq, PAGE)
                for rec, _seq, latest in page:
                    if _selected(flt, rec):
                        yield rec, latest
                if len(page) < PAGE:
                    return
                after_key, before_seq = page[-1][0].key, page[-1][1]
        else:
            after = ""
            while True:
                page = await self.engine.list_objects(bucket, prefix, after, PAGE)
                for rec in page:
                    if not rec.is_delete_marker and _selected(flt, rec):
                        yield rec, True
                if len(page) < PAGE:
                    return
                after = page[-1].key

    async def report(self, bucket: str, cfg: dict, now: float) -> int:
        """Write one report of `cfg` for `bucket`; 1 when written (0: destination gone)."""
        dest = cfg["destination"]
        base = "/".join(p for p in (dest["prefix"].strip("/"), bucket, cfg["id"]) if p)
        files, rows = [], []

        async def flush():
            out = io.StringIO()
            csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
            data = gzip.compress(out.getvalue().encode("utf-8"))
            key = f"{base}/data/{uuid.uuid4()}.csv.gz"
            if not await write_object(self.engine, dest["bucket"], key, data, "application/x-gzip"):
                return False
            files.append({"key": key, "size": len(data), "MD5checksum": hashlib.md5(data).hexdigest()})
            rows.clear()
            return True

        async for rec, latest in self._rows(bucket, cfg):
            row = [bucket, quote(rec.key, safe="")]
            if cfg["versions"] == "All":
                row += [rec.version_id or "null", "true" if latest else "false",
                        "true" if rec.is_delete_marker else "false"]
            rows.append(row + [_field(name, rec) for name in cfg["fields"]])
            if len(rows) >= ROWS_PER_FILE and not await flush():
                return 0
        if (rows or not files) and not await flush():
            return 0
        manifest = json.dumps({
            "creationTimestamp": str(int(now)), "destinationBucket": dest["bucket"], "fileFormat": "CSV",
            "fileSchema": ", ".join(schema(cfg)), "files": files, "sourceBucket": bucket,
            "version": "2019-09-01"}, indent=2).encode("utf-8")
        folder = f"{base}/{time.strftime('%Y-%m-%dT%H-%MZ', time.gmtime(now))}"
        await write_object(self.engine, dest["bucket"], f"{folder}/manifest.json", manifest, "application/json")
        await write_object(self.engine, dest["bucket"], f"{folder}/manifest.checksum",
                           hashlib.md5(manifest).hexdigest().encode(), "text/plain")
        await self.engine.meta.write(
            lambda t: t.set_setting(f"{LAST_RUN}{bucket}/{cfg['id']}", repr(now)), durable=False)
        return 1
