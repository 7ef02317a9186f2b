"""Recovery, the small-append journal, this engine's lease, and garbage collection."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Optional

from .errors import StorageError, StorageFull, WritesRefused
from .streams import pwrite_all

log = logging.getLogger("ossbox.engine")

FLUSH_INTERVAL = 0.5
GC_GRACE_SECONDS = 600                   # extra safety: no unreferenced blob younger than this is collected
GC_INTERVAL = 3600
LEASE_RENEW = 5                          # seconds between renewals of this engine's lease
LEASE_TTL = 60                           # a lease not renewed for this long: its owner is dead
# Setting naming the failed fdatasync of an appendable blob (see Engine._sync_appendable); while it
# is set (non-empty), no process sharing the data dir retires journal rows.
JOURNAL_HELD = "journal-held"


def storage_full(exc: BaseException) -> bool:
    """A commit met a full disk and was rolled back."""
    return isinstance(exc, StorageFull)


class JournalAndGC:
    """Part of Engine (engine.py): replay at start, journal retirement, lease renewal, GC."""

    async def recover(self) -> None:
        """Replay journalled appends into their blobs (they may have lost un-synced bytes)."""
        held = await self.meta.get_setting(JOURNAL_HELD) or ""
        chunks = await self.meta.pending_chunks()
        if not chunks:
            if held:
                await self._retire_journal(0, [], replayed=held)
            return

        def replay():
            fds: dict[str, int] = {}
            try:
                for _id, blob, offset, data in chunks:
                    fd = fds.get(blob)
                    if fd is None:
                        fd = fds[blob] = self.blobs.open_write(blob, create=True)
                    pwrite_all(fd, data, offset)
                for blob, fd in fds.items():
                    os.fdatasync(fd)
                    self.blobs.sync_dir(blob)
            finally:
                for fd in fds.values():
                    os.close(fd)

        await self._run(replay)
        upto = chunks[-1][0]
        blobs = {c[1] for c in chunks}
        await self._retire_journal(upto, blobs, replayed=held)
        log.info("replayed %d journalled appends into %d blobs", len(chunks), len(blobs))

    async def flush_journal(self) -> None:
        """Make journalled blobs durable, then retire their journal rows."""
        if self._blob_sync_failed is not None or await self.meta.get_setting(JOURNAL_HELD):
            return  # the journal is the only durable copy of some appends: the restart replays it
        upto, blobs = await self.meta.pending_summary()
        if not blobs:
            return
        await self._synced(self._sync_blobs, blobs)
        await self._retire_journal(upto, blobs)

    async def _retire_journal(self, upto: int, blobs, replayed: Optional[str] = None) -> None:
        """Drop journal rows whose bytes are durable in their blobs. On a full disk they stay (a
        replay of them is harmless) until a later flush: not worth spending the reserve on.
        The flusher drops none while JOURNAL_HELD is set; recovery, which rewrote and synced
        every row itself, drops its rows and clears the hold it read before (`replayed`) unless
        another process has set a new one meanwhile."""
        def txn(t):
            held = t.get_setting(JOURNAL_HELD) or ""
            if replayed is None and held:
                return
            if replayed and held == replayed:
                t.set_setting(JOURNAL_HELD, "")
            t.drop_pending(upto, blobs)
        try:
            await self.meta.write(txn)
        except StorageFull:
            if not self._journal_kept:
                log.warning("disk full: journal rows are kept until there is space to retire them")
            self._journal_kept = True
        else:
            self._journal_kept = False

    def _sync_blobs(self, blobs) -> None:
        for blob in blobs:
            try:
                fd = self.blobs.open_write(blob)
            except FileNotFoundError:
                continue  # deleted meanwhile; its journal rows went with it
            try:
                self._sync_appendable(fd, blob)
            finally:
                os.close(fd)

    async def _synced(self, sync, *args) -> None:
        """Run `sync` (which syncs appendable blobs) off the loop. After a failure, every process
        sharing the data dir is told to keep the journal (JOURNAL_HELD): another one could sync
        the same blob through its own descriptor without seeing the error, and retire rows that
        are now the only durable copy of acknowledged appends."""
        try:
            await self._run(sync, *args)
        except OSError:
            if self._blob_sync_failed is not None:
                reason = f"{self.owner}: {self._blob_sync_failed}"
                try:
                    await self.meta.write(lambda t: t.set_setting(JOURNAL_HELD, reason))
                except Exception:  # this process keeps its journal anyway
                    log.exception("could not tell other processes to keep the journal")
            raise

    def _sync_appendable(self, fd: int, blob: Optional[str] = None) -> None:
        """fdatasync an appendable blob (and with `blob`, fsync its directory: a journalled
        creating append never did), whose dirty pages may hold journalled appends that were
        acknowledged. If it fails, Linux may have dropped those pages and reports the error only
        once (to one file description): a later fdatasync -- the flusher's retry, or one on
        another fd -- succeeds although the bytes never reached the disk. So a failure is final
        for this process (PostgreSQL's fsync-panic rule, as for the metadata WAL): the journal
        rows, now the only durable copy, are kept for the replay at the next start, and writes
        that add data are refused until then."""
        try:
            os.fdatasync(fd)
            if blob is not None:
                self.blobs.sync_dir(blob)
        except OSError as exc:
            if self._blob_sync_failed is None:
                log.critical("fdatasync of an appendable blob failed (%s): journalled appends are kept "
                             "for replay and writes are refused until restart", exc)
            self._blob_sync_failed = self._blob_sync_failed or exc
            raise

    async def _renew_lease(self) -> None:
        # durable=False: a lease row lost with a power failure belongs to a process that died too
        await self.meta.write(lambda t: t.renew_lease(self.owner, time.time()), durable=False)

    async def _background(self) -> None:
        """Retire the journal every FLUSH_INTERVAL; renew the lease every LEASE_RENEW; sweep
        orphaned blobs at start and hourly."""
        next_sweep = 0.0
        next_renewal = time.monotonic() + LEASE_RENEW
        lease_late = False  # a renewal met a full disk (logged once until one succeeds)
        upkeep_warned = float("-inf")  # when segment upkeep last said it waits for a store
        while True:
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + LEASE_RENEW
                try:
                    await self._renew_lease()
                    lease_late = False
                except WritesRefused:
                    pass  # no write can commit either, so no intent of ours needs protecting
                except Exception as exc:
                    if not storage_full(exc):
                        log.exception("lease renewal failed")
                    elif not lease_late:
                        # expected on a full disk; fenced: a write of ours whose intent another
                        # process then reclaims fails its commit (503) instead of losing bytes
                        log.warning("disk full: the lease is not renewed; after %d s other processes "
                                    "on the data dir may reclaim this one's writes in flight", LEASE_TTL)
                    lease_late = lease_late or storage_full(exc)
            if self.segments is not None:
                try:
                    await self._segment_tick()
                except StorageError as exc:  # the object store or the database is away
                    if time.monotonic() >= upkeep_warned + 60:  # said once a minute, not every pass
                        upkeep_warned = time.monotonic()
                        log.warning("segment upkeep waits for the stores: %s", exc)
                except Exception:  # keep going: marks are redone by the sweep, compaction retried
                    log.exception("segment upkeep failed")
            elif self.durable:
                try:
                    await self.flush_journal()
                except WritesRefused:
                    pass  # the journal stays valid; the restart that recovers the store replays it
                except Exception:  # keep going; the journal stays valid until a flush succeeds
                    log.exception("journal flush failed")
            if self.segments is None and time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + GC_INTERVAL
                try:
                    removed = await self.collect_garbage()
                    if removed:
                        log.info("removed %d orphaned blobs", removed)
                except Exception as exc:
                    if not storage_full(exc):
                        log.exception("garbage collection failed")
                    else:  # its fence could not commit: nothing was deleted
                        log.warning("disk full: garbage collection waits for the next sweep")
            await asyncio.sleep(FLUSH_INTERVAL)

    async def _fence_dead(self, abandoned: list, dead: set, lease_cutoff: float) -> list[str]:
        """Remove the intents `abandoned` [(blob, owner)] and the leases of `dead` owners, each only
        if its owner's lease is still expired (re-checked in the transaction: the fence a slow
        writer's commit then fails on); returns the blobs whose intent was removed."""
        if not abandoned and not dead:
            return []

        def fence(t):
            taken = [b for b, o in abandoned if t.drop_blob_intent(b, o, lease_cutoff)]
            for o in dead:
                t.drop_lease(o, lease_cutoff)
            return taken
        return await self.meta.write(fence)

    async def collect_garbage(self, grace: float = GC_GRACE_SECONDS) -> int:
        """Delete blobs that are provably abandoned: no row refers to them and no live writer
        may still commit them (see _new_blob); and, as extra safety, older than `grace` seconds.

        Order matters. 1) List the blob files. 2) Read references, intents and leases in ONE
        snapshot taken after the listing. A listed file was created after its intent row was
        committed, so in that later snapshot it is either referenced (its commit removed the
        intent in the same transaction), or still has its intent, or has neither -- and then its
        writer gave up or its bytes became garbage, and no row can ever refer to it again (blob
        ids are random and never reused). Reading the references before listing would lose a
        blob created and committed in between. 3) An intent of an owner whose lease expired is
        removed only by a transaction that re-checks the lease and that the intent is still
        there; a writer that was merely slow then fails its commit (adopt_blob finds no intent)
        instead of committing a reference to deleted bytes. Only then is the file unlinked."""
        if self.segments is not None:
            return await self._collect_segments(grace)
        cutoff = time.time() - grace

        def listing():
            old = {}
            for name, path in self.blobs.all_blob_ids():
                try:
                    if os.stat(path).st_mtime < cutoff:
                        old[name] = path
                except FileNotFoundError:
                    pass
            return old
        old = await self._run(listing)
        claims = await self.meta.blob_claims()
        lease_cutoff = time.time() - LEASE_TTL
        alive = {o for o, renewed in claims.leases.items() if renewed >= lease_cutoff} | {self.owner}
        doomed = [b for b in old if b not in claims.referenced and b not in claims.intents]
        # intents of dead owners: their blob is abandoned if old enough, or its file never came
        abandoned = [(b, o) for b, o in claims.intents.items()
                     if o not in alive and b not in claims.referenced
                     and (b in old or not self.blobs.exists(b))]
        dead = {o for o in claims.leases if o not in alive}
        doomed += [b for b in await self._fence_dead(abandoned, dead, lease_cutoff) if b in old]

        def sweep():
            for name in doomed:
                try:
                    os.unlink(old[name])
                except FileNotFoundError:
                    pass
        await self._run(sweep)
        return len(doomed)
