"""High-level commands with ossutil 2's grammar: mb, rb, ls, stat, cat, rm, cp.

Everything goes through the official alibabacloud-oss-v2 SDK (paginators, uploader, downloader,
copier), so these commands work against Alibaba Cloud OSS as well as `ossbox server`.

Behaviour worth knowing (ossutil 2 conventions unless noted):

* URLs are `oss://bucket[/key]`; anything else where a URL is expected is a usage error (exit 1).
* Results go to stdout and end with `<seconds>(s) elapsed` unless `-q`; errors go to stderr as
  `Error: ...`. Exit status: 0 ok, 1 usage, 2 the service refused, 3 client/network error,
  4 some items of a batch (`cp -r`, `rm -r`, `rb -f`) failed, 5 interrupted.
* `ls` and `stat` honour `--output-format json|yaml|xml` and `--output-query`.
* `cp` overwrites an existing destination, except that on a terminal it asks first (`-f/--force`
  does not ask); `-u/--update` copies only newer sources, `--ignore-existing` skips existing ones.
  Files of `--bigfile-threshold` (default 100 MiB) or more go multipart (SDK uploader, downloader
  or copier) with `--part-size` parts. A progress bar is drawn on stderr only when stderr is a
  terminal (never with `--no-progress` or `-q`). The run ends with ossutil's summary line
  (`Success: Total N files, size X, Upload done:(...)`), which `-q` drops.
* `rm -r` asks for confirmation on a terminal and refuses (exit 1) without `-f` otherwise.
* `--dry-run` (`-n`) prints what would be done and sends nothing at all (no listing or HEAD
  either), in every command; `cat` and `cp ... -` put the elapsed trailer on stderr, after the
  object's bytes would have been.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import fnmatch
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from .output import (EXIT_CLIENT, EXIT_OK, EXIT_PARTIAL, EXIT_SERVICE, EXIT_USAGE, Printer,
                     canonical_header, dry_run, error_text, print_error)
from .settings import Settings, UsageError, make_client, unreachable_message

try:  # UTF-8 metadata arrives latin-1-decoded from the HTTP library
    from .output import header_text
except ImportError:  # pragma: no cover
    def header_text(value: str) -> str:
        return value

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
DEFAULT_BIGFILE_THRESHOLD = 100 * MiB
MIN_PART_SIZE, MAX_PART_SIZE, MAX_PARTS = 100 * KiB, 5 * GiB, 10000
DELETE_BATCH = 1000

BUCKET_ACLS = ("private", "public-read", "public-read-write")
OBJECT_ACLS = BUCKET_ACLS + ("default",)
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
REDUNDANCY_TYPES = ("LRS", "ZRS")


def _oss():
    import alibabacloud_oss_v2 as oss
    return oss


# == URLs, sizes, times =============================================================================
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class OssUrl:
    bucket: Optional[str]
    key: str = ""

    def __str__(self) -> str:
        return f"oss://{self.bucket or ''}" + (f"/{self.key}" if self.key else "")

    def of(self, key: str) -> str:
        return f"oss://{self.bucket}/{key}"


def is_oss(text: str) -> bool:
    return text[:6].lower() == "oss://"


def parse_url(text: str, *, need_bucket: bool = True, need_key: bool = False,
              no_key: bool = False) -> OssUrl:
    """`oss://bucket[/key]`, validated locally (a bad URL is a usage error, exit 1)."""
    if not is_oss(text):
        raise UsageError(f"invalid OSS URL '{text}': expected oss://bucket[/key]")
    bucket, _, key = text[6:].partition("/")
    if not bucket:
        if need_bucket or key:
            raise UsageError(f"invalid OSS URL '{text}': the bucket name is missing (oss://bucket[/key])")
        return OssUrl(None)
    if not _BUCKET_RE.match(bucket):
        raise UsageError(f"invalid bucket name '{bucket}' in '{text}': 3 to 63 lowercase letters, digits "
                         "or '-', starting and ending with a letter or digit")
    if key.startswith(("/", "\\")):
        raise UsageError(f"invalid object name in '{text}': a key cannot start with '/' or '\\'")
    if len(key.encode("utf-8")) > 1023:
        raise UsageError(f"invalid object name in '{text}': a key is at most 1023 bytes")
    if need_key and not key:
        raise UsageError(f"'{text}' names a bucket; this command needs an object: oss://bucket/key")
    if no_key and key:
        raise UsageError(f"'{text}' names an object; this command takes a bucket: oss://bucket")
    return OssUrl(bucket, key)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpe])?(i?b)?\s*$", re.I)
_SIZE_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def parse_size(text: str) -> int:
    """ossutil's SizeSuffix: bytes, or a K/M/G/T/P/E suffix in powers of 1024 (`1.5M`, `64KiB`)."""
    m = _SIZE_RE.match(text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size '{text}': bytes, or a number with a K/M/G/T/P suffix")
    return int(float(m.group(1)) * 1024 ** _SIZE_POWER[(m.group(2) or "").lower()])


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer '{text}'")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _choice(values):
    """Case-insensitive choice that returns the canonical spelling."""
    by_lower = {v.lower(): v for v in values}

    def convert(text: str) -> str:
        try:
            return by_lower[text.lower()]
        except KeyError:
            raise argparse.ArgumentTypeError(f"invalid value '{text}' (choose from {', '.join(values)})")
    return convert


def human(n: float) -> str:
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return f"{n:.2f} {unit}"
    return f"{n:.2f} PiB"  # pragma: no cover


def _as_datetime(value) -> Optional[_dt.datetime]:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    text = str(value)
    try:
        from email.utils import parsedate_to_datetime
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        pass
    try:
        parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def local_time(value) -> str:
    """ossutil's time display: `2006-01-02 15:04:05 -0700 MST` in local time."""
    dt = _as_datetime(value)
    if dt is None:
        return "" if value is None else str(value)
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")


def iso_time(value) -> Optional[str]:
    dt = _as_datetime(value)
    return None if dt is None else dt.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _timestamp(value) -> Optional[float]:
    dt = _as_datetime(value)
    return None if dt is None else dt.timestamp()


# == errors ==========================================================================================
def service_error(exc: BaseException):
    """The SDK ServiceError inside exc (through OperationError / UploadError / ...), or None."""
    oss = _oss()
    for _ in range(6):
        if isinstance(exc, oss.exceptions.ServiceError):
            return exc
        unwrap = getattr(exc, "unwrap", None)
        if unwrap is None:
            return None
        inner = unwrap()
        if inner is None or inner is exc:
            return None
        exc = inner
    return None


def is_not_found(exc: BaseException) -> bool:
    err = service_error(exc)
    return err is not None and getattr(err, "status_code", None) == 404


def brief(exc: BaseException) -> str:
    """One line for a failed item of a batch."""
    err = service_error(exc)
    if err is not None:
        return (f"{getattr(err, 'code', '')}: {getattr(err, 'message', '')} (Http Status Code: "
                f"{getattr(err, 'status_code', '')}, Request Id: {getattr(err, 'request_id', '')})")
    unreachable = unreachable_message(exc)
    if unreachable is not None:
        return unreachable
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return " ".join(str(exc).split()) or exc.__class__.__name__


def fail(exc: BaseException) -> int:
    """Print a non-batch failure and give its exit status (2 service, 1 usage, 3 otherwise)."""
    if isinstance(exc, UsageError):
        print_error(str(exc))
        return EXIT_USAGE
    err = service_error(exc)
    oss = _oss()
    if err is not None:
        shown = exc if isinstance(exc, oss.exceptions.OperationError) else err
        print_error(error_text(shown))
        return EXIT_SERVICE
    print_error(brief(exc))
    return EXIT_CLIENT


class Cancelled(Exception):
    """Raised from a progress callback to stop a transfer after Ctrl+C."""


# == filters ========================================================================================
class Filter:
    """--include / --exclude shell patterns, matched against the path relative to the listed prefix
    and against the base name (`*.txt` matches `a/b.txt`). With includes, an item must match one."""

    def __init__(self, includes=None, excludes=None):
        self.includes = list(includes or ())
        self.excludes = list(excludes or ())

    def __bool__(self) -> bool:
        return bool(self.includes or self.excludes)

    @staticmethod
    def _hit(rel: str, pattern: str) -> bool:
        name = rel.rstrip("/").rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern)

    def match(self, rel: str) -> bool:
        if self.includes and not any(self._hit(rel, p) for p in self.includes):
            return False
        return not any(self._hit(rel, p) for p in self.excludes)


