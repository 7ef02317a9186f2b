"""Every number a client sends goes through one strict parser (ossbox/numeric.py): ASCII digits
only, bounded length, range-checked. Values that pass `str.isdigit()` but that `int()` refuses,
a non-ASCII digit ('²') or more than 4,300 digits, used to escape as 500 InternalError."""
import base64
import hashlib

import oss2
import pytest

from conftest import admin, v2_error
from test_bad_input import assert_oss_error, send

DATA = b"0123456789abcdef"
HUGE = "9" * 5000            # past Python's 4,300-digit int() limit
SUPERSCRIPT = "\u00b2"       # '²': str.isdigit() is True, int() refuses it
BAD_NUMBERS = [HUGE, SUPERSCRIPT, "1" + SUPERSCRIPT, "0" * 5000 + "x"]


@pytest.fixture
def obj(bucket):
    bucket.put_object("n", DATA)
    return bucket


def _status(fn, *args, **kwargs):
    """HTTP status and OSS error code of an oss2 call that must fail."""
    with pytest.raises(oss2.exceptions.OssError) as info:
        fn(*args, **kwargs)
    return info.value.status, info.value.code, info.value.ec


@pytest.mark.parametrize("bad", [HUGE, SUPERSCRIPT, "0" * 5000 + "1" + SUPERSCRIPT])
def test_range_with_unparseable_numbers_is_ignored_as_oss_does(obj, bad):
    """OSS ignores a Range it cannot serve and sends the whole object (200)."""
    for rng in [f"bytes=0-{bad}", f"bytes={bad}-", f"bytes=-{bad}", f"bytes={bad}-{bad}"]:
        r = obj.get_object("n", headers={"Range": rng})
        assert r.status == 200 and r.read() == DATA, rng


def test_range_with_huge_numbers_under_standard_behavior(obj):
    """RFC 7233 semantics: a huge end is clipped (206 of everything), a huge start is 416;
    leading zeros do not count as size."""
    std = {"x-oss-range-behavior": "standard"}
    r = obj.get_object("n", headers={"Range": f"bytes=0-{HUGE}", **std})
    assert r.status == 206 and r.read() == DATA
    r = obj.get_object("n", headers={"Range": f"bytes={'0' * 5000}2-{'0' * 5000}4", **std})
    assert r.status == 206 and r.read() == DATA[2:5]
    st, code, ec = _status(obj.get_object, "n", headers={"Range": f"bytes={HUGE}-", **std})
    assert (st, code, ec) == (416, "InvalidRange", "0016-00000203")
    r = obj.get_object("n", headers={"Range": f"bytes=1-{SUPERSCRIPT}", **std})  # not a range at all
    assert r.status == 200 and r.read() == DATA


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_traffic_limit_header_and_query(obj, bad):
    for call in [lambda: obj.get_object("n", headers={"x-oss-traffic-limit": bad}),
                 lambda: obj.get_object("n", params={"x-oss-traffic-limit": bad}),
                 lambda: obj.put_object("p", b"x", headers={"x-oss-traffic-limit": bad}),
                 lambda: obj.append_object("a", 0, b"x", headers={"x-oss-traffic-limit": bad})]:
        assert _status(call) == (400, "InvalidArgument", "0016-00000001")
    assert obj.get_object("n").read() == DATA
    assert not obj.object_exists("p") and not obj.object_exists("a")


@pytest.mark.parametrize("bad", BAD_NUMBERS + [str(1 << 64)])
def test_expected_crc64_on_put_and_append(obj, bad):
    for call in [lambda: obj.put_object("p", b"x", headers={"x-oss-hash-crc64ecma": bad}),
                 lambda: obj.append_object("a", 0, b"x", headers={"x-oss-hash-crc64ecma": bad})]:
        assert _status(call) == (400, "InvalidArgument", "0016-00000001")
    assert not obj.object_exists("p") and not obj.object_exists("a")


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_max_keys_in_every_listing(server, obj, bad):
    n = obj.bucket_name
    for query in [f"max-keys={bad}", f"list-type=2&max-keys={bad}", f"versions&max-keys={bad}"]:
        query = query.replace(SUPERSCRIPT, "%C2%B2")
        assert_oss_error(send(server, "GET", f"/{n}/", query, bucket=n), 400, "InvalidArgument")
    r = send(server, "GET", "/", f"max-keys={bad}".replace(SUPERSCRIPT, "%C2%B2"))
    assert_oss_error(r, 400, "InvalidArgument")
    assert r[1]["x-oss-ec"] == "0016-00000402"


