"""GET /api/metrics, /api/metrics/names, /api/projects and the /health figures.

A period is read from the tiers that are complete for it and, past their
`*_through` marks, from the tier below — down to raw points — so the answer
includes the minute that is still filling (a point sent a second ago shows)
and never counts a point twice. Series are merged per bucket: counts and
sums add, min/max of all, avg = sum/count, percentiles from the merged
sketches (stats.merge) — or exact, when a bucket is one row or all raw.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from metrics_collector.database import read_state
from metrics_collector.ingestion import MAX_NAME, MAX_PROJECT
from metrics_collector.stats import Stats, merge, stats_json, summarize
from shared.responses import BadRequest
from shared.search import like_pattern
from shared.timeutil import HOUR, MINUTE, ceil_hour, floor_epoch, hour_of, shift
from shared.validate import (
    query_choice,
    query_duration,
    query_int,
    query_optional,
    query_required,
)

DEFAULT_PERIOD = "24h"
#: Longest label key group_by accepts (keys are not limited at ingest; this bounds the SQL).
MAX_LABEL_KEY = 200
#: `auto` resolution switches to hours beyond this period.
AUTO_MINUTE_LIMIT = 24 * HOUR
LABELS_HINT = "Query parameter 'labels' must look like key:value,key2:value2"
LABELS_JSON_HINT = (
    "Query parameter 'labels' in its JSON form must be an object of strings,"
    ' like {"route": "/a,b"}'
)
#: Each pair is an SQL condition; SQLite refuses expressions nested ~1000 deep.
MAX_LABEL_PAIRS = 50
#: Most series a group_by answer carries; the rest are merged into OTHER.
MAX_GROUPS = 50
OTHER = "__other__"


def parse_label_filter(raw: str | None) -> list[tuple[str, str]]:
    """`key:value,key2:value2` → pairs (split at the first colon; spaces around trimmed).

    A value that holds `,` or `:` needs the JSON form: a filter starting with
    `{` is read as a JSON object of strings, taken as is (no trimming).
    """
    if raw is None or raw == "":
        return []
    if raw.lstrip().startswith("{"):
        return _json_label_filter(raw)
    pairs: list[tuple[str, str]] = []
    parts = raw.split(",")
    if len(parts) > MAX_LABEL_PAIRS:
        raise BadRequest(f"Query parameter 'labels' may hold at most {MAX_LABEL_PAIRS} pairs")
    for part in parts:
        key, sep, value = part.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise BadRequest(LABELS_HINT)
        pairs.append((key, value))
    return pairs


def _json_label_filter(raw: str) -> list[tuple[str, str]]:
    try:
        pairs = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(LABELS_JSON_HINT) from None
    if not isinstance(pairs, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in pairs.items()
    ):
        raise BadRequest(LABELS_JSON_HINT)
    if len(pairs) > MAX_LABEL_PAIRS:
        raise BadRequest(f"Query parameter 'labels' may hold at most {MAX_LABEL_PAIRS} pairs")
    return list(pairs.items())


@dataclass(frozen=True, slots=True)
class Segment:
    """Read [start, end) from one tier: 'hour', 'minute' or 'raw'."""

    tier: str
    start: str
    end: str


def plan(
    resolution: str, start: str, now: float, state: dict[str, str], *, whole_hours: bool = False
) -> list[Segment]:
    """Which tier answers which part of [start, now], given how far aggregation got.

    `whole_hours` lets a minute-resolution scope read complete hours from the
    hour tier (60 times fewer rows) — for answers that only add up totals or
    bucket by hour anyway, like the dashboard.
    """
    end = shift(floor_epoch(now, MINUTE), MINUTE)  # the current minute, still filling
    minutes_done = state["aggregated_through"]
    hours_done = min(state["hours_through"], minutes_done)
    segments: list[Segment] = []
    lower = start
    if resolution == "hour" or whole_hours:
        first = lower if resolution == "hour" else ceil_hour(lower)
        if lower < state.get("minute_purged_before", ""):
            first = hour_of(lower)  # its minute rows are gone: the hour row is all that is left
        if first < hours_done:
            if lower < first:
                segments.append(Segment("minute", lower, first))
            segments.append(Segment("hour", first, min(hours_done, end)))
            lower = hours_done
    if lower < minutes_done:
        segments.append(Segment("minute", lower, min(minutes_done, end)))
        lower = minutes_done
    if lower < end:
        segments.append(Segment("raw", lower, end))
    return [s for s in segments if s.start < s.end]


@dataclass(slots=True)
class Scope:
    """What a query covers: the period, the tier plan, the series filters."""

    period: str
    seconds: int
    resolution: str
    start: str
    segments: list[Segment]
    project: str | None = None
    labels: list[tuple[str, str]] = field(default_factory=list)

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions (leading AND) for project and labels."""
        sql, args = "", []
        if self.project is not None:
            sql += " AND project = ?"
            args.append(self.project)
        for key, value in self.labels:
            sql_part, part_args = label_condition(key, value)
            sql += sql_part
            args += part_args
        return sql, args


