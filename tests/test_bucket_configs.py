"""Bucket settings beside WORM (docs/bucket-configs.md): HTTPS config, CNAME tokens, resource group,
transfer acceleration, QoS and storage capacity, resource pools, access tracking, archive direct
read, callback policy, data redundancy transitions -- through oss2 and alibabacloud_oss_v2, with
OSS's validation, and the effects they have off the cloud."""
import base64
import json
import time
import uuid

import alibabacloud_oss_v2 as oss
import oss2
import pytest
from oss2.models import (BucketLifecycle, BucketQosInfo, BucketTlsVersion, BucketUserQos, CallbackPolicyInfo,
                         LifecycleRule, QoSConfiguration, StorageTransition)

from appendkit import wait_until
from conftest import remove_bucket, v2_error
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess


def raw(bucket, method, params, body=b""):
    return bucket._Bucket__do_bucket(method, data=body, params=params)


def server_error(fn, *args, **kwargs):
    with pytest.raises(oss2.exceptions.ServerError) as info:
        fn(*args, **kwargs)
    return info.value


# -- HTTPS -------------------------------------------------------------------------------------------
def test_https_config(bucket, v2, bucket_name):
    got = bucket.get_bucket_https_config()
    assert (got.tls_enabled, got.tls_version) == (False, [])
    bucket.put_bucket_https_config(BucketTlsVersion(True, ["TLSv1.2", "TLSv1.3", "TLSv1.2"]))
    got = bucket.get_bucket_https_config()
    assert (got.tls_enabled, got.tls_version) == (True, ["TLSv1.2", "TLSv1.3"])
    for bad in (BucketTlsVersion(True), BucketTlsVersion(True, ["SSLv3"])):
        assert server_error(bucket.put_bucket_https_config, bad).code == "MalformedXML"
    body = (b"<HttpsConfiguration><TLS><Enable>true</Enable><TLSVersion>TLSv1.2</TLSVersion></TLS>"
            b"<CipherSuite><Enable>true</Enable><StrongCipherSuite>false</StrongCipherSuite>"
            b"<CustomCipherSuite>ECDHE-RSA-AES128-GCM-SHA256</CustomCipherSuite></CipherSuite></HttpsConfiguration>")
    raw(bucket, "PUT", {"httpsConfig": ""}, body)
    cfg = v2.get_bucket_https_config(oss.GetBucketHttpsConfigRequest(bucket=bucket_name)).https_configuration
    assert (cfg.tls.enable, cfg.tls.tls_versions) == (True, ["TLSv1.2"])
    assert cfg.cipher_suite.custom_cipher_suites == ["ECDHE-RSA-AES128-GCM-SHA256"]
    bucket.put_bucket_https_config(BucketTlsVersion())
    got = bucket.get_bucket_https_config()
    assert (got.tls_enabled, got.tls_version) == (False, [])


# -- CNAME ---------------------------------------------------------------------------------------------
def test_cname_token_and_ownership(bucket):
    token = bucket.create_bucket_cname_token("www.example.com")
    assert (token.bucket, token.cname) == (bucket.bucket_name, "www.example.com")
    assert len(token.token) == 32 and token.expire_time.endswith("GMT")
    got = bucket.get_bucket_cname_token("www.example.com")
    assert (got.token, got.expire_time) == (token.token, token.expire_time)
    e = server_error(bucket.get_bucket_cname_token, "other.example.com")
    assert (e.status, e.code) == (404, "NoSuchCnameToken")
    e = server_error(bucket.put_bucket_cname, oss2.models.PutBucketCnameRequest("www.example.com"))
    assert (e.status, e.code) == (409, "NeedVerifyDomainOwnership")
    assert bucket.list_bucket_cname().cname == []
    bucket.delete_bucket_cname("www.example.com")
    assert server_error(bucket.get_bucket_cname_token, "www.example.com").code == "NoSuchCnameToken"
    e = server_error(bucket.create_bucket_cname_token, "not a domain")
    assert e.code == "InvalidArgument"


# -- resource group --------------------------------------------------------------------------------------
def test_resource_group_and_list_buckets_filter(bucket, server, oss2_auth):
    default = bucket.get_bucket_resource_group().resource_group_id
    assert default == bucket.get_bucket_info().resource_group_id
    e = server_error(bucket.put_bucket_resource_group, "not-a-group")
    assert (e.status, e.code) == (400, "ResourceGroupIdPreCheckError")
    bucket.put_bucket_resource_group("rg-aek2abc123")
    assert bucket.get_bucket_resource_group().resource_group_id == "rg-aek2abc123"
    assert bucket.get_bucket_info().resource_group_id == "rg-aek2abc123"
    service = oss2.Service(oss2_auth, server.endpoint)
    found = service.list_buckets(headers={"x-oss-resource-group-id": "rg-aek2abc123"}).buckets
    assert [(b.name, b.resource_group_id) for b in found] == [(bucket.bucket_name, "rg-aek2abc123")]
    others = service.list_buckets(headers={"x-oss-resource-group-id": default}).buckets
    assert bucket.bucket_name not in [b.name for b in others]
    bucket.put_bucket_resource_group(default)
    assert bucket.get_bucket_resource_group().resource_group_id == default


