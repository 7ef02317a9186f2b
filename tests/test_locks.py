"""Object locks against a stalled writer (issue 9, item 7).

A client that sends part of an append body and stops holds that object's lock. It must not make
anyone else wait: a wrong-position append or seal of the same object is answered at once from the
committed length, and no other object (in particular none in another bucket, found by searching
for a hash collision) shares its lock. The stalled request stays provably open meanwhile: its
socket is still connected and unanswered when the other answers arrive.
"""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import os
import socket
import time
import uuid
from urllib.parse import urlparse

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from appendkit import new_bucket, wait_until
from conftest import remove_bucket
from ossbox.auth import SignedRequest
from ossbox.storage.locks import ObjectLocks
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, TEST_DATA, ServerProcess
from signing import sign_v1_header

STALL_DECLARED = 1 << 20
STALL_SENT = 64 * 1024
CLIENT_TIMEOUT = 5  # seconds: a request stuck behind the stalled writer fails instead of hanging


def _blob_sizes(data_dir: str) -> dict[str, int]:
    """Sizes of the files a write streams into: blobs, or in segment mode (OSSBOX_TEST_DATA) the
    segment store's temp files."""
    sizes = {}
    for root, _dirs, files in [*os.walk(os.path.join(data_dir, "blobs")),
                               *os.walk(os.path.join(data_dir, "segments"))]:
        for f in files:
            path = os.path.join(root, f)
            try:
                sizes[path] = os.stat(path).st_size
            except FileNotFoundError:
                pass
    return sizes


