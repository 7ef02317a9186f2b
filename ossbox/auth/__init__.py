"""Request authentication: OSS signature verification (V1, V2, V4; header and presigned URL)."""
from .signature import (
    MAX_SKEW_SECONDS,
    V4_MAX_EXPIRES,
    Credential,
    SignedRequest,
    authenticate,
    presign_v1,
    presign_v4,
    sign_v1_header,
    sign_v2_header,
    sign_v4_header,
    v1_string_to_sign,
    v2_string_to_sign,
    v4_canonical_request,
    v4_string_to_sign,
)

__all__ = [
    "MAX_SKEW_SECONDS", "V4_MAX_EXPIRES", "Credential", "SignedRequest", "authenticate",
    "presign_v1", "presign_v4", "sign_v1_header", "sign_v2_header", "sign_v4_header",
    "v1_string_to_sign", "v2_string_to_sign", "v4_canonical_request", "v4_string_to_sign",
]
