"""The high-level client commands (mb, rb, ls, stat, cat, rm, cp) run as a real `ossbox` subprocess
against the session server, checked for ossutil 2's grammar, output and exit codes."""
import concurrent.futures
import json
import os
import pty
import subprocess
import sys
import uuid

import oss2
import pytest
import yaml

from conftest import remove_bucket
import cliproc
from serverproc import ACCESS_KEY_ID, ACCESS_KEY_SECRET


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.code = proc.returncode
        self.raw = proc.stdout
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


def cli_env(server, home) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "OSSUTIL_"))}
    env.update(OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
               OSS_REGION="cn-hangzhou", OSS_ENDPOINT=server.endpoint, HOME=str(home))
    return env


@pytest.fixture
def cli(server, tmp_path):
    """run("ls", "oss://b") -> Result; stdin is an empty pipe (never a terminal)."""
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(server, home)

    def run(*args, stdin: bytes = b"", cwd=None) -> Result:
        proc = cliproc.run(args, input=stdin, env=env, timeout=60, cwd=cwd or tmp_path)
        return Result(proc)
    return run


@pytest.fixture
def fresh_name(server, oss2_auth):
    """A bucket name nobody has created yet (removed afterwards if a test created it)."""
    name = "hl-" + uuid.uuid4().hex[:16]
    yield name
    remove_bucket(oss2_auth, server.endpoint, name)


def append(bucket: oss2.Bucket, key: str, *chunks: bytes) -> None:
    pos = 0
    for c in chunks:
        pos = bucket.append_object(key, pos, c).next_position


def ok(r: Result) -> Result:
    assert r.code == 0, r
    return r


# == mb / rb / stat bucket / ls buckets =============================================================
def test_mb_stat_ls_rb(cli, fresh_name, bucket):
    r = ok(cli("mb", f"oss://{fresh_name}", "--acl", "public-read", "--storage-class", "ia"))
    assert r.out.strip().endswith("(s) elapsed")
    r = ok(cli("stat", f"oss://{fresh_name}"))
    info = dict(line.split(":", 1) for line in r.out.splitlines() if ":" in line and "elapsed" not in line)
    info = {k.strip(): v.strip() for k, v in info.items()}
    assert info["Name"] == fresh_name
    assert info["StorageClass"] == "IA"
    assert info["ACL"] == "public-read"
    assert info["Location"] == "oss-cn-hangzhou"

    doc = json.loads(ok(cli("stat", f"oss://{fresh_name}", "--output-format", "json", "-q")).out)
    assert doc["Name"] == fresh_name and doc["StorageClass"] == "IA" and doc["ACL"] == "public-read"

    r = ok(cli("ls"))
    assert f"oss://{fresh_name}" in r.out and "Bucket Number is:" in r.out
    assert any(line.rstrip().endswith(f"oss://{fresh_name}") and "IA" in line for line in r.out.splitlines())
    short = ok(cli("ls", "-s", "oss://", "-q")).out.splitlines()
    assert f"oss://{fresh_name}" in short and f"oss://{bucket.bucket_name}" in short
    doc = json.loads(ok(cli("ls", "-q", "--output-format", "json")).out)
    assert fresh_name in [b["Name"] for b in doc["Buckets"]]
    assert doc["BucketNumber"] == len(doc["Buckets"])
    one = json.loads(ok(cli("ls", "-q", "--output-format", "json", "--limited-num", "1")).out)
    assert one["BucketNumber"] == 1

    r = ok(cli("rb", f"oss://{fresh_name}"))
    r = cli("stat", f"oss://{fresh_name}")
    assert r.code == 2 and "NoSuchBucket" in r.err and r.err.startswith("Error: ")
    r = cli("rb", f"oss://{fresh_name}")
    assert r.code == 2 and "NoSuchBucket" in r.err


def test_mb_dry_run_and_bad_values(cli, fresh_name):
    r = ok(cli("mb", f"oss://{fresh_name}", "--dry-run"))
    assert "dry run" in r.out
    assert cli("stat", f"oss://{fresh_name}").code == 2          # nothing was created
    assert cli("mb", f"oss://{fresh_name}", "--acl", "everyone").code == 1
    assert cli("mb", f"oss://{fresh_name}", "--storage-class", "Cold").code == 1
    assert cli("mb", f"oss://{fresh_name}/key").code == 1


