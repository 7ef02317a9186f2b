"""S3 stores for the tests: what every one offers (an obstore client, presigned URLs, buckets), and
moto's in-process server as the fast fake. The real one, a private Ceph RGW, is tests/rgw.py.

moto honours If-None-Match/If-Match but is not the proof of anything (it ignores
x-amz-write-offset-bytes and overwrites, ../shared/spec/scaleout.md); it keeps the fast suite fast."""
from __future__ import annotations

import pytest


class S3Endpoint:
    """An S3 endpoint with one set of credentials; subclasses set endpoint/keys/region."""
    endpoint = ""
    access_key_id = ""
    secret_access_key = ""
    region = "us-east-1"

    def s3_store(self, bucket: str, **options):
        """An obstore S3Store for `bucket` (path-style, plain HTTP, no retries: a test wants to see
        the first failure, not obstore's default of retrying for up to 180 s)."""
        from obstore.store import S3Store
        return S3Store(bucket, endpoint=self.endpoint, access_key_id=self.access_key_id,
                       secret_access_key=self.secret_access_key, region=self.region,
                       virtual_hosted_style_request=False, client_options={"allow_http": True},
                       retry_config={"max_retries": 0}, **options)

    def presigned(self, method: str, bucket: str, key: str = "") -> str:
        """A presigned URL (SigV4 in the query string, only `host` signed, so any other header may be
        added) for one request; with key '' it names the bucket itself."""
        import datetime

        import obstore
        return obstore.sign(self.s3_store(bucket), method, key, datetime.timedelta(minutes=10))

    def create_bucket(self, bucket: str) -> None:
        # obstore has no CreateBucket call: a presigned PUT on the bucket's URL is one
        import urllib.request
        req = urllib.request.Request(self.presigned("PUT", bucket), method="PUT", data=b"")
        urllib.request.urlopen(req, timeout=30).close()


class MotoS3(S3Endpoint):
    """moto's S3 in a thread of this process, on 127.0.0.1 and a free port."""
    access_key_id = "moto-test-key"
    secret_access_key = "moto-test-secret"

    def __init__(self):
        from moto.server import ThreadedMotoServer
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="session")
def moto_s3():
    pytest.importorskip("moto.server", reason="moto (the test extra) is not installed")
    pytest.importorskip("obstore", reason="the s3 extra (obstore) is not installed")
    server = MotoS3()
    yield server
    server.stop()
