"""SQLite's group commit at the transaction level (SqliteStore._commit_group): durable writes that
arrive while a WAL fdatasync is under way commit together in one transaction when it ends, each
with its own outcome. The WAL fdatasync is held (or failed) through os.fdatasync, which the
store calls from its thread pool."""
import asyncio
import errno
import os
import sqlite3
import threading

import pytest

from ossbox.storage.errors import CommitUncertain, WritesRefused
from ossbox.storage.sqlite_store import SqliteStore


class HeldSyncs:
    """Stands in for os.fdatasync: each WAL fdatasync blocks until `release()`; `fail` makes the
    next one raise EIO instead."""

    def __init__(self, monkeypatch):
        self.started = threading.Semaphore(0)
        self.gate = threading.Semaphore(0)
        self.fail = False
        real = os.fdatasync

        def fdatasync(fd):
            if not os.readlink(f"/proc/self/fd/{fd}").endswith("-wal"):
                return real(fd)
            self.started.release()
            self.gate.acquire(timeout=30)
            if self.fail:
                self.fail = False
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return real(fd)
        monkeypatch.setattr(os, "fdatasync", fdatasync)

    async def wait_started(self):
        while not self.started.acquire(blocking=False):
            await asyncio.sleep(0.001)

    def release(self):
        self.gate.release()


async def _opened(tmp_path, syncs: HeldSyncs, groups=None):
    """The store, the COMMITs its writer connection runs, and a first write that committed alone
    and whose WAL fsync is now held."""
    store = SqliteStore(str(tmp_path / "meta.sqlite3"))
    await store.start()
    if groups is not None:
        store.observe_sync_group = groups.append
    commits = []
    store._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    first = asyncio.ensure_future(store.write(_set("first", "1")))
    await syncs.wait_started()
    return store, commits, first


def _setting(tmp_path, name):
    db = sqlite3.connect(str(tmp_path / "meta.sqlite3"))
    try:
        row = db.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def _set(name, value):
    return lambda t: t.set_setting(name, value)


def test_writes_waiting_for_an_fsync_commit_in_one_transaction(tmp_path, monkeypatch):
    syncs = HeldSyncs(monkeypatch)
    groups = []

    async def scenario():
        store, commits, first = await _opened(tmp_path, syncs, groups)

        def fails(t):
            t.set_setting("failed", "x")
            raise ValueError("this write only")
        group = [asyncio.ensure_future(store.write(_set(f"g{i}", str(i)))) for i in range(5)]
        bad = asyncio.ensure_future(store.write(fails))
        await asyncio.sleep(0.05)
        assert commits == ["COMMIT"] and not any(w.done() for w in group)
        syncs.release()
        await first
        await syncs.wait_started()  # the group's fsync
        assert commits == ["COMMIT", "COMMIT"]  # five writes (and one rolled back): one transaction
        syncs.release()
        assert await asyncio.gather(*group) == [None] * 5
        with pytest.raises(ValueError, match="this write only"):
            await bad
        assert groups == [1, 5]  # writes made durable per fdatasync
        assert [_setting(tmp_path, f"g{i}") for i in range(5)] == ["0", "1", "2", "3", "4"]
        assert _setting(tmp_path, "failed") is None  # rolled back to its savepoint, alone
        await store.close()
    asyncio.run(scenario())


def test_a_write_cancelled_before_its_group_commits_never_happens(tmp_path, monkeypatch):
    syncs = HeldSyncs(monkeypatch)

    async def scenario():
        store, commits, first = await _opened(tmp_path, syncs)
        gone = asyncio.ensure_future(store.write(_set("gone", "1")))
        kept = asyncio.ensure_future(store.write(_set("kept", "1")))
        await asyncio.sleep(0.01)
        gone.cancel()
        syncs.release()
        await first
        with pytest.raises(asyncio.CancelledError):
            await gone
        await syncs.wait_started()
        syncs.release()
        await kept
        assert (_setting(tmp_path, "gone"), _setting(tmp_path, "kept")) == (None, "1")
        await store.close()
    asyncio.run(scenario())


def test_a_write_cancelled_after_its_group_committed_stands(tmp_path, monkeypatch):
    """Once its fn has run in a committed group, a write's outcome is kept: the cancellation is
    held back until the commit is durable (as for a write that committed alone)."""
    syncs = HeldSyncs(monkeypatch)

    async def scenario():
        store, commits, first = await _opened(tmp_path, syncs)
        late = asyncio.ensure_future(store.write(_set("late", "1")))
        await asyncio.sleep(0.01)
        syncs.release()
        while len(commits) < 2:  # the group committed; `late` has not resumed yet
            await asyncio.sleep(0)
        late.cancel()
        await syncs.wait_started()
        assert not late.done()  # waits for its fsync despite the cancellation
        syncs.release()
        await first
        with pytest.raises(asyncio.CancelledError):
            await late  # re-delivered once the commit is durable
        assert _setting(tmp_path, "late") == "1"
        await store.close()
    asyncio.run(scenario())


def test_a_failed_fsync_refuses_the_group_waiting_for_it(tmp_path, monkeypatch):
    """The write whose commit the failed fdatasync should have made durable gets CommitUncertain;
    the writes waiting for it to end never committed, so they are refused, and nothing of them
    is stored."""
    syncs = HeldSyncs(monkeypatch)

    async def scenario():
        store, commits, first = await _opened(tmp_path, syncs)
        waiting = [asyncio.ensure_future(store.write(_set(f"w{i}", "1"))) for i in range(3)]
        await asyncio.sleep(0.01)
        syncs.fail = True
        syncs.release()
        with pytest.raises(CommitUncertain):
            await first
        for w in waiting:
            with pytest.raises(WritesRefused):
                await w
        assert commits == ["COMMIT"]
        assert [_setting(tmp_path, f"w{i}") for i in range(3)] == [None] * 3
        await store.close()
    asyncio.run(scenario())
