"""Bucket lifecycle: Put/Get/DeleteBucketLifecycle through oss2 and the v2 SDK, OSS's validation
errors, and rules that run (a server whose lifecycle "day" lasts LIFECYCLE_DAY seconds)."""
import datetime
import time
import uuid

import oss2
import pytest
from oss2.models import (AbortMultipartUpload, BucketLifecycle, BucketVersioningConfig, FilterNot, FilterNotTag,
                         LifecycleExpiration, LifecycleFilter, LifecycleRule, NoncurrentVersionExpiration,
                         NoncurrentVersionStorageTransition, StorageTransition, Tagging, TaggingRule)

from appendkit import wait_until
from conftest import as_user, make_v2_client, put_policy, remove_bucket, v2_error
from pgtest import PG_URL, pg_schema, schema_url  # noqa: F401  (pg_schema: a fixture)
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

LIFECYCLE_DAY = 2      # seconds
WAIT = 60              # seconds a rule may take to show (polled; generous for a loaded machine)


def raw_put(bucket, body: str, headers=None):
    """PutBucketLifecycle with a hand-written body (oss2's models cannot express every mistake)."""
    return bucket._Bucket__do_bucket("PUT", data=body.encode(), params={"lifecycle": ""}, headers=headers)


def rule_xml(inner: str, rid: str = "r", prefix: str = "p/") -> str:
    return f"<Rule><ID>{rid}</ID><Prefix>{prefix}</Prefix><Status>Enabled</Status>{inner}</Rule>"


def config(*rules: str) -> str:
    return "<LifecycleConfiguration>" + "".join(rules) + "</LifecycleConfiguration>"


# -- configuration round trip ------------------------------------------------------------------------
def test_round_trip_oss2(bucket):
    tags = TaggingRule()
    tags.add("team", "a")
    rules = [
        LifecycleRule("expire-logs", "logs/", status=LifecycleRule.ENABLED,
                           expiration=LifecycleExpiration(days=365),
                           storage_transitions=[StorageTransition(days=30, storage_class="IA"),
                                                StorageTransition(days=60, storage_class="Archive")],
                           filter=LifecycleFilter(filter_not=[FilterNot(
                               prefix="logs/keep", tag=FilterNotTag("k", "v"))],
                               object_size_greater_than=10, object_size_less_than=10000)),
        LifecycleRule("uploads", "tmp/", status=LifecycleRule.DISABLED,
                           abort_multipart_upload=AbortMultipartUpload(
                               created_before_date=datetime.date(2020, 1, 2))),
        LifecycleRule("tagged", "data/", status=LifecycleRule.ENABLED,
                           expiration=LifecycleExpiration(created_before_date=datetime.date(2021, 3, 4)),
                           tagging=Tagging(tags),
                           noncurrent_version_expiration=NoncurrentVersionExpiration(40),
                           noncurrent_version_sotrage_transitions=[
                               NoncurrentVersionStorageTransition(20, "IA")]),
    ]
    bucket.put_bucket_lifecycle(BucketLifecycle(rules))
    got = {r.id: r for r in bucket.get_bucket_lifecycle().rules}
    assert set(got) == {"expire-logs", "uploads", "tagged"}
    r = got["expire-logs"]
    assert (r.prefix, r.status, r.expiration.days) == ("logs/", "Enabled", 365)
    assert [(t.days, t.storage_class) for t in r.storage_transitions] == [(30, "IA"), (60, "Archive")]
    assert (r.filter.object_size_greater_than, r.filter.object_size_less_than) == (10, 10000)
    assert [(n.prefix, n.tag.key, n.tag.value) for n in r.filter.filter_not] == [("logs/keep", "k", "v")]
    r = got["uploads"]
    assert r.status == "Disabled"
    assert r.abort_multipart_upload.created_before_date == datetime.date(2020, 1, 2)
    r = got["tagged"]
    assert r.expiration.created_before_date == datetime.date(2021, 3, 4)
    assert r.tagging.tag_set.tagging_rule == {"team": "a"}
    assert r.noncurrent_version_expiration.noncurrent_days == 40
    assert [(t.noncurrent_days, t.storage_class) for t in r.noncurrent_version_sotrage_transitions] == [(20, "IA")]

    bucket.delete_bucket_lifecycle()
    with pytest.raises(oss2.exceptions.NoSuchLifecycle):
        bucket.get_bucket_lifecycle()
    bucket.delete_bucket_lifecycle()  # deleting nothing is no error


