"""Bucket inventory through the official SDKs against a real server: Put/Get/Delete/ListBucketInventory
(OSS's XML, validation errors, paging) and the reports the scheduler writes into the destination
bucket (manifest.json, manifest.checksum, gzipped CSV) in OSS's layout (docs/website.md)."""
import csv
import gzip
import hashlib
import io
import json
import time
from urllib.parse import unquote

import oss2
import pytest
from oss2.models import (INVENTORY_FORMAT_CSV, INVENTORY_FREQUENCY_DAILY, INVENTORY_FREQUENCY_WEEKLY,
                         INVENTORY_INCLUDED_OBJECT_VERSIONS_ALL, INVENTORY_INCLUDED_OBJECT_VERSIONS_CURRENT,
                         InventoryBucketDestination, InventoryConfiguration, InventoryDestination,
                         InventoryFilter, InventorySchedule, InventoryServerSideEncryptionKMS)

import alibabacloud_oss_v2 as v2oss
from conftest import bucket_pair, make_v2_client, v2_error
import pgtest
from pgtest import PG_URL, schema_url
from serverproc import ServerProcess


@pytest.fixture(scope="module")
def inv_server(tmp_path_factory):
    proc = ServerProcess(str(tmp_path_factory.mktemp("ossbox-inventory")),
                         extra_args=["--inventory-interval", "0.5"]).start()
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture
def buckets(inv_server):
    yield from bucket_pair(inv_server.endpoint)


def config(inv_id, dest, *, prefix="dest", versions=INVENTORY_INCLUDED_OBJECT_VERSIONS_CURRENT,
           frequency=INVENTORY_FREQUENCY_DAILY, flt=None, fields=("Size", "ETag"), kms=None, enabled=True):
    return InventoryConfiguration(
        inventory_id=inv_id, is_enabled=enabled, inventory_schedule=InventorySchedule(frequency=frequency),
        included_object_versions=versions, inventory_filter=flt or InventoryFilter(prefix=""),
        optional_fields=list(fields),
        inventory_destination=InventoryDestination(bucket_destination=InventoryBucketDestination(
            account_id="1234", role_arn="acs:ram::1234:role/AliyunOSSRole", bucket=dest, prefix=prefix,
            inventory_format=INVENTORY_FORMAT_CSV,
            sse_kms_encryption=InventoryServerSideEncryptionKMS(kms) if kms else None)))


def put_raw(bucket, inv_id, body: str):
    return bucket._Bucket__do_bucket("PUT", data=body.encode(), params={"inventory": "", "inventoryId": inv_id})


def test_put_get_list_delete(buckets):
    src, dst = buckets
    flt = InventoryFilter("p/", 1637883649, 1638347592, 1024, 1048576, "Standard,IA")
    src.put_bucket_inventory_configuration(config("a1", dst.bucket_name, flt=flt, kms="key-1",
                                                  versions=INVENTORY_INCLUDED_OBJECT_VERSIONS_ALL,
                                                  frequency=INVENTORY_FREQUENCY_WEEKLY))
    got = src.get_bucket_inventory_configuration("a1")
    assert got.inventory_id == "a1" and got.is_enabled is True
    assert got.inventory_schedule.frequency == INVENTORY_FREQUENCY_WEEKLY
    assert got.included_object_versions == INVENTORY_INCLUDED_OBJECT_VERSIONS_ALL
    f = got.inventory_filter
    assert (f.prefix, f.last_modify_begin_time_stamp, f.last_modify_end_time_stamp) == ("p/", "1637883649", "1638347592")
    assert (f.lower_size_bound, f.upper_size_bound, f.storage_class) == ("1024", "1048576", "IA,Standard")
    assert got.optional_fields == ["Size", "ETag"]
    d = got.inventory_destination.bucket_destination
    assert (d.bucket, d.prefix, d.account_id, d.inventory_format) == (dst.bucket_name, "dest", "1234", "CSV")
    assert d.sse_kms_encryption.key_id == "key-1"
    listed = src.list_bucket_inventory_configurations()
    assert [c.inventory_id for c in listed.inventory_configurations] == ["a1"] and listed.is_truncated is False
    src.delete_bucket_inventory_configuration("a1")
    with pytest.raises(oss2.exceptions.NoSuchInventory):
        src.get_bucket_inventory_configuration("a1")
    with pytest.raises(oss2.exceptions.NoSuchInventory):
        src.list_bucket_inventory_configurations()


def test_existing_id_is_409(buckets):
    src, dst = buckets
    src.put_bucket_inventory_configuration(config("dup", dst.bucket_name))
    with pytest.raises(oss2.exceptions.ServerError) as info:
        src.put_bucket_inventory_configuration(config("dup", dst.bucket_name))
    assert info.value.status == 409 and info.value.code == "InventoryAlreadyExist"


