"""SelectObject / CreateSelectObjectMeta (x-oss-process=csv|json/select|meta) through oss2 and the
v2 SDK, against a real server: CSV and JSON (lines, document), gzip, ranges, errors, payload CRC."""
import base64
import gzip
import json
import struct
import zlib

import oss2
import pytest
import requests
from oss2.exceptions import SelectOperationFailed, ServerError

from conftest import as_user, put_policy

CSV_DATA = (b"name,age,city\n"
            b"alice,30,Hangzhou\n"
            b"bob,25,\"Beijing, CN\"\n"
            b"carol,41,Shanghai\n"
            b"dave,,Hangzhou\n")


def _read(result) -> bytes:
    return b"".join(chunk for chunk in result)


def test_csv_where_projection_and_header_names(bucket):
    bucket.put_object("people.csv", CSV_DATA)
    r = bucket.select_object("people.csv", "select name, city from ossobject where cast(age as int) > 28",
                             select_params={"CsvHeaderInfo": "Use"})
    assert r.status == 206
    assert _read(r) == b'alice,Hangzhou\ncarol,Shanghai\n'
    # positional columns, quoting kept where a field holds the delimiter, LIMIT
    r = bucket.select_object("people.csv", "select _1, _3 from ossobject limit 3",
                             select_params={"CsvHeaderInfo": "Ignore"})
    assert _read(r) == b'alice,Hangzhou\nbob,"Beijing, CN"\ncarol,Shanghai\n'


@pytest.mark.parametrize("sql,expected", [
    ("select name from ossobject where city like 'Hang%'", b"alice\ndave\n"),
    ("select name from ossobject where age is null or age = ''", b"dave\n"),
    ("select name from ossobject where name in ('bob', 'dave') and not city = 'Hangzhou'", b"bob\n"),
    ("select name from ossobject where cast(age as int) between 26 and 41", b"alice\ncarol\n"),
    ("select upper(name), lower(city), substring(name, 2, 3), char_length(name) from ossobject where name = 'bob'",
     b'BOB,"beijing, cn",ob,3\n'),
    ("select name from ossobject where (name || '-' || city) = 'carol-Shanghai'", b"carol\n"),
    ("select cast(age as int) * 2 + 1 from ossobject where name = 'alice'", b"61\n"),
    ("select count(*), sum(cast(age as int)), avg(cast(age as int)), min(name), max(cast(age as int)) from ossobject",
     b"4,96,32,alice,41\n"),
    ("select s.name as who from ossobject s where s.age < 26", b"bob\n"),
])
def test_csv_sql_subset(bucket, sql, expected):
    bucket.put_object("people.csv", CSV_DATA)
    r = bucket.select_object("people.csv", sql, select_params={"CsvHeaderInfo": "Use"})
    assert _read(r) == expected


@pytest.mark.parametrize("sql", [
    "", "select * from ossobject where avg(cast(age as int)) > 1", "select name || city from ossobject",
    "select * from ossobject group by city", "select * from ossobject order by _1",
    "select * from ossobject a join ossobject b on a.name = b.name", "select nosuch from ossobject",
    "select name, count(*) from ossobject", "selec * from ossobject", "select * from other",
])
def test_invalid_sql_is_400_before_any_output(bucket, sql):
    bucket.put_object("people.csv", CSV_DATA)
    with pytest.raises(ServerError) as info:
        bucket.select_object("people.csv", sql, select_params={"CsvHeaderInfo": "Use"})
    assert info.value.status == 400
    assert info.value.code == "InvalidArgument"
    assert info.value.ec in ("0016-00000803", "0016-00000823")


def test_output_options_and_meta(bucket):
    bucket.put_object("people.csv", CSV_DATA)
    r = bucket.select_object("people.csv", "select name, age from ossobject where name = 'bob'",
                             select_params={"CsvHeaderInfo": "Use", "OutputHeader": "true",
                                            "OutputFieldDelimiter": "|", "OutputRecordDelimiter": "\r\n"})
    assert _read(r) == b"name|age\r\nbob|25\r\n"
    r = bucket.select_object("people.csv", "select _2 from ossobject where _1 = 'bob'",
                             select_params={"KeepAllColumns": "true"})
    assert _read(r) == b",25,\n"
    r = bucket.select_object("people.csv", "select _1 from ossobject limit 2", select_params={"OutputRawData": "true"})
    assert r.headers["x-oss-select-output-raw"] == "true"
    assert _read(r) == b"name\nalice\n"
    meta = bucket.create_select_object_meta("people.csv")
    assert (meta.rows, meta.splits, meta.select_resp.columns) == (5, 1, 3)


