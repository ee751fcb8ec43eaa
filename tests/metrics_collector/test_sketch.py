"""The quantile sketch on its own: the 1 % guarantee, merging, encoding, hostile blobs."""

from __future__ import annotations

import math
import random

import pytest

from metrics_collector.sketch import RELATIVE_ACCURACY, Sketch, SketchError, bucket_of, value_of
from metrics_collector.stats import nearest_rank

PERCENTS = (0, 1, 25, 50, 75, 90, 95, 99, 100)


def datasets() -> dict[str, list[float]]:
    rnd = random.Random(7)
    return {
        "lognormal latencies": [rnd.lognormvariate(math.log(0.05), 0.6) for _ in range(20_000)],
        "slow route mixed in": [
            rnd.lognormvariate(math.log(0.02 if rnd.random() < 0.85 else 0.3), 0.4)
            for _ in range(20_000)
        ],
        "twelve decades": [10 ** rnd.uniform(-6, 6) for _ in range(20_000)],
        "signs and zeros": [rnd.choice((-1, 0, 1)) * rnd.expovariate(0.01) for _ in range(5_000)],
        "extremes": [5e-324, 1e-300, 1.0, 1e300, 1.7976931348623157e308, -1e-300, -1e300],
        "one value": [42.0],
        "repeated value": [0.25] * 1000,
    }


def assert_within(sketch: Sketch, values: list[float]) -> None:
    ordered = sorted(values)
    for p in PERCENTS:
        exact = nearest_rank(ordered, p)
        got = sketch.quantile(p)
        assert got is not None
        if exact == 0:
            assert got == 0
        else:
            assert abs(got - exact) <= 0.01 * abs(exact), (p, got, exact)


@pytest.mark.parametrize("name", list(datasets()))
def test_every_percentile_is_within_one_percent(name: str) -> None:
    values = datasets()[name]
    assert_within(Sketch.of(values), values)


@pytest.mark.parametrize("name", list(datasets()))
def test_merging_encoded_parts_keeps_the_guarantee(name: str) -> None:
    values = datasets()[name]
    rnd = random.Random(3)
    merged = Sketch()
    for i in range(0, len(values), 37):  # uneven parts, merged in shuffled order
        part = values[i : i + 37]
        blob = Sketch.of(part).encode()
        merged.merge_encoded(blob)
    assert merged == Sketch.of(values)
    assert merged.count == len(values)
    assert_within(merged, values)
    shuffled = values[:]
    rnd.shuffle(shuffled)
    assert Sketch.of(shuffled) == merged  # order never matters


def test_merge_is_associative_and_commutative() -> None:
    a, b, c = (Sketch.of([random.Random(s).random() for _ in range(100)]) for s in (1, 2, 3))
    left = Sketch()
    for s in (a, b, c):
        left.merge(s)
    right = Sketch()
    for s in (c, a, b):
        right.merge(s)
    assert left == right


def test_known_min_and_max_make_the_extremes_exact() -> None:
    values = [1.0, 10.0, 20.0, 40.0, 100.0]
    sketch = Sketch.of(values)
    assert sketch.quantiles((0, 50, 100), low=1.0, high=100.0) == [
        1.0,
        pytest.approx(20.0, rel=0.01),
        100.0,
    ]
    assert Sketch.of([7.5]).quantiles((50, 99), 7.5, 7.5) == [7.5, 7.5]


def test_buckets_bound_the_relative_error() -> None:
    for v in (1e-9, 0.001, 0.3, 1.0, 2.5, 1e6, 1e200):
        assert abs(value_of(bucket_of(v)) - v) <= RELATIVE_ACCURACY * v * (1 + 1e-9)


def test_an_empty_sketch_answers_none() -> None:
    assert Sketch().quantiles((50, 99)) == [None, None]
    assert Sketch.decode(Sketch().encode()).count == 0


def test_encoding_is_compact_and_round_trips() -> None:
    rnd = random.Random(5)
    minute = [rnd.lognormvariate(math.log(0.05), 0.6) for _ in range(70)]
    sketch = Sketch.of(minute)
    blob = sketch.encode()
    assert Sketch.decode(blob) == sketch
    assert len(blob) < 3 * len(sketch.positive) + 16  # ~2 bytes per occupied bucket


def test_large_counts_round_trip() -> None:
    sketch = Sketch.of([1.0, 2.0])
    sketch.positive[bucket_of(1.0)] = 2**40
    assert Sketch.decode(sketch.encode()) == sketch


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01",
        b"\x02\x01",
        b"\x01\x01\x00\x00\x00\x00\x05\x00\x00\x00BB\x01",
        b"\x01\x01junk!!!!!!!",
    ],
)
def test_unreadable_blobs_raise_a_sketch_error(blob: bytes) -> None:
    with pytest.raises(SketchError):
        Sketch.decode(blob)
