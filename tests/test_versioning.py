"""Bucket versioning driven by oss2 and alibabacloud-oss-v2: version ids, delete markers,
versioned reads/deletes, ListObjectVersions, and how appendable objects live in version history
(appends mutate the current version in place; once noncurrent it can never be appended again)."""
import uuid

import oss2
import pytest
from oss2.models import BatchDeleteObjectVersion, BatchDeleteObjectVersionList, BucketVersioningConfig

from conftest import as_user, put_policy, v2_error


def _versioning(bucket, status):
    cfg = BucketVersioningConfig()
    cfg.status = status
    bucket.put_bucket_versioning(cfg)


def _history(bucket, key=None, **kw):
    """[(key, version id, kind, is latest, size)] newest first per key, as ListObjectVersions says."""
    out = []
    result = bucket.list_object_versions(max_keys=1000, **kw)
    for v in result.versions:
        out.append((v.key, v.versionid, v.type, v.is_latest, v.size, v.last_modified))
    for m in result.delete_marker:
        out.append((m.key, m.versionid, "DeleteMarker", m.is_latest, 0, m.last_modified))
    if key is not None:
        out = [e for e in out if e[0] == key]
    return out


def _raw_order(server, bucket_name, prefix=""):
    """The entries of a raw ListObjectVersions response in document order."""
    import xml.etree.ElementTree as ET
    b = oss2.Bucket(oss2.Auth(*_keys()), server.endpoint, bucket_name)
    resp = b._Bucket__do_bucket("GET", params={"versions": "", "prefix": prefix, "max-keys": "1000"})
    root = ET.fromstring(resp.read())
    return [(e.tag, e.findtext("Key"), e.findtext("VersionId"), e.findtext("IsLatest"))
            for e in root if e.tag in ("Version", "DeleteMarker")]


def _keys():
    from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET
    return ACCESS_KEY_ID, ACCESS_KEY_SECRET


def test_versioning_configuration(bucket):
    assert bucket.get_bucket_versioning().status is None
    _versioning(bucket, "Enabled")
    assert bucket.get_bucket_versioning().status == "Enabled"
    assert bucket.get_bucket_info().versioning_status == "Enabled"
    _versioning(bucket, "Suspended")
    assert bucket.get_bucket_versioning().status == "Suspended"
    with pytest.raises(oss2.exceptions.OssError) as info:
        _versioning(bucket, "Off")
    assert info.value.status == 400 and info.value.code == "MalformedXML"
    assert bucket.get_bucket_versioning().status == "Suspended"