def _frames(bucket, key, body):
    """POST a SelectRequest body by hand; the response's frames as (version, type, payload), each
    payload's CRC-32 checked."""
    url = bucket.sign_url("POST", key, 60, params={"x-oss-process": "csv/select"})
    resp = requests.post(url, data=body)
    assert resp.status_code == 206
    data, frames = resp.content, []
    while data:
        ftype, length, _hcrc = struct.unpack(">III", data[:12])
        payload, crc = data[12:12 + length], struct.unpack(">I", data[12 + length:16 + length])[0]
        assert crc == zlib.crc32(payload)
        frames.append((ftype >> 24, ftype & 0xFFFFFF, payload))
        data = data[16 + length:]
    return frames


def _select_xml(sql: bytes, csv_input: str = "") -> str:
    return ("<SelectRequest><Expression>%s</Expression><InputSerialization><CSV>%s</CSV>"
            "</InputSerialization></SelectRequest>" % (base64.b64encode(sql).decode(), csv_input))


def test_long_scan_without_output_sends_continuous_frames(bucket):
    data = (b"x" * 125 + b",1\n") * (96 * 1024)      # 12 MiB, no row matches
    bucket.put_object("quiet.csv", data)
    frames = _frames(bucket, "quiet.csv", _select_xml(b"select _1 from ossobject where _2 = '2'"))
    kinds = [t for _, t, _ in frames]
    assert kinds[-1] == 0x800005 and 0x800004 in kinds and 0x800001 not in kinds
    offsets = [struct.unpack(">Q", p[:8])[0] for _, _, p in frames]
    assert offsets == sorted(offsets) and offsets[-1] == len(data)


def test_quoted_record_delimiters_and_crlf(bucket):
    bucket.put_object("q.csv", b'id,text\r\n1,"two\r\nlines"\r\n2,"say ""hi"""\r\n')
    p = {"CsvHeaderInfo": "Use", "RecordDelimiter": "\r\n"}
    r = bucket.select_object("q.csv", "select text from ossobject where id = 1", select_params=p)
    assert _read(r) == b'"two\r\nlines"\n'
    r = bucket.select_object("q.csv", "select id, text from ossobject where text like '%hi%'", select_params=p)
    assert _read(r) == b'2,"say ""hi"""\n'
    r = bucket.select_object("q.csv", "select count(*) from ossobject", select_params=p)
    assert _read(r) == b"2\n"


def test_frames_version_crc_and_end_frame(server, bucket):
    """The framed body byte for byte: version 1, the frame types, CRC-32 of each payload, the end
    frame's scanned size and status."""
    bucket.put_object("people.csv", CSV_DATA)
    body = ("<SelectRequest><Expression>%s</Expression><InputSerialization><CSV><FileHeaderInfo>Use"
            "</FileHeaderInfo></CSV></InputSerialization><OutputSerialization><EnablePayloadCrc>true"
            "</EnablePayloadCrc></OutputSerialization></SelectRequest>"
            % base64.b64encode(b"select name from ossobject where name = 'bob'").decode())
    frames = _frames(bucket, "people.csv", body)
    assert [(v, t) for v, t, _ in frames] == [(1, 0x800001), (1, 0x800005)]
    assert frames[0][2][8:] == b"bob\n"
    offset, scanned, status = struct.unpack(">QQI", frames[1][2][:20])
    assert (offset, scanned, status) == (len(CSV_DATA), len(CSV_DATA), 206)
    # oss2 checks the CRC with EnablePayloadCrc
    r = bucket.select_object("people.csv", "select name from ossobject where name = 'bob'",
                             select_params={"CsvHeaderInfo": "Use", "EnablePayloadCrc": True})
    assert r.read() == b"bob\n"


