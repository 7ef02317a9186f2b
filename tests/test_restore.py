"""Storage classes and RestoreObject (issue 5): archived objects are unreadable until restored."""
import os
import re
import time
import uuid

import oss2
import pytest

import alibabacloud_oss_v2 as oss
from conftest import make_v2_client, remove_bucket, v2_error
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, meta_db

from ossbox.ops import restore
from ossbox.storage.metadata import RestoreRecord

DELAY = 1.0
_EXPIRY = re.compile(r'ongoing-request="false", expiry-date="(\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT)"')


@pytest.fixture(scope="module")
def rserver(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-restore")),
                         extra_args=["--restore-delay", str(DELAY)]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture
def auth():
    return oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)


def _make_bucket(auth, endpoint, storage_class=None):
    name = "r-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(auth, endpoint, name)
    if storage_class:
        b.create_bucket(oss2.BUCKET_ACL_PRIVATE, oss2.models.BucketCreateConfig(storage_class))
    else:
        b.create_bucket()
    return b


@pytest.fixture
def rbucket(rserver, auth):
    b = _make_bucket(auth, rserver.endpoint)
    yield b
    remove_bucket(auth, rserver.endpoint, b.bucket_name)


@pytest.fixture
def archive_bucket(rserver, auth):
    b = _make_bucket(auth, rserver.endpoint, oss2.BUCKET_STORAGE_CLASS_ARCHIVE)
    yield b
    remove_bucket(auth, rserver.endpoint, b.bucket_name)


def _archive_put(b, key, data=b"frozen data"):
    b.put_object(key, data, headers={"x-oss-storage-class": "Archive"})


