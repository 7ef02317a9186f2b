"""One SelectObject or CreateSelectObjectMeta run: object bytes in, output records out.

`Job.consume(chunk)` takes the object's bytes as they stream (possibly gzip-compressed) and
appends finished output to an internal buffer that the operation drains into frames, so memory
holds one chunk, one partial record and the pending output, never the object (a JSON DOCUMENT is
walked to the values its FROM path names, see readers.JsonPathSplitter). A data error stops the run and is kept in
`error`; the operation decides whether it can still be an HTTP error or must go in the end frame.
"""
from __future__ import annotations

import re
import zlib
from typing import Optional

from .evaluate import (MISSING, DataError, aggregate_value, collect_aggregates, evaluate,
                       text, truth)
from .readers import CsvSplitter, JsonPathSplitter, JsonSplitter, csv_quote, decode_json, json_dump, split_fields
from .request import CSV, SelectArgs
from .sql import Column, Query, SqlError

# A split (CreateSelectObjectMeta's Splits, SelectObject's split-range) is the run of records whose
# first byte lies in one SPLIT_SIZE-aligned window of the (decompressed) object: computable while
# streaming, so a split-range select needs no stored meta.
SPLIT_SIZE = 256 * 1024
_POSITIONAL = re.compile(r"^_(\d+)$")


# Decompressed bytes handled per step: a small GZIP object can expand a thousandfold, so its
# output is taken in bounded pieces and the pending result drained between them.
_PIECE = 4 * 1024 * 1024


class _Gunzip:
    def __init__(self):
        self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.fed = False
        self.input = b""

    def push(self, data: bytes) -> None:
        self.fed = self.fed or bool(data)
        self.input = data

    def pull(self) -> Optional[bytes]:
        """The next piece of decompressed bytes (at most _PIECE), or None when the input pushed
        so far is used up."""
        try:
            while self.input:
                if self.d.eof:     # concatenated gzip members: the next one starts here
                    self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out = self.d.decompress(self.input, _PIECE)
                self.input = self.d.unused_data if self.d.eof else self.d.unconsumed_tail
                if out:
                    return out
        except zlib.error as exc:
            raise DataError(f"the object is not valid GZIP data: {exc}")
        return None

    def finish(self) -> None:
        if self.fed and not self.d.eof:
            raise DataError("the GZIP data ends early")


