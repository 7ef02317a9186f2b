"""Recovery, the small-append journal, this engine's lease, and garbage collection."""
from __future__ import annotations

import asyncio
import logging
import os
import time

from .. import errors
from .metadata import WritesRefused
from .streams import pwrite_all

log = logging.getLogger("ossbox.engine")

FLUSH_INTERVAL = 0.5
GC_GRACE_SECONDS = 600                   # extra safety: no unreferenced blob younger than this is collected
GC_INTERVAL = 3600
LEASE_RENEW = 5                          # seconds between renewals of this engine's lease
LEASE_TTL = 60                           # a lease not renewed for this long: its owner is dead


class JournalAndGC:
    """Part of Engine (engine.py): replay at start, journal retirement, lease renewal, GC."""

    async def recover(self) -> None:
        """Replay journalled appends into their blobs (they may have lost un-synced bytes)."""
        chunks = await self.meta.pending_chunks()
        if not chunks:
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
        await self._retire_journal(upto, blobs)
        log.info("replayed %d journalled appends into %d blobs", len(chunks), len(blobs))

    async def flush_journal(self) -> None:
        """Make journalled blobs durable, then retire their journal rows."""
        upto, blobs = await self.meta.pending_summary()
        if not blobs:
            return
        await self._run(self._sync_blobs, blobs)
        await self._retire_journal(upto, blobs)

    async def _retire_journal(self, upto: int, blobs) -> None:
        """Drop journal rows whose bytes are durable in their blobs. On a full disk they stay (a
        replay of them is harmless) until a later flush: not worth spending the reserve on."""
        try:
            await self.meta.write(lambda t: t.drop_pending(upto, blobs))
        except errors.OssError as exc:
            if exc.spec is not errors.StorageFull:
                raise
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
                os.fdatasync(fd)
            finally:
                os.close(fd)
            self.blobs.sync_dir(blob)

    async def _renew_lease(self) -> None:
        # durable=False: a lease row lost with a power failure belongs to a process that died too
        await self.meta.write(lambda t: t.renew_lease(self.owner, time.time()), durable=False)

    async def _background(self) -> None:
        """Retire the journal every FLUSH_INTERVAL; renew the lease every LEASE_RENEW; sweep
        orphaned blobs at start and hourly."""
        next_sweep = 0.0
        next_renewal = time.monotonic() + LEASE_RENEW
        while True:
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + LEASE_RENEW
                try:
                    await self._renew_lease()
                except WritesRefused:
                    pass  # no write can commit either, so no intent of ours needs protecting
                except Exception:
                    log.exception("lease renewal failed")
            if self.durable:
                try:
                    await self.flush_journal()
                except WritesRefused:
                    pass  # the journal stays valid; the restart that recovers the store replays it
                except Exception:  # keep going; the journal stays valid until a flush succeeds
                    log.exception("journal flush failed")
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + GC_INTERVAL
                try:
                    removed = await self.collect_garbage()
                    if removed:
                        log.info("removed %d orphaned blobs", removed)
                except Exception:
                    log.exception("garbage collection failed")
            await asyncio.sleep(FLUSH_INTERVAL)

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
        if abandoned or dead:
            def fence(t):
                taken = [b for b, o in abandoned if t.drop_blob_intent(b, o, lease_cutoff)]
                for o in dead:
                    t.drop_lease(o, lease_cutoff)
                return taken
            doomed += [b for b in await self.meta.write(fence) if b in old]

        def sweep():
            for name in doomed:
                try:
                    os.unlink(old[name])
                except FileNotFoundError:
                    pass
        await self._run(sweep)
        return len(doomed)