# -- transfer acceleration -----------------------------------------------------------------------------
def test_transfer_acceleration(bucket, v2, bucket_name):
    with pytest.raises(oss2.exceptions.NoSuchTransferAccelerationConfiguration):
        bucket.get_bucket_transfer_acceleration()
    assert server_error(bucket.put_bucket_transfer_acceleration, "yes").code == "MalformedXML"
    bucket.put_bucket_transfer_acceleration("true")
    assert bucket.get_bucket_transfer_acceleration().enabled == "true"
    assert bucket.get_bucket_info().transfer_acceleration == "Enabled"
    v2.put_bucket_transfer_acceleration(oss.PutBucketTransferAccelerationRequest(
        bucket=bucket_name, transfer_acceleration_configuration=oss.TransferAccelerationConfiguration(enabled=False)))
    got = v2.get_bucket_transfer_acceleration(oss.GetBucketTransferAccelerationRequest(bucket=bucket_name))
    assert got.transfer_acceleration_configuration.enabled is False


# -- QoS, storage capacity, resource pools -------------------------------------------------------------
def test_bucket_qos_within_the_accounts(bucket, server, oss2_auth):
    user = oss2.Service(oss2_auth, server.endpoint).get_user_qos_info()
    assert user.region == "cn-hangzhou" and user.total_upload_bw > 0 and user.total_download_bw > 0
    got = bucket.get_bucket_qos_info()
    assert (got.total_upload_bw, got.total_qps) == (-1, -1)
    bucket.put_bucket_qos_info(BucketQosInfo(total_upload_bw=user.total_upload_bw, intranet_upload_bw=1,
                                             total_qps=100, extranet_qps=50))
    got = bucket.get_bucket_qos_info()
    assert (got.total_upload_bw, got.intranet_upload_bw, got.extranet_upload_bw, got.total_qps,
            got.extranet_qps) == (user.total_upload_bw, 1, -1, 100, 50)
    for bad in (BucketQosInfo(total_upload_bw=user.total_upload_bw + 1),
                BucketQosInfo(total_download_bw=5, intranet_download_bw=6),
                BucketQosInfo(total_qps=0)):
        with pytest.raises(oss2.exceptions.InvalidArgument):
            bucket.put_bucket_qos_info(bad)
    assert bucket.delete_bucket_qos_info().status == 204
    assert bucket.get_bucket_qos_info().total_upload_bw == -1


def test_storage_capacity(bucket):
    assert bucket.get_bucket_storage_capacity().storage_capacity == -1
    bucket.set_bucket_storage_capacity(BucketUserQos(100))
    assert bucket.get_bucket_storage_capacity().storage_capacity == 100
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.set_bucket_storage_capacity(BucketUserQos(-2))
    bucket.set_bucket_storage_capacity(BucketUserQos(-1))
    assert bucket.get_bucket_storage_capacity().storage_capacity == -1


def test_requester_qos_and_resource_pools(bucket, server, oss2_auth):
    qos = QoSConfiguration(total_upload_bw=100, intranet_upload_bw=6, extranet_upload_bw=12,
                           total_download_bw=110, intranet_download_bw=20, extranet_download_bw=50,
                           total_qps=300, intranet_qps=160, extranet_qps=170)
    bucket.put_bucket_requester_qos_info("1234567890", qos)
    got = bucket.get_bucket_requester_qos_info("1234567890")
    assert (got.requester, got.qos_configuration.extranet_qps) == ("1234567890", 170)
    listed = bucket.list_bucket_requester_qos_infos()
    assert [i.requester for i in listed.requester_qos_info] == ["1234567890"] and not listed.is_truncated
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_bucket_requester_qos_info("1234567890", QoSConfiguration(total_qps=10, intranet_qps=11))
    assert bucket.delete_bucket_requester_qos_info("1234567890").status == 204
    assert bucket.list_bucket_requester_qos_infos().requester_qos_info == []

    service = oss2.Service(oss2_auth, server.endpoint)
    pools = service.list_resource_pools()
    assert (pools.region, pools.resource_pool, pools.is_truncated) == ("cn-hangzhou", [], False)
    for call in (lambda: service.get_resource_pool_info("p"), lambda: service.list_resource_pool_buckets("p"),
                 lambda: service.put_resource_pool_requester_qos_info("1", "p", qos),
                 lambda: service.delete_resource_pool_requester_qos_info("1", "p")):
        e = server_error(call)
        assert (e.status, e.code, e.message) == (404, "NoSuchResourcePool",
                                                  "The specified resource pool does not exist.")


