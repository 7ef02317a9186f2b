"""stat: a bucket's information or an object's metadata."""
from __future__ import annotations

from .display import iso_time, local_time
from .output import EXIT_OK, Printer, canonical_header, dry_run, header_text
from .sdk import sdk
from .settings import Settings, make_client
from .urls import parse_url

_STAT_SKIP = {"date", "x-oss-request-id", "server", "x-oss-server-time", "connection", "keep-alive"}


def run_stat(args, settings: Settings) -> int:
    url = parse_url(args.url)
    printer = Printer(settings)
    if settings.dry_run:
        return dry_run(printer, f"show {'bucket' if not url.key else 'object'} {url}")
    client = make_client(settings)
    oss = sdk()
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


def register(sub, add_globals) -> None:
    """Registers stat."""
    p = sub.add_parser("stat", help="bucket or object information",
                       description="Show a bucket's information (oss://bucket) or an object's metadata "
                                   "(oss://bucket/key).")
    p.add_argument("url", metavar="oss://bucket[/key]")
    p.add_argument("--version-id", help="an object version")
    add_globals(p)
    p.set_defaults(func=run_stat)
