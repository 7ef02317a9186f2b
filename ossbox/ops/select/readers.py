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


_WS = b" \t\r\n"
_SCALAR_END = re.compile(rb'[ \t\r\n,\]}]')
_SCALAR = re.compile(rb'-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')


class _NeedMore(Exception):
    pass


class JsonPathSplitter:
    """A JSON DOCUMENT cut into the values at a FROM path (`objects[*]`, `a.b[0]`, none: the
    document itself): only those values are held and returned, one at a time, so a document
    whose records sit in one big array streams. Containers off the path are skipped by bracket
    matching (not validated); containers on it are walked key by key.

    A resumable generator does the walking: it yields when it needs more bytes, and `feed`
    resumes it."""

    def __init__(self, steps: tuple):
        self.steps = steps
        self.buf = bytearray()
        self.base = 0
        self.i = 0
        self.keep: Optional[int] = None    # start of the value being captured
        self.eof = False
        self.out: list = []
        self.gen = self._document()
        next(self.gen)

    def feed(self, data: bytes) -> list:
        self.buf += data
        return self._resume()

    def finish(self) -> list:
        self.eof = True
        out = self._resume()
        if self.gen is not None:
            raise DataError("invalid JSON: the document ends early")
        return out

    def _resume(self) -> list:
        self.out = []
        if self.gen is not None:
            try:
                self.gen.send(None)
            except StopIteration:
                self.gen = None
        # drop consumed bytes (all of them unless a value is being captured)
        cut = self.i if self.keep is None else self.keep
        if cut:
            del self.buf[:cut]
            self.base += cut
            self.i -= cut
            if self.keep is not None:
                self.keep -= cut
        if len(self.buf) > MAX_RECORD:
            raise _too_long()
        return self.out

    # -- the walk (generators: `yield` = wait for more bytes) ----------------------------------
    def _more(self):
        if self.eof:
            raise DataError("invalid JSON: the document ends early")
        yield

    def _ws(self):
        while True:
            buf, n = self.buf, len(self.buf)
            while self.i < n and buf[self.i] in _WS:
                self.i += 1
            if self.i < n:
                return
            yield from self._more()

    def _document(self):
        yield                              # primed: wait for the first bytes
        while True:
            while True:
                buf, n = self.buf, len(self.buf)
                while self.i < n and buf[self.i] in b" \t\r\n,":
                    self.i += 1
                if self.i < n or self.eof:
                    break
                yield
            if self.i >= len(self.buf):
                return
            yield from self._value(0, True)

    def _value(self, depth: int, on_path: bool):
        yield from self._ws()
        if on_path and depth == len(self.steps):
            self.keep = self.i
            yield from self._skip()
            self.out.append((self.base + self.keep, bytes(self.buf[self.keep:self.i])))
            self.keep = None
            return
        c = self.buf[self.i]
        if not on_path or c not in b"{[":
            yield from self._skip()
            return
        step = self.steps[depth]
        self.i += 1
        index = 0
        close = b"}"[0] if c == b"{"[0] else b"]"[0]
        while True:
            yield from self._ws()
            if self.buf[self.i] == close:
                self.i += 1
                return
            if c == b"{"[0]:
                key = yield from self._key()
                yield from self._ws()
                if self.buf[self.i] != b":"[0]:
                    raise DataError("invalid JSON: ':' expected after an object key")
                self.i += 1
                yield from self._value(depth + 1, isinstance(step, str) and step != "*" and step == key)
            else:
                yield from self._value(depth + 1, step == "*" or step == index)
                index += 1
            yield from self._ws()
            d = self.buf[self.i]
            if d == b","[0]:
                self.i += 1
            elif d != close:
                raise DataError("invalid JSON: ',' or the container's end expected")

    def _mark(self) -> tuple:
        """Hold the bytes from here on while the walk waits for more (compaction keeps everything
        from `keep`); the position is kept relative to `keep`, which compaction moves."""
        own = self.keep is None
        if own:
            self.keep = self.i
        return own, self.i - self.keep

    def _release(self, mark: tuple) -> int:
        own, rel = mark
        start = self.keep + rel
        if own:
            self.keep = None
        return start

    def _key(self):
        if self.buf[self.i] != b'"'[0]:
            raise DataError("invalid JSON: an object key must be a string")
        mark = self._mark()
        yield from self._skip()
        start = self._release(mark)
        try:
            return json.loads(bytes(self.buf[start:self.i]))
        except ValueError as exc:
            raise DataError(f"invalid JSON: {exc}")

    def _skip(self):
        """Past one value: a container by bracket matching, a string, or a scalar token."""
        c = self.buf[self.i]
        if c in b"{[":
            depth, in_str, esc = 0, False, False
            while True:
                buf, n = self.buf, len(self.buf)
                while self.i < n:
                    if esc:
                        esc = False
                        self.i += 1
                        continue
                    m = _STRUCT.search(buf, self.i)
                    if m is None:
                        self.i = n
                        break
                    ch = buf[m.start()]
                    self.i = m.end()
                    if in_str:
                        if ch == 0x5C:          # backslash
                            esc = True
                        elif ch == 0x22:        # quote
                            in_str = False
                    elif ch == 0x22:
                        in_str = True
                    elif ch in b"{[":
                        depth += 1
                    else:
                        depth -= 1
                        if depth == 0:
                            return
                yield from self._more()
        if c == 0x22:
            self.i += 1
            esc = False
            while True:
                buf, n = self.buf, len(self.buf)
                while self.i < n:
                    ch = buf[self.i]
                    self.i += 1
                    if esc:
                        esc = False
                    elif ch == 0x5C:
                        esc = True
                    elif ch == 0x22:
                        return
                yield from self._more()
        mark = self._mark()
        while True:
            m = _SCALAR_END.search(self.buf, self.i)
            if m is not None or self.eof:
                start = self._release(mark)
                end = m.start() if m is not None else len(self.buf)
                if not _SCALAR.fullmatch(self.buf, start, end):
                    raise DataError("invalid JSON: unexpected "
                                    + repr(bytes(self.buf[start:min(end, start + 20)]).decode("utf-8", "replace")))
                self.i = end
                return
            yield                  # the token may go on in the next chunk: look again from its start
