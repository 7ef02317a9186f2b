"""A full disk (ENOSPC): refusals are OSS XML, reads and deletes keep working, restarts succeed.

A real `ossbox server` runs on a small loop-mounted ext4 with 1 KiB blocks (`mkfs.ext4 -b 1024`),
where SQLite's `-shm` file, extended one byte per 4 KiB page, is left with holes that a write
through its mapping must fill on a disk with no free block. The tests fill that disk through oss2
with PutObject and AppendObject until the server refuses writes, then check:

  * every refusal is an OSS error document (503 StorageFull with an EC), never a 500 and never a
    dropped connection;
  * every acknowledged object reads back byte-identical (GET and HEAD);
  * every DELETE succeeds and frees space, so writes are accepted again;
  * the server restarts after `kill -9` on the full disk, cycle after cycle, and then serves reads
    and deletes.

Those need root and a loop device (skipped with the reason otherwise; every mount is undone) and
are in the slow suite. The fast tests here make the server unable to keep its reserve on an
ordinary data dir instead (a reserve larger than half the free space), which is the same state.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
import uuid

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from conftest import make_v2_client, v2_error
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, TEST_META, ServerProcess

pytestmark = pytest.mark.timeout(1200)

DISK_BYTES = 8 * 1024 * 1024
RESERVE = "256KiB"        # the reserve for this tiny disk (through the environment: see _server)
OBJECT = 32 * 1024        # size of the filler objects
APPEND = 8 * 1024         # size of each filler append
RESTART_CYCLES = 30
FILL_ROUNDS = 6


@pytest.fixture
def small_disk(tmp_path):
    """The path of an empty directory on a freshly made, loop-mounted 8 MiB ext4 (1 KiB blocks)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a loop ext4 needs root")
    missing = [t for t in ("mkfs.ext4", "mount", "umount") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    image, mnt = tmp_path / "disk.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(DISK_BYTES)
    # -m 0: no blocks kept for root, so "full" means full for the server too
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "1024", "-m", "0", str(image)], check=True,
                   capture_output=True)
    mnt.mkdir()
    done = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image here: {done.stderr.strip()}")
    servers: list[ServerProcess] = []
    try:
        yield mnt, servers
    finally:
        for proc in servers:
            proc.kill()
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        image.unlink()


def _server(disk, port: int = 0) -> ServerProcess:
    """A started server on the small disk (RuntimeError if it did not start; see _new_server)."""
    return _new_server(disk, port).start(timeout=60)


def _new_server(disk, port: int = 0) -> ServerProcess:
    mnt, servers = disk
    # The reserve size goes through the environment so that the same test runs (and shows the
    # failures) on a server without the option.
    proc = ServerProcess(str(mnt / "data"), port=port, env={"OSSBOX_DISK_RESERVE": RESERVE})
    servers.append(proc)
    return proc


def _bucket(endpoint: str, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), endpoint, name,
                       connect_timeout=30)


def _releases(disk) -> dict[str, int]:
    """How often the servers released the reserve, by reason (from their logs)."""
    counts: dict[str, int] = {}
    for proc in disk[1]:
        for line in proc.output:
            if "released the" in line and "disk full (" in line:
                why = line.split("disk full (", 1)[1].split(")", 1)[0]
                counts[why] = counts.get(why, 0) + 1
    return counts


def _logged_errors(disk) -> list[str]:
    """Errors the servers logged, with their tracebacks (a hidden exception, e.g. a failed
    ROLLBACK)."""
    lines = [line.rstrip() for proc in disk[1] for line in proc.output]
    return [line for i, line in enumerate(lines)
            if " ERROR " in line or (line and not line[0].isdigit() and i and " ERROR " in lines[i - 1])
            or line.startswith(("Traceback", "  ", "sqlite3.", "OSError", "ossbox."))]