def test_version_history_after_append_put_and_delete(server, bucket):
    """The issue's proof: appends keep one version; PUT/DELETE make history; the old appendable
    version stays readable by id but can never be appended to again."""
    _versioning(bucket, "Enabled")
    r1 = bucket.append_object("log", 0, b"first,")
    v1 = r1.versionid
    assert v1 and v1 != "null" and v1.startswith("CAEQ")
    r2 = bucket.append_object("log", r1.next_position, b"second")
    assert r2.versionid == v1  # appends mutate the current version in place
    assert bucket.head_object("log").versionid == v1
    hist = _history(bucket, "log")
    assert [(h[1], h[2], h[3], h[4]) for h in hist] == [(v1, "Appendable", True, 12)]

    v2 = bucket.put_object("log", b"replaced").versionid
    assert v2 and v2 not in (v1, "null")
    assert bucket.get_object("log").read() == b"replaced"
    assert bucket.get_object("log", params={"versionId": v1}).read() == b"first,second"
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object("log", 8, b"x")  # the current version is Normal now

    deleted = bucket.delete_object("log")
    assert deleted.delete_marker is True
    v3 = deleted.versionid
    assert v3 not in (v1, v2)
    with pytest.raises(oss2.exceptions.NoSuchKey) as info:
        bucket.get_object("log")
    assert info.value.headers.get("x-oss-delete-marker") == "true"
    assert info.value.headers.get("x-oss-version-id") == v3
    with pytest.raises(oss2.exceptions.NotFound):
        bucket.head_object("log")
    assert not bucket.object_exists("log")

    # position 0 over a delete marker starts a new appendable version
    r4 = bucket.append_object("log", 0, b"again")
    v4 = r4.versionid
    assert v4 not in (v1, v2, v3)
    assert _raw_order(server, bucket.bucket_name, "log") == [
        ("Version", "log", v4, "true"), ("DeleteMarker", "log", v3, "false"),
        ("Version", "log", v2, "false"), ("Version", "log", v1, "false")]
    kinds = {h[1]: (h[2], h[4]) for h in _history(bucket, "log")}
    assert kinds == {v4: ("Appendable", 5), v3: ("DeleteMarker", 0), v2: ("Normal", 8),
                     v1: ("Appendable", 12)}

    # removing versions for good walks back through history
    assert bucket.delete_object("log", params={"versionId": v4}).versionid == v4
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("log")  # the delete marker is the latest again
    gone = bucket.delete_object("log", params={"versionId": v3})
    assert gone.delete_marker is True and gone.versionid == v3
    assert bucket.get_object("log").read() == b"replaced"
    bucket.delete_object("log", params={"versionId": v2})
    assert bucket.get_object("log").read() == b"first,second"
    head = bucket.head_object("log")
    assert head.versionid == v1 and head.object_type == "Appendable"
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object("log", 12, b"more")  # once noncurrent, never appendable again
    assert bucket.get_object("log").read() == b"first,second"


def test_suspended_bucket_uses_the_null_version(bucket):
    _versioning(bucket, "Enabled")
    kept = bucket.put_object("k", b"enabled-era").versionid
    _versioning(bucket, "Suspended")
    r = bucket.put_object("k", b"null-1")
    assert r.versionid == "null"
    r = bucket.put_object("k", b"null-2")  # replaces the null version: no extra history
    assert r.versionid == "null"
    versions = sorted((h[1], h[4]) for h in _history(bucket, "k"))
    assert versions == sorted([(kept, 11), ("null", 6)])
    assert bucket.get_object("k", params={"versionId": "null"}).read() == b"null-2"
    assert bucket.get_object("k", params={"versionId": kept}).read() == b"enabled-era"

    # appendable objects in a suspended bucket: the null version, reported on every append
    a1 = bucket.append_object("s", 0, b"x")
    a2 = bucket.append_object("s", 1, b"y")
    assert a1.versionid == "null" and a2.versionid == "null"
    d = bucket.delete_object("s")  # a null delete marker replaces the null version
    assert d.delete_marker is True and d.versionid == "null"
    assert [(h[1], h[2]) for h in _history(bucket, "s")] == [("null", "DeleteMarker")]


def test_unversioned_bucket_sends_no_version_id(bucket):
    r = bucket.append_object("plain", 0, b"abc")
    assert r.versionid is None
    assert bucket.put_object("p2", b"x").versionid is None
    assert bucket.head_object("plain").versionid is None
    d = bucket.delete_object("p2")
    assert d.versionid is None and not d.delete_marker
    # every object is its "null" version
    assert bucket.get_object("plain", params={"versionId": "null"}).read() == b"abc"
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.get_object("plain", params={"versionId": "CAEQnope"})
    assert (info.value.status, info.value.code) == (404, "NoSuchVersion")


def test_append_with_version_id_is_refused(bucket):
    _versioning(bucket, "Enabled")
    vid = bucket.append_object("a", 0, b"1").versionid
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket._Bucket__do_object("POST", "a", data=b"2",
                                  params={"append": "", "position": "1", "versionId": vid})
    assert info.value.status == 400 and info.value.ec == "0016-00000504"
    assert bucket.get_object("a").read() == b"1"


