"""Authorization, evaluated as OSS documents it.

1. The root account (the owner of every bucket here) may do anything. A pay-by-requester bucket
   refuses anyone else that does not send `x-oss-request-payer: requester`, before any policy.
2. Otherwise every action the request needs is evaluated against the bucket policy and the
   caller's identity policies together: an explicit Deny anywhere denies; else an Allow from either
   allows. An STS session policy must also Allow.
3. With no statement matching, data operations fall back to ACLs: the object's ACL unless it is
   `default`, else the bucket's. public-read allows reads, public-read-write also writes.
   While Block Public Access is on (the bucket's or the global setting), public ACLs and the
   bucket policy's public Allow statements are ignored (OSS's PutBucketPublicAccessBlock page).
4. Anything else is denied. A caller that is not allowed learns nothing about whether the object
   exists. (A missing bucket was already answered NoSuchBucket before authentication, as OSS
   does: docs/architecture.md, "Order of checks".)
"""
from __future__ import annotations

import time
from typing import Iterable, Optional
from urllib.parse import parse_qsl

from .. import errors
from ..wire.request import Request
from .policy import Decision, combine, context_key, evaluate, parse_policy, without_public_statements

# Block Public Access: the bucket's setting (BucketRecord.config) and the global one (a service
# setting of the store, PutPublicAccessBlock).
BUCKET_BLOCK = "public_access_block"
GLOBAL_BLOCK = "public_access_block"

READ_ACTIONS = frozenset({"oss:GetObject", "oss:ListObjects", "oss:ListObjectVersions"})
WRITE_ACTIONS = frozenset({"oss:PutObject", "oss:DeleteObject", "oss:AbortMultipartUpload",
                           "oss:ListParts", "oss:ListMultipartUploads", "oss:RestoreObject"})
_OBJECT_ACL_ACTIONS = READ_ACTIONS | WRITE_ACTIONS
_CACHE_LIMIT = 512