def _add_filters(p) -> None:
    p.add_argument("--include", action="append", metavar="PATTERN",
                   help="only items matching this shell pattern (repeatable)")
    p.add_argument("--exclude", action="append", metavar="PATTERN",
                   help="skip items matching this shell pattern (repeatable)")


# == listing helpers ================================================================================
def iter_objects(client, bucket: str, prefix: str = "", delimiter: Optional[str] = None,
                 start_after: Optional[str] = None, page_size: int = 1000):
    """(objects, common prefixes) page by page through the SDK's ListObjectsV2 paginator."""
    oss = _oss()
    req = oss.models.ListObjectsV2Request(bucket=bucket, prefix=prefix or None, delimiter=delimiter,
                                          start_after=start_after or None, max_keys=page_size)
    for page in client.list_objects_v2_paginator().iter_page(req):
        yield list(page.contents or ()), [p.prefix for p in (page.common_prefixes or ())]


def iter_uploads(client, bucket: str, prefix: str = ""):
    oss = _oss()
    req = oss.models.ListMultipartUploadsRequest(bucket=bucket, prefix=prefix or None, max_uploads=1000)
    for page in client.list_multipart_uploads_paginator().iter_page(req):
        yield from page.uploads or ()


def _confirm(question: str) -> bool:
    sys.stderr.write(f"{question} (y or N)? ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


# == mb / rb ========================================================================================
def run_mb(args, settings: Settings) -> int:
    url = parse_url(args.url, no_key=True)
    printer = Printer(settings)
    if settings.dry_run:
        extra = "".join(f", {k} {v}" for k, v in (("acl", args.acl), ("storage class", args.storage_class),
                                                   ("redundancy", args.redundancy_type)) if v)
        return dry_run(printer, f"create bucket {url}{extra}")
    oss = _oss()
    config = None
    if args.storage_class or args.redundancy_type:
        config = oss.models.CreateBucketConfiguration(storage_class=args.storage_class,
                                                      data_redundancy_type=args.redundancy_type)
    make_client(settings).put_bucket(oss.models.PutBucketRequest(
        bucket=url.bucket, acl=args.acl, create_bucket_configuration=config))
    printer.finish()
    return EXIT_OK


@dataclass
class Tally:
    total: int = 0
    done: int = 0
    failed: int = 0


def delete_objects(client, bucket: str, keys: list[str], tally: Tally, label: str = "oss://") -> None:
    """DeleteMultipleObjects in batches of 1000; a failed batch counts all its keys as failed."""
    oss = _oss()
    for i in range(0, len(keys), DELETE_BATCH):
        chunk = keys[i:i + DELETE_BATCH]
        tally.total += len(chunk)
        try:
            client.delete_multiple_objects(oss.models.DeleteMultipleObjectsRequest(
                bucket=bucket, objects=[oss.models.DeleteObject(key=k) for k in chunk], quiet=True))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per batch, the run goes on
            tally.failed += len(chunk)
            print_error(f"removing {len(chunk)} objects of oss://{bucket} ({chunk[0]} ... {chunk[-1]}) "
                        f"failed: {brief(exc)}")
        else:
            tally.done += len(chunk)


def abort_uploads(client, bucket: str, uploads, tally: Tally) -> None:
    oss = _oss()
    for up in uploads:
        tally.total += 1
        try:
            client.abort_multipart_upload(oss.models.AbortMultipartUploadRequest(
                bucket=bucket, key=up.key, upload_id=up.upload_id))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001
            if is_not_found(exc):  # already completed or aborted by someone else
                tally.done += 1
                continue
            tally.failed += 1
            print_error(f"aborting upload {up.upload_id} of oss://{bucket}/{up.key} failed: {brief(exc)}")
        else:
            tally.done += 1


def _all_keys(client, bucket: str, prefix: str = "", flt: Optional[Filter] = None) -> list[str]:
    keys = []
    for objects, _ in iter_objects(client, bucket, prefix):
        for obj in objects:
            if flt is None or flt.match(obj.key[len(prefix):] if prefix else obj.key):
                keys.append(obj.key)
    return keys


def run_rb(args, settings: Settings) -> int:
    url = parse_url(args.url, no_key=True)
    printer = Printer(settings)
    purge = args.force or args.all
    if settings.dry_run:
        return dry_run(printer, (f"remove every object and multipart upload of {url}, then " if purge else
                                 "remove ") + f"bucket {url}")
    oss = _oss()
    client = make_client(settings)
    if purge:
        objects, uploads = Tally(), Tally()
        delete_objects(client, url.bucket, _all_keys(client, url.bucket), objects)
        abort_uploads(client, url.bucket, list(iter_uploads(client, url.bucket)), uploads)
        if objects.failed or uploads.failed:
            print_error(f"bucket {url} not removed: {objects.failed} objects and {uploads.failed} "
                        "multipart uploads could not be removed")
            printer.finish()
            return EXIT_PARTIAL
    client.delete_bucket(oss.models.DeleteBucketRequest(bucket=url.bucket))
    printer.finish()
    return EXIT_OK


# == ls =============================================================================================
_LS_HEAD = "%-30s%12s  %12s   %-36s  %-12s  %s"


def run_ls(args, settings: Settings) -> int:
    url = parse_url(args.url, need_bucket=False) if args.url else OssUrl(None)
    printer = Printer(settings)
    structured = settings.output_format != "raw" or bool(settings.output_query)
    if settings.dry_run:
        what = ("buckets" if url.bucket is None else
                "objects and multipart uploads" if args.all_type else
                "multipart uploads" if args.multipart else "objects")
        return dry_run(printer, f"list {what}" + (f" under {url}" if url.bucket else ""))
    client = make_client(settings)
    if url.bucket is None:
        return _ls_buckets(args, client, printer, structured)
    if args.multipart or args.all_type:
        code = _ls_uploads(args, client, url, printer, structured, trailer=not args.all_type)
        if not args.all_type:
            return code
    return _ls_objects(args, client, url, printer, structured)


def _ls_buckets(args, client, printer: Printer, structured: bool) -> int:
    oss = _oss()
    rows = []
    limit = args.limited_num
    req = oss.models.ListBucketsRequest(prefix=None, marker=args.start_after or None)
    for page in client.list_buckets_paginator().iter_page(req):
        for b in page.buckets or ():
            if limit is not None and len(rows) >= limit:
                break
            rows.append(b)
        if limit is not None and len(rows) >= limit:
            break
    if structured:
        printer.document({"Buckets": [{"Name": b.name, "Location": b.location, "Region": b.region,
                                       "StorageClass": b.storage_class, "CreationDate": iso_time(b.creation_date),
                                       "Url": f"oss://{b.name}"} for b in rows],
                          "BucketNumber": len(rows)})
    else:
        lines = []
        if rows and not args.short_format:
            lines.append("%-30s %20s%s%12s%s%s" % ("CreationTime", "Region", "    ", "StorageClass", "    ",
                                                   "BucketName"))
        for b in rows:
            if args.short_format:
                lines.append(f"oss://{b.name}")
            else:
                lines.append("%-30s %20s%s%12s%s%s" % (local_time(b.creation_date), b.location or "", "    ",
                                                       b.storage_class or "", "    ", f"oss://{b.name}"))
        lines.append(f"Bucket Number is: {len(rows)}")
        printer.write_text("\n".join(lines))
    printer.finish()
    return EXIT_OK


def _ls_uploads(args, client, url: OssUrl, printer: Printer, structured: bool, trailer: bool) -> int:
    flt = Filter(args.include, args.exclude)
    rows = []
    for up in iter_uploads(client, url.bucket, url.key):
        if args.limited_num is not None and len(rows) >= args.limited_num:
            break
        if flt and not flt.match(up.key[len(url.key):]):
            continue
        rows.append(up)
    if structured:
        printer.document({"Uploads": [{"Key": u.key, "UploadId": u.upload_id,
                                       "Initiated": iso_time(u.initiated), "Url": url.of(u.key)} for u in rows],
                          "UploadNumber": len(rows)})
    else:
        lines = []
        if rows and not args.short_format:
            lines.append("%-30s   %-32s   %s" % ("InitiatedTime", "UploadID", "ObjectName"))
        for u in rows:
            if args.short_format:
                lines.append(f"{u.upload_id}   {url.of(u.key)}")
            else:
                lines.append("%-30s   %-32s   %s" % (local_time(u.initiated), u.upload_id, url.of(u.key)))
        lines.append(f"UploadId Number is: {len(rows)}")
        printer.write_text("\n".join(lines))
    if trailer:
        printer.finish()
    return EXIT_OK


def _ls_objects(args, client, url: OssUrl, printer: Printer, structured: bool) -> int:
    flt = Filter(args.include, args.exclude)
    limit = args.limited_num
    delimiter = "/" if args.directory else None
    objects: list = []
    dirs: list[str] = []
    header_done = False
    count = 0
    stream = not structured

    def emit(line: str) -> None:
        printer.write_text(line)

    page_size = 1000 if limit is None or flt else max(1, min(1000, limit))
    for contents, prefixes in iter_objects(client, url.bucket, url.key, delimiter, args.start_after,
                                           page_size):
        if limit is not None and count >= limit:
            break
        entries = [("o", o.key, o) for o in contents] + [("d", p, None) for p in prefixes]
        if prefixes:
            entries.sort(key=lambda e: e[1])
        for kind, key, obj in entries:
            if limit is not None and count >= limit:
                break
            if flt and not flt.match(key[len(url.key):]):
                continue
            count += 1
            if kind == "d":
                dirs.append(key)
                if stream:
                    emit(url.of(key))
                continue
            objects.append(obj)
            if not stream:
                continue
            if args.short_format or args.directory:
                emit(url.of(key))
                continue
            if not header_done:
                emit(_LS_HEAD % ("LastModifiedTime", "Size(B)", "StorageClass", "ETAG", "ObjectType",
                                 "ObjectName"))
                header_done = True
            emit(_LS_HEAD % (local_time(obj.last_modified), obj.size, obj.storage_class or "",
                             (obj.etag or "").strip('"'), obj.object_type or "", url.of(key)))
    if structured:
        doc = {"Objects": [{"Key": o.key, "Url": url.of(o.key), "Size": o.size,
                            "LastModified": iso_time(o.last_modified), "StorageClass": o.storage_class,
                            "ETag": (o.etag or "").strip('"'), "ObjectType": o.object_type}
                           for o in objects]}
        if args.directory:
            doc["Directories"] = [url.of(d) for d in dirs]
            doc["ObjectAndDirectoryNumber"] = count
        else:
            doc["ObjectNumber"] = count
        printer.document(doc)
    elif args.directory:
        emit(f"Object and Directory Number is: {count}")
    else:
        emit(f"Object Number is: {count}")
    printer.finish()
    return EXIT_OK


# == stat ===========================================================================================
_STAT_SKIP = {"date", "x-oss-request-id", "server", "x-oss-server-time", "connection", "keep-alive"}


def run_stat(args, settings: Settings) -> int:
    url = parse_url(args.url)
    printer = Printer(settings)
    if settings.dry_run:
        return dry_run(printer, f"show {'bucket' if not url.key else 'object'} {url}")
    client = make_client(settings)
    oss = _oss()
    if not url.key:
        info = client.get_bucket_info(oss.models.GetBucketInfoRequest(bucket=url.bucket)).bucket_info
        sse = getattr(info, "sse_rule", None)
        fields = [("Name", info.name), ("Location", info.location),
                  ("CreationDate", local_time(info.creation_date) if info.creation_date else None),
                  ("ExtranetEndpoint", info.extranet_endpoint), ("IntranetEndpoint", info.intranet_endpoint),
                  ("ACL", info.acl), ("Owner", info.owner.id if info.owner else None),
                  ("StorageClass", info.storage_class), ("RedundancyType", info.data_redundancy_type),
                  ("SSEAlgorithm", getattr(sse, "sse_algorithm", None)),
                  ("KMSMasterKeyID", getattr(sse, "kms_master_key_id", None)),
                  ("Versioning", info.versioning), ("TransferAcceleration", info.transfer_acceleration),
                  ("CrossRegionReplication", info.cross_region_replication),
                  ("AccessMonitor", info.access_monitor)]
        fields = [(k, str(v)) for k, v in fields if v not in (None, "")]
        doc = dict(fields)
        if settings.output_format == "raw" and not settings.output_query:
            printer.write_text("\n".join("%-22s: %s" % kv for kv in fields))
        else:
            doc["CreationDate"] = iso_time(info.creation_date) or doc.get("CreationDate")
            printer.document(doc)
        printer.finish()
        return EXIT_OK
    head = client.head_object(oss.models.HeadObjectRequest(bucket=url.bucket, key=url.key,
                                                           version_id=args.version_id))
    attrs: dict[str, str] = {}
    for name, value in (head.headers or {}).items():
        if name.lower() in _STAT_SKIP:
            continue
        attrs[canonical_header(name)] = header_text(value)
    try:
        acl = client.get_object_acl(oss.models.GetObjectAclRequest(bucket=url.bucket, key=url.key,
                                                                   version_id=args.version_id))
        attrs["ACL"] = acl.acl or "default"
        if acl.owner is not None and acl.owner.id:
            attrs["Owner"] = acl.owner.id
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - the ACL is extra information (may be denied)
        pass
    if "Etag" in attrs:
        attrs["Etag"] = attrs["Etag"].strip('"')
    structured = settings.output_format != "raw" or bool(settings.output_query)
    if structured:
        printer.document({k: attrs[k] for k in sorted(attrs)})
    else:
        if "Last-Modified" in attrs:
            attrs["Last-Modified"] = local_time(attrs["Last-Modified"])
        width = max(len(k) for k in attrs) + 2
        printer.write_text("\n".join(f"{k:<{width}}: {attrs[k]}" for k in sorted(attrs)))
    printer.finish()
    return EXIT_OK


# == cat ============================================================================================
def run_cat(args, settings: Settings) -> int:
    url = parse_url(args.url, need_key=True)
    if args.head is not None and args.tail is not None:
        raise UsageError("--head and --tail cannot be used together")
    if (args.head is not None or args.tail is not None) and (args.offset is not None or args.count is not None):
        raise UsageError("--head/--tail cannot be combined with --offset/--count")
    printer = Printer(settings, object_data=not settings.dry_run)
    if settings.dry_run:
        return dry_run(printer, f"print {url}")
    oss = _oss()
    client = make_client(settings)
    head = client.head_object(oss.models.HeadObjectRequest(bucket=url.bucket, key=url.key,
                                                           version_id=args.version_id))
    size = int(head.content_length or 0)
    if args.head is not None:
        start, length = 0, min(args.head, size)
    elif args.tail is not None:
        length = min(args.tail, size)
        start = size - length
    elif args.offset is not None or args.count is not None:
        start = min(args.offset or 0, size)
        length = size - start if args.count is None else min(args.count, size - start)
    else:
        start, length = 0, size
    if length > 0:
        whole = start == 0 and length == size
        out = client.get_object(oss.models.GetObjectRequest(
            bucket=url.bucket, key=url.key, version_id=args.version_id,
            range_header=None if whole else f"bytes={start}-{start + length - 1}",
            range_behavior=None if whole else "standard"))
        for chunk in out.body.iter_bytes():
            printer.write_bytes(chunk)
    printer.finish()
    return EXIT_OK


# == rm =============================================================================================
def run_rm(args, settings: Settings) -> int:
    url = parse_url(args.url)
    printer = Printer(settings)
    objects_mode = args.all_type or not args.multipart
    uploads_mode = args.all_type or args.multipart
    if not url.key and not args.recursive:
        raise UsageError(f"'{url}' names a bucket: use rm -r to remove objects under it, or rb to remove "
                         "the bucket")
    if args.recursive and not args.force and not settings.dry_run:
        if not sys.stdin.isatty():
            raise UsageError("rm -r asks for confirmation and stdin is not a terminal: add -f/--force to "
                             "remove without asking")
        what = "objects" if not uploads_mode else ("multipart uploads" if not objects_mode
                                                  else "objects and multipart uploads")
        if not _confirm(f"Do you really mean to remove recursively {what} of {url}"):
            printer.write_text("Cancelled, nothing removed.")
            printer.finish()
            return EXIT_OK
    flt = Filter(args.include, args.exclude)
    if settings.dry_run:
        if args.recursive:
            what = " and ".join(w for w, on in (("every object", objects_mode),
                                                ("every multipart upload", uploads_mode)) if on)
            matching = " matching the filters" if flt else ""
            return dry_run(printer, f"remove {what} under {url}{matching}")
        what = " and ".join(w for w, on in ((f"remove {url}" + (f" (version {args.version_id})"
                                                                if args.version_id else ""), objects_mode),
                                            (f"abort the multipart uploads of {url}", uploads_mode)) if on)
        return dry_run(printer, what)
    client = make_client(settings)
    oss = _oss()

    if not args.recursive:
        if objects_mode:
            client.delete_object(oss.models.DeleteObjectRequest(bucket=url.bucket, key=url.key,
                                                                version_id=args.version_id))
        if uploads_mode:
            ups = [u for u in iter_uploads(client, url.bucket, url.key) if u.key == url.key]
            tally = Tally()
            abort_uploads(client, url.bucket, ups, tally)
            if tally.failed:
                printer.finish()
                return EXIT_PARTIAL
        printer.finish()
        return EXIT_OK

    objects, uploads = Tally(), Tally()
    if objects_mode:
        keys = _all_keys(client, url.bucket, url.key, flt if flt else None)
        delete_objects(client, url.bucket, keys, objects)
    if uploads_mode:
        ups = [u for u in iter_uploads(client, url.bucket, url.key)
               if not flt or flt.match(u.key[len(url.key):])]
        abort_uploads(client, url.bucket, ups, uploads)
    if not settings.quiet:
        parts = []
        if objects_mode:
            parts.append(f"Total {objects.total} objects, removed {objects.done} objects"
                         + (f", failed {objects.failed}" if objects.failed else ""))
        if uploads_mode:
            parts.append(f"Total {uploads.total} multipart uploads, removed {uploads.done} uploads"
                         + (f", failed {uploads.failed}" if uploads.failed else ""))
        head = "Success: " if not (objects.failed or uploads.failed) else "Failure: "
        printer.write_text(head + "; ".join(parts))
    printer.finish()
    return EXIT_PARTIAL if (objects.failed or uploads.failed) else EXIT_OK


# == cp: progress ===================================================================================
class Progress:
    """Aggregate progress of a cp run; drawn on stderr only when enabled (stderr is a TTY)."""

    def __init__(self, total_bytes: int, total_files: int, enabled: bool, stream=None):
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.bytes = 0
        self.files = 0
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.cancelled = False
        self.drawn = False

    def add(self, n: int) -> None:
        if self.cancelled:
            raise Cancelled("interrupted")
        if n <= 0:
            return
        with self.lock:
            self.bytes += n
            self._draw(False)

    def callback(self) -> Callable[[int, int, int], None]:
        """An SDK progress_fn(increment, transferred, total) feeding this bar."""
        return lambda increment, _transferred, _total: self.add(increment)

    def file_done(self) -> None:
        with self.lock:
            self.files += 1
            self._draw(False)

    def rate(self) -> float:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return self.bytes / elapsed

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        total = max(self.total_bytes, 1)
        frac = min(self.bytes / total, 1.0) if self.total_bytes else (1.0 if self.files >= self.total_files else 0.0)
        width = 24
        filled = int(frac * width)
        bar = "#" * filled + "-" * (width - filled)
        line = (f"\r[{bar}] {frac * 100:6.2f}%  {human(self.bytes)}/{human(self.total_bytes)}  "
                f"{human(self.rate())}/s  {self.files}/{self.total_files} files")
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def clear(self) -> None:
        """Erase the bar (before a prompt or a message)."""
        if self.enabled and self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.drawn = False

    def close(self) -> None:
        with self.lock:
            if self.enabled:
                self._draw(True)
                self.stream.write("\n")
                self.stream.flush()


# == cp: planning ===================================================================================
@dataclass
class Task:
    src: str                      # local path, or source key
    dst: str                      # destination key, or local path
    size: int = -1
    mtime: Optional[float] = None  # source modification time (epoch seconds)
    marker: bool = False           # a "directory" object (key ending in '/') downloaded as a folder


@dataclass
class Plan:
    kind: str                     # upload / download / copy
    tasks: list = field(default_factory=list)
    src_bucket: Optional[str] = None
    dst_bucket: Optional[str] = None
    batch: bool = False           # recursive: per-item failures give exit 4
    stdin_temp: Optional[str] = None


def _join_key(prefix: str, rel: str) -> str:
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix + rel


def _rel_under(key: str, prefix: str) -> str:
    return key[len(prefix):].lstrip("/")


def _safe_local(root: str, rel: str) -> str:
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError(f"object name '{rel}' would leave the destination directory")
    return os.path.join(root, *parts) if parts else root


def plan_cp(args, settings: Settings, client) -> Plan:
    src, dst = args.source, args.destination
    flt = Filter(args.include, args.exclude)
    if not is_oss(src) and not is_oss(dst):
        raise UsageError("cp needs at least one oss:// URL (local to local copies are not supported)")
    oss = _oss()
    if not is_oss(src):  # ---------------------------------------------------- upload
        dst_url = parse_url(dst)
        plan = Plan("upload", dst_bucket=dst_url.bucket)
        if src == "-":
            if not dst_url.key or dst_url.key.endswith("/"):
                raise UsageError("uploading stdin needs a full object name: cp - oss://bucket/key")
            fd, tmp = tempfile.mkstemp(prefix="ossbox-stdin-")
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(sys.stdin.buffer, f, 1 * MiB)
            plan.stdin_temp = tmp
            plan.tasks.append(Task(tmp, dst_url.key, os.path.getsize(tmp), time.time()))
            return plan
        if not os.path.lexists(src):
            raise UsageError(f"local path '{src}' does not exist")
        if os.path.isdir(src):
            if not args.recursive:
                raise UsageError(f"'{src}' is a directory: use -r to upload it")
            plan.batch = True
            for root, dirs, files in os.walk(src):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(root, name)
                    rel = os.path.relpath(path, src).replace(os.sep, "/")
                    if flt and not flt.match(rel):
                        continue
                    try:
                        st = os.stat(path)
                        size, mtime = st.st_size, st.st_mtime
                    except OSError:
                        size, mtime = 0, None  # e.g. a dangling symlink: fails when uploaded
                    plan.tasks.append(Task(path, _join_key(dst_url.key, rel), size, mtime))
            return plan
        key = dst_url.key
        if not key or key.endswith("/"):
            key += os.path.basename(os.path.abspath(src))
        st = os.stat(src)
        plan.tasks.append(Task(src, key, st.st_size, st.st_mtime))
        return plan

    src_url = parse_url(src)
    if is_oss(dst):  # -------------------------------------------------------- copy
        dst_url = parse_url(dst)
        plan = Plan("copy", src_bucket=src_url.bucket, dst_bucket=dst_url.bucket)
        if args.recursive:
            plan.batch = True
            for objects, _ in iter_objects(client, src_url.bucket, src_url.key):
                for o in objects:
                    rel = _rel_under(o.key, src_url.key)
                    if not rel or (flt and not flt.match(rel)):
                        continue
                    dkey = _join_key(dst_url.key, rel)
                    if src_url.bucket == dst_url.bucket and dkey == o.key:
                        raise UsageError(f"source and destination are the same object: {src_url.of(o.key)}")
                    plan.tasks.append(Task(o.key, dkey, int(o.size or 0), _timestamp(o.last_modified)))
            return plan
        if not src_url.key or src_url.key.endswith("/"):
            raise UsageError(f"'{src_url}' is a bucket or prefix: use -r to copy everything under it")
        dkey = dst_url.key
        if not dkey or dkey.endswith("/"):
            dkey += src_url.key.rsplit("/", 1)[-1]
        if src_url.bucket == dst_url.bucket and dkey == src_url.key:
            raise UsageError(f"source and destination are the same object: {src_url}")
        head = client.head_object(oss.models.HeadObjectRequest(bucket=src_url.bucket, key=src_url.key))
        plan.tasks.append(Task(src_url.key, dkey, int(head.content_length or 0), _timestamp(head.last_modified)))
        return plan

    plan = Plan("download", src_bucket=src_url.bucket)  # ---------------------- download
    if args.recursive:
        plan.batch = True
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise UsageError(f"destination '{dst}' is a file: a recursive download needs a directory")
        for objects, _ in iter_objects(client, src_url.bucket, src_url.key):
            for o in objects:
                rel = _rel_under(o.key, src_url.key)
                if not rel or (flt and not flt.match(rel)):
                    continue
                plan.tasks.append(Task(o.key, rel, int(o.size or 0), _timestamp(o.last_modified),
                                       marker=o.key.endswith("/")))
        for t in plan.tasks:  # resolved late so a bad name fails only its own item
            try:
                t.dst = _safe_local(dst, t.dst)
            except ValueError as exc:
                t.dst = "\0" + str(exc)
        return plan
    if not src_url.key or src_url.key.endswith("/"):
        raise UsageError(f"'{src_url}' is a bucket or prefix: use -r to download everything under it")
    head = client.head_object(oss.models.HeadObjectRequest(bucket=src_url.bucket, key=src_url.key))
    target = dst
    if dst == "-":
        target = "-"
    elif os.path.isdir(dst) or dst.endswith(("/", os.sep)):
        target = os.path.join(dst, src_url.key.rsplit("/", 1)[-1])
    plan.tasks.append(Task(src_url.key, target, int(head.content_length or 0), _timestamp(head.last_modified)))
    return plan


# == cp: execution ==================================================================================
class Copier:
    """Runs a plan: existence policy, simple or multipart transfer, counters, progress."""

    def __init__(self, args, settings: Settings, client, plan: Plan, printer: Printer):
        self.args, self.settings, self.client, self.plan, self.printer = args, settings, client, plan, printer
        self.threshold = args.bigfile_threshold if args.bigfile_threshold is not None else DEFAULT_BIGFILE_THRESHOLD
        self.part_size = args.part_size
        self.parallel = args.parallel
        show = (not args.no_progress and not settings.quiet and sys.stderr.isatty())
        self.progress = Progress(sum(max(t.size, 0) for t in plan.tasks), len(plan.tasks), show)
        self.lock = threading.Lock()
        self.prompt_lock = threading.Lock()
        self.ok = self.skipped = self.failed = 0
        self.ok_bytes = 0
        self.first_error: Optional[BaseException] = None
        self.metadata = _metadata(args.metadata)

    # -- helpers ---------------------------------------------------------------------------------
    def part_size_for(self, size: int) -> int:
        ps = self.part_size or max(MIN_PART_SIZE, min(8 * MiB, -(-size // 4)))
        while -(-size // ps) > MAX_PARTS:
            ps *= 2
        return ps

    def _label(self, t: Task) -> tuple[str, str]:
        p = self.plan
        if p.kind == "upload":
            return (t.src if not p.stdin_temp else "-"), f"oss://{p.dst_bucket}/{t.dst}"
        if p.kind == "download":
            return f"oss://{p.src_bucket}/{t.src}", t.dst
        return f"oss://{p.src_bucket}/{t.src}", f"oss://{p.dst_bucket}/{t.dst}"

    def _dest_mtime(self, t: Task) -> tuple[bool, Optional[float]]:
        """(exists, modification time) of the destination."""
        if self.plan.kind == "download":
            if t.dst == "-":
                return False, None
            try:
                return True, os.stat(t.dst).st_mtime
            except FileNotFoundError:
                return False, None
        oss = _oss()
        try:
            head = self.client.head_object(oss.models.HeadObjectRequest(bucket=self.plan.dst_bucket, key=t.dst))
        except Exception as exc:  # noqa: BLE001
            if is_not_found(exc):
                return False, None
            raise
        return True, _timestamp(head.last_modified)

    def _should_copy(self, t: Task) -> bool:
        a = self.args
        interactive = sys.stdin.isatty()
        if (a.force or not interactive) and not a.update and not a.ignore_existing:
            return True  # scripts overwrite, as ossutil does; only a terminal is asked
        exists, dst_mtime = self._dest_mtime(t)
        if not exists:
            return True
        src_label, dst_label = self._label(t)
        if a.ignore_existing:
            return False
        if a.update:
            return t.mtime is None or dst_mtime is None or t.mtime > dst_mtime
        with self.prompt_lock:
            self.progress.clear()
            return _confirm(f"cp: overwrite \"{dst_label}\"")

    # -- transfers -------------------------------------------------------------------------------
    def _upload(self, t: Task) -> None:
        oss = _oss()
        a = self.args
        req = oss.models.PutObjectRequest(bucket=self.plan.dst_bucket, key=t.dst, acl=a.acl,
                                          storage_class=a.storage_class, metadata=self.metadata or None,
                                          content_type=a.content_type, progress_fn=self.progress.callback())
        size = os.path.getsize(t.src)
        if size >= self.threshold:
            up = self.client.uploader(part_size=self.part_size_for(size), parallel_num=self.parallel,
                                      enable_checkpoint=bool(a.checkpoint_dir), checkpoint_dir=a.checkpoint_dir)
            up.upload_file(req, t.src)
        else:
            with open(t.src, "rb") as f:
                req.body = f
                self.client.put_object(req)

    def _download(self, t: Task) -> None:
        oss = _oss()
        if t.dst.startswith("\0"):
            raise ValueError(t.dst[1:])
        if t.marker:
            os.makedirs(t.dst, exist_ok=True)
            return
        if t.dst == "-":
            out = self.client.get_object(oss.models.GetObjectRequest(bucket=self.plan.src_bucket, key=t.src))
            for chunk in out.body.iter_bytes():
                self.printer.write_bytes(chunk)
                self.progress.add(len(chunk))
            return
        parent = os.path.dirname(t.dst)
        if parent:
            os.makedirs(parent, exist_ok=True)
        if t.size >= self.threshold:
            req = oss.models.GetObjectRequest(bucket=self.plan.src_bucket, key=t.src,
                                              progress_fn=self.progress.callback())
            dl = self.client.downloader(part_size=self.part_size_for(t.size), parallel_num=self.parallel,
                                        enable_checkpoint=bool(self.args.checkpoint_dir),
                                        checkpoint_dir=self.args.checkpoint_dir)
            dl.download_file(req, t.dst)
            return
        tmp = f"{t.dst}.ossbox-{uuid.uuid4().hex[:8]}.tmp"
        try:
            out = self.client.get_object(oss.models.GetObjectRequest(bucket=self.plan.src_bucket, key=t.src))
            crc = 0
            with open(tmp, "wb") as f:
                for chunk in out.body.iter_bytes():
                    f.write(chunk)
                    crc = _crc64(chunk, crc)
                    self.progress.add(len(chunk))
            expected = (out.headers or {}).get("x-oss-hash-crc64ecma")
            if expected and crc is not None and str(crc) != str(expected).strip():
                raise IOError(f"CRC-64 mismatch downloading oss://{self.plan.src_bucket}/{t.src}: "
                              f"local {crc}, server {expected}")
            os.replace(tmp, t.dst)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _copy(self, t: Task) -> None:
        oss = _oss()
        a = self.args
        req = oss.models.CopyObjectRequest(
            bucket=self.plan.dst_bucket, key=t.dst, source_bucket=self.plan.src_bucket, source_key=t.src,
            acl=a.acl, storage_class=a.storage_class, metadata=self.metadata or None,
            metadata_directive="REPLACE" if (self.metadata or a.content_type) else None,
            content_type=a.content_type, progress_fn=self.progress.callback())
        copier = self.client.copier(part_size=self.part_size_for(max(t.size, 1)), parallel_num=self.parallel,
                                    multipart_copy_threshold=max(self.threshold - 1, 1),
                                    disable_shallow_copy=True)
        copier.copy(req)

    def run_task(self, t: Task) -> None:
        src_label, dst_label = self._label(t)
        try:
            if not self._should_copy(t):
                with self.lock:
                    self.skipped += 1
                self.progress.add(max(t.size, 0))
                self.progress.file_done()
                return
            {"upload": self._upload, "download": self._download, "copy": self._copy}[self.plan.kind](t)
            with self.lock:
                self.ok += 1
                self.ok_bytes += max(t.size, 0)
            self.progress.file_done()
        except (KeyboardInterrupt, Cancelled):
            raise
        except Exception as exc:  # noqa: BLE001 - counted; exit status decided at the end
            with self.lock:
                self.failed += 1
                if self.first_error is None:
                    self.first_error = exc
            self.progress.clear()
            if self.plan.batch:
                print_error(f"{src_label} -> {dst_label}: {brief(exc)}")
            self.progress.file_done()

    def run(self) -> None:
        tasks = self.plan.tasks
        jobs = max(1, self.args.job)
        if jobs == 1 or len(tasks) <= 1:
            for t in tasks:
                self.run_task(t)
            return
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            for future in [pool.submit(self.run_task, t) for t in tasks]:
                future.result()
        except BaseException:
            self.progress.cancelled = True
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def summary(self, elapsed: float) -> str:
        n = len(self.plan.tasks)
        verb, unit = {"upload": ("Upload", "objects"), "download": ("Download", "files"),
                      "copy": ("Copy", "objects")}[self.plan.kind]
        total = sum(max(t.size, 0) for t in self.plan.tasks)
        head = "Success" if not self.failed else "Failure"
        line = (f"{head}: Total {n} file{'s' if n != 1 else ''}, size {human(total)}, "
                f"{verb} done:({self.ok} {unit}, {human(self.ok_bytes)})")
        if self.skipped:
            line += f", Skipped: {self.skipped}"
        if self.failed:
            line += f", Failed: {self.failed}"
        return line + f", avg {human(self.ok_bytes / max(elapsed, 1e-6))}/s"


def _crc64(data: bytes, crc: Optional[int]) -> Optional[int]:
    if crc is None:
        return None
    try:
        import fastcrc
    except ImportError:  # pragma: no cover - fastcrc is a dependency; verification is a bonus
        return None
    return fastcrc.crc64.xz(data, crc) if data else crc


def _metadata(items) -> dict:
    meta = {}
    for item in items or ():
        for part in item.split(","):
            if not part.strip():
                continue
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise UsageError(f"--metadata takes KEY=VALUE, got '{part}'")
            k = k.strip()
            if k.lower().startswith("x-oss-meta-"):
                k = k[len("x-oss-meta-"):]
            meta[k] = v
    return meta


def _cp_dry_run_from_oss(args, printer: Printer) -> int:
    """cp --dry-run from oss://: the plan without the listing or HEAD a real run starts with."""
    src = parse_url(args.source)
    dst = args.destination
    verb = "copy" if is_oss(dst) else "download"
    if is_oss(dst):
        parse_url(dst)
    if args.recursive:
        matching = " matching the filters" if Filter(args.include, args.exclude) else ""
        return dry_run(printer, f"{verb} every object under {src}{matching} -> {dst}")
    if not src.key or src.key.endswith("/"):
        raise UsageError(f"'{src}' is a bucket or prefix: use -r to {verb} everything under it")
    return dry_run(printer, f"{verb} {src} -> {dst}")


def run_cp(args, settings: Settings) -> int:
    if args.part_size is not None and not MIN_PART_SIZE <= args.part_size <= MAX_PART_SIZE:
        raise UsageError(f"--part-size must be between {human(MIN_PART_SIZE)} and {human(MAX_PART_SIZE)}")
    if args.parallel < 1 or args.job < 1:
        raise UsageError("--parallel and --job must be at least 1")
    _metadata(args.metadata)  # validate before any request
    printer = Printer(settings)
    if settings.dry_run and is_oss(args.source):
        return _cp_dry_run_from_oss(args, printer)
    client = None if settings.dry_run else make_client(settings)   # an upload plan needs no client
    plan = plan_cp(args, settings, client)
    try:
        if settings.dry_run:
            verb = {"upload": "upload", "download": "download", "copy": "copy"}[plan.kind]
            copier = Copier(args, settings, client, plan, printer)
            for t in plan.tasks:
                s, d = copier._label(t)
                printer.write_text(f"(dry run) would {verb} {s} -> {d} ({human(max(t.size, 0))})")
            printer.write_text(f"(dry run) Total {len(plan.tasks)} files, size "
                               f"{human(sum(max(t.size, 0) for t in plan.tasks))}")
            printer.finish()
            return EXIT_OK
        copier = Copier(args, settings, client, plan, printer)
        started = time.monotonic()
        try:
            copier.run()
        finally:
            copier.progress.close()
        to_stdout = plan.kind == "download" and plan.tasks and plan.tasks[0].dst == "-"
        printer.object_data = bool(to_stdout)
        if not plan.batch and copier.failed:
            return fail(copier.first_error)
        if not settings.quiet and not to_stdout:
            printer.write_text(copier.summary(time.monotonic() - started))
        printer.finish()
        return EXIT_PARTIAL if copier.failed else EXIT_OK
    finally:
        if plan.stdin_temp:
            try:
                os.unlink(plan.stdin_temp)
            except OSError:
                pass


# == registration ===================================================================================
def register(sub, add_globals) -> None:
    """Registers mb, rb, ls, stat, cat, rm and cp."""
    p = sub.add_parser("mb", help="create a bucket",
                       description="Create a bucket: ossbox mb oss://bucket [--acl ACL] [--storage-class SC]")
    p.add_argument("url", metavar="oss://bucket")
    p.add_argument("--acl", type=_choice(BUCKET_ACLS), help="private (default), public-read, public-read-write")
    p.add_argument("--storage-class", type=_choice(STORAGE_CLASSES),
                   help="Standard (default), IA, Archive, ColdArchive, DeepColdArchive")
    p.add_argument("--redundancy-type", type=_choice(REDUNDANCY_TYPES), help="LRS (default) or ZRS")
    add_globals(p)
    p.set_defaults(func=run_mb)

    p = sub.add_parser("rb", help="delete a bucket",
                       description="Delete a bucket. With -f/--force (or --all), its objects and "
                                   "unfinished multipart uploads are removed first.")
    p.add_argument("url", metavar="oss://bucket")
    p.add_argument("-f", "--force", action="store_true", help="remove all objects and multipart uploads first")
    p.add_argument("--all", action="store_true", help="same as --force")
    add_globals(p)
    p.set_defaults(func=run_rb)

    p = sub.add_parser("ls", help="list buckets, objects or multipart uploads",
                       description="List buckets (no URL or oss://), objects under oss://bucket[/prefix] "
                                   "(recursively, or one level with -d), or multipart uploads (-m).")
    p.add_argument("url", nargs="?", metavar="oss://bucket[/prefix]")
    p.add_argument("-s", "--short-format", action="store_true", help="names only")
    p.add_argument("-d", "--directory", "--dirs", dest="directory", action="store_true",
                   help="one level: objects and sub-directories (common prefixes with '/')")
    p.add_argument("-m", "--multipart", action="store_true", help="list unfinished multipart uploads")
    p.add_argument("-a", "--all-type", action="store_true", help="list objects and multipart uploads")
    p.add_argument("--limited-num", type=_non_negative, metavar="N", help="at most N results")
    p.add_argument("--start-after", "--marker", dest="start_after", metavar="KEY",
                   help="list names after KEY")
    _add_filters(p)
    add_globals(p)
    p.set_defaults(func=run_ls)

    p = sub.add_parser("stat", help="bucket or object information",
                       description="Show a bucket's information (oss://bucket) or an object's metadata "
                                   "(oss://bucket/key).")
    p.add_argument("url", metavar="oss://bucket[/key]")
    p.add_argument("--version-id", help="an object version")
    add_globals(p)
    p.set_defaults(func=run_stat)

    p = sub.add_parser("cat", help="print an object to stdout",
                       description="Write an object's bytes to stdout (binary-safe; use -q to drop the "
                                   "elapsed line).")
    p.add_argument("url", metavar="oss://bucket/key")
    p.add_argument("--head", type=_non_negative, metavar="N", help="only the first N bytes")
    p.add_argument("--tail", type=_non_negative, metavar="N", help="only the last N bytes")
    p.add_argument("--offset", type=_non_negative, metavar="O", help="start at byte O")
    p.add_argument("--count", type=_non_negative, metavar="C", help="at most C bytes (with --offset)")
    p.add_argument("--version-id", help="an object version")
    add_globals(p)
    p.set_defaults(func=run_cat)

    p = sub.add_parser("rm", help="remove objects or multipart uploads",
                       description="Remove an object, everything under a prefix (-r), or unfinished "
                                   "multipart uploads (-m; -a for both).")
    p.add_argument("url", metavar="oss://bucket[/key|/prefix]")
    p.add_argument("-r", "--recursive", action="store_true", help="everything under the prefix")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("-m", "--multipart", action="store_true", help="remove multipart uploads instead of objects")
    p.add_argument("-a", "--all-type", action="store_true", help="remove objects and multipart uploads")
    p.add_argument("--version-id", help="an object version (single object)")
    _add_filters(p)
    add_globals(p)
    p.set_defaults(func=run_rm)

    p = sub.add_parser("cp", help="upload, download or copy objects",
                       description="Copy local file -> oss://, oss:// -> local file, or oss:// -> oss:// "
                                   "(server side). -r for directories and prefixes.")
    p.add_argument("source", metavar="SOURCE", help="local path, - (stdin), or oss://bucket[/key]")
    p.add_argument("destination", metavar="DEST", help="oss://bucket[/key], local path, or - (stdout)")
    p.add_argument("-r", "--recursive", action="store_true", help="copy directories / prefixes")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing destinations without asking")
    p.add_argument("-u", "--update", action="store_true",
                   help="copy only when the source is newer than the destination (or it is missing)")
    p.add_argument("--ignore-existing", action="store_true", help="skip destinations that exist")
    p.add_argument("--bigfile-threshold", type=parse_size, metavar="SIZE",
                   help="files of this size or more go multipart (default 100M)")
    p.add_argument("--part-size", type=parse_size, metavar="SIZE",
                   help="multipart part size (default: automatic; 100K to 5G)")
    p.add_argument("--parallel", type=int, default=3, metavar="N", help="parts in flight per file (default 3)")
    p.add_argument("-j", "--job", type=int, default=3, metavar="N", help="files in flight (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--checkpoint-dir", metavar="DIR", help="resumable multipart transfers (checkpoint files)")
    p.add_argument("--acl", type=_choice(OBJECT_ACLS), help="object ACL (upload and copy)")
    p.add_argument("--storage-class", type=_choice(STORAGE_CLASSES), help="storage class (upload and copy)")
    p.add_argument("--content-type", help="Content-Type (upload and copy)")
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE",
                   help="user metadata x-oss-meta-KEY (repeatable, or comma-separated)")
    _add_filters(p)
    add_globals(p)
    p.set_defaults(func=run_cp)
