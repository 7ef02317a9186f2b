"""`ossbox api <operation>`: one command per OSS API, with ossutil 2's flag naming rule.

Flags come from the official SDK's request models: an `x-oss-*` header becomes a flag without the
prefix (`x-oss-object-acl` -> `--object-acl`), other headers and query parameters their kebab-case
name (`Cache-Control` -> `--cache-control`, `max-keys` -> `--max-keys`), user metadata
`--metadata k=v` (repeatable), a streamed body `--body`, and an XML body one flag named after its
root element (`--create-bucket-configuration`) taking XML or JSON. Any value may be `file://PATH`
or `-` (stdin). The SDK serialises, signs and sends the request; the raw response is kept so
`--output-format raw` shows what the server sent.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from .output import EXIT_OK, Printer, header_text, headers_document, next_append_position, xml_document
from .settings import Settings, UsageError, make_client


@dataclass
class ApiCommand:
    name: str
    op: str
    method: str
    model: str                         # request model class name in alibabacloud_oss_v2.models
    params: dict = field(default_factory=dict)   # fixed query parameters
    summary: str = ""
    stream_response: bool = False      # the response body is object data (GetObject)


def _bucket_setting(name: str, op: str, sub: str, what: str, delete: bool = True) -> list[ApiCommand]:
    """put-/get-[/delete-]<name> for a bucket setting kept under the `?<sub>` sub-resource."""
    verbs = [("put", "PUT", f"set a bucket's {what}"), ("get", "GET", f"a bucket's {what}")]
    if delete:
        verbs.append(("delete", "DELETE", f"remove a bucket's {what}"))
    return [ApiCommand(f"{verb}-{name}", f"{verb.capitalize()}{op}", method, f"{verb.capitalize()}{op}Request",
                       {sub: ""}, summary) for verb, method, summary in verbs]


COMMANDS = [
    ApiCommand("append-object", "AppendObject", "POST", "AppendObjectRequest", {"append": ""},
               "append data to an appendable object at --position"),
    ApiCommand("seal-append-object", "SealAppendObject", "POST", "SealAppendObjectRequest", {"seal": ""},
               "seal an appendable object at --position: no more appends"),
    ApiCommand("put-object", "PutObject", "PUT", "PutObjectRequest", {}, "upload an object"),
    ApiCommand("get-object", "GetObject", "GET", "GetObjectRequest", {}, "download an object to stdout",
               stream_response=True),
    ApiCommand("head-object", "HeadObject", "HEAD", "HeadObjectRequest", {}, "an object's metadata"),
    ApiCommand("get-object-meta", "GetObjectMeta", "HEAD", "GetObjectMetaRequest", {"objectMeta": ""},
               "an object's basic metadata"),
    ApiCommand("delete-object", "DeleteObject", "DELETE", "DeleteObjectRequest", {}, "delete an object"),
    ApiCommand("copy-object", "CopyObject", "PUT", "CopyObjectRequest", {}, "copy an object"),
    ApiCommand("put-object-tagging", "PutObjectTagging", "PUT", "PutObjectTaggingRequest", {"tagging": ""},
               "set an object's tags"),
    ApiCommand("get-object-tagging", "GetObjectTagging", "GET", "GetObjectTaggingRequest", {"tagging": ""},
               "an object's tags"),
    ApiCommand("delete-object-tagging", "DeleteObjectTagging", "DELETE", "DeleteObjectTaggingRequest",
               {"tagging": ""}, "remove an object's tags"),
    ApiCommand("put-object-acl", "PutObjectAcl", "PUT", "PutObjectAclRequest", {"acl": ""},
               "set an object's ACL"),
    ApiCommand("get-object-acl", "GetObjectAcl", "GET", "GetObjectAclRequest", {"acl": ""}, "an object's ACL"),
    ApiCommand("put-bucket", "PutBucket", "PUT", "PutBucketRequest", {}, "create a bucket"),
    ApiCommand("delete-bucket", "DeleteBucket", "DELETE", "DeleteBucketRequest", {}, "delete a bucket"),
    ApiCommand("put-bucket-versioning", "PutBucketVersioning", "PUT", "PutBucketVersioningRequest",
               {"versioning": ""}, "enable or suspend a bucket's versioning"),
    ApiCommand("get-bucket-versioning", "GetBucketVersioning", "GET", "GetBucketVersioningRequest",
               {"versioning": ""}, "a bucket's versioning state"),
    ApiCommand("list-object-versions", "ListObjectVersions", "GET", "ListObjectVersionsRequest",
               {"versions": ""}, "list object versions and delete markers"),
    ApiCommand("list-buckets", "ListBuckets", "GET", "ListBucketsRequest", {}, "list buckets"),
    ApiCommand("list-objects", "ListObjects", "GET", "ListObjectsRequest", {}, "list objects (v1)"),
    ApiCommand("list-objects-v2", "ListObjectsV2", "GET", "ListObjectsV2Request", {"list-type": "2"},
               "list objects (v2)"),
    *_bucket_setting("bucket-cors", "BucketCors", "cors", "CORS rules"),
    ApiCommand("option-object", "OptionObject", "OPTIONS", "OptionObjectRequest", {},
               "send a CORS preflight for an object"),
    *_bucket_setting("bucket-tags", "BucketTags", "tagging", "tags"),
    *_bucket_setting("bucket-referer", "BucketReferer", "referer", "hotlink protection", delete=False),
]
BY_NAME = {c.name: c for c in COMMANDS}


@dataclass
class Flag:
    field: str            # model attribute
    dest: str             # argparse dest
    flag: str             # --name
    position: str         # header / query / usermeta / body / xml / host / path / nop
    kind: str = "str"     # str / int / bool
    required: bool = False
    xml_root: Optional[str] = None
    http: str = ""        # the header / query parameter / XML root it fills


def _kebab(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name)
    name = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"-\1", name)  # an acronym: CORSConfiguration -> cors-configuration
    return name.replace("_", "-").lower()


def model_flags(model_cls) -> list[Flag]:
    import inspect
    annotations = {name: str(p.annotation) for name, p in inspect.signature(model_cls.__init__).parameters.items()}
    flags = []
    for attr, meta in getattr(model_cls, "_attribute_map", {}).items():
        if meta.get("tag") != "input":
            continue
        pos = meta.get("position")
        rename = meta.get("rename", attr)
        types = (meta.get("type") or "str").split(",")
        declared = annotations.get(attr, "")
        kind = ("int" if "int" in types or re.search(r"\bint\b", declared) else
                "bool" if "bool" in types else "str")
        if pos == "host":
            name = "bucket"
        elif pos == "path":
            name = "key"
        elif pos == "header" and "usermeta" in types:
            name, pos = "metadata", "usermeta"
        elif pos == "header":
            name = rename[6:].lower() if rename.lower().startswith("x-oss-") else rename.lower()
        elif pos == "query":
            name = _kebab(rename)
        elif pos == "body" and "xml" in types:
            name, pos = _kebab(rename), "xml"
        elif pos == "body":
            name = "body"
        elif pos == "nop":
            name = _kebab(attr)
        else:
            continue
        if attr in ("progress_fn",):
            continue
        flags.append(Flag(attr, name.replace("-", "_"), "--" + name, pos, kind, bool(meta.get("required")),
                          rename if pos == "xml" else None, rename))
    return flags


def _empty_model(model_cls, attr: str):
    """An empty instance of the model class a request field is annotated with (e.g. Tagging)."""
    import inspect

    import alibabacloud_oss_v2 as oss
    annotation = str(inspect.signature(model_cls.__init__).parameters[attr].annotation)
    for name in re.findall(r"[A-Za-z_]+", annotation):
        cls = getattr(oss.models, name, None)
        if isinstance(cls, type):
            return cls()
    return None


def _model_class(name: str):
    import alibabacloud_oss_v2 as oss
    return getattr(oss.models, name)


def command_flags(cmd: ApiCommand) -> list[Flag]:
    """The flags of an API command, from the table generated out of the SDK's request models
    (api_flags.py), so that building the parser (`ossbox --version`, `ossbox api ... --help`) does
    not import the SDK (~120 ms). tests/test_cli_startup.py checks the table against the SDK."""
    from .api_flags import FLAGS
    return [Flag(*row) for row in FLAGS[cmd.model]]


def flag_table_source() -> str:
    """The text of api_flags.py, introspected from the installed SDK's request models."""
    lines = ['"""Generated from alibabacloud_oss_v2\'s request models by api.flag_table_source(); do not edit.',
             "",
             "Regenerate after an SDK upgrade (tests/test_cli_startup.py fails when it is stale):",
             "    python -c 'from ossbox.cli.api import flag_table_source as s; "
             "open(\"ossbox/cli/api_flags.py\", \"w\").write(s())'",
             '"""', "", "FLAGS = {"]
    for model in sorted({c.model for c in COMMANDS}):
        lines.append(f"    {model!r}: [")
        for f in model_flags(_model_class(model)):
            lines.append(f"        {(f.field, f.dest, f.flag, f.position, f.kind, f.required, f.xml_root, f.http)!r},")
        lines.append("    ],")
    lines.append("}")
    return "\n".join(lines) + "\n"


