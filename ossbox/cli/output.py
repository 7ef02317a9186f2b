"""Output and exit codes as ossutil 2 has them.

* Results go to stdout, diagnostics to stderr.
* `--output-format raw` prints what the server sent (an XML body as is; for a response with no
  body, its headers). json/yaml/xml print the JSON form: a response without a body is
  `{"Header": {"Canonical-Name": ["value"]}}`; an XML body becomes its root's children with
  string scalars, and an element that occurs once is a scalar, not a one-item list.
* `--output-query` is a JMESPath expression over that JSON form.
* `<seconds>(s) elapsed` ends the output unless `-q`. A command whose stdout is object data
  (`cat`, `api get-object`, `cp oss://... -`) writes it to stderr instead: object bytes on stdout
  are never followed by anything, so `ossbox cat oss://b/k > file` is an exact copy.
* A service error that carries `x-oss-next-append-position` (AppendObject's 409
  PositionNotEqualToLength) shows it in the error block: `Next Append Position: N.`
* Exit status: 0 ok, 1 usage, 2 the service answered with an error, 3 client/network error,
  4 some items of a batch failed, 5 interrupted.
"""
from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any, Optional

from .settings import Settings, UsageError, unreachable_message

EXIT_OK, EXIT_USAGE, EXIT_SERVICE, EXIT_CLIENT, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5