def test_data_error_after_output_goes_in_end_frame(bucket):
    bucket.put_object("bad.csv", b'a,b\nc,"d"x\ne,f\n')
    r = bucket.select_object("bad.csv", "select _1 from ossobject")
    got = b""
    with pytest.raises(SelectOperationFailed):
        for chunk in r:
            got += chunk
    assert got == b"a\n"
    # the same error before any output is an HTTP 400
    bucket.put_object("bad2.csv", b'"d"x,1\n')
    with pytest.raises(ServerError) as info:
        bucket.select_object("bad2.csv", "select _1 from ossobject")
    assert info.value.status == 400 and info.value.ec == "0016-00000801"


def test_skip_partial_records(bucket):
    bucket.put_object("p.csv", b"a,b\nc\nd,e\n")
    r = bucket.select_object("p.csv", "select _1, _2 from ossobject",
                             select_params={"SkipPartialDataRecord": "true", "MaxSkippedRecordsAllowed": 5})
    assert _read(r) == b"a,b\nd,e\n"
    r = bucket.select_object("p.csv", "select _1, _2 from ossobject")
    assert _read(r) == b"a,b\nc,\nd,e\n"


def test_gzip_and_line_and_split_ranges(bucket):
    rows = b"".join(b"%d,row%d\n" % (i, i) for i in range(60000))
    bucket.put_object("big.csv.gz", gzip.compress(rows))
    r = bucket.select_object("big.csv.gz", "select count(*) from ossobject where cast(_1 as int) % 2 = 0",
                             select_params={"CompressionType": "GZIP"})
    assert _read(r) == b"30000\n"
    bucket.put_object("big.csv", rows)
    r = bucket.select_object("big.csv", "select _2 from ossobject", select_params={"LineRange": (10, 12)})
    assert _read(r) == b"row10\nrow11\nrow12\n"
    meta = bucket.create_select_object_meta("big.csv")
    assert meta.rows == 60000 and meta.splits == len(rows) // (256 * 1024) + 1
    parts = [_read(bucket.select_object("big.csv", "select * from ossobject",
                                        select_params={"SplitRange": (i, i)})) for i in range(meta.splits)]
    assert all(parts) and b"".join(parts) == rows
    # an HTTP byte range selects the records that start inside it
    r = bucket.select_object("big.csv", "select * from ossobject",
                             select_params={"AllowQuotedRecordDelimiter": False}, byte_range=(3, 10))
    assert _read(r) == b"1,row1\n"
    # gzip data that is not gzip
    with pytest.raises(ServerError) as info:
        bucket.select_object("big.csv", "select * from ossobject", select_params={"CompressionType": "GZIP"})
    assert info.value.status == 400


JSON_LINES = (b'{"id":1,"name":"a/b","tags":["x"],"n":{"v":10}}\n'
              b'{"id":2,"name":"c","n":{"v":20}}\n'
              b'{"id":3,"name":"d","n":{"v":null}}\n')


def test_json_lines(bucket):
    bucket.put_object("l.json", JSON_LINES)
    p = {"Json_Type": "LINES"}
    r = bucket.select_object("l.json", "select s.id, s.n.v as value, s.tags[0] from ossobject s where s.n.v >= 10",
                             select_params=p)
    assert _read(r) == b'{"id":1,"value":10,"tags":"x"}\n{"id":2,"value":20}\n'
    r = bucket.select_object("l.json", "select * from ossobject where n.v is null", select_params=p)
    assert _read(r) == b'{"id":3,"name":"d","n":{"v":null}}\n'
    r = bucket.select_object("l.json", "select name from ossobject where id = 1", select_params=p)
    assert _read(r) == b'{"name":"a\\/b"}\n'   # '/' escaped, as OSS writes it
    r = bucket.select_object("l.json", "select sum(n.v), count(*) from ossobject", select_params=p)
    assert json.loads(_read(r)) == {"_1": 30, "_2": 3}
    meta = bucket.create_select_object_meta("l.json", {"Json_Type": "LINES"})
    assert (meta.rows, meta.splits) == (3, 1)
    r = bucket.select_object("l.json", "select id from ossobject",
                             select_params={"Json_Type": "LINES", "LineRange": (1, 2)})
    assert _read(r) == b'{"id":2}\n{"id":3}\n'
    # records may span lines and be separated by commas; LIMIT; gzip
    bucket.put_object("l2.json.gz", gzip.compress(b'{"a": 1,\n "b": [1, 2]},\n{"a": 2}\n{"a": 3}'))
    r = bucket.select_object("l2.json.gz", "select a from ossobject where a > 1 limit 1",
                             select_params={"Json_Type": "LINES", "CompressionType": "GZIP"})
    assert _read(r) == b'{"a":2}\n'


