"""GET /api/logs/histogram: how many entries per time bucket and level, for the filters.

The log volume graph over the results: a spike of errors shows where to
look before reading a line. The bucket size is the smallest of BUCKETS
giving at most MAX_BUCKETS buckets over the range (`since`..`until`,
defaulting to the filtered entries' own first and last times).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from log_viewer.levels import LEVELS
from log_viewer.listing import Filters, fts_errors
from shared.timeutil import parse_iso

#: Bucket sizes in seconds, smallest first.
BUCKETS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400)
MAX_BUCKETS = 120
LAST = 253_402_300_799.0  # 9999-12-31T23:59:59Z


def bucket_size(seconds: float) -> int:
    """The smallest bucket giving at most MAX_BUCKETS buckets over `seconds`."""
    for size in BUCKETS:
        if seconds / size <= MAX_BUCKETS:
            return size
    return BUCKETS[-1] * max(1, int(seconds / BUCKETS[-1] / MAX_BUCKETS) + 1)


def _epoch(stored: str) -> float:
    return parse_iso(stored).timestamp()


def histogram(conn: sqlite3.Connection, filters: Filters) -> dict[str, Any]:
    """The read job of GET /api/logs/histogram."""
    where, args = filters.where()

    def run() -> dict[str, Any]:
        since, until = filters.since, filters.until
        if since is None or until is None:
            low, high = conn.execute(
                f"SELECT min(e.timestamp), max(e.timestamp) FROM log_entries e{where}", args
            ).fetchone()
            since = since or low
            until = until or high
        if since is None or until is None:
            return {"bucket_seconds": None, "since": None, "until": None, "buckets": []}
        # Within what a timestamp can print (a `since` of year 1 is legal input).
        start = min(max(_epoch(since), 0.0), LAST)
        end = min(max(_epoch(until), start), LAST)
        size = bucket_size(max(end - start, 1.0))
        first = int(start // size) * size
        rows = conn.execute(
            "SELECT (CAST(strftime('%s', substr(e.timestamp, 1, 19)) AS INTEGER) / ?) * ?,"
            f" e.level, count(*) FROM log_entries e{where} GROUP BY 1, 2",
            (size, size, *args),
        ).fetchall()
        counts: dict[int, dict[str, int]] = {}
        for bucket, level, n in rows:
            counts.setdefault(int(bucket), {})[level] = n
        buckets = []
        for at in range(first, int(end) + 1, size):
            levels = counts.get(at, {})
            buckets.append(
                {
                    "start": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "counts": {level: levels.get(level, 0) for level in LEVELS},
                    "total": sum(levels.values()),
                }
            )
        return {
            "bucket_seconds": size,
            "since": since,
            "until": until,
            "buckets": buckets,
        }

    return fts_errors(run)