class StalledWrite:
    """A raw write (an AppendObject by default, or a PutObject with position=None) that declares
    1 MiB, sends 64 KiB and then nothing more, its connection left open. Entered only once the
    server is provably inside the body: 64 KiB more bytes have reached a blob file of `data_dir`
    (for an append, the object's lock is held from then on)."""

    def __init__(self, endpoint: str, data_dir: str, bucket: str, key: str, position: int | None):
        self.endpoint, self.data_dir = endpoint, data_dir
        self.bucket, self.key, self.position = bucket, key, position
        self.sock: socket.socket | None = None

    def __enter__(self) -> "StalledWrite":
        before = _blob_sizes(self.data_dir)
        date = email.utils.formatdate(usegmt=True)
        if self.position is None:
            method, query, target = "PUT", [], f"/{self.bucket}/{self.key}"
        else:
            method, query = "POST", [("append", ""), ("position", str(self.position))]
            target = f"/{self.bucket}/{self.key}?append&position={self.position}"
        auth = sign_v1_header(SignedRequest(method, self.bucket, self.key, query, {"date": date}),
                              ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        u = urlparse(self.endpoint)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        self.sock.sendall((f"{method} {target} HTTP/1.1\r\n"
                           f"Host: {u.netloc}\r\nDate: {date}\r\nAuthorization: {auth}\r\n"
                           f"Content-Length: {STALL_DECLARED}\r\n\r\n").encode()
                          + b"s" * STALL_SENT)

        def inside_body():
            return any(size - before.get(path, 0) >= STALL_SENT
                       for path, size in _blob_sizes(self.data_dir).items())
        if TEST_DATA == "rgw":
            # segment mode on S3 buffers a body below 5 MiB in memory: no file grows to watch. Its
            # bytes were sent; give the server a moment to read them (it holds no lock there)
            time.sleep(1.0)
        else:
            wait_until(inside_body, 10, what="the stalled write to be inside its body")
        return self

    def still_open(self) -> bool:
        """Connected and unanswered: the server has neither replied nor closed."""
        self.sock.setblocking(False)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(10)
        return False  # a reply, or b"" for a close

    def __exit__(self, *exc):
        self.sock.close()


def _v2(endpoint: str):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    cfg.region, cfg.endpoint = "cn-hangzhou", endpoint
    cfg.retry_max_attempts, cfg.readwrite_timeout = 1, CLIENT_TIMEOUT
    return oss.Client(cfg)


def _wrong_requests_answered_at_once(endpoint: str, bucket_name: str, key: str, length: int):
    """Wrong-position appends and a wrong-position seal of `key`, from fresh clients with a short
    timeout: each must get 409 with the committed length, not wait behind the stalled writer."""
    b = new_bucket(endpoint, bucket_name, timeout=CLIENT_TIMEOUT)
    for wrong in (0, length + 1, length + STALL_SENT):
        with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as e:
            b.append_object(key, wrong, b"late")
        assert e.value.next_position == length
    with pytest.raises(oss.exceptions.OperationError) as info:
        _v2(endpoint).seal_append_object(oss.SealAppendObjectRequest(
            bucket=bucket_name, key=key, position=length + 1))
    err = info.value.unwrap()
    assert isinstance(err, oss.exceptions.ServiceError), err  # not a timeout behind the stall
    assert (err.status_code, err.code) == (409, "PositionNotEqualToLength")
    assert err.headers.get("x-oss-next-append-position") == str(length)


def test_wrong_position_answered_behind_stalled_append(server, bucket):
    key = "stalled.log"
    bucket.append_object(key, 0, b"x" * 1000)
    with StalledWrite(server.endpoint, server.data_dir, bucket.bucket_name, key, 1000) as stall:
        _wrong_requests_answered_at_once(server.endpoint, bucket.bucket_name, key, 1000)
        assert stall.still_open()
    # the stalled append never completed: nothing of it is visible, the object goes on
    assert bucket.head_object(key).content_length == 1000
    assert bucket.append_object(key, 1000, b"y").next_position == 1001


def test_stalled_put_holds_no_lock(server, bucket):
    """A PutObject body is written to a new blob outside the object's lock (only its commit
    locks), so a stalled PUT makes no writer of the key wait."""
    bucket.append_object("p", 0, b"12345")
    with StalledWrite(server.endpoint, server.data_dir, bucket.bucket_name, "p", None) as stall:
        b = new_bucket(server.endpoint, bucket.bucket_name, timeout=CLIENT_TIMEOUT)
        assert b.append_object("p", 5, b"6").next_position == 6
        b.put_object("p", b"replaced")
        assert stall.still_open()
    assert bucket.get_object("p").read() == b"replaced"


def test_wrong_position_answered_behind_stalled_append_of_other_process(tmp_path):
    """The stalled writer is in another server process on the same data dir (the OFD lock)."""
    a = ServerProcess(str(tmp_path)).start()
    try:
        b_proc = ServerProcess(str(tmp_path)).start()
        try:
            name = "b-" + uuid.uuid4().hex[:12]
            writer = new_bucket(a.endpoint, name)
            writer.create_bucket()
            writer.append_object("k", 0, b"z" * 77)
            with StalledWrite(a.endpoint, a.data_dir, name, "k", 77) as stall:
                _wrong_requests_answered_at_once(b_proc.endpoint, name, "k", 77)
                assert stall.still_open()
            assert new_bucket(b_proc.endpoint, name).append_object("k", 77, b"!").next_position == 78
        finally:
            assert b_proc.stop() == 0, "".join(b_proc.output)
    finally:
        assert a.stop() == 0, "".join(a.output)


def _original_slot(bucket: str, key: str) -> int:
    """The lock slot of an object before issue 9: unkeyed BLAKE2b modulo 2^20, which anyone
    could compute."""
    digest = hashlib.blake2b(f"{bucket}\0{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % (1 << 20)


def _colliding_key(bucket: str, target: int) -> str:
    prefix = hashlib.blake2b(f"{bucket}\0k".encode(), digest_size=8)
    for i in range(1 << 26):
        h = prefix.copy()
        h.update(str(i).encode())
        if int.from_bytes(h.digest(), "little") % (1 << 20) == target:
            return f"k{i}"
    raise AssertionError("no colliding key found")


def test_stalled_writer_cannot_block_a_key_of_another_bucket(server, oss2_auth, bucket):
    """The attack of issue 9: search for a key of one's own bucket whose (formerly unkeyed) lock
    slot is the victim's, stall a write to it, and the victim's writers used to wait."""
    victim_key = "important.log"
    bucket.append_object(victim_key, 0, b"v" * 10)
    attacker = "attacker-" + uuid.uuid4().hex[:12]
    oss2.Bucket(oss2_auth, server.endpoint, attacker).create_bucket()
    try:
        key = _colliding_key(attacker, _original_slot(bucket.bucket_name, victim_key))
        assert _original_slot(attacker, key) == _original_slot(bucket.bucket_name, victim_key)
        with StalledWrite(server.endpoint, server.data_dir, attacker, key, 0) as stall:
            victim = new_bucket(server.endpoint, bucket.bucket_name, timeout=CLIENT_TIMEOUT)
            assert victim.append_object(victim_key, 10, b"w").next_position == 11
            assert stall.still_open()
    finally:
        remove_bucket(oss2_auth, server.endpoint, attacker)
    assert bucket.get_object(victim_key).read() == b"v" * 10 + b"w"


def test_names_sharing_a_lock_byte_stay_exclusive_across_processes(tmp_path):
    """Two ObjectLocks on one data dir stand for two processes (two open file descriptions). If
    two names ever map to the same byte, one process holding both must keep the byte locked
    until it has released both: OFD locks through one description never conflict, so unlocking
    at the first release would let the other process in beside the second holder."""
    async def scenario():
        here, there = ObjectLocks(str(tmp_path)), ObjectLocks(str(tmp_path))
        try:
            assert here._offset("b", "k") == there._offset("b", "k")  # one secret per data dir
            assert here._offset("b", "k") != here._offset("b", "k2")
            for locks in (here, there):
                locks._offset = lambda bucket, key: 12345  # force every name onto one byte
            first = here.hold("b", "one")
            second = here.hold("b", "two")
            await first.__aenter__()
            await asyncio.wait_for(second.__aenter__(), 1)  # other name, same process: no wait
            other = asyncio.ensure_future(there.hold("b", "one").__aenter__())
            await asyncio.sleep(0.05)
            await first.__aexit__(None, None, None)
            await asyncio.sleep(0.05)
            assert not other.done(), "the other process got in while 'two' is still held here"
            await second.__aexit__(None, None, None)
            await asyncio.wait_for(other, 2)
        finally:
            here.close()
            there.close()
    asyncio.run(scenario())


def test_lock_secret_is_created_once_per_data_dir(tmp_path):
    with open(tmp_path / "locks", "wb"):
        pass  # an empty locks file, as a data dir of an older version has
    os.mkdir(tmp_path / "other")
    first, second, other = (ObjectLocks(str(tmp_path)), ObjectLocks(str(tmp_path)),
                            ObjectLocks(str(tmp_path / "other")))
    try:
        assert first._secret == second._secret and len(first._secret) == 32
        assert other._secret != first._secret
    finally:
        for locks in (first, second, other):
            locks.close()