def test_round_trip_v2(v2, bucket_name):
    import alibabacloud_oss_v2 as oss
    rule = oss.LifecycleRule(
        id="v2", prefix="a/", status="Enabled",
        expiration=oss.LifecycleRuleExpiration(expired_object_delete_marker=True),
        noncurrent_version_expiration=oss.NoncurrentVersionExpiration(noncurrent_days=5),
        abort_multipart_upload=oss.LifecycleRuleAbortMultipartUpload(days=3))
    v2.put_bucket_lifecycle(oss.PutBucketLifecycleRequest(
        bucket=bucket_name, lifecycle_configuration=oss.LifecycleConfiguration(rules=[rule])))
    got = v2.get_bucket_lifecycle(oss.GetBucketLifecycleRequest(bucket=bucket_name)).lifecycle_configuration.rules
    assert len(got) == 1
    assert (got[0].id, got[0].prefix, got[0].status) == ("v2", "a/", "Enabled")
    assert got[0].expiration.expired_object_delete_marker is True
    assert got[0].noncurrent_version_expiration.noncurrent_days == 5
    assert got[0].abort_multipart_upload.days == 3
    v2.delete_bucket_lifecycle(oss.DeleteBucketLifecycleRequest(bucket=bucket_name))
    err = v2_error(v2.get_bucket_lifecycle, oss.GetBucketLifecycleRequest(bucket=bucket_name))
    assert (err.status_code, err.code) == (404, "NoSuchLifecycle")


def test_oss_documented_example(bucket):
    """The example of OSS's "Lifecycle configuration elements" page is accepted as it is."""
    raw_put(bucket, config(
        "<Rule><ID>rule1</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Filter><Not><Prefix>logs1/</Prefix>"
        "<Tag><Key>key1</Key><Value>value1</Value></Tag></Not></Filter><Expiration><Days>10</Days></Expiration>"
        "</Rule>",
        "<Rule><ID>rule2</ID><Prefix>doc/</Prefix><Status>Disabled</Status><Expiration><CreatedBeforeDate>"
        "2017-12-31T00:00:00.000Z</CreatedBeforeDate></Expiration></Rule>",
        "<Rule><ID>rule3</ID><Prefix>logs2/</Prefix><Tag><Key>xx</Key><Value>1</Value></Tag><Status>Enabled"
        "</Status><Transition><Days>60</Days><StorageClass>Archive</StorageClass></Transition></Rule>"))
    rules = {r.id: r for r in bucket.get_bucket_lifecycle().rules}
    assert rules["rule1"].filter.filter_not[0].prefix == "logs1/"
    assert rules["rule2"].status == "Disabled"
    assert rules["rule3"].tagging.tag_set.tagging_rule == {"xx": "1"}


def test_rule_without_id_gets_one(bucket):
    raw_put(bucket, config("<Rule><Prefix>x/</Prefix><Status>Enabled</Status>"
                           "<Expiration><Days>3</Days></Expiration></Rule>"))
    (rule,) = bucket.get_bucket_lifecycle().rules
    assert rule.id and rule.prefix == "x/" and rule.expiration.days == 3