def test_list_pages_with_continuation_token_v2(inv_server, buckets):
    src, dst = buckets
    ids = [f"id-{i:03d}" for i in range(101)]
    for i in ids:
        src.put_bucket_inventory_configuration(config(i, dst.bucket_name))
    client = make_v2_client(inv_server.endpoint)
    first = client.list_bucket_inventory(v2oss.models.ListBucketInventoryRequest(bucket=src.bucket_name))
    page1 = first.list_inventory_configurations_result
    assert len(page1.inventory_configurations) == 100 and page1.is_truncated is True
    second = client.list_bucket_inventory(v2oss.models.ListBucketInventoryRequest(
        bucket=src.bucket_name, continuation_token=page1.next_continuation_token))
    page2 = second.list_inventory_configurations_result
    assert [c.id for c in page2.inventory_configurations] == ids[100:] and page2.is_truncated is False
    got = [c.id for c in page1.inventory_configurations] + [c.id for c in page2.inventory_configurations]
    assert got == ids


@pytest.mark.slow  # 1,000 PUTs (~15 s)
def test_at_most_1000_configurations(buckets):
    src, dst = buckets
    for i in range(1000):
        src.put_bucket_inventory_configuration(config(f"c{i}", dst.bucket_name, enabled=False))
    with pytest.raises(oss2.exceptions.ServerError) as info:
        src.put_bucket_inventory_configuration(config("one-more", dst.bucket_name))
    assert info.value.status == 400 and info.value.code == "InvalidArgument"


GOOD = ("<InventoryConfiguration><Id>{id}</Id><IsEnabled>true</IsEnabled>{filter}"
        "<Destination><OSSBucketDestination><Format>{fmt}</Format><AccountId>1</AccountId>"
        "<RoleArn>acs:ram::1:role/r</RoleArn><Bucket>acs:oss:::{dest}</Bucket><Prefix>p</Prefix>{enc}"
        "</OSSBucketDestination></Destination><Schedule><Frequency>{freq}</Frequency></Schedule>"
        "<IncludedObjectVersions>{versions}</IncludedObjectVersions>"
        "<OptionalFields><Field>{field}</Field></OptionalFields></InventoryConfiguration>")


@pytest.mark.parametrize("changes, name", [
    ({"id": "bad id!"}, "Id"),
    ({"id": "x" * 65}, "Id"),
    ({"fmt": "ORC"}, "Format"),
    ({"freq": "Hourly"}, "Frequency"),
    ({"versions": "Some"}, "IncludedObjectVersions"),
    ({"field": "Colour"}, "Field"),
    ({"dest": "no-such-bucket-zz"}, "Bucket"),
    ({"filter": "<Filter><LowerSizeBound>10</LowerSizeBound><UpperSizeBound>5</UpperSizeBound></Filter>"},
     "LowerSizeBound"),
    ({"filter": "<Filter><StorageClass>Standard,Gold</StorageClass></Filter>"}, "StorageClass"),
    ({"enc": "<Encryption><SSE-OSS/><SSE-KMS><KeyId>k</KeyId></SSE-KMS></Encryption>"}, "Encryption"),
])
def test_invalid_configuration(buckets, changes, name):
    src, dst = buckets
    values = {"id": "ok", "filter": "", "fmt": "CSV", "dest": dst.bucket_name, "enc": "", "freq": "Daily",
              "versions": "All", "field": "Size", **changes}
    with pytest.raises(oss2.exceptions.ServerError) as info:
        put_raw(src, values["id"], GOOD.format(**values))
    assert info.value.status == 400 and info.value.code == "InvalidArgument"
    assert info.value.details.get("ArgumentName") == name


def test_id_must_match_parameter(buckets):
    src, dst = buckets
    body = GOOD.format(id="one", filter="", fmt="CSV", dest=dst.bucket_name, enc="", freq="Daily",
                       versions="All", field="Size")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        put_raw(src, "two", body)
    assert info.value.status == 400 and info.value.details.get("ArgumentName") == "inventoryId"


def test_get_missing_v2(inv_server, buckets):
    src, _ = buckets
    client = make_v2_client(inv_server.endpoint)
    err = v2_error(client.get_bucket_inventory,
                   v2oss.models.GetBucketInventoryRequest(bucket=src.bucket_name, inventory_id="none"))
    assert err.status_code == 404 and err.code == "NoSuchInventory"


