"""Moving bytes between blob files: positional writes, kernel-side copies, and the
decrypt/encrypt/hash pipeline of copies (run in I/O threads)."""
from __future__ import annotations

import ctypes
import hashlib
import os
from typing import Optional

from .crc import crc64_update
from .errors import DataShorterThanRecorded
from .sse import Keystream

INLINE_JOURNAL_MAX = 256 * 1024          # appends up to this size are journalled in the metadata commit
COPY_CHUNK = 8 * 1024 * 1024
# A large write goes to an I/O thread in batches of this many bytes (storage/newblobs.py
# _stream_into); a durable one also starts the disk writing each batch while the rest of the
# body is still arriving, so that its closing fdatasync waits for the tail only.
WRITE_BATCH = 1024 * 1024


def _libc_sync_file_range():
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux/glibc: the closing fdatasync does it all
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _libc_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing [offset, offset+length) of fd to disk without waiting (Linux
    sync_file_range(SYNC_FILE_RANGE_WRITE)). It makes nothing durable and consumes no writeback
    error: the fdatasync that follows still waits for these pages and still reports a failure.
    So a failure here is ignored (that fdatasync will see it)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def pwrite_all(fd: int, data, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def copy_file(src: int, dst: int, length: int, dst_offset: int, src_offset: int = 0) -> None:
    """Kernel-side copy (copy_file_range) with a read/write fallback."""
    done = 0
    while done < length:
        try:
            n = os.copy_file_range(src, dst, min(COPY_CHUNK * 8, length - done),
                                   src_offset + done, dst_offset + done)
        except OSError:
            n = 0
        if n <= 0:
            data = os.pread(src, min(COPY_CHUNK, length - done), src_offset + done)
            if not data:
                raise DataShorterThanRecorded("source")
            pwrite_all(dst, data, dst_offset + done)
            n = len(data)
        done += n


def copy_range(src: int, dst: int, start: int, end: int, want_md5: bool, crc: bool = False,
                decrypt: Optional[Keystream] = None, encrypt: Optional[Keystream] = None):
    """Copy [start, end) of src to the start of dst; optionally hash the plaintext on the way.
    `decrypt` is src's keystream at `start`, `encrypt` dst's at 0 (None: plain bytes)."""
    if not want_md5 and not crc and decrypt is None and encrypt is None:
        copy_file(src, dst, end - start, 0, start)
        return None
    md5 = hashlib.md5() if want_md5 else None
    c = 0

    def hash_plain(plain):
        nonlocal c
        if md5 is not None:
            md5.update(plain)
        if crc:
            c = crc64_update(c, plain)
    transcode(src, dst, start, end, 0, decrypt, encrypt, hash_plain)
    digest = md5.hexdigest() if md5 is not None else None
    return (digest, c) if crc else digest


def transcode(src: int, dst: int, start: int, end: int, dst_offset: int,
               decrypt: Optional[Keystream], encrypt: Optional[Keystream], on_plain=None) -> None:
    """Copy [start, end) of src to dst at dst_offset through user space, decrypting with
    `decrypt` and encrypting with `encrypt` (either may be None); `on_plain` sees the plaintext."""
    pos = start
    while pos < end:
        data = os.pread(src, min(COPY_CHUNK, end - pos), pos)
        if not data:
            raise DataShorterThanRecorded("source")
        plain = decrypt.apply(data) if decrypt is not None else data
        if on_plain is not None:
            on_plain(plain)
        pwrite_all(dst, encrypt.apply(plain) if encrypt is not None else plain, dst_offset + pos - start)
        pos += len(data)


def write_batch(fd: int, chunks, offset: int, crc: int, md5, stream: Optional[Keystream],
                writeback: bool) -> int:
    """Write `chunks` (plaintext, in order) at offset, encrypted with `stream` if given; update
    `md5` and return the CRC-64 after them (both over the plaintext). With `writeback`, start
    the disk on these bytes (start_writeback). Runs in an I/O thread: pwrite, MD5 and SSE
    release the GIL."""
    at = offset
    for chunk in chunks:
        pwrite_all(fd, stream.apply(chunk) if stream is not None else chunk, at)
        crc = crc64_update(crc, chunk)
        if md5 is not None:
            md5.update(chunk)
        at += len(chunk)
    if writeback:
        start_writeback(fd, offset, at - offset)
    return crc