class Tracker:
    """What the server acknowledged: key -> bytes; and every refusal it answered."""

    def __init__(self, bucket: oss2.Bucket):
        self.bucket = bucket
        self.acked: dict[str, bytes] = {}
        self.refusals = 0
        self.bad: list[str] = []       # refusals that were not OSS XML 503 StorageFull
        self.rng = random.Random(7)

    def attempt(self, what: str, fn) -> bool:
        """Run one write; True if acknowledged. A refusal must be the disk-full OSS error."""
        try:
            fn()
            return True
        except oss2.exceptions.ServerError as exc:   # an OSS error document was answered
            self.refusals += 1
            if (exc.status, exc.code) != (503, "StorageFull") or not exc.ec:
                self.bad.append(f"{what}: {exc.status} {exc.code} {exc.message!r} ec={exc.ec!r}")
            return False
        except oss2.exceptions.OssError as exc:      # no response: dropped connection, reset, ...
            self.refusals += 1
            self.bad.append(f"{what}: no OSS response ({exc.status}: {exc.body!r})")
            return False

    def put(self, key: str, size: int = OBJECT) -> bool:
        data = self.rng.randbytes(size)
        if self.attempt(f"PUT {key}", lambda: self.bucket.put_object(key, data)):
            self.acked[key] = data
            return True
        return False

    def append(self, key: str, size: int = APPEND) -> bool:
        have = self.acked.get(key, b"")
        data = self.rng.randbytes(size)
        if self.attempt(f"append {key}", lambda: self.bucket.append_object(key, len(have), data)):
            self.acked[key] = have + data
            return True
        return False

    def fill(self, tag: str, max_writes: int = 2000) -> int:
        """PUT and append until the server has refused 6 writes in a row; returns the writes made."""
        made, streak = 0, 0
        for i in range(max_writes):
            ok = self.append(f"log-{tag}") if i % 4 == 3 else self.put(f"fill/{tag}-{i:05d}")
            made += ok
            streak = 0 if ok else streak + 1
            if streak >= 6:
                return made
        raise AssertionError(f"the disk never filled up after {max_writes} writes")

    def verify(self, keys=None) -> list[str]:
        """Keys whose GET or HEAD does not give back exactly the acknowledged bytes."""
        wrong = []
        for key in (self.acked if keys is None else keys):
            data = self.acked[key]
            try:
                got = self.bucket.get_object(key).read()
                size = self.bucket.head_object(key).content_length
            except oss2.exceptions.OssError as exc:
                wrong.append(f"{key}: {exc.status} {exc.code}")
                continue
            if got != data or size != len(data):
                wrong.append(f"{key}: {len(got)}/{size} bytes, expected {len(data)}")
        return wrong

    def delete(self, key: str) -> str | None:
        """DELETE key; returns a problem description, or None when it worked."""
        try:
            self.bucket.delete_object(key)
        except oss2.exceptions.OssError as exc:
            return f"DELETE {key}: {exc.status} {exc.code} {exc.message!r}"
        del self.acked[key]
        return None


def _other_writes(t: Tracker, tag: str) -> None:
    """More kinds of writes on the full disk: CopyObject, multipart, tiny and large bodies."""
    src = next(iter(t.acked))
    t.attempt("CopyObject", lambda: t.bucket.copy_object(t.bucket.bucket_name, src, f"copy-{tag}"))
    t.attempt("PUT 1 byte", lambda: t.bucket.put_object(f"tiny-{tag}", b"x"))
    t.put(f"big-{tag}", 2 * 1024 * 1024)   # refused in mid-body, with most of the body unread
    t.append(f"log-{tag}", 1024 * 1024)

    def multipart():
        up = t.bucket.init_multipart_upload(f"mp-{tag}").upload_id
        t.bucket.upload_part(f"mp-{tag}", up, 1, os.urandom(OBJECT))
    t.attempt("multipart", multipart)