# -- reports -----------------------------------------------------------------------------------------
def wait_for_manifest(dst, prefix, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = [o.key for o in oss2.ObjectIterator(dst, prefix=prefix) if o.key.endswith("/manifest.json")]
        if keys:
            return sorted(keys)[-1]
        time.sleep(0.2)
    raise AssertionError("no inventory report")


def read_report(dst, manifest_key):
    raw = dst.get_object(manifest_key).read()
    checksum = dst.get_object(manifest_key[: -len("manifest.json")] + "manifest.checksum").read().decode()
    assert checksum == hashlib.md5(raw).hexdigest()
    manifest = json.loads(raw)
    rows = []
    for f in manifest["files"]:
        data = dst.get_object(f["key"]).read()
        assert hashlib.md5(data).hexdigest() == f["MD5checksum"] and len(data) == f["size"]
        rows += list(csv.reader(io.StringIO(gzip.decompress(data).decode())))
    return manifest, rows


def test_report_of_current_objects(buckets):
    src, dst = buckets
    src.put_object("p/small", b"x" * 10)
    src.put_object("p/big", b"y" * 5000)
    src.put_object("p/sub/a b", b"z" * 2000)
    src.put_object("other", b"o" * 2000)
    flt = InventoryFilter(prefix="p/", lower_size_bound=1000)
    src.put_bucket_inventory_configuration(config("daily", dst.bucket_name, prefix="inv", flt=flt,
                                                  fields=("Size", "ETag", "StorageClass")))
    key = wait_for_manifest(dst, f"inv/{src.bucket_name}/daily/")
    manifest, rows = read_report(dst, key)
    assert manifest["sourceBucket"] == src.bucket_name and manifest["destinationBucket"] == dst.bucket_name
    assert manifest["fileFormat"] == "CSV" and manifest["fileSchema"] == "Bucket, Key, Size, ETag, StorageClass"
    assert all(f["key"].startswith(f"inv/{src.bucket_name}/daily/data/") and f["key"].endswith(".csv.gz")
               for f in manifest["files"])
    etag = src.head_object("p/big").etag
    assert sorted(rows) == sorted([
        [src.bucket_name, "p%2Fbig", "5000", etag, "Standard"],
        [src.bucket_name, "p%2Fsub%2Fa%20b", "2000", src.head_object("p/sub/a b").etag, "Standard"]])
    assert unquote(rows[0][1]).startswith("p/")


def test_report_of_all_versions(buckets):
    src, dst = buckets
    src.put_bucket_versioning(oss2.models.BucketVersioningConfig("Enabled"))
    v1 = src.put_object("k", b"1").versionid
    v2 = src.put_object("k", b"22").versionid
    src.put_bucket_inventory_configuration(config("all", dst.bucket_name, prefix="",
                                                  versions=INVENTORY_INCLUDED_OBJECT_VERSIONS_ALL,
                                                  fields=("Size",)))
    manifest, rows = read_report(dst, wait_for_manifest(dst, f"{src.bucket_name}/all/"))
    assert manifest["fileSchema"] == "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size"
    assert sorted(rows) == sorted([[src.bucket_name, "k", v2, "true", "false", "2"],
                                   [src.bucket_name, "k", v1, "false", "false", "1"]])


def test_disabled_configuration_writes_nothing(buckets):
    src, dst = buckets
    src.put_object("a", b"1")
    src.put_bucket_inventory_configuration(config("off", dst.bucket_name, prefix="off", enabled=False))
    src.put_bucket_inventory_configuration(config("on", dst.bucket_name, prefix="on"))
    wait_for_manifest(dst, f"on/{src.bucket_name}/on/")   # a run happened after both were stored
    assert [o.key for o in oss2.ObjectIterator(dst, prefix="off/")] == []


def data_files(dst, prefix):
    return [o.key for o in oss2.ObjectIterator(dst, prefix=prefix) if o.key.endswith(".csv.gz")]


def test_weekly_reports_seven_times_less_often(buckets):
    src, dst = buckets
    src.put_object("a", b"1")
    src.put_bucket_inventory_configuration(config("w", dst.bucket_name, prefix="w",
                                                  frequency=INVENTORY_FREQUENCY_WEEKLY))
    src.put_bucket_inventory_configuration(config("d", dst.bucket_name, prefix="d"))
    deadline = time.monotonic() + 30
    while len(data_files(dst, "d/")) < 9 and time.monotonic() < deadline:
        time.sleep(0.2)
    daily, weekly = len(data_files(dst, "d/")), len(data_files(dst, "w/"))
    # every run reports the Daily one; the Weekly one is due again only 7 runs after its last
    assert daily >= 9 and 1 <= weekly <= 2, (daily, weekly)


# -- several nodes ---------------------------------------------------------------------------------------
pg_schema = pgtest.pg_schema   # a fixture: a fresh PostgreSQL schema


def test_two_nodes_share_the_schedule(tmp_path, pg_schema):
    """Two nodes on one PostgreSQL and one segment store: one claims each run (the shared
    inventory-next-run slot); the report lists every object once, its files all readable."""
    store = tmp_path / "segments"
    store.mkdir()
    args = ["--meta", schema_url(PG_URL, pg_schema), "--data", f"file://{store}", "--inventory-interval", "0.3"]
    nodes = [ServerProcess(str(tmp_path / f"n{i}"), extra_args=args).start() for i in (1, 2)]
    try:
        pair = bucket_pair(nodes[0].endpoint)
        src, dst = next(pair)
        for i in range(5):
            oss2.Bucket(src.auth, nodes[i % 2].endpoint, src.bucket_name).put_object(f"k{i}", b"v")
        src.put_bucket_inventory_configuration(config("multi", dst.bucket_name, prefix="m", fields=("Size",)))
        other = oss2.Bucket(dst.auth, nodes[1].endpoint, dst.bucket_name)
        manifest, rows = read_report(other, wait_for_manifest(other, f"m/{src.bucket_name}/multi/"))
        assert sorted(rows) == [[src.bucket_name, f"k{i}", "1"] for i in range(5)]
        next(pair, None)   # removes the buckets
    finally:
        for n in nodes:
            n.stop()
