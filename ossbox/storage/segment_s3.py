"""The `s3://BUCKET/PREFIX?endpoint=...&region=...` segment store, through obstore (why obstore and
its traps: docs/byte-store-libraries.md). Imported only when such a URL is configured: obstore is
the optional `s3` extra.

Credentials come from the environment the store is built with (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; region from the URL, else AWS_REGION /
AWS_DEFAULT_REGION), never from the URL, which ends up in logs and process lists. Without keys
obstore falls back to its own provider chain (instance metadata, web identity).

Choices:
  * Segments below SINGLE_PUT_LIMIT are buffered and sent as ONE PutObject with
    `If-None-Match: *` (obstore `mode="create"`): write-once enforced by the store, one request
    for a small append. obstore would send any streamed body as a multipart upload (3 requests).
  * Larger segments stream as a multipart upload (parts of PART_SIZE, PARTS_IN_FLIGHT at a time:
    memory stays flat). obstore cannot make a multipart upload conditional, so write-once is a
    HEAD first; segment names are unique, so the check only catches naming bugs.
  * Bounded failure: connect timeout 2 s, at most 2 retries within 3 s, then ByteStoreUnavailable
    (obstore's default retries for up to 180 s). Writes have a whole-request timeout (one PUT or
    one part); reads only an idle timeout, so a long streamed GET is not cut off.
  * A writer that dies (or is cancelled) mid-put leaves an incomplete multipart upload that only
    the bucket's lifecycle rule (AbortIncompleteMultipartUpload) removes: sweep_incomplete cannot.
  * Payloads are sent unsigned (`UNSIGNED-PAYLOAD`): signing hashes every byte first and cost
    17-30 % on 8 MiB PUTs; ossbox keeps its own CRC-64 of every segment.

obstore traps handled here: its client is not fork-safe, so it is (re)built lazily in the process
that uses it; its tokio threads may abort the interpreter at exit unless the event loop yields
once after the last call -- close() does that, so the engine must `await store.close()` inside
its loop (at shutdown) before the loop ends.
"""
from __future__ import annotations

import asyncio
import datetime
import os
from typing import AsyncIterable, AsyncIterator, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError
from obstore.store import S3Store

from .errors import ByteStoreUnavailable, DataShorterThanRecorded, SegmentExists, SegmentNotFound
from .segments import SegmentInfo, SegmentStore, check_age, check_name, check_prefix, check_range, exactly

SINGLE_PUT_LIMIT = 5 * 1024 * 1024  # S3's minimum part size: below it a multipart upload is one part anyway
PART_SIZE = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 2
READ_CHUNK = 1 << 20      # bytes per chunk a streamed GET yields
LIST_PAGE = 1000          # S3's page size
CONNECT_TIMEOUT = datetime.timedelta(seconds=2)
WRITE_TIMEOUT = datetime.timedelta(seconds=60)  # one PUT below 5 MiB or one 8 MiB part
READ_IDLE_TIMEOUT = datetime.timedelta(seconds=10)
RETRY = {"max_retries": 2, "retry_timeout": datetime.timedelta(seconds=3),
         "backoff": {"init_backoff": datetime.timedelta(milliseconds=100),
                     "max_backoff": datetime.timedelta(seconds=1), "base": 2}}
QUERY_PARAMS = {"endpoint", "region"}
# everything obstore raises when the store fails; FileNotFoundError (a missing key) is caught first
STORE_ERRORS = (BaseError, OSError)


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(bucket, prefix, options) of an s3:// URL; ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://BUCKET[/PREFIX][?endpoint=...&region=...] URL: {url!r}")
    if parts.username or parts.password:
        raise ValueError("credentials do not belong in the s3:// URL: set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY")
    options = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)).items():
        if key not in QUERY_PARAMS:
            raise ValueError(f"unknown parameter {key!r} in the s3:// URL (known: {', '.join(sorted(QUERY_PARAMS))})")
        if len(values) != 1 or not values[0]:
            raise ValueError(f"parameter {key!r} of the s3:// URL needs exactly one value")
        options[key] = values[0]
    endpoint = options.get("endpoint")
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError(f"the endpoint of the s3:// URL must be an http:// or https:// URL: {endpoint!r}")
    return parts.netloc, parts.path.strip("/"), options