def test_rb_force_removes_objects_and_uploads(cli, fresh_name, server, oss2_auth):
    ok(cli("mb", f"oss://{fresh_name}", "-q"))
    b = oss2.Bucket(oss2_auth, server.endpoint, fresh_name)
    for i in range(5):
        b.put_object(f"k/{i}", b"x" * i)
    b.init_multipart_upload("pending")
    r = cli("rb", f"oss://{fresh_name}")
    assert r.code == 2 and "BucketNotEmpty" in r.err
    r = ok(cli("rb", f"oss://{fresh_name}", "--force", "--dry-run"))   # says what, sends nothing
    assert "every object and multipart upload" in r.out
    assert len(list(oss2.ObjectIterator(b))) == 5
    ok(cli("rb", f"oss://{fresh_name}", "-f"))
    assert cli("stat", f"oss://{fresh_name}").code == 2


# == URLs, usage errors, client errors ==============================================================
@pytest.mark.parametrize("args", [
    ("ls", "s3://bucket"),
    ("ls", "oss:///key"),
    ("stat", "oss://"),
    ("stat", "oss://Bad_Bucket"),
    ("stat", "oss://ab"),
    ("cat", "oss://some-bucket"),
    ("cat", "bucket/key"),
    ("rm", "oss://some-bucket"),
    ("rb", "oss://some-bucket/key"),
    ("cp", "a.txt", "b.txt"),
    ("cp", "missing-file.txt", "oss://some-bucket/k"),
    ("cat", "oss://some-bucket/k", "--head", "1", "--tail", "1"),
    ("cat", "oss://some-bucket/k", "--head", "-3"),
    ("cp", "x", "oss://some-bucket/k", "--part-size", "1K"),
    ("cp", "x", "oss://some-bucket/k", "--bigfile-threshold", "lots"),
    ("ls", "--no-such-flag"),
])
def test_usage_errors_exit_1(cli, args):
    r = cli(*args)
    assert r.code == 1, r
    assert r.err.startswith("Error: "), r


def test_network_error_exits_3(cli):
    r = cli("ls", "-e", "http://127.0.0.1:1", "--retry-times", "0", "--connect-timeout", "2")
    assert r.code == 3, r
    assert r.err.startswith("Error: ")


# == ls objects =====================================================================================
@pytest.fixture
def tree(bucket):
    bucket.put_object("a.txt", b"alpha")
    bucket.put_object("dir/b.txt", b"bravo!")
    bucket.put_object("dir/sub/c.log", b"charlie")
    append(bucket, "logs/app.log", b"one\n", b"two\n", b"three\n")
    return bucket


def test_ls_long_format_shows_appendable(cli, tree):
    name = tree.bucket_name
    r = ok(cli("ls", f"oss://{name}"))
    lines = r.out.splitlines()
    header = lines[0].split()
    assert header == ["LastModifiedTime", "Size(B)", "StorageClass", "ETAG", "ObjectType", "ObjectName"]
    rows = {line.split()[-1]: line.split() for line in lines[1:] if line.startswith("20")}
    assert set(rows) == {f"oss://{name}/{k}" for k in ("a.txt", "dir/b.txt", "dir/sub/c.log", "logs/app.log")}
    app = rows[f"oss://{name}/logs/app.log"]
    assert app[-2] == "Appendable" and app[-5] == str(len(b"one\ntwo\nthree\n"))
    assert rows[f"oss://{name}/a.txt"][-2] == "Normal"
    assert rows[f"oss://{name}/a.txt"][-4] == "Standard"
    assert "Object Number is: 4" in r.out
    assert lines[-1].endswith("(s) elapsed")


