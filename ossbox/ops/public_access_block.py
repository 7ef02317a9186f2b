"""Block Public Access, for a bucket (Put/Get/DeleteBucketPublicAccessBlock, `/<bucket>?publicAccessBlock`)
and for the whole service (Put/Get/DeletePublicAccessBlock, `/?publicAccessBlock`).

While either is on, public ACLs and bucket-policy statements that grant public access are ignored
by the authorizer (auth/authorize.py) and cannot be configured (public_grants.py, called by
PutBucket, PutBucketAcl, PutObjectAcl, PutBucketPolicy): OSS's PutBucketPublicAccessBlock page,
"existing public access permissions are ignored and no new public access permissions can be
configured". Turning it off makes the stored public ACLs and policies count again.
"""
from __future__ import annotations

from .. import errors
from ..auth.authorize import BUCKET_BLOCK, GLOBAL_BLOCK
from ..wire import xml
from ..wire.request import Request, Response
from . import common
from .bucket_config import set_config


async def _read_setting(req: Request) -> bool:
    root = xml.parse(await req.read_xml_body(), "PublicAccessBlockConfiguration")
    value = (xml.child_text(root, "BlockPublicAccess") or "false").strip().lower()
    if value not in ("true", "false"):
        raise errors.MalformedXML()
    return value == "true"


def _document(blocked: bool) -> Response:
    return Response.xml(xml.document("PublicAccessBlockConfiguration",
                                     [("BlockPublicAccess", "true" if blocked else "false")]))


# -- bucket level ----------------------------------------------------------------------------------
async def put_bucket_public_access_block(req: Request) -> Response:
    rec = await common.require_bucket(req)
    await set_config(req, rec, BUCKET_BLOCK, True if await _read_setting(req) else None)
    return Response(200, {}, b"")


async def get_bucket_public_access_block(req: Request) -> Response:
    rec = await common.require_bucket(req)
    return _document(bool(rec.config.get(BUCKET_BLOCK)))


async def delete_bucket_public_access_block(req: Request) -> Response:
    await set_config(req, await common.require_bucket(req), BUCKET_BLOCK, None)
    return Response(204, {}, b"")


# -- service level ---------------------------------------------------------------------------------
async def put_public_access_block(req: Request) -> Response:
    blocked = await _read_setting(req)
    await req.server.engine.set_service_setting(GLOBAL_BLOCK, "true" if blocked else "false")
    return Response(200, {}, b"")


async def get_public_access_block(req: Request) -> Response:
    return _document(await req.server.engine.service_setting(GLOBAL_BLOCK) == "true")


async def delete_public_access_block(req: Request) -> Response:
    await req.server.engine.set_service_setting(GLOBAL_BLOCK, "false")
    return Response(204, {}, b"")
