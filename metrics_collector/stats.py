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
    if histogram or thresholds is not None:
        values.sort()
        stats = Stats(n, math.fsum(values), values[0], values[-1])
    else:
        stats = Stats(n, math.fsum(values), min(values), max(values))
    if histogram:
        stats.p50 = nearest_rank(values, 50)
        stats.p95 = nearest_rank(values, 95)
        stats.p99 = nearest_rank(values, 99)
    if thresholds is not None:
        stats.n_good = bisect_right(values, thresholds[0])
        stats.n_poor = n - bisect_right(values, thresholds[1])
    return stats


def _weighted(pairs: list[tuple[float | None, int]]) -> float | None:
    weight = sum(c for p, c in pairs if p is not None)
    if not weight:
        return None
    return sum(p * c for p, c in pairs if p is not None) / weight


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
        math.fsum(s.sum for s in items),
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


class Accumulator:
    """Merges aggregates of many series into one bucket of a query answer.

    Keeps the partial sums (weighted percentile sums and their weights), so
    parts from SQL and parts computed from raw points merge the same way.
    """

    __slots__ = ("count", "sum", "min", "max", "w", "c")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.w = [0.0, 0.0, 0.0]
        self.c = [0, 0, 0]

    def add_partial(
        self,
        count: int,
        total: float,
        lo: float,
        hi: float,
        weighted: Sequence[float | None],
        weights: Sequence[int | None],
    ) -> None:
        """Add pre-merged sums: weighted[i] = Σ p·count, weights[i] = Σ count (non-null p)."""
        self.count += count
        self.sum += total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        for i in range(3):
            if weights[i]:
                self.w[i] += weighted[i] or 0.0
                self.c[i] += weights[i] or 0

    def add(self, stats: Stats) -> None:
        ps = (stats.p50, stats.p95, stats.p99)
        self.add_partial(
            stats.count,
            stats.sum,
            stats.min,
            stats.max,
            [p * stats.count if p is not None else None for p in ps],
            [stats.count if p is not None else None for p in ps],
        )

    def result(self, bucket: str) -> dict[str, object]:
        c = self.c
        return {
            "bucket": bucket,
            "count": self.count,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
            "avg": self.sum / self.count if self.count else 0.0,
            "p50": self.w[0] / c[0] if c[0] else None,
            "p95": self.w[1] / c[1] if c[1] else None,
            "p99": self.w[2] / c[2] if c[2] else None,
        }