class Job:
    def __init__(self, args: SelectArgs, query: Optional[Query], byte_range=None, counting: bool = False):
        self.args = args
        self.q = query
        self.counting = counting
        self.byte_range = byte_range          # (first, last) byte of an HTTP Range, inclusive
        self.gunzip = _Gunzip() if args.gzip else None
        self.record_path: tuple = ()
        if args.fmt == CSV:
            self.splitter = CsvSplitter(args.record_delim.encode(), args.quote.encode(),
                                        args.allow_quoted_rd and byte_range is None,
                                        args.comment.encode() if args.comment else None)
            self.fd = args.field_delim.encode()
            self.qc = args.quote.encode()
        elif query is not None and args.json_type == "DOCUMENT":
            # the walk finds the FROM path's values itself: only they are held, one at a time
            self.splitter = JsonPathSplitter(query.source_path)
            self.record_path = ()
        else:
            self.splitter = JsonSplitter()
            self.record_path = query.source_path if query is not None else ()
        self.scanned = 0          # object bytes consumed (compressed, when the object is)
        self.pending = b""
        self.index = 0            # records seen (a CSV header is record 0)
        self.out = bytearray()
        self.emitted = 0
        self.skipped = 0
        self.done = False
        self.error: Optional[str] = None
        self.error_is_sql = False
        self.header_names: Optional[list] = None
        self.header_written = False
        self.col_index: dict = {}
        self.col_cache: dict = {}     # id(Column) -> field index, once resolved
        self.aggs = collect_aggregates(query) if query is not None and query.aggregate else {}
        # meta counters
        self.rows = 0
        self.columns = 0
        self.last_offset = -1
        if args.fmt == CSV and query is not None and args.header != "USE":
            for col in query.columns:
                try:
                    self._resolve(col)
                except _ColumnError as exc:
                    raise SqlError(str(exc))

    # -- input ---------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the object; `step()` then works through it."""
        self.scanned += len(chunk)
        if self.gunzip:
            self.gunzip.push(chunk)
        else:
            self.pending = chunk

    def step(self) -> bool:
        """Work through a bounded piece of the fed chunk; False once it is used up (or the run
        ended: done, or an error)."""
        if self.done or self.error:
            return False
        try:
            if self.gunzip:
                data = self.gunzip.pull()
                if data is None:
                    return False
            else:
                data, self.pending = self.pending, b""
                if not data:
                    return False
            self._records(self.splitter.feed(data))
            return True
        except DataError as exc:
            self._fail(exc)
        except RecursionError:
            self._fail(DataError("a record is nested too deeply"))
        return False


    def _fail(self, exc: DataError) -> None:
        self.error = str(exc)
        self.error_is_sql = isinstance(exc, _ColumnError)

    def finish(self) -> None:
        if self.error:
            return
        try:
            if not self.done:
                if self.gunzip:
                    self.gunzip.finish()
                self._records(self.splitter.finish())
            if self.aggs and not self.counting:
                values = [aggregate_value(i.expr, self.aggs) for i in self.q.items]
                self._write(values, None, None)
        except DataError as exc:
            self._fail(exc)
        except RecursionError:
            self._fail(DataError("a record is nested too deeply"))

    def take(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out

    # -- records -------------------------------------------------------------------------------
    def _records(self, records) -> None:
        for offset, raw in records:
            if self.done:
                return
            index = self.index
            self.index += 1
            if self.counting:
                self._count(offset, raw)
                continue
            if self.args.fmt == CSV and index == 0 and self.args.header != "NONE":
                self._header(raw)
                continue
            if not self._in_range(index, offset):
                continue
            if self.args.fmt == CSV:
                fields = split_fields(raw, self.fd, self.qc)
                self._row(fields, self._csv_lookup(fields))
            else:
                value = decode_json(raw, self.args.numbers_as_strings)
                for rec in _from_path(value, self.record_path):
                    self._row(rec, _json_lookup(rec))
                    if self.done:
                        return

    def _in_range(self, index: int, offset: int) -> bool:
        a = self.args
        if self.byte_range is not None:
            first, last = self.byte_range
            if offset > last:
                self.done = True
                return False
            return offset >= first
        if a.range_kind is None:
            return True
        pos = index if a.range_kind == "line" else offset // SPLIT_SIZE
        if a.range_end is not None and pos > a.range_end:
            self.done = True
            return False
        return a.range_start is None or pos >= a.range_start

    def _count(self, offset: int, raw: bytes) -> None:
        self.rows += 1
        self.last_offset = offset
        if self.args.fmt == CSV:
            self.columns = max(self.columns, len(split_fields(raw, self.fd, self.qc)))
        else:
            decode_json(raw, False)

    def _header(self, raw: bytes) -> None:
        names = split_fields(raw, self.fd, self.qc)
        self.header_names = names
        if self.args.header == "USE":
            for i, name in enumerate(names):
                self.col_index.setdefault(name.strip().lower(), i)
        for col in self.q.columns:
            self._resolve(col)   # an unknown column fails before any output

    def _resolve(self, col: Column) -> int:
        if len(col.path) != 1 or not isinstance(col.path[0], str):
            raise _sql_error(f"CSV columns have no fields: {col.text}")
        name = col.path[0]
        m = _POSITIONAL.match(name)
        if m and int(m.group(1)) >= 1:
            return int(m.group(1)) - 1
        if self.args.header == "USE":
            i = self.col_index.get(name.strip().lower())
            if i is not None:
                return i
        raise _sql_error(f"the column {name!r} does not exist"
                         + ("" if self.args.header == "USE" else " (name columns with FileHeaderInfo USE)"))

    def _csv_lookup(self, fields):
        cache = self.col_cache

        def lookup(col):
            i = cache.get(id(col))
            if i is None:
                i = cache[id(col)] = self._resolve(col)
            return fields[i] if i < len(fields) else MISSING
        return lookup

    def _row(self, rec, lookup) -> None:
        q = self.q
        try:
            if self.args.skip_partial and any(lookup(c) is MISSING for c in q.columns):
                self._skip("the record lacks a column the SQL reads (SkipPartialDataRecord)")
                return
            if q.where is not None and truth(evaluate(q.where, lookup)) is not True:
                return
            if self.aggs:
                for agg in self.aggs.values():
                    agg.feed(lookup)
                return
            if q.star:
                self._write(None, rec, lookup)
            else:
                self._write([evaluate(i.expr, lookup) for i in q.items], rec, lookup)
        except _ColumnError:
            raise
        except DataError as exc:
            self._skip(str(exc))

    def _skip(self, why: str) -> None:
        self.skipped += 1
        if self.skipped > self.args.max_skipped:
            raise DataError(f"{why}; {self.skipped} record(s) skipped, more than MaxSkippedRecordsAllowed "
                            f"({self.args.max_skipped})")

    # -- output --------------------------------------------------------------------------------
    def _write(self, values, rec, lookup) -> None:
        a = self.args
        if a.fmt == CSV:
            if values is None:
                cells = list(rec)
            elif a.keep_all_columns and rec is not None and all(isinstance(i.expr, Column) for i in self.q.items):
                cells = [""] * len(rec)
                for item, v in zip(self.q.items, values):
                    i = self._resolve(item.expr)
                    if i >= len(cells):
                        cells.extend([""] * (i + 1 - len(cells)))
                    cells[i] = text(v)
            else:
                cells = [text(v) for v in values]
            if a.output_header and not self.header_written:
                self.header_written = True
                self._line(self._output_names(len(cells)))
            self._line(cells)
        else:
            if values is None:
                obj = rec if isinstance(rec, dict) else {"_1": rec}
            else:
                obj = {}
                for pos, (item, v) in enumerate(zip(self.q.items, values), 1):
                    if v is MISSING:
                        continue    # an absent key stays absent (OSS writes {} for it)
                    obj[_json_name(item, pos)] = v
            self.out += (json_dump(obj) + a.out_record_delim).encode("utf-8")
        self.emitted += 1
        if self.q.limit is not None and self.emitted >= self.q.limit:
            self.done = True

    def _line(self, cells) -> None:
        a = self.args
        fd, rd = a.out_field_delim, a.out_record_delim
        self.out += (fd.join(csv_quote(c, fd, rd) for c in cells) + rd).encode("utf-8")

    def _output_names(self, width: int) -> list:
        if self.q.star or (self.args.keep_all_columns and all(isinstance(i.expr, Column) for i in self.q.items)):
            names = list(self.header_names or [])
            return names + [f"_{i}" for i in range(len(names) + 1, width + 1)]
        out = []
        for pos, item in enumerate(self.q.items, 1):
            if item.alias:
                out.append(item.alias)
            elif isinstance(item.expr, Column):
                i = self._resolve(item.expr)
                if self.header_names is not None and i < len(self.header_names):
                    out.append(self.header_names[i])
                else:
                    out.append(f"_{i + 1}")
            else:
                out.append(f"_{pos}")
        return out


def _sql_error(message: str) -> DataError:
    # a column the header does not have is a SQL error, found once the header was read
    return _ColumnError(message)


class _ColumnError(DataError):
    pass


def _json_name(item, pos: int) -> str:
    if item.alias:
        return item.alias
    if isinstance(item.expr, Column):
        for step in reversed(item.expr.path):
            if isinstance(step, str):
                return step
    return f"_{pos}"


def _json_lookup(rec):
    def lookup(col: Column):
        v = rec
        for step in col.path:
            if isinstance(step, str) and isinstance(v, dict):
                v = v.get(step, MISSING)
            elif isinstance(step, int) and isinstance(v, list):
                v = v[step] if step < len(v) else MISSING
            else:
                return MISSING
            if v is MISSING:
                return MISSING
        return v
    return lookup


def _from_path(value, steps):
    """The records FROM ossobject<steps> names in one JSON value: `[*]` iterates an array."""
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if step == "*":
        if isinstance(value, list):
            for item in value:
                yield from _from_path(item, rest)
        return
    if isinstance(step, str) and isinstance(value, dict) and step in value:
        yield from _from_path(value[step], rest)
    elif isinstance(step, int) and isinstance(value, list) and step < len(value):
        yield from _from_path(value[step], rest)