# -- access tracking ---------------------------------------------------------------------------------------
def test_access_monitor_tracks_reads(bucket, v2, bucket_name):
    bucket.put_object("k", b"data")
    assert "x-oss-last-access-time" not in bucket.get_object_meta("k").headers
    assert bucket.get_bucket_info().access_monitor == "Disabled"
    assert server_error(bucket.put_bucket_access_monitor, "On").code == "MalformedXML"
    v2.put_bucket_access_monitor(oss.PutBucketAccessMonitorRequest(
        bucket=bucket_name, access_monitor_configuration=oss.AccessMonitorConfiguration(status="Enabled")))
    assert bucket.get_bucket_access_monitor().access_monitor.status == "Enabled"
    assert bucket.get_bucket_info().access_monitor == "Enabled"
    first = bucket.get_object_meta("k").headers["x-oss-last-access-time"]
    assert bucket.head_object("k").headers["x-oss-last-access-time"] == first
    assert "x-ossbox-last-access" not in bucket.head_object("k").headers
    bucket.put_bucket_access_monitor("Disabled")
    assert "x-oss-last-access-time" not in bucket.get_object_meta("k").headers


def test_access_time_lifecycle_rules_need_tracking(bucket):
    rule = LifecycleRule("r", "p/", status=LifecycleRule.ENABLED, storage_transitions=[
        StorageTransition(days=30, storage_class="IA", is_access_time=True, return_to_std_when_visit=True,
                          allow_small_file=True)])
    with pytest.raises(oss2.exceptions.InvalidArgument):
        bucket.put_bucket_lifecycle(BucketLifecycle([rule]))
    bucket.put_bucket_access_monitor("Enabled")
    bucket.put_bucket_lifecycle(BucketLifecycle([rule]))
    t = bucket.get_bucket_lifecycle().rules[0].storage_transitions[0]
    assert (t.days, t.is_access_time, t.return_to_std_when_visit, t.allow_small_file) == (30, True, True, True)
    e = server_error(bucket.put_bucket_access_monitor, "Disabled")  # a rule uses it
    assert e.status == 409


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-cfg")),
                         extra_args=["--lifecycle-day-seconds", "2", "--lifecycle-interval", "0.3",
                                     "--restore-delay", "3"]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture
