"""The metadata-store contract, checked the same way against every driver (see conftest.py)."""
from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import asynccontextmanager

import pytest

from ossbox.storage.metadata import CURRENT_SEQ, Extent, RestoreRecord
from ossbox.storage.records import (APPENDABLE, AccessKeyRecord, BucketRecord, KmsKeyRecord, ObjectRecord,
                                    PartRecord, UploadRecord, UserRecord)

from pgtest import driver  # noqa: F401  (the fixture: each test runs once per driver)

pytestmark = pytest.mark.timeout(120)

# byte order of UTF-8 (= code point order): DEL and above, non-ASCII, astral, and near-duplicates
ODD_KEYS = ["a", "a\x7f", "a\x7f\x7f", "a\x7f\x7fz", "a\x7fb", "a~", "a~\x7f", "ab", "a\u00e9", "a\u00ff",
            "a\u0100", "a\uffef", "a\U0001F600", "A", "B", "\x7f", "\x7f\x7f", "\x7fa", "\x01", " ",
            "\u4e2d\u6587/\u6587\u4ef6", "\u4e2d\u6587/a", "z", "\U0010FFFF"]


def run(coro):
    return asyncio.run(coro)


def obj(key, *, bucket="b", size=0, blob=None, version_id=None, type="Normal", **kw) -> ObjectRecord:
    return ObjectRecord(bucket=bucket, key=key, type=type, size=size, crc64=kw.pop("crc64", 0),
                        etag="E", blob=blob or f"blob-{key.encode().hex()}-{version_id}", mtime=1.5,
                        version_id=version_id, **kw)


async def started(driver, bucket=None):
    store = driver.store()
    await store.start()
    if bucket is not None:
        await store.write(lambda t: t.insert_bucket(BucketRecord(bucket, "owner", 1.0, "cn-hangzhou")))
    return store


@asynccontextmanager
async def opened(driver, bucket=None):
    """A started store of the driver (with `bucket` created), closed afterwards."""
    store = await started(driver, bucket)
    try:
        yield store
    finally:
        await store.close()


def test_records_round_trip_and_survive_a_restart(driver):
    big_crc = (1 << 64) - 12345  # above the signed 64-bit range
    o = obj("dir/\u6587\u4ef6 \x7f.txt", size=7, crc64=big_crc, headers={"content-type": "a/b",
            "x-oss-meta-\u00e9": "\u00e9\u0000x"}, tags=[("k", "v\u0000"), ("k2", "")], content_md5="md5==",
            sealed=2.25, sse_key="wrapped", storage_class="IA", acl="public-read")
    kms = KmsKeyRecord("kid", bytes(range(256))[:32] + b"\0\xff", "Enabled", "d\u00e9sc", 3.0)

    async def first():
        store = await started(driver, "b")
        assert await store.write(lambda t: t.insert_object(o)) is True
        assert await store.write(lambda t: t.insert_object(o)) is False  # insert only if absent

        def more(t):
            t.insert_user(UserRecord("uid", "alice", 4.0))
            t.insert_access_key(AccessKeyRecord("AK1", "secret", "uid", "Active", 5.0))
            t.put_user_policy("uid", "p", '{"Statement": []}')
            t.insert_kms_key(kms)
            t.put_restore(RestoreRecord(o.blob, 1.0, 2.0, 3.0))
            t.set_setting("s", "v1")
            return t.setdefault_setting("s", "other")
        assert await store.write(more) == "v1"  # first writer wins
        await store.close()

    async def second():
        async with opened(driver) as store:
            assert await store.get_object("b", o.key) == o
            assert (await store.get_bucket("b")).region == "cn-hangzhou"
            assert await store.get_user(name="alice") == UserRecord("uid", "alice", 4.0)
            assert await store.get_user(user_id="uid") == UserRecord("uid", "alice", 4.0)
            assert await store.list_access_keys("uid") == [AccessKeyRecord("AK1", "secret", "uid", "Active", 5.0)]
            assert await store.list_user_policies("uid") == [("p", '{"Statement": []}')]
            assert await store.get_kms_key("kid") == kms
            assert await store.get_restore(o.blob) == RestoreRecord(o.blob, 1.0, 2.0, 3.0)
            assert await store.get_setting("s") == "v1"
            assert await store.get_setting("absent") is None
    run(first())
    run(second())


