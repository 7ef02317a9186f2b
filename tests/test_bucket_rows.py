"""Bucket rows are reused between requests (storage/bucket_rows.py): a change made through one
server process must be seen by the very next request to another process on the same data dir --
versioning (x-oss-version-id), a retention policy (no append), the bucket ACL (who may write) and
a deleted bucket. With OSSBOX_TEST_META=postgresql://... the same checks run against PostgreSQL,
which caches nothing."""
from __future__ import annotations

import threading
import time
import uuid

import oss2
import pytest
import requests
from oss2.models import BucketVersioningConfig

from appendkit import new_bucket
from serverproc import ServerProcess


@pytest.fixture
def two_processes(tmp_path):
    a = ServerProcess(str(tmp_path)).start()
    try:
        b = ServerProcess(str(tmp_path)).start()
        try:
            yield a, b
        finally:
            assert b.stop() == 0, "".join(b.output)
    finally:
        assert a.stop() == 0, "".join(a.output)


def _pair(a, b):
    name = "rows-" + uuid.uuid4().hex[:12]
    via_a, via_b = new_bucket(a.endpoint, name), new_bucket(b.endpoint, name)
    via_a.create_bucket()
    return via_a, via_b


def test_versioning_enabled_elsewhere_shows_in_next_append(two_processes):
    via_a, via_b = _pair(*two_processes)
    first = via_a.append_object("log", 0, b"one")
    assert "x-oss-version-id" not in first.headers
    cfg = BucketVersioningConfig()
    cfg.status = "Enabled"
    via_b.put_bucket_versioning(cfg)
    # the object predates versioning: its version is "null", and now that must be said
    assert via_a.append_object("log", 3, b"two").headers.get("x-oss-version-id") == "null"
    created = via_a.append_object("new", 0, b"x")
    assert created.headers.get("x-oss-version-id") not in (None, "null")


def test_retention_policy_set_elsewhere_refuses_next_append(two_processes):
    via_a, via_b = _pair(*two_processes)
    via_a.append_object("log", 0, b"one")
    via_a.append_object("log", 3, b"two")  # the bucket row has been read (and kept) by A
    via_b.init_bucket_worm(1)
    with pytest.raises(oss2.exceptions.ServerError) as info:
        via_a.append_object("log", 6, b"three")
    assert (info.value.status, info.value.code) == (409, "FileImmutable")


def test_acl_changed_elsewhere_decides_next_anonymous_append(two_processes):
    a, _ = two_processes
    via_a, via_b = _pair(*two_processes)
    url = f"{a.endpoint}/{via_a.bucket_name}/anon?append&position=0"
    assert requests.post(url, data=b"x", timeout=30).status_code == 403
    via_b.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    assert requests.post(url, data=b"x", timeout=30).status_code == 200
    via_b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    assert requests.post(url.replace("position=0", "position=1"), data=b"y", timeout=30).status_code == 403


def test_bucket_deleted_elsewhere_is_gone_at_once(two_processes):
    via_a, via_b = _pair(*two_processes)
    assert via_a.get_bucket_info().name == via_a.bucket_name
    via_b.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        via_a.get_bucket_info()
    via_b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)  # the same name again, another ACL
    assert via_a.get_bucket_acl().acl == oss2.BUCKET_ACL_PUBLIC_READ


def test_fill_waits_for_a_change_between_its_bump_and_commit(tmp_path):
    """A fill must not pair the bumped generation with the row from before the COMMIT (that row
    would then count as current until the next change)."""
    from ossbox.storage.bucket_rows import BucketRows
    path = str(tmp_path / "meta-buckets")
    writer, reader = BucketRows(path), BucketRows(path)
    order = []
    try:
        writer.changing()  # bumped; the COMMIT is still to come

        def fill():
            reader.row("b", lambda name: order.append("select") or ("row",))
        thread = threading.Thread(target=fill)
        thread.start()
        time.sleep(0.3)  # the fill is blocked on the lock meanwhile (without it, it selects now)
        order.append("commit")
        writer.changed()
        thread.join(30)
        assert order == ["commit", "select"]
        hit = reader.row("b", lambda name: order.append("again") or ("row",))
        assert hit == ("row",) and order == ["commit", "select"]  # now a hit: no SELECT
        writer.changing()
        writer.changed()
        reader.row("b", lambda name: order.append("again") or ("row",))
        assert order == ["commit", "select", "again"]
    finally:
        writer.close()
        reader.close()