def fast(fast_server):
    auth = oss2.Auth(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    name = "cfg-" + uuid.uuid4().hex[:20]
    b = oss2.Bucket(auth, fast_server.endpoint, name)
    b.create_bucket()
    yield b
    remove_bucket(auth, fast_server.endpoint, name)


def storage_class(bucket, key):
    return bucket.head_object(key).headers["x-oss-storage-class"]


def gmt(text: str) -> float:
    return oss2.utils.to_unixtime(text, "%a, %d %b %Y %H:%M:%S GMT")


def test_a_read_updates_the_last_access_time(fast):
    fast.put_object("k", b"data")
    fast.put_bucket_access_monitor("Enabled")
    first = gmt(fast.get_object_meta("k").headers["x-oss-last-access-time"])
    time.sleep(1.1)  # the header has whole seconds
    fast.head_object("k")  # HeadObject and GetObjectMeta are no accesses
    assert gmt(fast.get_object_meta("k").headers["x-oss-last-access-time"]) == first
    assert fast.get_object("k").read() == b"data"
    assert gmt(fast.get_object_meta("k").headers["x-oss-last-access-time"]) > first
    copied = fast.copy_object(fast.bucket_name, "k", "copy")
    assert copied.status == 200 and "x-ossbox-last-access" not in fast.head_object("copy").headers


def test_access_time_transition_and_return_to_standard(fast):
    fast.put_bucket_access_monitor("Enabled")
    big = b"x" * (64 * 1024)
    fast.put_object("p/read", big)
    fast.put_object("p/idle", big)
    fast.put_object("p/small", b"tiny")   # under 64 KB, AllowSmallFile false: stays
    rule = LifecycleRule("r", "p/", status=LifecycleRule.ENABLED, storage_transitions=[
        StorageTransition(days=3, storage_class="IA", is_access_time=True, return_to_std_when_visit=True)])
    fast.put_bucket_lifecycle(BucketLifecycle([rule]))
    # keep reading one object: its last access stays recent, the idle one's ages
    deadline = time.monotonic() + 60
    while storage_class(fast, "p/idle") != "IA":
        assert time.monotonic() < deadline, "the idle object was never transitioned"
        fast.get_object("p/read").read()
        time.sleep(0.3)
    assert storage_class(fast, "p/read") == "Standard"
    assert storage_class(fast, "p/small") == "Standard"
    fast.get_object("p/idle").read()   # ReturnToStdWhenVisit
    assert storage_class(fast, "p/idle") == "Standard"


# -- archive direct read -----------------------------------------------------------------------------------
def test_archive_direct_read(bucket, v2, bucket_name):
    bucket.put_object("arch", b"cold", headers={"x-oss-storage-class": "Archive"})
    bucket.put_object("cold", b"colder", headers={"x-oss-storage-class": "ColdArchive"})
    e = server_error(bucket.get_object, "arch")
    assert (e.status, e.code) == (403, "InvalidObjectState")
    assert bucket.get_bucket_archive_direct_read().enabled is False
    bucket.put_bucket_archive_direct_read(True)
    assert bucket.get_bucket_archive_direct_read().enabled is True
    assert bucket.get_object("arch").read() == b"cold"
    assert server_error(bucket.get_object, "cold").code == "InvalidObjectState"  # only Archive
    assert server_error(raw, bucket, "PUT", {"bucketArchiveDirectRead": ""},
                        b"<ArchiveDirectReadConfiguration><Enabled>aa</Enabled>"
                        b"</ArchiveDirectReadConfiguration>").code == "MalformedXML"
    v2.put_bucket_archive_direct_read(oss.PutBucketArchiveDirectReadRequest(
        bucket=bucket_name, archive_direct_read_configuration=oss.ArchiveDirectReadConfiguration(enabled=False)))
    assert server_error(bucket.get_object, "arch").code == "InvalidObjectState"


# -- callback policy -----------------------------------------------------------------------------------------
def b64(doc) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def test_callback_policy_is_used_by_uploads(bucket, callback_server):
    url, received = callback_server.url, callback_server.received
    with pytest.raises(oss2.exceptions.OssError) as info:
        bucket.get_bucket_callback_policy()
    assert info.value.code == "BucketCallbackPolicyNotExist"
    policy = CallbackPolicyInfo("p1", b64({"callbackUrl": url, "callbackBody": "key=${object}&v=${x:var1}"}),
                                b64({"x:var1": "from-policy"}))
    bucket.put_bucket_callback_policy([policy, CallbackPolicyInfo("p2", b64({"callbackUrl": url,
                                                                             "callbackBody": "x"}))])
    got = bucket.get_bucket_callback_policy().callback_policies
    assert [(p.policy_name, p.callback) for p in got] == [("p1", policy.callback), ("p2", got[1].callback)]
    with pytest.raises(oss2.exceptions.NoSuchBucketPolicy):
        bucket.get_bucket_policy()
    result = bucket.put_object("cb", b"data", headers={"x-oss-callback": b64({"callbackPolicy": "p1"})})
    assert result.status == 200
    assert received[-1][2] == b"key=cb&v=from-policy"
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_object("cb2", b"data", headers={"x-oss-callback": b64({"callbackPolicy": "nope"})})
    assert info.value.status == 400
    assert bucket.delete_bucket_callback_policy().status == 204
    with pytest.raises(oss2.exceptions.OssError):
        bucket.get_bucket_callback_policy()


# -- data redundancy transitions -------------------------------------------------------------------------------
def test_redundancy_transition(fast, fast_server, v2):
    e = server_error(raw, fast, "POST", {"redundancyTransition": "", "x-oss-target-redundancy-type": "LRS"})
    assert e.code == "InvalidArgument"
    task = fast.create_bucket_data_redundancy_transition("ZRS").task_id
    got = fast.get_bucket_data_redundancy_transition(task)
    assert (got.task_id, got.transition_status) == (task, "Queueing")
    e = server_error(fast.create_bucket_data_redundancy_transition, "ZRS")
    assert e.status == 409  # one task at a time
    listed = fast.list_bucket_data_redundancy_transition().data_redundancy_transitions
    assert [(t.bucket, t.task_id) for t in listed] == [(fast.bucket_name, task)]
    user = oss2.Service(fast.auth, fast_server.endpoint).list_user_data_redundancy_transition()
    assert task in [t.task_id for t in user.data_redundancy_transitions]
    assert fast.delete_bucket_data_redundancy_transition(task).status == 204
    assert server_error(fast.get_bucket_data_redundancy_transition, task).status == 404

    task = fast.create_bucket_data_redundancy_transition("ZRS").task_id
    assert fast.get_bucket_info().data_redundancy_type == "LRS"
    wait_until(lambda: fast.get_bucket_data_redundancy_transition(task).transition_status == "Finished",
               60, 0.3, what="the transition to finish")
    got = fast.get_bucket_data_redundancy_transition(task)
    assert (got.process_percentage, got.estimated_remaining_time) == (100, 0)
    assert fast.get_bucket_info().data_redundancy_type == "ZRS"
    assert server_error(fast.delete_bucket_data_redundancy_transition, task).status == 409
    assert server_error(fast.create_bucket_data_redundancy_transition, "ZRS").code == "InvalidArgument"


def test_callback_policy_route_is_not_the_bucket_policy(bucket):
    # PUT ?policy&comp=callback with an XML body used to be parsed as a JSON bucket policy
    bucket.put_bucket_callback_policy(None)
    with pytest.raises(oss2.exceptions.NoSuchBucketPolicy):
        bucket.get_bucket_policy()


def test_v2_client_shapes(v2, bucket_name):
    res = v2.create_bucket_data_redundancy_transition(oss.CreateBucketDataRedundancyTransitionRequest(
        bucket=bucket_name, target_redundancy_type="ZRS"))
    tid = res.bucket_data_redundancy_transition.task_id
    got = v2.get_bucket_data_redundancy_transition(oss.GetBucketDataRedundancyTransitionRequest(
        bucket=bucket_name, redundancy_transition_taskid=tid))
    assert got.bucket_data_redundancy_transition.status == "Queueing"
    v2.put_bucket_resource_group(oss.PutBucketResourceGroupRequest(
        bucket=bucket_name, bucket_resource_group_configuration=oss.BucketResourceGroupConfiguration(
            resource_group_id="rg-v2group")))
    got = v2.get_bucket_resource_group(oss.GetBucketResourceGroupRequest(bucket=bucket_name))
    assert got.bucket_resource_group_configuration.resource_group_id == "rg-v2group"
    err = v2_error(v2.get_cname_token, oss.GetCnameTokenRequest(bucket=bucket_name, cname="a.example.com"))
    assert err.status_code == 404


def _v2_call(v2, method, bucket_name, params, key=None, body=b"<x/>"):
    """A bucket or object request through the v2 SDK, which signs every query parameter (oss2's V1
    signer leaves out the sub-resources it does not know, e.g. policyStatus and retention)."""
    return v2.invoke_operation(oss.OperationInput(op_name="Raw", method=method, bucket=bucket_name, key=key,
                                                  parameters=params, body=body if method in ("PUT", "POST") else None))


def test_bucket_policy_status(bucket, v2, bucket_name):
    """GetBucketPolicyStatus: false without a policy or with a private one, true once a statement
    grants everyone access (OSS's GetBucketPolicyStatus page)."""
    def is_public():
        return _v2_call(v2, "GET", bucket_name, {"policyStatus": ""}).http_response.content.decode()
    assert "<IsPublic>false</IsPublic>" in is_public()
    resource = [f"acs:oss:*:*:{bucket_name}/*"]
    bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Principal": ["20214760404935xxxx"], "Action": ["oss:GetObject"], "Resource": resource}]}))
    assert "<IsPublic>false</IsPublic>" in is_public()
    bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Principal": ["*"], "Action": ["oss:GetObject"], "Resource": resource}]}))
    assert "<IsPublic>true</IsPublic>" in is_public()


@pytest.mark.parametrize("method,params", [
    ("GET", {"metaQuery": ""}), ("POST", {"metaQuery": "", "comp": "add"}), ("POST", {"asyncFetch": ""}),
    ("PUT", {"replication": "", "comp": "add"}), ("GET", {"accessPoint": ""}), ("PUT", {"overwriteConfig": ""})])
def test_cloud_only_bucket_features_are_501_never_another_operation(v2, bucket_name, method, params):
    err = v2_error(_v2_call, v2, method, bucket_name, params)
    assert (err.status_code, err.code) == (501, "NotImplemented")


@pytest.mark.parametrize("method,params", [("GET", {"retention": ""}), ("PUT", {"legalHold": ""})])
def test_object_retention_and_legal_hold_are_501(bucket, v2, bucket_name, method, params):
    bucket.put_object("k", b"kept")
    err = v2_error(_v2_call, v2, method, bucket_name, params, key="k")
    assert (err.status_code, err.code) == (501, "NotImplemented")
    assert bucket.get_object("k").read() == b"kept"
