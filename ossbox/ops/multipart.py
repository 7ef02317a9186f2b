"""Multipart upload operations."""
from __future__ import annotations

from .. import errors
from ..http.request import Request, Response


async def _todo(req: Request) -> Response:
    raise errors.NotImplementedOp("Multipart upload is not available yet.")

initiate = upload_part = complete = abort = list_uploads = list_parts = _todo
