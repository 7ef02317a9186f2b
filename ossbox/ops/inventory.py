"""PutBucketInventory / GetBucketInventory / DeleteBucketInventory / ListBucketInventory.

The configurations are kept in BucketRecord.config["inventory"] = {Id: normalized dict}; the
reports are produced by storage/inventory.py. Limits follow OSS's PutBucketInventory page: at
most 1000 configurations per bucket, an Id that exists already is 409 InventoryAlreadyExist,
ListBucketInventory pages 100 configurations at a time with a continuation token.
"""
from __future__ import annotations

import re

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import bucket_config, common

MAX_INVENTORIES = 1000
LIST_PAGE = 100
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
FREQUENCIES = ("Daily", "Weekly")
VERSIONS = ("All", "Current")
FIELDS = ("Size", "LastModifiedDate", "ETag", "StorageClass", "IsMultipartUploaded", "EncryptionStatus",
          "ObjectAcl", "TaggingCount", "ObjectType", "Crc64")
CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
ARN_PREFIX = "acs:oss:::"


def _bad(message: str, name: str, value) -> errors.OssError:
    return errors.InvalidArgument(message, ArgumentName=name, ArgumentValue=str(value)[:256])


def _one(node, tag: str, required: bool = True):
    found = xml.children(node, tag)
    if len(found) > 1 or (required and not found):
        raise errors.MalformedXML()
    return found[0] if found else None


def _number(node, tag: str):
    text = xml.child_text(node, tag)
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise _bad(f"{tag} must be an integer.", tag, text)
    if value < 0:
        raise _bad(f"{tag} must not be negative.", tag, text)
    return value


async def parse_inventory(req: Request, body: bytes) -> dict:
    root = xml.parse(body, "InventoryConfiguration")
    inv_id = xml.child_text(root, "Id") or ""
    if not _ID.fullmatch(inv_id):
        raise _bad("The inventory Id must be 1 to 64 letters, digits, '.', '_' or '-'.", "Id", inv_id)
    if inv_id != req.query.get("inventoryId"):
        raise _bad("The inventoryId parameter must equal the configuration's Id.", "inventoryId",
                   req.query.get("inventoryId", ""))
    enabled = (xml.child_text(root, "IsEnabled") or "").strip().lower()
    if enabled not in ("true", "false"):
        raise _bad("IsEnabled must be true or false.", "IsEnabled", enabled)
    versions = xml.child_text(root, "IncludedObjectVersions")
    if versions not in VERSIONS:
        raise _bad("IncludedObjectVersions must be All or Current.", "IncludedObjectVersions", versions)
    schedule = _one(root, "Schedule")
    frequency = xml.child_text(schedule, "Frequency")
    if frequency not in FREQUENCIES:
        raise _bad("Frequency must be Daily or Weekly.", "Frequency", frequency)
    cfg = {"id": inv_id, "enabled": enabled == "true", "versions": versions, "frequency": frequency,
           "filter": _parse_filter(_one(root, "Filter", required=False)),
           "fields": _parse_fields(_one(root, "OptionalFields", required=False)),
           "destination": await _parse_destination(req, _one(_one(root, "Destination"), "OSSBucketDestination"))}
    return cfg


def _parse_filter(node) -> dict:
    if node is None:
        return {"prefix": ""}
    f = {"prefix": xml.child_text(node, "Prefix") or ""}
    for tag, name in (("LastModifyBeginTimeStamp", "begin"), ("LastModifyEndTimeStamp", "end"),
                      ("LowerSizeBound", "lower"), ("UpperSizeBound", "upper")):
        value = _number(node, tag)
        if value is not None:
            f[name] = value
    if "begin" in f and "end" in f and f["begin"] > f["end"]:
        raise _bad("LastModifyBeginTimeStamp must not be after LastModifyEndTimeStamp.",
                   "LastModifyBeginTimeStamp", f["begin"])
    if "lower" in f and "upper" in f and f["lower"] >= f["upper"]:
        raise _bad("LowerSizeBound must be less than UpperSizeBound.", "LowerSizeBound", f["lower"])
    classes = xml.child_text(node, "StorageClass")
    if classes is not None:
        chosen = {c.strip() for c in classes.split(",") if c.strip()}
        if not chosen or not chosen <= set(CLASSES):
            raise _bad("StorageClass must list storage classes separated by commas.", "StorageClass", classes)
        f["classes"] = sorted(chosen)
    return f


def _parse_fields(node) -> list:
    if node is None:
        return []
    fields = []
    for c in xml.children(node, "Field"):
        name = (c.text or "").strip()
        if name not in FIELDS:
            raise _bad("Unknown inventory OptionalFields Field.", "Field", name)
        if name not in fields:
            fields.append(name)
    return fields


