"""Background upkeep in segment mode (--data URL): compaction and garbage collection.

Compaction keeps an appendable object's extent list short (a GET of an object built from 100,000
small appends reads a few segments, and inline bytes leave the metadata store). It merges a run
of adjacent extents into one new segment and publishes it with one transaction that checks the
run is still exactly what was merged (another node may have compacted it meanwhile: then the new
segment is simply abandoned). Runs are chosen like a binary counter -- an extent joins the run
behind it only if it is no larger than the run -- so each byte is rewritten O(log n) times, not
on every compaction. Bytes are copied as stored: CTR-encrypted extents concatenate as they are.

Garbage: a blob or segment stops being referenced in some commit (overwrite, delete, completion,
compaction). Nothing is deleted then -- a GET on another node may still be streaming it. The name
is *marked* (garbage_marks, with the time it was first seen unreferenced), by the committing
engine at once and by the periodic sweep for anything a crash left behind, and deleted only by a
sweep at least GC_GRACE_SECONDS later that still finds it unreferenced. Names are random and never
reused, so once unreferenced a name stays so. Segments of writes in flight are protected by their
intents and leases exactly as blobs are in the embedded mode (journal.py); a sweep lists the store
*before* reading the references, for the reason given there.
"""
from __future__ import annotations

import logging
import time

from .journal import GC_GRACE_SECONDS, LEASE_TTL
from .metadata import Extent

log = logging.getLogger("ossbox.engine")

COMPACT_MIN_EXTENTS = 32               # an object with more small extents than this is compacted
COMPACT_LARGE = 4 * 1024 ** 2          # extents this long are never merged (multipart parts, big appends)
COMPACT_MAX_SEGMENT = 64 * 1024 ** 2   # merged segments stop growing at this size
COMPACT_INTERVAL = 2.0                 # seconds between compaction passes
SEGMENT_GC_INTERVAL = 300              # seconds between garbage sweeps of the segment store


class _Stale(Exception):
    """The run changed between reading and publishing (compacted elsewhere)."""


def compaction_run(extents: list[Extent]) -> list[Extent]:
    """The adjacent extents to merge: the run grows backwards from the last extent while the
    previous extent is no larger than the run so far (and the result stays under
    COMPACT_MAX_SEGMENT); a large extent (COMPACT_LARGE) is never rewritten, so it ends a run.
    Empty if fewer than two would merge."""
    best: list[Extent] = []
    run: list[Extent] = []
    total = 0
    for ext in reversed(extents):
        if run and (ext.end != run[-1].start or ext.length > total or total + ext.length > COMPACT_MAX_SEGMENT
                    or ext.length >= COMPACT_LARGE):
            if len(run) > len(best):
                best = run
            run, total = [], 0
        if ext.length >= COMPACT_LARGE:
            continue
        run.append(ext)
        total += ext.length
    if len(run) > len(best):
        best = run
    return list(reversed(best)) if len(best) >= 2 else []


