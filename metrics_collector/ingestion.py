"""POST /api/metrics: validate a whole batch, then store it in one write job.

The points go in as a few fixed-size multi-row INSERTs (shared.bulk) —
not a statement per row, and about twice as fast as executemany. This is
the hot path (hundreds of thousands of points a second), so the
per-point work is a handful of type checks: no datetime parsing when the
timestamp is already canonical (checked with a regex, cached per batch),
and label objects are serialised once with sorted keys.
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from metrics_collector.database import write_state
from shared.bulk import BulkInsert
from shared.responses import ApiError, BadRequest
from shared.timeutil import HOUR, floor_epoch, from_epoch, minute_of, now_iso, to_iso
from shared.validate import parse_json

log = logging.getLogger("monlight.metrics_collector.ingestion")

TYPES = frozenset(("counter", "histogram", "gauge"))
#: Points per batch by default (MAX_BATCH_POINTS): the published 0.3.0 client flushes
#: everything it gathered in one batch, ~500 requests/s of an app fit in 10,000.
MAX_POINTS = 10_000
MAX_NAME = 200
MAX_PROJECT = 100

#: A timestamp already in the stored form: only its calendar validity is left to check.
_CANONICAL = re.compile(r"\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\dZ")
_TS_HINT = "an ISO 8601 timestamp such as 2026-01-01T12:00:00Z"

RAW_COLUMNS = ("timestamp", "name", "labels", "value", "type", "project")
#: The points of a batch go in as a few multi-row INSERTs (see shared.bulk).
insert_raw = BulkInsert("metrics_raw", RAW_COLUMNS)

#: (name, labels or "", project or "", type): one series.
SeriesKey = tuple[str, str, str, str]


@dataclass(slots=True)
class Batch:
    #: The points' columns in RAW_COLUMNS order, flattened (what insert_raw takes).
    values: list[Any]
    count: int
    #: The distinct series of the batch, for the catalog and the series bound.
    series: set[SeriesKey]
    #: Minute the batch was received in (the /health counter).
    received: str
    #: Minute buckets the points fall in: they need (re)aggregation.
    minutes: list[str]


def canonical_labels(labels: dict[str, Any]) -> str | None:
    """Sorted-key compact JSON; non-string values become their compact JSON text.

    `{"b": "1", "a": 2}` and `{"a": "2", "b": "1"}` give the same text, so
    they are one series; nested values are kept (the earlier implementation
    accepted them) as canonical JSON text.
    """
    if not labels:
        return None
    for value in labels.values():
        if value.__class__ is not str:
            sort = orjson.OPT_SORT_KEYS
            labels = {
                k: v if v.__class__ is str else orjson.dumps(v, option=sort).decode()
                for k, v in labels.items()
            }
            break
    return orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


def normalise_timestamp(text: Any) -> str:
    """The stored form of an accepted timestamp; ValueError otherwise."""
    if text.__class__ is not str:
        raise ValueError
    if len(text) == 20 and _CANONICAL.fullmatch(text):
        datetime.fromisoformat(text[:19])  # the calendar check (Feb 30, hour 24)
        return text
    return to_iso(text)


@dataclass(frozen=True, slots=True)
class Window:
    """The timestamps a point may carry, as canonical text (string order is time order).

    Older than `oldest` the hour tier has already been purged: the point would
    be accepted and then deleted unseen. Newer than `newest` (an hour ahead)
    it would sit raw and "dirty" until its time came, maybe forever.
    """

    oldest: str
    newest: str
    retention: str  # how `oldest` came about, for the 400


def window_at(now: float, retention_hourly_days: int) -> Window:
    oldest = floor_epoch(now - retention_hourly_days * 86_400, HOUR)
    return Window(oldest, from_epoch(now + HOUR), f"RETENTION_HOURLY={retention_hourly_days} days")


def parse_batch(body: bytes, window: Window | None = None, max_points: int = MAX_POINTS) -> Batch:
    """Validate every point; BadRequest names the first bad index and field.

    With a `window`, timestamps outside it are refused (tools that seed past
    data on purpose call it without one).
    """
    data = parse_json(body)
    if data.__class__ is not list:
        raise BadRequest("Request body must be a JSON array of metric points")
    n = len(data)
    if not 1 <= n <= max_points:
        raise BadRequest(
            f"Request body must hold 1 to {max_points} points (got {n}; MAX_BATCH_POINTS)"
        )
    now = now_iso()
    stamps: dict[str, str] = {}
    used_now = False
    values: list[Any] = []
    series: set[SeriesKey] = set()
    extend, add, isfinite = values.extend, series.add, math.isfinite
    for i, point in enumerate(data):
        if point.__class__ is not dict:
            raise BadRequest(f"points[{i}] must be an object")
        name = point.get("name")
        if name.__class__ is not str or not 0 < len(name) <= MAX_NAME:
            if name is None:
                raise BadRequest(f"points[{i}].name is required")
            raise BadRequest(f"points[{i}].name must be a string of 1 to {MAX_NAME} characters")
        kind = point.get("type")
        if kind.__class__ is not str or kind not in TYPES:
            raise BadRequest(f"points[{i}].type must be one of: counter, histogram, gauge")
        value: Any = point.get("value")
        cls = value.__class__
        if cls is float:
            if not isfinite(value):
                raise BadRequest(f"points[{i}].value must be a finite number")
        elif cls is int:
            value = float(value)
        else:
            raise BadRequest(f"points[{i}].value must be a finite number")
        labels = point.get("labels")
        if labels is not None:
            if labels.__class__ is not dict:
                raise BadRequest(f"points[{i}].labels must be an object")
            try:
                labels = canonical_labels(labels)
            except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels)
                raise BadRequest(f"points[{i}].labels is nested too deeply") from None
        project = point.get("project")
        if project is not None:
            if project.__class__ is not str or len(project) > MAX_PROJECT:
                raise BadRequest(
                    f"points[{i}].project must be a string of at most {MAX_PROJECT} characters"
                )
            if not project:
                project = None
        ts = point.get("timestamp")
        if ts is None:
            ts = now
            used_now = True
        else:
            stored = stamps.get(ts) if ts.__class__ is str else None
            if stored is None:
                try:
                    stored = normalise_timestamp(ts)
                except ValueError:
                    raise BadRequest(f"points[{i}].timestamp must be {_TS_HINT}") from None
                if window is not None:
                    check_window(i, stored, window)
                stamps[ts] = stored
            ts = stored
        extend((ts, name, labels, value, kind, project))
        add((name, labels or "", project or "", kind))
    minutes = {minute_of(ts) for ts in stamps.values()}
    if used_now:
        minutes.add(minute_of(now))
    return Batch(values, n, series, minute_of(now), sorted(minutes))


def check_window(i: int, stored: str, window: Window) -> None:
    if stored > window.newest:
        raise BadRequest(
            f"points[{i}].timestamp is more than 1 hour ahead of the server clock"
            f" ({stored}); check the sender's clock"
        )
    if stored < window.oldest:
        raise BadRequest(
            f"points[{i}].timestamp ({stored}) is older than anything kept"
            f" ({window.retention}): it could never be shown"
        )


#: Catalog entries kept in memory (~200 bytes each at most): past it the set restarts.
MAX_KNOWN = 20_000


class Rejections:
    """Batches refused in the last 24 h, and a warning log a client cannot flood.

    Counted per minute in memory (cheap for /health; a restart starts over).
    Each client gets at most one warning line per LOG_EVERY seconds, which
    says how many of its batches were refused since the last one.
    """

    LOG_EVERY = 60.0
    MAX_CLIENTS = 10_000

    def __init__(self) -> None:
        self._per_minute: dict[int, int] = {}
        self._clients: dict[str, tuple[float, int]] = {}  # last line, refused since
        self._lock = threading.Lock()

    def record(self, client: str, reason: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        minute = int(now // 60)
        with self._lock:
            self._per_minute[minute] = self._per_minute.get(minute, 0) + 1
            if len(self._per_minute) > 24 * 60 + 10:
                for old in [m for m in self._per_minute if m <= minute - 24 * 60]:
                    del self._per_minute[old]
            last, since = self._clients.get(client, (-math.inf, 0))
            if now - last < self.LOG_EVERY:
                self._clients[client] = (last, since + 1)
                return
            if len(self._clients) >= self.MAX_CLIENTS:
                self._clients.clear()
            self._clients[client] = (now, 0)
        more = f" (and {since} more from it since the last line)" if since else ""
        log.warning("refused a metrics batch from %s: %s%s", client, reason, more)

    def last_24h(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        first = int(now // 60) - 24 * 60
        with self._lock:
            return sum(n for m, n in self._per_minute.items() if m > first)


class Catalog:
    """The series known to be in `metric_series` (and their names in `metric_catalog`).

    Ingestion writes only series missing here, so a batch usually costs no
    catalog write at all. The set is filled after a commit (a write job may
    be replayed, so jobs must not change it) and cleared when retention prunes.
    """

    def __init__(self) -> None:
        self.known: set[SeriesKey] = set()
        self.lock = threading.Lock()

    def remember(self, keys: list[SeriesKey]) -> None:
        with self.lock:
            if len(self.known) + len(keys) > MAX_KNOWN:
                # A flood of distinct names: start over rather than grow (the
                # database's INSERT OR IGNORE keeps the catalog right either way).
                self.known.clear()
            self.known.update(keys)

    def forget(self) -> None:
        with self.lock:
            self.known.clear()


class TooManySeries(ApiError):
    """The batch would take the collector past MAX_SERIES distinct series."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            400,
            f"Too many distinct series: this collector keeps at most {limit} (MAX_SERIES);"
            " a label with unbounded values (ids, URLs with ids) is the usual cause",
        )


