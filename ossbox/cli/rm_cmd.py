"""rm: an object, everything under a prefix (-r), or multipart uploads (-m, -a)."""
from __future__ import annotations

import sys

from .arguments import Filter, add_filters
from .batch_delete import Tally, abort_uploads, all_keys, delete_objects
from .display import confirm
from .output import EXIT_OK, EXIT_PARTIAL, Printer, dry_run
from .sdk import iter_uploads, sdk
from .settings import Settings, UsageError, make_client
from .urls import parse_url


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
        if not confirm(f"Do you really mean to remove recursively {what} of {url}"):
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
    oss = sdk()

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
        keys = all_keys(client, url.bucket, url.key, flt if flt else None)
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


def register(sub, add_globals) -> None:
    """Registers rm."""
    p = sub.add_parser("rm", help="remove objects or multipart uploads",
                       description="Remove an object, everything under a prefix (-r), or unfinished "
                                   "multipart uploads (-m; -a for both).")
    p.add_argument("url", metavar="oss://bucket[/key|/prefix]")
    p.add_argument("-r", "--recursive", action="store_true", help="everything under the prefix")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("-m", "--multipart", action="store_true", help="remove multipart uploads instead of objects")
    p.add_argument("-a", "--all-type", action="store_true", help="remove objects and multipart uploads")
    p.add_argument("--version-id", help="an object version (single object)")
    add_filters(p)
    add_globals(p)
    p.set_defaults(func=run_rm)