def test_reads_of_missing_versions_and_delete_markers(bucket):
    _versioning(bucket, "Enabled")
    bucket.put_object("k", b"v")
    marker = bucket.delete_object("k").versionid
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.get_object("k", params={"versionId": "CAEQdoesnotexist"})
    assert (info.value.status, info.value.code) == (404, "NoSuchVersion")
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.get_object("k", params={"versionId": marker})
    assert info.value.status == 405
    assert info.value.headers.get("x-oss-delete-marker") == "true"
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.get_object("k", params={"versionId": ""})
    assert info.value.status == 400
    # deleting a version that does not exist changes nothing
    assert bucket.delete_object("k", params={"versionId": "CAEQdoesnotexist"}).status == 204
    assert len(_history(bucket, "k")) == 2


def test_head_and_meta_of_a_version(bucket):
    _versioning(bucket, "Enabled")
    v1 = bucket.put_object("k", b"one", headers={"x-oss-meta-n": "1"}).versionid
    bucket.put_object("k", b"three", headers={"x-oss-meta-n": "2"})
    head = bucket.head_object("k", params={"versionId": v1})
    assert head.content_length == 3 and head.headers["x-oss-meta-n"] == "1" and head.versionid == v1
    meta = bucket.get_object_meta("k", params={"versionId": v1})
    assert meta.content_length == 3 and meta.headers["x-oss-version-id"] == v1
    assert bucket.get_object("k", byte_range=(1, 2), params={"versionId": v1}).read() == b"ne"


def test_copy_between_versions(bucket):
    _versioning(bucket, "Enabled")
    v1 = bucket.put_object("src", b"old").versionid
    bucket.put_object("src", b"new")
    r = bucket.copy_object(bucket.bucket_name, "src", "dst", params={"versionId": v1})
    assert r.headers["x-oss-copy-source-version-id"] == v1
    assert r.versionid not in (None, "null", v1)
    assert bucket.get_object("dst").read() == b"old"
    # copying an old version onto its own key restores it as a new current version
    restored = bucket.copy_object(bucket.bucket_name, "src", "src", params={"versionId": v1})
    assert bucket.get_object("src").read() == b"old"
    assert len(_history(bucket, "src")) == 3 and restored.versionid != v1

    marker = bucket.delete_object("src").versionid
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.copy_object(bucket.bucket_name, "src", "x", params={"versionId": marker})
    assert info.value.status == 400 and info.value.ec == "0016-00000307"

    bucket.append_object("app", 0, b"appendable")
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.copy_object(bucket.bucket_name, "app", "x")
    assert info.value.status == 400
    assert not bucket.object_exists("x")


def test_tagging_and_acl_of_noncurrent_versions(bucket):
    _versioning(bucket, "Enabled")
    v1 = bucket.put_object("k", b"1").versionid
    bucket.put_object("k", b"2")
    tags = oss2.models.Tagging(oss2.models.TaggingRule())
    tags.tag_set.add("era", "old")
    bucket.put_object_tagging("k", tags, params={"versionId": v1})
    assert bucket.get_object_tagging("k", params={"versionId": v1}).tag_set.tagging_rule == {"era": "old"}
    assert bucket.get_object_tagging("k").tag_set.tagging_rule == {}
    bucket.put_object_acl("k", oss2.OBJECT_ACL_PUBLIC_READ, params={"versionId": v1})
    assert bucket.get_object_acl("k", params={"versionId": v1}).acl == "public-read"
    assert bucket.get_object_acl("k").acl == "default"
    bucket.delete_object_tagging("k", params={"versionId": v1})
    assert bucket.get_object_tagging("k", params={"versionId": v1}).tag_set.tagging_rule == {}