def test_a_failing_function_changes_nothing(driver):
    async def scenario():
        async with opened(driver, bucket="b") as store:
            def fails(t):
                t.insert_object(obj("k"))
                raise KeyError("boom")
            with pytest.raises(KeyError):
                await store.write(fails)
            assert await store.get_object("b", "k") is None
            assert await store.write(lambda t: t.insert_object(obj("k"))) is True
    run(scenario())


def test_compare_and_set_exactly_one_of_racing_commits_wins(driver):
    """Several stores (connections; processes would be the same) commit an append at the same
    position: exactly one CAS succeeds each round, and the size moves by that one append."""
    writers, rounds = 4, 15

    async def scenario():
        stores = [await started(driver, "b" if i == 0 else None) for i in range(writers)]
        try:
            await stores[0].write(lambda t: t.insert_object(obj("log", type=APPENDABLE, blob="B")))
            for r in range(rounds):
                cur = await stores[0].get_object("b", "log")
                assert cur.size == r

                def attempt(i):
                    new = cur.evolve(size=cur.size + 1, etag=f"w{i}")
                    return lambda t: t.cas_object(new, "B", cur.size)
                won = await asyncio.gather(*(s.write(attempt(i)) for i, s in enumerate(stores)))
                assert won.count(True) == 1, won
                after = await stores[1].get_object("b", "log")
                assert after.size == r + 1 and after.etag == f"w{won.index(True)}"
            # a CAS against the wrong blob never applies
            assert await stores[0].write(lambda t: t.cas_object(cur.evolve(size=99), "other", rounds)) is False
        finally:
            for s in stores:
                await s.close()
    run(scenario())


def test_seal_and_append_guard_each_other(driver):
    """A seal and an append are both compare-and-sets on (blob, size, not sealed): whichever
    commits first makes the other change nothing, so neither can undo the other."""
    async def scenario():
        async with opened(driver, bucket="b") as store:
            await store.write(lambda t: t.insert_object(obj("log", type=APPENDABLE, blob="B", size=3)))
            cur = await store.get_object("b", "log")
            assert await store.write(lambda t: t.seal_object("b", "log", "B", 2, 7.0)) is False  # stale size
            assert await store.write(lambda t: t.seal_object("b", "log", "X", 3, 7.0)) is False  # other blob
            assert await store.write(lambda t: t.seal_object("b", "log", "B", 3, 7.0)) is True
            assert await store.write(lambda t: t.seal_object("b", "log", "B", 3, 8.0)) is False  # sealed once
            assert await store.write(lambda t: t.cas_object(cur.evolve(size=6), "B", 3)) is False
            after = await store.get_object("b", "log")
            assert (after.size, after.sealed) == (3, 7.0)
    run(scenario())


def test_listing_is_in_byte_order_with_prefixes_and_pages(driver):
    async def scenario():
        async with opened(driver, bucket="b") as store:
            def fill(t):
                for k in ODD_KEYS:
                    t.insert_object(obj(k))
                t.insert_bucket(BucketRecord("b2", "o", 1.0, "r"))
                t.insert_object(obj("a", bucket="b2"))  # other buckets never show
            await store.write(fill)
            expect = sorted(ODD_KEYS)  # Python str order == UTF-8 byte order
            assert expect == sorted(ODD_KEYS, key=lambda k: k.encode())
            assert [o.key for o in await store.list_objects("b", "", "", 1000)] == expect
            # pages of 3 following the last key of each page
            seen, after = [], ""
            while True:
                page = await store.list_objects("b", "", after, 3)
                if not page:
                    break
                seen += [o.key for o in page]
                after = page[-1].key
            assert seen == expect
            assert [o.key for o in await store.list_objects("b", "", "a~", 2, inclusive=True)] == ["a~", "a~\x7f"]
            for prefix in ("a\x7f", "a", "\x7f", "\u4e2d\u6587/", "a\U0001F600", "\U0010FFFF", "q"):
                got = [o.key for o in await store.list_objects("b", prefix, "", 1000)]
                assert got == [k for k in expect if k.startswith(prefix)], prefix
            # markers holding NUL: no stored key has one, so "after a\0z" is "after a"
            assert ([o.key for o in await store.list_objects("b", "", "a\0z", 1000)]
                    == [k for k in expect if k > "a"])
            assert await store.list_objects("b", "a\0", "", 1000) == []
            assert await store.get_object("b", "a\0") is None
    run(scenario())


