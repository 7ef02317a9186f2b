"""What Block Public Access refuses to configure while it is on (see public_access_block.py):
public ACLs and bucket policies with a public grant."""
from __future__ import annotations

from .. import errors
from ..auth.policy import is_public_statement, parse_policy
from ..wire.request import Request

PUBLIC_ACLS = ("public-read", "public-read-write")


async def refuse_public_acl(req: Request, acl: str, bucket_rec=None) -> None:
    """A public ACL cannot be set while public access is blocked (bucket_rec None: a new bucket,
    only the global setting counts)."""
    if acl in PUBLIC_ACLS and await req.server.authorizer.public_access_blocked(bucket_rec):
        raise errors.PublicAccessBlocked()


async def refuse_public_policy(req: Request, text: str, bucket_rec) -> None:
    policy = parse_policy(text, bucket_policy=True, bucket=bucket_rec.name)
    if any(map(is_public_statement, policy.statements)) and \
            await req.server.authorizer.public_access_blocked(bucket_rec):
        raise errors.PublicAccessBlocked()


async def refuse_public_object_acl(req: Request, bucket_rec) -> None:
    """An upload's x-oss-object-acl (PutObject, CopyObject, PutSymlink, multipart, AppendObject)
    cannot make the object public while public access is blocked."""
    acl = req.header("x-oss-object-acl")
    if acl is not None:
        await refuse_public_acl(req, acl, bucket_rec)
