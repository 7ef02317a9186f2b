"""SelectObject and CreateSelectObjectMeta: `POST /key?x-oss-process=csv/select | json/select |
csv/meta | json/meta` (docs/select.md).

request.py parses the XML, sql.py the statement, job.py runs it over the streamed object with
readers.py and evaluate.py, frames.py writes the framed body. Both operations are authorized as
oss:GetObject (the router), since they read the object's bytes.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Optional

from ... import errors
from ...wire.request import Request, Response
from .. import common, restore, symlink
from . import frames
from .job import Job, SPLIT_SIZE
from .request import CSV, JSON, parse_meta, parse_select
from .sql import SqlError, parse as parse_sql

# A continuous frame after this many scanned bytes without output keeps a long scan from looking
# like a stalled connection (and reports progress).
_CONTINUOUS_EVERY = 8 * 1024 * 1024
# Output is sent in data frames of about this size.
_FRAME_DATA = 256 * 1024


def _process(req: Request) -> tuple[str, str]:
    value = (req.query.get("x-oss-process") or "").strip().lower()
    fmt, _, action = value.partition("/")
    if fmt in (CSV, JSON) and action in ("select", "meta"):
        return fmt, action
    raise errors.NotImplementedOp(f"The x-oss-process {value!r} is not supported by ossbox.")


async def process(req: Request) -> Response:
    """POST /key?x-oss-process=...: the select and meta processes; any other (image, video, ...)
    is refused with 501."""
    fmt, action = _process(req)
    if action == "select":
        return await select_object(req, fmt)
    return await create_select_object_meta(req, fmt)


async def _open(req: Request):
    _bucket, _link, rec, reader = await symlink.open_readable(req)
    try:
        await restore.check_readable(req, rec)
        dkey = await req.server.engine.data_key(rec)  # a disabled KMS key refuses the read
    except BaseException:
        reader.close()
        raise
    return rec, reader, dkey


def _byte_range(req: Request, args) -> Optional[tuple[int, int]]:
    value = req.header("range")
    if not value:
        return None
    spec = value.strip()
    first, sep, last = spec[6:].partition("-") if spec.startswith("bytes=") else ("", "", "")
    if not sep or not first.strip().isdigit() or (last.strip() and not last.strip().isdigit()):
        raise errors.InvalidArgument("Range must be bytes=first-last.", ArgumentName="Range",
                                     ArgumentValue=value)
    if args.allow_quoted_rd or args.fmt != CSV and args.json_type != "LINES":
        # a byte range cuts records at record delimiters only, which needs delimiters never quoted
        raise errors.InvalidArgument("A Range needs AllowQuotedRecordDelimiter false (CSV) or JSON LINES.",
                                     ArgumentName="Range", ArgumentValue=value)
    if args.gzip or args.range_kind is not None:
        raise errors.InvalidArgument("A Range cannot be used with GZIP input or a line/split range.",
                                     ArgumentName="Range", ArgumentValue=value)
    lo = int(first)
    hi = int(last) if last.strip() else 2 ** 63
    if hi < lo:
        raise errors.InvalidArgument("The Range end is before its start.", ArgumentName="Range",
                                     ArgumentValue=value)
    return lo, hi


async def select_object(req: Request, fmt: str) -> Response:
    rec, reader, dkey = await _open(req)
    try:
        args = parse_select(await req.read_xml_body(), fmt)
        try:
            query = parse_sql(args.sql)
            job = Job(args, query, _byte_range(req, args))
        except SqlError as exc:
            raise errors.SelectInvalidSql(f"The SQL statement is invalid: {exc}.")
    except BaseException:
        reader.close()
        raise
    # primed: an error found before any output (a bad column name, data that is not JSON, a GZIP
    # object that is not) is still an HTTP error, not a 206 whose end frame carries it
    body = _run(job, reader.stream(0, rec.size, dkey), reader, raw=args.raw)
    headers = {"content-type": "application/octet-stream",
               "x-oss-select-output-raw": "true" if args.raw else "false"}
    return Response(206, headers, await common.primed(body))


async def create_select_object_meta(req: Request, fmt: str) -> Response:
    rec, reader, dkey = await _open(req)
    try:
        args = parse_meta(await req.read_xml_body(), fmt)
    except BaseException:
        reader.close()
        raise
    job = Job(args, None, counting=True)
    body = _run(job, reader.stream(0, rec.size, dkey), reader, raw=False)
    return Response(200, {"content-type": "application/octet-stream"}, await common.primed(body))


async def _run(job: Job, chunks: AsyncIterator[bytes], reader, raw: bool) -> AsyncIterator[bytes]:
    sent = False
    quiet = 0          # bytes scanned since the last frame
    try:
        async for chunk in chunks:
            job.feed(chunk)
            quiet += len(chunk)
            # parsing and evaluating are CPU work: off the event loop, a bounded piece at a time,
            # the output drained between pieces (memory stays bounded even for GZIP bombs)
            while await asyncio.to_thread(job.step):
                if len(job.out) >= _FRAME_DATA:
                    sent = True
                    quiet = 0
                    yield _data(job, raw)
            if job.error or job.done:
                break
            if quiet >= _CONTINUOUS_EVERY and not raw and not job.counting:
                sent = True
                quiet = 0
                yield frames.continuous(job.scanned)
        if not job.error:
            await asyncio.to_thread(job.finish)
    finally:
        reader.close()
    if job.error and not sent and not job.out:
        spec = errors.SelectInvalidSql if job.error_is_sql else errors.SelectDataError
        raise spec(f"{spec.message} {job.error}.")
    if job.out:
        yield _data(job, raw)
    if raw:
        if job.error:
            # raw output has no end frame to carry the error: end the response abnormally
            raise RuntimeError(f"select failed after output began: {job.error}")
        return
    status, message = (206, "") if not job.error else (400, f"InvalidArgument.{job.error}")
    if job.counting:
        splits = job.last_offset // SPLIT_SIZE + 1 if job.rows else 0
        if job.args.fmt == CSV:
            yield frames.csv_meta_end(job.scanned, job.scanned, 200 if not job.error else 400, splits,
                                      job.rows, job.columns, message)
        else:
            yield frames.json_meta_end(job.scanned, job.scanned, 200 if not job.error else 400, splits,
                                       job.rows, message)
        return
    yield frames.end(job.scanned, job.scanned, status, message)


def _data(job: Job, raw: bool) -> bytes:
    out = job.take()
    return out if raw else frames.data(job.scanned, out)