def test_list_object_versions_pages_and_prefixes(server, bucket):
    _versioning(bucket, "Enabled")
    expected = []
    for key in ("a", "dir/x", "dir/y", "m"):
        for i in range(3):
            expected.append((key, bucket.put_object(key, f"{key}{i}".encode()).versionid))
    expected.append(("m", bucket.delete_object("m").versionid))
    full = [(k, v) for _tag, k, v, _l in _raw_order(server, bucket.bucket_name)]
    # per key newest first, keys in order
    want = []
    for key in ("a", "dir/x", "dir/y", "m"):
        want += [(k, v) for k, v in reversed(expected) if k == key]
    assert full == want

    paged, key_marker, version_marker = [], "", ""
    while True:
        page = bucket.list_object_versions(max_keys=4, key_marker=key_marker, versionid_marker=version_marker)
        entries = [(v.key, v.versionid) for v in page.versions] + \
                  [(m.key, m.versionid) for m in page.delete_marker]
        paged += sorted(entries, key=lambda e: want.index(e))
        if not page.is_truncated:
            break
        key_marker, version_marker = page.next_key_marker, page.next_versionid_marker
    assert paged == want

    rolled = bucket.list_object_versions(delimiter="/", max_keys=1000)
    assert rolled.common_prefix == ["dir/"]
    assert sorted({v.key for v in rolled.versions}) == ["a", "m"]
    latest = {(v.key, v.versionid) for v in rolled.versions if v.is_latest}
    assert latest == {("a", want[0][1])}  # m's latest is its delete marker
    assert [(m.key, m.is_latest) for m in rolled.delete_marker] == [("m", True)]


def test_batch_delete_with_and_without_versions(bucket):
    _versioning(bucket, "Enabled")
    v1 = bucket.put_object("k1", b"1").versionid
    bucket.put_object("k2", b"2")
    result = bucket.batch_delete_objects(["k1", "k2"])  # makes delete markers
    by_key = {d.key: d for d in result.delete_versions}
    assert by_key["k1"].delete_marker and by_key["k1"].delete_marker_versionid
    assert not bucket.object_exists("k1") and not bucket.object_exists("k2")
    marker = by_key["k1"].delete_marker_versionid

    versions = BatchDeleteObjectVersionList()
    versions.append(BatchDeleteObjectVersion("k1", marker))
    result = bucket.delete_object_versions(versions)
    d = result.delete_versions[0]
    assert d.versionid == marker and d.delete_marker and d.delete_marker_versionid == marker
    assert bucket.get_object("k1").read() == b"1"  # the marker was removed: v1 is current again
    versions = BatchDeleteObjectVersionList()
    versions.append(BatchDeleteObjectVersion("k1", v1))
    bucket.delete_object_versions(versions)
    assert _history(bucket, "k1") == []


def test_multipart_and_empty_version_in_batch_delete(bucket):
    _versioning(bucket, "Enabled")
    up = bucket.init_multipart_upload("mp").upload_id
    part = bucket.upload_part("mp", up, 1, b"x" * 10)
    done = bucket.complete_multipart_upload("mp", up, [oss2.models.PartInfo(1, part.etag)])
    assert done.versionid not in (None, "null")
    assert bucket.head_object("mp").versionid == done.versionid
    body = (b'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet>'
            b"<Object><Key>mp</Key><VersionId></VersionId></Object></Delete>")
    import base64
    import hashlib
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket._Bucket__do_bucket("POST", data=body, params={"delete": ""},
                                  headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
    assert info.value.status == 400 and info.value.ec == "0016-00000612"
    assert bucket.object_exists("mp")


def test_bucket_with_only_old_versions_is_not_empty(bucket):
    _versioning(bucket, "Enabled")
    bucket.put_object("k", b"x")
    bucket.delete_object("k")
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        bucket.delete_bucket()


def test_versioned_actions_need_version_permissions(server, bucket_name, user):
    owner = oss2.Bucket(oss2.Auth(*_keys()), server.endpoint, bucket_name)
    _versioning(owner, "Enabled")
    v1 = owner.put_object("k", b"1").versionid
    owner.put_object("k", b"2")
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetObject", "oss:DeleteObject"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}/*"]}])
    b = as_user(server, user, bucket_name)
    assert b.get_object("k").read() == b"2"
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.get_object("k", params={"versionId": v1})
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.delete_object("k", params={"versionId": v1})
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetObjectVersion"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}/*"]}], name="v")
    assert b.get_object("k", params={"versionId": v1}).read() == b"1"
    assert owner.get_object("k", params={"versionId": v1}).read() == b"1"