def canonical_header(name: str) -> str:
    """Go's canonical MIME header form, which ossutil's JSON uses: X-Oss-Hash-Crc64ecma, Etag."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def header_text(value: str) -> str:
    """A response header value as text. HTTP libraries decode header bytes as latin-1; OSS sends
    non-ASCII metadata as UTF-8 bytes (as Go's net/http writes them), so undo that when it fits."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def headers_document(headers) -> dict:
    doc: dict[str, list[str]] = {}
    for name, value in headers.items():
        doc.setdefault(canonical_header(name), []).append(header_text(value))
    return {"Header": doc}


def _element(elem: ET.Element) -> Any:
    children = list(elem)
    if not children:
        return elem.text or ""
    out: dict[str, Any] = {}
    for child in children:
        tag = child.tag.rsplit("}", 1)[-1]
        value = _element(child)
        if tag in out:
            if not isinstance(out[tag], list):
                out[tag] = [out[tag]]
            out[tag].append(value)
        else:
            out[tag] = value
    return out


def xml_document(body: bytes) -> Any:
    """An XML response body as ossutil's JSON form (the root element's children)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body.decode("utf-8", "replace")
    value = _element(root)
    return value if isinstance(value, dict) else {root.tag: value}


def _to_xml(tag: str, value: Any, out: list) -> None:
    from xml.sax.saxutils import escape
    if isinstance(value, list):
        for item in value:
            _to_xml(tag, item, out)
    elif isinstance(value, dict):
        out.append(f"<{tag}>")
        for k, v in value.items():
            _to_xml(k, v, out)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{escape('' if value is None else str(value))}</{tag}>")


def render(doc: Any, fmt: str) -> str:
    if fmt == "yaml":
        import yaml
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).rstrip("\n")
        return text[:-4] if text.endswith("\n...") else text  # a bare scalar's document-end marker
    if fmt == "xml":
        out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
        if isinstance(doc, list):  # e.g. an --output-query result: one root, an <item> per element
            doc = {"item": doc}
        _to_xml("root", doc, out)  # ossutil renames the root element to <root>
        return "\n".join(out[:1]) + "\n" + "".join(out[1:])
    return json.dumps(doc, indent=2, ensure_ascii=False)


class Printer:
    """Writes a command's results and the elapsed trailer according to the settings."""

    def __init__(self, settings: Settings, stdout=None, object_data: bool = False):
        self.s = settings
        self.out = stdout or sys.stdout
        self.object_data = object_data   # stdout carries object bytes: the trailer goes to stderr
        self.started = time.monotonic()
        self.query = None
        if settings.output_query:
            # compiled up front: a bad expression must fail before a (non-idempotent) request is sent
            import jmespath
            try:
                self.query = jmespath.compile(settings.output_query)
            except jmespath.exceptions.JMESPathError as exc:
                raise UsageError(f"invalid --output-query: {exc}")

    def write_text(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def write_bytes(self, data: bytes) -> None:
        buf = getattr(self.out, "buffer", None)
        if buf is not None:
            self.out.flush()
            buf.write(data)
            buf.flush()
        else:
            self.out.write(data.decode("utf-8", "replace"))

    def document(self, doc: Any, raw: Optional[str] = None) -> None:
        """Print a result: `raw` text in raw format (when there is one), else the JSON form."""
        fmt = self.s.output_format
        if self.query is not None:
            import jmespath
            try:
                doc = self.query.search(doc)
            except jmespath.exceptions.JMESPathError as exc:
                raise UsageError(f"invalid --output-query: {exc}")
            if fmt == "raw":
                fmt = "json"
        if fmt == "raw" and raw is not None:
            self.write_text(raw)
        else:
            self.write_text(render(doc, "json" if fmt == "raw" else fmt))

    def finish(self) -> None:
        if self.s.quiet:
            return
        trailer = f"\n{time.monotonic() - self.started:.6f}(s) elapsed\n"
        if self.object_data:
            sys.stderr.write(trailer)
            sys.stderr.flush()
        else:
            self.write_text(trailer)


def dry_run(printer: Printer, what: str) -> int:
    """--dry-run: say what would be done. Nothing is sent, not even a listing or a HEAD, so a
    dry run works without an endpoint or credentials and cannot be seen by the service."""
    printer.write_text(f"(dry run) would {what}")
    printer.finish()
    return EXIT_OK


def print_error(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def next_append_position(exc: BaseException) -> Optional[str]:
    """The `x-oss-next-append-position` a service error carries (a failed append), or None."""
    from .settings import causes
    for e in causes(exc):
        headers = getattr(e, "headers", None)
        if getattr(e, "status_code", None) and headers is not None:
            value = headers.get("x-oss-next-append-position")
            return None if value is None else str(value)
    return None


def error_text(exc: BaseException) -> str:
    """The error block of a failed request: the SDK's, plus the next append position when the
    service sent one (the one fact needed after PositionNotEqualToLength), or a plain sentence
    when the endpoint cannot be reached."""
    text = str(exc)
    unreachable = unreachable_message(exc)
    if unreachable is not None:
        name = getattr(exc, "name", None) or getattr(exc, "kwargs", {}).get("name")
        return f"operation error {name}: {unreachable}" if name else unreachable
    position = next_append_position(exc)
    if position is not None:
        text += f"\n        Next Append Position: {position}."
    return text


def _param_errors() -> tuple:
    import alibabacloud_oss_v2 as oss
    e = oss.exceptions
    return (e.ParamRequiredError, e.ParamInvalidError, e.ParamNullError, e.ParamNullOrEmptyError,
            e.BucketNameInvalidError, e.ObjectNameInvalidError)


def exit_code_for(exc: BaseException) -> int:
    """The exit status for an exception escaping a command, after printing it."""
    import alibabacloud_oss_v2 as oss

    param_errors = _param_errors()
    if isinstance(exc, UsageError):
        print_error(str(exc))
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        print_error("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, oss.exceptions.OperationError):
        inner = exc.unwrap()
        print_error(error_text(exc))
        if isinstance(inner, oss.exceptions.ServiceError):
            return EXIT_SERVICE
        if isinstance(inner, param_errors):  # checked by the SDK before sending: bad bucket name...
            return EXIT_USAGE
        return EXIT_CLIENT
    if isinstance(exc, param_errors):
        print_error(str(exc))
        return EXIT_USAGE
    if isinstance(exc, oss.exceptions.ServiceError):
        print_error(error_text(exc))
        return EXIT_SERVICE
    if isinstance(exc, (oss.exceptions.BaseError, OSError, ValueError)):
        print_error(error_text(exc) or exc.__class__.__name__)
        return EXIT_CLIENT
    raise exc