def store(
    conn: sqlite3.Connection, batch: Batch, known: set[SeriesKey], max_series: int = 0
) -> list[SeriesKey]:
    """The write job: the points in a few multi-row INSERTs, plus small upserts.

    The points' minutes are marked dirty in the same commit, so aggregation
    can never miss a point, however late it arrives. New series are counted
    against `max_series` (0: no bound) in the same job: past it the job fails
    and nothing of the batch is stored.

    Returns the series it saw first, for the caller to remember once committed.
    """
    new = [key for key in batch.series if key not in known]
    if new:
        added = conn.executemany(
            "INSERT OR IGNORE INTO metric_series (name, labels, project, type) VALUES (?, ?, ?, ?)",
            new,
        ).rowcount
        if added > 0:
            row = conn.execute(
                "SELECT value FROM metrics_state WHERE key = 'series_count'"
            ).fetchone()
            count = (int(row[0]) if row else 0) + added
            if max_series and count > max_series:
                raise TooManySeries(max_series)
            write_state(conn, series_count=str(count))
            conn.executemany(
                "INSERT OR IGNORE INTO metric_catalog (name, type, project) VALUES (?, ?, ?)",
                {(name, kind, project) for name, _, project, kind in new},
            )
    insert_raw(conn, batch.values)
    conn.executemany(
        "INSERT OR IGNORE INTO metrics_dirty_minutes (minute) VALUES (?)",
        [(m,) for m in batch.minutes],
    )
    conn.execute(
        "INSERT INTO metrics_received (minute, count) VALUES (?, ?)"
        " ON CONFLICT(minute) DO UPDATE SET count = count + excluded.count",
        (batch.received, batch.count),
    )
    return new
