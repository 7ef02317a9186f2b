"""Which failures of oss2's suite (compat/run_oss2_suite.py) are not ossbox's to fix.

Each entry: (test id pattern, failure-detail regex or None, category, reason). The id is pytest's
`file.py::Class::test` (fnmatch pattern); the detail is the one line the runner shows (OSS status and
Code, or the exception). A failure matching no entry is *ours*. Categories:
  cloud-only  needs an Alibaba Cloud service or host: cloud KMS, IMM image processing, STS
              AssumeRole/ECS RAM role, a hard-coded *.aliyuncs.com endpoint, an RTMP live channel
  client      a test of the SDK itself that fails on this machine whatever the server does
Keep each reason precise enough for someone to check it; prefer a detail regex where the same
test can also fail for a reason of ours.
"""
from __future__ import annotations

import fnmatch
import re

CLOUD, CLIENT = "cloud-only", "client"

# the same for every test: a failure that is the test reaching a cloud host or the cloud SDK
_DNS = r"gaierror|Name or service not known|NameResolutionError|Failed to resolve"

TABLE: list[tuple[str, str | None, str, str]] = [
    # --- cloud KMS: oss2.AliKMSProvider and the KMS SDK call kms.<region>.aliyuncs.com ---
    ("*", r"host='kms\.[\w.-]*aliyuncs\.com'", CLOUD,
     "cloud KMS: the test's CryptoBucket uses AliKMSProvider (kms.<region>.aliyuncs.com)"),
    ("*", r"aliyunsdkcore|SDK\.InvalidCredential|SDK\.HttpError", CLOUD,
     "the Alibaba Cloud SDK core called a cloud service (KMS or STS)"),
    # --- any test: a hard-coded public endpoint (DNS of *.aliyuncs.com fails here) ---
    ("*", _DNS, CLOUD, "reaches a hard-coded *.aliyuncs.com endpoint (DNS lookup fails off the cloud)"),
    ("*", r"ConnectionPool\(host='(?!127\.0\.0\.1')", CLOUD,
     "connects to a host other than the local server: a hard-coded <bucket>.oss-<region>.aliyuncs.com"),
    ("test_crypto.py::*kms*", None, CLOUD, "cloud KMS (AliKMSProvider encrypts data keys with kms.aliyuncs.com)"),
    ("test_crypto_object.py::*kms*", None, CLOUD, "cloud KMS (AliKMSProvider)"),
    ("test_crypto_multipart.py::*kms*", None, CLOUD, "cloud KMS (AliKMSProvider)"),
    # --- STS AssumeRole / ECS RAM role: credentials from the cloud's STS or an ECS metadata server ---
    ("test_credentials_provider.py::*", None, CLOUD,
     "STS AssumeRole against sts.aliyuncs.com / ECS RAM role metadata server (OSS_TEST_STS_* unset)"),
    ("test_sts.py::*", None, CLOUD, "STS AssumeRole against sts.aliyuncs.com (OSS_TEST_STS_* unset)"),
    # --- image processing (IMM / x-oss-process image styles) ---
    ("test_image.py::*", None, CLOUD, "image processing (x-oss-process=image/...: IMM)"),
    ("test_object.py::TestObject::test_process_object", None, CLOUD, "image processing (x-oss-process)"),
    ("test_object_request_payment.py::*::test_process_object", None, CLOUD,
     "image processing (x-oss-process image/resize|sys/saveas)"),
    ("test_crypto_object.py::*::test_crypto_process_object", None, CLOUD,
     "image processing (x-oss-process image/resize|sys/saveas)"),
    ("test_object.py::TestObject::test_async_process_object", None, CLOUD,
     "asynchronous processing (x-oss-async-process: IMM)"),
    # --- hard-coded public endpoints / cloud-side routes ---
    ("test_async_fetch_task.py::*", None, CLOUD,
     "async fetch task against the hard-coded oss-cn-hangzhou.aliyuncs.com endpoint"),
    ("test_bucket_replication.py::*", None, CLOUD,
     "cross-region replication: a second bucket at <region>.aliyuncs.com and a RAM role ARN"),
    ("test_write_get_object_response.py::*", None, CLOUD,
     "WriteGetObjectResponse to a hard-coded Object FC access point route (*.oss-object-process.aliyuncs.com)"),
    ("test_live_channel.py::*", None, CLOUD, "live channels: RTMP ingest and HLS playback on the cloud"),
    ("test_iterator.py::*::test_live_channel_iterator", None, CLOUD, "live channels (RTMP ingest)"),
    # --- services of the cloud's image and data-indexing platform ---
    ("test_bucket_style.py::*", None, CLOUD, "image-processing styles (x-oss-process=style/...: IMM)"),
    ("test_bucket_meta_query.py::*", None, CLOUD, "MetaQuery: the cloud's data-indexing service"),
    # --- the cloud's own catalogue: DescribeRegions answers ossbox's one region (--region) ---
    ("test_bucket_describe_regions.py::*::test_describe_regions_normal", r"AssertionError: False is not true",
     CLOUD, "expects Alibaba Cloud's region catalogue (oss-cn-chengdu); a local server describes its own"
     " region only (DescribeRegions of an unknown region is still tested: test_describe_regions_exception)"),
    # --- tests of the SDK that cannot pass against any local endpoint ---
    ("test_api_base.py::TestApiBase::test_ip", None, CLIENT,
     "resolves OSS_TEST_ENDPOINT as a bare host name: a host:port endpoint never resolves"),
    ("test_object.py::TestObject::test_*timeout", r"RequestError not raised", CLIENT,
     "expects a 1 ms connect timeout to expire: a loopback connect is faster (a cloud endpoint is not)"),
    ("test_api_base.py::TestApiBase::test_check_endpoint", r"Port could not be cast", CLIENT,
     "oss2 parses OSS_TEST_ENDPOINT + '\\' itself: with a port in the endpoint urllib raises ValueError"
     " before oss2's ClientError (no request is sent)"),
    ("test_access_point.py::*", r"region should not be None in signature version 4", CLIENT,
     "the test builds a Bucket without a region: oss2 will not sign V4 without one (no request is sent)"),
    ("test_utils.py::TestUtils::*zh_CN_locale", r"locale\.Error", CLIENT, "the zh_CN locale is not installed here"),
    ("test_proxy.py::*", None, CLIENT, "expects a proxy error from localhost:8888 (whatever listens there)"),
]


def classify_failure(test_id: str, detail: str) -> tuple[str, str]:
    """(category, reason) of a failure that is not ossbox's, or ("", "") when it is ours."""
    for pattern, detail_re, category, reason in TABLE:
        if fnmatch.fnmatchcase(test_id, pattern) and (detail_re is None or re.search(detail_re, detail or "")):
            return category, reason
    return "", ""
