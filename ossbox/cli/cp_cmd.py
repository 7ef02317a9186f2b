"""cp: upload, download or server-side copy; plans the run (cp_plan.py), then runs it (copier.py)."""
from __future__ import annotations

import os
import time

from .arguments import OBJECT_ACLS, STORAGE_CLASSES, Filter, add_filters, choice, parse_size
from .copier import MAX_PART_SIZE, MIN_PART_SIZE, Copier, parse_metadata
from .cp_plan import plan_cp
from .display import human
from .output import EXIT_OK, EXIT_PARTIAL, Printer, dry_run
from .sdk import fail
from .settings import Settings, UsageError, make_client
from .urls import is_oss, parse_url


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
    parse_metadata(args.metadata)  # validate before any request
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


def register(sub, add_globals) -> None:
    """Registers cp."""
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
    p.add_argument("--acl", type=choice(OBJECT_ACLS), help="object ACL (upload and copy)")
    p.add_argument("--storage-class", type=choice(STORAGE_CLASSES), help="storage class (upload and copy)")
    p.add_argument("--content-type", help="Content-Type (upload and copy)")
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE",
                   help="user metadata x-oss-meta-KEY (repeatable, or comma-separated)")
    add_filters(p)
    add_globals(p)
    p.set_defaults(func=run_cp)
