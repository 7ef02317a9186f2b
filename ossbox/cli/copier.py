"""cp's execution: runs a plan's tasks (in parallel with -j), deciding per destination whether to
overwrite, and moving each file simply or multipart through the SDK's uploader, downloader and copier."""
from __future__ import annotations

import os
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from .arguments import GiB, KiB, MiB
from .cp_plan import Plan, Task
from .display import confirm, human, timestamp
from .output import Printer, print_error
from .progress import Cancelled, Progress
from .sdk import brief, is_not_found, sdk
from .settings import Settings, UsageError

DEFAULT_BIGFILE_THRESHOLD = 100 * MiB
MIN_PART_SIZE, MAX_PART_SIZE, MAX_PARTS = 100 * KiB, 5 * GiB, 10000


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
        self.metadata = parse_metadata(args.metadata)

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
        oss = sdk()
        try:
            head = self.client.head_object(oss.models.HeadObjectRequest(bucket=self.plan.dst_bucket, key=t.dst))
        except Exception as exc:  # noqa: BLE001
            if is_not_found(exc):
                return False, None
            raise
        return True, timestamp(head.last_modified)

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
            return confirm(f"cp: overwrite \"{dst_label}\"")

    # -- transfers -------------------------------------------------------------------------------
    def _upload(self, t: Task) -> None:
        oss = sdk()
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
        oss = sdk()
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
        oss = sdk()
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


def parse_metadata(items) -> dict:
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
