"""UTC ISO 8601 timestamps: stored and returned as `2026-01-01T12:00:00Z`.

Every service stores this one canonical form (ISO_FORMAT), so string order is
time order. Minute and hour buckets (`2026-01-01T12:34:00Z`,
`2026-01-01T12:00:00Z`) are then a prefix of the timestamp plus zeros, and the
hot paths need no datetime objects.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime, timedelta

#: The stored form, for strftime / strptime.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

MINUTE = 60
HOUR = 3600

#: `...T14:00:00 02:00`: a `+` offset typed into a URL arrives decoded as a space.
_SPACE_OFFSET = re.compile(r"(:\d{2}(?:\.\d+)?) (\d{2}:?\d{2})$")


def now_iso() -> str:
    return time.strftime(ISO_FORMAT, time.gmtime())


def format_iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    # strftime's %Y drops leading zeros before year 1000; text comparison needs four digits.
    return f"{moment.year:04d}" + moment.strftime(ISO_FORMAT[2:])


def cutoff_for(days: int, now: datetime | None = None) -> str:
    """The moment `days` before now, stored form: what retention deletes before."""
    now = now or datetime.now(UTC)
    try:
        return format_iso(now - timedelta(days=days))
    except OverflowError:  # a retention longer than the calendar: nothing is that old
        return format_iso(datetime.min)


def parse_iso(text: str) -> datetime:
    """ISO 8601 with `Z` or an offset, with or without fractions; naive means UTC.

    Raises ValueError for anything else (`yesterday`, `1700000000`).
    """
    if not isinstance(text, str) or not 10 <= len(text) <= 40 or not text[:4].isdigit():
        raise ValueError("expected an ISO 8601 timestamp such as 2026-01-01T12:00:00Z")
    candidate = text.strip()
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    candidate = _SPACE_OFFSET.sub(r"\1+\2", candidate)
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError("expected an ISO 8601 timestamp such as 2026-01-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("timestamp is out of range") from None


def to_iso(text: str) -> str:
    """Normalise any accepted ISO 8601 input to the stored form."""
    return format_iso(parse_iso(text))


# --- buckets: canonical timestamps cut to the minute or hour --------------------------------


def minute_of(ts: str) -> str:
    """The minute bucket holding a canonical timestamp."""
    return ts[:16] + ":00Z"


def hour_of(ts: str) -> str:
    """The hour bucket holding a canonical timestamp or bucket."""
    return ts[:13] + ":00:00Z"


def to_epoch(ts: str) -> int:
    """Epoch seconds of a canonical timestamp."""
    return calendar.timegm(time.strptime(ts, ISO_FORMAT))


def from_epoch(seconds: float) -> str:
    """The canonical timestamp of an epoch time (whole seconds; never before 1970)."""
    return time.strftime(ISO_FORMAT, time.gmtime(max(0, int(seconds))))


def floor_epoch(seconds: float, step: int) -> str:
    """The bucket of `step` seconds (MINUTE or HOUR) holding an epoch time."""
    whole = max(0, int(seconds))
    return from_epoch(whole - whole % step)


def shift(bucket: str, seconds: int) -> str:
    """A canonical timestamp moved by `seconds`."""
    return from_epoch(to_epoch(bucket) + seconds)


def ceil_hour(ts: str) -> str:
    """The first hour boundary at or after `ts`."""
    start = hour_of(ts)
    return start if start == ts else shift(start, HOUR)
