"""`ossbox api ...` end to end: the real CLI as a subprocess against a real `ossbox server`.

Every result is checked on the server afterwards through oss2 (HEAD, GetObjectTagging,
GetObjectAcl, GetObject), not through the CLI's own output.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import crcmod
import oss2
import pytest
import yaml

from conftest import remove_bucket
import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET, default_sigint

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
ELAPSED = re.compile(r"^\d+\.\d+\(s\) elapsed$")
NO_OBJECT = object()


# -- running the CLI -----------------------------------------------------------------------------
@dataclass
class Run:
    args: tuple
    code: int
    stdout: bytes
    err: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8")

    def __str__(self):
        return f"ossbox {' '.join(self.args)} -> {self.code}\nstdout: {self.stdout[:2000]!r}\nstderr: {self.err}"


@pytest.fixture(scope="module")
def cli_env(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_"))}
    env.update(OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
               OSS_REGION="cn-hangzhou", OSS_ENDPOINT=server.endpoint, HOME=str(home),
               PYTHONIOENCODING="utf-8")
    return env


def run_cli(env, *args, stdin: bytes | None = None, cwd=None, timeout: float = 60) -> Run:
    p = cliproc.run(args, input=stdin if stdin is not None else b"", env=env, cwd=cwd, timeout=timeout)
    return Run(tuple(args), p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))


def run_many(env, *calls) -> list[Run]:
    """Independent invocations in parallel: each is an args tuple, or (args tuple, stdin bytes)."""
    def one(call):
        if isinstance(call, tuple) and len(call) == 2 and isinstance(call[1], bytes):
            return run_cli(env, *call[0], stdin=call[1])
        return run_cli(env, *call)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, calls))


def ok(r: Run) -> Run:
    assert r.code == 0, str(r)
    assert r.err == "", str(r)
    return r


def service_error(r: Run, code: str, status: int, stdout: bool = False) -> Run:
    """A service error: exit 2 and the error block on stderr; stdout empty unless `stdout`
    (json/yaml/xml output, where the error document is the result)."""
    assert r.code == 2, str(r)
    assert r.err.startswith("Error: "), str(r)
    assert f"Error Code: {code}." in r.err and f"Http Status Code: {status}." in r.err, str(r)
    assert "Error returned by Service." in r.err and re.search(r"Request Id: [0-9A-F]{24}\.", r.err), str(r)
    assert (r.stdout != b"") == stdout, str(r)
    return r


def usage_error(r: Run) -> Run:
    assert r.code == 1, str(r)
    assert r.err.startswith("Error: "), str(r)
    assert r.stdout == b"", str(r)
    return r


def append(env, bucket: str, key: str, position, *extra, stdin=None) -> Run:
    return run_cli(env, "api", "append-object", "--bucket", bucket, "--key", key, "--position",
                   str(position), *extra, stdin=stdin)


def elapsed_trailer(out: str) -> str:
    """The output before the `N(s) elapsed` trailer (asserting the trailer is there)."""
    lines = out.rstrip("\n").split("\n")
    assert ELAPSED.match(lines[-1]), out
    assert lines[-2] == "", out  # a blank line separates it from the result
    return "\n".join(lines[:-2])


def state(b: oss2.Bucket, key: str):
    """(bytes, HEAD headers) of an object on the server, or NO_OBJECT."""
    try:
        return b.get_object(key).read(), b.head_object(key).headers
    except oss2.exceptions.NoSuchKey:
        return NO_OBJECT


def content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def env(cli_env):
    return cli_env


# -- append-object: the three body forms ----------------------------------------------------------
def test_append_string_file_and_stdin_bodies(env, bucket, bucket_name, tmp_path):
    B, K = bucket_name, "log/app.log"
    first = "hi oss, 你好\n"
    r = ok(append(env, B, K, 0, "--body", first))
    n1 = len(first.encode())
    assert f"x-oss-next-append-position: {n1}" in r.out
    assert bucket.head_object(K).headers["x-oss-object-type"] == "Appendable"

    # file://ABS and file://RELATIVE (relative to the working directory), binary content
    data = bytes(range(256)) * 40 + os.urandom(3000)
    (tmp_path / "appendFile").write_bytes(data)
    ok(append(env, B, K, n1, "--body", f"file://{tmp_path / 'appendFile'}"))
    n2 = n1 + len(data)
    r = run_cli(env, "api", "append-object", "--bucket", B, "--key", K, "--position", str(n2),
                "--body", "file://appendFile", cwd=str(tmp_path))
    ok(r)
    n3 = n2 + len(data)

    # '-' reads the body from stdin, as bytes (not text)
    piped = os.urandom(1 << 20) + b"\xff\xfe\x00 not utf-8"
    r = ok(append(env, B, K, n3, "--body", "-", stdin=piped))
    n4 = n3 + len(piped)
    expected = first.encode() + data + data + piped
    assert f"x-oss-next-append-position: {n4}" in r.out
    assert f"x-oss-hash-crc64ecma: {crc64(expected)}" in r.out
    got, headers = state(bucket, K)
    assert got == expected
    assert headers["x-oss-next-append-position"] == str(n4)
    assert headers["x-oss-hash-crc64ecma"] == str(crc64(expected))


def test_append_without_body_or_empty_body(env, bucket, bucket_name):
    r1, r2 = run_many(env, ("api", "append-object", "--bucket", bucket_name, "--key", "none", "--position", "0"),
                      ("api", "append-object", "--bucket", bucket_name, "--key", "empty", "--position", "0",
                       "--body", ""))
    for r, key in ((r1, "none"), (r2, "empty")):
        ok(r)
        assert "x-oss-next-append-position: 0" in r.out
        got, headers = state(bucket, key)
        assert got == b"" and headers["x-oss-object-type"] == "Appendable"
    ok(append(env, bucket_name, "empty", 0, "--body", "abc"))  # a zero-length object is still at 0
    assert bucket.get_object("empty").read() == b"abc"


def test_body_file_missing_is_usage_error(env, bucket, bucket_name, tmp_path):
    r = usage_error(append(env, bucket_name, "k", 0, "--body", f"file://{tmp_path / 'nope'}"))
    assert "nope" in r.err
    assert state(bucket, "k") is NO_OBJECT


# -- append-object: every flag, checked on the server ---------------------------------------------
def _head(b, key):
    return b.head_object(key).headers


FLAG_CASES = {
    "cache-control": (["--cache-control", "no-cache, max-age=60"],
                      lambda b, k: _head(b, k)["Cache-Control"] == "no-cache, max-age=60"),
    "content-disposition": (["--content-disposition", 'attachment; filename="a b.txt"'],
                            lambda b, k: _head(b, k)["Content-Disposition"] == 'attachment; filename="a b.txt"'),
    "content-encoding": (["--content-encoding", "gzip"],
                         lambda b, k: _head(b, k)["Content-Encoding"] == "gzip"),
    "content-md5": (["--content-md5", content_md5(b"hi oss")],
                    lambda b, k: b.get_object(k).read() == b"hi oss"),
    "expires": (["--expires", "Wed, 21 Oct 2026 07:28:00 GMT"],
                lambda b, k: _head(b, k)["Expires"] == "Wed, 21 Oct 2026 07:28:00 GMT"),
    "metadata": (["--metadata", "user=jack", "--metadata", "x-oss-meta-Dept=eng", "--metadata", "eq=a=b",
                  "--metadata", "X-OSS-META-upper=U"],
                 lambda b, k: ({h.lower(): v for h, v in _head(b, k).items() if h.lower().startswith("x-oss-meta-")}
                               == {"x-oss-meta-user": "jack", "x-oss-meta-dept": "eng", "x-oss-meta-eq": "a=b",
                                   "x-oss-meta-upper": "U"})),
    "metadata-utf8": (["--metadata", "name=中文 é"],
                      lambda b, k: _head(b, k)["x-oss-meta-name"].encode("latin-1").decode() == "中文 é"),
    "object-acl": (["--object-acl", "public-read"],
                   lambda b, k: b.get_object_acl(k).acl == "public-read"),
    "sse-aes256": (["--server-side-encryption", "AES256"],
                   lambda b, k: _head(b, k)["x-oss-server-side-encryption"] == "AES256"),
    "sse-kms": (["--server-side-encryption", "KMS"],
                lambda b, k: _head(b, k)["x-oss-server-side-encryption"] == "KMS"
                and _head(b, k).get("x-oss-server-side-encryption-key-id")),
    "sse-sm4": (["--server-side-encryption", "SM4"],
                lambda b, k: _head(b, k)["x-oss-server-side-encryption"] == "SM4"),
    "sse-kms-data-sm4": (["--server-side-encryption", "KMS", "--server-side-data-encryption", "SM4"],
                         lambda b, k: _head(b, k)["x-oss-server-side-data-encryption"] == "SM4"),
    "sse-kms-key-id": (["--server-side-encryption", "KMS", "--server-side-encryption-key-id", "my-cmk"],
                       lambda b, k: _head(b, k)["x-oss-server-side-encryption"] == "KMS"),
    "storage-class": (["--storage-class", "IA"],
                      lambda b, k: _head(b, k)["x-oss-storage-class"] == "IA"),
    "tagging": (["--tagging", "TagA=A&TagB=B"],
                lambda b, k: b.get_object_tagging(k).tag_set.tagging_rule == {"TagA": "A", "TagB": "B"}
                and _head(b, k)["x-oss-tagging-count"] == "2"),
    "content-type": (["--content-type", "text/plain; charset=utf-8"],
                     lambda b, k: _head(b, k)["Content-Type"] == "text/plain; charset=utf-8"),
    "content-type-guessed": ([], lambda b, k: _head(b, k)["Content-Type"] == "text/html"),  # key ends .html
    "forbid-overwrite": (["--forbid-overwrite"], lambda b, k: b.get_object(k).read() == b"hi oss"),
    "forbid-overwrite-true": (["--forbid-overwrite", "true"], lambda b, k: b.get_object(k).read() == b"hi oss"),
    "forbid-overwrite-false": (["--forbid-overwrite=false"], lambda b, k: b.get_object(k).read() == b"hi oss"),
    "traffic-limit": (["--traffic-limit", "819200"], lambda b, k: b.get_object(k).read() == b"hi oss"),
    "request-payer": (["--request-payer", "requester"], lambda b, k: b.get_object(k).read() == b"hi oss"),
    "content-length": (["--content-length", "6"], lambda b, k: b.get_object(k).read() == b"hi oss"),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_append_flag_reaches_server(env, bucket, bucket_name, case):
    extra, check = FLAG_CASES[case]
    key = "obj.html"
    r = ok(append(env, bucket_name, key, 0, "--body", "hi oss", *extra))
    assert "x-oss-next-append-position: 6" in r.out
    assert check(bucket, key), (case, dict(_head(bucket, key)))


def test_all_flags_together_and_ignored_on_later_append(env, bucket, bucket_name):
    B, K = bucket_name, "combo"
    ok(append(env, B, K, 0, "--body", "first", "--cache-control", "no-cache", "--content-disposition", "inline",
              "--content-encoding", "identity", "--content-md5", content_md5(b"first"),
              "--expires", "Thu, 01 Jan 2037 00:00:00 GMT", "--metadata", "a=1", "--metadata", "x-oss-meta-b=2",
              "--object-acl", "public-read", "--server-side-encryption", "AES256", "--storage-class", "IA",
              "--tagging", "TagA=A&TagB=B", "--content-type", "text/csv", "--forbid-overwrite", "true",
              "--traffic-limit", "819200", "--request-payer", "requester"))
    before = _head(bucket, K)
    # creation flags on a later append are ignored by OSS: the object keeps its first settings
    # (--object-acl excepted; see below)
    r = ok(append(env, B, K, 5, "--body", "second", "--cache-control", "max-age=1", "--content-disposition",
                  "attachment", "--content-encoding", "gzip", "--expires", "Fri, 02 Jan 2037 00:00:00 GMT",
                  "--metadata", "a=changed", "--metadata", "c=3", "--object-acl", "private",
                  "--server-side-encryption", "KMS", "--storage-class", "Archive", "--tagging", "TagC=C",
                  "--content-type", "image/png", "--content-md5", content_md5(b"second")))
    assert "x-oss-next-append-position: 11" in r.out
    after = _head(bucket, K)
    assert bucket.get_object(K).read() == b"firstsecond"
    for h in ("Cache-Control", "Content-Disposition", "Content-Encoding", "Expires", "Content-Type",
              "x-oss-meta-a", "x-oss-meta-b", "x-oss-server-side-encryption", "x-oss-storage-class"):
        assert after[h] == before[h], h
    assert after["Cache-Control"] == "no-cache" and after["Content-Type"] == "text/csv"
    assert after["x-oss-meta-a"] == "1" and after["x-oss-meta-b"] == "2" and "x-oss-meta-c" not in after
    assert after["x-oss-storage-class"] == "IA" and after["x-oss-server-side-encryption"] == "AES256"
    assert bucket.get_object_tagging(K).tag_set.tagging_rule == {"TagA": "A", "TagB": "B"}
    # the exception (OSS, Go SDK live test): x-oss-object-acl on a later append is applied
    assert bucket.get_object_acl(K).acl == "private"


def test_flag_errors(env, bucket, bucket_name):
    B = bucket_name
    wrong_md5, bad_sse, bad_sse_later, slow, fast, bad_bool = run_many(
        env,
        ("api", "append-object", "--bucket", B, "--key", "md5", "--position", "0", "--body", "hi oss",
         "--content-md5", content_md5(b"something else")),
        ("api", "append-object", "--bucket", B, "--key", "sse", "--position", "0", "--body", "x",
         "--server-side-encryption", "DES"),
        ("api", "append-object", "--bucket", B, "--key", "sse2", "--position", "0", "--body", "x",
         "--server-side-encryption", "aes256"),
        ("api", "append-object", "--bucket", B, "--key", "tl", "--position", "0", "--body", "x",
         "--traffic-limit", "100"),
        ("api", "append-object", "--bucket", B, "--key", "tl2", "--position", "0", "--body", "x",
         "--traffic-limit", str(838860800 + 1)),
        ("api", "append-object", "--bucket", B, "--key", "fo", "--position", "0", "--body", "x",
         "--forbid-overwrite", "maybe"),
    )
    r = service_error(wrong_md5, "InvalidDigest", 400)
    assert "EC: 0017-00000503." in r.err
    service_error(bad_sse, "InvalidEncryptionAlgorithmError", 400)
    service_error(bad_sse_later, "InvalidEncryptionAlgorithmError", 400)
    service_error(slow, "InvalidArgument", 400)
    service_error(fast, "InvalidArgument", 400)
    usage_error(bad_bool)
    for key in ("md5", "sse", "sse2", "tl", "tl2", "fo"):
        assert state(bucket, key) is NO_OBJECT, key

    # a wrong MD5 on a later append leaves the object as it was
    ok(append(env, B, "md5", 0, "--body", "hi oss", "--content-md5", content_md5(b"hi oss")))
    service_error(append(env, B, "md5", 6, "--body", "more", "--content-md5", content_md5(b"less")),
                  "InvalidDigest", 400)
    assert bucket.get_object("md5").read() == b"hi oss"


def test_forbid_overwrite_header_is_sent(env, bucket_name):
    r = ok(append(env, bucket_name, "k", 0, "--body", "x", "--forbid-overwrite", "--dry-run", "-q"))
    assert "x-oss-forbid-overwrite: true" in r.out
    r = ok(append(env, bucket_name, "k", 0, "--body", "x", "--forbid-overwrite=false", "--dry-run", "-q"))
    assert "x-oss-forbid-overwrite: false" in r.out


# -- append-object: output -----------------------------------------------------------------------
def test_append_output_formats(env, bucket, bucket_name):
    B, K = bucket_name, "out"
    ok(append(env, B, K, 0, "--body", "12345"))
    data = b"12345"
    # each append is at the then-current length: run them in order
    raw = ok(append(env, B, K, 5, "--body", "abc"))
    data += b"abc"
    body = elapsed_trailer(raw.out)
    headers = dict(line.split(": ", 1) for line in body.split("\n"))
    assert headers["x-oss-next-append-position"] == "8"
    assert headers["x-oss-hash-crc64ecma"] == str(crc64(data))
    assert re.fullmatch(r'"[0-9A-F]{32}"', headers["etag"])
    assert re.fullmatch(r"[0-9A-F]{24}", headers["x-oss-request-id"])

    quiet = ok(append(env, B, K, 8, "--body", "d", "-q"))
    data += b"d"
    assert "elapsed" not in quiet.out and "x-oss-next-append-position: 9" in quiet.out

    js = ok(append(env, B, K, 9, "--body", "e", "--output-format", "json", "-q"))
    data += b"e"
    doc = json.loads(js.out)
    assert doc["Header"]["X-Oss-Next-Append-Position"] == ["10"]
    assert doc["Header"]["X-Oss-Hash-Crc64ecma"] == [str(crc64(data))]
    assert re.fullmatch(r'"[0-9A-F]{32}"', doc["Header"]["Etag"][0])
    assert all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in doc["Header"].values())

    js_trailer = ok(append(env, B, K, 10, "--body", "f", "--output-format", "json"))
    data += b"f"
    assert json.loads(elapsed_trailer(js_trailer.out))["Header"]["X-Oss-Next-Append-Position"] == ["11"]

    ym = ok(append(env, B, K, 11, "--body", "g", "--output-format", "yaml", "-q"))
    data += b"g"
    doc = yaml.safe_load(ym.out)
    assert doc["Header"]["X-Oss-Next-Append-Position"] == ["12"]
    assert doc["Header"]["X-Oss-Hash-Crc64ecma"] == [str(crc64(data))]

    xm = ok(append(env, B, K, 12, "--body", "h", "--output-format", "xml", "-q"))
    data += b"h"
    root = ET.fromstring(xm.out)
    assert root.tag == "root"
    assert root.findtext("Header/X-Oss-Next-Append-Position") == "13"
    assert root.findtext("Header/X-Oss-Hash-Crc64ecma") == str(crc64(data))

    q = ok(append(env, B, K, 13, "--body", "i", "--output-query", 'Header."X-Oss-Next-Append-Position"[0]', "-q"))
    data += b"i"
    assert json.loads(q.out) == "14"
    q = ok(append(env, B, K, 14, "--body", "j", "--output-query", 'to_number(Header."X-Oss-Next-Append-Position"[0])'))
    data += b"j"
    assert json.loads(elapsed_trailer(q.out)) == 15

    assert bucket.get_object(K).read() == data == b"12345abcdefghij"


def test_global_flags_before_the_command_and_equals_syntax(env, bucket, bucket_name):
    r = ok(run_cli(env, "--output-format", "json", "-q", "api", "append-object", f"--bucket={bucket_name}",
                   "--key=g", "--position=0", "--body=abc", "--metadata=a=b"))
    assert json.loads(r.out)["Header"]["X-Oss-Next-Append-Position"] == ["3"]
    r = ok(run_cli(env, "api", "-q", "--output-format", "yaml", "append-object", "--bucket", bucket_name,
                   "--key", "g", "--position", "3", "--body", "d"))
    assert yaml.safe_load(r.out)["Header"]["X-Oss-Next-Append-Position"] == ["4"]
    got, h = state(bucket, "g")
    assert got == b"abcd" and h["x-oss-meta-a"] == "b"


def test_bad_output_query_sends_nothing(env, bucket, bucket_name):
    r = usage_error(append(env, bucket_name, "q", 0, "--body", "x", "--output-query", "Header.[[["))
    assert "output-query" in r.err
    assert state(bucket, "q") is NO_OBJECT


def test_bad_output_format_is_usage_error(env, bucket, bucket_name):
    usage_error(append(env, bucket_name, "q", 0, "--body", "x", "--output-format", "csv"))
    assert state(bucket, "q") is NO_OBJECT


# -- append-object: errors and exit codes ---------------------------------------------------------
def test_position_not_equal_to_length(env, bucket, bucket_name):
    ok(append(env, bucket_name, "p", 0, "--body", "hello"))
    r1, r2, r3, r4, r5 = run_many(
        env,
        ("api", "append-object", "--bucket", bucket_name, "--key", "p", "--position", "0", "--body", "x"),
        ("api", "append-object", "--bucket", bucket_name, "--key", "p", "--position", "3", "--body", "x"),
        ("api", "append-object", "--bucket", bucket_name, "--key", "missing", "--position", "7", "--body", "x",
         "--output-format", "json"),
        ("api", "append-object", "--bucket", bucket_name, "--key", "p", "--position", "9", "--body", "x",
         "--output-format", "json", "-q"),
        ("api", "append-object", "--bucket", bucket_name, "--key", "p", "--position", "9", "--body", "x",
         "--output-query", 'Header."X-Oss-Next-Append-Position"[0]', "-q"),
    )
    for r, next_position in ((r1, 5), (r2, 5), (r3, 0), (r4, 5), (r5, 5)):
        service_error(r, "PositionNotEqualToLength", 409, stdout=r not in (r1, r2))
        assert "EC: 0026-00000016." in r.err
        assert "operation error AppendObject: " in r.err
        assert "Request Endpoint: POST " in r.err and "position=" in r.err
        # the one fact the caller needs: where to append instead
        assert r.err.rstrip().endswith(f"Next Append Position: {next_position}."), str(r)
    # json output: the error is a document in the same form as a success, headers included
    for r, next_position in ((r3, "0"), (r4, "5")):
        doc = json.loads(r.out)
        assert doc["Header"]["X-Oss-Next-Append-Position"] == [next_position], str(r)
        assert doc["Error"]["Code"] == "PositionNotEqualToLength" and doc["Error"]["EC"] == "0026-00000016"
    assert json.loads(r5.out) == "5", str(r5)   # the same --output-query as after a success
    assert bucket.get_object("p").read() == b"hello"
    assert state(bucket, "missing") is NO_OBJECT


def test_object_not_appendable(env, bucket, bucket_name):
    bucket.put_object("normal", b"normal object")
    r = service_error(append(env, bucket_name, "normal", 13, "--body", "x"), "ObjectNotAppendable", 409)
    assert "EC: " in r.err
    r = service_error(append(env, bucket_name, "normal", 0, "--body", "x"), "ObjectNotAppendable", 409)
    got, headers = state(bucket, "normal")
    assert got == b"normal object" and headers["x-oss-object-type"] == "Normal"


def test_usage_errors(env, bucket, bucket_name):
    B = bucket_name
    runs = run_many(
        env,
        ("api", "append-object", "--bucket", B, "--key", "u", "--body", "x"),                        # no --position
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "abc", "--body", "x"),
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "1.5", "--body", "x"),
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "", "--body", "x"),
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "0", "--body", "x", "--bogus"),
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "0", "--body", "x", "--position"),
        ("api", "append-object", "--key", "u", "--position", "0", "--body", "x"),                    # no --bucket
        ("api", "append-object", "--bucket", B, "--position", "0", "--body", "x"),                   # no --key
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "0", "--metadata", "novalue"),
        ("api", "append-object", "--bucket", "Bad_Bucket", "--key", "u", "--position", "0", "--body", "x"),
        ("api", "append-objects", "--bucket", B, "--key", "u", "--position", "0"),                   # unknown cmd
        ("api", "no-such-operation"),
        ("api",),
        ("api", "append-object", "--bucket", B, "--key", "u", "--position", "0", "--sign-version", "v3"),
    )
    for r in runs:
        usage_error(r)
    assert "position" in runs[0].err and "position" in runs[1].err
    assert "--bogus" in runs[4].err
    assert "metadata" in runs[8].err
    assert state(bucket, "u") is NO_OBJECT


def test_negative_position_rejected_by_server(env, bucket, bucket_name):
    r = append(env, bucket_name, "neg", -1, "--body", "x")
    assert r.code == 2 and r.err.startswith("Error: ") and "Http Status Code: 400." in r.err, str(r)
    assert state(bucket, "neg") is NO_OBJECT


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)  # a hang here is a failure
def test_unreachable_endpoint_is_client_error(env):
    port = _closed_port()
    r = run_cli(env, "api", "append-object", "--bucket", "some-bucket", "--key", "k", "--position", "0",
                "--body", "x", "-e", f"http://127.0.0.1:{port}", "--retry-times", "1")
    assert r.code == 3, str(r)
    assert r.err.startswith("Error: ") and "AppendObject" in r.err, str(r)
    assert r.stdout == b""


def test_dry_run_sends_nothing(env, bucket, bucket_name):
    ok(append(env, bucket_name, "d", 0, "--body", "hello"))
    r1, r2, r3 = run_many(
        env,
        ("api", "append-object", "--bucket", bucket_name, "--key", "d", "--position", "5", "--body", "world",
         "--dry-run", "--metadata", "m=1", "--metadata", "u=中文", "--object-acl", "private"),
        ("api", "append-object", "--bucket", bucket_name, "--key", "new", "--position", "0", "--body", "x", "-n"),
        (("api", "append-object", "--bucket", bucket_name, "--key", "d", "--position", "5", "--body", "-",
          "--dry-run", "-q"), b"from stdin"),
    )
    ok(r1)
    first = r1.out.split("\n")[0]
    assert first.startswith(f"POST /{bucket_name}/d?") and "append" in first and "position=5" in first
    assert "x-oss-meta-m: 1" in r1.out and "x-oss-meta-u: 中文" in r1.out and "x-oss-object-acl: private" in r1.out
    assert "(body: 5 bytes)" in r1.out
    elapsed_trailer(r1.out)
    ok(r2)
    ok(r3)
    assert "elapsed" not in r3.out
    got, headers = state(bucket, "d")
    assert got == b"hello" and headers["x-oss-next-append-position"] == "5"
    assert state(bucket, "new") is NO_OBJECT


def test_sigint_during_stdin_append_exits_5(env, bucket, bucket_name, runner_sigint):
    p = subprocess.Popen([sys.executable, "-m", "ossbox", "api", "append-object", "--bucket", bucket_name,
                          "--key", "sig", "--position", "0", "--body", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         preexec_fn=default_sigint)
    try:
        p.stdin.write(os.urandom(256 * 1024))
        p.stdin.flush()
        time.sleep(1.5)  # started, and sending; stdin stays open so the body never ends
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
    err = p.stderr.read().decode()
    p.stdout.close()
    p.stderr.close()
    assert rc == 5, err
    assert err.startswith("Error: ")
    assert state(bucket, "sig") is NO_OBJECT  # the unfinished body was not stored


# -- signing and addressing ------------------------------------------------------------------------
def test_sign_version_v1_and_path_addressing(env, server, bucket, bucket_name):
    port = urlsplit(server.endpoint).port
    localhost = f"http://localhost:{port}"  # a host name, so virtual-host addressing is possible
    ok(append(env, bucket_name, "sv", 0, "--body", "v1,", "--sign-version", "v1"))
    ok(append(env, bucket_name, "sv", 3, "--body", "path,", "--addressing-style", "path", "-e", localhost))
    ok(append(env, bucket_name, "sv", 8, "--body", "both", "--addressing-style", "path", "-e", localhost,
              "--sign-version", "v1"))
    assert bucket.get_object("sv").read() == b"v1,path,both"
    r = ok(run_cli(env, "api", "get-object", "--bucket", bucket_name, "--key", "sv", "-q", "--sign-version", "v1",
                   "--addressing-style", "path", "-e", localhost))
    assert r.stdout == b"v1,path,both"
    # v1 with a wrong secret is refused by the server
    r = append(env, bucket_name, "sv", 12, "--body", "x", "--sign-version", "v1", "-k", "wrong-secret")
    service_error(r, "SignatureDoesNotMatch", 403)
    assert bucket.get_object("sv").read() == b"v1,path,both"


def test_region_required_for_v4(env, bucket_name):
    e = dict(env)
    del e["OSS_REGION"]
    r = run_cli(e, "api", "list-buckets")
    assert r.code == 1 and "region" in r.err, str(r)
    ok(run_cli(e, "api", "list-buckets", "--sign-version", "v1", "-q"))


# -- the other api commands --------------------------------------------------------------------------
@pytest.fixture
def new_bucket_names(server, oss2_auth):
    names = []

    def make():
        names.append("t-" + uuid.uuid4().hex[:20])
        return names[-1]
    yield make
    for n in names:
        remove_bucket(oss2_auth, server.endpoint, n)


def test_put_bucket(env, server, oss2_auth, new_bucket_names):
    b1, b2, b3, b4 = (new_bucket_names() for _ in range(4))
    r1, r2, r3, r4 = run_many(
        env,
        ("api", "put-bucket", "--bucket", b1, "--acl", "public-read",
         "--create-bucket-configuration", '{"StorageClass": "IA"}', "-q"),
        ("api", "put-bucket", "--bucket", b2, "--create-bucket-configuration",
         "<CreateBucketConfiguration><StorageClass>Archive</StorageClass></CreateBucketConfiguration>", "-q"),
        ("api", "put-bucket", "--bucket", b3, "--create-bucket-configuration",
         '{"CreateBucketConfiguration": {"StorageClass": "IA"}}', "--output-format", "json", "-q"),
        (("api", "put-bucket", "--bucket", b4, "--create-bucket-configuration", "-"),
         b'{"StorageClass": "Archive"}'),
    )
    for r in (r1, r2, r3, r4):
        ok(r)
    assert json.loads(r3.out)["Header"]["Location"] == [f"/{b3}"]
    expect = {b1: ("IA", "public-read"), b2: ("Archive", "private"), b3: ("IA", "private"), b4: ("Archive", "private")}
    for name, (sc, acl) in expect.items():
        info = oss2.Bucket(oss2_auth, server.endpoint, name).get_bucket_info()
        assert (info.storage_class, info.acl.grant) == (sc, acl), name

    # errors: a different storage class for an existing bucket (409); bad configuration text (usage)
    bad_json = new_bucket_names()
    e1, e2 = run_many(
        env,
        ("api", "put-bucket", "--bucket", b1, "--create-bucket-configuration", '{"StorageClass": "Archive"}'),
        ("api", "put-bucket", "--bucket", bad_json, "--create-bucket-configuration", "{not json"),
    )
    service_error(e1, "BucketAlreadyExists", 409)
    usage_error(e2)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss2.Bucket(oss2_auth, server.endpoint, bad_json).get_bucket_info()


def test_put_bucket_configuration_from_file(env, server, oss2_auth, new_bucket_names, tmp_path):
    name = new_bucket_names()
    cfg = tmp_path / "cfg.xml"
    cfg.write_text('<?xml version="1.0" encoding="UTF-8"?>\n'
                   "<CreateBucketConfiguration><StorageClass>IA</StorageClass></CreateBucketConfiguration>\n")
    ok(run_cli(env, "api", "put-bucket", "--bucket", name, "--create-bucket-configuration", f"file://{cfg}"))
    assert oss2.Bucket(oss2_auth, server.endpoint, name).get_bucket_info().storage_class == "IA"


def test_delete_bucket(env, server, oss2_auth, new_bucket_names):
    empty, full = new_bucket_names(), new_bucket_names()
    oss2.Bucket(oss2_auth, server.endpoint, empty).create_bucket()
    fb = oss2.Bucket(oss2_auth, server.endpoint, full)
    fb.create_bucket()
    fb.put_object("x", b"x")
    r1, r2, r3 = run_many(env, ("api", "delete-bucket", "--bucket", empty, "-q"),
                          ("api", "delete-bucket", "--bucket", full),
                          ("api", "delete-bucket", "--bucket", new_bucket_names()))
    ok(r1)
    service_error(r2, "BucketNotEmpty", 409)
    service_error(r3, "NoSuchBucket", 404)
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss2.Bucket(oss2_auth, server.endpoint, empty).get_bucket_info()
    assert fb.get_object("x").read() == b"x"


def test_list_buckets(env, bucket_name):
    r1, r2, r3, r4, r5 = run_many(env, ("api", "list-buckets", "-q"),
                                  ("api", "list-buckets", "--output-format", "json", "-q",
                                   "--output-query", "Buckets.Bucket"),
                                  ("api", "list-buckets", "-k", "not-the-secret"),
                                  ("api", "list-buckets", "--output-format", "xml", "-q",
                                   "--output-query", "[Owner.ID, Owner.ID]"),
                                  ("api", "list-buckets", "--output-format", "yaml", "-q",
                                   "--output-query", "Owner.ID"))
    root = ET.fromstring(ok(r4).out)  # a list result is still one well-formed document
    assert root.tag == "root" and len(root) == 2 and root[0].text == root[1].text
    assert ok(r5).out.strip() == yaml.safe_dump(root[0].text).split("\n")[0]
    ok(r1)
    root = ET.fromstring(r1.stdout)
    assert root.tag == "ListAllMyBucketsResult"
    assert bucket_name in [e.text for e in root.iter("Name")]
    buckets = json.loads(ok(r2).out)
    buckets = buckets if isinstance(buckets, list) else [buckets]
    assert bucket_name in [b["Name"] for b in buckets]
    service_error(r3, "SignatureDoesNotMatch", 403)


@pytest.fixture
def listing(bucket):
    for key in ("a/1.txt", "a/2.txt", "a/sub/3.txt", "b.txt", "c.txt"):
        bucket.put_object(key, key.encode())
    return bucket


def test_list_objects_v1_and_v2(env, listing, bucket_name):
    B = bucket_name
    v2, v2_all, v1, v1_raw, e1, e2 = run_many(
        env,
        ("api", "list-objects-v2", "--bucket", B, "--prefix", "a/", "--delimiter", "/", "--max-keys", "1",
         "--output-format", "json", "-q"),
        ("api", "list-objects-v2", "--bucket", B, "--delimiter", "/", "--output-format", "yaml", "-q"),
        ("api", "list-objects", "--bucket", B, "--prefix", "a/", "--max-keys", "2", "--output-format", "json", "-q"),
        ("api", "list-objects", "--bucket", B, "--marker", "b.txt"),
        ("api", "list-objects-v2", "--bucket", "t-no-such-bucket-x1"),
        ("api", "list-objects", "--bucket", "t-no-such-bucket-x1", "--output-format", "json"),
    )
    doc = json.loads(ok(v2).out)
    assert doc["Prefix"] == "a/" and doc["Delimiter"] == "/" and doc["MaxKeys"] == "1"
    assert doc["IsTruncated"] == "true" and doc["KeyCount"] == "1" and doc["NextContinuationToken"]
    assert doc["Contents"]["Key"] == "a/1.txt"  # one entry: an object, not a list
    doc = yaml.safe_load(ok(v2_all).out)
    assert [c["Key"] for c in doc["Contents"]] == ["b.txt", "c.txt"]
    assert doc["CommonPrefixes"]["Prefix"] == "a/"
    doc = json.loads(ok(v1).out)
    assert [c["Key"] for c in doc["Contents"]] == ["a/1.txt", "a/2.txt"] and doc["IsTruncated"] == "true"
    root = ET.fromstring(elapsed_trailer(ok(v1_raw).out))
    assert root.tag == "ListBucketResult" and [e.text for e in root.iter("Key")] == ["c.txt"]
    service_error(e1, "NoSuchBucket", 404)
    service_error(e2, "NoSuchBucket", 404)

    # the continuation token from the first page continues the listing
    doc = json.loads(ok(run_cli(env, "api", "list-objects-v2", "--bucket", B, "--prefix", "a/", "--delimiter", "/",
                                "--continuation-token", json.loads(v2.out)["NextContinuationToken"],
                                "--output-format", "json", "-q")).out)
    assert doc["Contents"]["Key"] == "a/2.txt" and doc["CommonPrefixes"]["Prefix"] == "a/sub/"


def test_put_get_head_object(env, bucket, bucket_name, tmp_path):
    B = bucket_name
    payload = os.urandom(70000) + b"\n\x00end"
    (tmp_path / "up.bin").write_bytes(payload)
    r = ok(run_cli(env, "api", "put-object", "--bucket", B, "--key", "dir/obj.bin", "--body", f"file://{tmp_path / 'up.bin'}",
                   "--metadata", "owner=me", "--content-type", "application/x-test", "--object-acl", "public-read",
                   "--tagging", "k=v", "--storage-class", "IA"))
    assert f"x-oss-hash-crc64ecma: {crc64(payload)}" in r.out
    got, h = state(bucket, "dir/obj.bin")
    assert got == payload
    assert h["x-oss-meta-owner"] == "me" and h["Content-Type"] == "application/x-test"
    assert h["x-oss-object-type"] == "Normal" and h["x-oss-storage-class"] == "IA"
    assert bucket.get_object_acl("dir/obj.bin").acl == "public-read"
    assert bucket.get_object_tagging("dir/obj.bin").tag_set.tagging_rule == {"k": "v"}

    get_q, get_trailer, get_json, get_range, head, meta, put_forbid, get_missing, head_missing, meta_missing = run_many(
        env,
        ("api", "get-object", "--bucket", B, "--key", "dir/obj.bin", "-q"),
        ("api", "get-object", "--bucket", B, "--key", "dir/obj.bin"),
        ("api", "get-object", "--bucket", B, "--key", "dir/obj.bin", "--output-format", "json", "-q"),
        ("api", "get-object", "--bucket", B, "--key", "dir/obj.bin", "--range", "bytes=0-9", "-q"),
        ("api", "head-object", "--bucket", B, "--key", "dir/obj.bin", "--output-format", "json", "-q"),
        ("api", "get-object-meta", "--bucket", B, "--key", "dir/obj.bin", "--output-format", "yaml", "-q"),
        ("api", "put-object", "--bucket", B, "--key", "dir/obj.bin", "--body", "new", "--forbid-overwrite", "true"),
        ("api", "get-object", "--bucket", B, "--key", "missing", "-q"),
        ("api", "head-object", "--bucket", B, "--key", "missing"),
        ("api", "get-object-meta", "--bucket", B, "--key", "missing"),
    )
    assert ok(get_q).stdout == payload  # the bytes, nothing else
    # object bytes on stdout are never followed by anything: the elapsed trailer goes to stderr
    assert get_trailer.code == 0 and get_trailer.stdout == payload, str(get_trailer)
    assert ELAPSED.match(get_trailer.err.strip()), str(get_trailer)
    doc = json.loads(ok(get_json).out)  # object data is not a document: the headers are
    assert doc["Header"]["Content-Length"] == [str(len(payload))]
    assert doc["Header"]["X-Oss-Meta-Owner"] == ["me"]
    assert ok(get_range).stdout == payload[:10]
    doc = json.loads(ok(head).out)
    assert doc["Header"]["Content-Length"] == [str(len(payload))]
    assert doc["Header"]["X-Oss-Hash-Crc64ecma"] == [str(crc64(payload))]
    assert doc["Header"]["X-Oss-Meta-Owner"] == ["me"]
    doc = yaml.safe_load(ok(meta).out)
    assert doc["Header"]["Content-Length"] == [str(len(payload))] and "X-Oss-Meta-Owner" not in doc["Header"]
    service_error(put_forbid, "FileAlreadyExists", 409)
    assert bucket.get_object("dir/obj.bin").read() == payload
    service_error(get_missing, "NoSuchKey", 404)
    r = service_error(head_missing, "NoSuchKey", 404)
    assert "EC: 0026-00000001." in r.err  # from the x-oss-ec header of the bodiless HEAD answer
    service_error(meta_missing, "NoSuchKey", 404)


def test_put_object_stdin_and_utf8_key(env, bucket, bucket_name):
    key = "目录/a b+c%d.txt"
    ok(run_cli(env, "api", "put-object", "--bucket", bucket_name, "--key", key, "--body", "-", stdin=b"\x00\xffdata"))
    assert bucket.get_object(key).read() == b"\x00\xffdata"
    r = ok(run_cli(env, "api", "get-object", "--bucket", bucket_name, "--key", key, "-q"))
    assert r.stdout == b"\x00\xffdata"


def test_delete_object(env, bucket, bucket_name):
    bucket.put_object("gone", b"x")
    r1, r2, r3 = run_many(env, ("api", "delete-object", "--bucket", bucket_name, "--key", "gone", "-q"),
                          ("api", "delete-object", "--bucket", bucket_name, "--key", "never-there", "-q"),
                          ("api", "delete-object", "--bucket", "t-no-such-bucket-x2", "--key", "k"))
    ok(r1)
    ok(r2)  # OSS answers 204 for a missing key
    service_error(r3, "NoSuchBucket", 404)
    assert state(bucket, "gone") is NO_OBJECT


def test_copy_object(env, bucket, bucket_name, new_bucket_names, server, oss2_auth):
    other = new_bucket_names()
    oss2.Bucket(oss2_auth, server.endpoint, other).create_bucket()
    bucket.put_object("src/原 1.txt", b"source data", headers={"x-oss-meta-a": "1", "Content-Type": "text/plain"})
    r1, r2, r3, r4, r5, e1, e2 = run_many(
        env,
        ("api", "copy-object", "--bucket", bucket_name, "--key", "dst", "--source-bucket", bucket_name,
         "--source-key", "src/原 1.txt", "--output-format", "json", "-q"),
        ("api", "copy-object", "--bucket", other, "--key", "dst2", "--source-bucket", bucket_name,
         "--source-key", "src/原 1.txt", "--metadata-directive", "REPLACE", "--metadata", "b=2", "-q"),
        ("api", "copy-object", "--bucket", bucket_name, "--key", "dst3", "--source-bucket", bucket_name,
         "--source-key", "nope"),
        ("api", "copy-object", "--bucket", bucket_name, "--key", "dst4", "--source-key", "src/原 1.txt"),
        # ossutil's documented spelling: --copy-source /bucket/URL-encoded-key
        ("api", "copy-object", "--bucket", other, "--key", "dst5", "--copy-source",
         f"/{bucket_name}/{quote('src/原 1.txt', safe='')}", "-q"),
        ("api", "copy-object", "--bucket", bucket_name, "--key", "dst6", "--copy-source", bucket_name),
        ("api", "copy-object", "--bucket", bucket_name, "--key", "dst7"),
    )
    doc = json.loads(ok(r1).out)
    assert doc["ETag"].strip('"') == bucket.head_object("src/原 1.txt").etag
    got, h = state(bucket, "dst")
    assert got == b"source data" and h["x-oss-meta-a"] == "1"
    ok(r2)
    got, h = state(oss2.Bucket(oss2_auth, server.endpoint, other), "dst2")
    assert got == b"source data" and h["x-oss-meta-b"] == "2" and "x-oss-meta-a" not in h
    service_error(r3, "NoSuchKey", 404)
    assert state(bucket, "dst3") is NO_OBJECT
    # without --source-bucket the SDK copies within --bucket
    ok(r4)
    assert bucket.get_object("dst4").read() == b"source data"
    ok(r5)
    assert oss2.Bucket(oss2_auth, server.endpoint, other).get_object("dst5").read() == b"source data"
    usage_error(e1)
    usage_error(e2)
    assert state(bucket, "dst6") is NO_OBJECT and state(bucket, "dst7") is NO_OBJECT


def test_seal_append_object(env, bucket, bucket_name):
    ok(append(env, bucket_name, "s", 0, "--body", "abc"))
    bad = run_cli(env, "api", "seal-append-object", "--bucket", bucket_name, "--key", "s", "--position", "2")
    service_error(bad, "PositionNotEqualToLength", 409)
    r = ok(run_cli(env, "api", "seal-append-object", "--bucket", bucket_name, "--key", "s", "--position", "3",
                   "--output-format", "json", "-q"))
    assert json.loads(r.out)["Header"]["X-Oss-Sealed-Time"][0].endswith("GMT")
    service_error(append(env, bucket_name, "s", 3, "--body", "more"), "AppendSealedObjectNotAllowed", 400)
    assert bucket.get_object("s").read() == b"abc"
    usage_error(run_cli(env, "api", "seal-append-object", "--bucket", bucket_name, "--key", "s"))


def test_object_tagging_commands(env, bucket, bucket_name):
    bucket.put_object("t", b"x")
    B = bucket_name
    ok(run_cli(env, "api", "put-object-tagging", "--bucket", B, "--key", "t", "--tagging",
               '{"TagSet": {"Tag": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}'))
    assert bucket.get_object_tagging("t").tag_set.tagging_rule == {"a": "1", "b": "2"}
    r = ok(run_cli(env, "api", "get-object-tagging", "--bucket", B, "--key", "t", "--output-format", "json", "-q"))
    assert json.loads(r.out) == {"TagSet": {"Tag": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}
    ok(run_cli(env, "api", "put-object-tagging", "--bucket", B, "--key", "t", "--tagging",
               "<Tagging><TagSet><Tag><Key>only</Key><Value>one</Value></Tag></TagSet></Tagging>"))
    assert bucket.get_object_tagging("t").tag_set.tagging_rule == {"only": "one"}
    r = ok(run_cli(env, "api", "get-object-tagging", "--bucket", B, "--key", "t", "-q",
                   "--output-query", "TagSet.Tag.Value"))
    assert json.loads(r.out) == "one"
    r = ok(run_cli(env, "api", "get-object-tagging", "--bucket", B, "--key", "t", "-q"))
    assert ET.fromstring(r.stdout).tag == "Tagging"  # raw: the server's XML
    ok(run_cli(env, "api", "delete-object-tagging", "--bucket", B, "--key", "t", "-q"))
    assert bucket.get_object_tagging("t").tag_set.tagging_rule == {}

    e1, e2, e3 = run_many(
        env,
        ("api", "put-object-tagging", "--bucket", B, "--key", "missing", "--tagging",
         '{"TagSet": {"Tag": {"Key": "a", "Value": "1"}}}'),
        ("api", "get-object-tagging", "--bucket", B, "--key", "missing"),
        ("api", "delete-object-tagging", "--bucket", B, "--key", "missing"),
    )
    for r in (e1, e2, e3):
        service_error(r, "NoSuchKey", 404)


def test_object_acl_commands(env, bucket, bucket_name):
    bucket.put_object("a", b"x")
    B = bucket_name
    ok(run_cli(env, "api", "put-object-acl", "--bucket", B, "--key", "a", "--object-acl", "public-read-write"))
    assert bucket.get_object_acl("a").acl == "public-read-write"
    r = ok(run_cli(env, "api", "get-object-acl", "--bucket", B, "--key", "a", "--output-format", "json", "-q"))
    assert json.loads(r.out)["AccessControlList"]["Grant"] == "public-read-write"
    r = ok(run_cli(env, "api", "get-object-acl", "--bucket", B, "--key", "a", "--output-format", "xml", "-q"))
    assert ET.fromstring(r.out).findtext("AccessControlList/Grant") == "public-read-write"
    e1, e2, e3 = run_many(
        env,
        ("api", "put-object-acl", "--bucket", B, "--key", "a", "--object-acl", "everyone"),
        ("api", "get-object-acl", "--bucket", B, "--key", "missing"),
        ("api", "put-object-acl", "--bucket", B, "--key", "a"),
    )
    service_error(e1, "InvalidArgument", 400)
    service_error(e2, "NoSuchKey", 404)
    assert e3.code in (1, 2), str(e3)  # no ACL given: refused (locally or by the server)
    assert bucket.get_object_acl("a").acl == "public-read-write"


def test_help(env):
    r = ok(run_cli(env, "api", "append-object", "--help"))
    for flag in ("--bucket", "--key", "--position", "--body", "--cache-control", "--content-disposition",
                 "--content-encoding", "--content-md5", "--expires", "--metadata", "--object-acl",
                 "--server-side-encryption", "--storage-class", "--tagging", "--content-type", "--forbid-overwrite",
                 "--traffic-limit", "--request-payer", "--output-format", "--output-query", "--dry-run"):
        assert flag in r.out, flag
    r = ok(run_cli(env, "api", "--help"))
    for cmd in ("append-object", "seal-append-object", "put-object", "get-object", "head-object", "get-object-meta",
                "delete-object", "copy-object", "put-object-tagging", "get-object-tagging", "delete-object-tagging",
                "put-object-acl", "get-object-acl", "put-bucket", "delete-bucket", "list-buckets", "list-objects",
                "list-objects-v2"):
        assert cmd in r.out, cmd


def test_versioning_commands(env, bucket, bucket_name):
    B = bucket_name
    ok(run_cli(env, "api", "put-bucket-versioning", "--bucket", B,
               "--versioning-configuration", '{"Status": "Enabled"}', "-q"))
    assert bucket.get_bucket_versioning().status == "Enabled"
    got = json.loads(ok(run_cli(env, "api", "get-bucket-versioning", "--bucket", B,
                                "--output-format", "json", "-q")).out)
    assert got["Status"] == "Enabled"
    first = json.loads(ok(append(env, B, "log", 0, "--body", "one,", "--output-format", "json", "-q")).out)
    second = json.loads(ok(append(env, B, "log", 4, "--body", "two", "--output-format", "json", "-q")).out)
    vid = first["Header"]["X-Oss-Version-Id"][0]
    assert vid.startswith("CAEQ") and second["Header"]["X-Oss-Version-Id"] == [vid]
    bucket.put_object("log", b"replaced")
    old = ok(run_cli(env, "api", "get-object", "--bucket", B, "--key", "log", "--version-id", vid, "-q"))
    assert old.stdout == b"one,two"
    listed = json.loads(ok(run_cli(env, "api", "list-object-versions", "--bucket", B,
                                   "--output-format", "json", "-q")).out)
    assert [(v["Type"], v["IsLatest"]) for v in listed["Version"]] == [("Normal", "true"), ("Appendable", "false")]
    service_error(run_cli(env, "api", "put-bucket-versioning", "--bucket", B,
                          "--versioning-configuration", '{"Status": "Off"}'), "MalformedXML", 400)


def test_bucket_cors_tags_referer_commands(env, bucket, bucket_name):
    B = bucket_name
    ok(run_cli(env, "api", "put-bucket-cors", "--bucket", B, "--cors-configuration",
               '{"CORSRule": {"AllowedOrigin": "*", "AllowedMethod": ["GET", "PUT"], "MaxAgeSeconds": "60"}}'))
    r = ok(run_cli(env, "api", "get-bucket-cors", "--bucket", B, "--output-format", "json", "-q"))
    rule = json.loads(r.out)["CORSRule"]
    assert rule["AllowedMethod"] == ["GET", "PUT"] and rule["MaxAgeSeconds"] == "60"
    r = ok(run_cli(env, "api", "option-object", "--bucket", B, "--key", "k", "--origin", "http://a.test",
                   "--access-control-request-method", "PUT", "--output-format", "json", "-q"))
    assert "http://a.test" in r.out
    ok(run_cli(env, "api", "delete-bucket-cors", "--bucket", B, "-q"))
    service_error(run_cli(env, "api", "get-bucket-cors", "--bucket", B), "NoSuchCORSConfiguration", 404)

    ok(run_cli(env, "api", "put-bucket-tags", "--bucket", B, "--tagging",
               '{"TagSet": {"Tag": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}'))
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"a": "1", "b": "2"}
    r = ok(run_cli(env, "api", "get-bucket-tags", "--bucket", B, "-q", "--output-query", "TagSet.Tag[0].Key"))
    assert json.loads(r.out) == "a"
    ok(run_cli(env, "api", "delete-bucket-tags", "--bucket", B, "-q"))
    assert bucket.get_bucket_tagging().tag_set.tagging_rule == {}

    ok(run_cli(env, "api", "put-bucket-referer", "--bucket", B, "--referer-configuration",
               '{"AllowEmptyReferer": "false", "RefererList": {"Referer": ["http://*.example.com"]}}'))
    got = bucket.get_bucket_referer()
    assert got.allow_empty_referer is False and got.referers == ["http://*.example.com"]
    r = ok(run_cli(env, "api", "get-bucket-referer", "--bucket", B, "-q", "--output-query", "AllowEmptyReferer"))
    assert json.loads(r.out) == "false"