# -- validation ----------------------------------------------------------------------------------------
BAD = [
    ("no rule", config(), "MalformedXML"),
    ("bad status", config("<Rule><ID>a</ID><Prefix>a</Prefix><Status>On</Status>"
                          "<Expiration><Days>1</Days></Expiration></Rule>"), "MalformedXML"),
    ("no action", config(rule_xml("")), "MalformedXML"),
    ("two prefixes", config("<Rule><ID>a</ID><Prefix>a</Prefix><Prefix>b</Prefix><Status>Enabled</Status>"
                            "<Expiration><Days>1</Days></Expiration></Rule>"), "MalformedXML"),
    ("empty expiration", config(rule_xml("<Expiration></Expiration>")), "InvalidArgument"),
    ("days and date", config(rule_xml("<Expiration><Days>1</Days><CreatedBeforeDate>2020-01-01T00:00:00.000Z"
                                      "</CreatedBeforeDate></Expiration>")), "InvalidArgument"),
    ("zero days", config(rule_xml("<Expiration><Days>0</Days></Expiration>")), "InvalidArgument"),
    ("date not midnight", config(rule_xml("<Expiration><CreatedBeforeDate>2020-01-01T08:00:00.000Z"
                                          "</CreatedBeforeDate></Expiration>")), "InvalidArgument"),
    ("bad class", config(rule_xml("<Transition><Days>1</Days><StorageClass>Standard</StorageClass>"
                                  "</Transition>")), "InvalidArgument"),
    ("archive before ia", config(rule_xml("<Transition><Days>30</Days><StorageClass>IA</StorageClass></Transition>"
                                          "<Transition><Days>10</Days><StorageClass>Archive</StorageClass>"
                                          "</Transition>")), "InvalidArgument"),
    ("expiry before transition", config(rule_xml("<Expiration><Days>5</Days></Expiration><Transition><Days>10"
                                                 "</Days><StorageClass>IA</StorageClass></Transition>")),
     "InvalidArgument"),
    ("overlapping conflicting rules", config(rule_xml("<Transition><Days>120</Days><StorageClass>IA</StorageClass>"
                                                      "</Transition>", "a", "test"),
                                             rule_xml("<Transition><Days>60</Days><StorageClass>Archive"
                                                      "</StorageClass></Transition>", "b", "test/log")),
     "InvalidArgument"),
    ("overlapping aborts", config(rule_xml("<AbortMultipartUpload><Days>1</Days></AbortMultipartUpload>", "a", ""),
                                  rule_xml("<AbortMultipartUpload><Days>2</Days></AbortMultipartUpload>", "b",
                                           "dir1")), "InvalidArgument"),
    ("same action overlap", config(rule_xml("<Expiration><Days>1</Days></Expiration>", "a", "x"),
                                   rule_xml("<Expiration><Days>2</Days></Expiration>", "b", "x/y")),
     "InvalidArgument"),
    ("duplicate id", config(rule_xml("<Expiration><Days>1</Days></Expiration>", "a", "x"),
                            rule_xml("<Expiration><Days>2</Days></Expiration>", "a", "y")), "InvalidArgument"),
    ("abort with tag", config(rule_xml("<AbortMultipartUpload><Days>1</Days></AbortMultipartUpload>"
                                       "<Tag><Key>k</Key><Value>v</Value></Tag>")), "InvalidArgument"),
    ("access time", config(rule_xml("<Transition><Days>1</Days><StorageClass>IA</StorageClass><IsAccessTime>"
                                    "true</IsAccessTime><ReturnToStdWhenVisit>true</ReturnToStdWhenVisit>"
                                    "</Transition>")), "InvalidArgument"),
    ("return without access time", config(rule_xml("<Transition><Days>1</Days><StorageClass>IA</StorageClass>"
                                                   "<ReturnToStdWhenVisit>true</ReturnToStdWhenVisit>"
                                                   "</Transition>")), "InvalidArgument"),
    ("two nots", config(rule_xml("<Filter><Not><Prefix>p/a</Prefix></Not><Not><Prefix>p/b</Prefix></Not></Filter>"
                                 "<Expiration><Days>1</Days></Expiration>")), "MalformedXML"),
    ("sizes reversed", config(rule_xml("<Filter><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
                                       "<ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>"
                                       "<Expiration><Days>1</Days></Expiration>")), "InvalidArgument"),
    ("too many rules", config(*(rule_xml("<Expiration><Days>1</Days></Expiration>", f"r{i}", f"p{i}/")
                                for i in range(1001))), "InvalidArgument"),
    ("not xml", "<LifecycleConfiguration><Rule>", "MalformedXML"),
    ("tag character", config(rule_xml("<Expiration><Days>1</Days></Expiration>"
                                      "<Tag><Key>%&amp;</Key><Value>v</Value></Tag>")), "InvalidArgument"),
    ("days and dates mixed", config(rule_xml("<Expiration><CreatedBeforeDate>2016-12-25T00:00:00.000Z"
                                             "</CreatedBeforeDate></Expiration><Transition><Days>356</Days>"
                                             "<StorageClass>IA</StorageClass></Transition>")), "InvalidRequest"),
]