def test_ls_short_dirs_limit_prefix_filters(cli, tree):
    name = tree.bucket_name
    short = ok(cli("ls", "-s", f"oss://{name}", "-q")).out.splitlines()
    assert short == [f"oss://{name}/a.txt", f"oss://{name}/dir/b.txt", f"oss://{name}/dir/sub/c.log",
                     f"oss://{name}/logs/app.log", "Object Number is: 4"]
    d = ok(cli("ls", "-d", f"oss://{name}", "-q")).out.splitlines()
    assert d == [f"oss://{name}/a.txt", f"oss://{name}/dir/", f"oss://{name}/logs/",
                 "Object and Directory Number is: 3"]
    d2 = ok(cli("ls", "--dirs", f"oss://{name}/dir/", "-q")).out.splitlines()
    assert d2 == [f"oss://{name}/dir/b.txt", f"oss://{name}/dir/sub/", "Object and Directory Number is: 2"]
    lim = ok(cli("ls", "-s", "--limited-num", "2", f"oss://{name}", "-q")).out.splitlines()
    assert lim == [f"oss://{name}/a.txt", f"oss://{name}/dir/b.txt", "Object Number is: 2"]
    pre = ok(cli("ls", "-s", f"oss://{name}/dir", "-q")).out.splitlines()
    assert pre[-1] == "Object Number is: 2"
    inc = ok(cli("ls", "-s", f"oss://{name}", "--include", "*.txt", "-q")).out.splitlines()
    assert inc == [f"oss://{name}/a.txt", f"oss://{name}/dir/b.txt", "Object Number is: 2"]
    exc = ok(cli("ls", "-s", f"oss://{name}", "--exclude", "*.txt", "--exclude", "logs/*", "-q")).out
    assert exc.splitlines() == [f"oss://{name}/dir/sub/c.log", "Object Number is: 1"]
    after = ok(cli("ls", "-s", f"oss://{name}", "--start-after", "dir/sub/c.log", "-q")).out.splitlines()
    assert after == [f"oss://{name}/logs/app.log", "Object Number is: 1"]


def test_ls_json_and_yaml(cli, tree):
    name = tree.bucket_name
    doc = json.loads(ok(cli("ls", f"oss://{name}", "--output-format", "json", "-q")).out)
    assert doc["ObjectNumber"] == 4
    by_key = {o["Key"]: o for o in doc["Objects"]}
    assert by_key["logs/app.log"]["ObjectType"] == "Appendable"
    assert by_key["logs/app.log"]["Size"] == 14
    assert by_key["a.txt"]["Url"] == f"oss://{name}/a.txt" and by_key["a.txt"]["ETag"]
    doc = json.loads(ok(cli("ls", "-d", f"oss://{name}", "--output-format", "json", "-q")).out)
    assert doc["Directories"] == [f"oss://{name}/dir/", f"oss://{name}/logs/"]
    assert doc["ObjectAndDirectoryNumber"] == 3
    y = yaml.safe_load(ok(cli("ls", f"oss://{name}", "--output-format", "yaml", "-q")).out)
    assert y["ObjectNumber"] == 4
    q = ok(cli("ls", f"oss://{name}", "--output-query", "Objects[?ObjectType=='Appendable'].Key", "-q")).out
    assert json.loads(q) == ["logs/app.log"]


def test_ls_missing_bucket_exits_2(cli):
    r = cli("ls", "oss://no-such-bucket-" + uuid.uuid4().hex[:8])
    assert r.code == 2 and "NoSuchBucket" in r.err


def test_ls_and_rm_multipart_uploads(cli, bucket):
    name = bucket.bucket_name
    ids = {k: bucket.init_multipart_upload(k).upload_id for k in ("up/a", "up/b", "keep")}
    r = ok(cli("ls", "-m", f"oss://{name}"))
    assert "UploadId Number is: 3" in r.out and ids["up/a"] in r.out
    doc = json.loads(ok(cli("ls", "-m", f"oss://{name}/up/", "--output-format", "json", "-q")).out)
    assert sorted(u["Key"] for u in doc["Uploads"]) == ["up/a", "up/b"]
    bucket.put_object("up/obj", b"stays")
    ok(cli("rm", "-m", "-r", "-f", f"oss://{name}/up/"))
    left = [u.key for u in oss2.MultipartUploadIterator(bucket)]
    assert left == ["keep"]
    assert bucket.object_exists("up/obj")                       # -m touches uploads only
    ok(cli("rm", "-m", f"oss://{name}/keep"))                   # one key, no -r needed
    assert list(oss2.MultipartUploadIterator(bucket)) == []


