"""Request authentication: OSS signature verification (V1, V2, V4; header and presigned URL)."""
from .signature import authenticate
from .signature_v4 import V4_MAX_EXPIRES
from .signed_request import MAX_SKEW_SECONDS, Credential, SignedRequest

__all__ = ["MAX_SKEW_SECONDS", "V4_MAX_EXPIRES", "Credential", "SignedRequest", "authenticate"]