@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_multipart_numbers(server, obj, bad):
    n = obj.bucket_name
    upload_id = obj.init_multipart_upload("mp").upload_id
    assert _status(obj.upload_part, "mp", upload_id, bad, b"x") == (400, "InvalidArgument", "0042-00000001")
    for q in [f"uploadId={upload_id}&max-parts={bad}", f"uploadId={upload_id}&part-number-marker={bad}"]:
        r = send(server, "GET", f"/{n}/mp", q.replace(SUPERSCRIPT, "%C2%B2"), bucket=n, key="mp")
        assert_oss_error(r, 400, "InvalidArgument")
    r = send(server, "GET", f"/{n}/", f"uploads&max-uploads={bad}".replace(SUPERSCRIPT, "%C2%B2"), bucket=n)
    assert_oss_error(r, 400, "InvalidArgument")
    # PartNumber inside the CompleteMultipartUpload XML
    etag = obj.upload_part("mp", upload_id, 1, b"x").etag
    body = (f"<CompleteMultipartUpload><Part><PartNumber>{bad}</PartNumber><ETag>\"{etag}\"</ETag></Part>"
            f"</CompleteMultipartUpload>").encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = send(server, "POST", f"/{n}/mp", f"uploadId={upload_id}", {"Content-MD5": md5}, body, bucket=n, key="mp")
    # a number out of range is InvalidPartNumber's InvalidArgument, a non-number is MalformedXML
    assert_oss_error(r, 400, "InvalidArgument" if bad == HUGE else "MalformedXML")
    assert not obj.object_exists("mp")
    obj.abort_multipart_upload("mp", upload_id)


@pytest.mark.parametrize("bad", [HUGE, "0" * 5000 + "1", str(1 << 63)])
def test_append_position(obj, bad):
    """position keeps its documented error (400 MissingArgument, EC 0016-00000502); leading
    zeros are just zeros."""
    if bad.startswith("0" * 5000):
        obj.append_object("a", 0, b"x")
        assert obj.append_object("a", bad, b"y").next_position == 2
        return
    assert _status(obj.append_object, "a", bad, b"x") == (400, "MissingArgument", "0016-00000502")


@pytest.mark.parametrize("bad", [SUPERSCRIPT, HUGE])
def test_restore_days(server, bucket, bad):
    n = bucket.bucket_name
    bucket.put_object("cold", b"x", headers={"x-oss-storage-class": "Archive"})
    body = f"<RestoreRequest><Days>{bad}</Days></RestoreRequest>".encode()
    r = send(server, "POST", f"/{n}/cold", "restore", {}, body, bucket=n, key="cold")
    assert_oss_error(r, 400, "MalformedXML")


def test_sts_duration(server, user):
    import alibabacloud_oss_v2 as oss  # noqa: F401  (admin() drives the official SDK)
    err = v2_error(admin, server, "AssumeRole", {"UserName": user["name"], "DurationSeconds": SUPERSCRIPT})
    assert err.status_code == 400 and err.code == "InvalidArgument"


def test_parser_unit():
    from ossbox.numeric import parse_decimal
    assert parse_decimal("0" * 5000 + "42", 100) == 42
    for bad in ["", "+1", " 1", "1_0", "\u0663", SUPERSCRIPT, HUGE, "101", None]:
        assert parse_decimal(bad, 100) is None, bad
    assert parse_decimal("5", 10, low=6) is None