def test_buckets_list_in_byte_order_and_emptiness(driver):
    async def scenario():
        async with opened(driver) as store:
            names = ["b-1", "b1", "a", "b-0", "c"]
            for n in names:
                assert await store.write(lambda t: t.insert_bucket(BucketRecord(n, "o", 1.0, "r"))) is True
            assert await store.write(lambda t: t.insert_bucket(BucketRecord("a", "x", 1.0, "r"))) is False
            assert [b.name for b in await store.list_buckets("", "", 100)] == sorted(names)
            assert [b.name for b in await store.list_buckets("b", "b-0", 100)] == ["b-1", "b1"]
            assert [b.name for b in await store.list_buckets("", "", 2)] == ["a", "b-0"]
            await store.write(lambda t: t.insert_object(obj("k", bucket="c")))
            assert await store.write(lambda t: t.bucket_is_empty("c")) is False
            assert await store.write(lambda t: t.bucket_is_empty("a")) is True
            await store.write(lambda t: t.delete_bucket("a"))
            assert await store.get_bucket("a") is None
    run(scenario())


def test_versions_order_positions_and_latest(driver):
    async def scenario():
        async with opened(driver, bucket="b") as store:
            def fill(t):
                t.archive_version(obj("k", version_id="v1"))
                t.archive_version(obj("k", version_id=None))
                t.archive_version(obj("k", version_id="v3", type="DeleteMarker", blob=""))
                t.insert_object(obj("k", version_id="v4"))
                t.archive_version(obj("k\x7f", version_id="w1"))
                t.archive_version(obj("k\x7f", version_id="w2"))
                t.archive_version(obj("j\u00e9", version_id="x1"))
            await store.write(fill)
            listed = await store.list_versions("b", "", "", CURRENT_SEQ + 1, 100)
            assert [(r.key, r.version_id, latest) for r, _, latest in listed] == [
                ("j\u00e9", "x1", True), ("k", "v4", True), ("k", "v3", False), ("k", None, False),
                ("k", "v1", False), ("k\x7f", "w2", True), ("k\x7f", "w1", False)]
            assert listed[1][1] == CURRENT_SEQ
            # resume after ("k", position of "null"): the remaining versions of k, then later keys
            pos = await store.version_position("b", "k", None)
            assert pos is not None and pos < CURRENT_SEQ
            rest = await store.list_versions("b", "", "k", pos, 100)
            assert [(r.key, r.version_id) for r, _, _ in rest] == [("k", "v1"), ("k\x7f", "w2"), ("k\x7f", "w1")]
            assert [(r.key, r.version_id) for r, _, _ in await store.list_versions("b", "k\x7f", "", CURRENT_SEQ + 1, 1)] == [("k\x7f", "w2")]
            assert await store.version_position("b", "k", "v4") == CURRENT_SEQ
            assert await store.version_position("b", "k", "nope") is None
            assert (await store.get_version("b", "k", None)).version_id is None
            assert (await store.get_version("b", "k", "v4")).blob == obj("k", version_id="v4").blob
            assert (await store.newest_noncurrent("b", "k")).version_id == "v3"

            def demote(t):
                seq, rec = t.get_noncurrent("b", "k", "v1")
                t.update_noncurrent(seq, rec.evolve(acl="private", tags=[("a", "b")]))
                t.delete_noncurrent(t.newest_noncurrent("b", "k")[0])  # v3
                t.remove_current("b", "k")
                return t.get_noncurrent("b", "k", "absent")
            assert await store.write(demote) is None
            assert (await store.get_version("b", "k", "v1")).tags == [("a", "b")]
            listed = await store.list_versions("b", "k", "", CURRENT_SEQ + 1, 100)
            assert [(r.key, r.version_id, latest) for r, _, latest in listed] == [
                ("k", None, True), ("k", "v1", False), ("k\x7f", "w2", True), ("k\x7f", "w1", False)]
    run(scenario())