def register(sub, add_globals) -> None:
    api = sub.add_parser("api", help="API-level commands: one per OSS operation",
                         description="API-level commands. Flags follow ossutil 2: x-oss-* headers without "
                                     "the prefix, query parameters in kebab case, --metadata k=v, --body.")
    add_globals(api)
    api_sub = api.add_subparsers(dest="api_command", metavar="<operation>")
    api_sub.required = True
    for cmd in COMMANDS:
        p = api_sub.add_parser(cmd.name, help=cmd.summary, description=cmd.summary)
        for f in command_flags(cmd):
            if f.kind == "bool":  # `--flag`, `--flag true|false` or `--flag=false`
                p.add_argument(f.flag, dest=f.dest, nargs="?", const="true", type=_bool_value,
                               default=None, metavar="true|false", help=_help(f) + "; alone means true")
            elif f.position == "usermeta":
                p.add_argument(f.flag, dest=f.dest, action="append", metavar="KEY=VALUE",
                               help="user metadata, sent as x-oss-meta-KEY (repeatable)")
            else:
                required = f.required and not (cmd.op == "CopyObject" and f.field == "source_key")
                p.add_argument(f.flag, dest=f.dest, required=required, help=_help(f),
                               metavar="INT" if f.kind == "int" else None)
        if cmd.op == "CopyObject":  # ossutil's own spelling of the source: the x-oss-copy-source header
            p.add_argument("--copy-source", dest="copy_source", metavar="/BUCKET/URL-ENCODED-KEY",
                           help="x-oss-copy-source: /bucket/urlencoded-key[?versionId=ID] "
                                "(or use --source-bucket/--source-key)")
        add_globals(p)
        p.set_defaults(func=run, api=cmd)


