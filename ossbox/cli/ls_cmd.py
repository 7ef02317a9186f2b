"""ls: buckets, objects (recursively or one level) and multipart uploads, in ossutil's layout or
as a document (--output-format)."""
from __future__ import annotations

from .arguments import Filter, add_filters, non_negative
from .display import iso_time, local_time
from .output import EXIT_OK, Printer, dry_run
from .sdk import iter_objects, iter_uploads, sdk
from .settings import Settings, make_client
from .urls import OssUrl, parse_url

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
    oss = sdk()
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


def register(sub, add_globals) -> None:
    """Registers ls."""
    p = sub.add_parser("ls", help="list buckets, objects or multipart uploads",
                       description="List buckets (no URL or oss://), objects under oss://bucket[/prefix] "
                                   "(recursively, or one level with -d), or multipart uploads (-m).")
    p.add_argument("url", nargs="?", metavar="oss://bucket[/prefix]")
    p.add_argument("-s", "--short-format", action="store_true", help="names only")
    p.add_argument("-d", "--directory", "--dirs", dest="directory", action="store_true",
                   help="one level: objects and sub-directories (common prefixes with '/')")
    p.add_argument("-m", "--multipart", action="store_true", help="list unfinished multipart uploads")
    p.add_argument("-a", "--all-type", action="store_true", help="list objects and multipart uploads")
    p.add_argument("--limited-num", type=non_negative, metavar="N", help="at most N results")
    p.add_argument("--start-after", "--marker", dest="start_after", metavar="KEY",
                   help="list names after KEY")
    add_filters(p)
    add_globals(p)
    p.set_defaults(func=run_ls)
