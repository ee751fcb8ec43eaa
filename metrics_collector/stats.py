"""Pure statistics: nearest-rank percentiles, per-minute summaries, roll-ups.

Hourly percentiles (and percentiles of series merged in a query) are the
count-weighted mean of the minute percentiles. That is an approximation —
exact percentiles would need every raw value, which is kept only for
RETENTION_RAW hours — but it is stable (re-aggregation gives the same
numbers) and close for the smooth distributions latencies usually have.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PERCENTILES = (50, 95, 99)

#: Web Vitals thresholds (good ≤ first, poor > second), by metric name.
VITALS: dict[str, tuple[float, float]] = {
    "web_vitals_lcp": (2500.0, 4000.0),
    "web_vitals_inp": (200.0, 500.0),
    "web_vitals_cls": (0.1, 0.25),
}


def nearest_rank(sorted_values: Sequence[float], p: int) -> float:
    """The nearest-rank percentile: sorted[ceil(p/100 · n) − 1], in exact integer arithmetic."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no values")
    index = (p * n + 99) // 100 - 1
    return sorted_values[min(max(index, 0), n - 1)]


#: SQL for a sum of sums that is never NULL: SQLite turns +inf + -inf into
#: NaN and NaN into NULL; an undefined sum is stored and shown as +inf (the
#: API writes every non-finite number as null).
SQL_SUM = "coalesce(sum({column}), 9e999)"


def total(values: Iterable[float]) -> float:
    """Correctly rounded sum, order-independent (so recomputation is exact); never raises.

    fsum raises when a partial sum overflows even if the result would not
    (1.7e308 + 1.7e308 − 1.7e308); then sum scaled down and back up, which
    gives ±inf only when the true sum is out of range. Sums that already
    overflowed (±inf) add as floats do, except that +inf and −inf together
    are undefined: +inf, like SQL_SUM, never NaN (SQLite cannot store it).
    """
    items = values if isinstance(values, list) else list(values)
    try:
        return math.fsum(items)
    except OverflowError:
        scaled = math.fsum(math.ldexp(v, -64) for v in items)
        try:
            return math.ldexp(scaled, 64)
        except OverflowError:
            return math.copysign(math.inf, scaled)
    except ValueError:  # -inf + inf
        return math.inf


def rate(value: float, thresholds: tuple[float, float]) -> str:
    good, poor = thresholds
    if value <= good:
        return "good"
    return "poor" if value > poor else "needs-improvement"


@dataclass(slots=True)
class Stats:
    """One aggregate: what a minute or hour row holds (avg is derived)."""

    count: int
    sum: float
    min: float
    max: float
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    #: Web Vitals only: samples rated good / poor (None for other metrics).
    n_good: int | None = None
    n_poor: int | None = None

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else 0.0


def summarize(name: str, kind: str | None, values: list[float]) -> Stats:
    """A minute row from its raw values (sorted in place when needed).

    Percentiles only for histograms; Web Vitals also count good/poor samples.
    """
    n = len(values)
    thresholds = VITALS.get(name)
    histogram = kind == "histogram"
    if n == 1 and thresholds is None:  # common when points are sparse: skip the machinery
        v = values[0]
        return Stats(1, v, v, v, v, v, v) if histogram else Stats(1, v, v, v)
    if histogram or thresholds is not None:
        values.sort()
        stats = Stats(n, total(values), values[0], values[-1])
    else:
        stats = Stats(n, total(values), min(values), max(values))
    if histogram:
        stats.p50 = nearest_rank(values, 50)
        stats.p95 = nearest_rank(values, 95)
        stats.p99 = nearest_rank(values, 99)
    if thresholds is not None:
        stats.n_good = bisect_right(values, thresholds[0])
        stats.n_poor = n - bisect_right(values, thresholds[1])
    return stats


def _weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    """Count-weighted mean; parts that agree give their value exactly (no float noise)."""
    known = [(p, c) for p, c in pairs if p is not None]
    if not known:
        return None
    first = known[0][0]
    if all(p == first for p, _ in known):
        return first
    return sum(p * c for p, c in known) / sum(c for _, c in known)


def rollup(parts: Iterable[Stats]) -> Stats:
    """Aggregates of the same series combined (minutes into an hour, or a late merge).

    Counts and sums add, min of mins, max of maxes; percentiles are the
    count-weighted mean of the parts' percentiles; good/poor counts add up
    (unknown if any part lacks them).
    """
    items = list(parts)
    if not items:
        raise ValueError("nothing to roll up")
    out = Stats(
        sum(s.count for s in items),
        total([s.sum for s in items]),
        min(s.min for s in items),
        max(s.max for s in items),
        _weighted([(s.p50, s.count) for s in items]),
        _weighted([(s.p95, s.count) for s in items]),
        _weighted([(s.p99, s.count) for s in items]),
    )
    if all(s.n_good is not None for s in items):
        out.n_good = sum(s.n_good or 0 for s in items)
    if all(s.n_poor is not None for s in items):
        out.n_poor = sum(s.n_poor or 0 for s in items)
    return out


# --- the same roll-up in SQL ------------------------------------------------------------------


def percentile_weight_sql(column: str) -> str:
    """SQL aggregate: the count behind a percentile column (rows lacking one weigh nothing)."""
    return f"sum(CASE WHEN {column} IS NOT NULL THEN count END)"


def weighted_percentile_sql(column: str) -> str:
    """SQL aggregate: the count-weighted mean of a percentile column over grouped rows.

    What `rollup` computes, for rows with `count` and `column` (p50, p95, p99):
    rows that agree give their value exactly (no float noise), rows without a
    percentile are left out, and a group with none gives NULL.
    """
    return (
        f"CASE WHEN min({column}) = max({column}) THEN min({column})"
        f" ELSE sum({column} * count) / {percentile_weight_sql(column)} END"
    )


def percentile_part_sql(column: str) -> str:
    """The two SQL columns of a percentile in a `Part`: the weighted value, then its weight."""
    return f"{weighted_percentile_sql(column)}, {percentile_weight_sql(column)}"


#: A bucket of a query answer while it is assembled:
#: (count, sum, min, max, p50, w50, p95, w95, p99, w99), where w is the count
#: behind the percentile (None when no merged part had one).
Part = tuple[Any, ...]


def part_of(stats: Stats) -> Part:
    n = stats.count
    return (
        n,
        stats.sum,
        stats.min,
        stats.max,
        stats.p50,
        n if stats.p50 is not None else None,
        stats.p95,
        n if stats.p95 is not None else None,
        stats.p99,
        n if stats.p99 is not None else None,
    )


def _merge_p(p: Any, w: Any, q: Any, v: Any) -> tuple[Any, Any]:
    if not w:
        return q, v
    if not v:
        return p, w
    return (p if p == q else (p * w + q * v) / (w + v)), w + v


def merge_parts(a: Part, b: Part) -> Part:
    """Series merged in one bucket: counts and sums add, min/max, percentiles count-weighted."""
    p50 = _merge_p(a[4], a[5], b[4], b[5])
    p95 = _merge_p(a[6], a[7], b[6], b[7])
    p99 = _merge_p(a[8], a[9], b[8], b[9])
    return (a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]), *p50, *p95, *p99)


def part_json(bucket: str, part: Part) -> dict[str, Any]:
    count, total = part[0], part[1]
    return {
        "bucket": bucket,
        "count": count,
        "sum": total,
        "min": part[2],
        "max": part[3],
        "avg": total / count if count else 0.0,
        "p50": part[4],
        "p95": part[6],
        "p99": part[8],
    }
