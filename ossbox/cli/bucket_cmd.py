"""mb and rb: create and delete a bucket (rb -f empties it first)."""
from __future__ import annotations

from .arguments import BUCKET_ACLS, REDUNDANCY_TYPES, STORAGE_CLASSES, choice
from .batch_delete import Tally, abort_uploads, all_keys, delete_objects
from .output import EXIT_OK, EXIT_PARTIAL, Printer, dry_run, print_error
from .sdk import iter_uploads, sdk
from .settings import Settings, make_client
from .urls import parse_url


def run_mb(args, settings: Settings) -> int:
    url = parse_url(args.url, no_key=True)
    printer = Printer(settings)
    if settings.dry_run:
        extra = "".join(f", {k} {v}" for k, v in (("acl", args.acl), ("storage class", args.storage_class),
                                                   ("redundancy", args.redundancy_type)) if v)
        return dry_run(printer, f"create bucket {url}{extra}")
    oss = sdk()
    config = None
    if args.storage_class or args.redundancy_type:
        config = oss.models.CreateBucketConfiguration(storage_class=args.storage_class,
                                                      data_redundancy_type=args.redundancy_type)
    make_client(settings).put_bucket(oss.models.PutBucketRequest(
        bucket=url.bucket, acl=args.acl, create_bucket_configuration=config))
    printer.finish()
    return EXIT_OK


def run_rb(args, settings: Settings) -> int:
    url = parse_url(args.url, no_key=True)
    printer = Printer(settings)
    purge = args.force or args.all
    if settings.dry_run:
        return dry_run(printer, (f"remove every object and multipart upload of {url}, then " if purge else
                                 "remove ") + f"bucket {url}")
    oss = sdk()
    client = make_client(settings)
    if purge:
        objects, uploads = Tally(), Tally()
        delete_objects(client, url.bucket, all_keys(client, url.bucket), objects)
        abort_uploads(client, url.bucket, list(iter_uploads(client, url.bucket)), uploads)
        if objects.failed or uploads.failed:
            print_error(f"bucket {url} not removed: {objects.failed} objects and {uploads.failed} "
                        "multipart uploads could not be removed")
            printer.finish()
            return EXIT_PARTIAL
    client.delete_bucket(oss.models.DeleteBucketRequest(bucket=url.bucket))
    printer.finish()
    return EXIT_OK


def register(sub, add_globals) -> None:
    """Registers mb and rb."""
    p = sub.add_parser("mb", help="create a bucket",
                       description="Create a bucket: ossbox mb oss://bucket [--acl ACL] [--storage-class SC]")
    p.add_argument("url", metavar="oss://bucket")
    p.add_argument("--acl", type=choice(BUCKET_ACLS), help="private (default), public-read, public-read-write")
    p.add_argument("--storage-class", type=choice(STORAGE_CLASSES),
                   help="Standard (default), IA, Archive, ColdArchive, DeepColdArchive")
    p.add_argument("--redundancy-type", type=choice(REDUNDANCY_TYPES), help="LRS (default) or ZRS")
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