def test_journal_of_pending_chunks(driver):
    async def scenario():
        async with opened(driver) as store:
            assert await store.pending_summary() == (0, [])
            data = [b"\0\x01\xff" * 100, b"", bytes(range(256)), b"x"]

            def fill(t):
                t.add_pending_chunk("B1", 0, data[0])
                t.add_pending_chunk("B2", 10, data[1])
                t.add_pending_chunk("B1", 300, data[2])
            await store.write(fill)
            chunks = await store.pending_chunks()
            assert [(b, o, d) for _, b, o, d in chunks] == [("B1", 0, data[0]), ("B2", 10, data[1]),
                                                            ("B1", 300, data[2])]
            ids = [c[0] for c in chunks]
            assert ids == sorted(ids) and len(set(ids)) == 3
            upto, blobs = await store.pending_summary()
            assert upto == ids[-1] and sorted(blobs) == ["B1", "B2"]
            await store.write(lambda t: t.add_pending_chunk("B1", 556, data[3]))  # after the summary
            await store.write(lambda t: t.drop_pending(upto, ["B1"]))
            assert [(b, o) for _, b, o, _ in await store.pending_chunks()] == [("B2", 10), ("B1", 556)]
            await store.write(lambda t: t.release_blob("B2"))
            assert [(b, o) for _, b, o, _ in await store.pending_chunks()] == [("B1", 556)]
    run(scenario())


def test_blob_intents_and_leases(driver):
    async def scenario():
        async with opened(driver, bucket="b") as store:
            now = time.time()

            def fill(t):
                t.renew_lease("me", now)
                t.renew_lease("old", now - 1000)
                t.add_blob_intent("X", "me", now)
                t.add_blob_intent("Y", "old", now)
                t.add_blob_intent("Z", "me", now)
            await store.write(fill)
            await store.write(lambda t: t.insert_object(obj("k", blob="X")) and t.adopt_blob("X"))
            claims = await store.blob_claims()
            assert claims.referenced == {"X"} and claims.intents == {"Y": "old", "Z": "me"}
            assert claims.leases == {"me": now, "old": now - 1000}
            assert await store.write(lambda t: t.adopt_blob("X")) is False  # already adopted
            # the collector's fence: only an intent whose owner's lease is older than the cutoff
            assert await store.write(lambda t: t.drop_blob_intent("Z", "me", now - 60)) is False
            assert await store.write(lambda t: t.drop_blob_intent("Y", "old", now - 60)) is True
            assert await store.write(lambda t: t.drop_blob_intent("Z", "other")) is False
            assert await store.write(lambda t: t.drop_blob_intent("Z", "me")) is True
            await store.write(lambda t: t.drop_lease("me", now - 60))  # renewed since: kept
            await store.write(lambda t: t.drop_lease("old", now - 60))
            assert (await store.blob_claims()).leases == {"me": now}
    run(scenario())


def test_uploads_and_parts_pagination(driver):
    async def scenario():
        async with opened(driver, bucket="b") as store:
            def fill(t):
                for key in ("a", "a\x7f", "\u00e9"):
                    for uid in ("u2", "u1"):
                        t.insert_upload(UploadRecord(f"{key.encode().hex()}-{uid}", "b", key, 1.0))
                for n in (3, 1, 2):
                    t.put_part(PartRecord("61-u1", n, n * 100, f"e{n}", (1 << 64) - n, f"p{n}", 1.0))
                return t.put_part(PartRecord("61-u1", 2, 1, "new", 5, "p2b", 2.0))
            replaced = await store.write(fill)
            assert replaced.blob == "p2" and replaced.crc64 == (1 << 64) - 2
            ups = await store.list_uploads("b", "", "", "", 100)
            assert [(u.key, u.upload_id) for u in ups] == [
                ("a", "61-u1"), ("a", "61-u2"), ("a\x7f", "617f-u1"), ("a\x7f", "617f-u2"),
                ("\u00e9", "c3a9-u1"), ("\u00e9", "c3a9-u2")]
            assert [u.upload_id for u in await store.list_uploads("b", "", "a", "", 100)][0] == "617f-u1"
            assert [u.upload_id for u in await store.list_uploads("b", "", "a", "61-u1", 2)] == ["61-u2", "617f-u1"]
            assert [u.upload_id for u in await store.list_uploads("b", "a\x7f", "", "", 100)] == ["617f-u1", "617f-u2"]
            parts = await store.list_parts("61-u1", 1, 10)
            assert [(p.part_number, p.blob) for p in parts] == [(2, "p2b"), (3, "p3")]
            assert [p.part_number for p in await store.list_parts("61-u1", 0, 1)] == [1]
            removed = await store.write(lambda t: t.delete_upload("61-u1"))
            assert sorted(p.blob for p in removed) == ["p1", "p2b", "p3"]
            assert await store.get_upload("61-u1") is None and await store.list_parts("61-u1", 0, 10) == []
    run(scenario())