# == stat object ====================================================================================
def test_stat_object_headers_and_json(cli, bucket):
    name = bucket.bucket_name
    bucket.append_object("app.log", 0, b"hello ", headers={"x-oss-meta-owner": "ops"})
    bucket.append_object("app.log", 6, b"world")
    r = ok(cli("stat", f"oss://{name}/app.log"))
    attrs = {}
    for line in r.out.splitlines():
        if " : " in line or line.rstrip().endswith(":"):
            k, _, v = line.partition(":")
            attrs[k.strip()] = v.strip()
    assert attrs["Content-Length"] == "11"
    assert attrs["X-Oss-Object-Type"] == "Appendable"
    assert attrs["X-Oss-Next-Append-Position"] == "11"
    assert attrs["X-Oss-Meta-Owner"] == "ops"
    assert attrs["X-Oss-Hash-Crc64ecma"]
    assert attrs["Etag"] and '"' not in attrs["Etag"]
    assert "Last-Modified" in attrs and "ACL" in attrs
    assert "X-Oss-Request-Id" not in attrs and "Date" not in attrs
    doc = json.loads(ok(cli("stat", f"oss://{name}/app.log", "--output-format", "json", "-q")).out)
    assert doc["X-Oss-Next-Append-Position"] == "11" and doc["X-Oss-Object-Type"] == "Appendable"
    assert doc["Content-Length"] == "11"


def test_stat_missing_object_exits_2(cli, bucket):
    r = cli("stat", f"oss://{bucket.bucket_name}/nope")
    assert r.code == 2, r
    assert r.err.startswith("Error: ") and "404" in r.err
    assert r.out == ""


# == cat ============================================================================================
def test_cat_text_binary_and_ranges(cli, bucket):
    name = bucket.bucket_name
    bucket.put_object("t.txt", b"0123456789")
    r = ok(cli("cat", f"oss://{name}/t.txt"))
    assert r.raw == b"0123456789" and r.err.strip().endswith("(s) elapsed")   # the trailer is not data
    data = bytes(range(256)) * 40
    bucket.put_object("bin", data)
    assert ok(cli("cat", "-q", f"oss://{name}/bin")).raw == data
    assert ok(cli("cat", "-q", f"oss://{name}/t.txt", "--head", "3")).raw == b"012"
    assert ok(cli("cat", "-q", f"oss://{name}/t.txt", "--tail", "4")).raw == b"6789"
    assert ok(cli("cat", "-q", f"oss://{name}/t.txt", "--tail", "40")).raw == b"0123456789"
    assert ok(cli("cat", "-q", f"oss://{name}/t.txt", "--offset", "2", "--count", "5")).raw == b"23456"
    assert ok(cli("cat", "-q", f"oss://{name}/t.txt", "--offset", "7")).raw == b"789"
    assert ok(cli("cat", "-q", f"oss://{name}/t.txt", "--offset", "70")).raw == b""
    assert ok(cli("cat", "-q", f"oss://{name}/bin", "--offset", "1000", "--count", "300")).raw == data[1000:1300]
    bucket.put_object("empty", b"")
    assert ok(cli("cat", "-q", f"oss://{name}/empty")).raw == b""


def test_cat_appendable_after_several_appends(cli, bucket):
    name = bucket.bucket_name
    chunks = [b"first\n", b"\x00\x01binary\xff\n", b"third line\n", b"x" * 70000]
    append(bucket, "log", *chunks)
    assert ok(cli("cat", "-q", f"oss://{name}/log")).raw == b"".join(chunks)
    assert ok(cli("cat", "-q", f"oss://{name}/log", "--tail", "5")).raw == b"x" * 5
    bucket.append_object("log", sum(map(len, chunks)), b"more")
    assert ok(cli("cat", "-q", f"oss://{name}/log", "--tail", "4")).raw == b"more"


def test_cat_missing_exits_2(cli, bucket):
    r = cli("cat", f"oss://{bucket.bucket_name}/nope")
    assert r.code == 2 and "NoSuchKey" in r.err