@pytest.mark.parametrize("body,code", [(b, c) for _n, b, c in BAD], ids=[n for n, _b, _c in BAD])
def test_invalid_configuration(bucket, body, code):
    with pytest.raises(oss2.exceptions.OssError) as info:
        raw_put(bucket, body)
    assert (info.value.status, info.value.code) == (400, code), info.value
    with pytest.raises(oss2.exceptions.NoSuchLifecycle):  # nothing was stored
        bucket.get_bucket_lifecycle()


def test_same_action_overlap_message(bucket):
    """oss2's own test compares OSS's message exactly."""
    body = config(rule_xml("<Expiration><Days>1</Days></Expiration>", "a", "x"),
                  rule_xml("<Expiration><Days>2</Days></Expiration>", "b", "x/y"))
    with pytest.raises(oss2.exceptions.OssError) as info:
        raw_put(bucket, body)
    assert info.value.message == "Overlap for same action type Expiration"


def test_expiration_date_and_long_tags(bucket):
    """oss2 still sends Expiration/Date (the older form) and expects it back; long tag keys and
    values are accepted (oss2's test_lifecycle_object_tagging_exceptions_*)."""
    tags = TaggingRule()
    tags.tagging_rule["k" * 129] = "v" * 257   # add() refuses it on the client side
    bucket.put_bucket_lifecycle(BucketLifecycle([LifecycleRule(
        "t", "p/", status="Enabled", expiration=LifecycleExpiration(days=3), tagging=Tagging(tags))]))
    bucket.put_bucket_lifecycle(BucketLifecycle([LifecycleRule(
        "d", "p/", status="Enabled", expiration=LifecycleExpiration(date=datetime.date(2016, 12, 25)))]))
    (rule,) = bucket.get_bucket_lifecycle().rules
    assert (rule.id, rule.expiration.date) == ("d", datetime.date(2016, 12, 25))


def test_same_action_overlap_allowed_by_header(bucket):
    body = config(rule_xml("<Expiration><Days>1</Days></Expiration>", "a", "x"),
                  rule_xml("<Expiration><Days>2</Days></Expiration>", "b", "x/y"))
    raw_put(bucket, body, headers={"x-oss-allow-same-action-overlap": "true"})
    assert {r.id for r in bucket.get_bucket_lifecycle().rules} == {"a", "b"}


