"""GET /api/dashboard: totals, the busiest metrics, and Web Vitals when there are some.

Web Vitals are `web_vitals_lcp|inp|cls` points labelled `source=browser`
(the browser relay adds `source`, `page`, `session_id` and `project`
labels). Their ratings use the standard thresholds; the good / poor sample
counts are kept on every aggregate (aggregation counts them per minute), so
the distribution is exact for any period, not just while raw points exist.
A page view is counted once per vital reported, so `page_views` (and a
timeseries bucket's `count`) is the largest sample count of the three.
Each vital's headline rating follows its 75th percentile (from the merged
sketches), as Google's Core Web Vitals assessment does; the average's is
the fallback when no sketch covers the period (rows from before sketches).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from metrics_collector.database import read_state
from metrics_collector.ingestion import MAX_PROJECT
from metrics_collector.query import (
    DEFAULT_PERIOD,
    Scope,
    make_scope,
    resolve_resolution,
    snapshot,
)
from metrics_collector.sketch import Sketch
from metrics_collector.stats import SQL_SUM, VITALS, VITALS_PERCENTILE, rate
from shared.timeutil import HOUR, hour_of, minute_of, shift
from shared.validate import query_duration, query_optional

TOP = 10
MAX_PAGES = 50
SHORT = {"web_vitals_lcp": "lcp", "web_vitals_inp": "inp", "web_vitals_cls": "cls"}
VITAL_NAMES = tuple(SHORT)
#: Periods up to an hour chart Web Vitals per minute, longer ones per hour.
MINUTE_BUCKETS_UP_TO = HOUR


@dataclass(slots=True)
class DashboardQuery:
    period: str
    seconds: int
    project: str | None


def parse_dashboard_query(params: QueryParams) -> DashboardQuery:
    period, seconds = query_duration(params, "period", DEFAULT_PERIOD)
    return DashboardQuery(period, seconds, query_optional(params, "project", MAX_PROJECT))


class VitalAcc:
    """Samples of one vital in one place (overall, a bucket, a page)."""

    __slots__ = ("count", "sum", "good", "poor", "rated")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.good = 0
        self.poor = 0
        self.rated = 0

    def add(
        self, count: int, total: float, good: int | None, poor: int | None, rated: int | None
    ) -> None:
        self.count += count
        self.sum += total
        if rated:
            self.good += good or 0
            self.poor += poor or 0
            self.rated += rated

    @property
    def avg(self) -> float | None:
        return self.sum / self.count if self.count else None


def _avg(accs: dict[str, VitalAcc], short: str) -> float | None:
    acc = accs.get(short)
    return acc.avg if acc else None


def _views(accs: dict[str, VitalAcc]) -> int:
    return max((a.count for a in accs.values()), default=0)


@dataclass(slots=True)
class Merged:
    """The merged sketch of a metric over a scope, and the points no sketch covers."""

    sketch: Sketch
    uncovered: int = 0

    def quantile(self, percent: int) -> float | None:
        return self.sketch.quantile(percent) if self.sketch.count else None


def merged_sketches(
    conn: sqlite3.Connection,
    scope: Scope,
    names: tuple[str, ...],
    where: str,
    args: list[Any],
    table: str = "metrics_aggregated",
) -> dict[str, Merged]:
    """Per name, one sketch of every point in the scope (raw values sketched as read).

    `table` metrics_merged (all series of a name merged) when no label filter applies.
    """
    marks = ", ".join("?" * len(names))
    out = {name: Merged(Sketch()) for name in names}
    for seg in scope.segments:
        if seg.tier == "raw":
            values: dict[str, list[float]] = {}
            for name, value in conn.execute(
                f"SELECT name, value FROM metrics_raw WHERE name IN ({marks})"
                f" AND timestamp >= ? AND timestamp < ?{where}",
                (*names, seg.start, seg.end, *args),
            ):
                values.setdefault(name, []).append(value)
            for name, vs in values.items():
                out[name].sketch.add(vs)
            continue
        for name, blob, count in conn.execute(
            f"SELECT name, sketch, count FROM {table} WHERE name IN ({marks})"
            f" AND resolution = ? AND bucket >= ? AND bucket < ?{where}",
            (*names, seg.tier, seg.start, seg.end, *args),
        ):
            if blob is None:
                out[name].uncovered += count
            else:
                out[name].sketch.merge_encoded(blob)
    return out


def summary_of(short: str, acc: VitalAcc | None, merged: Merged | None = None) -> dict[str, Any]:
    name = "web_vitals_" + short
    if acc is None or not acc.count:
        return {"avg": None, "count": 0, "rating": None, "distribution": None, "p75": None}
    avg = acc.sum / acc.count
    distribution = None
    if acc.rated:
        distribution = {
            "good": acc.good / acc.rated,
            "needs-improvement": (acc.rated - acc.good - acc.poor) / acc.rated,
            "poor": acc.poor / acc.rated,
        }
    p75 = merged.quantile(VITALS_PERCENTILE) if merged is not None else None
    out = {
        "avg": avg,
        "count": acc.count,
        "rating": rate(avg if p75 is None else p75, VITALS[name]),
        "distribution": distribution,
        "p75": p75,
    }
    if p75 is not None and merged is not None and merged.uncovered:
        out["approximate"] = True  # some rows predate sketches: p75 of the rest
    return out


def _top_metrics(conn: sqlite3.Connection, scope: Scope) -> dict[tuple[str, Any], list[Any]]:
    where, args = scope.where()
    totals: dict[tuple[str, Any], list[Any]] = {}
    for seg in scope.segments:
        if seg.tier == "raw":
            sql = (
                f"SELECT name, type, count(*), {SQL_SUM.format(column='value')} FROM metrics_raw"
                f" WHERE timestamp >= ? AND timestamp < ?{where} GROUP BY name, type"
            )
            params: tuple[Any, ...] = (seg.start, seg.end, *args)
        else:
            sql = (  # all series of a name merged per bucket: the fewest rows to add up
                f"SELECT name, type, sum(count), {SQL_SUM.format(column='sum')}"
                " FROM metrics_merged"
                f" WHERE resolution = ? AND bucket >= ? AND bucket < ?{where}"
                " GROUP BY name, type"
            )
            params = (seg.tier, seg.start, seg.end, *args)
        for name, kind, count, total in conn.execute(sql, params):
            entry = totals.setdefault((name, kind), [0, 0.0])
            entry[0] += count
            entry[1] += total
    return totals


_LABEL = "json_extract(labels, '$.{key}')"


def _vital_filter(scope: Scope) -> tuple[str, list[Any]]:
    """Browser Web Vitals of the scope's project (SQL conditions with a leading AND)."""
    where = f" AND {_LABEL.format(key='source')} = 'browser'"
    if scope.project is None:
        return where, []
    # The relay puts the project in a label; direct senders use the field.
    return where + f" AND (project = ? OR {_LABEL.format(key='project')} = ?)", [
        scope.project,
        scope.project,
    ]