def test_json_document_gzip_and_numbers_as_strings(bucket):
    doc = {"meta": {"n": 2}, "items": [{"k": "a", "price": 1.25}, {"k": "b", "price": 2.5}]}
    bucket.put_object("d.json.gz", gzip.compress(json.dumps(doc, indent=2).encode()))
    r = bucket.select_object("d.json.gz", "select k from ossobject.items[*] where price > 2",
                             select_params={"Json_Type": "DOCUMENT", "CompressionType": "GZIP"})
    assert _read(r) == b'{"k":"b"}\n'
    bucket.put_object("num.json", b'{"a": 0.1000000000000000055511151231257827}')
    r = bucket.select_object("num.json", "select a from ossobject where cast(a as decimal) > 0.1",
                             select_params={"Json_Type": "DOCUMENT", "ParseJsonNumberAsString": "true"})
    assert _read(r) == b'{"a":0.1000000000000000055511151231257827}\n'
    bucket.put_object("notjson", b"name,age\n")
    with pytest.raises(ServerError) as info:
        bucket.select_object("notjson", "select * from ossobject", select_params={"Json_Type": "DOCUMENT"})
    assert info.value.status == 400


def test_v4_authorized_as_get_object(server, bucket_v4, bucket_name, oss2_auth):
    bucket_v4.put_object("people.csv", CSV_DATA)
    assert _read(bucket_v4.select_object("people.csv", "select count(*) from ossobject")) == b"5\n"
    anon = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anon.select_object("people.csv", "select * from ossobject")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket_v4.select_object("missing.csv", "select * from ossobject")


def test_v2_sdk_select(v2, bucket_name, bucket):
    import alibabacloud_oss_v2 as oss
    bucket.put_object("people.csv", CSV_DATA)
    m = oss.models
    sql = base64.b64encode(b"select name from ossobject where city = 'Shanghai'").decode()
    req = m.SelectObjectRequest(
        bucket=bucket_name, key="people.csv", process="csv/select",
        select_request=m.SelectRequest(
            expression=sql,
            input_serialization=m.InputSerialization(csv=m.CSVInput(file_header_info="Use")),
            output_serialization=m.OutputSerialization(enable_payload_crc=True)))
    result = v2.select_object(req)
    assert b"".join(result.body.iter_bytes()) == b"carol\n"
    meta = v2.create_select_object_meta(m.CreateSelectObjectMetaRequest(
        bucket=bucket_name, key="people.csv", process="csv/meta",
        select_meta_request=m.CSVMetaRequest(input_serialization=m.InputSerialization(csv=m.CSVInput()))))
    assert (meta.rows_count, meta.cols_count, meta.splits_count) == (5, 3, 1)


def test_hostile_input_is_a_400_not_a_crash(bucket):
    """Deep nesting, NaN cells, LIKE patterns that would make a backtracking regex crawl."""
    bucket.put_object("n.csv", b"NaN,x\n1,%s\n" % (b"a" * 50000))
    for sql in ["select * from ossobject where " + "(" * 100 + "true" + ")" * 100,
                "select * from ossobject where " + "- " * 5000 + "1 = 1"]:
        with pytest.raises(ServerError) as info:
            bucket.select_object("n.csv", sql)
        assert info.value.status == 400 and info.value.ec == "0016-00000803"
    r = bucket.select_object("n.csv", "select _1 from ossobject where _1 > 0 or cast(_1 as decimal) < 5")
    assert _read(r) == b"1\n"
    r = bucket.select_object("n.csv", "select _1 from ossobject where _2 like '%a%a%a%a%a%a%a%a%a%a%b'")
    assert _read(r) == b""
    r = bucket.select_object("n.csv", "select _1 from ossobject where _2 like 'a%a_a'")
    assert _read(r) == b"1\n"
    deep = b'{"a":' * 100000 + b"1" + b"}" * 100000
    bucket.put_object("deep.json", deep)
    with pytest.raises(ServerError) as info:
        bucket.select_object("deep.json", "select * from ossobject", select_params={"Json_Type": "DOCUMENT"})
    assert info.value.status == 400 and info.value.ec == "0016-00000801"