def test_ram_actions(server, bucket, user):
    """The three operations need oss:PutBucketLifecycle, oss:GetBucketLifecycle and
    oss:DeleteBucketLifecycle."""
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:GetBucketLifecycle",
                               "Resource": f"acs:oss:*:*:{bucket.bucket_name}"}])
    bucket.put_bucket_lifecycle(BucketLifecycle([LifecycleRule("r", "p/", status="Enabled",
                                                               expiration=LifecycleExpiration(days=1))]))
    theirs = as_user(server, user, bucket.bucket_name)
    assert [r.id for r in theirs.get_bucket_lifecycle().rules] == ["r"]
    for call in (lambda: theirs.put_bucket_lifecycle(BucketLifecycle([LifecycleRule(
            "x", "", status="Enabled", expiration=LifecycleExpiration(days=1))])),
            theirs.delete_bucket_lifecycle):
        with pytest.raises(oss2.exceptions.AccessDenied):
            call()
    assert [r.id for r in bucket.get_bucket_lifecycle().rules] == ["r"]


def test_lifecycle_on_missing_bucket(server, oss2_auth):
    b = oss2.Bucket(oss2_auth, server.endpoint, "missing-" + uuid.uuid4().hex[:10])
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_lifecycle()


# -- rules that run ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_server(tmp_path_factory):
    """A server whose lifecycle day lasts LIFECYCLE_DAY seconds, scanning several times a second,
    and whose restores complete at once."""
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-lifecycle")),
                         extra_args=["--lifecycle-day-seconds", str(LIFECYCLE_DAY), "--lifecycle-interval",
                                     "0.3", "--restore-delay", "0"]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture
def fast(fast_server):
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    name = "lc-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(auth, fast_server.endpoint, name)
    b.create_bucket()
    yield b
    remove_bucket(auth, fast_server.endpoint, name)


def eventually(check, what: str):
    """Poll `check` until it returns a true value (its value), failing after WAIT seconds."""
    return wait_until(check, WAIT, 0.2, f"lifecycle to {what}")


def put_rules(bucket, *rules):
    bucket.put_bucket_lifecycle(BucketLifecycle(list(rules)))


def keys(bucket, prefix=""):
    return sorted(o.key for o in oss2.ObjectIterator(bucket, prefix=prefix))


def test_expiration_deletes_matching_objects(fast):
    fast.put_object("exp/a", b"1")
    fast.put_object("exp/keep/b", b"2")
    fast.put_object("other/c", b"3")
    put_rules(fast, LifecycleRule("e", "exp/", status="Enabled", expiration=LifecycleExpiration(days=1),
                                       filter=LifecycleFilter(filter_not=[FilterNot(prefix="exp/keep")])))
    eventually(lambda: "exp/a" not in keys(fast), "expire exp/a")
    assert keys(fast) == ["exp/keep/b", "other/c"]


def test_created_before_date_expires_at_once(fast):
    fast.put_object("d/a", b"1")
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    put_rules(fast, LifecycleRule("d", "d/", status="Enabled",
                                       expiration=LifecycleExpiration(created_before_date=tomorrow)))
    eventually(lambda: keys(fast) == [], "expire by CreatedBeforeDate")


def test_expiration_date_expires_everything_from_that_day(fast):
    fast.put_object("od/a", b"1")
    put_rules(fast, LifecycleRule("od", "od/", status="Enabled",
                                  expiration=LifecycleExpiration(date=datetime.date(2016, 12, 25))))
    eventually(lambda: keys(fast) == [], "expire by Date")


def test_size_and_tag_filters(fast):
    tags = TaggingRule()
    tags.add("tmp", "yes")
    fast.put_object("s/small-tagged", b"x", headers={"x-oss-tagging": "tmp=yes"})
    fast.put_object("s/big-tagged", b"x" * 100, headers={"x-oss-tagging": "tmp=yes"})
    fast.put_object("s/small-untagged", b"x")
    put_rules(fast, LifecycleRule("s", "s/", status="Enabled", expiration=LifecycleExpiration(days=1),
                                       tagging=Tagging(tags),
                                       filter=LifecycleFilter(object_size_less_than=50)),
              LifecycleRule("marker", "zz-after/", status="Enabled",
                                 expiration=LifecycleExpiration(days=1)))
    # a key scanned after the others: once it is gone, the others were judged in the same scan
    fast.put_object("zz-after/x", b"1")
    eventually(lambda: "zz-after/x" not in keys(fast), "expire the sentinel")
    assert keys(fast) == ["s/big-tagged", "s/small-untagged"]


