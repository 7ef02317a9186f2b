"""Service-level operations: ListBuckets."""
from __future__ import annotations

from .. import errors
from ..http.request import Request, Response


async def list_buckets(req: Request) -> Response:
    raise errors.NotImplementedOp("ListBuckets is not available yet.")
