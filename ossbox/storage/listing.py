"""Listing: the pages of ListObjects / ListObjectsV2 / ListObjectVersions, delimiter roll-up included.

Keys are read from the metadata store in byte order (the store's contract) a batch at a time;
a delimiter rolls keys up into common prefixes, and a rolled-up group is jumped over with one query
from the prefix's successor, never read key by key. Wire concerns (max-keys, encoding, XML, tokens)
stay in ops/listing.py.
"""
from __future__ import annotations

from typing import Optional

from .metadata import CURRENT_SEQ, MetadataStore

_LAST_CHAR = "\U0010ffff"
_MIN_BATCH = 16                # smallest listing batch when a delimiter makes us jump over groups


def _successor(text: str) -> Optional[str]:
    """The smallest string sorting after every string that starts with `text` (None: nothing does)."""
    text = text.rstrip(_LAST_CHAR)
    if not text:
        return None
    c = ord(text[-1]) + 1
    if 0xD800 <= c <= 0xDFFF:  # skip the surrogate block; keys are valid UTF-8
        c = 0xE000
    return text[:-1] + chr(c)


async def scan(meta: MetadataStore, bucket: str, prefix: str, delimiter: str, marker: str, limit: int
               ) -> tuple[list, bool, str]:
    """Up to `limit` entries after `marker`, in key order: ObjectRecords, or common-prefix strings
    when a delimiter rolls keys up. Returns (entries, truncated, next marker).

    A common prefix sorting at or before the marker was returned on an earlier page (the marker of
    a page that ended on a common prefix is that prefix), so it is skipped. A rolled-up group is
    jumped over with one query from the prefix's successor, never read key by key. With a
    delimiter the batch size adapts: batches that end inside a group (whose tail rows were wasted)
    shrink towards _MIN_BATCH, batches that were mostly useful grow towards what is still needed."""
    entries: list = []
    if limit == 0:
        return entries, False, ""
    plen = len(prefix)
    dlen = len(delimiter)
    after, inclusive = marker, False
    batch_size = _MIN_BATCH * 4
    while True:
        need = limit + 1 - len(entries)          # one more than wanted tells whether we truncated
        batch_size = min(max(batch_size, _MIN_BATCH), need) if dlen else need
        batch = await meta.list_objects(bucket, prefix, after, batch_size, inclusive)
        before = len(entries)
        skipping: Optional[str] = None
        for rec in batch:
            key = rec.key
            if skipping is not None:
                if key.startswith(skipping):
                    continue
                skipping = None
            if dlen:
                i = key.find(delimiter, plen)
                if i >= 0:
                    cp = skipping = key[: i + dlen]
                    if cp <= marker:
                        continue
                    if len(entries) == limit:
                        return entries, True, _name(entries[-1])
                    entries.append(cp)
                    continue
            if len(entries) == limit:
                return entries, True, _name(entries[-1])
            entries.append(rec)
        if len(batch) < batch_size:
            return entries, False, ""
        batch_size = 2 * (len(entries) - before)
        if skipping is not None:
            nxt = _successor(skipping)
            if nxt is None:
                return entries, False, ""
            after, inclusive = nxt, True
        else:
            after, inclusive = batch[-1].key, False


def _name(entry) -> str:
    return entry if isinstance(entry, str) else entry.key


async def scan_versions(meta: MetadataStore, bucket: str, prefix: str, delimiter: str, key_marker: str,
                        before_seq: int, limit: int) -> tuple[list, bool]:
    """Up to `limit` entries from the position (key_marker, before_seq) on, in (key, newest
    first) order: (record, position, is latest) tuples, or common-prefix strings when a delimiter
    rolls keys up (a rolled-up group is jumped over, never read version by version)."""
    entries: list = []
    if limit == 0:
        return entries, False
    after_key, before = key_marker, before_seq
    while True:
        need = limit + 1 - len(entries)
        batch = await meta.list_versions(bucket, prefix, after_key, before, need)
        jumped = False
        for item in batch:
            key = item[0].key
            if delimiter:
                i = key.find(delimiter, len(prefix))
                if i >= 0:
                    cp = key[: i + len(delimiter)]
                    if cp > key_marker:  # a prefix at or before the marker was on an earlier page
                        if len(entries) == limit:
                            return entries, True
                        entries.append(cp)
                    nxt = _successor(cp)
                    if nxt is None:
                        return entries, False
                    after_key, before, jumped = nxt, CURRENT_SEQ + 1, True
                    break
            if len(entries) == limit:
                return entries, True
            entries.append(item)
        if jumped:
            continue
        if len(batch) < need:
            return entries, False
        after_key, before = batch[-1][0].key, batch[-1][1]