def test_raw_output_cut_off_by_a_late_error(bucket):
    """OutputRawData has no end frame: a data error after output began ends the response early
    (the client sees a broken transfer, never a clean end), the output before it intact."""
    good = b"a,1\n" * 200000                        # 800 KB of output before the bad record
    bucket.put_object("late.csv", good + b'"x"y,2\n')
    r = bucket.select_object("late.csv", "select * from ossobject", select_params={"OutputRawData": "true"})
    got = b""
    with pytest.raises(requests.exceptions.RequestException):
        for chunk in r:
            got += chunk
    assert good.startswith(got) and len(got) >= 256 * 1024


def test_ram_user_needs_get_object(server, user, bucket, bucket_name):
    """A RAM user may select exactly when it may GetObject the object."""
    bucket.put_object("people.csv", CSV_DATA)
    bucket.put_object("other.csv", CSV_DATA)
    put_policy(server, user, [{"Effect": "Allow", "Action": ["oss:GetObject"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}/people.csv"]},
                              {"Effect": "Allow", "Action": ["oss:PutObject", "oss:ListObjects"],
                               "Resource": [f"acs:oss:*:*:{bucket_name}/*"]}])
    ub = as_user(server, user, bucket_name)
    assert _read(ub.select_object("people.csv", "select count(*) from ossobject")) == b"5\n"
    assert ub.create_select_object_meta("people.csv").rows == 5
    for call in (lambda: ub.select_object("other.csv", "select * from ossobject"),
                 lambda: ub.create_select_object_meta("other.csv")):
        with pytest.raises(oss2.exceptions.AccessDenied):
            call()


def test_other_processes_stay_not_implemented(bucket):
    bucket.put_object("people.csv", CSV_DATA)
    with pytest.raises(ServerError) as info:
        bucket.process_object("people.csv", "image/resize,w_10")
    assert info.value.status == 501
    url = bucket.sign_url("POST", "people.csv", 60, params={"x-oss-process": "xml/select"})
    assert requests.post(url, data=_select_xml(b"select * from ossobject")).status_code == 501


def test_json_document_streams_the_records_of_its_array(bucket):
    """FROM ossobject.objects[*] reads the array's elements one by one: results are sent before
    the document is complete, so damage at its end arrives in the end frame after them (a reader
    that loaded the whole document first would fail before any output)."""
    items = b",".join(b'{"i":%d,"pad":"%s"}' % (i, b"x" * 100) for i in range(20000))
    bucket.put_object("doc.json", b'{"meta": {"n": 1}, "objects": [' + items + b', {"i": oops}]}')
    r = bucket.select_object("doc.json", "select i from ossobject.objects[*] where i < 5 or i >= 19990",
                             select_params={"Json_Type": "DOCUMENT"})
    assert r.status == 206
    got = b""
    with pytest.raises(SelectOperationFailed):
        for chunk in r:
            got += chunk
    assert got.startswith(b'{"i":0}\n{"i":1}\n') and got.endswith(b'{"i":19999}\n')


def test_expression_base64_may_be_wrapped(bucket):
    bucket.put_object("people.csv", CSV_DATA)
    b64 = base64.b64encode(b"select _1 from ossobject where _2 = '41'").decode()
    body = _select_xml(b"").replace("<Expression></Expression>",
                                    "<Expression>%s\n%s</Expression>" % (b64[:20], b64[20:]))
    frames = _frames(bucket, "people.csv", body)
    assert frames[0][2][8:] == b"carol\n"