def test_transition_to_archive_needs_restore(fast):
    fast.put_object("t/a", b"cold data")
    put_rules(fast, LifecycleRule("t", "t/", status="Enabled", storage_transitions=[
        StorageTransition(days=1, storage_class="IA"), StorageTransition(days=2, storage_class="Archive")]))
    before = fast.head_object("t/a").last_modified
    eventually(lambda: fast.head_object("t/a").resp.headers.get("x-oss-storage-class") == "Archive",
               "transition t/a to Archive")
    assert fast.head_object("t/a").last_modified == before  # a transition is no modification (OSS)
    with pytest.raises(oss2.exceptions.OssError) as info:
        fast.get_object("t/a")
    assert (info.value.status, info.value.code) == (403, "InvalidObjectState")
    fast.restore_object("t/a")
    assert eventually(lambda: _read(fast, "t/a"), "restore t/a") == b"cold data"


def _read(bucket, key):
    try:
        return bucket.get_object(key).read()
    except oss2.exceptions.OssError:
        return None


def test_appendable_objects_skip_cold_archive_until_sealed(fast, fast_server):
    import alibabacloud_oss_v2 as oss
    fast.append_object("app/a", 0, b"abc")
    fast.append_object("app/b-sealed", 0, b"xyz")
    v2 = make_v2_client(fast_server.endpoint)
    v2.seal_append_object(oss.SealAppendObjectRequest(bucket=fast.bucket_name, key="app/b-sealed", position=3))
    # newest of all and scanned last: once it has moved, the scan that moved it judged the others too
    fast.put_object("app/z-sentinel", b"normal")
    put_rules(fast, LifecycleRule("app", "app/", status="Enabled", storage_transitions=[
        StorageTransition(days=1, storage_class="Archive"),
        StorageTransition(days=2, storage_class="ColdArchive")]))

    def cls(key):
        return fast.head_object(key).resp.headers.get("x-oss-storage-class")
    eventually(lambda: cls("app/z-sentinel") == "ColdArchive", "transition the sentinel")
    # OSS: an appendable object is not transitioned to ColdArchive while it can still be appended to;
    # Archive is allowed, and appending to it still is
    assert cls("app/a") == "Archive"
    assert cls("app/b-sealed") == "ColdArchive"
    assert fast.append_object("app/a", 3, b"def").next_position == 6


def test_abort_incomplete_multipart_upload(fast):
    gone = fast.init_multipart_upload("mp/a").upload_id
    kept = fast.init_multipart_upload("other/a").upload_id
    fast.upload_part("mp/a", gone, 1, b"part")
    put_rules(fast, LifecycleRule("mp", "mp/", status="Enabled",
                                       abort_multipart_upload=AbortMultipartUpload(days=1)))

    def uploads():
        return sorted(u.upload_id for u in oss2.MultipartUploadIterator(fast))
    eventually(lambda: uploads() == [kept], "abort the upload under mp/")


def enable_versioning(bucket):
    cfg = BucketVersioningConfig()
    cfg.status = "Enabled"
    bucket.put_bucket_versioning(cfg)


def _versions(bucket, prefix):
    page = bucket.list_object_versions(prefix=prefix)
    return ([(v.key, v.is_latest) for v in page.versions], [(d.key, d.is_latest) for d in page.delete_marker])


def test_versioned_expiration_makes_one_delete_marker(fast):
    enable_versioning(fast)
    fast.put_object("ve/a", b"1")
    put_rules(fast, LifecycleRule("ve", "ve/", status="Enabled", expiration=LifecycleExpiration(days=1)),
              LifecycleRule("sentinel", "zz/", status="Enabled",
                                 expiration=LifecycleExpiration(days=1)))
    eventually(lambda: _versions(fast, "ve/")[1], "add a delete marker")
    fast.put_object("zz/x", b"1")
    # scans after the marker was made (the sentinel expires later) add no second one
    eventually(lambda: _versions(fast, "zz/")[1], "expire the sentinel")
    assert _versions(fast, "ve/") == ([("ve/a", False)], [("ve/a", True)])


