"""Bucket tags (`?tagging` on a bucket) through oss2 and alibabacloud-oss-v2: Put/Get/DeleteBucketTags,
OSS's limits (20 tags, 64-byte keys, 128-byte values, reserved prefixes, UTF-8) and RAM actions."""
import uuid

import pytest

import oss2
import alibabacloud_oss_v2 as oss
from oss2.models import Tagging, TaggingRule

from conftest import as_user, put_policy, remove_bucket, v2_error


def _tagging(pairs):
    rule = TaggingRule()
    for k, v in pairs:
        rule.add(k, v)
    return Tagging(rule)


def test_put_get_delete_bucket_tags(bucket):
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {}  # none yet: an empty TagSet
    bucket.put_bucket_tagging(_tagging([("owner", "ops"), ("环境", "生产 环境"), ("empty", "")]))
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"owner": "ops", "环境": "生产 环境", "empty": ""}
    # overwrite semantics: the new set replaces the old one
    bucket.put_bucket_tagging(_tagging([("k1", "a"), ("k2", "b"), ("k3", "c")]))
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"k1": "a", "k2": "b", "k3": "c"}
    # ?tagging=k1,k2 deletes just those keys (an unknown key is ignored)
    assert bucket.delete_bucket_tagging(params={"tagging": "k1,k2,nope"}).status == 204
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"k3": "c"}
    assert bucket.delete_bucket_tagging().status == 204
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {}
    assert bucket.delete_bucket_tagging().status == 204
    # object tags are a different thing: the bucket's do not show on an object and vice versa
    bucket.put_bucket_tagging(_tagging([("b", "1")]))
    bucket.put_object("o", b"x")
    assert bucket.get_object_tagging("o").tag_set.tagging_rule == {}


def test_bucket_tag_limits(bucket):
    bucket.put_bucket_tagging(_tagging([(f"k{i}", "v") for i in range(20)]))
    assert len(bucket.get_bucket_tagging().tag_set.tagging_rule) == 20
    bucket.put_bucket_tagging(_tagging([("k" * 64, "v" * 128)]))
    bad = [
        [(f"k{i}", "v") for i in range(21)],
        [("k" * 65, "v")],
        [("k", "v" * 129)],
        [("é" * 33, "v")],  # 66 bytes of UTF-8
        [("http://x", "v")], [("https://x", "v")], [("Aliyun-x", "v")], [("ALIYUN", "v")], [("acs:x", "v")],
    ]
    for pairs in bad:
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.put_bucket_tagging(_tagging(pairs))
        assert (info.value.status, info.value.code) == (400, "InvalidTag"), pairs
    empty_key = b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet></Tagging>"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_bucket_tagging(empty_key)
    assert info.value.code == "InvalidTag"
    dup = (b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag>"
           b"<Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_bucket_tagging(dup)
    assert info.value.code == "InvalidTag"
    for body in (b"<Tagging/>", b"<Tagging><TagSet>", b"<Other/>"):
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.put_bucket_tagging(body)
        assert (info.value.status, info.value.code) == (400, "MalformedXML")
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"k" * 64: "v" * 128}  # unchanged


def test_bucket_tags_v2(v2, bucket_name):
    v2.put_bucket_tags(oss.PutBucketTagsRequest(bucket=bucket_name, tagging=oss.Tagging(
        tag_set=oss.TagSet(tags=[oss.Tag(key="team", value="storage"), oss.Tag(key="cost", value="42")]))))
    got = v2.get_bucket_tags(oss.GetBucketTagsRequest(bucket=bucket_name))
    assert {(t.key, t.value) for t in got.tagging.tag_set.tags} == {("team", "storage"), ("cost", "42")}
    v2.delete_bucket_tags(oss.DeleteBucketTagsRequest(bucket=bucket_name))  # (v2 has no key list)
    got = v2.get_bucket_tags(oss.GetBucketTagsRequest(bucket=bucket_name))
    assert not (got.tagging.tag_set and got.tagging.tag_set.tags)
    err = v2_error(v2.get_bucket_tags, oss.GetBucketTagsRequest(bucket="no-such-bucket-tags-x"))
    assert (err.status_code, err.code) == (404, "NoSuchBucket")


def test_bucket_tags_ram_actions(server, bucket, bucket_name, user):
    """OSS names the actions oss:PutBucketTagging / GetBucketTagging / DeleteBucketTagging."""
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:PutBucketTagging", "oss:GetBucketTagging"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}"]}])
    b = as_user(server, user, bucket_name)
    b.put_bucket_tagging(_tagging([("a", "1")]))
    assert b.get_bucket_tagging().tag_set.tagging_rule == {"a": "1"}
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.delete_bucket_tagging()
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"a": "1"}


def test_list_buckets_by_tag(server, oss2_auth, bucket, bucket_name):
    """ListBuckets' tag-key / tag-value filter (oss2's own suite: test_list_bucket_with_tagging)."""
    others = [f"t-tagged-{uuid.uuid4().hex[:12]}-{i}" for i in range(3)]
    try:
        for i, name in enumerate(others):
            oss2.Bucket(oss2_auth, server.endpoint, name).create_bucket()
            oss2.Bucket(oss2_auth, server.endpoint, name).put_bucket_tagging(
                _tagging([("project", "blue" if i < 2 else "green")]))
        bucket.put_bucket_tagging(_tagging([("project", "blue"), ("x", "1")]))
        service = oss2.Service(oss2_auth, server.endpoint)
        names = {b.name for b in service.list_buckets(params={"tag-key": "project", "tag-value": "blue"}).buckets}
        assert names == {others[0], others[1], bucket_name}
        names = {b.name for b in service.list_buckets(params={"tag-key": "project"}).buckets}
        assert names == set(others) | {bucket_name}
        assert [b.name for b in service.list_buckets(params={"tag-key": "x"}).buckets] == [bucket_name]
        # paging over the filtered list
        page = service.list_buckets(max_keys=2, params={"tag-key": "project", "tag-value": "blue"})
        assert len(page.buckets) == 2 and page.is_truncated
        rest = service.list_buckets(marker=page.next_marker, params={"tag-key": "project", "tag-value": "blue"})
        assert {b.name for b in page.buckets + rest.buckets} == {others[0], others[1], bucket_name}
        assert not rest.is_truncated
        with pytest.raises(oss2.exceptions.ServerError) as info:
            service.list_buckets(params={"tag-value": "blue"})
        assert (info.value.status, info.value.code) == (400, "InvalidArgument")
    finally:
        for name in others:
            remove_bucket(oss2_auth, server.endpoint, name)


def test_bucket_tag_condition_in_policies(server, bucket, bucket_name, user):
    """A RAM policy's oss:BucketTag/<key> condition sees the bucket's tags (PutBucketTags)."""
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetObject"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}/*"],
                               "Condition": {"StringEquals": {"oss:BucketTag/team": "blue"}}}])
    bucket.put_object("o", b"data")
    b = as_user(server, user, bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.get_object("o")  # no tags yet
    bucket.put_bucket_tagging(_tagging([("team", "blue")]))
    assert b.get_object("o").read() == b"data"
    bucket.put_bucket_tagging(_tagging([("team", "red")]))
    with pytest.raises(oss2.exceptions.AccessDenied):
        b.get_object("o")