def _help(f: Flag) -> str:
    if f.position == "host":
        return "bucket name"
    if f.position == "path":
        return "object key"
    if f.position == "body":
        return "request body: a string, file://PATH, or - for stdin"
    if f.position == "xml":
        return f"<{f.xml_root}> request body, as XML or JSON (inline, file://PATH, or - for stdin)"
    if f.position == "nop":
        return f.field.replace("_", " ")
    return f"{f.http} {'query parameter' if f.position == 'query' else 'header'}"


# -- values --------------------------------------------------------------------------------------
def _bool_value(value: str) -> str:
    low = value.lower()
    if low not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"must be true or false, got {value!r}")
    return low


def option_text(value: str) -> str:
    """ossutil's option loading: file://PATH reads a file, '-' reads stdin."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("file://"):
        try:
            with open(value[7:], encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            raise UsageError(f"cannot read {value[7:]}: {exc.strerror}")
    return value


def body_source(value: Optional[str]):
    """--body: literal text, file://PATH (streamed) or - (stdin, streamed)."""
    if value is None:
        return b""
    if value == "-":
        return sys.stdin.buffer
    if value.startswith("file://"):
        try:
            return open(value[7:], "rb")
        except OSError as exc:
            raise UsageError(f"cannot read {value[7:]}: {exc.strerror}")
    return value.encode("utf-8")


