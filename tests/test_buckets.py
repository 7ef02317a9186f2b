"""Bucket operations through oss2 (V1 and V4 signatures) and alibabacloud-oss-v2: PutBucket,
DeleteBucket, GetBucketInfo (and HEAD), GetBucketLocation, bucket ACL, ListBuckets, live channels."""
import http.client
import uuid
from urllib.parse import urlparse

import pytest

import oss2
import alibabacloud_oss_v2 as oss

from conftest import remove_bucket, v2_error
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET

NO_SUCH_BUCKET_EC = "0015-00000101"


def _new_name(tag="b"):
    return f"t-{tag}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def scratch(server, oss2_auth):
    """Names of extra buckets a test creates; all are removed afterwards."""
    names = []
    yield names
    for name in names:
        remove_bucket(oss2_auth, server.endpoint, name)


# -- PutBucket ----------------------------------------------------------------------------------
def test_create_bucket_again_is_ok(bucket):
    assert bucket.create_bucket().status == 200
    assert bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE).status == 200


def test_create_bucket_with_storage_class_and_acl(server, oss2_auth, scratch):
    name = _new_name()
    scratch.append(name)
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ,
                    oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA,
                                                   oss2.BUCKET_DATA_REDUNDANCY_TYPE_ZRS))
    info = b.get_bucket_info()
    assert info.storage_class == "IA"
    assert info.data_redundancy_type == "ZRS"
    assert info.acl.grant == "public-read"
    # Same storage class again: fine. A different one: 409 BucketAlreadyExists.
    b.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA))
    with pytest.raises(oss2.exceptions.ServerError) as info:
        b.create_bucket(input=oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_STANDARD))
    assert info.value.code == "BucketAlreadyExists"
    assert info.value.status == 409


def test_create_bucket_v2(v2, scratch):
    name = _new_name("v2")
    scratch.append(name)
    r = v2.put_bucket(oss.PutBucketRequest(
        bucket=name, acl="private",
        create_bucket_configuration=oss.CreateBucketConfiguration(storage_class="Archive")))
    assert r.status_code == 200
    info = v2.get_bucket_info(oss.GetBucketInfoRequest(bucket=name)).bucket_info
    assert info.storage_class == "Archive"
    err = v2_error(v2.put_bucket, oss.PutBucketRequest(
        bucket=name, create_bucket_configuration=oss.CreateBucketConfiguration(storage_class="Standard")))
    assert (err.status_code, err.code) == (409, "BucketAlreadyExists")


def test_create_bucket_malformed_xml(server, oss2_auth, scratch):
    name = _new_name()
    scratch.append(name)
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    with pytest.raises(oss2.exceptions.MalformedXml) as info:
        b.create_bucket(input=b"<CreateBucketConfiguration><StorageClass>IA")
    assert (info.value.status, info.value.code) == (400, "MalformedXML")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        b.create_bucket(input=b"<Other><StorageClass>IA</StorageClass></Other>")
    assert info.value.code == "MalformedXML"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        b.create_bucket(input=b"<CreateBucketConfiguration><StorageClass>Gold</StorageClass>"
                              b"</CreateBucketConfiguration>")
    assert (info.value.status, info.value.code) == (400, "InvalidArgument")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_info()


def test_create_bucket_invalid_acl(server, oss2_auth, scratch):
    name = _new_name()
    scratch.append(name)
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    with pytest.raises(oss2.exceptions.InvalidArgument):
        b.create_bucket("public-everything")