def test_v2_sdk_versioning_flow(v2, bucket_name):
    import alibabacloud_oss_v2 as oss
    v2.put_bucket_versioning(oss.PutBucketVersioningRequest(
        bucket=bucket_name, versioning_configuration=oss.VersioningConfiguration(status="Enabled")))
    got = v2.get_bucket_versioning(oss.GetBucketVersioningRequest(bucket=bucket_name))
    assert got.version_status == "Enabled"
    a1 = v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="k", position=0, body=b"ab"))
    a2 = v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="k", position=2, body=b"cd"))
    assert a1.version_id and a1.version_id == a2.version_id
    p = v2.put_object(oss.PutObjectRequest(bucket=bucket_name, key="k", body=b"new"))
    d = v2.delete_object(oss.DeleteObjectRequest(bucket=bucket_name, key="k"))
    assert d.delete_marker is True and d.version_id
    err = v2_error(v2.get_object, oss.GetObjectRequest(bucket=bucket_name, key="k"))
    assert err.status_code == 404
    old = v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="k", version_id=a1.version_id))
    assert old.body.read() == b"abcd" and old.version_id == a1.version_id
    listed = v2.list_object_versions(oss.ListObjectVersionsRequest(bucket=bucket_name))
    assert [(v.version_id, v.object_type, v.is_latest) for v in listed.version] == [
        (p.version_id, "Normal", False), (a1.version_id, "Appendable", False)]
    assert [(m.version_id, m.is_latest) for m in listed.delete_marker] == [(d.version_id, True)]
    removed = v2.delete_object(oss.DeleteObjectRequest(bucket=bucket_name, key="k", version_id=d.version_id))
    assert removed.delete_marker is True
    assert v2.get_object(oss.GetObjectRequest(bucket=bucket_name, key="k")).body.read() == b"new"


def test_a_versioned_bucket_can_be_emptied_and_removed(server, oss2_auth):
    """The fixtures' clean-up path: deleting every version and marker empties the bucket."""
    from conftest import remove_bucket
    name = "t-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    b.create_bucket()
    _versioning(b, "Enabled")
    for i in range(3):
        b.put_object("k", b"x")
        b.append_object(f"a{i}", 0, b"y")
    b.delete_object("k")
    remove_bucket(oss2_auth, server.endpoint, name)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_info()


def test_racing_writers_lose_no_version(bucket):
    """Concurrent PUTs, appends and deletes on one key: every acknowledged version id appears in
    the history exactly once, and exactly one entry is the latest."""
    from concurrent.futures import ThreadPoolExecutor
    _versioning(bucket, "Enabled")

    def writer(n):
        made = []
        for i in range(15):
            op = (n + i) % 3
            if op == 0:
                made.append(bucket.put_object("hot", f"{n}-{i}".encode()).versionid)
            elif op == 1:
                made.append(bucket.delete_object("hot").versionid)
            else:
                try:
                    made.append(bucket.append_object("hot", 0, b"a").versionid)
                except oss2.exceptions.OssError as exc:  # the key exists or is not appendable
                    assert exc.status == 409
        return made

    with ThreadPoolExecutor(8) as pool:
        acknowledged = [v for made in pool.map(writer, range(8)) for v in made]
    listed = [h[1] for h in _history(bucket, "hot")]
    assert sorted(listed) == sorted(acknowledged) and len(set(listed)) == len(listed)
    assert sum(1 for h in _history(bucket, "hot") if h[3]) == 1  # exactly one latest


