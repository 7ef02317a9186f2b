"""Background work that runs every so often: the helpers the scanners share (lifecycle.py,
inventory.py, access_log.py)."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

from .errors import StorageError

log = logging.getLogger("ossbox.periodic")


async def cancelled(task: Optional[asyncio.Task]) -> None:
    """Cancel a background task and wait until it has stopped."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def claim_slot(meta, setting: str, interval: float) -> bool:
    """Take the next run slot named `setting` in the shared metadata, so that of several nodes
    on one store a single one runs per interval (False: another node has it)."""
    def txn(t):
        now = time.time()
        nxt = t.get_setting(setting)
        try:
            if nxt and float(nxt) > now:
                return False
        except ValueError:
            pass
        # a little less than the interval: the claimer's own next tick must find it free
        t.set_setting(setting, repr(now + interval * 0.9))
        return True
    return await meta.write(txn, durable=False)


class Periodic:
    """Calls `tick()` every `interval` seconds from start() to stop(); a failing tick is logged
    and the next one runs as planned."""

    name = "background work"

    def __init__(self, interval: float):
        self.interval = interval
        self._task: Optional[asyncio.Task] = None

    async def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        await cancelled(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except StorageError as exc:
                log.warning("%s waits for the store: %s", self.name, exc)
            except Exception:  # keep going: the next tick sees what this one left
                log.exception("%s failed", self.name)