def test_invalid_bucket_name(server):
    url = urlparse(server.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", "/Bad_Bucket/")
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 400
    assert b"<Code>InvalidBucketName</Code>" in body


# -- GetBucketInfo / HEAD bucket ----------------------------------------------------------------
def _check_info_oss2(info, name, server):
    host = urlparse(server.endpoint).netloc
    assert info.name == name
    assert info.location == "oss-cn-hangzhou"
    assert info.storage_class == "Standard"
    assert info.extranet_endpoint == host
    assert info.intranet_endpoint == host
    assert info.acl.grant == "private"
    assert info.owner.id and info.owner.display_name
    assert info.data_redundancy_type == "LRS"
    assert info.access_monitor == "Disabled"
    assert info.versioning_status is None
    assert info.bucket_encryption_rule.sse_algorithm is None
    assert oss2.utils.iso8601_to_unixtime(info.creation_date) > 0
    assert info.comment == ""  # present though empty: oss2's own test_bucket_info asserts it
    assert info.resource_group_id == "rg-default-id"


def test_get_bucket_info_oss2(bucket, bucket_name, server):
    _check_info_oss2(bucket.get_bucket_info(), bucket_name, server)


def test_get_bucket_info_oss2_v4(bucket_v4, bucket_name, server):
    _check_info_oss2(bucket_v4.get_bucket_info(), bucket_name, server)


def test_get_bucket_info_v2(v2, bucket_name, server):
    r = v2.get_bucket_info(oss.GetBucketInfoRequest(bucket=bucket_name))
    info = r.bucket_info
    assert info.name == bucket_name
    assert info.location == "oss-cn-hangzhou"
    assert info.storage_class == "Standard"
    assert info.acl == "private"
    assert info.data_redundancy_type == "LRS"
    assert info.extranet_endpoint == urlparse(server.endpoint).netloc
    assert info.owner.id
    assert info.creation_date is not None and info.creation_date.year >= 2024
    assert info.versioning is None
    assert info.sse_rule.sse_algorithm == "None"
    assert (info.resource_group_id, info.block_public_access) == ("rg-default-id", False)


def test_list_buckets_by_resource_group(server, oss2_auth, bucket_name):
    """oss2's test_bucket_with_group_id: the group GetBucketInfo names filters ListBuckets."""
    group = oss2.Bucket(oss2_auth, server.endpoint, bucket_name).get_bucket_info().resource_group_id
    service = oss2.Service(oss2_auth, server.endpoint)
    found = service.list_buckets(prefix=bucket_name, headers={"x-oss-resource-group-id": group}).buckets
    assert [(b.name, b.resource_group_id) for b in found] == [(bucket_name, group)]
    assert service.list_buckets(prefix=bucket_name, headers={"x-oss-resource-group-id": "rg-other"}).buckets == []


def test_get_bucket_info_missing(server, oss2_auth, v2):
    name = _new_name("gone")
    with pytest.raises(oss2.exceptions.NoSuchBucket) as info:
        oss2.Bucket(oss2_auth, server.endpoint, name).get_bucket_info()
    assert info.value.status == 404
    assert info.value.ec == NO_SUCH_BUCKET_EC
    assert info.value.details["BucketName"] == name
    err = v2_error(v2.get_bucket_info, oss.GetBucketInfoRequest(bucket=name))
    assert (err.status_code, err.code, err.ec) == (404, "NoSuchBucket", NO_SUCH_BUCKET_EC)


def test_head_bucket(v2, bucket_name):
    out = v2.invoke_operation(oss.OperationInput(op_name="HeadBucket", method="HEAD", bucket=bucket_name))
    assert out.status_code == 200
    assert out.headers.get("Content-Length") == "0"
    err = v2_error(v2.invoke_operation,
                    oss.OperationInput(op_name="HeadBucket", method="HEAD", bucket=_new_name("gone")))
    assert (err.status_code, err.code, err.ec) == (404, "NoSuchBucket", NO_SUCH_BUCKET_EC)


def test_is_bucket_exist_v2(v2, bucket_name):
    assert v2.is_bucket_exist(bucket_name)
    assert not v2.is_bucket_exist(_new_name("gone"))


# -- GetBucketLocation --------------------------------------------------------------------------
def test_get_bucket_location(bucket, bucket_v4, v2, bucket_name):
    assert bucket.get_bucket_location().location == "oss-cn-hangzhou"
    assert bucket_v4.get_bucket_location().location == "oss-cn-hangzhou"
    r = v2.get_bucket_location(oss.GetBucketLocationRequest(bucket=bucket_name))
    assert r.location == "oss-cn-hangzhou"


def test_get_bucket_location_missing(server, oss2_auth):
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss2.Bucket(oss2_auth, server.endpoint, _new_name("gone")).get_bucket_location()


# -- Bucket ACL ---------------------------------------------------------------------------------
def test_bucket_acl_oss2(bucket, bucket_v4):
    assert bucket.get_bucket_acl().acl == "private"
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    assert bucket.get_bucket_acl().acl == "public-read"
    bucket_v4.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    assert bucket_v4.get_bucket_acl().acl == "public-read-write"
    assert bucket.get_bucket_info().acl.grant == "public-read-write"
    with pytest.raises(oss2.exceptions.InvalidArgument) as info:
        bucket.put_bucket_acl("default")
    assert info.value.status == 400
    assert bucket.get_bucket_acl().acl == "public-read-write"


def test_bucket_acl_v2(v2, bucket_name, server):
    r = v2.get_bucket_acl(oss.GetBucketAclRequest(bucket=bucket_name))
    assert r.acl == "private"
    assert r.owner.id and r.owner.display_name
    v2.put_bucket_acl(oss.PutBucketAclRequest(bucket=bucket_name, acl="public-read"))
    assert v2.get_bucket_acl(oss.GetBucketAclRequest(bucket=bucket_name)).acl == "public-read"
    err = v2_error(v2.put_bucket_acl, oss.PutBucketAclRequest(bucket=bucket_name, acl="bogus"))
    assert (err.status_code, err.code) == (400, "InvalidArgument")
    err = v2_error(v2.get_bucket_acl, oss.GetBucketAclRequest(bucket=_new_name("gone")))
    assert (err.code, err.ec) == ("NoSuchBucket", NO_SUCH_BUCKET_EC)


# -- DeleteBucket -------------------------------------------------------------------------------
def test_delete_bucket(server, oss2_auth, scratch):
    name = _new_name()
    scratch.append(name)
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    b.create_bucket()
    b.put_object("k", b"x")
    with pytest.raises(oss2.exceptions.BucketNotEmpty) as info:
        b.delete_bucket()
    assert info.value.status == 409
    assert info.value.ec == "0015-00000301"
    b.delete_object("k")
    assert b.delete_bucket().status == 204
    with pytest.raises(oss2.exceptions.NoSuchBucket) as info:
        b.delete_bucket()
    assert info.value.ec == NO_SUCH_BUCKET_EC


def test_delete_bucket_with_upload(server, oss2_auth, scratch):
    name = _new_name()
    scratch.append(name)
    b = oss2.Bucket(oss2_auth, server.endpoint, name)
    b.create_bucket()
    upload_id = b.init_multipart_upload("big").upload_id
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        b.delete_bucket()
    b.abort_multipart_upload("big", upload_id)
    b.delete_bucket()


def test_delete_bucket_v2(v2, scratch):
    name = _new_name("v2")
    scratch.append(name)
    v2.put_bucket(oss.PutBucketRequest(bucket=name))
    v2.put_object(oss.PutObjectRequest(bucket=name, key="a", body=b"1"))
    err = v2_error(v2.delete_bucket, oss.DeleteBucketRequest(bucket=name))
    assert (err.status_code, err.code, err.ec) == (409, "BucketNotEmpty", "0015-00000301")
    v2.delete_object(oss.DeleteObjectRequest(bucket=name, key="a"))
    assert v2.delete_bucket(oss.DeleteBucketRequest(bucket=name)).status_code == 204
    err = v2_error(v2.delete_bucket, oss.DeleteBucketRequest(bucket=name))
    assert (err.status_code, err.code, err.ec) == (404, "NoSuchBucket", NO_SUCH_BUCKET_EC)


# -- ListBuckets --------------------------------------------------------------------------------
def test_list_buckets_oss2(server, oss2_auth, scratch):
    tag = uuid.uuid4().hex[:8]
    names = sorted(f"t-lb{tag}-{i}" for i in range(5))
    for n in names:
        scratch.append(n)
        oss2.Bucket(oss2_auth, server.endpoint, n).create_bucket()
    service = oss2.Service(oss2_auth, server.endpoint)
    r = service.list_buckets(prefix=f"t-lb{tag}-", max_keys=2)
    assert [b.name for b in r.buckets] == names[:2]
    assert r.is_truncated and r.next_marker == names[1]
    assert r.owner.id
    b = r.buckets[0]
    assert b.location == "oss-cn-hangzhou"
    assert b.region == "cn-hangzhou"
    assert b.storage_class == "Standard"
    assert b.extranet_endpoint == urlparse(server.endpoint).netloc
    assert b.intranet_endpoint == urlparse(server.endpoint).netloc
    assert b.creation_date > 0
    r = service.list_buckets(prefix=f"t-lb{tag}-", marker=names[3], max_keys=2)
    assert [b.name for b in r.buckets] == names[4:]
    assert not r.is_truncated
    listed = [b.name for b in oss2.BucketIterator(service, prefix=f"t-lb{tag}-", max_keys=2)]
    assert listed == names
    assert list(oss2.BucketIterator(service, prefix=f"t-none{tag}")) == []


def test_list_buckets_v4(server, scratch):
    auth = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(ACCESS_KEY_ID, ACCESS_KEY_SECRET))
    tag = uuid.uuid4().hex[:8]
    name = f"t-lb{tag}"
    scratch.append(name)
    oss2.Bucket(auth, server.endpoint, name, region="cn-hangzhou").create_bucket()
    service = oss2.Service(auth, server.endpoint, region="cn-hangzhou")
    assert [b.name for b in service.list_buckets(prefix=name).buckets] == [name]


