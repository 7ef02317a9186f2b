"""Incremental record readers: bytes in (as the object streams), records out, with byte offsets.

Both readers are push parsers: `feed(chunk)` returns the records completed by that chunk and
`finish()` the last one. Offsets are byte positions in the (decompressed) object, which is what
byte ranges and split ranges are defined on. Records are split on bytes (the delimiters are
encoded to UTF-8, which never occurs inside another character's encoding), fields decoded after.
"""
from __future__ import annotations

import json
import re
from typing import Optional

from .evaluate import DataError, RawNumber

# The longest record ossbox holds to parse (a whole JSON DOCUMENT is one record): beyond it the
# run fails with a data error rather than grow without bound.
MAX_RECORD = 256 * 1024 * 1024


def _too_long() -> DataError:
    return DataError(f"a record is longer than {MAX_RECORD} bytes")


class CsvSplitter:
    """Cuts a CSV byte stream into records: (start offset, record bytes without its delimiter).
    A record delimiter inside quotes is data when quoted delimiters are allowed (the default)."""

    def __init__(self, record_delim: bytes, quote: bytes, allow_quoted: bool, comment: Optional[bytes]):
        self.rd = record_delim
        self.quote = quote
        self.comment = comment
        pat = re.escape(record_delim)
        if allow_quoted and quote:
            pat = re.escape(quote) + b"|" + pat
        self.re = re.compile(pat)
        self.buf = bytearray()
        self.base = 0          # offset of buf[0] in the object
        self.scan = 0          # where the next search in buf starts
        self.in_quote = False

    def feed(self, data: bytes) -> list:
        self.buf += data
        out = []
        start = 0
        buf = self.buf         # searched in place: a long record is not copied on every chunk
        pos = self.scan
        for m in self.re.finditer(buf, pos):
            if m.group() == self.quote and self.quote != self.rd:
                self.in_quote = not self.in_quote
                continue
            if self.in_quote:
                continue
            self._emit(out, buf[start:m.start()], self.base + start)
            start = m.end()
        del self.buf[:start]
        self.base += start
        if len(self.buf) > MAX_RECORD:
            raise _too_long()
        # a delimiter may straddle two chunks: rescan its possible first bytes next time (the quote
        # state up to there is already known, so only unscanned bytes are looked at again)
        self.scan = max(len(self.buf) - len(self.rd) + 1, 0) if not self.in_quote else len(self.buf)
        if self.scan and not self.in_quote:
            # quotes in the rescanned tail must not be toggled twice: stop before the last quote seen
            if self.quote and self.quote in self.buf[self.scan:]:
                self.scan = len(self.buf)
        return out

    def finish(self) -> list:
        out = []
        if self.buf:
            self._emit(out, bytes(self.buf), self.base)
            self.base += len(self.buf)
            self.buf.clear()
        return out

    def _emit(self, out: list, record: bytes, offset: int) -> None:
        if self.comment and record.startswith(self.comment):
            return
        out.append((offset, bytes(record)))


def split_fields(record: bytes, delim: bytes, quote: bytes) -> list:
    """The fields of one record, unquoted and decoded. A closing quote must be followed by the
    field delimiter or the record's end (else the record is malformed, as OSS reports it)."""
    try:
        if not quote or quote not in record:
            return record.decode("utf-8").split(delim.decode("utf-8"))
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("the CSV data is not valid UTF-8")
    d, q = delim.decode("utf-8"), quote.decode("utf-8")
    fields, i, n = [], 0, len(text)
    while True:
        if i < n and text[i] == q:
            buf, j = [], i + 1
            while True:
                k = text.find(q, j)
                if k < 0:
                    raise DataError("a quoted CSV field is not closed")
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == q:
                    buf.append(q)
                    j = k + 2
                    continue
                break
            fields.append("".join(buf))
            i = k + 1
            if i == n:
                return fields
            if not text.startswith(d, i):
                raise DataError(f"invalid CSV record: a quoted field is followed by {text[i]!r}")
            i += len(d)
        else:
            k = text.find(d, i)
            if k < 0:
                fields.append(text[i:])
                return fields
            fields.append(text[i:k])
            i = k + len(d)
            if i == n:
                fields.append("")
                return fields


