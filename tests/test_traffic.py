"""x-oss-traffic-limit is a real bandwidth cap: uploads (PutObject, AppendObject, UploadPart) and
downloads (GetObject, also through a presigned URL's query parameter) run at the given rate."""
import os
import time

import oss2
import pytest
import requests

from conftest import v2_error

LIMIT = 819200                 # bit/s = 100 KB/s
RATE = LIMIT / 8               # bytes/s
LIMITED = {"x-oss-traffic-limit": str(LIMIT)}


def timed(fn, *args, **kwargs):
    t0 = time.monotonic()
    out = fn(*args, **kwargs)
    return out, time.monotonic() - t0


def assert_rate(size, elapsed):
    assert abs(size / elapsed - RATE) <= 0.2 * RATE, f"{size} bytes in {elapsed:.2f}s"


def test_put_and_get_are_capped(bucket):
    data = os.urandom(320 * 1024)
    _, fast_put = timed(bucket.put_object, "free", data)
    _, elapsed = timed(bucket.put_object, "k", data, headers=LIMITED)
    assert_rate(len(data), elapsed)
    assert fast_put < elapsed / 2

    body, elapsed = timed(lambda: bucket.get_object("k", headers=LIMITED).read())
    assert body == data
    assert_rate(len(data), elapsed)
    body, fast_get = timed(lambda: bucket.get_object("k").read())
    assert body == data and fast_get < elapsed / 2


def test_append_and_ranged_get_are_capped(bucket):
    data = os.urandom(250 * 1024)
    res, elapsed = timed(bucket.append_object, "a", 0, data, headers=LIMITED)
    assert res.next_position == len(data)
    assert_rate(len(data), elapsed)
    body, elapsed = timed(lambda: bucket.get_object("a", byte_range=(1000, 1000 + 200 * 1024 - 1),
                                                    headers=LIMITED).read())
    assert body == data[1000:1000 + 200 * 1024]
    assert_rate(len(body), elapsed)


def test_upload_part_is_capped(bucket):
    data = os.urandom(250 * 1024)
    upload_id = bucket.init_multipart_upload("m").upload_id
    part, elapsed = timed(bucket.upload_part, "m", upload_id, 1, data, headers=LIMITED)
    assert_rate(len(data), elapsed)
    bucket.complete_multipart_upload("m", upload_id, [oss2.models.PartInfo(1, part.etag)])
    assert bucket.get_object("m").read() == data


def test_presigned_url_query_parameter(bucket):
    data = os.urandom(250 * 1024)
    bucket.put_object("p", data)
    url = bucket.sign_url("GET", "p", 60, params={"x-oss-traffic-limit": str(LIMIT)})
    resp, elapsed = timed(requests.get, url)
    assert resp.status_code == 200 and resp.content == data
    assert_rate(len(data), elapsed)


@pytest.mark.parametrize("value", ["245759", "838860801", "abc", "-1", ""])
def test_out_of_range_is_invalid_argument(bucket, v2, bucket_name, value):
    import alibabacloud_oss_v2 as oss
    bad = {"x-oss-traffic-limit": value}
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.put_object("bad", b"x", headers=bad)
    assert e.value.status == 400 and e.value.code == "InvalidArgument"
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.append_object("bad", 0, b"x", headers=bad)
    assert e.value.status == 400 and e.value.code == "InvalidArgument"
    bucket.put_object("ok", b"x")
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.get_object("ok", headers=bad)
    assert e.value.status == 400 and e.value.code == "InvalidArgument"
    if value.isdigit():
        err = v2_error(v2.get_object, oss.GetObjectRequest(bucket=bucket_name, key="ok",
                                                           traffic_limit=int(value)))
        assert err.status_code == 400 and err.code == "InvalidArgument"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.head_object("bad")


def test_bounds_are_accepted(bucket):
    for value in (245760, 838860800):
        bucket.put_object("b", b"12345", headers={"x-oss-traffic-limit": str(value)})
        assert bucket.get_object("b", headers={"x-oss-traffic-limit": str(value)}).read() == b"12345"
