"""`oss://bucket[/key]` URLs, validated locally (a bad URL is a usage error, exit 1)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .settings import UsageError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class OssUrl:
    bucket: Optional[str]
    key: str = ""

    def __str__(self) -> str:
        return f"oss://{self.bucket or ''}" + (f"/{self.key}" if self.key else "")

    def of(self, key: str) -> str:
        return f"oss://{self.bucket}/{key}"


def is_oss(text: str) -> bool:
    return text[:6].lower() == "oss://"


def parse_url(text: str, *, need_bucket: bool = True, need_key: bool = False,
              no_key: bool = False) -> OssUrl:
    """`oss://bucket[/key]`, validated locally (a bad URL is a usage error, exit 1)."""
    if not is_oss(text):
        raise UsageError(f"invalid OSS URL '{text}': expected oss://bucket[/key]")
    bucket, _, key = text[6:].partition("/")
    if not bucket:
        if need_bucket or key:
            raise UsageError(f"invalid OSS URL '{text}': the bucket name is missing (oss://bucket[/key])")
        return OssUrl(None)
    if not _BUCKET_RE.match(bucket):
        raise UsageError(f"invalid bucket name '{bucket}' in '{text}': 3 to 63 lowercase letters, digits "
                         "or '-', starting and ending with a letter or digit")
    if key.startswith(("/", "\\")):
        raise UsageError(f"invalid object name in '{text}': a key cannot start with '/' or '\\'")
    if len(key.encode("utf-8")) > 1023:
        raise UsageError(f"invalid object name in '{text}': a key is at most 1023 bytes")
    if need_key and not key:
        raise UsageError(f"'{text}' names a bucket; this command needs an object: oss://bucket/key")
    if no_key and key:
        raise UsageError(f"'{text}' names an object; this command takes a bucket: oss://bucket")
    return OssUrl(bucket, key)
