"""The one error catalogue: every OSS error ossbox can answer, as (status, Code, Message, EC).

Every layer raises `OssError` built from an entry here; the HTTP layer renders it (XML body, or the
`x-oss-err` header for HEAD). The (status, Code) pairs are the ones oss2 maps to its exception
classes, so callers that `except oss2.exceptions.PositionNotEqualToLength` keep working.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    code: str
    message: str
    ec: str = ""

    def __call__(self, message: str | None = None, *, ec: str | None = None,
                 headers: dict[str, str] | None = None, **details: object) -> "OssError":
        """Build an error from this entry; `details` become extra XML elements (e.g. Key=...)."""
        return OssError(self, message, ec=ec, headers=headers, details=details)


class OssError(Exception):
    def __init__(self, spec: ErrorSpec, message: str | None = None, *, ec: str | None = None,
                 headers: dict[str, str] | None = None, details: dict[str, object] | None = None):
        self.spec = spec
        self.status = spec.status
        self.code = spec.code
        self.message = message or spec.message
        self.ec = spec.ec if ec is None else ec
        self.headers = dict(headers or {})
        self.details = {k: v for k, v in (details or {}).items() if v is not None}
        super().__init__(f"{self.status} {self.code}: {self.message}")


E = ErrorSpec  # short alias for the table below

# --- request shape / arguments -----------------------------------------------------------------
InvalidArgument = E(400, "InvalidArgument", "Invalid argument.", "0016-00000001")
MissingArgument = E(400, "MissingArgument", "Missing Some Required Arguments.", "0016-00000501")
InvalidPosition = E(400, "MissingArgument", "Missing Some Required Arguments.", "0016-00000502")
AppendVersionId = E(400, "InvalidArgument", "AppendObject does not support the versionId parameter.",
                    "0016-00000504")
AppendColdArchive = E(400, "InvalidArgument",
                      "Appendable objects cannot use the ColdArchive or DeepColdArchive storage class.",
                      "0016-00000503")
InvalidStorageClass = E(400, "InvalidArgument", "Invalid storage class.", "0017-00000132")
EmptyStorageClass = E(400, "InvalidArgument", "The storage class must not be empty.", "0017-00000131")
InvalidObjectAcl = E(400, "InvalidArgument", "no such object access control exists", "0017-00000105")
InvalidBucketAcl = E(400, "InvalidArgument", "no such bucket access control exists", "0015-00000204")
InvalidTagging = E(400, "InvalidArgument",
                   "The header 'x-oss-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
                   "parameters without tag name duplicates.", "0010-00000217")
InvalidTag = E(400, "InvalidTag", "The TagKey or TagValue you have provided is invalid.", "0010-00000219")
TooManyTags = E(400, "InvalidTag", "Object tags cannot be greater than 10.", "0010-00000218")
DuplicateTagKey = E(400, "InvalidTag", "Tag keys must be unique.", "0010-00000217")
BadRequest = E(400, "BadRequest", "Bad request.", "0016-00000002")
# PostObject's body is not multipart/form-data it can read (OSS's PostObject error table; it
# documents no EC for it: ossbox's pick in the PostObject range).
MalformedPOSTRequest = E(400, "MalformedPOSTRequest", "The body of your POST request is not well-formed "
                         "multipart/form-data.", "0006-00000101")
MalformedXML = E(400, "MalformedXML", "The XML you provided was not well-formed or did not validate "
                 "against our published schema.", "0016-00000608")
# A JSON input (admin body, policy document) nested deeper than ossbox parses; OSS documents no EC
# for it, so this one is ossbox's pick.
# SelectObject (ops/select): refused before the response starts; a data error found after output
# was sent travels in the end frame instead, as "Code.Message" with the same status.
SelectEmptyExpression = E(400, "InvalidArgument", "The Expression of the SelectRequest is empty.",
                          "0016-00000823")
SelectInvalidSql = E(400, "InvalidArgument", "The SQL statement is invalid.", "0016-00000803")
SelectDataError = E(400, "InvalidArgument", "The object's data does not match the request.",
                    "0016-00000801")
JsonTooDeep = E(400, "InvalidArgument", "The JSON document is nested too deeply.", "0016-00000510")
MissingContentMD5 = E(400, "InvalidDigest", "Missing required header for this request: Content-MD5.",
                      "0016-00000606")
DeleteWithoutObjects = E(400, "MalformedXML", "The Delete request must name at least one Object.",
                         "0016-00000615")
DeleteObjectWithoutKey = E(400, "MalformedXML", "Every Object in a Delete request needs a Key.",
                           "0016-00000613")
InvalidContinuationToken = E(400, "InvalidArgument", "The continuation token provided is incorrect.",
                             "0016-00000404")
InvalidDigest = E(400, "InvalidDigest", "The Content-MD5 you specified was invalid.", "0017-00000502")
BadDigest = E(400, "InvalidDigest", "The Content-MD5 you specified did not match what we received.",
              "0017-00000503")
InvalidCRC64 = E(400, "InvalidCRC64", "The x-oss-hash-crc64ecma you specified does not match what we "
                 "calculated.", "0017-00000505")
MissingContentLength = E(411, "MissingContentLength", "You must provide the Content-Length HTTP header.",
                         "0016-00000103")
IncompleteBody = E(400, "IncompleteBody", "You did not provide the number of bytes specified by the "
                   "Content-Length HTTP header.", "0016-00000104")
# Code and Message are OSS's (AppendObject error table); OSS documents no EC for it: ossbox's pick.
# Answered for a stalled body (--body-timeout) and an unfinished request head (--header-timeout).
RequestTimeout = E(400, "RequestTimeout", "Your socket connection to the server was not read from or "
                   "written to within the timeout period. Idle connections will be closed.", "0016-00000105")
EntityTooLarge = E(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.",
                   "0016-00000106")
AppendTooLarge = E(400, "InvalidArgument", "The object size after appending would exceed the 5 GB limit.",
                   "0026-00000018")
EntityTooSmall = E(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.",
                   "0042-00000205")
InvalidObjectName = E(400, "InvalidObjectName", "The specified object is not valid.", "0016-00000005")
InvalidBucketName = E(400, "InvalidBucketName", "The specified bucket is not valid.", "0015-00000001")
# Real OSS never sees a Host its DNS did not route to it, so it documents no error for one; the
# code is the generic InvalidArgument and the EC is ossbox's choice in the general request range.
UnknownHost = E(400, "InvalidArgument", "The Host header names no bucket or endpoint this server "
                "understands.", "0016-00000009")
InvalidEncryptionAlgorithm = E(400, "InvalidEncryptionAlgorithmError",
                               "The Encryption request you specified is not valid. Supported value: "
                               "AES256/SM4/KMS.", "0016-00000701")
InvalidDataEncryptionAlgorithm = E(400, "InvalidDataEncryptionAlgorithmError",
                                   "The KMS Data Encryption request you specified is not valid. "
                                   "Supported value:SM4", "0016-00000702")
# ossbox's built-in KMS. OSS documents no error for a missing or disabled customer key that an
# SDK could map, so these are ossbox's choices (docs/architecture.md, "Encryption at rest"): a bad
# key id in the request is the request's fault (400), a disabled key forbids use of its data (403).
KmsKeyNotFound = E(400, "InvalidArgument", "The specified KMS key does not exist.", "")
KmsKeyDisabled = E(403, "KmsKeyDisabled", "The KMS key is disabled: data encrypted under it cannot be "
                   "read or written until the key is enabled again.", "")
InvalidRange = E(416, "InvalidRange", "The requested range cannot be satisfied.", "0016-00000203")
InvalidMaxKeys = E(400, "InvalidArgument", "max-keys must be an integer between 0 and 1000.",
                   "0016-00000402")
InvalidEncodingType = E(400, "InvalidArgument", "The encoding-type you specified is not valid.",
                        "0016-00000403")
InvalidPartNumber = E(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, "
                      "inclusive.", "0042-00000001")
InvalidPart = E(400, "InvalidPart", "One or more of the specified parts could not be found or the "
                "specified entity tag might not have matched the part's entity tag.", "0042-00000206")
InvalidPartOrder = E(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts "
                     "must be ordered by part number.", "0042-00000207")
TooManyDeleteObjects = E(400, "MalformedXML", "The number of objects to delete exceeds 1000.",
                         "0016-00000609")
RequestHeaderTooLarge = E(400, "RequestHeaderSectionTooLarge", "Your request header section exceeds the "
                          "maximum allowed size.", "0016-00000108")
MetadataTooLarge = E(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed "
                     "metadata size.", "0016-00000107")
InvalidCopySource = E(400, "InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "/sourcebucket/sourcekey.", "0017-00000802")
# Upload callbacks (ops/callback.py). Messages are OSS's where its pages quote them; OSS's EC is
# known only for a callback answer that is not JSON (0007-00000205).
InvalidCallback = E(400, "InvalidArgument", "The callback configuration is not json format.", "")
CallbackFailed = E(203, "CallbackFailed", "The callback could not be delivered.", "")
CallbackBodyNotJson = E(203, "CallbackFailed", "Response body is not valid json format.", "0007-00000205")
InvalidVersionId = E(400, "InvalidArgument", "Invalid version id specified", "0012-00000202")
EmptyDeleteVersionId = E(400, "InvalidArgument", "The VersionId of an object to delete must not be empty.",
                         "0016-00000612")
CopySourceDeleteMarker = E(400, "InvalidArgument", "The version of the copy source is a delete marker.",
                           "0016-00000307")
CopyAppendableVersioned = E(400, "InvalidArgument",
                            "An appendable object in a versioned bucket cannot be a copy source.")
InvalidVersioningStatus = E(400, "MalformedXML", "The versioning Status must be Enabled or Suspended.")
InvalidLocationConstraint = E(400, "InvalidLocationConstraint", "The specified location-constraint "
                              "is not valid.", "0015-00000102")
TooManyBuckets = E(400, "TooManyBuckets", "You have attempted to create more buckets than allowed.",
                   "0015-00000105")

# --- state conflicts ---------------------------------------------------------------------------
PositionNotEqualToLength = E(409, "PositionNotEqualToLength", "Position is not equal to file length",
                             "0026-00000016")
ObjectNotAppendable = E(409, "ObjectNotAppendable", "The object is not appendable", "0026-00000017")
# SealAppendObject's codes. OSS's SealAppendObject page lists 409 AppendSealedObjectNotAllowed for
# sealing an object that is not Appendable; the v2 Python SDK's own integration test
# (tests/integration/test_client.py test_seal_append_object) expects 400 AppendSealedObjectNotAllowed
# for an append to a sealed object. OSS documents no EC for either: these are ossbox's, next to
# ObjectNotAppendable's.
ObjectSealed = E(400, "AppendSealedObjectNotAllowed", "The object is sealed and cannot be appended to.",
                 "0026-00000019")
SealNotAppendable = E(409, "AppendSealedObjectNotAllowed", "The SealAppendObject operation is performed "
                      "on a non-Appendable Object.", "0026-00000020")
FileAlreadyExists = E(409, "FileAlreadyExists", "The object you specified already exists and can not "
                      "be overwritten.", "0017-00000901")
BucketAlreadyExists = E(409, "BucketAlreadyExists", "The requested bucket name is not available. The "
                        "bucket namespace is shared by all users of the system. Please select a "
                        "different name and try again.", "0015-00000104")
BucketStorageClassConflict = E(409, "BucketAlreadyExists", "Cannot modify existing bucket's storage "
                               "class.", "0015-00000106")
BucketNotEmpty = E(409, "BucketNotEmpty", "The bucket has objects. Please delete them first.",
                   "0015-00000301")
InvalidObjectState = E(403, "InvalidObjectState", "The operation is not valid for the object's state.",
                       "0016-00000901")
RestoreAlreadyInProgress = E(409, "RestoreAlreadyInProgress", "The restore operation is in progress.",
                             "0016-00000701")
RestoreNotSupported = E(400, "OperationNotSupported", "The operation is not supported for this resource.",
                        "0016-00000702")
InvalidRestoreDays = E(400, "MalformedXML", "The Days in the RestoreRequest is not valid for the "
                       "object's storage class.", "0016-00000708")
InvalidRestoreRequest = E(400, "MalformedXML", "The RestoreRequest contains a node that is not "
                          "supported.", "0016-00000714")
# OSS's EC page 0016-00000703 (a Tier other than Expedited, Standard, Bulk); oss2's
# test_restore_object_with_wrong_request expects InvalidArgument
InvalidRestoreTier = E(400, "InvalidArgument", "The Tier in the RestoreRequest is not valid.", "0016-00000703")
PreconditionFailed = E(412, "PreconditionFailed", "At least one of the pre-conditions you specified "
                       "did not hold.", "0016-00000204")
NotModified = E(304, "NotModified", "Not Modified", "")
# Bucket retention policy (WORM). Codes: oss2's exceptions (NoSuchWORMConfiguration 404,
# WORMConfigurationLocked 403, InvalidWORMConfiguration 400) and Java's OSSErrorCode.FILE_IMMUTABLE;
# ECs: OSS's EC pages 0026-00000005 (a protected object), 0027-00000009 (no policy), 0027-00000003
# (versioning enabled), 0012-00000006 (PutBucketVersioning with a policy). The others are ossbox's
# picks in the 0027- (WORM) series; docs/bucket-configs.md.
FileImmutable = E(409, "FileImmutable", "The object you specified is immutable.", "0026-00000005")
NoSuchWORMConfiguration = E(404, "NoSuchWORMConfiguration", "The WORM Configuration does not exist.",
                            "0027-00000009")
WORMConfigurationLocked = E(403, "WORMConfigurationLocked", "The WORM Configuration is locked.",
                            "0027-00000010")
InvalidWORMConfiguration = E(400, "InvalidWORMConfiguration", "The WORM Configuration is invalid.",
                             "0027-00000011")
WormWithVersioning = E(400, "InvalidWORMConfiguration", "A retention policy cannot be configured for a "
                       "bucket that has versioning enabled.", "0027-00000003")
VersioningWithWorm = E(409, "InvalidBucketState", "Versioning cannot be enabled for a bucket that has a "
                       "retention policy.", "0012-00000006")
# The other bucket settings (docs/bucket-configs.md). Codes from oss2's tests and exceptions
# (NoSuchTransferAccelerationConfiguration, BucketCallbackPolicyNotExist, NeedVerifyDomainOwnership,
# ResourceGroupIdPreCheckError, the resource pool message); OSS documents no EC for these: the ECs
# are ossbox's picks.
NoSuchTransferAccelerationConfiguration = E(404, "NoSuchTransferAccelerationConfiguration",
                                            "The bucket transfer acceleration configuration does not exist.",
                                            "0048-00000001")
BucketCallbackPolicyNotExist = E(404, "BucketCallbackPolicyNotExist", "The bucket callback policy does not "
                                 "exist.", "0049-00000001")
NeedVerifyDomainOwnership = E(409, "NeedVerifyDomainOwnership", "You need to verify the domain ownership. "
                              "Publish the token of CreateCnameToken as the TXT record _dnsauth.<domain>.",
                              "0047-00000001")
CnameTokenNotFound = E(404, "NoSuchCnameToken", "The cname token does not exist.", "0047-00000002")
ResourceGroupIdPreCheckError = E(400, "ResourceGroupIdPreCheckError", "The resource group does not exist "
                                 "in this account.", "0050-00000001")
AccessMonitorInUse = E(409, "AccessMonitorDisableNotAllowed", "Access tracking cannot be disabled while a "
                       "lifecycle rule of the bucket uses last access times.", "0051-00000001")
NoSuchResourcePool = E(404, "NoSuchResourcePool", "The specified resource pool does not exist.",
                       "0052-00000001")
RedundancyTransitionExists = E(409, "BucketDataRedundancyTransitionTaskAlreadyExist", "The bucket already "
                               "has a data redundancy transition task.", "0053-00000001")
NoSuchRedundancyTransition = E(404, "BucketDataRedundancyTransitionTaskNotExist", "The data redundancy "
                               "transition task does not exist.", "0053-00000002")
RedundancyTransitionNotDeletable = E(409, "BucketDataRedundancyTransitionTaskCannotDelete", "Only a "
                                     "queueing data redundancy transition task can be deleted.",
                                     "0053-00000003")

# --- missing things ----------------------------------------------------------------------------
NoSuchBucket = E(404, "NoSuchBucket", "The specified bucket does not exist.", "0015-00000101")
NoSuchKey = E(404, "NoSuchKey", "The specified key does not exist.", "0026-00000001")
NoSuchUpload = E(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be "
                 "invalid, or the upload may have been aborted or completed.", "0042-00000002")
NoSuchVersion = E(404, "NoSuchVersion", "The specified version does not exist.", "0026-00000002")
NoSuchServerSideEncryptionRule = E(404, "NoSuchServerSideEncryptionRule",
                                   "The server side encryption configuration was not found.", "")
# OSS's DescribeRegions page lists NoSuchRegion (404) with no EC.
NoSuchRegion = E(404, "NoSuchRegion", "The specified region does not exist.", "")
# Symlinks: OSS's error pages 0026-00000012 (target missing), 0043-00000101 (GetSymlink of an
# object that is no symlink), 0043-00000001 (PutSymlink without x-oss-symlink-target).
SymlinkTargetNotExist = E(404, "SymlinkTargetNotExist", "The symlink target object does not exist.",
                          "0026-00000012")
NotSymlink = E(400, "NotSymlink", "The specified object is not a symlink.", "0043-00000101")
MissingSymlinkTarget = E(400, "MissingArgument", "Missing Some Required Arguments.", "0043-00000001")
# A symlink to a symlink is never followed; OSS documents the target "cannot be a symlink"
# (oss2's put_symlink docstring) without naming the read error: ossbox answers this one.
InvalidTargetType = E(400, "InvalidTargetType", "The symlink target object type is not supported.", "")
# EC: ossbox's pick in the bucket-configuration range (none found in OSS's EC pages).
NoSuchCORSConfiguration = E(404, "NoSuchCORSConfiguration", "The CORS configuration does not exist.",
                             "0015-00000901")
NoSuchTagSet = E(404, "NoSuchTagSet", "There is no tag set associated with the bucket.", "0015-00000801")

# Bucket tags (PutBucketTags): OSS's own limits, wider than object tags' (UTF-8 allowed).
InvalidBucketTag = E(400, "InvalidTag", "The TagKey or TagValue you have provided is invalid.", "0010-00000219")
InvalidBucketTagPrefix = E(400, "InvalidTag", "The tag key must not start with http://, https://, Aliyun "
                           "or acs:.", "0010-00000207")
TooManyBucketTags = E(400, "InvalidTag", "Bucket tags cannot be greater than 20.", "0010-00000218")
# CORS: a preflight (OPTIONS) that no rule allows. Code and message as OSS answers them (OSS's
# "403 troubleshooting" page); the ECs are ossbox's picks.
CorsNotEnabled = E(403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", "0006-00000001")
CorsNotAllowed = E(403, "AccessForbidden", "CORSResponse: This CORS request is not allowed. This is usually "
                   "because the evalution of Origin, request method / Access-Control-Request-Method or "
                   "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                   "0006-00000002")
# Hotlink protection (PutBucketReferer); the ECs are OSS's, one per reason.
RefererEmptyDenied = E(403, "AccessDenied", "You are denied by bucket referer policy.", "0003-00000501")
RefererBlacklisted = E(403, "AccessDenied", "You are denied by bucket referer policy.", "0003-00000502")
RefererNotAllowed = E(403, "AccessDenied", "You are denied by bucket referer policy.", "0003-00000503")

# --- auth --------------------------------------------------------------------------------------
AccessDenied = E(403, "AccessDenied", "You have no right to access this object because of bucket acl.",
                 "0003-00000001")
AnonymousDenied = E(403, "AccessDenied", "You are forbidden to access this resource anonymously.",
                    "0003-00000001")
AccessDeniedByPolicy = E(403, "AccessDenied", "Access denied by bucket policy.", "0003-00000204")
AccessDeniedByRam = E(403, "AccessDenied", "Access denied by authorizer's policy.", "0003-00000201")
AccessDeniedByAcl = E(403, "AccessDenied", "You have no right to access this object because of bucket acl.",
                      "0003-00000001")
AccessDeniedRequesterPay = E(403, "AccessDenied", "Access denied for requester pay bucket",
                             "0003-00000703")
AccessDeniedAnonymous = E(403, "AccessDenied", "Anonymous user has no right to access this bucket.",
                          "0003-00000005")
# OSS documents that public permissions "cannot be configured" while Block Public Access is on
# without naming the error; ossbox answers 403 AccessDenied (as S3 does for the same refusal).
PublicAccessBlocked = E(403, "AccessDenied", "Public access is blocked: public ACLs and public bucket "
                        "policies cannot be configured while Block Public Access is enabled.", "")
InvalidPolicyDocument = E(400, "InvalidPolicyDocument", "The content of the policy document is invalid.",
                          "0031-00000001")
NoSuchBucketPolicy = E(404, "NoSuchBucketPolicy", "The bucket policy does not exist.", "0031-00000002")
# bucket website, logging and inventory (ops/website.py, ops/bucket_logging.py, ops/inventory.py)
NoSuchWebsite = E(404, "NoSuchWebsiteConfiguration", "The specified bucket does not have a website "
                  "configuration.", "")
InvalidTargetBucketForLogging = E(400, "InvalidTargetBucketForLogging", "The target bucket for logging "
                                  "does not exist, is not owned by you or is not in the same region.", "")
NoSuchInventory = E(404, "NoSuchInventory", "The inventory configuration does not exist.", "")
InventoryAlreadyExist = E(409, "InventoryAlreadyExist", "The inventory configuration with this Id "
                          "already exists.", "0020-00000042")
TooManyInventory = E(400, "InvalidArgument", "A bucket has at most 1000 inventory configurations.", "")
# GetBucketLifecycle on a bucket without rules (OSS's message; its EC is not documented)
NoSuchLifecycle = E(404, "NoSuchLifecycle", "No Row found in Lifecycle Table.")
# one rule whose Expiration and Transitions mix Days with dates (oss2's test_lifecycle_storage_transitions_mixed)
LifecycleMixedTimes = E(400, "InvalidRequest", "Found mixed CreatedBeforeDate and Days based Expiration and "
                        "Transition actions in a lifecycle rule.")
InvalidSecurityToken = E(403, "InvalidSecurityToken", "The security token you provided is invalid.",
                         "0002-00000030")
SecurityTokenExpired = E(403, "SecurityTokenExpired", "The security token you provided has expired.",
                         "0002-00000031")
EntityNotExist = E(404, "EntityNotExist", "The specified entity does not exist.", "")
EntityAlreadyExists = E(409, "EntityAlreadyExists", "The specified entity already exists.", "")
InvalidAccessKeyId = E(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in "
                       "our records.", "0002-00000902")
SignatureDoesNotMatch = E(403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                          "match the signature you provided. Check your key and signing method.",
                          "0002-00000040")
RequestTimeTooSkewed = E(403, "RequestTimeTooSkewed", "The difference between the request time and "
                         "the current time is too large.", "0002-00000504")
RequestExpired = E(403, "AccessDenied", "Request has expired.", "0002-00000069")
MissingDate = E(403, "AccessDenied", "AWS authentication requires a valid Date or x-oss-date header.",
                "0002-00000502")
InvalidAuthorization = E(400, "InvalidArgument", "Authorization header is invalid.", "0002-00000001")
MissingQueryAuth = E(403, "AccessDenied", "Query string authentication requires the Signature, Expires "
                     "and OSSAccessKeyId parameters.", "0002-00000222")
# A V4 scope region that is empty, unknown or not this endpoint's. In an Authorization header:
# oss2's test_exception_ec expects exactly this message and EC 0002-00000226. In a presigned URL's
# x-oss-credential: oss2's test_sign_v4_no_region expects "The signing region in credential is
# invalid."; EC 0002-00000228 is the page for a region invalid in a URL signature's Credential.
InvalidSigningRegion = E(400, "InvalidArgument", "Invalid signing region in Authorization header.",
                         "0002-00000226")
InvalidSigningRegionQuery = E(400, "InvalidArgument", "The signing region in credential is invalid.",
                              "0002-00000228")
InvalidSigningRegionPost = E(400, "InvalidArgument", "The signing region in credential is invalid.",
                             "0002-00000715")  # a PostObject form's x-oss-credential
InvalidContentSha256 = E(400, "InvalidArgument", "Invalid x-oss-content-sha256 header.",
                         "0002-00000214")
InvalidExpires = E(400, "InvalidArgument", "x-oss-expires must be between 1 and 604800 seconds.",
                   "0002-00000232")
MissingExpires = E(400, "InvalidArgument", "x-oss-expires is required for a signed URL.", "0002-00000215")
EmptyAdditionalHeaders = E(400, "InvalidArgument", "AdditionalHeaders must not be empty.",
                           "0002-00000209")
BothAuthMethods = E(400, "InvalidArgument", "Only one auth mechanism allowed; only the Authorization "
                    "header or a signature in the query string may be used.", "0002-00000010")
# The admin API (docs/architecture.md "The admin API protocol"). OSS has no such API, so these
# ECs are ossbox's own picks in OSS's form.
AdminNeedsHeaderAuth = E(403, "AccessDenied", "Admin requests must be signed in the Authorization header; "
                         "presigned URLs and query-string signatures are refused.", "0003-00000910")
AdminActionNotSigned = E(403, "AccessDenied", "Admin requests must carry their action in the signed "
                         "x-oss-ossbox-admin header, equal to the x-ossbox-admin query parameter.",
                         "0003-00000911")
AdminUnsignedQuery = E(403, "AccessDenied", "Admin requests take their fields from the signed JSON body "
                       "only; other query parameters are refused.", "0003-00000912")
AdminBodyNotSigned = E(403, "SignatureDoesNotMatch", "The request body does not match the Content-MD5 the "
                       "request was signed with.", "0002-00000041")
AdminRequestReplayed = E(403, "AccessDenied", "This signed admin request was already used; every admin "
                         "request must be signed afresh.", "0003-00000913")

# --- method / feature ---------------------------------------------------------------------------
MethodNotAllowed = E(405, "MethodNotAllowed", "The specified method is not allowed against this "
                     "resource.", "0016-00000301")
NotImplementedOp = E(501, "NotImplemented", "A header or operation you provided implies functionality "
                     "that is not implemented.", "0016-00000302")
LiveChannelNotSupported = E(400, "OperationNotSupported",
                            "LiveChannel (RTMP ingest) is not supported by this server.",
                            "0016-00000513")
InternalError = E(500, "InternalError", "We encountered an internal error. Please try again.",
                  "0000-00000001")
ServiceUnavailable = E(503, "ServiceUnavailable", "Please reduce your request rate.", "0000-00000002")
# More x-ossbox-watch requests pending on one server process than it takes (storage/watch.py,
# MAX_WATCHES): 503 so clients back off and retry, with S3's throttling Code; ossbox's own EC.
TooManyWatches = E(503, "SlowDown", "Too many watches are pending on this server; try again later "
                   "or poll HeadObject instead.", "0000-00000007")
# A commit whose WAL fsync failed (EIO): it may or may not persist, so nothing it references or
# replaced is deleted, and the server accepts no further writes until restarted (PostgreSQL's
# fsync-panic rule). OSS documents no EC for either case: these continue the 0000- server series.
WriteOutcomeUnknown = E(500, "InternalError", "The write was committed but the server could not make it "
                        "durable (storage I/O error): it may or may not persist. The server accepts no "
                        "more writes until it is restarted.", "0000-00000003")
WritesSuspended = E(503, "ServiceUnavailable", "The server stopped accepting writes after a storage I/O "
                    "error (failed fsync); reads still work. Restart the server to recover.",
                    "0000-00000004")
# OSS has no disk-full error (its storage never fills up). 503, not MinIO's 507 XMinioStorageFull:
# the condition is temporary from a client's side (it ends when objects are deleted or space is
# added) and every SDK treats 503 as "try again later" (alibabacloud-oss-v2 and ossutil retry any
# 5xx, the S3 SDKs retry 503 but not 507). A Code of its own tells it apart from throttling; the EC
# is ossbox's own pick, next to ServiceUnavailable's.
StorageFull = E(503, "StorageFull", "The server's disk is full: delete objects (deletes and reads "
                "still work) or add space, then try again.", "0000-00000005")
# A networked metadata database went away during a COMMIT and stayed away longer than the retry
# window, so whether the write took effect cannot be learnt yet. 503 like any other request while
# the database is away (SDKs retry it; an append retried at the same position gets 409 with the
# true length if the first one landed), with a message saying the outcome is unknown. ossbox's EC.
CommitOutcomeUnknown = E(503, "ServiceUnavailable", "The metadata database became unavailable while "
                         "the write was committing: it may or may not have taken effect. Check the "
                         "object before retrying.", "0000-00000006")