@pytest.mark.slow
def test_full_disk_refuses_writes_keeps_reads_and_deletes(small_disk):
    """Fill the disk, check refusals and reads, then delete until writes are accepted again;
    several rounds, so deletes also run on a disk that was filled up again after deletes."""
    srv = _server(small_disk)
    bucket = _bucket(srv.endpoint, "full-" + uuid.uuid4().hex[:8])
    bucket.create_bucket()
    t = Tracker(bucket)
    made, failed_deletes, wrong_reads, still_refused, deletes_needed = 0, [], [], [], []
    for rnd in range(FILL_ROUNDS):
        made += t.fill(f"r{rnd}")
        _other_writes(t, f"r{rnd}")
        made += t.fill(f"r{rnd}b")
        wrong_reads += t.verify()
        # Deleting always works and gives the space back: writes are accepted again.
        fillers = sorted(k for k in t.acked if k.startswith("fill/"))
        deleted = 0
        for key in fillers[: len(fillers) // 2]:
            problem = t.delete(key)
            if problem:
                failed_deletes.append(f"round {rnd}: {problem}")
            deleted += 1
            if deleted % 4 == 0 and t.put(f"after-delete-{rnd}-{deleted}", 1024):
                deletes_needed.append(deleted)
                break
        else:
            still_refused.append(f"round {rnd}: writes still refused after {deleted} deletes")
    wrong_reads += t.verify()
    summary = (f"{FILL_ROUNDS} rounds: {made} writes acknowledged, {t.refusals} refused, "
               f"{len(t.bad)} refusals not 503 StorageFull, {len(failed_deletes)} failed deletes, "
               f"{len(wrong_reads)} wrong reads; deletes until writes were accepted: {deletes_needed}; "
               f"reserve releases: {_releases(small_disk)}")
    print("\n" + summary)
    assert t.refusals >= 6 * 2 * FILL_ROUNDS
    assert not (t.bad or failed_deletes or wrong_reads or still_refused), (
        summary + "\n" + "\n".join(t.bad[:5] + failed_deletes[:5] + wrong_reads[:5] + still_refused))
    assert srv.stop() == 0, "".join(srv.output[-30:])
    errs = _logged_errors(small_disk)
    assert errs == [], "\n".join(errs)


@pytest.mark.slow
def test_restart_on_full_disk(small_disk):
    """kill -9 and restart on a full disk, again and again: every start succeeds, reads and
    deletes work, refusals stay OSS XML, and nothing acknowledged changes."""
    srv = _server(small_disk)
    port = srv.port
    bucket = _bucket(srv.endpoint, "restart-" + uuid.uuid4().hex[:8])
    bucket.create_bucket()
    t = Tracker(bucket)
    t.fill("c0")
    failed_starts, failed_deletes, wrong_reads = [], [], []
    held, free_kib = 0, []   # kills with the reserve still held (writes had met ENOSPC); free space
    for cycle in range(1, RESTART_CYCLES + 1):
        srv.kill()
        held += os.path.exists(small_disk[0] / "data" / "space.reserve")
        st = os.statvfs(small_disk[0])
        free_kib.append(st.f_bavail * st.f_frsize // 1024)
        srv = _new_server(small_disk, port)
        try:
            srv.start(timeout=60)
        except RuntimeError as exc:
            failed_starts.append(f"cycle {cycle}: exit {srv.proc.returncode}: {str(exc)[-300:]}")
            continue
        wrong_reads += [f"cycle {cycle}: {w}" for w in t.verify(sorted(t.acked)[-8:])]
        fillers = sorted(k for k in t.acked if k.startswith("fill/"))
        for victim in fillers[cycle % 7::29][:4]:
            problem = t.delete(victim)
            if problem:
                failed_deletes.append(f"cycle {cycle}: {problem}")
        t.fill(f"c{cycle}")   # full again before the next kill
    for _attempt in range(5):   # a last start to read everything back
        srv.kill()
        srv = _new_server(small_disk, port)
        try:
            srv.start(timeout=60)
        except RuntimeError:
            failed_starts.append(f"final start: exit {srv.proc.returncode}")
            continue
        wrong_reads += t.verify()
        break
    summary = (f"{RESTART_CYCLES} kill -9 cycles on a full disk ({held} with the reserve held, "
               f"{min(free_kib)}..{max(free_kib)} KiB free): "
               f"{len(failed_starts)} failed starts, "
               f"{len(failed_deletes)} failed deletes, {len(wrong_reads)} wrong reads, "
               f"{len(t.bad)} bad refusals of {t.refusals}; reserve releases: {_releases(small_disk)}")
    print("\n" + summary)
    assert not (failed_starts or failed_deletes or wrong_reads or t.bad), (
        summary + "\n" + "\n".join(failed_starts[:5] + failed_deletes[:5] + wrong_reads[:5] + t.bad[:5]))
    errs = _logged_errors(small_disk)
    assert errs == [], "\n".join(errs)


def _as_oss_error(fn):
    with pytest.raises(oss2.exceptions.ServerError) as info:
        fn()
    return info.value


def test_without_its_reserve_the_server_refuses_writes_but_reads_and_deletes(tmp_path):
    data = str(tmp_path / "data")
    first = ServerProcess(data, env={"OSSBOX_DISK_RESERVE": "0"}).start()
    try:
        b = _bucket(first.endpoint, "reserve-" + uuid.uuid4().hex[:8])
        b.create_bucket()
        b.put_object("a", b"alpha")
        b.put_object("b", b"bravo")
        b.append_object("log", 0, b"line 1\n")
    finally:
        assert first.stop() == 0
    # Twice the reserve is more than is free (with 1 GiB to spare), so it cannot be made: the
    # state a server is in after releasing it on a full disk.
    st = os.statvfs(tmp_path)
    reserve = st.f_bavail * st.f_frsize // 2 + 1024 ** 3
    srv = ServerProcess(data, env={"OSSBOX_DISK_RESERVE": str(reserve)}).start()
    try:
        b = _bucket(srv.endpoint, b.bucket_name)
        refusals = [
            _as_oss_error(lambda: b.put_object("c", b"charlie")),
            _as_oss_error(lambda: b.append_object("log", 7, b"line 2\n")),
            _as_oss_error(lambda: b.copy_object(b.bucket_name, "a", "a-copy")),
            _as_oss_error(lambda: b.init_multipart_upload("mp")),
        ]
        for exc in refusals:
            assert (exc.status, exc.code, exc.ec) == (503, "StorageFull", "0000-00000005"), exc
            assert "disk is full" in exc.message and exc.headers["x-oss-ec"] == "0000-00000005"
        # the v2 SDK gets the same error (and would retry it later: a 5xx)
        client = make_v2_client(srv.endpoint)
        err = v2_error(client.put_object, oss.PutObjectRequest(bucket=b.bucket_name, key="d", body=b"x"))
        assert (err.status_code, err.code, err.ec) == (503, "StorageFull", "0000-00000005")
        assert b.get_object("a").read() == b"alpha"
        assert b.get_object("log").read() == b"line 1\n"
        assert [o.key for o in oss2.ObjectIterator(b)] == ["a", "b", "log"]
        b.delete_object("b")
        assert not b.object_exists("b")
        assert not os.path.exists(os.path.join(data, "space.reserve"))
    finally:
        assert srv.stop() == 0, "".join(srv.output)
    # With a reserve that fits, it is made at start and writes are accepted again.
    srv = ServerProcess(data, env={"OSSBOX_DISK_RESERVE": "64KiB"}).start()
    try:
        b = _bucket(srv.endpoint, b.bucket_name)
        b.put_object("c", b"charlie")
        b.append_object("log", 7, b"line 2\n")
        assert b.get_object("log").read() == b"line 1\nline 2\n"
        assert os.path.getsize(os.path.join(data, "space.reserve")) == 64 * 1024
    finally:
        assert srv.stop() == 0


@pytest.mark.parametrize("value", ["lots", "1.5MiB", "12XB", "-1"])
def test_disk_reserve_must_be_a_size(tmp_path, value):
    r = subprocess.run([sys.executable, "-m", "ossbox", "server", "--port", "0", "--data-dir",
                        str(tmp_path), "--disk-reserve", value], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "argument --disk-reserve: must be a size" in r.stderr, r.stderr


def _fill_with_file(path) -> int:
    """Take every free block of the disk with one file (as another program might); its size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    size = 0
    try:
        for step in (1024 * 1024, 64 * 1024, 1024):
            while True:
                try:
                    os.posix_fallocate(fd, size, step)
                except OSError:
                    break
                size += step
    finally:
        os.close(fd)
    return size


@pytest.mark.slow
def test_metadata_writes_on_a_disk_filled_by_someone_else(small_disk):
    """Another program takes the last block: metadata-only writes (ACL, tagging, bucket ACL, tiny
    journalled appends) fail at COMMIT, where SQLite has already rolled back; the answer must be
    503 StorageFull, deletes still work, the server restarts, and writes resume once space is back."""
    mnt = small_disk[0]
    srv = _server(small_disk)
    bucket = _bucket(srv.endpoint, "meta-" + uuid.uuid4().hex[:8])
    bucket.create_bucket()
    t = Tracker(bucket)
    for i in range(12):
        t.put(f"fill/m-{i:02d}")
    t.append("log")
    _fill_with_file(mnt / "filler")
    accepted = 0
    for i in range(40):
        key = f"fill/m-{i % 12:02d}"
        acl = ("private", "public-read")[i % 2]
        accepted += t.attempt("PutObjectACL", lambda: bucket.put_object_acl(key, acl))
        rule = oss2.models.TaggingRule()
        rule.add("n", f"{i:03d}" * 80)
        accepted += t.attempt("PutObjectTagging",
                              lambda: bucket.put_object_tagging(key, oss2.models.Tagging(rule)))
        accepted += t.attempt("PutBucketAcl", lambda: bucket.put_bucket_acl(acl))
        accepted += t.append("log", 100)
    refused = t.refusals
    print(f"\nmetadata writes on a full disk: {accepted} accepted, {refused} refused, "
          f"{len(t.bad)} of them not 503 StorageFull")
    assert t.bad == [], t.bad[:5]
    assert t.verify() == []
    problems = [p for p in (t.delete("fill/m-00"), t.delete("fill/m-01")) if p]
    srv.kill()
    srv = _server(small_disk, srv.port)   # on the disk that is still full
    problems += [p for p in (t.delete("fill/m-02"),) if p]
    assert t.verify() == []
    os.unlink(mnt / "filler")
    for _ in range(30):                   # the reserve is re-made within a second or so
        if t.put("after-filler", 1024):
            break
        time.sleep(0.5)
    else:
        problems.append("writes still refused after the filler was removed")
    print(f"reserve releases: {_releases(small_disk)}")
    assert problems == [] and t.bad == [], problems + t.bad[:5]
    assert srv.stop() == 0
    errs = _logged_errors(small_disk)
    assert errs == [], "\n".join(errs)


def _free(path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.mark.slow
def test_a_write_in_flight_stops_when_the_reserve_is_released(small_disk):
    """Once the reserve is released, writes that add data are refused at once -- and one that is
    already streaming its body must stop too, at its next chunk. Otherwise it eats the blocks the
    reserve gave back, which deletes need for their metadata commit; an append even keeps them
    after it fails (its bytes past the committed size stay allocated until the next append)."""
    import threading

    from appendkit import wait_until
    from test_gc import TOTAL, WRITTEN, _HalfThenWait

    mnt = small_disk[0]
    srv = _server(small_disk)
    bucket = _bucket(srv.endpoint, "inflight-" + uuid.uuid4().hex[:8])
    bucket.create_bucket()
    bucket.append_object("log", 0, b"first line\n")
    body = _HalfThenWait(os.urandom(TOTAL))
    outcome = {}

    def append():
        try:
            bucket.append_object("log", len(b"first line\n"), body)
            outcome["answer"] = "200"
        except oss2.exceptions.OssError as exc:
            outcome["answer"] = f"{exc.status} {exc.code}"
    writer = threading.Thread(target=append, daemon=True)
    writer.start()
    try:
        wait_until(lambda: any(os.path.getsize(os.path.join(d, f)) >= WRITTEN
                               for d, _, files in os.walk(mnt / "data" / "blobs") for f in files), 30,
                   what="the first half of the append to reach its blob")
        _fill_with_file(mnt / "filler")
        os.unlink(mnt / "data" / "space.reserve")  # released, as by another server on the data dir
        reserve = _free(mnt)

        def refused() -> bool:  # a PUT with a wrong Content-MD5 changes nothing if it is accepted
            try:
                bucket.put_object("probe", b"x", headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
            except oss2.exceptions.ServerError as exc:
                return exc.code == "StorageFull"
            return False
        wait_until(refused, 30, interval=0.3, what="the server to refuse new writes")
    finally:
        body.release.set()
    writer.join(60)
    assert outcome.get("answer") == "503 StorageFull", outcome
    free = _free(mnt)
    assert free >= reserve // 2, (f"the append in flight took {reserve - free} of the {reserve} bytes "
                                  "the released reserve gave back")
    bucket.delete_object("log")
    assert srv.stop() == 0, "".join(srv.output[-30:])


@pytest.mark.slow
@pytest.mark.skipif(bool(TEST_META), reason="pins the SQLite WAL of the data dir; metadata is in PostgreSQL")
def test_lease_renewal_and_stop_on_a_full_disk(small_disk):
    """The background lease renewal and the lease drop at stop are metadata writes too: on a full
    disk they fail with SQLITE_FULL. That is expected there -- a warning, not an ERROR with a
    traceback every 5 s -- and SIGTERM still stops the server cleanly (exit 0). The WAL is pinned
    by a reader, so every commit needs a fresh block and fails for sure."""
    import sqlite3

    from appendkit import wait_until

    mnt = small_disk[0]
    srv = _server(small_disk)
    bucket = _bucket(srv.endpoint, "lease-" + uuid.uuid4().hex[:8])
    bucket.create_bucket()
    bucket.put_object("k", b"x" * 1000)
    reader = sqlite3.connect(str(mnt / "data" / "meta.sqlite3"))
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM objects").fetchone()  # holds its WAL snapshot
        _fill_with_file(mnt / "filler")
        t = Tracker(bucket)

        def commit_refused() -> bool:
            return not t.attempt("PutObjectACL", lambda: bucket.put_object_acl("k", "public-read"))
        wait_until(commit_refused, 30, interval=0.2, what="a metadata commit to meet the full disk")
        assert t.bad == [], t.bad
        seen = len(srv.output)
        wait_until(lambda: any("lease" in line for line in srv.output[seen:]), 30, interval=0.2,
                   what="a lease renewal on the full disk")
        code = srv.stop()
    finally:
        reader.close()
    assert code == 0, "".join(srv.output[-30:])
    errs = _logged_errors(small_disk)
    assert errs == [], "\n".join(errs)


def test_a_release_during_a_refresh_keeps_full_mode(tmp_path, monkeypatch):
    """The 1 s refresh runs in a worker thread while a delete may release the reserve on the event
    loop. A refresh that saw the file just before the release must not end full mode with what it
    saw, or writes that add data are accepted for up to a second and take the blocks the release
    gave back. (In-process: a server cannot place the release between the refresh's two steps.)"""
    from ossbox.storage import reserve as reserve_mod

    r = reserve_mod.SpaceReserve(str(tmp_path), 64 * 1024)
    r.refresh()
    assert os.path.exists(r.path) and not r.full
    real_stat = os.stat

    def stat_then_release(path, *args, **kwargs):
        st = real_stat(path, *args, **kwargs)
        if path == r.path and not r.full:
            r.release("a delete needed space")  # what the event loop does meanwhile
        return st
    monkeypatch.setattr(reserve_mod.os, "stat", stat_then_release)
    r.refresh()
    assert not os.path.exists(r.path)
    assert r.full
