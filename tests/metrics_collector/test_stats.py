"""Pure statistics: nearest-rank percentiles, minute summaries and the hourly roll-up rule."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from metrics_collector.stats import Stats, nearest_rank, rate, rollup, summarize


def reference_percentile(values: list[float], p: int) -> float:
    """Nearest rank by its definition: the smallest value with at least p% of values ≤ it."""
    ordered = sorted(values)
    for i, value in enumerate(ordered):
        if Fraction(i + 1, len(ordered)) >= Fraction(p, 100):
            return value
    raise AssertionError("unreachable")


@pytest.mark.parametrize("p", [50, 95, 99])
def test_percentiles_of_1_to_100(p: int) -> None:
    values = [float(v) for v in range(1, 101)]
    random.Random(p).shuffle(values)
    stats = summarize("latency", "histogram", values)
    assert {50: stats.p50, 95: stats.p95, 99: stats.p99}[p] == float(p)
    assert nearest_rank(sorted(values), p) == reference_percentile(values, p)


def test_percentiles_of_one_value() -> None:
    stats = summarize("latency", "histogram", [7.5])
    assert (stats.p50, stats.p95, stats.p99) == (7.5, 7.5, 7.5)
    assert (stats.count, stats.sum, stats.min, stats.max, stats.avg) == (1, 7.5, 7.5, 7.5, 7.5)


def test_percentiles_of_two_values() -> None:
    stats = summarize("latency", "histogram", [10.0, 2.0])
    # ceil(0.5·2) − 1 = 0 → the lower one; p95/p99 → the upper one.
    assert (stats.p50, stats.p95, stats.p99) == (2.0, 10.0, 10.0)


def test_percentiles_of_10k_random_values_match_the_definition() -> None:
    rnd = random.Random(42)
    values = [rnd.lognormvariate(3, 1) for _ in range(10_000)]
    stats = summarize("latency", "histogram", list(values))
    assert stats.p50 == reference_percentile(values, 50)
    assert stats.p95 == reference_percentile(values, 95)
    assert stats.p99 == reference_percentile(values, 99)
    assert stats.count == 10_000
    assert stats.min == min(values) and stats.max == max(values)
    assert stats.sum == pytest.approx(math.fsum(values))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 19, 20, 21, 99, 101, 1000, 1001])
def test_nearest_rank_for_awkward_sizes(n: int) -> None:
    values = [float(v) for v in range(n)]
    for p in (1, 50, 95, 99, 100):
        assert nearest_rank(values, p) == reference_percentile(values, p)


@pytest.mark.parametrize("kind", ["counter", "gauge"])
def test_counters_and_gauges_have_no_percentiles(kind: str) -> None:
    stats = summarize("requests", kind, [3.0, 1.0, 2.0])
    assert (stats.p50, stats.p95, stats.p99) == (None, None, None)
    assert (stats.count, stats.sum, stats.min, stats.max, stats.avg) == (3, 6.0, 1.0, 3.0, 2.0)


def test_web_vitals_count_good_and_poor_samples() -> None:
    stats = summarize("web_vitals_lcp", "histogram", [1000.0, 2500.0, 2600.0, 4000.0, 4001.0])
    assert (stats.n_good, stats.n_poor) == (2, 1)  # ≤ 2500 good, > 4000 poor
    assert summarize("other", "histogram", [1.0]).n_good is None


def test_rating_thresholds_are_inclusive_on_the_good_side() -> None:
    assert rate(2500, (2500, 4000)) == "good"
    assert rate(2500.1, (2500, 4000)) == "needs-improvement"
    assert rate(4000, (2500, 4000)) == "needs-improvement"
    assert rate(4000.1, (2500, 4000)) == "poor"


def test_rollup_follows_the_hourly_rule() -> None:
    a = Stats(2, 10.0, 1.0, 9.0, 5.0, 9.0, 9.0)
    b = Stats(6, 12.0, 0.5, 4.0, 2.0, 3.0, 4.0)
    out = rollup([a, b])
    assert (out.count, out.sum, out.min, out.max) == (8, 22.0, 0.5, 9.0)
    assert out.avg == 22.0 / 8
    assert out.p50 == pytest.approx((5.0 * 2 + 2.0 * 6) / 8)
    assert out.p95 == pytest.approx((9.0 * 2 + 3.0 * 6) / 8)
    assert out.p99 == pytest.approx((9.0 * 2 + 4.0 * 6) / 8)


def test_rollup_weights_only_parts_with_percentiles() -> None:
    out = rollup([Stats(3, 3.0, 1.0, 1.0), Stats(1, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)])
    assert out.p50 == 8.0
    assert rollup([Stats(1, 1.0, 1.0, 1.0)]).p50 is None
