"""GZIP compression of GetObject/HeadObject responses, as OSS does it.

OSS's FAQ "How do I compress objects that I download from OSS in the GZIP format?"
(https://www.alibabacloud.com/help/faq-detail/39645.html) gives the rules:

* the request has `Accept-Encoding: gzip`;
* the object is at least 1 KB (1024 bytes: oss2's test_get_object_with_url_to_file_chunked uses an
  object of exactly 1024 bytes and expects the compressed, chunked answer);
* its Content-Type is one of text/cache-manifest, text/xml, text/css, text/html, text/plain,
  application/javascript, application/x-javascript, application/rss+xml, application/json,
  text/json (parameters such as `; charset=utf-8` do not matter: the FAQ's sample answer is
  `text/plain; charset=utf-8`);
* the answer then carries `Content-Encoding: gzip` (and `Vary: Accept-Encoding`, as in the sample),
  and "ETag, Content-Length and Accept-Ranges are not returned", for GetObject and HeadObject
  alike. The body goes chunked. x-oss-hash-crc64ecma and Content-MD5 still describe the stored
  bytes (the sample shows both; oss2 skips its CRC check when it asked for gzip).

Choices where the FAQ says nothing (docs/architecture.md, "GZIP responses"): a Range request is
answered uncompressed, as asked (bytes of a compressed stream would not be a range of the
object); an object that already has a Content-Encoding (stored, or a response-content-encoding
override) is never compressed twice; the type tested is the one the response carries (after a
response-content-type override), as a compressing front end sees it.
"""
from __future__ import annotations

import asyncio
import zlib
from typing import AsyncIterator, Optional

MIN_SIZE = 1024
COMPRESSIBLE_TYPES = frozenset({
    "text/cache-manifest", "text/xml", "text/css", "text/html", "text/plain", "application/javascript",
    "application/x-javascript", "application/rss+xml", "application/json", "text/json",
})
# Headers OSS leaves out of a compressed answer (they would describe the stored bytes as sent).
_DROPPED = ("etag", "content-length", "accept-ranges")
# Chunks at least this big are compressed in a worker thread (zlib releases the GIL), so one big
# download does not stall every other connection of the event loop.
_THREAD_CHUNK = 64 * 1024


def accepts_gzip(value: Optional[str]) -> bool:
    """Whether an Accept-Encoding value lists gzip (or x-gzip) with a non-zero q (RFC 9110 12.5.3)."""
    if not value:
        return False
    for item in value.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, v = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(v.strip())
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def applies(accept_encoding: Optional[str], headers: dict, size: int, ranged: bool) -> bool:
    """Whether the answer with these headers, for an object of `size` bytes, goes out gzip-coded."""
    if ranged or size < MIN_SIZE or "content-encoding" in headers or not accepts_gzip(accept_encoding):
        return False
    media = str(headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    return media in COMPRESSIBLE_TYPES


def encoded_headers(headers: dict) -> dict:
    """`headers` of a compressed answer: Content-Encoding and Vary added, the byte-describing ones
    gone."""
    out = {k: v for k, v in headers.items() if k not in _DROPPED}
    out["content-encoding"] = "gzip"
    out["vary"] = "Accept-Encoding"
    return out


async def compressed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The gzip stream of `chunks`, produced as they arrive (memory stays flat for any size)."""
    co = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip header and trailer
    try:
        async for chunk in chunks:
            if len(chunk) >= _THREAD_CHUNK:
                out = await asyncio.to_thread(co.compress, chunk)
            else:
                out = co.compress(chunk)
            if out:
                yield out
        yield co.flush()
    finally:
        await chunks.aclose()


async def nothing() -> AsyncIterator[bytes]:
    """The body of a HEAD answer that has no Content-Length (an iterator body gets none)."""
    return
    yield  # pragma: no cover (makes this an async generator)