def _wait_restored(b, key, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = b.head_object(key).headers.get("x-oss-restore", "")
        if h.startswith('ongoing-request="false"'):
            return h
        time.sleep(0.1)
    raise AssertionError("restore did not complete")


# -- the oss2 flow --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["put", "append"])
def test_archive_restore_flow_oss2(rbucket, kind):
    key = "cold-" + kind
    if kind == "put":
        _archive_put(rbucket, key)
        data = b"frozen data"
    else:  # Archive objects may be appendable (spec): appends go on while it is archived
        rbucket.append_object(key, 0, b"frozen ", headers={"x-oss-storage-class": "Archive"})
        r = rbucket.append_object(key, 7, b"data")
        assert r.next_position == 11
        data = b"frozen data"
    h = rbucket.head_object(key)
    assert h.headers["x-oss-storage-class"] == "Archive" and h.content_length == len(data)
    assert "x-oss-restore" not in h.headers
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.get_object(key)
    assert e.value.status == 403 and e.value.code == "InvalidObjectState"
    assert e.value.message == "The operation is not valid for the object's state."

    assert rbucket.restore_object(key).status == 202
    with pytest.raises(oss2.exceptions.RestoreAlreadyInProgress) as e:
        rbucket.restore_object(key)
    assert e.value.status == 409 and e.value.message == "The restore operation is in progress."
    assert rbucket.head_object(key).headers["x-oss-restore"] == 'ongoing-request="true"'
    meta = rbucket.get_object_meta(key)
    assert meta.headers["x-oss-restore"] == 'ongoing-request="true"'
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.get_object(key)
    assert e.value.code == "InvalidObjectState"

    header = _wait_restored(rbucket, key)
    m = _EXPIRY.fullmatch(header)
    assert m, header
    expiry = oss2.utils.to_unixtime(m.group(1), "%a, %d %b %Y %H:%M:%S GMT")
    assert 86400 - 30 < expiry - time.time() < 86400 + 30  # 1 day by default
    got = rbucket.get_object(key)
    assert got.read() == data and got.headers["x-oss-restore"] == header

    # a repeat after completion: 200, and the expiry is extended to the requested days
    r = rbucket.restore_object(key, input=oss2.models.RestoreConfiguration(days=3))
    assert r.status == 200
    later = _EXPIRY.fullmatch(rbucket.head_object(key).headers["x-oss-restore"]).group(1)
    assert oss2.utils.to_unixtime(later, "%a, %d %b %Y %H:%M:%S GMT") - time.time() > 2.9 * 86400


def test_replaced_object_loses_restore_state(rbucket):
    _archive_put(rbucket, "k")
    rbucket.restore_object("k")
    _wait_restored(rbucket, "k")
    _archive_put(rbucket, "k", b"new")
    assert "x-oss-restore" not in rbucket.head_object("k").headers
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.get_object("k")
    assert e.value.code == "InvalidObjectState"


def test_expired_restore_makes_object_unreadable_again(rserver, rbucket):
    _archive_put(rbucket, "exp")
    assert rbucket.restore_object("exp").status == 202
    _wait_restored(rbucket, "exp")
    assert rbucket.get_object("exp").read() == b"frozen data"
    # Days >= 1 cannot be waited for: move the stored expiry into the past (another process may
    # share the SQLite file, so the server reads the change)
    db = meta_db(rserver.data_dir)
    with db:
        assert db.execute("UPDATE restores SET expires_at=? WHERE blob="
                          "(SELECT blob FROM objects WHERE bucket=? AND key=?)",
                          (time.time() - 1, rbucket.bucket_name, "exp")).rowcount == 1
    db.close()
    assert "x-oss-restore" not in rbucket.head_object("exp").headers
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.get_object("exp")
    assert e.value.code == "InvalidObjectState"
    assert rbucket.restore_object("exp").status == 202  # a new restore starts from scratch
    assert rbucket.head_object("exp").headers["x-oss-restore"] == 'ongoing-request="true"'


def test_copy_of_unrestored_archive_source_refused(rbucket):
    _archive_put(rbucket, "src")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.copy_object(rbucket.bucket_name, "src", "dst")
    assert e.value.status == 403 and e.value.code == "InvalidObjectState"
    up = rbucket.init_multipart_upload("mp").upload_id
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.upload_part_copy(rbucket.bucket_name, "src", (0, 4), "mp", up, 1)
    assert e.value.status == 403 and e.value.code == "InvalidObjectState"
    rbucket.abort_multipart_upload("mp", up)
    # once restored the copy works (to Standard)
    rbucket.restore_object("src")
    _wait_restored(rbucket, "src")
    rbucket.copy_object(rbucket.bucket_name, "src", "dst", headers={"x-oss-storage-class": "Standard"})
    assert rbucket.get_object("dst").read() == b"frozen data"


def test_standard_and_ia_restore_is_operation_not_supported(rbucket):
    rbucket.put_object("std", b"x")
    rbucket.put_object("ia", b"x", headers={"x-oss-storage-class": "IA"})
    for key in ("std", "ia"):
        with pytest.raises(oss2.exceptions.OperationNotSupported) as e:
            rbucket.restore_object(key)
        assert e.value.status == 400 and e.value.ec == "0016-00000702"
        assert rbucket.get_object(key).read() == b"x"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        rbucket.restore_object("missing")


def test_restore_days_limits_per_class(rbucket):
    _archive_put(rbucket, "a")
    rbucket.put_object("c", b"x", headers={"x-oss-storage-class": "ColdArchive"})
    rbucket.put_object("d", b"x", headers={"x-oss-storage-class": "DeepColdArchive"})
    for key, bad in (("a", 8), ("a", 0), ("c", 366), ("d", 366)):
        with pytest.raises(oss2.exceptions.ServerError) as e:
            rbucket.restore_object(key, input=oss2.models.RestoreConfiguration(days=bad))
        assert e.value.status == 400 and e.value.code == "MalformedXML", (key, bad)
    for key in ("c", "d"):
        with pytest.raises(oss2.exceptions.ServerError) as e:
            rbucket.get_object(key)
        assert e.value.code == "InvalidObjectState"
        cfg = oss2.models.RestoreConfiguration(
            days=365, job_parameters=oss2.models.RestoreJobParameters(oss2.models.RESTORE_TIER_EXPEDITED))
        assert rbucket.restore_object(key, input=cfg).status == 202
    assert rbucket.restore_object("a", input=oss2.models.RestoreConfiguration(days=7)).status == 202
    for key in ("a", "c", "d"):
        _wait_restored(rbucket, key)
        assert rbucket.get_object(key).read() in (b"x", b"frozen data")


def test_bucket_default_storage_class_applies(archive_bucket):
    archive_bucket.put_object("plain", b"p")
    archive_bucket.append_object("app", 0, b"a")
    archive_bucket.put_object("std", b"s", headers={"x-oss-storage-class": "Standard"})
    assert archive_bucket.head_object("plain").headers["x-oss-storage-class"] == "Archive"
    assert archive_bucket.head_object("app").headers["x-oss-storage-class"] == "Archive"
    assert archive_bucket.head_object("std").headers["x-oss-storage-class"] == "Standard"
    for key in ("plain", "app"):
        with pytest.raises(oss2.exceptions.ServerError) as e:
            archive_bucket.get_object(key)
        assert e.value.code == "InvalidObjectState"
    assert archive_bucket.get_object("std").read() == b"s"
    listed = {o.key: o.storage_class for o in oss2.ObjectIterator(archive_bucket)}
    assert listed == {"plain": "Archive", "app": "Archive", "std": "Standard"}


def test_cold_archive_append_refused(rbucket):
    with pytest.raises(oss2.exceptions.ServerError) as e:
        rbucket.append_object("x", 0, b"a", headers={"x-oss-storage-class": "ColdArchive"})
    assert e.value.status == 400


# -- the v2 SDK -----------------------------------------------------------------------------------
def test_restore_flow_v2(rserver, rbucket):
    client = make_v2_client(rserver.endpoint)
    name = rbucket.bucket_name
    client.put_object(oss.PutObjectRequest(bucket=name, key="v2", body=b"v2 data", storage_class="Archive"))
    err = v2_error(client.get_object, oss.GetObjectRequest(bucket=name, key="v2"))
    assert err.status_code == 403 and err.code == "InvalidObjectState"
    # an Archive object has no restore tiers: JobParameters is MalformedXML (oss2's
    # test_restore_archive_object_with_job_parameters)
    err = v2_error(client.restore_object, oss.RestoreObjectRequest(
        bucket=name, key="v2", restore_request=oss.RestoreRequest(
            days=2, job_parameters=oss.JobParameters(tier="Standard"))))
    assert (err.status_code, err.code) == (400, "MalformedXML")
    req = oss.RestoreObjectRequest(bucket=name, key="v2", restore_request=oss.RestoreRequest(days=2))
    r = client.restore_object(req)
    assert r.status_code == 202 and r.restore_priority is None
    err = v2_error(client.restore_object, req)
    assert err.status_code == 409 and err.code == "RestoreAlreadyInProgress"
    assert client.head_object(oss.HeadObjectRequest(bucket=name, key="v2")).restore == 'ongoing-request="true"'
    time.sleep(DELAY + 0.3)
    head = client.head_object(oss.HeadObjectRequest(bucket=name, key="v2"))
    assert _EXPIRY.fullmatch(head.restore) and head.storage_class == "Archive"
    got = client.get_object(oss.GetObjectRequest(bucket=name, key="v2"))
    assert got.body.read() == b"v2 data"
    assert client.restore_object(oss.RestoreObjectRequest(bucket=name, key="v2")).status_code == 200

    # the v2 SDK's test_restore_object_tier / _job_parameters read the priority back
    client.put_object(oss.PutObjectRequest(bucket=name, key="cold", body=b"c", storage_class="ColdArchive"))
    r = client.restore_object(oss.RestoreObjectRequest(bucket=name, key="cold", restore_request=oss.RestoreRequest(
        days=7, job_parameters=oss.JobParameters(tier="Bulk"))))
    assert r.status_code == 202 and r.restore_priority == "Bulk"

    client.put_object(oss.PutObjectRequest(bucket=name, key="plain", body=b"p"))
    err = v2_error(client.restore_object, oss.RestoreObjectRequest(bucket=name, key="plain"))
    assert err.status_code == 400 and err.code == "OperationNotSupported"


# -- state from timestamps (expiry cannot be waited for over HTTP: Days >= 1) ---------------------
def test_state_machine_and_expiry():
    rec = RestoreRecord("blob", requested=100.0, ready_at=160.0, expires_at=160.0 + 86400)
    assert restore.state(None, 150.0) == restore.NONE
    assert restore.state(rec, 159.9) == restore.ONGOING
    assert restore.header_value(rec, 159.9) == 'ongoing-request="true"'
    assert restore.state(rec, 160.0) == restore.RESTORED
    assert restore.header_value(rec, 200.0) == ('ongoing-request="false", '
                                                'expiry-date="Fri, 02 Jan 1970 00:02:40 GMT"')
    assert restore.state(rec, 160.0 + 86400) == restore.NONE  # expired: unreadable again
    assert restore.header_value(rec, 160.0 + 86400) is None


def test_parse_restore_request():
    assert restore.parse_restore_request(b"", "Archive") == (1, "Standard")
    body = b"<RestoreRequest><Days>5</Days><JobParameters><Tier>Bulk</Tier></JobParameters></RestoreRequest>"
    assert restore.parse_restore_request(body, "ColdArchive") == (5, "Bulk")
    for bad in (b"<RestoreRequest><Days>a</Days></RestoreRequest>",
                b"<RestoreRequest><Days>2</Days><OutputLocation/></RestoreRequest>",
                b"<RestoreRequest><JobParameters><Tier>Bulk</Tier></JobParameters></RestoreRequest>",
                b"<Other/>"):
        with pytest.raises(Exception) as e:
            restore.parse_restore_request(bad, "Archive")
        assert getattr(e.value, "code", None) == "MalformedXML"
    with pytest.raises(Exception) as e:
        restore.parse_restore_request(
            b"<RestoreRequest><JobParameters><Tier>Fast</Tier></JobParameters></RestoreRequest>", "ColdArchive")
    assert getattr(e.value, "code", None) == "InvalidArgument"


def test_restore_priority_and_tier_errors_oss2(rbucket):
    """oss2's test_restore_object_with_config / _with_wrong_request /
    test_restore_archive_object_with_job_parameters, against ossbox."""
    from oss2.models import RestoreConfiguration, RestoreJobParameters
    for i, tier in enumerate(("Expedited", "Standard", "Bulk")):
        key = f"cold{i}"
        rbucket.put_object(key, b"123", headers={"x-oss-storage-class": "DeepColdArchive" if i else "ColdArchive"})
        r = rbucket.restore_object(key, input=RestoreConfiguration(days=5, job_parameters=RestoreJobParameters(tier)))
        assert r.status == 202 and r.resp.headers.get("x-oss-object-restore-priority") == tier
    rbucket.put_object("cold-default", b"x", headers={"x-oss-storage-class": "ColdArchive"})
    r = rbucket.restore_object("cold-default")
    assert r.resp.headers.get("x-oss-object-restore-priority") == "Standard"
    with pytest.raises(oss2.exceptions.InvalidArgument) as e:
        rbucket.restore_object("cold0", input=RestoreConfiguration(
            days=5, job_parameters=RestoreJobParameters("wrong-tier")))
    assert e.value.status == 400 and e.value.details.get("EC") == "0016-00000703"
    _archive_put(rbucket, "arch")
    with pytest.raises(oss2.exceptions.MalformedXml):
        rbucket.restore_object("arch", input=RestoreConfiguration(
            days=5, job_parameters=RestoreJobParameters("Bulk")))
    r = rbucket.restore_object("arch", input=RestoreConfiguration(days=5))
    assert r.status == 202 and "x-oss-object-restore-priority" not in r.resp.headers


def test_restore_delay_from_environment(tmp_path, auth):
    proc = ServerProcess(str(tmp_path / "data"), env={"OSSBOX_RESTORE_DELAY": "0"}).start()
    try:
        b = _make_bucket(auth, proc.endpoint)
        _archive_put(b, "now")
        assert b.restore_object("now").status == 202
        assert b.head_object("now").headers["x-oss-restore"].startswith('ongoing-request="false"')
        assert b.get_object("now").read() == b"frozen data"
    finally:
        assert proc.stop() == 0, "".join(proc.output)


def test_restore_tier_scales_the_delay():
    assert restore.restore_delay(60.0, "Archive", "Expedited") == 60.0  # Archive has no tiers
    assert restore.restore_delay(60.0, "ColdArchive", "Expedited") == 15.0
    assert restore.restore_delay(60.0, "ColdArchive", "Standard") == 60.0
    assert restore.restore_delay(60.0, "DeepColdArchive", "Bulk") == 150.0


def test_expedited_restore_completes_first(rserver, rbucket):
    """A ColdArchive restore's completion time depends on its tier (stored, so checked in the
    metadata rather than by racing the clock); both become readable."""
    delays = {}
    for key, tier in (("fast", "Expedited"), ("slow", "Bulk")):
        rbucket.put_object(key, key.encode(), headers={"x-oss-storage-class": "ColdArchive"})
        rbucket.restore_object(key, input=oss2.models.RestoreConfiguration(
            days=1, job_parameters=oss2.models.RestoreJobParameters(tier)))
    db = meta_db(rserver.data_dir)
    try:
        for key in ("fast", "slow"):
            delays[key] = db.execute("SELECT ready_at - requested FROM restores JOIN objects USING (blob) "
                                    "WHERE bucket=? AND key=?", (rbucket.bucket_name, key)).fetchone()[0]
    finally:
        db.close()
    assert delays == {"fast": pytest.approx(DELAY * 0.25), "slow": pytest.approx(DELAY * 2.5)}
    for key in ("fast", "slow"):
        _wait_restored(rbucket, key)
        assert rbucket.get_object(key).read() == key.encode()


def test_listings_report_restore_state(rserver, rbucket):
    _archive_put(rbucket, "arch")
    _archive_put(rbucket, "never")
    rbucket.put_object("std", b"s")

    def infos():
        v1 = {o.key: o.restore_info for o in rbucket.list_objects().object_list}
        v2 = {o.key: o.restore_info for o in rbucket.list_objects_v2().object_list}
        assert v1 == v2
        return v1
    assert infos() == {"arch": None, "never": None, "std": None}
    rbucket.restore_object("arch")
    assert infos()["arch"] == 'ongoing-request="true"'
    _wait_restored(rbucket, "arch")
    listed = infos()
    assert _EXPIRY.fullmatch(listed["arch"]) and listed["never"] is None and listed["std"] is None
    client = make_v2_client(rserver.endpoint)
    page = client.list_objects_v2(oss.ListObjectsV2Request(bucket=rbucket.bucket_name))
    assert {o.key: o.restore_info for o in page.contents}["arch"] == listed["arch"]
    versions = rbucket.list_object_versions()
    assert {v.key: v.restore_info for v in versions.versions}["arch"] == listed["arch"]
