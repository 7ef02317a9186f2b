"""Bucket settings whose effect is on Alibaba Cloud's side (stored, validated as OSS validates them
and returned), and the ones with an effect here. docs/bucket-configs.md says which is which.

  ?httpsConfig              PutBucketHttpsConfig / GetBucketHttpsConfig       (stored)
  ?resourceGroup            PutBucketResourceGroup / GetBucketResourceGroup   (stored)
  ?transferAcceleration     PutBucketTransferAcceleration / Get...            (stored)
  ?accessmonitor            PutBucketAccessMonitor / Get...                   (in effect: last access times)
  ?bucketArchiveDirectRead  PutBucketArchiveDirectRead / Get...               (in effect: GetObject of Archive)
  ?policy&comp=callback     Put/Get/DeleteBucketCallbackPolicy                (in effect: {"callbackPolicy": name})
"""
from __future__ import annotations

import re
import time

from .. import errors
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config


def _ok() -> Response:
    return Response(200, {}, b"")


def _bool_text(text, error=errors.MalformedXML) -> bool:
    """OSS's XML booleans: exactly "true" or "false"."""
    if text not in ("true", "false"):
        raise error()
    return text == "true"


# -- HTTPS (TLS versions, cipher suites) ----------------------------------------------------------
TLS_VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


async def put_bucket_https_config(req: Request) -> Response:
    """HttpsConfiguration/TLS: Enable, and with Enable=true at least one TLSVersion of TLS_VERSIONS
    (duplicates collapse); CipherSuite (Enable, StrongCipherSuite, CustomCipherSuite,
    TLS13CustomCipherSuite) is kept as sent. Anything else is MalformedXML (oss2's tests)."""
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "HttpsConfiguration")
    tls = xml.children(root, "TLS")
    if len(tls) != 1:
        raise errors.MalformedXML()
    enabled = _bool_text(xml.child_text(tls[0], "Enable"))
    versions = []
    for node in xml.children(tls[0], "TLSVersion"):
        if node.text not in TLS_VERSIONS:
            raise errors.MalformedXML()
        if node.text not in versions:
            versions.append(node.text)
    if enabled and not versions:
        raise errors.MalformedXML()
    config = {"enabled": enabled, "versions": versions if enabled else []}
    suites = xml.children(root, "CipherSuite")
    if len(suites) > 1:
        raise errors.MalformedXML()
    if suites:
        node = suites[0]
        strong = xml.child_text(node, "StrongCipherSuite")
        config["ciphers"] = {
            "enabled": _bool_text(xml.child_text(node, "Enable")),
            "strong": None if strong is None else _bool_text(strong),
            "custom": [c.text or "" for c in xml.children(node, "CustomCipherSuite")],
            "tls13": [c.text or "" for c in xml.children(node, "TLS13CustomCipherSuite")],
        }
    await set_config(req, rec, "https", config if enabled or suites else None)
    return _ok()


async def get_bucket_https_config(req: Request) -> Response:
    rec = await common.require_bucket(req)
    config = rec.config.get("https") or {"enabled": False, "versions": []}
    out = [("TLS", [("Enable", config["enabled"])] + [("TLSVersion", v) for v in config["versions"]])]
    c = config.get("ciphers")
    if c:
        out.append(("CipherSuite", [("Enable", c["enabled"]), ("StrongCipherSuite", c["strong"])]
                    + [("CustomCipherSuite", s) for s in c["custom"]]
                    + [("TLS13CustomCipherSuite", s) for s in c["tls13"]]))
    return Response.xml(xml.document("HttpsConfiguration", out))


# -- resource group -------------------------------------------------------------------------------
# Resource groups live in Alibaba Cloud's Resource Manager, which ossbox has not: an id of the
# documented form (rg- and lowercase letters and digits) is accepted, anything else is refused as
# OSS refuses a group its account does not have; empty means the default group.
_RESOURCE_GROUP = re.compile(r"rg-[0-9a-z]{1,64}")


async def put_bucket_resource_group(req: Request) -> Response:
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "BucketResourceGroupConfiguration")
    group = (xml.child_text(root, "ResourceGroupId") or "").strip()
    if group and group != common.RESOURCE_GROUP and not _RESOURCE_GROUP.fullmatch(group):
        raise errors.ResourceGroupIdPreCheckError(ArgumentName="ResourceGroupId", ArgumentValue=group[:64])
    await set_config(req, rec, "resource_group", None if group in ("", common.RESOURCE_GROUP) else group)
    return _ok()


def resource_group(rec) -> str:
    return rec.config.get("resource_group") or common.RESOURCE_GROUP