def test_users_keys_signatures_and_kms(driver):
    async def scenario():
        async with opened(driver) as store:
            assert await store.write(lambda t: t.insert_user(UserRecord("u1", "bob", 1.0))) is True
            assert await store.write(lambda t: t.insert_user(UserRecord("u2", "bob", 1.0))) is False
            await store.write(lambda t: t.insert_access_key(AccessKeyRecord("K", "s", "u1", "Active", 1.0)))
            assert await store.write(lambda t: t.set_access_key_status("K", "Inactive")) is True
            assert (await store.get_access_key("K")).status == "Inactive"
            assert await store.write(lambda t: t.delete_access_key("nope")) is False
            await store.write(lambda t: t.put_user_policy("u1", "p", "1"))
            await store.write(lambda t: t.put_user_policy("u1", "p", "2"))
            assert await store.list_user_policies("u1") == [("p", "2")]
            assert await store.write(lambda t: t.delete_user_policy("u1", "p")) is True
            await store.write(lambda t: t.delete_user("u1"))
            assert await store.get_user(user_id="u1") is None and await store.get_access_key("K") is None
            assert await store.list_users() == []
            now = time.time()
            assert await store.write(lambda t: t.claim_signature("sig", now + 10, now)) is True
            assert await store.write(lambda t: t.claim_signature("sig", now + 10, now)) is False
            assert await store.write(lambda t: t.claim_signature("sig", now + 30, now + 20)) is True  # expired
            await store.write(lambda t: t.insert_kms_key(KmsKeyRecord("k1", b"\0" * 32, "Enabled", "", 1.0)))
            assert await store.write(lambda t: t.set_kms_key_status("k1", "Disabled")) is True
            assert [k.status for k in await store.list_kms_keys()] == ["Disabled"]
            # if_absent keeps the key already stored under the id (two requests naming a new id)
            await store.write(lambda t: t.insert_kms_key(KmsKeyRecord("k1", b"\1" * 32, "Enabled", "x", 2.0),
                                                         if_absent=True))
            assert [(k.material, k.status) for k in await store.list_kms_keys()] == [(b"\0" * 32, "Disabled")]
    run(scenario())


def test_put_delete_and_update_objects(driver):
    async def scenario():
        async with opened(driver, bucket="b") as store:
            await store.write(lambda t: t.put_object(obj("k", blob="B1")))
            await store.write(lambda t: t.add_pending_chunk("B1", 0, b"x"))
            old = await store.write(lambda t: t.put_object(obj("k", blob="B2", size=5)))
            assert old.blob == "B1" and await store.pending_chunks() == []  # the replaced blob is forgotten
            cur = await store.get_object("b", "k")
            await store.write(lambda t: t.update_object(cur.evolve(tags=[("t", "1")], acl="private", sealed=9.0)))
            assert (await store.get_object("b", "k")).tags == [("t", "1")]
            assert (await store.write(lambda t: t.delete_object("b", "k"))).blob == "B2"
            assert await store.write(lambda t: t.delete_object("b", "k")) is None
    run(scenario())


def test_concurrent_writers_of_one_store_never_lose_updates(driver):
    """Read-modify-write transactions from many tasks at once: with PostgreSQL they run in
    parallel on pooled connections, and serialization failures are retried, never surfaced."""
    async def scenario():
        async with opened(driver) as store:
            await store.write(lambda t: t.set_setting("n", "0"))

            def incr(t):
                value = int(t.setdefault_setting("n", "0"))
                t.set_setting("n", str(value + 1))
            await asyncio.gather(*(store.write(incr) for _ in range(40)))
            assert await store.get_setting("n") == "40"
    run(scenario())