def test_versions_survive_a_restart(tmp_path):
    """History, delete markers and the frozen state are stored, not kept in memory."""
    from serverproc import ServerProcess
    proc = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = oss2.Bucket(oss2.Auth(*_keys()), proc.endpoint, "restart-versions")
        b.create_bucket()
        _versioning(b, "Enabled")
        v1 = b.append_object("k", 0, b"appendable").versionid
        b.put_object("k", b"normal")
        marker = b.delete_object("k").versionid
    finally:
        assert proc.stop() == 0
    proc = ServerProcess(str(tmp_path / "data")).start()
    try:
        b = oss2.Bucket(oss2.Auth(*_keys()), proc.endpoint, "restart-versions")
        assert b.get_bucket_versioning().status == "Enabled"
        assert len(_history(b, "k")) == 3
        with pytest.raises(oss2.exceptions.NoSuchKey):
            b.get_object("k")
        assert b.get_object("k", params={"versionId": v1}).read() == b"appendable"
        b.delete_object("k", params={"versionId": marker})
        for h in _history(b, "k"):
            if h[2] == "Normal":
                b.delete_object("k", params={"versionId": h[1]})
        assert b.head_object("k").versionid == v1
        with pytest.raises(oss2.exceptions.ObjectNotAppendable):
            b.append_object("k", 10, b"x")
    finally:
        assert proc.stop() == 0


def test_encrypted_versions_stay_readable(bucket):
    """Noncurrent versions keep their own data keys: an encrypted appendable version replaced by
    a plain PUT still decrypts by version id, and a version copied back is encrypted as the copy request says."""
    _versioning(bucket, "Enabled")
    sse = {"x-oss-server-side-encryption": "SM4"}
    v1 = bucket.append_object("k", 0, b"secret-", headers=sse).versionid
    bucket.append_object("k", 7, b"log")
    bucket.put_object("k", b"plain")
    old = bucket.get_object("k", params={"versionId": v1})
    assert old.read() == b"secret-log" and old.headers["x-oss-server-side-encryption"] == "SM4"
    assert bucket.get_object("k", byte_range=(3, 8), params={"versionId": v1}).read() == b"ret-lo"
    assert "x-oss-server-side-encryption" not in bucket.head_object("k").headers
    bucket.put_object("n", b"normal secret", headers={"x-oss-server-side-encryption": "AES256"})
    bucket.put_object("n", b"newer")
    first = _history(bucket, "n")[-1][1]
    # a copy's encryption is the request's (or the bucket default's), as for any CopyObject
    back = bucket.copy_object(bucket.bucket_name, "n", "n", params={"versionId": first},
                              headers={"x-oss-server-side-encryption": "AES256"})
    assert back.headers["x-oss-server-side-encryption"] == "AES256"
    assert bucket.get_object("n").read() == b"normal secret"
    plain = bucket.copy_object(bucket.bucket_name, "n", "p", params={"versionId": first})
    assert "x-oss-server-side-encryption" not in plain.headers
    assert bucket.get_object("p").read() == b"normal secret"


@pytest.mark.parametrize("bad", ["%%%QNRiBgICv8ua", "234"])
def test_delete_multiple_refuses_a_malformed_version_id(bucket, bad):
    """A VersionId that is not of OSS's shape ("CAEQ" + base64) is 400 InvalidArgument (OSS EC
    0012-00000202, "the versionId is not valid"; oss2's own tests send '234'), and nothing in the
    request is deleted."""
    bucket.put_bucket_versioning(BucketVersioningConfig("Enabled"))
    vid = bucket.put_object("keep", b"x").versionid
    batch = BatchDeleteObjectVersionList([BatchDeleteObjectVersion("keep", vid),
                                          BatchDeleteObjectVersion("keep", bad)])
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.delete_object_versions(batch)
    assert (info.value.status, info.value.code, info.value.ec) == (400, "InvalidArgument", "0012-00000202")
    assert bucket.get_object("keep", params={"versionId": vid}).read() == b"x"