async def _parse_destination(req: Request, node) -> dict:
    fmt = xml.child_text(node, "Format")
    if fmt != "CSV":
        raise _bad("The inventory Format must be CSV.", "Format", fmt)
    arn = xml.child_text(node, "Bucket") or ""
    if not arn.startswith(ARN_PREFIX) or not arn[len(ARN_PREFIX):]:
        raise _bad("The destination Bucket must be acs:oss:::<bucket>.", "Bucket", arn)
    bucket = arn[len(ARN_PREFIX):]
    source = await common.require_bucket(req)
    target = await req.server.engine.get_bucket(bucket)
    if target is None or target.region != source.region:
        # OSS: the destination bucket must exist in the source bucket's region
        raise _bad("The destination bucket does not exist or is in another region.", "Bucket", bucket)
    dest = {"bucket": bucket, "format": fmt, "prefix": xml.child_text(node, "Prefix") or "",
            "account": xml.child_text(node, "AccountId"), "role": xml.child_text(node, "RoleArn")}
    enc = _one(node, "Encryption", required=False)
    if enc is not None:
        kms, oss = xml.children(enc, "SSE-KMS"), xml.children(enc, "SSE-OSS")
        if len(kms) + len(oss) != 1:
            raise _bad("Encryption takes exactly one of SSE-OSS and SSE-KMS.", "Encryption", "")
        if kms:
            key_id = xml.child_text(kms[0], "KeyId") or ""
            if not key_id:
                raise _bad("SSE-KMS needs a KeyId.", "KeyId", "")
            dest["kms_key"] = key_id
        else:
            dest["sse_oss"] = True
    return dest


def render(cfg: dict) -> list:
    f = cfg["filter"]
    flt = [("Prefix", f.get("prefix")), ("LastModifyBeginTimeStamp", f.get("begin")),
           ("LastModifyEndTimeStamp", f.get("end")), ("LowerSizeBound", f.get("lower")),
           ("UpperSizeBound", f.get("upper")),
           ("StorageClass", ",".join(f["classes"]) if f.get("classes") else None)]
    d = cfg["destination"]
    enc = None
    if d.get("kms_key"):
        enc = [("SSE-KMS", [("KeyId", d["kms_key"])])]
    elif d.get("sse_oss"):
        enc = [("SSE-OSS", [])]
    dest = [("Format", d["format"]), ("AccountId", d.get("account")), ("RoleArn", d.get("role")),
            ("Bucket", ARN_PREFIX + d["bucket"]), ("Prefix", d["prefix"]), ("Encryption", enc)]
    return [("Id", cfg["id"]), ("IsEnabled", cfg["enabled"]), ("Filter", flt),
            ("Destination", [("OSSBucketDestination", dest)]), ("Schedule", [("Frequency", cfg["frequency"])]),
            ("IncludedObjectVersions", cfg["versions"]),
            ("OptionalFields", [("Field", name) for name in cfg["fields"]])]


def _inventory_id(req: Request) -> str:
    inv_id = req.query.get("inventoryId") or ""
    if not inv_id:
        raise _bad("The inventoryId parameter is required.", "inventoryId", "")
    return inv_id


async def put_bucket_inventory(req: Request) -> Response:
    rec = await common.require_bucket(req)
    cfg = await parse_inventory(req, await req.read_xml_body())
    configs = dict(rec.config.get("inventory") or {})
    if cfg["id"] in configs:
        raise errors.InventoryAlreadyExist(InventoryId=cfg["id"])
    if len(configs) >= MAX_INVENTORIES:
        raise errors.TooManyInventory()
    configs[cfg["id"]] = cfg
    await bucket_config.set_config(req, rec, "inventory", configs)
    return Response(200, {}, b"")


async def get_bucket_inventory(req: Request) -> Response:
    rec = await common.require_bucket(req)
    cfg = (rec.config.get("inventory") or {}).get(_inventory_id(req))
    if cfg is None:
        raise errors.NoSuchInventory(InventoryId=req.query.get("inventoryId"))
    return Response.xml(xml.document("InventoryConfiguration", render(cfg)))


async def delete_bucket_inventory(req: Request) -> Response:
    rec = await common.require_bucket(req)
    inv_id = _inventory_id(req)
    configs = dict(rec.config.get("inventory") or {})
    if configs.pop(inv_id, None) is not None:
        await bucket_config.set_config(req, rec, "inventory", configs or None)
    return Response(204, {}, b"")


async def list_bucket_inventory(req: Request) -> Response:
    rec = await common.require_bucket(req)
    configs = rec.config.get("inventory") or {}
    if not configs:
        raise errors.NoSuchInventory()
    token = req.query.get("continuation-token") or ""
    ids = sorted(i for i in configs if i >= token)   # the token is the first Id of the next page
    page, rest = ids[:LIST_PAGE], ids[LIST_PAGE:]
    out = [("InventoryConfiguration", render(configs[i])) for i in page]
    if token:
        out.append(("ContinuationToken", token))
    out.append(("IsTruncated", bool(rest)))
    if rest:
        out.append(("NextContinuationToken", rest[0]))
    return Response.xml(xml.document("ListInventoryConfigurationsResult", out))
