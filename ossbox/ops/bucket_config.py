"""Bucket settings kept in BucketRecord.config: policy, request payment, versioning, default
encryption."""
from __future__ import annotations

import dataclasses
import time

from .. import errors
from ..auth.policy import is_public_statement, parse_policy
from ..wire import xml
from ..wire.request import Request, Response
from ..storage import sse
from ..storage.records import BucketRecord
from ..storage.worm import active_policy
from . import common, public_grants


async def set_config(req: Request, rec: BucketRecord, name: str, value) -> None:
    """Store one bucket setting (None removes it); no write when nothing changes."""
    config = {k: v for k, v in rec.config.items() if k != name}
    if value is not None:
        config[name] = value
    if config != rec.config:
        await req.server.engine.update_bucket(dataclasses.replace(rec, config=config))


# -- bucket policy --------------------------------------------------------------------------------
MAX_BUCKET_POLICY = 16 * 1024


async def put_bucket_policy(req: Request) -> Response:

    rec = await common.require_bucket(req)
    text = (await req.read_body(limit=MAX_BUCKET_POLICY)).decode("utf-8", "replace")
    parse_policy(text, bucket_policy=True, bucket=req.bucket)  # refuses an invalid document
    await public_grants.refuse_public_policy(req, text, rec)
    await set_config(req, rec, "policy", text)
    return Response(200, {}, b"")


async def get_bucket_policy(req: Request) -> Response:
    rec = await common.require_bucket(req)
    text = rec.config.get("policy")
    if text is None:
        raise errors.NoSuchBucketPolicy(BucketName=req.bucket)
    return Response(200, {"content-type": "application/json"}, text.encode("utf-8"))


async def get_bucket_policy_status(req: Request) -> Response:
    """GetBucketPolicyStatus: whether the bucket policy grants public access (false without one,
    OSS's GetBucketPolicyStatus page); the same test Block Public Access applies."""
    rec = await common.require_bucket(req)
    text = rec.config.get("policy")
    public = text is not None and any(
        map(is_public_statement, parse_policy(text, bucket_policy=True, bucket=rec.name).statements))
    return Response.xml(xml.document("PolicyStatus", [("IsPublic", public)]))


async def delete_bucket_policy(req: Request) -> Response:
    rec = await common.require_bucket(req)
    await set_config(req, rec, "policy", None)
    return Response(204, {}, b"")


# -- request payment (pay-by-requester) -----------------------------------------------------------
PAYERS = ("BucketOwner", "Requester")


async def read_choice(req: Request, root_tag: str, element: str, choices, error
                      ) -> tuple[BucketRecord, str]:
    """The bucket and the one-element setting document's value, which must be one of `choices`."""
    rec = await common.require_bucket(req)
    value = xml.child_text(xml.parse(await req.read_xml_body(), root_tag), element)
    if value not in choices:
        raise error()
    return rec, value


async def put_bucket_request_payment(req: Request) -> Response:
    rec, payer = await read_choice(req, "RequestPaymentConfiguration", "Payer", PAYERS, errors.MalformedXML)
    await set_config(req, rec, "request_payer", payer if payer == "Requester" else None)
    return Response(200, {}, b"")


async def get_bucket_request_payment(req: Request) -> Response:
    rec = await common.require_bucket(req)
    payer = rec.config.get("request_payer", "BucketOwner")
    return Response.xml(xml.document("RequestPaymentConfiguration", [("Payer", payer)]))


# -- versioning -----------------------------------------------------------------------------------
VERSIONING_STATES = ("Enabled", "Suspended")


async def put_bucket_versioning(req: Request) -> Response:
    """Enabled or Suspended; a bucket never returns to unversioned (as in OSS)."""
    rec, status = await read_choice(req, "VersioningConfiguration", "Status", VERSIONING_STATES,
                                    errors.InvalidVersioningStatus)
    # versioning and a retention policy exclude each other (OSS EC 0012-00000006); an expired
    # InProgress policy no longer counts
    if not rec.config.get("versioning") and active_policy(rec.config, time.time(), req.server.engine.worm_day):
        raise errors.VersioningWithWorm(BucketName=req.bucket)
    await set_config(req, rec, "versioning", status)
    return Response(200, {}, b"")


