"""`ossbox admin migrate --from sqlite:DATA_DIR --to postgresql://...`: an embedded deployment,
filled through the SDKs, stopped, migrated, then served from PostgreSQL on the same data dir.
Skipped when no PostgreSQL answers at OSSBOX_TEST_PG."""
from __future__ import annotations

import json

import oss2
import pytest

import serverproc
from conftest import admin, make_v2_client, put_policy
from pgtest import PG_URL, pg_schema, schema_url  # noqa: F401 (fixture)
import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres]

SSE = "x-oss-server-side-encryption"
CRC = "x-oss-hash-crc64ecma"


@pytest.fixture
def target(pg_schema):
    return schema_url(PG_URL, pg_schema)


@pytest.fixture
def sqlite_server(monkeypatch):
    """Servers started by the test keep SQLite metadata unless given --meta (even in the
    whole-suite PostgreSQL mode: the source of a migration is an embedded deployment)."""
    monkeypatch.setattr(serverproc, "TEST_META", "")


def migrate(data_dir, url, *extra):
    return cliproc.run(["admin", "migrate", "--from", f"sqlite:{data_dir}", "--to", url, *extra], text=True,
                       timeout=120)


def counts(output: str) -> dict[str, int]:
    return {line.split()[0]: int(line.split()[1]) for line in output.splitlines()
            if line.endswith("copied") or "dropped" in line}


def bucket_of(server, name, auth=None):
    return oss2.Bucket(auth or oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET), server.endpoint, name)


def fill(server) -> dict:
    """Every kind of metadata a deployment keeps, made through the SDKs and the admin API."""
    plain = bucket_of(server, "mig-plain")
    plain.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    plain.put_bucket_policy(json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Principal": ["*"], "Action": ["oss:GetObject"],
         "Resource": ["acs:oss:*:*:mig-plain/public/*"]}]}))
    ver = bucket_of(server, "mig-ver")
    ver.create_bucket()
    ver.put_bucket_versioning(oss2.models.BucketVersioningConfig("Enabled"))
    enc = bucket_of(server, "mig-enc")
    enc.create_bucket()
    enc.put_bucket_encryption(oss2.models.ServerSideEncryptionRule(sse_algorithm="AES256"))

    objects = {}  # (bucket, key) -> bytes
    plain.put_object("public/a.txt", b"hello public")
    rule = oss2.models.TaggingRule()
    rule.add("k", "v")
    plain.put_object_tagging("public/a.txt", oss2.models.Tagging(rule))
    objects[("mig-plain", "public/a.txt")] = b"hello public"
    pos = plain.append_object("app", 0, b"first ").next_position
    pos = plain.append_object("app", pos, b"second ").next_position
    objects[("mig-plain", "app")] = b"first second "
    up = plain.init_multipart_upload("mp").upload_id
    p1 = plain.upload_part("mp", up, 1, b"a" * (100 * 1024))
    p2 = plain.upload_part("mp", up, 2, b"b" * 1000)
    plain.complete_multipart_upload("mp", up, [oss2.models.PartInfo(1, p1.etag), oss2.models.PartInfo(2, p2.etag)])
    objects[("mig-plain", "mp")] = b"a" * (100 * 1024) + b"b" * 1000
    plain.put_object("kms", b"kms secret", headers={SSE: "KMS"})
    objects[("mig-plain", "kms")] = b"kms secret"
    plain.put_object("aes", b"aes secret", headers={SSE: "AES256"})
    objects[("mig-plain", "aes")] = b"aes secret"
    enc.put_object("default-enc", b"encrypted by the bucket's rule")
    objects[("mig-enc", "default-enc")] = b"encrypted by the bucket's rule"
    plain.put_object("cold", b"archived bytes", headers={"x-oss-storage-class": "Archive"})
    assert plain.restore_object("cold").status == 202
    objects[("mig-plain", "cold")] = None  # not readable until restored

    v1 = ver.put_object("doc", b"version 1").versionid
    v2 = ver.put_object("doc", b"version 2").versionid
    ver.delete_object("doc")  # a delete marker on top
    ver.put_object("doc", b"version 3")
    ver.put_object("gone", b"soon deleted")
    ver.delete_object("gone")
    objects[("mig-ver", "doc")] = b"version 3"

    pending = plain.init_multipart_upload("pending").upload_id
    pending_part = plain.upload_part("pending", pending, 1, b"p" * (100 * 1024))

    name = "miguser"
    user_id = admin(server, "CreateUser", {"UserName": name})["UserId"]
    key = admin(server, "CreateAccessKey", {"UserName": name})
    user = {"name": name, "id": user_id, "ak": key["AccessKeyId"], "sk": key["AccessKeySecret"]}
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetObject"],
                               "Resource": ["acs:oss:*:*:mig-plain/app"]}])

    state = {"objects": objects, "v1": v1, "v2": v2, "append_pos": pos, "pending": pending,
             "pending_part": pending_part.etag, "user": user, "heads": {}, "versions": None,
             "restore": plain.head_object("cold").headers.get("x-oss-restore")}
    for (b, k) in objects:
        h = bucket_of(server, b).head_object(k).headers
        state["heads"][(b, k)] = (h["ETag"], h[CRC], h.get(SSE), h.get("x-oss-server-side-encryption-key-id"))
    state["versions"] = listing(ver)
    state["kms_keys"] = admin(server, "ListKmsKeys", method="GET")["Keys"]
    return state


