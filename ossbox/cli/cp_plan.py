"""cp's plan: which files or objects go where (upload, download or server-side copy), read from
the arguments, the local tree or the bucket listing before anything is transferred."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

from .arguments import MiB, Filter
from .display import timestamp
from .sdk import iter_objects, sdk
from .settings import Settings, UsageError
from .urls import is_oss, parse_url


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
    oss = sdk()
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
                    plan.tasks.append(Task(o.key, dkey, int(o.size or 0), timestamp(o.last_modified)))
            return plan
        if not src_url.key or src_url.key.endswith("/"):
            raise UsageError(f"'{src_url}' is a bucket or prefix: use -r to copy everything under it")
        dkey = dst_url.key
        if not dkey or dkey.endswith("/"):
            dkey += src_url.key.rsplit("/", 1)[-1]
        if src_url.bucket == dst_url.bucket and dkey == src_url.key:
            raise UsageError(f"source and destination are the same object: {src_url}")
        head = client.head_object(oss.models.HeadObjectRequest(bucket=src_url.bucket, key=src_url.key))
        plan.tasks.append(Task(src_url.key, dkey, int(head.content_length or 0), timestamp(head.last_modified)))
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
                plan.tasks.append(Task(o.key, rel, int(o.size or 0), timestamp(o.last_modified),
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
    plan.tasks.append(Task(src_url.key, target, int(head.content_length or 0), timestamp(head.last_modified)))
    return plan