def test_noncurrent_expiration_and_expired_delete_marker(fast):
    enable_versioning(fast)
    fast.put_object("nc/a", b"v1")
    fast.put_object("nc/a", b"v2")           # v1 becomes noncurrent
    fast.put_object("dm/a", b"x")
    fast.delete_object("dm/a")               # x noncurrent, a delete marker current
    put_rules(fast,
              LifecycleRule("nc", "nc/", status="Enabled",
                                 noncurrent_version_expiration=NoncurrentVersionExpiration(1)),
              LifecycleRule("dm", "dm/", status="Enabled",
                                 expiration=LifecycleExpiration(expired_detete_marker=True),
                                 noncurrent_version_expiration=NoncurrentVersionExpiration(1)))
    eventually(lambda: _versions(fast, "nc/") == ([("nc/a", True)], []), "expire the noncurrent version")
    assert fast.get_object("nc/a").read() == b"v2"
    # the noncurrent version expires, then the marker is the key's only version and goes too
    eventually(lambda: _versions(fast, "dm/") == ([], []), "remove the expired delete marker")


def test_noncurrent_transition(fast):
    enable_versioning(fast)
    first = fast.put_object("nt/a", b"v1").versionid
    fast.put_object("nt/a", b"v2")
    put_rules(fast, LifecycleRule("nt", "nt/", status="Enabled", noncurrent_version_sotrage_transitions=[
        NoncurrentVersionStorageTransition(1, "IA")]))

    def cls(version=None):
        params = {"versionId": version} if version else None
        return fast.head_object("nt/a", params=params).resp.headers.get("x-oss-storage-class")
    eventually(lambda: cls(first) == "IA", "transition the noncurrent version")
    assert cls() == "Standard"


def test_disabled_rule_does_nothing(fast):
    fast.put_object("off/a", b"1")
    put_rules(fast, LifecycleRule("off", "off/", status="Disabled", expiration=LifecycleExpiration(days=1)),
              LifecycleRule("on", "on/", status="Enabled", expiration=LifecycleExpiration(days=1)))
    fast.put_object("on/a", b"1")   # newer than off/a: once it expired, off/a was due too
    eventually(lambda: keys(fast, "on/") == [], "expire on/a")
    assert keys(fast, "off/") == ["off/a"]


# -- several nodes ---------------------------------------------------------------------------------------
@pytest.mark.slow  # two nodes on PostgreSQL waiting for a scan (~7 s)
def test_two_nodes_apply_a_rule_once(tmp_path, pg_schema):
    """Two nodes on one PostgreSQL and one segment store both scan: every expired key of a
    versioned bucket gets exactly one delete marker (each action is a compare-and-set on its row)."""
    store = tmp_path / "segments"
    store.mkdir()
    args = ["--meta", schema_url(PG_URL, pg_schema), "--data", f"file://{store}",
            "--lifecycle-day-seconds", str(LIFECYCLE_DAY), "--lifecycle-interval", "0.1"]
    nodes = [ServerProcess(str(tmp_path / f"n{i}"), extra_args=args).start() for i in (1, 2)]
    try:
        auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        b = oss2.Bucket(auth, nodes[0].endpoint, "lc-multi")
        b.create_bucket()
        enable_versioning(b)
        for i in range(40):
            b.put_object(f"k/{i:02d}", b"x")
        put_rules(b, LifecycleRule("k", "k/", status="Enabled", expiration=LifecycleExpiration(days=1)),
                  LifecycleRule("sentinel", "zz/", status="Enabled", expiration=LifecycleExpiration(days=1)))
        eventually(lambda: len(_versions(b, "k/")[1]) == 40, "expire every key")
        b.put_object("zz/x", b"1")   # expires a day after the keys did: many scans of both nodes later
        eventually(lambda: _versions(b, "zz/")[1], "expire the sentinel")
        versions, markers = _versions(b, "k/")
        assert sorted(markers) == [(f"k/{i:02d}", True) for i in range(40)]
        assert sorted(versions) == [(f"k/{i:02d}", False) for i in range(40)]
        remove_bucket(auth, nodes[1].endpoint, "lc-multi")
    finally:
        for n in nodes:
            n.stop()