def listing(bucket):
    r = bucket.list_object_versions()
    return ([(v.key, v.versionid, v.is_latest, v.etag, v.size) for v in r.versions],
            [(d.key, d.versionid, d.is_latest) for d in r.delete_marker])


def check(server, state):
    for (b, k), data in state["objects"].items():
        h = bucket_of(server, b).head_object(k).headers
        assert (h["ETag"], h[CRC], h.get(SSE), h.get("x-oss-server-side-encryption-key-id")) == \
            state["heads"][(b, k)], (b, k)
        if data is not None:
            assert bucket_of(server, b).get_object(k).read() == data, (b, k)
    plain, ver = bucket_of(server, "mig-plain"), bucket_of(server, "mig-ver")

    # bucket configuration
    assert plain.get_bucket_acl().acl == oss2.BUCKET_ACL_PUBLIC_READ
    assert "mig-plain/public/*" in plain.get_bucket_policy().policy
    assert ver.get_bucket_versioning().status == "Enabled"
    assert bucket_of(server, "mig-enc").get_bucket_encryption().sse_algorithm == "AES256"
    assert plain.get_object_tagging("public/a.txt").tag_set.tagging_rule == {"k": "v"}

    # versions in the same order, old versions readable, delete markers kept
    assert listing(ver) == state["versions"]
    assert ver.get_object("doc", params={"versionId": state["v1"]}).read() == b"version 1"
    assert ver.get_object("doc", params={"versionId": state["v2"]}).read() == b"version 2"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        ver.get_object("gone")
    # a new version sorts after the migrated ones (the version sequence moved past them)
    v4 = ver.put_object("doc", b"version 4").versionid
    versions, _ = listing(ver)
    assert [v[1] for v in versions if v[0] == "doc"][:2] == [v4, state["versions"][0][0][1]]

    # the restore request kept its state; the KMS keys theirs
    assert plain.head_object("cold").headers.get("x-oss-restore") == state["restore"]
    assert admin(server, "ListKmsKeys", method="GET")["Keys"] == state["kms_keys"]

    # the RAM user's key works, within its policy only
    u = state["user"]
    as_user = bucket_of(server, "mig-plain", oss2.Auth(u["ak"], u["sk"]))
    assert as_user.get_object("app").read() == b"first second "
    with pytest.raises(oss2.exceptions.AccessDenied):  # a private bucket the policy does not name
        bucket_of(server, "mig-ver", oss2.Auth(u["ak"], u["sk"])).get_object("doc")
    with pytest.raises(oss2.exceptions.AccessDenied):
        as_user.put_object("app2", b"x")

    # appending continues at the right position; a wrong one gets the true length
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as info:
        plain.append_object("app", 1, b"x")
    assert int(info.value.headers["x-oss-next-append-position"]) == state["append_pos"]
    r = plain.append_object("app", state["append_pos"], b"third")
    assert plain.get_object("app").read() == b"first second third"
    assert r.next_position == state["append_pos"] + 5

    # the upload in progress lists its part and completes
    parts = plain.list_parts("pending", state["pending"]).parts
    assert [(p.part_number, p.etag) for p in parts] == [(1, state["pending_part"])]
    p2 = plain.upload_part("pending", state["pending"], 2, b"q" * 10)
    plain.complete_multipart_upload("pending", state["pending"], [
        oss2.models.PartInfo(1, state["pending_part"]), oss2.models.PartInfo(2, p2.etag)])
    assert plain.get_object("pending").read() == b"p" * (100 * 1024) + b"q" * 10

    # the v2 SDK (V4 signatures, signed with the migrated server secrets' world) reads too
    v2 = make_v2_client(server.endpoint)
    import alibabacloud_oss_v2 as oss
    got = v2.get_object(oss.GetObjectRequest(bucket="mig-plain", key="kms"))
    assert got.body.read() == b"kms secret"