async def get_bucket_resource_group(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("BucketResourceGroupConfiguration",
                                     [("ResourceGroupId", resource_group(rec))]))


# -- transfer acceleration ------------------------------------------------------------------------
async def put_bucket_transfer_acceleration(req: Request) -> Response:
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "TransferAccelerationConfiguration")
    enabled = _bool_text(xml.child_text(root, "Enabled"))
    await set_config(req, rec, "transfer_acceleration", enabled)
    return _ok()


async def get_bucket_transfer_acceleration(req: Request) -> Response:
    rec = await common.require_bucket(req)
    enabled = rec.config.get("transfer_acceleration")
    if enabled is None:
        raise errors.NoSuchTransferAccelerationConfiguration(BucketName=req.bucket)
    return Response.xml(xml.document("TransferAccelerationConfiguration", [("Enabled", enabled)]))


# -- access tracking ------------------------------------------------------------------------------
ACCESS_MONITOR_STATES = ("Enabled", "Disabled")


def access_monitor(rec) -> str:
    return "Enabled" if rec.config.get("access_monitor") else "Disabled"


async def put_bucket_access_monitor(req: Request) -> Response:
    """Enabled starts tracking: from then on reads of an object record its last access time
    (ops/objects.py); objects not read since are reported with the time tracking began (OSS: "the
    last access time of existing objects is the time access tracking was enabled"). Disabled is
    refused while a lifecycle rule uses access times (OSS, PutBucketAccessMonitor)."""
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "AccessMonitorConfiguration")
    status = xml.child_text(root, "Status")
    if status not in ACCESS_MONITOR_STATES:
        raise errors.MalformedXML()
    if status == "Disabled":
        if any(t.get("is_access_time") for r in rec.config.get("lifecycle") or ()
               for t in list(r.get("transitions", ())) + list(r.get("nc_transitions", ()))):
            raise errors.AccessMonitorInUse(BucketName=req.bucket)
        await set_config(req, rec, "access_monitor", None)
    elif not rec.config.get("access_monitor"):
        await set_config(req, rec, "access_monitor", {"since": time.time()})
    return _ok()


async def get_bucket_access_monitor(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("AccessMonitorConfiguration", [("Status", access_monitor(rec))]))


# -- archive direct read --------------------------------------------------------------------------
async def put_bucket_archive_direct_read(req: Request) -> Response:
    """Enabled: GetObject reads an Archive object without RestoreObject (ops/objects.py)."""
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "ArchiveDirectReadConfiguration")
    enabled = _bool_text(xml.child_text(root, "Enabled"))
    await set_config(req, rec, "archive_direct_read", True if enabled else None)
    return _ok()


async def get_bucket_archive_direct_read(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("ArchiveDirectReadConfiguration",
                                     [("Enabled", bool(rec.config.get("archive_direct_read")))]))


# -- callback policy ------------------------------------------------------------------------------
MAX_CALLBACK_POLICIES = 5  # OSS: "a bucket can have up to 5 callback policies"


async def put_bucket_callback_policy(req: Request) -> Response:
    """BucketCallbackPolicy/PolicyItem (PolicyName, Callback, CallbackVar): the named callbacks an
    upload may use with x-oss-callback {"callbackPolicy": name} (ops/callback.py). Replaces the
    earlier set; an empty document clears it."""
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "BucketCallbackPolicy")
    items = []
    for node in xml.children(root, "PolicyItem"):
        name = (xml.child_text(node, "PolicyName") or "").strip()
        cb = (xml.child_text(node, "Callback") or "").strip()
        if not name or not cb or any(i["name"] == name for i in items):
            raise errors.MalformedXML()
        items.append({"name": name, "callback": cb, "callback_var": (xml.child_text(node, "CallbackVar") or "")})
    if len(items) > MAX_CALLBACK_POLICIES:
        raise errors.InvalidArgument(f"A bucket can have at most {MAX_CALLBACK_POLICIES} callback policies.")
    await set_config(req, rec, "callback_policy", items or None)
    return _ok()


async def get_bucket_callback_policy(req: Request) -> Response:
    rec = await common.require_bucket(req)
    items = rec.config.get("callback_policy")
    if not items:
        raise errors.BucketCallbackPolicyNotExist(BucketName=req.bucket)
    return Response.xml(xml.document("BucketCallbackPolicy", [
        ("PolicyItem", [("PolicyName", i["name"]), ("Callback", i["callback"]), ("CallbackVar", i["callback_var"])])
        for i in items]))


async def delete_bucket_callback_policy(req: Request) -> Response:
    await set_config(req, await common.require_bucket(req), "callback_policy", None)
    return Response(204, {}, b"")