def test_list_buckets_v2(v2, scratch):
    tag = uuid.uuid4().hex[:8]
    names = sorted(f"t-lv{tag}-{i}" for i in range(3))
    for n in names:
        scratch.append(n)
        v2.put_bucket(oss.PutBucketRequest(bucket=n))
    r = v2.list_buckets(oss.ListBucketsRequest(prefix=f"t-lv{tag}-", max_keys=2))
    assert [b.name for b in r.buckets] == names[:2]
    assert r.is_truncated and r.next_marker == names[1]
    assert r.prefix == f"t-lv{tag}-" and r.max_keys == 2
    assert r.owner.id
    assert r.buckets[0].region == "cn-hangzhou"
    assert r.buckets[0].location == "oss-cn-hangzhou"
    assert r.buckets[0].creation_date is not None
    paged = [b.name for page in v2.list_buckets_paginator(limit=1).iter_page(
        oss.ListBucketsRequest(prefix=f"t-lv{tag}-")) for b in page.buckets]
    assert paged == names


@pytest.mark.parametrize("value", ["0", "1001", "-1", "abc", ""])
def test_list_buckets_invalid_max_keys(server, oss2_auth, value):
    service = oss2.Service(oss2_auth, server.endpoint)
    with pytest.raises(oss2.exceptions.InvalidArgument) as info:
        service.list_buckets(max_keys=value)
    assert info.value.status == 400
    assert info.value.ec == "0016-00000402"