async def get_bucket_versioning(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return Response.xml(xml.document("VersioningConfiguration",
                                     [("Status", rec.config.get("versioning"))]))


# -- default encryption (PutBucketEncryption) ------------------------------------------------------
_ENCRYPTION_FIELDS = ("SSEAlgorithm", "KMSMasterKeyID", "KMSDataEncryption")
# PutBucket's headers that set the same rule at creation
ENCRYPTION_HEADERS = (sse.H_ALGORITHM, sse.H_KEY_ID, sse.H_DATA_ALGORITHM)


def encryption_elements(rec: BucketRecord) -> list:
    rule = rec.config.get("encryption") or {}
    return [(name, rule[name]) for name in _ENCRYPTION_FIELDS if rule.get(name)]


async def put_bucket_encryption(req: Request) -> Response:
    rec = await common.require_bucket(req)
    root = xml.parse(await req.read_xml_body(), "ServerSideEncryptionRule")
    applied = xml.children(root, "ApplyServerSideEncryptionByDefault")
    if len(applied) != 1:
        raise errors.MalformedXML()
    node = applied[0]
    algorithm = (xml.child_text(node, "SSEAlgorithm") or "").strip()
    if not algorithm:
        raise errors.MalformedXML()
    rule = await encryption_rule(req, algorithm, (xml.child_text(node, "KMSMasterKeyID") or "").strip(),
                                 (xml.child_text(node, "KMSDataEncryption") or "").strip())
    await set_config(req, rec, "encryption", rule)
    return Response(200, {}, b"")


async def encryption_rule(req: Request, algorithm: str, key_id: str, data_algorithm: str, *,
                          names=_ENCRYPTION_FIELDS) -> dict:
    """A validated bucket default-encryption rule, as PutBucketEncryption stores it. `names` are
    the request's names for the algorithm, key id and data algorithm (XML elements, or PutBucket's
    headers), used in errors."""
    alg_name, key_name, data_name = names
    if algorithm not in common.SSE_ALGORITHMS:
        raise errors.InvalidEncryptionAlgorithm(ArgumentName=alg_name, ArgumentValue=algorithm[:64])
    if algorithm != sse.KMS:
        # as on object writes, the data algorithm only means something with KMS: beside AES256
        # or SM4 OSS drops it (oss2's test_put_bucket_encryption reads such a rule back without it)
        data_algorithm = ""
    if data_algorithm and data_algorithm != sse.SM4:
        raise errors.InvalidDataEncryptionAlgorithm(ArgumentName=data_name, ArgumentValue=data_algorithm[:64])
    if key_id:
        if algorithm != sse.KMS:
            raise errors.InvalidArgument(f"{key_name} must be empty unless {alg_name} is KMS.",
                                         ArgumentName=key_name, ArgumentValue=key_id[:128])
        await req.server.engine.sse.check_kms_key(key_id, argument=key_name)
    rule = {"SSEAlgorithm": algorithm}
    if key_id:
        rule["KMSMasterKeyID"] = key_id
    if data_algorithm:
        rule["KMSDataEncryption"] = data_algorithm
    return rule


async def get_bucket_encryption(req: Request) -> Response:
    rec = await common.require_bucket(req)
    elements = encryption_elements(rec)
    if not elements:
        raise errors.NoSuchServerSideEncryptionRule(BucketName=req.bucket)
    return Response.xml(xml.document("ServerSideEncryptionRule",
                                     [("ApplyServerSideEncryptionByDefault", elements)]))


async def delete_bucket_encryption(req: Request) -> Response:
    await set_config(req, await common.require_bucket(req), "encryption", None)
    return Response(204, {}, b"")