def xml_body(root: str, value: str) -> bytes:
    text = option_text(value).strip()
    if text.startswith("<"):
        return text.encode("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--{_kebab(root)} must be XML or JSON: {exc}")
    if isinstance(data, dict) and list(data) == [root]:
        data = data[root]
    from .output import _to_xml
    out: list[str] = []
    _to_xml(root, data, out)
    return "".join(out).encode("utf-8")


def _metadata(items) -> dict:
    meta = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise UsageError(f"--metadata takes KEY=VALUE, got {item!r}")
        if k.lower().startswith("x-oss-meta-"):
            k = k[len("x-oss-meta-"):]
        meta[k] = _wire(v)
    return meta


def _wire(value: str) -> str:
    """A header value as the HTTP library must get it so that UTF-8 bytes go on the wire, as Go's
    net/http (and so ossutil) sends them; the library itself would refuse or latin-1-encode it."""
    return value.encode("utf-8").decode("latin-1")


# -- the command ---------------------------------------------------------------------------------
def build_input(cmd: ApiCommand, args: argparse.Namespace):
    """(OperationInput, body file to close) for the command, serialised by the SDK."""
    from alibabacloud_oss_v2 import serde, serde_utils
    from alibabacloud_oss_v2.types import OperationInput

    model_cls = _model_class(cmd.model)
    kwargs: dict[str, Any] = {}
    xml_payload = None
    opened = None
    for f in command_flags(cmd):
        value = getattr(args, f.dest, None)
        if value is None:
            continue
        if f.position == "usermeta":
            kwargs[f.field] = _metadata(value)
        elif f.position == "xml":
            xml_payload = xml_body(f.xml_root, value)
            kwargs[f.field] = _empty_model(model_cls, f.field)  # satisfies the SDK; body replaced below
        elif f.position == "body":
            kwargs[f.field] = opened = body_source(value)
        elif f.kind == "int":
            try:
                kwargs[f.field] = int(option_text(value))
            except ValueError:
                raise UsageError(f"{f.flag} must be an integer, got {value!r}")
        elif f.kind == "bool":
            kwargs[f.field] = value
        elif f.position == "header":
            kwargs[f.field] = _wire(option_text(value))
        else:
            kwargs[f.field] = option_text(value)
    if cmd.op == "CopyObject":
        _copy_source(args, kwargs)
    request = model_cls(**kwargs)
    headers = {}
    if cmd.op == "CopyObject":
        headers["x-oss-copy-source"] = serde_utils.encode_copy_source(request)
    op_input = OperationInput(op_name=cmd.op, method=cmd.method, bucket=getattr(request, "bucket", None),
                              key=getattr(request, "key", None), parameters=dict(cmd.params), headers=headers,
                              op_metadata={"response-stream": True} if cmd.stream_response else None)
    serializers = [serde_utils.add_content_type] if op_input.key else []  # guessed from the key
    op_input = serde.serialize_input(request, op_input, custom_serializer=serializers)
    if xml_payload is not None:
        op_input.body = xml_payload
        op_input.headers.setdefault("Content-Type", "application/xml")
    if cmd.op in ("PutObjectTagging", "PutBucket") or xml_payload is not None:
        op_input = serde_utils.add_content_md5(request, op_input)
    return op_input, opened if hasattr(opened, "close") and opened is not sys.stdin.buffer else None


