"""The `file:///dir` segment store: write-once files in a directory that several ossbox processes
(or nodes, over a shared file system) may use at once.

A put writes a temp file under <dir>/tmp, fdatasyncs it, then `link`s it to its final name --
link(2) never replaces an existing name, so a taken name fails with EEXIST and the first segment
stays (rename(2) would silently replace it) -- fsyncs the segment's directory (and, the first
time this store uses a shard, the directories above it), so the name is durable too when put
returns, and unlinks the temp name. Readers therefore only ever see complete segments. Final
names are sharded into two levels of subdirectories by a hash of the name (no directory grows
past a few thousand entries, whatever names the engine chooses).

The directory must exist: a shared mount that is missing must not silently become a local
directory. All file calls run in threads, never on the event loop. A temp file of a writer that
died stays under tmp/ (it never appears under a final name, so `list` never shows it) until
`sweep_incomplete` removes it; the garbage collector calls that with the same grace period as
unpublished segments.
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import time
import uuid
from typing import AsyncIterable, AsyncIterator

from .errors import ByteStoreUnavailable, DataShorterThanRecorded, SegmentExists, SegmentNotFound, StorageFull
from .segments import SegmentInfo, SegmentStore, check_age, check_name, check_prefix, check_range, exactly

READ_CHUNK = 1 << 20  # bytes per pread: the memory a reader holds per open range


class FileSegmentStore(SegmentStore):
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.url = "file://" + self.root
        if not os.path.isdir(self.root):
            raise ValueError(f"segment store directory {self.root!r} does not exist (create it, or mount "
                             "the shared file system there)")
        self.tmp = os.path.join(self.root, "tmp")
        os.makedirs(self.tmp, exist_ok=True)
        self._durable: set[str] = set()  # shard directories whose entries this store has fsynced

    # -- paths -----------------------------------------------------------------------------------
    def _dir(self, name: str) -> str:
        h = hashlib.sha256(name.encode()).hexdigest()
        return os.path.join(self.root, h[:2], h[2:4])

    def path(self, name: str) -> str:
        return os.path.join(self._dir(check_name(name)), name)

    def _failed(self, e: OSError, name: str = "") -> Exception:
        """The domain error for an OSError: a missing segment only while the store's own
        directory is there; a vanished or failing directory is the store being unavailable."""
        if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
            return StorageFull()
        if e.errno == errno.ENOENT and name and os.path.isdir(self.tmp):
            return SegmentNotFound(name)
        return ByteStoreUnavailable(f"{self.root}: {e.strerror or e}")

    # -- writing ---------------------------------------------------------------------------------
    async def put(self, name: str, chunks: AsyncIterable[bytes], *, length: int) -> None:
        final = self.path(name)
        if await asyncio.to_thread(os.path.lexists, final):
            raise SegmentExists(name)  # early: no point in receiving the bytes
        temp = os.path.join(self.tmp, f".{name}.{uuid.uuid4().hex}")
        try:
            fd = await asyncio.to_thread(os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise self._failed(e) from e
        try:
            try:
                async for chunk in exactly(chunks, length):
                    await _on_fd(_write_all, fd, chunk)
                await _on_fd(os.fdatasync, fd)
            finally:
                os.close(fd)
            await asyncio.to_thread(self._publish, temp, final, name)
        except OSError as e:
            raise self._failed(e) from e
        finally:
            await asyncio.to_thread(_unlink_quietly, temp)

    def _publish(self, temp: str, final: str, name: str) -> None:
        leaf = os.path.dirname(final)
        top = os.path.dirname(leaf)
        if leaf not in self._durable:
            os.makedirs(leaf, exist_ok=True)
        try:
            os.link(temp, final)
        except FileExistsError:
            raise SegmentExists(name) from None
        _fsync_dir(leaf)
        # The shard directories' own entries must be durable too before put returns. Finding a
        # directory there proves nothing: another writer (process or thread) may have just made it
        # and not yet fsynced its parent. So each store fsyncs every parent on the path once
        # itself, and only marks a directory after its entry is durable. Shard directories are
        # never removed, so a mark stays true.
        for directory, parent in ((leaf, top), (top, self.root)):
            if directory not in self._durable:
                _fsync_dir(parent)
                self._durable.add(directory)

    # -- reading ---------------------------------------------------------------------------------
    async def open_range(self, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        check_range(start, end)
        path = self.path(name)
        try:
            fd = await asyncio.to_thread(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise self._failed(e, name) from e
        try:
            if start == end and os.fstat(fd).st_size < start:
                raise DataShorterThanRecorded("segment")
            pos = start
            while pos < end:
                try:
                    chunk = await _on_fd(os.pread, fd, min(READ_CHUNK, end - pos), pos)
                except OSError as e:
                    raise self._failed(e, name) from e
                if not chunk:
                    raise DataShorterThanRecorded("segment")
                pos += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def size(self, name: str) -> int:
        try:
            return (await asyncio.to_thread(os.stat, self.path(name))).st_size
        except OSError as e:
            raise self._failed(e, name) from e

    async def delete(self, name: str) -> None:
        try:
            await asyncio.to_thread(os.unlink, self.path(name))
        except FileNotFoundError:
            if not os.path.isdir(self.tmp):
                raise ByteStoreUnavailable(f"{self.root}: the directory is gone") from None
        except OSError as e:
            raise self._failed(e, name) from e

    async def list(self, prefix: str = "") -> AsyncIterator[SegmentInfo]:
        check_prefix(prefix)
        try:
            shards = await asyncio.to_thread(_subdirs, self.root)
        except OSError as e:
            raise self._failed(e) from e
        for top in shards:
            if top == self.tmp:
                continue
            try:
                batches = await asyncio.to_thread(_subdirs, top)
                for leaf in batches:
                    for info in await asyncio.to_thread(_segments_in, leaf, prefix):
                        yield info
            except OSError as e:
                raise self._failed(e) from e

    async def sweep_incomplete(self, older_than: float) -> int:
        check_age(older_than)
        cutoff = time.time() - older_than
        try:
            return await asyncio.to_thread(self._sweep_tmp, cutoff)
        except OSError as e:
            raise self._failed(e) from e

    def _sweep_tmp(self, cutoff: float) -> int:
        swept = 0
        with os.scandir(self.tmp) as it:
            for e in it:
                if not e.name.startswith(".") or not e.is_file(follow_symlinks=False):
                    continue  # not a temp file of put()
                try:
                    # a live writer's file changes with every chunk; one that a writer stalled on
                    # for longer than `older_than` goes too, and that put fails rather than publish
                    if e.stat(follow_symlinks=False).st_mtime <= cutoff:
                        os.unlink(e.path)
                        swept += 1
                except FileNotFoundError:
                    continue  # published, failed or swept by another process meanwhile
        return swept

    async def close(self) -> None:
        pass  # nothing is held open between calls


async def _on_fd(fn, fd: int, *args):
    """fn(fd, *args) in a thread. A cancelled caller still waits for the thread to finish before it
    goes on to close fd: a thread cannot be stopped, and a late write into a closed fd number could
    land in whatever file reuses it."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, fd, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _subdirs(path: str) -> list[str]:
    with os.scandir(path) as it:
        return [e.path for e in it if e.is_dir(follow_symlinks=False)]


def _segments_in(directory: str, prefix: str) -> list[SegmentInfo]:
    out = []
    with os.scandir(directory) as it:
        for e in it:
            if e.name.startswith(prefix) and not e.name.startswith("."):
                try:
                    st = e.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while listing
                out.append(SegmentInfo(e.name, st.st_size, st.st_mtime))
    return out
