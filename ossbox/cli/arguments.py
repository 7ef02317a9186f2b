"""Command-line values the high-level commands share: sizes, counts, case-insensitive choices,
and the --include / --exclude filters."""
from __future__ import annotations

import argparse
import fnmatch
import re

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3

BUCKET_ACLS = ("private", "public-read", "public-read-write")
OBJECT_ACLS = BUCKET_ACLS + ("default",)
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
REDUNDANCY_TYPES = ("LRS", "ZRS")

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpe])?(i?b)?\s*$", re.I)
_SIZE_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def parse_size(text: str) -> int:
    """ossutil's SizeSuffix: bytes, or a K/M/G/T/P/E suffix in powers of 1024 (`1.5M`, `64KiB`)."""
    m = _SIZE_RE.match(text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size '{text}': bytes, or a number with a K/M/G/T/P suffix")
    return int(float(m.group(1)) * 1024 ** _SIZE_POWER[(m.group(2) or "").lower()])


def non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer '{text}'")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def choice(values):
    """Case-insensitive choice that returns the canonical spelling."""
    by_lower = {v.lower(): v for v in values}

    def convert(text: str) -> str:
        try:
            return by_lower[text.lower()]
        except KeyError:
            raise argparse.ArgumentTypeError(f"invalid value '{text}' (choose from {', '.join(values)})")
    return convert


class Filter:
    """--include / --exclude shell patterns, matched against the path relative to the listed prefix
    and against the base name (`*.txt` matches `a/b.txt`). With includes, an item must match one."""

    def __init__(self, includes=None, excludes=None):
        self.includes = list(includes or ())
        self.excludes = list(excludes or ())

    def __bool__(self) -> bool:
        return bool(self.includes or self.excludes)

    @staticmethod
    def _hit(rel: str, pattern: str) -> bool:
        name = rel.rstrip("/").rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern)

    def match(self, rel: str) -> bool:
        if self.includes and not any(self._hit(rel, p) for p in self.includes):
            return False
        return not any(self._hit(rel, p) for p in self.excludes)


def add_filters(p) -> None:
    p.add_argument("--include", action="append", metavar="PATTERN",
                   help="only items matching this shell pattern (repeatable)")
    p.add_argument("--exclude", action="append", metavar="PATTERN",
                   help="skip items matching this shell pattern (repeatable)")
