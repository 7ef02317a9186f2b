"""What the commands show and ask on the terminal: sizes and times as ossutil shows them, and the
y/N question."""
from __future__ import annotations

import datetime as _dt
import sys
from typing import Optional


def human(n: float) -> str:
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return f"{n:.2f} {unit}"
    return f"{n:.2f} PiB"  # pragma: no cover


def _as_datetime(value) -> Optional[_dt.datetime]:
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    text = str(value)
    try:
        from email.utils import parsedate_to_datetime
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        pass
    try:
        parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def local_time(value) -> str:
    """ossutil's time display: `2006-01-02 15:04:05 -0700 MST` in local time."""
    dt = _as_datetime(value)
    if dt is None:
        return "" if value is None else str(value)
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")


def iso_time(value) -> Optional[str]:
    dt = _as_datetime(value)
    return None if dt is None else dt.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def timestamp(value) -> Optional[float]:
    dt = _as_datetime(value)
    return None if dt is None else dt.timestamp()


def confirm(question: str) -> bool:
    sys.stderr.write(f"{question} (y or N)? ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