# -- LiveChannel --------------------------------------------------------------------------------
def test_list_live_channels_empty(bucket):
    r = bucket.list_live_channel(prefix="p", max_keys=10)
    assert r.channels == []
    assert r.is_truncated is False
    assert r.prefix == "p" and r.max_keys == 10
    assert list(oss2.LiveChannelIterator(bucket)) == []


def test_live_channel_unsupported(bucket):
    cfg = oss2.models.LiveChannelInfo(
        status="enabled", description="d",
        target=oss2.models.LiveChannelInfoTarget(playlist_name="p.m3u8", frag_count=3, frag_duration=5))
    with pytest.raises(oss2.exceptions.OperationNotSupported) as info:
        bucket.create_live_channel("ch", cfg)
    assert (info.value.status, info.value.code) == (400, "OperationNotSupported")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_live_channel("ch")
    assert info.value.code == "OperationNotSupported"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.delete_live_channel("ch")
    assert info.value.code == "OperationNotSupported"


def test_live_channel_missing_bucket(server, oss2_auth):
    b = oss2.Bucket(oss2_auth, server.endpoint, _new_name("gone"))
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.list_live_channel()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_live_channel("ch")


def test_describe_regions(server, oss2_auth, v2):
    """GET /?regions is DescribeRegions (not ListBuckets): this server's one region, at the
    endpoint the client used; any other region is 404 NoSuchRegion."""
    host = urlparse(server.endpoint).netloc
    service = oss2.Service(oss2_auth, server.endpoint)
    for regions in (service.describe_regions().regions, service.describe_regions("oss-cn-hangzhou").regions):
        assert [(r.region, r.internet_endpoint, r.internal_endpoint, r.accelerate_endpoint) for r in regions] == \
            [("oss-cn-hangzhou", host, host, host)]
    with pytest.raises(oss2.exceptions.ServerError) as e:
        service.describe_regions("aaa")
    assert (e.value.status, e.value.code) == (404, "NoSuchRegion")
    r = v2.describe_regions(oss.DescribeRegionsRequest(regions="oss-cn-hangzhou"))
    assert [(i.region, i.internet_endpoint) for i in r.region_info] == [("oss-cn-hangzhou", host)]