class Authorizer:
    def __init__(self, server):
        self.server = server
        self._parsed: dict[tuple[str, bool, Optional[str]], object] = {}
        self._blocked: dict[int, tuple] = {}  # id(parsed policy) -> (it, its blocked form)

    # -- policies ----------------------------------------------------------------------------------
    def _policy(self, text: str, bucket: Optional[str] = None):

        key = (text, bucket is not None, bucket)
        policy = self._parsed.get(key)
        if policy is None:
            if len(self._parsed) >= _CACHE_LIMIT:
                self._parsed.clear()
            policy = self._parsed[key] = parse_policy(text, bucket_policy=bucket is not None, bucket=bucket)
        return policy

    def _blocked_form(self, policy):
        """The policy as it applies while public access is blocked, derived once per parsed policy
        (the policy itself when it has no public grant): not rebuilt on every request."""
        found = self._blocked.get(id(policy))
        if found is None or found[0] is not policy:
            unblocked = without_public_statements(policy)
            found = self._blocked[id(policy)] = (policy, policy if unblocked.statements == policy.statements
                                                 else unblocked)
            if len(self._blocked) > _CACHE_LIMIT:
                self._blocked.clear()
        return found[1]

    async def public_access_blocked(self, bucket_rec) -> bool:
        """Whether public ACLs and public policy grants are ignored (and refused) for the bucket
        (None: only the global setting counts)."""
        if bucket_rec is not None and bucket_rec.config.get(BUCKET_BLOCK):
            return True
        return await self.server.engine.service_setting(GLOBAL_BLOCK) == "true"

    def is_root(self, req: "Request") -> bool:
        ident = req.identity
        return ident is not None and ident.principal == self.server.owner_id and ident.session_policy is None

    # -- entry points --------------------------------------------------------------------------------
    async def check(self, req: "Request", action: Optional[str]) -> None:
        """Authorize the request's own operation (and tagging when it sends tags)."""
        if action is None or self.is_root(req):
            return
        actions = [action]
        if action == "oss:PutObject" and "x-oss-tagging" in req.headers:
            actions.append("oss:PutObjectTagging")  # AppendObject/PutObject with tags needs both
        for act in actions:
            await self.check_action(req, act, req.bucket, req.key)

    async def check_keys(self, req: "Request", action: str, keys: Iterable[str]) -> None:
        """Authorize one action on several objects (DeleteMultipleObjects): all or nothing."""
        if self.is_root(req):
            return
        for key in keys:
            await self.check_action(req, action, req.bucket, key)

    async def check_action(self, req: "Request", action: str, bucket: Optional[str],
                           key: Optional[str]) -> None:
        if self.is_root(req):
            return

        owner = self.server.owner_id
        if bucket is None:
            resource = f"acs:oss:*:{owner}:*"
        elif key is None:
            resource = f"acs:oss:*:{owner}:{bucket}"
        else:
            resource = f"acs:oss:*:{owner}:{bucket}/{key}"
        ident = req.identity
        principal = ident.principal if ident is not None else None
        context = self._context(req)
        engine = self.server.engine
        if bucket is not None and bucket == req.bucket and req.bucket_record is not None:
            bucket_rec = req.bucket_record
        else:
            bucket_rec = await engine.get_bucket(bucket) if bucket is not None else None
            if bucket == req.bucket and bucket_rec is not None:
                req.bucket_record = bucket_rec  # the operation reads the same record: read it once
        if bucket_rec is not None and principal != owner:
            self._check_request_payer(req, bucket_rec)
        if bucket_rec is not None:
            for k, v in bucket_rec.config.get("tags") or ():  # PutBucketTags: oss:BucketTag/<key> conditions
                context[context_key(f"oss:BucketTag/{k}")] = v

        decisions = []
        denied_by = None
        if bucket_rec is not None and bucket_rec.config.get("policy"):
            policy = self._policy(bucket_rec.config["policy"], bucket)
            blocked_form = self._blocked_form(policy)
            if blocked_form is not policy and await self.public_access_blocked(bucket_rec):
                policy = blocked_form
            d = evaluate(policy, action=action, resource=resource, principal=principal, context=context)
            decisions.append(d)
            if d is Decision.DENY:
                denied_by = errors.AccessDeniedByPolicy
        if ident is not None and principal != owner:
            for _name, text in await engine.iam.list_user_policies(principal):
                d = evaluate(self._policy(text), action=action, resource=resource, principal=principal,
                             context=context)
                decisions.append(d)
                if d is Decision.DENY and denied_by is None:
                    denied_by = errors.AccessDeniedByRam
        if ident is not None and ident.session_policy is not None:
            d = evaluate(self._policy(ident.session_policy), action=action, resource=resource,
                         principal=principal, context=context)
            if d is not Decision.ALLOW:
                raise errors.AccessDeniedByRam("Access denied by the session policy.")
        verdict = combine(decisions)
        if verdict is Decision.DENY:
            raise denied_by()
        if verdict is Decision.ALLOW:
            return
        if ident is not None and principal == owner:
            return  # root through STS: its session policy allowed it
        if action in _OBJECT_ACL_ACTIONS and bucket_rec is not None:
            acl = bucket_rec.acl
            if key is not None:
                obj = await engine.get_object(bucket, key)
                if obj is not None and obj.acl != "default":
                    acl = obj.acl
            if acl == "public-read-write" or (acl == "public-read" and action in READ_ACTIONS):
                if not await self.public_access_blocked(bucket_rec):
                    return
        raise errors.AccessDeniedAnonymous() if ident is None else errors.AccessDeniedByAcl()

    @staticmethod
    def _check_request_payer(req: "Request", bucket_rec) -> None:
        """A pay-by-requester bucket serves others only when they accept the charges
        (x-oss-request-payer: requester, as a header or a presigned URL's query parameter)."""
        if bucket_rec.config.get("request_payer") != "Requester":
            return
        value = req.headers.get("x-oss-request-payer")
        if value is None:
            value = req.query.get("x-oss-request-payer", "")
        if value.strip().lower() != "requester":
            raise errors.AccessDeniedRequesterPay()

    @staticmethod
    def _context(req: "Request") -> dict:
        client = req.scope.get("client") or ("", 0)
        ident = req.identity
        ctx = {
            "acs:sourceip": client[0] if client else "",
            "acs:securetransport": "true" if req.scope.get("scheme") == "https" else "false",
            "acs:useragent": req.headers.get("user-agent", ""),
            "acs:currenttime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "acs:mfapresent": "false",
        }
        if ident is not None:
            ctx["acs:accessid"] = ident.access_key_id
        for name in ("prefix", "delimiter"):
            if name in req.query:
                ctx[f"oss:{name}"] = req.query[name]
        tagging = req.headers.get("x-oss-tagging")
        if tagging:
            for k, v in parse_qsl(tagging, keep_blank_values=True):
                ctx[context_key(f"oss:RequestObjectTag/{k}")] = v
        return ctx