# == rm =============================================================================================
def test_rm_single_recursive_filters_and_confirmation(cli, bucket):
    name = bucket.bucket_name
    for k in ("one", "p/a.txt", "p/b.txt", "p/c.log", "p/q/d.txt", "pz"):
        bucket.put_object(k, b"v")
    ok(cli("rm", f"oss://{name}/one"))
    assert not bucket.object_exists("one")
    ok(cli("rm", f"oss://{name}/one"))                           # a missing key is not an error (204)

    r = cli("rm", "-r", f"oss://{name}/p/")                      # no -f, stdin not a terminal
    assert r.code == 1 and "--force" in r.err
    assert bucket.object_exists("p/a.txt")

    r = ok(cli("rm", "-r", "-f", "--dry-run", f"oss://{name}/p/"))      # says what, sends nothing
    assert f"every object under oss://{name}/p/" in r.out and bucket.object_exists("p/a.txt")

    r = ok(cli("rm", "-r", "-f", f"oss://{name}/p/", "--include", "*.txt", "--exclude", "q/*"))
    assert "removed 2 objects" in r.out
    left = sorted(o.key for o in oss2.ObjectIterator(bucket))
    assert left == ["p/c.log", "p/q/d.txt", "pz"]

    ok(cli("rm", "-r", "-f", f"oss://{name}/p/"))
    assert sorted(o.key for o in oss2.ObjectIterator(bucket)) == ["pz"]


def test_rm_recursive_many_objects_in_batches(cli, bucket):
    name = bucket.bucket_name
    keys = [f"many/{i:05d}" for i in range(1100)]                # more than one 1000-key batch
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: bucket.put_object(k, b""), keys))
    r = ok(cli("rm", "-r", "-f", f"oss://{name}/many/"))
    assert "Total 1100 objects, removed 1100 objects" in r.out
    assert list(oss2.ObjectIterator(bucket, prefix="many/")) == []


def test_rm_partial_batch_failure_exits_4(server, bucket, tmp_path, monkeypatch, capsys):
    """A DeleteMultipleObjects batch that fails: the run goes on and ends with exit 4."""
    import alibabacloud_oss_v2 as oss

    from ossbox.cli import main
    name = bucket.bucket_name
    for k in ("x/1", "x/2"):
        bucket.put_object(k, b"v")
    for k, v in cli_env(server, tmp_path).items():
        monkeypatch.setenv(k, v)
    real = oss.Client.delete_multiple_objects

    def flaky(self, request, **kwargs):
        if any(o.key == "x/2" for o in request.objects):
            raise oss.exceptions.OperationError(name="DeleteMultipleObjects",
                                                error=OSError("connection reset by peer"))
        return real(self, request, **kwargs)
    monkeypatch.setattr(oss.Client, "delete_multiple_objects", flaky)
    monkeypatch.setattr("ossbox.cli.batch_delete.DELETE_BATCH", 1)
    assert main(["rm", "-r", "-f", f"oss://{name}/x/"]) == 4
    captured = capsys.readouterr()
    assert "Error: " in captured.err and "x/2" in captured.err
    assert "failed 1" in captured.out
    assert sorted(o.key for o in oss2.ObjectIterator(bucket)) == ["x/2"]