def _vital_rows(conn: sqlite3.Connection, scope: Scope) -> list[tuple[Any, ...]]:
    """(bucket, name, page, count, sum, good, poor, rated) for browser Web Vitals."""
    marks = ", ".join("?" * len(VITAL_NAMES))
    where, args = _vital_filter(scope)
    page = _LABEL.format(key="page")
    out: list[tuple[Any, ...]] = []
    for seg in scope.segments:
        if seg.tier == "raw":
            rows = conn.execute(
                f"SELECT timestamp, name, {page}, value FROM metrics_raw"
                f" WHERE name IN ({marks}) AND timestamp >= ? AND timestamp < ?{where}",
                (*VITAL_NAMES, seg.start, seg.end, *args),
            )
            for ts, name, pg, value in rows:
                good_max, poor_min = VITALS[name]
                out.append(
                    (
                        minute_of(ts),
                        name,
                        pg,
                        1,
                        value,
                        int(value <= good_max),
                        int(value > poor_min),
                        1,
                    )
                )
            continue
        out += conn.execute(
            f"SELECT bucket, name, {page}, sum(count), {SQL_SUM.format(column='sum')},"
            " sum(n_good), sum(n_poor),"
            " sum(CASE WHEN n_good IS NOT NULL AND n_poor IS NOT NULL THEN count END)"
            f" FROM metrics_aggregated WHERE name IN ({marks}) AND resolution = ?"
            f" AND bucket >= ? AND bucket < ?{where}"
            " GROUP BY bucket, name, 3",
            (*VITAL_NAMES, seg.tier, seg.start, seg.end, *args),
        ).fetchall()
    return out


