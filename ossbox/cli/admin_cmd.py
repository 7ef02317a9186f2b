"""`ossbox admin ...`: manage users, keys, policies, STS and KMS keys on a running ossbox server.

Each command is one admin API request, sent and signed by the official SDK with the root
credentials from the usual settings (-i/-k, OSS_* env, config file): a POST to the service with
`?x-ossbox-admin=<Action>`, the action again in the signed `x-oss-ossbox-admin` header, the fields
as a JSON body with its Content-MD5 (signed by every signature version), and a random nonce header
so that two identical commands within a second are still two requests (the server serves each
signature once). The JSON answer is printed (--output-format json/yaml/xml, --output-query, -q as
elsewhere). The protocol is described in docs/architecture.md ("The admin API protocol").
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
from typing import Any

from .output import EXIT_OK, EXIT_SERVICE, Printer, print_error
from .settings import Settings, UsageError, make_client

ADMIN_PARAM = "x-ossbox-admin"
ADMIN_HEADER = "x-oss-ossbox-admin"
NONCE_HEADER = "x-oss-ossbox-nonce"


def _opt_text(value: str, flag: str) -> str:
    from .api import option_text
    text = option_text(value)
    if not text.strip():
        raise UsageError(f"{flag} must not be empty")
    return text


def _json_text(value: str, flag: str) -> str:
    text = _opt_text(value, flag)
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} must be a JSON document: {exc}")
    return text


def build_input(action: str, fields: dict, method: str = "POST"):
    """One admin request, bound to its action and body in every signature version."""
    from alibabacloud_oss_v2.types import OperationInput
    body = json.dumps(fields, ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode("ascii"),
        ADMIN_HEADER: action,
        NONCE_HEADER: secrets.token_hex(16),
    }
    return OperationInput(op_name=f"Admin{action}", method=method, parameters={ADMIN_PARAM: action},
                          headers=headers, body=body)


def call(settings: Settings, action: str, fields: dict) -> Any:
    """Send one admin request; the decoded JSON answer (service errors raise, as the SDK does)."""
    out = make_client(settings).invoke_operation(build_input(action, fields))
    response = out.http_response
    raw = b""
    if response is not None:
        raw = response.content if response.is_stream_consumed else response.read()
    if not raw:
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw.decode("utf-8", "replace")


def _run(action: str, fields_of):
    def run(args: argparse.Namespace, settings: Settings) -> int:
        fields = fields_of(args)
        printer = Printer(settings)
        if settings.dry_run:
            from .api import describe
            op = build_input(action, fields)
            printer.write_text(describe(op))
            printer.finish()
            return EXIT_OK
        doc = call(settings, action, fields)
        printer.document(doc, raw=json.dumps(doc, indent=2, ensure_ascii=False))
        printer.finish()
        return EXIT_OK
    return run


def _duration(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {value!r}")


_METAVARS = {"target_key": "ACCESS_KEY_ID", "kms_key": "KEY_ID"}


def register(sub, add_globals) -> None:
    admin = sub.add_parser("admin", help="manage users, access keys, policies, STS and KMS keys on an "
                           "ossbox server",
                           description="Administration of a running ossbox server (root credentials).")
    add_globals(admin)
    groups = admin.add_subparsers(dest="admin_group", metavar="<group>")
    groups.required = True

    def leaf(group_sub, name: str, help_: str, action: str, fields_of, positionals=()):
        p = group_sub.add_parser(name, help=help_, description=help_)
        for arg, arg_help in positionals:  # dests must not collide with the global options' dests
            p.add_argument(arg, help=arg_help, metavar=_METAVARS.get(arg, arg.upper()))
        add_globals(p)
        p.set_defaults(func=_run(action, fields_of))
        return p

    _register_migrate(groups)

    # users
    user = groups.add_parser("user", help="RAM-style users")
    add_globals(user)
    us = user.add_subparsers(dest="admin_cmd", metavar="<command>")
    us.required = True
    leaf(us, "create", "create a user", "CreateUser",
         lambda a: {"UserName": a.name}, [("name", "user name")])
    leaf(us, "list", "list users", "ListUsers", lambda a: {})
    leaf(us, "get", "show a user with its keys (no secrets) and policy names", "GetUser",
         lambda a: {"UserName": a.name}, [("name", "user name")])
    leaf(us, "delete", "delete a user with its keys and policies", "DeleteUser",
         lambda a: {"UserName": a.name}, [("name", "user name")])

    # access keys
    key = groups.add_parser("key", help="users' access keys")
    add_globals(key)
    ks = key.add_subparsers(dest="admin_cmd", metavar="<command>")
    ks.required = True
    leaf(ks, "create", "create an access key pair for a user (the secret is shown once)",
         "CreateAccessKey", lambda a: {"UserName": a.user}, [("user", "user name")])
    leaf(ks, "list", "list a user's access keys (never their secrets)", "ListAccessKeys",
         lambda a: {"UserName": a.user}, [("user", "user name")])
    leaf(ks, "enable", "set an access key Active", "UpdateAccessKey",
         lambda a: {"AccessKeyId": a.target_key, "Status": "Active"}, [("target_key", "AccessKeyId")])
    leaf(ks, "disable", "set an access key Inactive", "UpdateAccessKey",
         lambda a: {"AccessKeyId": a.target_key, "Status": "Inactive"}, [("target_key", "AccessKeyId")])
    leaf(ks, "delete", "delete an access key", "DeleteAccessKey",
         lambda a: {"AccessKeyId": a.target_key}, [("target_key", "AccessKeyId")])

    # identity policies
    pol = groups.add_parser("policy", help="users' identity (RAM) policies")
    add_globals(pol)
    ps = pol.add_subparsers(dest="admin_cmd", metavar="<command>")
    ps.required = True
    put = leaf(ps, "put", "attach (or replace) a named policy", "PutUserPolicy",
               lambda a: {"UserName": a.user, "PolicyName": a.policy_name,
                          "PolicyDocument": _json_text(a.document, "--document")},
               [("user", "user name"), ("policy_name", "policy name")])
    put.add_argument("--document", required=True, metavar="JSON|file://PATH|-",
                     help="the RAM policy document")
    leaf(ps, "get", "show a named policy", "GetUserPolicy",
         lambda a: {"UserName": a.user, "PolicyName": a.policy_name},
         [("user", "user name"), ("policy_name", "policy name")])
    leaf(ps, "list", "list a user's policies", "ListUserPolicies",
         lambda a: {"UserName": a.user}, [("user", "user name")])
    leaf(ps, "delete", "detach a named policy", "DeleteUserPolicy",
         lambda a: {"UserName": a.user, "PolicyName": a.policy_name},
         [("user", "user name"), ("policy_name", "policy name")])

    # STS
    sts = groups.add_parser("sts", help="temporary credentials")
    add_globals(sts)
    ss = sts.add_subparsers(dest="admin_cmd", metavar="<command>")
    ss.required = True

    def assume_fields(a):
        fields: dict[str, Any] = {"UserName": a.user, "DurationSeconds": a.duration}
        if a.policy is not None:
            fields["Policy"] = _json_text(a.policy, "--policy")
        return fields

    assume = leaf(ss, "assume", "issue temporary credentials acting as a user", "AssumeRole",
                  assume_fields, [("user", "user name")])
    assume.add_argument("--duration", type=_duration, default=3600, metavar="SECONDS",
                        help="validity, 900..43200 seconds (default 3600)")
    assume.add_argument("--policy", metavar="JSON|file://PATH|-",
                        help="session policy further restricting the user's permissions")

    # the built-in KMS (keys that wrap the data keys of SSE-KMS objects)
    kms = groups.add_parser("kms", help="keys of the built-in KMS (server-side encryption with KMS)")
    add_globals(kms)
    ms = kms.add_subparsers(dest="admin_cmd", metavar="<command>")
    ms.required = True
    create = leaf(ms, "create", "create a KMS key (its material never leaves the server)", "CreateKmsKey",
                  lambda a: {"Description": a.description} if a.description else {})
    create.add_argument("--description", metavar="TEXT", help="what the key is for")
    leaf(ms, "list", "list KMS keys with their state", "ListKmsKeys", lambda a: {})
    leaf(ms, "describe", "show one KMS key", "DescribeKmsKey",
         lambda a: {"KeyId": a.kms_key}, [("kms_key", "KMS key id")])
    leaf(ms, "disable", "disable a KMS key: objects encrypted under it cannot be read or written",
         "DisableKmsKey", lambda a: {"KeyId": a.kms_key}, [("kms_key", "KMS key id")])
    leaf(ms, "enable", "enable a KMS key again", "EnableKmsKey",
         lambda a: {"KeyId": a.kms_key}, [("kms_key", "KMS key id")])


def _register_migrate(groups) -> None:
    # local, not an admin API request: it runs while no server does
    p = groups.add_parser(
        "migrate", help="move a stopped embedded deployment's metadata (SQLite) to PostgreSQL",
        description="Copy every table of the SQLite metadata in DATA_DIR to an empty PostgreSQL "
                    "database in one transaction; blobs stay in DATA_DIR. Afterwards run "
                    "`ossbox server --data-dir DATA_DIR --meta URL`.")
    p.add_argument("--from", dest="source", required=True, metavar="sqlite:DATA_DIR",
                   help="the stopped deployment's data dir")
    p.add_argument("--to", dest="target", required=True, metavar="postgresql://...",
                   help="the PostgreSQL database (schema: ?options=-csearch_path%%3Dname)")
    p.add_argument("--force", action="store_true",
                   help="replace what the target holds (a stopped deployment's data), and copy a "
                        "source that was migrated before")
    p.set_defaults(func=_run_migrate, needs_settings=False)


def _run_migrate(args: argparse.Namespace) -> int:
    from ..storage import migrate
    try:
        report = migrate.migrate(migrate.source_path(args.source), args.target, force=args.force)
    except migrate.MigrationRefused as exc:
        raise UsageError(f"migrate refused: {exc}") from None
    except RuntimeError as exc:  # the target database: unreachable, or a schema newer than ours
        print_error(f"migrate failed, nothing was changed: {exc}")
        return EXIT_SERVICE
    width = max(map(len, [*report.copied, *report.dropped]))
    for table, n in report.copied.items():
        print(f"{table:<{width}}  {n:>10} copied")
    for table, n in report.dropped.items():
        print(f"{table:<{width}}  {n:>10} dropped (in-flight state of stopped processes)")
    print(f"migrated to {migrate.redacted(args.target)}; run: ossbox server --data-dir DATA_DIR "
          "--meta <that URL>")
    return EXIT_OK
