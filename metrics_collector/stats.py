"""Pure statistics: nearest-rank percentiles, per-minute summaries, merges.

A minute row keeps the exact nearest-rank percentiles of its raw values and
a quantile sketch of them (sketch.py). Anything merged — minutes into an
hour, series or minutes into one answer bucket — takes its percentiles from
the merged sketches (within 1 % of exact), or exactly from the pooled raw
values when every part still has them. Percentiles are never averaged,
except for rows written before sketches existed (no sketch, stored
percentiles): those are merged count-weighted, as before, and the result is
marked `approximate`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from metrics_collector.sketch import Sketch

PERCENTILES = (50, 95, 99)
#: Web Vitals are rated by their 75th percentile (Core Web Vitals assessment).
VITALS_PERCENTILE = 75

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
    #: The encoded quantile sketch (histograms and Web Vitals; None for legacy rows).
    sketch: bytes | None = None
    #: Percentiles merged from rows that had no sketch (count-weighted means).
    approximate: bool = False
    #: The sorted raw values, while a query still holds them (exact merges).
    values: list[float] | None = None
    #: The merged sketch of a query's merge, kept so merges of merges decode nothing twice.
    merged: Sketch | None = None

    @property
    def avg(self) -> float:
        return self.sum / self.count if self.count else 0.0

    @property
    def legacy(self) -> bool:
        """Stored percentiles without a sketch: only count-weighted merges are possible."""
        return (
            self.p50 is not None
            and self.sketch is None
            and self.values is None
            and self.merged is None
        )


def sketched(name: str, kind: str | None) -> bool:
    """Which series carry a sketch: histograms, and Web Vitals (rated by their p75)."""
    return kind == "histogram" or name in VITALS


def summarize(
    name: str,
    kind: str | None,
    values: list[float],
    *,
    keep: bool = False,
    sketch: Sketch | None = None,
) -> Stats:
    """A minute row from its raw values (sorted in place when needed).

    Percentiles only for histograms; Web Vitals also count good/poor samples.
    `keep` holds on to the sorted values (a query merging raw parts) instead
    of encoding a sketch. `sketch`, when the caller has one of these values
    already (merged series), is used instead of counting them again; the
    row's sketch is left in `merged` for such merges.
    """
    n = len(values)
    thresholds = VITALS.get(name)
    histogram = kind == "histogram"
    sketched = thresholds is not None or histogram
    if n == 1 and thresholds is None:  # common when points are sparse: skip the machinery
        v = values[0]
        if not histogram:
            return Stats(1, v, v, v)
        if keep:
            return Stats(1, v, v, v, v, v, v, values=values)
        one = sketch or Sketch.of(values)
        return Stats(1, v, v, v, v, v, v, sketch=one.encode(), merged=one)
    if sketched:
        values.sort()
        stats = Stats(n, total(values), values[0], values[-1])
        if keep:
            stats.values = values
        else:
            stats.merged = sketch or Sketch.of(values)
            stats.sketch = stats.merged.encode()
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


def merged_sketch(parts: Iterable[Stats]) -> Sketch:
    """One sketch of every part that has a sketch or raw values."""
    sketch = Sketch()
    for part in parts:
        if part.merged is not None:
            sketch.merge(part.merged)
        elif part.sketch is not None:
            sketch.merge_encoded(part.sketch)
        elif part.values is not None:
            sketch.add(part.values)
    return sketch


def merge(parts: Sequence[Stats], *, encode: bool = False) -> Stats:
    """Aggregates combined: minutes into an hour, series or minutes into an answer bucket.

    Counts and sums add, min of mins, max of maxes, good/poor counts add up
    (unknown if any part lacks them). Percentiles: one part keeps its own;
    parts that all hold raw values pool them (exact nearest rank); otherwise
    the merged sketch answers (within 1 %, clamped to the true min and max),
    and rows without a sketch (legacy) join count-weighted, marked approximate.
    `encode` stores the merged sketch on the result (rows to be written).
    """
    if not parts:
        raise ValueError("nothing to merge")
    if len(parts) == 1:
        only = parts[0]
        only.approximate = only.approximate or only.legacy
        return only
    out = Stats(
        sum(s.count for s in parts),
        total([s.sum for s in parts]),
        min(s.min for s in parts),
        max(s.max for s in parts),
    )
    if all(s.n_good is not None for s in parts):
        out.n_good = sum(s.n_good or 0 for s in parts)
    if all(s.n_poor is not None for s in parts):
        out.n_poor = sum(s.n_poor or 0 for s in parts)
    with_percentiles = [s for s in parts if s.p50 is not None]
    with_data = [
        s for s in parts if s.sketch is not None or s.values is not None or s.merged is not None
    ]
    if not with_data and not with_percentiles:
        return out
    if with_data and all(s.values is not None for s in parts) and not encode:
        pooled = sorted(v for s in parts for v in s.values or ())
        out.values = pooled
        if with_percentiles:
            out.p50, out.p95, out.p99 = (nearest_rank(pooled, p) for p in PERCENTILES)
        return out
    sketch = merged_sketch(with_data)
    if encode and sketch.count:
        out.sketch = sketch.encode()
    elif sketch.count:
        out.merged = sketch
    if not with_percentiles:  # Web Vitals kept as gauges: a sketch, no percentiles
        return out
    known = sketch.quantiles(PERCENTILES, out.min, out.max) if sketch.count else [None] * 3
    legacy = [s for s in with_percentiles if s.legacy]
    if legacy:
        out.approximate = True
        out.sketch = out.merged = None
        weight = sketch.count
        out.p50, out.p95, out.p99 = (
            _weighted([(known[i], weight)] + [((s.p50, s.p95, s.p99)[i], s.count) for s in legacy])
            for i in range(3)
        )
    else:
        out.p50, out.p95, out.p99 = known
    out.approximate = out.approximate or any(s.approximate for s in parts)
    return out


def rollup(parts: Sequence[Stats]) -> Stats:
    """Rows of one series merged into a row to store (an hour, or a late merge)."""
    out = merge(parts, encode=True)
    out.values = None
    return out


def quantile_of(parts: Iterable[Stats], percent: int) -> float | None:
    """One percentile over merged parts (within 1 %); None when none has data."""
    sketch = merged_sketch(parts)
    return sketch.quantile(percent) if sketch.count else None


def stats_json(bucket: str, stats: Stats) -> dict[str, Any]:
    """One bucket of a GET /api/metrics answer (`approximate` only when it is).

    `stats` comes from `merge`, which marks what rests on legacy rows.
    """
    out = {
        "bucket": bucket,
        "count": stats.count,
        "sum": stats.sum,
        "min": stats.min,
        "max": stats.max,
        "avg": stats.avg,
        "p50": stats.p50,
        "p95": stats.p95,
        "p99": stats.p99,
    }
    if stats.approximate:
        out["approximate"] = True
    return out
