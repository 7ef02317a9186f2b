"""Pay-by-requester buckets: the bucket setting through both SDKs, and the x-oss-request-payer
header every caller but the owner must then send (403 EC 0003-00000703 otherwise)."""

import oss2
import pytest
import requests
from oss2.models import PAYER_BUCKETOWNER, PAYER_REQUESTER

from conftest import v2_error
from conftest import as_user, put_policy

REQUESTER = {"x-oss-request-payer": "requester"}


def assert_requester_pay_denied(exc_info):
    assert exc_info.value.status == 403
    assert exc_info.value.code == "AccessDenied"
    assert exc_info.value.ec == "0003-00000703"
    assert "requester pay bucket" in exc_info.value.message


def test_oss2_round_trip(bucket):
    assert bucket.get_bucket_request_payment().payer == PAYER_BUCKETOWNER
    assert bucket.put_bucket_request_payment(PAYER_REQUESTER).status == 200
    assert bucket.get_bucket_request_payment().payer == PAYER_REQUESTER
    bucket.put_bucket_request_payment(PAYER_BUCKETOWNER)
    assert bucket.get_bucket_request_payment().payer == PAYER_BUCKETOWNER


def test_v2_round_trip(v2, bucket_name):
    import alibabacloud_oss_v2 as oss
    get = oss.GetBucketRequestPaymentRequest(bucket=bucket_name)
    assert v2.get_bucket_request_payment(get).request_payment_configuration.payer == "BucketOwner"
    res = v2.put_bucket_request_payment(oss.PutBucketRequestPaymentRequest(
        bucket=bucket_name,
        request_payment_configuration=oss.RequestPaymentConfiguration(payer="Requester")))
    assert res.status_code == 200
    assert v2.get_bucket_request_payment(get).request_payment_configuration.payer == "Requester"


def test_bad_payer_is_refused(v2, bucket, bucket_name):
    import alibabacloud_oss_v2 as oss
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.put_bucket_request_payment("Nobody")
    assert e.value.status == 400 and e.value.code == "MalformedXML"
    err = v2_error(v2.put_bucket_request_payment, oss.PutBucketRequestPaymentRequest(
        bucket=bucket_name, request_payment_configuration=oss.RequestPaymentConfiguration(payer="")))
    assert err.status_code == 400 and err.code == "MalformedXML"
    assert bucket.get_bucket_request_payment().payer == PAYER_BUCKETOWNER


def test_ram_user_must_accept_the_charges(server, bucket, user):
    n = bucket.bucket_name
    put_policy(server, user, [{"Effect": "Allow", "Action": "oss:*",
                               "Resource": [f"acs:oss:*:*:{n}", f"acs:oss:*:*:{n}/*"]}])
    b = as_user(server, user, n)
    assert b.append_object("k", 0, b"one").next_position == 3  # owner pays: no header needed
    bucket.put_bucket_request_payment(PAYER_REQUESTER)
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        b.append_object("k", 3, b"two")
    assert_requester_pay_denied(e)
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        b.get_object("k")
    assert_requester_pay_denied(e)
    assert bucket.head_object("k").content_length == 3
    assert b.append_object("k", 3, b"two", headers=REQUESTER).next_position == 6
    assert b.get_object("k", headers=REQUESTER).read() == b"onetwo"
    # a presigned URL carries it as a query parameter
    url = b.sign_url("GET", "k", 60, params={"x-oss-request-payer": "requester"})
    assert requests.get(url).content == b"onetwo"
    assert requests.get(b.sign_url("GET", "k", 60)).status_code == 403


def test_requester_pays_checked_before_policy(server, bucket, user):
    # a user with no permission at all still learns that the bucket wants the header first
    bucket.put_bucket_request_payment(PAYER_REQUESTER)
    b = as_user(server, user, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        b.append_object("k", 0, b"x")
    assert_requester_pay_denied(e)
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        b.append_object("k", 0, b"x", headers=REQUESTER)
    assert e.value.ec != "0003-00000703"


def test_anonymous_on_public_read_write_bucket(server, bucket):
    bucket.put_bucket_acl("public-read-write")
    bucket.put_bucket_request_payment(PAYER_REQUESTER)
    anon = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        anon.append_object("a", 0, b"x")
    assert_requester_pay_denied(e)
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object("a")
    assert anon.append_object("a", 0, b"x", headers=REQUESTER).next_position == 1
    assert anon.get_object("a", headers=REQUESTER).read() == b"x"
    with pytest.raises(oss2.exceptions.AccessDenied) as e:
        anon.get_object("a")
    assert_requester_pay_denied(e)


def test_root_never_needs_the_header(bucket, v2, bucket_name):
    import alibabacloud_oss_v2 as oss
    bucket.put_bucket_request_payment(PAYER_REQUESTER)
    assert bucket.append_object("r", 0, b"ab").next_position == 2
    assert bucket.get_object("r").read() == b"ab"
    res = v2.append_object(oss.AppendObjectRequest(bucket=bucket_name, key="r", position=2, body=b"cd"))
    assert res.next_position == 4
    assert bucket.get_bucket_request_payment().payer == PAYER_REQUESTER