#: Characters a quoted JSON path key cannot hold.
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f]')


def label_condition(key: str, value: str) -> tuple[str, list[Any]]:
    """Stored labels are JSON objects of strings: match one pair, in any key order.

    json_extract with a quoted path is the fast form (SQLite reuses the parse
    while consecutive rows carry the same labels text); keys a quoted path
    cannot spell (quotes, backslashes, control characters such as NUL, which
    makes SQLite reject the path) go through json_each.
    """
    if _UNQUOTABLE.search(key):
        return (
            " AND EXISTS (SELECT 1 FROM json_each(labels)"
            " WHERE json_each.key = ? AND json_each.value = ?)",
            [key, value],
        )
    return " AND json_extract(labels, ?) = ?", [f'$."{key}"', value]


def label_value_sql(key: str) -> tuple[str, list[Any]]:
    """SQL for the value of one label of a row's series (NULL when it has none)."""
    if _UNQUOTABLE.search(key):
        return "(SELECT json_each.value FROM json_each(labels) WHERE json_each.key = ?)", [key]
    return "json_extract(labels, ?)", [f'$."{key}"']


def label_value(labels: str | None, key: str) -> Any:
    """The same in Python, for raw points (labels are a JSON object or NULL)."""
    if not labels:
        return None
    try:
        pairs = orjson.loads(labels)
    except orjson.JSONDecodeError:
        return None
    return pairs.get(key) if isinstance(pairs, dict) else None


def resolve_resolution(requested: str, seconds: int) -> str:
    if requested == "auto":
        return "minute" if seconds <= AUTO_MINUTE_LIMIT else "hour"
    return requested


def start_of(seconds: int, resolution: str, now: float) -> str:
    return floor_epoch(now - seconds, MINUTE if resolution == "minute" else HOUR)


@dataclass(slots=True)
class MetricsQuery:
    name: str
    period: str
    seconds: int
    resolution: str  # minute | hour | auto
    project: str | None
    labels: list[tuple[str, str]]
    group_by: str | None = None


def parse_metrics_query(params: QueryParams) -> MetricsQuery:
    name = query_required(params, "name", MAX_NAME)
    period, seconds = query_duration(params, "period", DEFAULT_PERIOD)
    return MetricsQuery(
        name=name,
        period=period,
        seconds=seconds,
        resolution=query_choice(params, "resolution", ("minute", "hour", "auto"), "auto"),
        project=query_optional(params, "project", MAX_PROJECT),
        labels=parse_label_filter(params.get("labels")),
        group_by=query_optional(params, "group_by", MAX_LABEL_KEY),
    )


def make_scope(
    state: dict[str, str],
    period: str,
    seconds: int,
    resolution: str,
    project: str | None,
    labels: list[tuple[str, str]] | None = None,
    now: float | None = None,
    whole_hours: bool = False,
) -> Scope:
    now = time.time() if now is None else now
    start = start_of(seconds, resolution, now)
    segments = plan(resolution, start, now, state, whole_hours=whole_hours)
    return Scope(period, seconds, resolution, start, segments, project, labels or [])


#: Aggregated rows of one name in a tier, each with its answer bucket and group.
_AGG_ROWS = (
    "SELECT {bucket}, {group}, count, sum, min, max, p50, p95, p99, sketch FROM {table}"
    " WHERE name = ? AND resolution = ? AND bucket >= ? AND bucket < ?"
)