def web_vitals(conn: sqlite3.Connection, scope: Scope) -> dict[str, Any] | None:
    rows = _vital_rows(conn, scope)
    if not rows:
        return None
    per_minute = scope.seconds <= MINUTE_BUCKETS_UP_TO
    overall: dict[str, VitalAcc] = {}
    buckets: dict[str, dict[str, VitalAcc]] = {}
    pages: dict[Any, dict[str, VitalAcc]] = {}
    for bucket, name, page, count, total, good, poor, rated in rows:
        short = SHORT[name]
        key = bucket if per_minute else hour_of(bucket)
        for accs in (overall, buckets.setdefault(key, {}), pages.setdefault(page, {})):
            acc = accs.get(short) or accs.setdefault(short, VitalAcc())
            acc.add(count, total, good, poor, rated)
    timeseries = [
        {
            "bucket": b,
            "lcp": _avg(accs, "lcp"),
            "inp": _avg(accs, "inp"),
            "cls": _avg(accs, "cls"),
            "count": _views(accs),
        }
        for b, accs in sorted(buckets.items())
    ]
    by_page = sorted(
        (
            {
                "page": p,
                "lcp": _avg(accs, "lcp"),
                "inp": _avg(accs, "inp"),
                "cls": _avg(accs, "cls"),
                "page_views": _views(accs),
            }
            for p, accs in pages.items()
        ),
        key=lambda e: (-e["page_views"], str(e["page"])),
    )[:MAX_PAGES]
    where, args = _vital_filter(scope)
    merged = merged_sketches(conn, scope, VITAL_NAMES, where, args)
    return {
        "summary": {
            short: summary_of(short, overall.get(short), merged[name])
            for name, short in SHORT.items()
        },
        "resolution": "minute" if per_minute else "hour",
        "timeseries": timeseries,
        "by_page": by_page,
    }


def data_since(conn: sqlite3.Connection, scope: Scope) -> str | None:
    """The oldest bucket with data in the period: the UI fits its default period to it,
    so a new install's five minutes are not a sliver at the edge of a 24 h axis."""
    where, args = scope.where()
    for seg in scope.segments:  # oldest first: the first segment with data answers
        if seg.tier == "raw":
            sql = "SELECT min(timestamp) FROM metrics_raw WHERE timestamp >= ? AND timestamp < ?"
            params: tuple[Any, ...] = (seg.start, seg.end, *args)
        else:
            sql = (
                "SELECT min(bucket) FROM metrics_aggregated WHERE resolution = ? AND bucket >= ?"
                " AND bucket < ?"
            )
            params = (seg.tier, seg.start, seg.end, *args)
        found = conn.execute(sql + where, params).fetchone()[0]
        if found is None:
            continue
        if seg.tier == "raw":
            return minute_of(found)
        if seg.tier == "hour":  # the minute within that hour, while minute rows exist
            finer = conn.execute(
                "SELECT min(bucket) FROM metrics_aggregated WHERE resolution = 'minute'"
                f" AND bucket >= ? AND bucket < ?{where}",
                (max(found, seg.start), shift(found, HOUR), *args),
            ).fetchone()[0]
            return str(finer or found)
        return str(found)
    return None


def dashboard(
    conn: sqlite3.Connection, q: DashboardQuery, now: float | None = None
) -> dict[str, Any]:
    """The read job of GET /api/dashboard."""
    now = time.time() if now is None else now
    with snapshot(conn):  # the tier marks and the reads agree even while a run commits
        state = read_state(conn)
        resolution = resolve_resolution("auto", q.seconds)
        # Hourly buckets (periods over an hour) can read complete hours from the hour tier.
        scope = make_scope(
            state,
            q.period,
            q.seconds,
            resolution,
            q.project,
            now=now,
            whole_hours=q.seconds > MINUTE_BUCKETS_UP_TO,
        )
        totals = _top_metrics(conn, scope)
        top = sorted(totals.items(), key=lambda item: (-item[1][0], item[0][0], str(item[0][1])))
        top = top[:TOP]
        histograms = tuple(name for (name, kind), _ in top if kind == "histogram")
        where, args = scope.where()
        p95 = {
            name: merged.quantile(95)
            for name, merged in merged_sketches(
                conn, scope, histograms, where, args, "metrics_merged"
            ).items()
        }
        vitals = web_vitals(conn, scope)
        since = data_since(conn, scope)
    body: dict[str, Any] = {
        "period": q.period,
        "data_since": since,
        "summary": {
            "total_datapoints": sum(count for count, _ in totals.values()),
            "distinct_metrics": len({name for name, _ in totals}),
        },
        "top_metrics": [
            {
                "name": name,
                "type": kind,
                "count": count,
                "total": total,
                "avg": total / count if count else None,
                "p95": p95.get(name) if kind == "histogram" else None,
            }
            for (name, kind), (count, total) in top
        ],
    }
    if vitals is not None:
        body["web_vitals"] = vitals
    return body
