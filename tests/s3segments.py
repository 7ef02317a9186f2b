"""Pointing `ossbox server --data s3://...` at a test S3 store (tests/s3test.py's moto, tests/rgw.py's
Ceph RGW): the store's bucket, a fresh key prefix per caller, and the credentials' environment."""
from __future__ import annotations

import uuid

STORE_BUCKET = "ossbox-segments"


def segment_store_args(s3, bucket: str = STORE_BUCKET) -> tuple[str, dict]:
    """(--data URL under a fresh prefix of `bucket`, environment with the store's credentials);
    makes the bucket unless an earlier test of the session did."""
    try:
        s3.create_bucket(bucket)
    except Exception:  # noqa: BLE001  (made by an earlier test of the session)
        pass
    url = f"s3://{bucket}/t-{uuid.uuid4().hex[:12]}?endpoint={s3.endpoint}&region={s3.region}"
    return url, {"AWS_ACCESS_KEY_ID": s3.access_key_id, "AWS_SECRET_ACCESS_KEY": s3.secret_access_key}