class SegmentUpkeep:
    """Part of Engine (engine.py)."""

    def _discard(self, blobs) -> None:
        """Blobs a durable commit stopped referencing. Embedded mode: delete the files now (a reader
        holding one open still reads it). Segment mode: mark them soon, delete after the grace."""
        if self.segments is None:
            for blob in blobs:
                self.blobs.delete(blob)
        else:
            self._discarded.update(b for b in blobs if b)

    async def _flush_discarded(self) -> None:
        if not self._discarded:
            return
        names, self._discarded = list(self._discarded), set()
        try:
            await self.meta.write(lambda t: t.mark_garbage(names, time.time()), durable=False)
        except Exception:
            self._discarded.update(names)  # the next pass tries again; the sweep would find them too
            raise

    async def _segment_tick(self) -> None:
        """The background loop's segment-mode step (journal.py's _background calls it)."""
        await self._flush_discarded()
        now = time.monotonic()
        if now >= self._next_compaction:
            self._next_compaction = now + COMPACT_INTERVAL
            await self.compact()
        if now >= self._next_segment_sweep:
            self._next_segment_sweep = now + SEGMENT_GC_INTERVAL
            removed = await self._collect_segments(GC_GRACE_SECONDS)
            if removed:
                log.info("removed %d unreferenced segments", removed)

    # -- compaction ------------------------------------------------------------------------------
    async def compact(self, limit: int = 16) -> int:
        """One compaction pass over up to `limit` objects with many extents; how many merged."""
        merged = 0
        for blob in await self.meta.compaction_candidates(COMPACT_MIN_EXTENTS, limit, COMPACT_LARGE):
            if await self.compact_blob(blob):
                merged += 1
        return merged

    async def compact_blob(self, blob: str) -> bool:
        extents = await self.meta.extents(blob, 0, 1 << 62)
        # The extents as they were when nothing could be merged: the count alone is not enough,
        # another node may have merged a run and appended as many extents since. Appends move the
        # end and a merge lowers the count, so (count, end) changes whenever the list does.
        shape = (len(extents), extents[-1].end if extents else 0)
        if self._compact_idle.get(blob) == shape:
            return False  # nothing could be merged in this list last time
        run = compaction_run(extents)
        if not run:
            self._compact_idle[blob] = shape
            return False
        self._compact_idle.pop(blob, None)
        start, end = run[0].start, run[-1].end

        async def chunks():
            for ext in run:
                if ext.data is not None:
                    yield ext.data
                else:
                    async for data in self.segments.open_range(ext.segment, 0, ext.length):
                        yield data
        key = [(e.start, e.length, e.segment) for e in run]

        def publish(t):
            now = [(e.start, e.length, e.segment) for e in t.extents_below(blob, end) if e.start >= start]
            if now != key:
                raise _Stale()
            t.drop_extents(blob, [e.start for e in run])
            t.add_extent(blob, Extent(start, end - start, nb.id, None))
        try:
            async with self._new_blob() as nb:
                await self.segments.put(nb.id, chunks(), length=end - start)
                await self._commit(publish, nb)
        except _Stale:
            return False
        self._discard([e.segment for e in run if e.segment])
        return True

    # -- garbage ---------------------------------------------------------------------------------
    async def _collect_segments(self, grace: float) -> int:
        """One sweep (see the module's docstring); returns how many names were deleted."""
        # leftovers of puts whose writer died (temp files; S3 relies on a lifecycle rule). Always
        # the full grace period: a live writer's temp file must never go, whatever `grace` says.
        await self.segments.sweep_incomplete(GC_GRACE_SECONDS)
        listed = set()
        async for info in self.segments.list():
            listed.add(info.name)
        claims = await self.meta.blob_claims()
        now = time.time()
        cutoff = now - grace
        lease_cutoff = now - LEASE_TTL
        alive = {o for o, renewed in claims.leases.items() if renewed >= lease_cutoff} | {self.owner}
        used = claims.referenced | claims.extent_segments
        dead = {o for o in claims.leases if o not in alive}
        # intents of dead owners: their segments were never published (nor will be: fenced)
        abandoned = [(n, o) for n, o in claims.intents.items() if o not in alive and n not in used]
        taken = await self._fence_dead(abandoned, dead, lease_cutoff)
        protected = used | set(claims.intents)
        unreferenced = {n for n in listed | claims.extent_blobs if n not in protected}
        ripe = [n for n, since in claims.marks.items() if since < cutoff and n not in protected]
        fresh = unreferenced - set(claims.marks)
        if fresh:
            await self.meta.write(lambda t: t.mark_garbage(fresh, now), durable=False)
        blobs = [n for n in ripe if n in claims.extent_blobs]
        if blobs:
            def drop(t):
                for blob in blobs:
                    t.drop_extents(blob, [e.start for e in t.extents_below(blob, 1 << 62)])
            await self.meta.write(drop)
        doomed = [n for n in ripe if n in listed] + [n for n in taken if n in listed]
        for name in doomed:
            await self._segment_delete(name)
        if ripe:
            # the extents these blobs named become unreferenced: the next sweep marks them
            await self.meta.write(lambda t: t.unmark_garbage(ripe), durable=False)
        return len(doomed)
