"""Which query keys a V1 signature covers: the SDKs' sub-resource lists and the rule built on them
(docs/architecture.md "What a V1 signature must cover")."""
from __future__ import annotations

# V1 sub-resources.  Each SDK has its own list; a server must accept all of them.
#   oss2          ProviderAuth._subresource_key_set (large, includes some x-oss-* keys)
#   python v2     SignerV1._subresource_key_set + the operation's op_metadata['sub-resource']
#   go v2         requiredSignedParametersMap + the operation's SubResource + ANY "x-oss-*" key
#   java          SignParameters.SIGNED_PARAMTERS (+ "seal" in recent versions)
# Keys that select an operation are signed by every SDK that implements that operation, so they
# are "core".  The uncertain ones are query keys starting with "x-oss-" (Go v2 signs all of them,
# oss2/Java a fixed few, python v2 none unless per-op) and keys nobody lists (a newer SDK's per-op
# sub-resource we don't know); those are "ambiguous" and drive the alternative candidates.
_OSS2_SUB = frozenset((
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link",
    "delete", "website", "location", "objectInfo", "objectMeta", "response-expires",
    "response-content-disposition", "cors", "lifecycle", "restore", "qos", "referer", "stat",
    "bucketInfo", "append", "position", "security-token", "live", "comp", "status", "vod",
    "startTime", "endTime", "x-oss-process", "symlink", "callback", "callback-var", "tagging",
    "encryption", "versions", "versioning", "versionId", "policy", "requestPayment",
    "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer", "sequential",
    "inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend",
    "replication", "replicationLocation", "replicationProgress", "transferAcceleration", "cname",
    "metaQuery", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow", "resourceGroup", "style", "styleName", "x-oss-async-process",
    "regionList", "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig",
    "redundancyTransition", "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid",
    "accessPoint", "accessPointPolicy", "publicAccessBlock", "x-oss-access-point-name",
    "requesterQosInfo", "qosRequester", "resourcePoolInfo", "resourcePool", "resourcePoolBuckets",
))


_PYV2_SUB = frozenset((
    # SignerV1._subresource_key_set (identical to Go v2's requiredSignedParametersMap)
    "acl", "bucketInfo", "location", "stat", "delete", "append", "tagging", "objectMeta",
    "uploads", "uploadId", "partNumber", "security-token", "position", "response-content-type",
    "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "restore", "callback",
    "callback-var", "versions", "versioning", "versionId", "sequential", "continuation-token",
    "regionList", "cloudboxes", "symlink", "resourceGroup",
    # per-operation op_metadata['sub-resource'] values
    "MetaQuery", "accessPoint", "accessPointPolicy", "action", "bucketArchiveDirectRead",
    "cleanRestoredObject", "cname", "comp", "cors", "dataPipeline", "encryption", "httpsConfig",
    "inventory", "inventoryId", "legalHold", "lifecycle", "logging", "metaQuery",
    "metadataConfiguration", "metadataInventoryTable", "metadataJournalTable", "objectWorm",
    "overwriteConfig", "policy", "policyStatus", "publicAccessBlock", "quota",
    "redundancyTransition", "referer", "replication", "replicationLocation",
    "replicationProgress", "requestPayment", "retention", "rtc", "seal", "style", "styleName",
    "transferAcceleration", "userDefinedLogFieldsConfig", "website", "worm", "wormExtend",
    "wormId", "x-oss-access-point-name", "x-oss-redundancy-transition-taskid",
    "x-oss-target-redundancy-type",
))


_JAVA_SUB = frozenset((
    "acl", "uploads", "location", "cors", "logging", "website", "referer", "lifecycle", "delete",
    "append", "tagging", "objectMeta", "uploadId", "partNumber", "security-token", "position",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "img", "style",
    "styleName", "replication", "replicationProgress", "replicationLocation", "cname",
    "bucketInfo", "comp", "qos", "live", "status", "vod", "startTime", "endTime", "x-oss-process",
    "processConfiguration", "symlink", "stat", "udf", "udfName", "udfImage", "udfImageDesc",
    "udfApplication", "udfApplicationLog", "restore", "versions", "versioning", "versionId",
    "encryption", "policy", "requestPayment", "x-oss-traffic-limit", "qosInfo", "asyncFetch",
    "sequential", "x-oss-request-payer", "vpcip", "vip", "inventory", "inventoryId",
    "continuation-token", "worm", "wormId", "wormExtend", "callback", "callback-var", "seal",
))


_ALL_SUB = _OSS2_SUB | _PYV2_SUB | _JAVA_SUB


# The rule for V1 (docs/architecture.md "What a V1 signature must cover"): a query key that selects
# or changes an operation must be in the string-to-sign, so that a captured request cannot be made
# into a different one by adding it. The keys that select operations are sub-resources every SDK
# signs (core).  Of the x-oss-* keys, those the server interprets are required to be signed too:
# oss2, Java and Go v2 sign them; python v2 sends them as headers, never in the query.
# (x-oss-process is not among them: python v2 sends it unsigned on GetObject, where ossbox ignores
# it. On POST it selects SelectObject / CreateSelectObjectMeta, but only when no other sub-resource
# is present, and a POST to an object with no sub-resource is never a valid request: adding it to a
# captured request cannot turn that request into another one.)
# x-oss-target-redundancy-type / x-oss-redundancy-transition-taskid (data redundancy transitions)
# are in oss2's and python v2's lists, and Go v2 signs every x-oss-* key.
_V1_INTERPRETED = frozenset(("x-oss-traffic-limit", "x-oss-request-payer", "x-oss-target-redundancy-type",
                             "x-oss-redundancy-transition-taskid"))
_CORE_SUB = frozenset(k for k in _ALL_SUB if not k.startswith("x-oss-")) | _V1_INTERPRETED


# Query keys no SDK signs in V1 (so they never make a request ambiguous).
_V1_PLAIN = frozenset((
    "OSSAccessKeyId", "Expires", "Signature", "prefix", "marker", "max-keys", "delimiter",
    "encoding-type", "list-type", "start-after", "fetch-owner", "key-marker", "upload-id-marker",
    "max-uploads", "max-parts", "part-number-marker", "version-id-marker", "bid", "tag-key",
    "tag-value", "rule-id", "category", "mode", "wildcard", "regions", "playlistName", "since",
    "tail", "max-results", "next-token",
))