class S3SegmentStore(SegmentStore):
    def __init__(self, url: str, environ: Optional[Mapping[str, str]] = None):
        self.url = url
        self.bucket, self.prefix, options = parse_url(url)
        env = os.environ if environ is None else environ
        self._config: dict = {
            "region": options.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        }
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if env.get(key):
                self._config[key.lower().removeprefix("aws_")] = env[key]
        endpoint = options.get("endpoint")
        if endpoint:
            # a self-hosted store (RGW, MinIO, ...): path-style, since its buckets have no DNS names
            self._config.update(endpoint=endpoint, virtual_hosted_style_request=False)
        self._allow_http = bool(endpoint and endpoint.startswith("http://"))
        self._pid = -1
        self._writer: Optional[S3Store] = None
        self._reader: Optional[S3Store] = None

    def _client(self, options: dict) -> S3Store:
        return S3Store(self.bucket, prefix=self.prefix or None, unsigned_payload=True, retry_config=RETRY,
                       client_options={"allow_http": self._allow_http, "connect_timeout": CONNECT_TIMEOUT,
                                       **options}, **self._config)

    def _stores(self) -> tuple[S3Store, S3Store]:
        """(writer, reader) clients, built in this process: obstore's are not fork-safe."""
        if self._pid != os.getpid():
            self._writer = self._client({"timeout": WRITE_TIMEOUT})
            self._reader = self._client({"read_timeout": READ_IDLE_TIMEOUT})
            self._pid = os.getpid()
        return self._writer, self._reader

    def _unavailable(self, e: BaseException) -> ByteStoreUnavailable:
        # obstore's message is long (request, retries, a debug dump): its first line says it
        return ByteStoreUnavailable(f"s3://{self.bucket}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")

    # -- writing ---------------------------------------------------------------------------------
    async def put(self, name: str, chunks: AsyncIterable[bytes], *, length: int) -> None:
        check_name(name)
        writer, _reader = self._stores()
        if length < SINGLE_PUT_LIMIT:
            body = b"".join([c async for c in exactly(chunks, length)])
            try:
                await obstore.put_async(writer, name, body, mode="create")
            except AlreadyExistsError:
                # obstore retries a PUT whose answer was lost; the retry then finds our own segment
                if await self._holds(name, body):
                    return
                raise SegmentExists(name) from None
            except STORE_ERRORS as e:
                raise self._unavailable(e) from e
            return
        try:
            await obstore.head_async(writer, name)
        except FileNotFoundError:
            pass
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e
        else:
            raise SegmentExists(name)
        try:
            await obstore.put_async(writer, name, exactly(chunks, length), use_multipart=True,
                                    chunk_size=PART_SIZE, max_concurrency=PARTS_IN_FLIGHT)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e

    async def _holds(self, name: str, body: bytes) -> bool:
        try:
            result = await obstore.get_async(self._stores()[1], name)
            return bytes(await result.bytes_async()) == body  # below SINGLE_PUT_LIMIT
        except FileNotFoundError:
            return False
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e

    # -- reading ---------------------------------------------------------------------------------
    async def open_range(self, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        check_range(start, end)
        check_name(name)
        if start == end:  # S3 has no empty range; still say whether the segment is there
            if await self.size(name) < start:
                raise DataShorterThanRecorded("segment")
            return
        try:
            result = await obstore.get_async(self._stores()[1], name, options={"range": (start, end)})
        except FileNotFoundError:
            raise SegmentNotFound(name) from None
        except STORE_ERRORS as e:
            # a range starting at or past the end is a 416, which obstore reports as a generic error
            if await self.size(name) <= start:
                raise DataShorterThanRecorded("segment") from None
            raise self._unavailable(e) from e
        received = 0
        try:
            async for chunk in result.stream(min_chunk_size=READ_CHUNK):
                received += len(chunk)
                yield bytes(chunk)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e
        if received < end - start:
            raise DataShorterThanRecorded("segment")

    async def size(self, name: str) -> int:
        check_name(name)
        try:
            return (await obstore.head_async(self._stores()[1], name))["size"]
        except FileNotFoundError:
            raise SegmentNotFound(name) from None
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e

    async def delete(self, name: str) -> None:
        check_name(name)
        try:
            await obstore.delete_async(self._stores()[0], name)  # S3: deleting a missing key succeeds
        except FileNotFoundError:
            pass
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e

    async def list(self, prefix: str = "") -> AsyncIterator[SegmentInfo]:
        check_prefix(prefix)
        # obstore's `prefix` is a path ("dir/"), not a name prefix; S3 lists in key order, so start
        # just before the prefix (start-after is exclusive: drop its last character) and stop at the
        # first key past it
        offset = prefix[:-1] or None
        try:
            async for batch in obstore.list(self._stores()[1], None, offset=offset, chunk_size=LIST_PAGE):
                for meta in batch:
                    name = meta["path"]
                    if name.startswith(prefix):
                        yield SegmentInfo(name, meta["size"], meta["last_modified"].timestamp())
                    elif name > prefix:
                        return
        except STORE_ERRORS as e:
            raise self._unavailable(e) from e

    async def sweep_incomplete(self, older_than: float) -> int:
        check_age(older_than)
        # A writer that died mid-put leaves an incomplete multipart upload: never listed, never
        # readable, but its parts are stored (and billed). obstore aborts the upload when a put
        # fails, but not when the process dies or the task is cancelled, and it has no
        # ListMultipartUploads to find those uploads later, so the bucket needs a lifecycle rule
        # AbortIncompleteMultipartUpload (docs/byte-store-libraries.md, trap 12). Nothing to do here.
        return 0

    async def close(self) -> None:
        self._writer = self._reader = None
        self._pid = -1
        # obstore's runtime threads drop Python objects late; exiting right after the last call
        # aborted 1 to 9 runs in 10 (docs/byte-store-libraries.md, trap 7), a short pause none in 20
        await asyncio.sleep(0.05)
