"""Who a request claims to be, and the credential that can prove it.

Signature verification needs the secret of the AccessKeyId the request names. Keys live in the
metadata store (RAM-style users) or are the root pair, so the server looks up the one claimed key
before verifying; the verifier never sees any other secret.
"""
from __future__ import annotations

from typing import Optional


def claimed_access_key(headers: dict[str, str], query: dict[str, str]) -> Optional[str]:
    """The AccessKeyId named by the Authorization header or a presigned URL, if any."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, rest = auth.strip().partition(" ")
        rest = rest.strip()
        if scheme == "OSS":
            return rest.rpartition(":")[0].strip() or None
        if scheme == "OSS2":
            for item in rest.split(","):
                name, _, value = item.strip().partition(":")
                if name.strip() == "AccessKeyId":
                    return value.strip() or None
            return None
        if scheme == "OSS4-HMAC-SHA256":
            for item in rest.split(","):
                name, _, value = item.strip().partition("=")
                if name.strip() == "Credential":
                    return value.strip().split("/", 1)[0] or None
        return None
    if "OSSAccessKeyId" in query:
        return query["OSSAccessKeyId"] or None
    if "x-oss-access-key-id" in query:
        return query["x-oss-access-key-id"] or None
    if "x-oss-credential" in query:
        return query["x-oss-credential"].split("/", 1)[0] or None
    return None


def header_signature(headers: dict[str, str]) -> Optional[str]:
    """The signature of an Authorization header, in the one form the verifier accepts it in
    (scheme + value; V4's hex lower-cased), so a reformatted header is still the same signature.
    Only meaningful once the request verified."""
    auth = (headers.get("authorization") or "").strip()
    scheme, _, rest = auth.partition(" ")
    rest = rest.strip()
    sig = ""
    if scheme == "OSS":
        sig = rest.rpartition(":")[2].strip()
    elif scheme in ("OSS2", "OSS4-HMAC-SHA256"):
        sep = ":" if scheme == "OSS2" else "="
        for item in rest.split(","):
            name, _, value = item.partition(sep)
            if name.strip() == "Signature":
                sig = value.strip()
        if scheme != "OSS2":
            sig = sig.lower()
    return scheme + " " + sig if sig else None