def csv_quote(value: str, delim: str, rd: str) -> str:
    if value and (delim in value or '"' in value or rd in value or "\n" in value or "\r" in value):
        return '"' + value.replace('"', '""') + '"'
    return value


_STRUCT = re.compile(rb'[{}\[\]"\\]')
_SKIP = b" \t\r\n,"


class JsonSplitter:
    """Cuts a byte stream of JSON values (one document, or JSON Lines) into top-level values:
    (start offset, value bytes). Values may span lines and may be separated by whitespace or commas
    (OSS reads `{"a":1},{"b":2}` as two records). Nothing is decoded here: only braces, brackets
    and string quotes are tracked, so the cost is linear in the input."""

    def __init__(self):
        self.buf = bytearray()
        self.base = 0
        self.depth = 0
        self.in_str = False
        self.escape = False
        self.start: Optional[int] = None  # index in buf of the value being read
        self.pos = 0

    def feed(self, data: bytes) -> list:
        self.buf += data
        out = []
        buf = self.buf
        n = len(buf)
        i = self.pos
        while i < n:
            if self.start is None:
                while i < n and buf[i] in _SKIP:
                    i += 1
                if i >= n:
                    break
                self.start = i
            if self.depth == 0 and not self.in_str and buf[self.start] not in b"{[":
                # a scalar value runs to the next separator; re-read from its start if cut off
                j = self.start
                while j < n and buf[j] not in _SKIP:
                    j += 1
                if j >= n:
                    i = self.start
                    break
                out.append((self.base + self.start, bytes(buf[self.start:j])))
                self.start = None
                i = j
                continue
            if self.escape:
                self.escape = False
                i += 1
                continue
            m = _STRUCT.search(buf, i)
            if m is None:
                i = n
                break
            c = m.group()
            i = m.end()
            if self.in_str:
                if c == b"\\":
                    self.escape = True
                elif c == b'"':
                    self.in_str = False
                continue
            if c == b'"':
                self.in_str = True
            elif c in (b"{", b"["):
                self.depth += 1
            elif c in (b"}", b"]"):
                self.depth -= 1
                if self.depth <= 0:
                    self.depth = 0
                    out.append((self.base + self.start, bytes(buf[self.start:i])))
                    self.start = None
        keep = self.start if self.start is not None else min(i, n)
        del self.buf[:keep]
        self.base += keep
        if self.start is not None:
            self.start -= keep
        self.pos = max(i - keep, 0)
        if len(self.buf) > MAX_RECORD:
            raise _too_long()
        return out

    def finish(self) -> list:
        out = []
        if self.start is not None:
            rest = bytes(self.buf[self.start:]).strip()
            if rest:
                out.append((self.base + self.start, rest))
        elif self.buf.strip(_SKIP):
            out.append((self.base, bytes(self.buf).strip(_SKIP)))
        self.buf.clear()
        return out


def decode_json(raw: bytes, numbers_as_strings: bool):
    try:
        if numbers_as_strings:
            return json.loads(raw, parse_float=RawNumber, parse_int=RawNumber)
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise DataError(f"invalid JSON: {exc}")


def json_dump(value) -> str:
    """OSS's JSON output: compact, UTF-8 as is, '/' escaped as '\\/' (the Go SDK's tests expect
    that escape), numbers kept as their text when read as strings."""
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("/", "\\/")
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else "null"
    if isinstance(value, dict):
        return "{" + ",".join(json_dump(str(k)) + ":" + json_dump(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_dump(v) for v in value) + "]"
    # Decimal
    from_text = format(value, "f")
    return from_text
