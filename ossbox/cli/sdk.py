"""The SDK as the high-level commands use it: imported on first use (so `ossbox --help` and
`ossbox server` start without it), its paginated listings, and its failures unwrapped and reported."""
from __future__ import annotations

from typing import Optional

from .output import EXIT_CLIENT, EXIT_SERVICE, EXIT_USAGE, error_text, print_error
from .settings import UsageError, unreachable_message


def sdk():
    import alibabacloud_oss_v2 as oss
    return oss


def service_error(exc: BaseException):
    """The SDK ServiceError inside exc (through OperationError / UploadError / ...), or None."""
    oss = sdk()
    for _ in range(6):
        if isinstance(exc, oss.exceptions.ServiceError):
            return exc
        unwrap = getattr(exc, "unwrap", None)
        if unwrap is None:
            return None
        inner = unwrap()
        if inner is None or inner is exc:
            return None
        exc = inner
    return None


def is_not_found(exc: BaseException) -> bool:
    err = service_error(exc)
    return err is not None and getattr(err, "status_code", None) == 404


def brief(exc: BaseException) -> str:
    """One line for a failed item of a batch."""
    err = service_error(exc)
    if err is not None:
        return (f"{getattr(err, 'code', '')}: {getattr(err, 'message', '')} (Http Status Code: "
                f"{getattr(err, 'status_code', '')}, Request Id: {getattr(err, 'request_id', '')})")
    unreachable = unreachable_message(exc)
    if unreachable is not None:
        return unreachable
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return " ".join(str(exc).split()) or exc.__class__.__name__


def fail(exc: BaseException) -> int:
    """Print a non-batch failure and give its exit status (2 service, 1 usage, 3 otherwise)."""
    if isinstance(exc, UsageError):
        print_error(str(exc))
        return EXIT_USAGE
    err = service_error(exc)
    oss = sdk()
    if err is not None:
        shown = exc if isinstance(exc, oss.exceptions.OperationError) else err
        print_error(error_text(shown))
        return EXIT_SERVICE
    print_error(brief(exc))
    return EXIT_CLIENT


def iter_objects(client, bucket: str, prefix: str = "", delimiter: Optional[str] = None,
                 start_after: Optional[str] = None, page_size: int = 1000):
    """(objects, common prefixes) page by page through the SDK's ListObjectsV2 paginator."""
    oss = sdk()
    req = oss.models.ListObjectsV2Request(bucket=bucket, prefix=prefix or None, delimiter=delimiter,
                                          start_after=start_after or None, max_keys=page_size)
    for page in client.list_objects_v2_paginator().iter_page(req):
        yield list(page.contents or ()), [p.prefix for p in (page.common_prefixes or ())]


def iter_uploads(client, bucket: str, prefix: str = ""):
    oss = sdk()
    req = oss.models.ListMultipartUploadsRequest(bucket=bucket, prefix=prefix or None, max_uploads=1000)
    for page in client.list_multipart_uploads_paginator().iter_page(req):
        yield from page.uploads or ()
