"""Minute and hour buckets as stored: `2026-01-01T12:34:00Z`, `2026-01-01T12:00:00Z`.

Timestamps are stored in the canonical form, so a bucket is a prefix of the
timestamp plus zeros, string order is time order, and no datetime object is
needed on the hot paths.
"""

from __future__ import annotations

import calendar
import time

MINUTE = 60
HOUR = 3600


def minute_of(ts: str) -> str:
    """The minute bucket holding a canonical timestamp."""
    return ts[:16] + ":00Z"


def hour_of(ts: str) -> str:
    """The hour bucket holding a canonical timestamp or bucket."""
    return ts[:13] + ":00:00Z"


def to_epoch(ts: str) -> int:
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))


def from_epoch(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(0, int(seconds))))


def floor_epoch(seconds: float, step: int) -> str:
    """The bucket of `step` seconds (60 or 3600) holding an epoch time."""
    whole = max(0, int(seconds))
    return from_epoch(whole - whole % step)


def shift(bucket: str, seconds: int) -> str:
    return from_epoch(to_epoch(bucket) + seconds)


def ceil_hour(ts: str) -> str:
    """The first hour boundary at or after `ts`."""
    start = hour_of(ts)
    return start if start == ts else shift(start, HOUR)
