"""cat: an object's bytes (or a range of them) to stdout."""
from __future__ import annotations

from .arguments import non_negative
from .output import EXIT_OK, Printer, dry_run
from .sdk import sdk
from .settings import Settings, UsageError, make_client
from .urls import parse_url


def run_cat(args, settings: Settings) -> int:
    url = parse_url(args.url, need_key=True)
    if args.head is not None and args.tail is not None:
        raise UsageError("--head and --tail cannot be used together")
    if (args.head is not None or args.tail is not None) and (args.offset is not None or args.count is not None):
        raise UsageError("--head/--tail cannot be combined with --offset/--count")
    printer = Printer(settings, object_data=not settings.dry_run)
    if settings.dry_run:
        return dry_run(printer, f"print {url}")
    oss = sdk()
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


def register(sub, add_globals) -> None:
    """Registers cat."""
    p = sub.add_parser("cat", help="print an object to stdout",
                       description="Write an object's bytes to stdout (binary-safe; use -q to drop the "
                                   "elapsed line).")
    p.add_argument("url", metavar="oss://bucket/key")
    p.add_argument("--head", type=non_negative, metavar="N", help="only the first N bytes")
    p.add_argument("--tail", type=non_negative, metavar="N", help="only the last N bytes")
    p.add_argument("--offset", type=non_negative, metavar="O", help="start at byte O")
    p.add_argument("--count", type=non_negative, metavar="C", help="at most C bytes (with --offset)")
    p.add_argument("--version-id", help="an object version")
    add_globals(p)
    p.set_defaults(func=run_cat)