# == cp =============================================================================================
def test_cp_upload_download_round_trip_and_overwrite_rules(cli, bucket, tmp_path):
    name = bucket.bucket_name
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello world\n")
    r = ok(cli("cp", src, f"oss://{name}/"))
    assert r.out.startswith("Success: Total 1 file, size 12 B, Upload done:(1 objects, 12 B)")
    assert r.out.rstrip().endswith("(s) elapsed")
    assert bucket.get_object("hello.txt").read() == b"hello world\n"
    assert r.err == ""                                          # no progress bar without a TTY

    ok(cli("cp", src, f"oss://{name}/dir/renamed.txt", "--no-progress", "--metadata", "a=1,b=2"))
    head = bucket.head_object("dir/renamed.txt")
    assert head.headers["x-oss-meta-a"] == "1" and head.headers["x-oss-meta-b"] == "2"

    src.write_bytes(b"changed\n")
    r = ok(cli("cp", src, f"oss://{name}/hello.txt", "--ignore-existing"))   # exists: skipped
    assert "Skipped: 1" in r.out
    assert bucket.get_object("hello.txt").read() == b"hello world\n"
    ok(cli("cp", src, f"oss://{name}/hello.txt"))              # no terminal to ask: overwrites
    assert bucket.get_object("hello.txt").read() == b"changed\n"
    ok(cli("cp", "-f", src, f"oss://{name}/hello.txt"))
    assert bucket.get_object("hello.txt").read() == b"changed\n"

    old = tmp_path / "old.txt"
    old.write_bytes(b"stale")
    os.utime(old, (1_000_000_000, 1_000_000_000))               # 2001: older than the object
    r = ok(cli("cp", "-u", old, f"oss://{name}/hello.txt"))
    assert "Skipped: 1" in r.out and bucket.get_object("hello.txt").read() == b"changed\n"
    bucket.put_object("fresh.txt", b"x")
    new = tmp_path / "new.txt"
    new.write_bytes(b"newer")
    os.utime(new, (4_000_000_000, 4_000_000_000))               # far future: newer than the object
    ok(cli("cp", "-u", new, f"oss://{name}/fresh.txt"))
    assert bucket.get_object("fresh.txt").read() == b"newer"

    out = tmp_path / "down"
    r = ok(cli("cp", f"oss://{name}/hello.txt", f"{out}/"))
    assert "Download done:(1 files, 8 B)" in r.out
    assert (out / "hello.txt").read_bytes() == b"changed\n"
    r = ok(cli("cp", "--ignore-existing", f"oss://{name}/dir/renamed.txt", out / "hello.txt"))
    assert "Skipped: 1" in r.out and (out / "hello.txt").read_bytes() == b"changed\n"
    ok(cli("cp", f"oss://{name}/dir/renamed.txt", out / "hello.txt"))   # no terminal: overwrites
    assert (out / "hello.txt").read_bytes() == b"hello world\n"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    r = ok(cli("cp", "-q", f"oss://{name}/hello.txt", "-"))   # to stdout
    assert r.raw == b"changed\n"
    r = ok(cli("cp", "-", f"oss://{name}/from-stdin", stdin=b"piped\x00bytes"))
    assert bucket.get_object("from-stdin").read() == b"piped\x00bytes"


def test_cp_big_file_multipart_round_trip(cli, bucket, tmp_path):
    name = bucket.bucket_name
    data = os.urandom(1_500_000)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    r = ok(cli("cp", src, f"oss://{name}/big.bin", "--bigfile-threshold", "1M", "--part-size", "256K"))
    assert "Upload done:(1 objects, 1.43 MiB)" in r.out
    head = bucket.head_object("big.bin")
    assert head.headers["x-oss-object-type"] == "Multipart"
    assert head.etag.endswith("-6")                             # ceil(1.5 MB / 256 KiB) parts
    assert bucket.get_object("big.bin").read() == data

    ok(cli("cp", src, f"oss://{name}/simple.bin"))              # below the default 100M threshold
    assert bucket.head_object("simple.bin").headers["x-oss-object-type"] == "Normal"

    dst = tmp_path / "got.bin"
    ok(cli("cp", f"oss://{name}/big.bin", dst, "--bigfile-threshold", "1M", "--part-size", "300K"))
    assert dst.read_bytes() == data
    dst2 = tmp_path / "got2.bin"
    ok(cli("cp", f"oss://{name}/big.bin", dst2))
    assert dst2.read_bytes() == data

    r = ok(cli("cp", f"oss://{name}/big.bin", f"oss://{name}/copies/big.bin", "--bigfile-threshold", "1M",
               "--part-size", "512K"))
    assert "Copy done:(1 objects, 1.43 MiB)" in r.out
    assert bucket.head_object("copies/big.bin").headers["x-oss-object-type"] == "Multipart"
    assert bucket.get_object("copies/big.bin").read() == data


