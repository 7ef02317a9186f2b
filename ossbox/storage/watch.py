"""Waiting for an object to change: the hub behind `GET /<bucket>/<key>?x-ossbox-watch`
(ops/watch.py decides what a change means to the client: grown, sealed, replaced, deleted).

One hub per process, keyed by (bucket, key). A waiter hands in the object record it has seen
(None: no object) and is woken with the record once the stored one differs. Two sources wake it:

* commits of this process: the hub wraps the metadata store's write() so that a transaction
  notes the object keys it changes (put, compare-and-append, seal, update, delete); once it has
  committed, each watched key among them is looked up at once. Appends, puts, seals, deletes,
  copies, multipart completions and lifecycle expirations all commit through write(), so none
  is missed and none needs a hook of its own. With nobody watching, writes run unwrapped;
* commits of other processes and nodes sharing the metadata store (`--workers N`, two servers
  on one data dir, scale-out nodes on PostgreSQL): nothing tells this process about them, so
  while any waiter exists the hub looks each watched key up every POLL_INTERVAL seconds (one
  read per watched key per tick, however many waiters share the key; no reads when nobody
  watches). The same tick also covers a local commit that landed between a waiter's own read
  and its registration. PostgreSQL's LISTEN/NOTIFY would spare the reads, but SQLite has no
  equivalent and a store-neutral poll of the few watched keys costs little.

Waiters are capped per process (TooManyWatches), and stop() answers every pending one at once
(graceful shutdown must not wait out long-polls).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from .errors import TooManyWatches
from .metadata import MetadataStore
from .records import ObjectRecord

log = logging.getLogger("ossbox.watch")

POLL_INTERVAL = 0.05   # seconds between looks at the watched keys while anyone waits
MAX_WATCHES = 1024     # pending waits per process; more are refused (TooManyWatches)

_STOPPED = object()    # the result a waiter gets when the hub stops


class _Recording:
    """A transaction that notes the (bucket, key) of every object row it changes."""
    __slots__ = ("_txn", "_touched")

    def __init__(self, txn, touched: set):
        self._txn = txn
        self._touched = touched

    def __getattr__(self, name):
        return getattr(self._txn, name)

    def put_object(self, rec):
        self._touched.add((rec.bucket, rec.key))
        return self._txn.put_object(rec)

    def insert_object(self, rec):
        self._touched.add((rec.bucket, rec.key))
        return self._txn.insert_object(rec)

    def cas_object(self, rec, expect_blob, expect_size):
        self._touched.add((rec.bucket, rec.key))
        return self._txn.cas_object(rec, expect_blob, expect_size)

    def update_object(self, rec):
        self._touched.add((rec.bucket, rec.key))
        return self._txn.update_object(rec)

    def seal_object(self, bucket, key, *args):
        self._touched.add((bucket, key))
        return self._txn.seal_object(bucket, key, *args)

    def delete_object(self, bucket, key):
        self._touched.add((bucket, key))
        return self._txn.delete_object(bucket, key)

    def remove_current(self, bucket, key):
        self._touched.add((bucket, key))
        return self._txn.remove_current(bucket, key)


def _ignore(_value) -> None:
    pass


class WatchHub:
    # set by the HTTP layer's metrics (Engine.observe): the number of pending waits, on each change
    observe_waiting = staticmethod(_ignore)

    def __init__(self, meta: MetadataStore, *, interval: float = POLL_INTERVAL, limit: int = MAX_WATCHES):
        self._meta = meta
        self.interval = interval
        self.limit = limit
        # (bucket, key) -> {future of a waiter: the record that waiter has seen}
        self._keys: dict[tuple[str, str], dict[asyncio.Future, Optional[ObjectRecord]]] = {}
        self._count = 0
        self._poller: Optional[asyncio.Task] = None
        self._lookups: set[asyncio.Task] = set()  # immediate lookups after local commits
        self._stopped = False
        self._attach()

    @property
    def waiting(self) -> int:
        return self._count

    @property
    def stopped(self) -> bool:
        return self._stopped

    def _attach(self) -> None:
        """Wrap the store's write() so that its commits wake the waiters of the keys they change."""
        write = self._meta.write

        async def recorded(fn, durable: bool):
            touched: set = set()
            result = await write(lambda t: fn(_Recording(t, touched)), durable=durable)
            for ident in touched:
                if ident in self._keys:
                    self._lookup_soon(ident)
            return result

        def recording_write(fn, *, durable: bool = True):
            # a plain function returning the awaitable: with nobody watching, a write (the append
            # path) gets the store's own coroutine, not one more wrapped around it
            return recorded(fn, durable) if self._keys else write(fn, durable=durable)

        self._meta.write = recording_write

    async def wait(self, bucket: str, key: str, seen: Optional[ObjectRecord], timeout: float
                   ) -> tuple[bool, Optional[ObjectRecord]]:
        """Wait until the object's stored record differs from `seen` (None: no object): (True, the
        record now, None if deleted); (False, seen) when `timeout` seconds passed or the hub
        stopped first."""
        if self._stopped:
            return False, seen
        if self._count >= self.limit:
            raise TooManyWatches(self.limit)
        ident = (bucket, key)
        done = asyncio.get_running_loop().create_future()
        self._keys.setdefault(ident, {})[done] = seen
        self._count += 1
        self.observe_waiting(self._count)
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        # the record may have changed between the caller's read and the registration above
        self._lookup_soon(ident)
        try:
            result = await asyncio.wait_for(asyncio.shield(done), timeout)
        except asyncio.TimeoutError:
            return False, seen
        finally:
            self._count -= 1
            self.observe_waiting(self._count)
            waiters = self._keys.get(ident)
            if waiters is not None:
                waiters.pop(done, None)
                if not waiters:
                    del self._keys[ident]
        if result is _STOPPED:
            return False, seen
        return True, result

    def stop(self) -> None:
        """Answer every pending wait now (as if its time had passed) and refuse to wait from now on:
        the server is stopping, and its clients reconnect elsewhere or after the restart."""
        self._stopped = True
        for waiters in self._keys.values():
            for done in waiters:
                if not done.done():
                    done.set_result(_STOPPED)
        if self._poller is not None:
            self._poller.cancel()

    # -- looking keys up ---------------------------------------------------------------------------
    def _lookup_soon(self, ident: tuple[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._refresh(ident))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _refresh(self, ident: tuple[str, str]) -> None:
        """One read of the key; wakes each of its waiters whose seen record differs from it."""
        try:
            rec = await self._meta.get_object(*ident)
        except Exception as exc:  # the store is away: waiters keep waiting (their timeout answers)
            log.debug("watch lookup of %s failed: %s", ident, exc)
            return
        for done, seen in list(self._keys.get(ident, {}).items()):
            if not done.done() and rec != seen:
                done.set_result(rec)

    async def _poll(self) -> None:
        """Every interval while anyone waits: each watched key once (changes by other processes)."""
        try:
            while self._keys and not self._stopped:
                await asyncio.sleep(self.interval)
                await asyncio.gather(*(self._refresh(ident) for ident in list(self._keys)))
        finally:
            self._poller = None
