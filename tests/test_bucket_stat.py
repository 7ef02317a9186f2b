"""GetBucketStat through oss2 and alibabacloud-oss-v2: counts and sizes per storage class,
multipart uploads and parts, delete markers (OSS's GetBucketStat page)."""
import oss2
from oss2.models import BucketVersioningConfig


def test_bucket_stat_counts_what_is_stored(bucket, bucket_name, v2):
    empty = bucket.get_bucket_stat()
    assert (empty.storage_size_in_bytes, empty.object_count, empty.multi_part_upload_count) == (0, 0, 0)

    bucket.put_object("a", b"x" * 100)
    bucket.put_object("b", b"y" * 200)
    bucket.put_object("ia", b"z" * 1000, headers={"x-oss-storage-class": "IA"})
    bucket.put_object("arc", b"w" * 10, headers={"x-oss-storage-class": "Archive"})
    bucket.put_symlink("a", "link")
    upload = bucket.init_multipart_upload("mp").upload_id
    bucket.upload_part("mp", upload, 1, b"p" * 300)
    bucket.upload_part("mp", upload, 2, b"q" * 50)

    stat = bucket.get_bucket_stat()
    assert stat.object_count == 5
    assert stat.storage_size_in_bytes == 100 + 200 + 1000 + 10 + 350
    assert stat.standard_object_count == 3 and stat.standard_storage == 300
    assert stat.infrequent_access_object_count == 1
    assert stat.infrequent_access_real_storage == 1000
    assert stat.infrequent_access_storage == 64 * 1024   # billed: at least 64 KB per object
    assert (stat.archive_object_count, stat.archive_real_storage, stat.archive_storage) == (1, 10, 64 * 1024)
    assert stat.cold_archive_object_count == 0 and stat.deep_cold_archive_object_count == 0
    assert stat.multi_part_upload_count == 1 and stat.multipart_part_count == 2
    assert stat.delete_marker_count == 0
    assert stat.last_modified_time > 0

    import alibabacloud_oss_v2 as oss
    result = v2.get_bucket_stat(oss.GetBucketStatRequest(bucket=bucket_name))
    assert (result.object_count, result.storage) == (5, 1660)
    assert (result.multi_part_upload_count, result.infrequent_access_storage) == (1, 64 * 1024)
    bucket.abort_multipart_upload("mp", upload)


def test_bucket_stat_counts_versions_and_delete_markers(bucket):
    cfg = BucketVersioningConfig()
    cfg.status = "Enabled"
    bucket.put_bucket_versioning(cfg)
    bucket.put_object("k", b"1" * 10)
    bucket.put_object("k", b"2" * 20)
    bucket.delete_object("k")
    stat = bucket.get_bucket_stat()
    assert (stat.object_count, stat.storage_size_in_bytes, stat.delete_marker_count) == (2, 30, 1)


def test_bucket_stat_of_a_missing_bucket(server, oss2_auth):
    missing = oss2.Bucket(oss2_auth, server.endpoint, "no-such-bucket-stat-1")
    try:
        missing.get_bucket_stat()
        raise AssertionError("expected NoSuchBucket")
    except oss2.exceptions.NoSuchBucket:
        pass