def _copy_source(args: argparse.Namespace, kwargs: dict) -> None:
    """--copy-source /bucket/urlencoded-key[?versionId=ID] as the SDK's source_* fields (explicit
    --source-* flags win); one of the two spellings is required."""
    from urllib.parse import parse_qs, unquote
    value = getattr(args, "copy_source", None)
    if value is not None:
        text = option_text(value)
        path, _, query = text.partition("?")
        bucket, sep, key = path.lstrip("/").partition("/")
        if not bucket or not sep or not key:
            raise UsageError(f"--copy-source must be /BUCKET/URL-ENCODED-KEY, got {text!r}")
        kwargs.setdefault("source_bucket", bucket)
        kwargs.setdefault("source_key", unquote(key))
        version = parse_qs(query).get("versionId")
        if version:
            kwargs.setdefault("source_version_id", version[0])
    if not kwargs.get("source_key"):
        raise UsageError("copy-object needs --copy-source /BUCKET/KEY, or --source-key (and --source-bucket)")


def describe(op_input) -> str:
    """What --dry-run shows: the request that would be sent (before signing)."""
    from urllib.parse import urlencode
    query = urlencode(op_input.parameters or {}, safe="/")
    path = "/" + (op_input.bucket or "") + ("/" + op_input.key if op_input.key else "")
    lines = [f"{op_input.method} {path}{'?' + query if query else ''}"]
    for k, v in sorted((op_input.headers or {}).items()):
        lines.append(f"{k}: {header_text(v) if isinstance(v, str) else v}")
    body = op_input.body
    if isinstance(body, (bytes, bytearray)):
        lines.append(f"(body: {len(body)} bytes)")
    elif body is not None:
        lines.append("(body: streamed)")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    cmd: ApiCommand = args.api
    structured = settings.output_format != "raw" or bool(settings.output_query)
    # GetObject's raw output is the object's bytes: the elapsed trailer must not follow them
    printer = Printer(settings, object_data=cmd.stream_response and not structured and not settings.dry_run)
    op_input, to_close = build_input(cmd, args)
    try:
        if settings.dry_run:
            printer.write_text(describe(op_input))
            printer.finish()
            return EXIT_OK
        client = make_client(settings)
        try:
            out = client.invoke_operation(op_input)
        except Exception as exc:
            if structured:
                _error_document(printer, exc)
            raise
        headers = dict(out.headers or {})
        raw_headers = "\n".join(f"{k}: {header_text(v)}" for k, v in headers.items())
        if cmd.stream_response:
            if not structured:
                for chunk in out.http_response.iter_bytes():
                    printer.write_bytes(chunk)
            else:
                # object data is not a document: json/yaml/xml and --output-query see the headers
                out.http_response.close()
                printer.document(headers_document(headers), raw=raw_headers)
            printer.finish()
            return EXIT_OK
        body = _read_body(out)
        if body:
            printer.document(xml_document(body), raw=body.decode("utf-8", "replace"))
        else:
            printer.document(headers_document(headers), raw=raw_headers)
        printer.finish()
        return EXIT_OK
    finally:
        if to_close is not None:
            to_close.close()


def _error_document(printer: Printer, exc: BaseException) -> None:
    """With json/yaml/xml output, a refused append (409 PositionNotEqualToLength, which carries
    x-oss-next-append-position) is printed as a result too: its error fields and headers in the
    same JSON form as a success, so `Header."X-Oss-Next-Append-Position"[0]` gives the position
    to append at either way. The error block still goes to stderr, and other errors leave stdout
    empty as before."""
    import alibabacloud_oss_v2 as oss

    from .settings import causes
    err = next((e for e in causes(exc) if isinstance(e, oss.exceptions.ServiceError)), None)
    if err is None or next_append_position(err) is None:
        return
    fields = dict(getattr(err, "error_fileds", None) or {})   # sic: the SDK's spelling
    fields.setdefault("Code", err.code)
    fields.setdefault("Message", err.message)
    fields.setdefault("RequestId", err.request_id)
    fields.setdefault("EC", err.ec)
    doc = {"Error": {k: ("" if v is None else str(v)) for k, v in fields.items()}}
    doc.update(headers_document(err.headers or {}))
    printer.document(doc)


def _read_body(out) -> bytes:
    """The whole (non-streamed) response body; the SDK has already read it."""
    response = out.http_response
    if response is None:
        return b""
    return response.content if response.is_stream_consumed else response.read()