def test_v2_sdk_transition_without_id(v2, bucket_name):
    """The v2 SDK's own integration test: a rule without ID, a Transition by CreatedBeforeDate
    (sent as the date at midnight) and IsAccessTime false, which must come back as sent."""
    import alibabacloud_oss_v2 as oss
    when = datetime.datetime(2023, 12, 17, 10, 0, 0)
    v2.put_bucket_lifecycle(oss.PutBucketLifecycleRequest(
        bucket=bucket_name, lifecycle_configuration=oss.LifecycleConfiguration(rules=[oss.LifecycleRule(
            transitions=[oss.LifecycleRuleTransition(created_before_date=when, storage_class="IA",
                                                     is_access_time=False)],
            prefix="python-test", status="Enabled")])))
    (rule,) = v2.get_bucket_lifecycle(oss.GetBucketLifecycleRequest(bucket=bucket_name)
                                      ).lifecycle_configuration.rules
    assert rule.id
    (tr,) = rule.transitions
    assert tr.created_before_date.strftime("%Y-%m-%d") == "2023-12-17"
    assert (tr.storage_class, tr.is_access_time) == ("IA", False)


# -- the compare-and-set under the scanner (engine level: a race the HTTP tests cannot time) --------
def test_stale_lifecycle_actions_do_nothing(tmp_path):
    """A node that judged a version due acts only if the row is still the one it read: after an
    overwrite, another node's expiry, or a new version on top, its delete is a no-op, and an
    expired delete marker is kept while other versions exist."""
    import asyncio

    from ossbox.storage.drivers import open_engine
    from ossbox.storage.records import BucketRecord, ObjectRecord

    async def body(data):
        yield data

    async def put(eng, key, data):
        rec = ObjectRecord(bucket="b", key=key, type="Normal", size=0, crc64=0, etag="", blob="", mtime=0.0)
        return await eng.put_object(rec, body(data), content_length=len(data), content_md5=None)

    async def scenario():
        eng = open_engine(str(tmp_path))
        await eng.start()
        try:
            await eng.create_bucket(BucketRecord(name="b", owner="1", created=time.time(), region="r",
                                                 config={"versioning": "Enabled"}))
            old = await put(eng, "k", b"1")
            await put(eng, "k", b"2")                       # overwritten after the scan read `old`
            assert (await eng.delete_object("b", "k", expect=old)).removed is None
            cur = await eng.get_object("b", "k")
            first = await eng.delete_object("b", "k", expect=cur)     # one node expires it ...
            assert first.delete_marker
            again = await eng.delete_object("b", "k", expect=cur)     # ... the other finds it done
            assert again.removed is None
            versions = await eng.list_versions("b", "", "", 1 << 62, 100)
            assert sum(r.is_delete_marker for r, _s, _l in versions) == 1
            # the marker is not the key's only version: ExpiredObjectDeleteMarker leaves it
            marker = next(r for r, _s, _l in versions if r.is_delete_marker)
            kept = await eng.delete_object("b", "k", marker.version_id, expect=marker, sole=True)
            assert kept.removed is None
            assert len(await eng.list_versions("b", "", "", 1 << 62, 100)) == len(versions)
        finally:
            await eng.stop()
    asyncio.run(scenario())