def test_cp_recursive_upload_download_copy(cli, bucket, tmp_path):
    name = bucket.bucket_name
    src = tmp_path / "src"
    files = {"a.txt": b"a", "sub/b.txt": b"bb", "sub/deep/c.log": b"ccc", "sub/deep/d.txt": os.urandom(5000)}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    r = ok(cli("cp", "-r", src, f"oss://{name}/up"))
    assert r.out.startswith("Success: Total 4 files, size 4.89 KiB, Upload done:(4 objects")
    assert sorted(o.key for o in oss2.ObjectIterator(bucket)) == sorted(f"up/{k}" for k in files)

    r = cli("cp", src, f"oss://{name}/x/")                      # a directory needs -r
    assert r.code == 1

    ok(cli("cp", "-r", "-j", "2", src, f"oss://{name}/txt/", "--include", "*.txt"))
    assert sorted(o.key for o in oss2.ObjectIterator(bucket, prefix="txt/")) == \
        ["txt/a.txt", "txt/sub/b.txt", "txt/sub/deep/d.txt"]

    down = tmp_path / "down"
    r = ok(cli("cp", "-r", f"oss://{name}/up/", down))
    assert "Download done:(4 files" in r.out
    for rel, data in files.items():
        assert (down / rel).read_bytes() == data

    r = ok(cli("cp", "-r", f"oss://{name}/up/sub/", f"oss://{name}/copied/"))
    assert "Copy done:(3 objects" in r.out
    assert bucket.get_object("copied/deep/d.txt").read() == files["sub/deep/d.txt"]

    r = ok(cli("cp", f"oss://{name}/up/a.txt", f"oss://{name}/single/"))
    assert bucket.get_object("single/a.txt").read() == b"a"
    assert cli("cp", f"oss://{name}/up/a.txt", f"oss://{name}/up/a.txt").code == 1
    assert cli("cp", f"oss://{name}/up/", str(tmp_path / "nope")).code == 1   # a prefix needs -r

    r = ok(cli("cp", "-r", "-n", src, f"oss://{name}/dry/"))
    assert r.out.count("(dry run) would upload") == 4
    assert list(oss2.ObjectIterator(bucket, prefix="dry/")) == []


def test_cp_partial_failure_exits_4(cli, bucket, tmp_path):
    name = bucket.bucket_name
    src = tmp_path / "src"
    src.mkdir()
    (src / "good1.txt").write_bytes(b"1")
    (src / "good2.txt").write_bytes(b"2")
    os.symlink(tmp_path / "does-not-exist", src / "broken.txt")
    r = cli("cp", "-r", src, f"oss://{name}/p/")
    assert r.code == 4, r
    assert "Failed: 1" in r.out and "Upload done:(2 objects" in r.out
    assert "broken.txt" in r.err and r.err.startswith("Error: ")
    assert sorted(o.key for o in oss2.ObjectIterator(bucket)) == ["p/good1.txt", "p/good2.txt"]


def test_cp_single_failures_exit_2(cli, bucket, tmp_path):
    r = cli("cp", f"oss://{bucket.bucket_name}/nope", tmp_path / "x")
    assert r.code == 2 and "NoSuchKey" in r.err
    f = tmp_path / "f"
    f.write_bytes(b"x")
    r = cli("cp", f, "oss://no-such-bucket-" + uuid.uuid4().hex[:8] + "/k", "-f")
    assert r.code == 2 and "NoSuchBucket" in r.err


def _read_pty(master: int) -> bytes:
    """Everything written to a pseudo-terminal until its other side closes."""
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the writer has gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return seen


def test_cp_progress_bar_only_on_a_terminal(server, bucket, tmp_path):
    src = tmp_path / "p.bin"
    src.write_bytes(os.urandom(600_000))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "cp", str(src), f"oss://{bucket.bucket_name}/p.bin",
                             "--bigfile-threshold", "200K", "--part-size", "100K"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=cli_env(server, tmp_path))
    os.close(slave)
    seen = _read_pty(master)
    out = proc.stdout.read().decode()
    assert proc.wait(30) == 0
    text = seen.decode("utf-8", "replace")
    assert "100.00%" in text and "\r" in text and "1/1 files" in text and "/s" in text
    assert "Success: Total 1 file" in out and "%" not in out  # stdout keeps only the summary

    master, slave = pty.openpty()                               # --no-progress: nothing on stderr
    proc = subprocess.Popen([sys.executable, "-m", "ossbox", "cp", "-f", "--no-progress", str(src),
                             f"oss://{bucket.bucket_name}/p.bin"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=cli_env(server, tmp_path))
    os.close(slave)
    seen = _read_pty(master)
    proc.stdout.read()
    assert proc.wait(30) == 0 and seen == b""