def raw_series(
    conn: sqlite3.Connection, scope: Scope, segment: Segment, names: tuple[str, ...]
) -> Iterator[tuple[str, str, str | None, str | None, str | None, list[float]]]:
    """Raw points of a segment as (minute, name, labels, project, type, values) series."""
    where, args = scope.where()
    marks = ", ".join("?" * len(names))
    cursor = conn.execute(
        "SELECT timestamp, name, labels, project, type, value FROM metrics_raw"
        f" WHERE name IN ({marks}) AND timestamp >= ? AND timestamp < ?{where}",
        (*names, segment.start, segment.end, *args),
    )
    groups: dict[tuple[str, str, str | None, str | None, str | None], list[float]] = {}
    for ts, name, labels, project, kind, value in cursor:
        groups.setdefault((ts[:16], name, labels, project, kind), []).append(value)
    for (minute, name, labels, project, kind), values in groups.items():
        yield minute + ":00Z", name, labels, project, kind, values


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction, so the `*_through` marks and every tier read agree.

    Without it each SELECT sees its own moment: a run committing in between
    (minutes aggregated, then their raw points purged) leaves a gap in the answer.
    """
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


class TierCache:
    """Answers to metrics queries, kept until the aggregator next writes.

    The minute and hour tiers change only when an aggregation or retention run
    commits; between runs (a minute by default) every query of the same name,
    filters and window reads the same rows, and at 32 connections re-reading,
    re-merging and re-encoding a day of them per request is all the work. An
    answer (its JSON) is kept under the aggregator's generation and the raw
    minutes it also read — those are checked afresh on every request (their
    count and newest id), so a point sent a second ago still shows.
    `generation` is bumped after each run's commit and read before a query's
    snapshot begins, so nothing is kept under a generation newer than its
    data. Bounded by bytes (BUDGET), oldest out first; an answer larger than
    a quarter of it is not kept.
    """

    BUDGET = 16 * 1024 * 1024

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self.generation = 0
        self.size = 0
        self._answers: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.generation += 1
            self._answers.clear()
            self.size = 0

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: tuple[Any, ...], answer: bytes) -> None:
        with self._lock:
            if key[0] != self.generation or len(answer) > self.budget // 4 or key in self._answers:
                return  # a run committed meanwhile, or too big to be worth the memory
            self._answers[key] = answer
            self.size += len(answer)
            while self.size > self.budget:
                _, dropped = self._answers.popitem(last=False)
                self.size -= len(dropped)


def query_metrics(
    conn: sqlite3.Connection, q: MetricsQuery, now: float | None = None
) -> dict[str, Any]:
    """The read job of GET /api/metrics (as an object; the handler uses the JSON form)."""
    with snapshot(conn):
        return _query_metrics(conn, q, now)


#: Parts of an answer: group value → bucket → the rows (Stats) merged into it.
Parts = dict[Any, dict[str, list[Stats]]]


def query_metrics_json(
    conn: sqlite3.Connection, q: MetricsQuery, cache: TierCache, now: float | None = None
) -> bytes:
    """GET /api/metrics's answer as JSON, reused while neither the aggregated tiers
    (the cache's generation) nor the raw minutes it reads have changed."""
    generation = cache.generation  # before the snapshot
    now = time.time() if now is None else now
    with snapshot(conn):
        state = read_state(conn)
        resolution = resolve_resolution(q.resolution, q.seconds)
        scope = make_scope(state, q.period, q.seconds, resolution, q.project, q.labels, now)
        raw = [s for s in scope.segments if s.tier == "raw"]
        mark = (
            conn.execute(
                "SELECT count(*), max(id) FROM metrics_raw"
                " WHERE name = ? AND timestamp >= ? AND timestamp < ?",
                (q.name, raw[0].start, raw[-1].end),
            ).fetchone()
            if raw
            else None
        )
        key = (
            generation,
            (q.name, q.period, q.seconds, q.resolution, q.project, tuple(q.labels), q.group_by),
            tuple(scope.segments),
            # A breakdown's totals cover [now - period, now) at minute steps, whatever
            # the resolution: a period of 90 s moves them within an hour bucket.
            start_of(q.seconds, "minute", now) if q.group_by is not None else None,
            mark,
        )
        answer = cache.get(key)
        if answer is None:
            answer = orjson.dumps(_query_metrics(conn, q, now, state))
            cache.put(key, answer)
        return answer


def _query_metrics(
    conn: sqlite3.Connection,
    q: MetricsQuery,
    now: float | None,
    state: dict[str, str] | None = None,
) -> dict[str, Any]:
    state = read_state(conn) if state is None else state
    resolution = resolve_resolution(q.resolution, q.seconds)
    scope = make_scope(state, q.period, q.seconds, resolution, q.project, q.labels, now)
    parts = collect_parts(conn, q, scope)
    body: dict[str, Any] = {"name": q.name, "resolution": resolution, "period": q.period}
    if q.group_by is None:
        body["data"] = [stats_json(b, s) for b, s in merged_buckets(parts.get(None, {}))]
        return body
    body["group_by"] = q.group_by
    # Totals read the coarsest rows that cover the period exactly (complete hours from
    # the hour tier): a breakdown of a day merges a few hundred sketches per value, not
    # one per series and minute — and the same totals whatever the resolution asked.
    whole = make_scope(
        state, q.period, q.seconds, "minute", q.project, q.labels, now, whole_hours=True
    )
    totals = collect_parts(conn, q, whole)
    body["series"] = []
    for value, members in top_groups(totals):
        buckets: dict[str, list[Stats]] = {}
        for member in members:
            for bucket, rows in parts.get(member, {}).items():
                buckets.setdefault(bucket, []).extend(rows)
        rows = [s for member in members for rs in totals.get(member, {}).values() for s in rs]
        body["series"].append(
            {
                "labels": {q.group_by: value},
                "data": [stats_json(b, s) for b, s in merged_buckets(buckets)],
                "total": total_json(rows),
            }
        )
    return body


def collect_parts(conn: sqlite3.Connection, q: MetricsQuery, scope: Scope) -> Parts:
    """Every row of the answer, by group (None without group_by) and answer bucket."""
    where, args = scope.where()
    hourly = scope.resolution == "hour"
    key = q.group_by
    group_sql, group_args = label_value_sql(key) if key is not None else ("NULL", [])
    # Without a label filter or grouping, every series of the name is wanted: their
    # rows merged per bucket at aggregation time (metrics_merged) answer in one row
    # per bucket and project, instead of merging every series' sketch here.
    table = "metrics_merged" if key is None and not scope.labels else "metrics_aggregated"
    parts: Parts = {}
    for segment in scope.segments:
        if segment.tier == "raw":
            seen: dict[str | None, Any] = {}
            for minute, name, labels, _project, kind, values in raw_series(
                conn, scope, segment, (q.name,)
            ):
                group = None
                if key is not None:
                    if labels not in seen:
                        seen[labels] = label_value(labels, key)
                    group = seen[labels]
                bucket = hour_of(minute) if hourly else minute
                parts.setdefault(group, {}).setdefault(bucket, []).append(
                    summarize(name, kind, values, keep=True)
                )
            continue
        expr = (
            "bucket" if segment.tier == scope.resolution else "substr(bucket, 1, 13) || ':00:00Z'"
        )
        rows = conn.execute(
            _AGG_ROWS.format(bucket=expr, group=group_sql, table=table) + where,
            (*group_args, q.name, segment.tier, segment.start, segment.end, *args),
        )
        for bucket, group, n, total_, low, high, p50, p95, p99, sketch in rows:
            parts.setdefault(group, {}).setdefault(bucket, []).append(
                Stats(n, total_, low, high, p50, p95, p99, sketch=sketch)
            )
    return parts


def merged_buckets(buckets: dict[str, list[Stats]]) -> list[tuple[str, Stats]]:
    """One merged row per bucket, oldest first."""
    return [(b, merge(buckets[b])) for b in sorted(buckets)]


def total_json(rows: list[Stats]) -> dict[str, Any]:
    """The whole period of one group merged (percentiles from all its sketches): what a
    breakdown table shows — per-bucket percentiles cannot be combined client-side."""
    out = stats_json("", merge(rows))
    del out["bucket"]
    return out


def top_groups(parts: Parts) -> list[tuple[Any, list[Any]]]:
    """The MAX_GROUPS busiest groups (by count) as (value, [value]), then the rest
    as (OTHER, [their values]) — merged into one series."""
    ranked = [
        value
        for value, _ in sorted(
            parts.items(),
            key=lambda item: (
                -sum(s.count for rows in item[1].values() for s in rows),
                item[0] is None,
                str(item[0]),
            ),
        )
    ]
    top: list[tuple[Any, list[Any]]] = [(value, [value]) for value in ranked[:MAX_GROUPS]]
    if len(ranked) > MAX_GROUPS:
        top.append((OTHER, ranked[MAX_GROUPS:]))
    return top


#: Most names or projects one list answer carries (`total` says how many there are).
LIST_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ListQuery:
    """`search` (case-insensitive substring), `limit` (≤ LIST_LIMIT) and `offset`."""

    search: str | None = None
    limit: int = LIST_LIMIT
    offset: int = 0


def parse_list_query(params: QueryParams) -> ListQuery:
    limit = query_int(params, "limit", LIST_LIMIT, minimum=1)
    return ListQuery(
        search=query_optional(params, "search", MAX_NAME),
        limit=min(limit, LIST_LIMIT),
        offset=query_int(params, "offset", 0),
    )


def _listed(
    conn: sqlite3.Connection,
    select: str,
    column: str,
    where: list[str],
    args: list[Any],
    q: ListQuery,
) -> tuple[list[tuple[Any, ...]], int]:
    """One page of a catalog list and the total, for the same conditions."""
    if q.search is not None:
        where = [*where, f"{column} LIKE ? ESCAPE '\\'"]
        args = [*args, like_pattern(q.search)]
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = conn.execute(f"SELECT count(*) FROM ({select}{clause})", args).fetchone()[0]
    rows = conn.execute(
        f"{select}{clause} ORDER BY 1, 2 LIMIT ? OFFSET ?", (*args, q.limit, q.offset)
    ).fetchall()
    return rows, int(total)


def list_names(
    conn: sqlite3.Connection, project: str | None, q: ListQuery = ListQuery()
) -> dict[str, Any]:
    where, args = (["project = ?"], [project]) if project is not None else ([], [])
    select = "SELECT DISTINCT name, type FROM metric_catalog"
    rows, total = _listed(conn, select, "name", where, args, q)
    return {
        "metrics": [{"name": name, "type": kind} for name, kind in rows],
        "total": total,
        "limit": q.limit,
        "offset": q.offset,
    }


def list_projects(conn: sqlite3.Connection, q: ListQuery = ListQuery()) -> dict[str, Any]:
    select = "SELECT DISTINCT project, '' FROM metric_catalog"
    rows, total = _listed(conn, select, "project", ["project != ''"], [], q)
    return {"projects": [r[0] for r in rows], "total": total, "limit": q.limit, "offset": q.offset}


def health_figures(conn: sqlite3.Connection, now: float | None = None) -> dict[str, Any]:
    """Points received in the last 24 h (from per-minute counts) and the last run's time."""
    now = time.time() if now is None else now
    since = floor_epoch(now - 24 * HOUR, MINUTE)
    received = conn.execute(
        "SELECT coalesce(sum(count), 0) FROM metrics_received WHERE minute > ?", (since,)
    ).fetchone()[0]
    last = conn.execute("SELECT value FROM metrics_state WHERE key = 'last_aggregation'").fetchone()
    return {"metrics_received_24h": received, "last_aggregation": last[0] if last else None}


#: Values listed per label key by /api/metrics/labels (the most frequent first).
LABEL_VALUES = 50


@dataclass(frozen=True, slots=True)
class LabelsQuery:
    name: str
    period: str
    seconds: int
    project: str | None


def parse_labels_query(params: QueryParams) -> LabelsQuery:
    period, seconds = query_duration(params, "period", DEFAULT_PERIOD)
    return LabelsQuery(
        name=query_required(params, "name", MAX_NAME),
        period=period,
        seconds=seconds,
        project=query_optional(params, "project", MAX_PROJECT),
    )


def label_values(
    conn: sqlite3.Connection, q: LabelsQuery, now: float | None = None
) -> dict[str, Any]:
    """GET /api/metrics/labels: the label keys of a metric's series in the period, each
    with its most frequent values (by points) — what the UI's label pickers offer."""
    with snapshot(conn):
        state = read_state(conn)
        resolution = resolve_resolution("auto", q.seconds)
        scope = make_scope(
            state, q.period, q.seconds, resolution, q.project, now=now, whole_hours=True
        )
        where, args = scope.where()
        per_labels: dict[str, int] = {}
        for seg in scope.segments:
            if seg.tier == "raw":
                sql = (
                    "SELECT labels, count(*) FROM metrics_raw WHERE name = ?"
                    f" AND timestamp >= ? AND timestamp < ?{where} GROUP BY labels"
                )
                params: tuple[Any, ...] = (q.name, seg.start, seg.end, *args)
            else:
                sql = (
                    "SELECT labels, sum(count) FROM metrics_aggregated WHERE name = ?"
                    f" AND resolution = ? AND bucket >= ? AND bucket < ?{where} GROUP BY labels"
                )
                params = (q.name, seg.tier, seg.start, seg.end, *args)
            for labels, n in conn.execute(sql, params):
                if labels:
                    per_labels[labels] = per_labels.get(labels, 0) + int(n)
    counts: dict[str, dict[str, int]] = {}
    for text, n in per_labels.items():
        try:
            pairs = orjson.loads(text)
        except orjson.JSONDecodeError:  # not ours; nothing to offer
            continue
        if not isinstance(pairs, dict):
            continue
        for key, value in pairs.items():
            values = counts.setdefault(str(key), {})
            value = value if isinstance(value, str) else orjson.dumps(value).decode()
            values[value] = values.get(value, 0) + n
    return {
        "name": q.name,
        "labels": [
            {
                "key": key,
                "values": [
                    {"value": v, "count": c}
                    for v, c in sorted(values.items(), key=lambda item: (-item[1], item[0]))[
                        :LABEL_VALUES
                    ]
                ],
                "distinct": len(values),
            }
            for key, values in sorted(counts.items())
        ],
    }