def test_extents_and_garbage_marks(driver):
    """Segment mode's rows: a blob's extents (inline or naming a segment), looked up by overlap,
    replaced by compaction, and the collector's garbage marks (the first mark's time is kept)."""
    async def go():
        async with opened(driver) as store:
            rows = [Extent(0, 3, None, b"abc"), Extent(3, 5, "seg-1", None), Extent(8, 2, None, b"\0\xff")]

            def add(t):
                for e in rows:
                    t.add_extent("blob-1", e)
                t.add_extent("blob-2", Extent(0, 1, None, b"z"))
            await store.write(add)
            assert await store.extents("blob-1", 0, 10) == rows
            assert await store.extents("blob-1", 3, 8) == rows[1:2]     # [start, end) overlap only
            assert await store.extents("blob-1", 2, 9) == rows
            assert await store.extents("blob-1", 10, 20) == []
            assert await store.extents("absent", 0, 10) == []
            assert await store.compaction_candidates(2, 10, 100) == ["blob-1"]
            assert await store.compaction_candidates(3, 10, 100) == []
            assert await store.compaction_candidates(1, 10, 4) == ["blob-1"]   # only the 3- and 2-byte ones count
            assert await store.compaction_candidates(2, 10, 4) == []

            def compact(t):
                assert t.extents_below("blob-1", 8) == rows[:2]
                assert t.drop_extents("blob-1", [0, 3]) == 2
                t.add_extent("blob-1", Extent(0, 8, "merged", None))
            await store.write(compact)
            assert await store.extents("blob-1", 0, 10) == [Extent(0, 8, "merged", None), rows[2]]

            await store.write(lambda t: t.mark_garbage(["seg-1", "blob-3"], 100.0))
            await store.write(lambda t: t.mark_garbage(["seg-1"], 200.0))     # kept: first seen at 100
            claims = await store.blob_claims()
            assert claims.extent_blobs == {"blob-1", "blob-2"}
            assert claims.extent_segments == {"merged"}
            assert claims.marks == {"seg-1": 100.0, "blob-3": 100.0}
            await store.write(lambda t: t.unmark_garbage(["seg-1", "never-marked"]))
            assert (await store.blob_claims()).marks == {"blob-3": 100.0}
    run(go())


def test_bucket_stat_aggregates_versions_uploads_and_parts(driver):
    """GetBucketStat's aggregate: the same figures from every driver, other buckets not counted."""
    async def scenario():
        async with opened(driver, bucket="b") as store:
            await store.write(lambda t: t.insert_bucket(BucketRecord("other", "owner", 1.0, "cn-hangzhou")))
            empty = await store.bucket_stat("b")
            assert (empty.classes, empty.delete_markers, empty.uploads, empty.parts, empty.part_bytes) == (
                {}, 0, 0, 0, 0)

            def fill(t):
                t.insert_object(obj("s", size=10))
                t.insert_object(obj("ia", size=70_000, storage_class="IA"))
                t.insert_object(obj("ia2", size=5, storage_class="IA"))
                t.insert_object(obj("x", bucket="other", size=999))
                t.archive_version(obj("s", size=3, version_id="v0"))
                t.archive_version(obj("s", type="DeleteMarker", blob="", version_id="dm"))
                t.insert_upload(UploadRecord("u1", "b", "k", 1.0))
                t.insert_upload(UploadRecord("u2", "other", "k", 1.0))
                t.put_part(PartRecord("u1", 1, 100, "e", 1, "p1", 1.0))
                t.put_part(PartRecord("u1", 2, 7, "e", 1, "p2", 1.0))
                t.put_part(PartRecord("u2", 1, 500, "e", 1, "p3", 1.0))
            await store.write(fill)
            stat = await store.bucket_stat("b")
            assert stat.classes == {"Standard": (2, 13, 2 * 65536), "IA": (2, 70_005, 70_000 + 65536)}
            assert (stat.delete_markers, stat.uploads, stat.parts, stat.part_bytes) == (1, 1, 2, 107)
    run(scenario())


def test_bucket_settings_round_trip(driver):
    """The bucket settings ops/ keep in BucketRecord.config (WORM, QoS, CNAME tokens, callback
    policies, access tracking...): nested dicts, lists, floats and booleans come back as written."""
    config = {"worm": {"id": "ABC", "state": "Locked", "days": 25550, "created": 1700000000.125},
              "qos": {"TotalUploadBandwidth": -1, "TotalQps": 10000},
              "https": {"enabled": True, "versions": ["TLSv1.2", "TLSv1.3"],
                        "ciphers": {"enabled": False, "strong": None, "custom": [], "tls13": ["x"]}},
              "cname_tokens": {"www.example.com": {"token": "t" * 32, "expires": 1.5}},
              "callback_policy": [{"name": "p\u00e9", "callback": "e30=", "callback_var": ""}],
              "access_monitor": {"since": 2.75}, "archive_direct_read": True, "storage_capacity": 0,
              "redundancy_tasks": [{"id": "t1", "created": 3.0}], "resource_group": "rg-abc"}

    async def go():
        async with opened(driver, "b") as store:
            rec = await store.get_bucket("b")
            await store.write(lambda t: t.update_bucket(dataclasses.replace(rec, config=config)))
        async with opened(driver) as store:
            assert (await store.get_bucket("b")).config == config
    run(go())