def test_migrated_deployment_serves_everything(tmp_path, target, sqlite_server):
    data = str(tmp_path / "d")
    src = ServerProcess(data).start()
    try:
        state = fill(src)
    finally:
        assert src.stop() == 0
    r = migrate(data, target)
    assert r.returncode == 0, r.stderr
    n = counts(r.stdout)
    assert n["buckets"] == 3 and n["users"] == 1 and n["access_keys"] == 1 and n["user_policies"] == 1
    assert n["uploads"] == 1 and n["parts"] == 1 and n["restores"] == 1 and n["kms_keys"] >= 1
    # 8 current objects; doc v1, v2, a delete marker, gone and its delete marker
    assert n["versions"] + n["objects"] == 13
    assert n["settings"] >= 2 and n["leases"] == 0, r.stdout
    srv = ServerProcess(data, extra_args=["--meta", target]).start()
    try:
        check(srv, state)
    finally:
        srv.stop()
    # the stale SQLite copy is never served again
    stale = ServerProcess(data)
    with pytest.raises(RuntimeError, match="migrated to"):
        stale.start()
    import sqlite3  # ...and the refused server leaves no lease behind (no "source in use" for a minute)
    db = sqlite3.connect(f"{data}/meta.sqlite3")
    assert db.execute("SELECT count(*) FROM leases").fetchone()[0] == 0
    db.close()


def test_migrate_refuses_a_running_source(tmp_path, target, sqlite_server):
    data = str(tmp_path / "d")
    src = ServerProcess(data).start()
    try:
        bucket_of(src, "mig-run").create_bucket()
        r = migrate(data, target)
        assert r.returncode == 1 and "in use" in r.stderr, r
    finally:
        src.stop()
    assert _target_rows(target) == 0  # nothing was written
    assert migrate(data, target).returncode == 0  # once stopped, it goes


def test_migrate_refuses_a_target_with_data(tmp_path, target, sqlite_server):
    for name in ("a", "b"):
        src = ServerProcess(str(tmp_path / name)).start()
        bucket_of(src, f"mig-{name}").create_bucket()
        src.stop()
    assert migrate(str(tmp_path / "a"), target).returncode == 0
    r = migrate(str(tmp_path / "b"), target)
    assert r.returncode == 1 and "already holds metadata" in r.stderr, r
    srv = ServerProcess(str(tmp_path / "a"), extra_args=["--meta", target]).start()
    try:  # the target still serves the first deployment only
        assert [b.name for b in oss2.Service(oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET),
                                             srv.endpoint).list_buckets().buckets] == ["mig-a"]
    finally:
        srv.stop()
    r = migrate(str(tmp_path / "b"), target, "--force")
    assert r.returncode == 0, r.stderr
    assert counts(r.stdout)["buckets"] == 1


def _target_rows(url) -> int:
    import psycopg
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('buckets')").fetchone()[0] is None:
            return 0
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                   for t in ("buckets", "objects", "settings", "users"))


def test_a_crashed_deployment_migrates_with_its_journal(tmp_path, target, sqlite_server):
    """kill -9 leaves a live-looking lease (refused until LEASE_TTL has passed: aged here) and
    possibly journalled small appends not yet retired: they move with the metadata and the
    target's recovery replays them."""
    import sqlite3
    data = str(tmp_path / "d")
    src = ServerProcess(data).start()
    b = bucket_of(src, "mig-crash")
    b.create_bucket()
    pos, expected = 0, b""
    for i in range(50):
        chunk = f"<{i}>".encode()
        pos = b.append_object("log", pos, chunk).next_position
        expected += chunk
    src.kill()
    r = migrate(data, target)
    assert r.returncode == 1 and "in use" in r.stderr, r
    db = sqlite3.connect(f"{data}/meta.sqlite3")
    with db:
        db.execute("UPDATE leases SET renewed = renewed - 3600")  # as if the crash was an hour ago
    db.close()
    r = migrate(data, target)
    assert r.returncode == 0, r.stderr
    assert counts(r.stdout)["leases"] == 1  # the dead server's lease is dropped, not copied
    srv = ServerProcess(data, extra_args=["--meta", target]).start()
    try:
        got = bucket_of(srv, "mig-crash").get_object("log")
        assert got.read() == expected
        assert bucket_of(srv, "mig-crash").append_object("log", pos, b"!").next_position == pos + 1
    finally:
        srv.stop()
