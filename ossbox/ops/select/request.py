"""The SelectRequest / CsvMetaRequest / JsonMetaRequest bodies, parsed once into SelectArgs."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Optional

from ... import errors
from ...wire import xml

CSV, JSON = "csv", "json"


@dataclass(frozen=True)
class SelectArgs:
    fmt: str                        # "csv" | "json"
    sql: str = ""
    gzip: bool = False
    # CSV input
    header: str = "NONE"            # NONE | IGNORE | USE
    record_delim: str = "\n"
    field_delim: str = ","
    quote: str = '"'
    comment: Optional[str] = "#"
    allow_quoted_rd: bool = True
    # JSON input
    json_type: str = "DOCUMENT"     # DOCUMENT | LINES
    numbers_as_strings: bool = False
    # both
    range_kind: Optional[str] = None   # "line" | "split"
    range_start: Optional[int] = None
    range_end: Optional[int] = None
    # output
    out_record_delim: str = "\n"
    out_field_delim: str = ","
    keep_all_columns: bool = False
    raw: bool = False
    payload_crc: bool = False
    output_header: bool = False
    # options
    skip_partial: bool = False
    max_skipped: int = 0


def _bool(value: Optional[str], name: str, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    v = value.strip().lower()
    if v in ("true", "false"):
        return v == "true"
    raise errors.InvalidArgument(f"{name} must be true or false.", ArgumentName=name, ArgumentValue=value)


def _b64(value: Optional[str], name: str, default, max_len: int):
    if value is None:
        return default
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument(f"{name} must be base64-encoded.", ArgumentName=name, ArgumentValue=value)
    if len(text) > max_len:
        raise errors.InvalidArgument(f"{name} may have at most {max_len} character(s).",
                                     ArgumentName=name, ArgumentValue=value)
    return text


def _compression(elem) -> bool:
    value = xml.child_text(elem, "CompressionType")
    if value is None or not value.strip():
        return False
    v = value.strip()
    if v.upper() not in ("NONE", "GZIP"):
        # oss2's create_select_object_meta sends it base64-encoded; accept that spelling too
        try:
            v = base64.b64decode(v, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            pass
    if v.upper() not in ("NONE", "GZIP"):
        raise errors.InvalidArgument("CompressionType must be None or GZIP.",
                                     ArgumentName="CompressionType", ArgumentValue=value)
    return v.upper() == "GZIP"


_RANGE = re.compile(r"^(line|split)-range=(\d*)-(\d*)$")


def _range(value: Optional[str]):
    if value is None or not value.strip():
        return None, None, None
    m = _RANGE.match(value.strip())
    if not m or (m.group(2) == "" and m.group(3) == ""):
        raise errors.InvalidArgument("Range must be line-range=start-end or split-range=start-end.",
                                     ArgumentName="Range", ArgumentValue=value)
    start = int(m.group(2)) if m.group(2) else None
    end = int(m.group(3)) if m.group(3) else None
    if start is not None and end is not None and end < start:
        raise errors.InvalidArgument("The Range end is before its start.", ArgumentName="Range",
                                     ArgumentValue=value)
    return m.group(1), start, end


def _child(elem, tag):
    found = xml.children(elem, tag) if elem is not None else []
    return found[0] if found else None


def parse_select(body: bytes, fmt: str) -> SelectArgs:
    root = xml.parse(body, "SelectRequest")
    expr = xml.child_text(root, "Expression")
    if expr is None or not expr.strip():
        raise errors.SelectEmptyExpression()
    try:
        # line breaks inside the base64 (MIME-style wrapping) are not part of it
        sql = base64.b64decode("".join(expr.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument("Expression must be a base64-encoded SQL statement.",
                                     ArgumentName="Expression")
    inp = _child(root, "InputSerialization")
    out = _child(root, "OutputSerialization")
    opts = _child(root, "Options")
    kw: dict = {"fmt": fmt, "sql": sql}
    if inp is not None:
        kw["gzip"] = _compression(inp)
    src = _child(inp, "CSV" if fmt == CSV else "JSON")
    other = _child(inp, "JSON" if fmt == CSV else "CSV")
    if other is not None and src is None:
        raise errors.InvalidArgument(f"x-oss-process={fmt}/select needs {fmt.upper()} input.",
                                     ArgumentName="InputSerialization")
    if src is not None:
        if fmt == CSV:
            header = (xml.child_text(src, "FileHeaderInfo") or "NONE").strip().upper() or "NONE"
            if header not in ("NONE", "IGNORE", "USE"):
                raise errors.InvalidArgument("FileHeaderInfo must be None, Ignore or Use.",
                                             ArgumentName="FileHeaderInfo", ArgumentValue=header)
            kw["header"] = header
            kw["record_delim"] = _b64(xml.child_text(src, "RecordDelimiter"), "RecordDelimiter", "\n", 2) or "\n"
            kw["field_delim"] = _b64(xml.child_text(src, "FieldDelimiter"), "FieldDelimiter", ",", 1) or ","
            kw["quote"] = _b64(xml.child_text(src, "QuoteCharacter"), "QuoteCharacter", '"', 1)
            kw["comment"] = _b64(xml.child_text(src, "CommentCharacter"), "CommentCharacter", "#", 1) or None
            kw["allow_quoted_rd"] = _bool(xml.child_text(src, "AllowQuotedRecordDelimiter"),
                                          "AllowQuotedRecordDelimiter", True)
        else:
            jt = (xml.child_text(src, "Type") or "").strip().upper()
            if jt not in ("DOCUMENT", "LINES"):
                raise errors.InvalidArgument("JSON Type must be DOCUMENT or LINES.", ArgumentName="Type",
                                             ArgumentValue=jt)
            kw["json_type"] = jt
            kw["numbers_as_strings"] = _bool(xml.child_text(src, "ParseJsonNumberAsString"),
                                             "ParseJsonNumberAsString", False)
        kind, start, end = _range(xml.child_text(src, "Range"))
        if kind is not None:
            if fmt == JSON and kw.get("json_type") == "DOCUMENT":
                raise errors.InvalidArgument("Range is only supported for JSON LINES.", ArgumentName="Range")
            kw.update(range_kind=kind, range_start=start, range_end=end)
    if out is not None:
        dst = _child(out, "CSV" if fmt == CSV else "JSON")
        if dst is not None:
            kw["out_record_delim"] = _b64(xml.child_text(dst, "RecordDelimiter"), "RecordDelimiter", "\n", 2)
            if fmt == CSV:
                kw["out_field_delim"] = _b64(xml.child_text(dst, "FieldDelimiter"), "FieldDelimiter", ",", 1)
        kw["keep_all_columns"] = _bool(xml.child_text(out, "KeepAllColumns"), "KeepAllColumns", False)
        kw["raw"] = _bool(xml.child_text(out, "OutputRawData"), "OutputRawData", False)
        kw["payload_crc"] = _bool(xml.child_text(out, "EnablePayloadCrc"), "EnablePayloadCrc", False)
        kw["output_header"] = _bool(xml.child_text(out, "OutputHeader"), "OutputHeader", False)
    if opts is not None:
        kw["skip_partial"] = _bool(xml.child_text(opts, "SkipPartialDataRecord"), "SkipPartialDataRecord", False)
        text = (xml.child_text(opts, "MaxSkippedRecordsAllowed") or "").strip()
        if text:
            if not text.isdigit():
                raise errors.InvalidArgument("MaxSkippedRecordsAllowed must be a non-negative integer.",
                                             ArgumentName="MaxSkippedRecordsAllowed", ArgumentValue=text)
            kw["max_skipped"] = int(text)
    return SelectArgs(**kw)


def parse_meta(body: bytes, fmt: str) -> SelectArgs:
    """CsvMetaRequest / JsonMetaRequest: the input format only (OverwriteIfExists is accepted and
    has no effect: ossbox computes the meta on every call, see docs/select.md)."""
    root = xml.parse(body, "CsvMetaRequest" if fmt == CSV else "JsonMetaRequest")
    _bool(xml.child_text(root, "OverwriteIfExists"), "OverwriteIfExists", False)
    inp = _child(root, "InputSerialization")
    kw: dict = {"fmt": fmt}
    if inp is not None:
        kw["gzip"] = _compression(inp)
    src = _child(inp, "CSV" if fmt == CSV else "JSON")
    if fmt == CSV and src is not None:
        kw["record_delim"] = _b64(xml.child_text(src, "RecordDelimiter"), "RecordDelimiter", "\n", 2) or "\n"
        kw["field_delim"] = _b64(xml.child_text(src, "FieldDelimiter"), "FieldDelimiter", ",", 1) or ","
        kw["quote"] = _b64(xml.child_text(src, "QuoteCharacter"), "QuoteCharacter", '"', 1)
    if fmt == JSON:
        jt = (xml.child_text(src, "Type") or "").strip().upper() if src is not None else ""
        if jt != "LINES":
            raise errors.InvalidArgument("CreateSelectObjectMeta supports JSON LINES only.",
                                         ArgumentName="Type", ArgumentValue=jt)
        kw["json_type"] = "LINES"
    return SelectArgs(**kw)
