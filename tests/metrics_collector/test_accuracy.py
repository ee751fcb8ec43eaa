"""Percentiles an operator can trust: every merged answer is within 1 % of the exact one.

Seeded random latencies over 15 series (5 routes × 3 statuses, one route ten
times slower than the rest, as a slow checkout among fast pages), spread
over two complete hours, aggregated into minute and hour rows with their raw
points purged. Every merged query — all series, each filter, minute and hour
resolution, group_by — must answer p50/p95/p99 within 1 % (relative) of the
nearest-rank percentiles over the same raw points. Averaging percentiles
across series or minutes (what the earlier implementation did) misses the
slow route's tail by far more.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from metrics_collector import SERVICE as COLLECTOR
from metrics_collector.config import from_env
from tests.helpers import collector_env
from tests.metrics_collector.conftest import (
    AUTH,
    aggregate,
    count,
    iso,
    point,
    post,
    this_hour,
)

HOUR = 3600
ROUTES = ("/", "/items", "/search", "/login", "/checkout")
STATUSES = ("200", "404", "500")
SLOW = "/checkout"
POINTS = 12_000
NAME = "http_request_duration_seconds"

Point = dict[str, Any]


def nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def latency(rnd: random.Random, route: str) -> float:
    """Lognormal around 30 ms (300 ms on the slow route), with a tail."""
    base = 0.3 if route == SLOW else 0.03
    return round(base * rnd.lognormvariate(0, 0.5 + 0.3 * rnd.random()), 6)


@pytest.fixture(scope="module")
def workload() -> tuple[int, list[Point]]:
    rnd = random.Random(20261202)
    start = this_hour() - 3 * HOUR
    points = []
    for _ in range(POINTS):
        route = rnd.choices(ROUTES, weights=(30, 25, 20, 10, 15))[0]
        status = rnd.choices(STATUSES, weights=(90, 7, 3))[0]
        points.append(
            point(
                NAME,
                "histogram",
                latency(rnd, route),
                labels={"route": route, "status": status},
                timestamp=iso(start + rnd.randrange(0, 2 * HOUR)),
            )
        )
    return start, points


@pytest.fixture(scope="module")
def aggregated(
    workload: tuple[int, list[Point]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A collector holding the workload in minute and hour rows only (raw purged)."""
    directory: Path = tmp_path_factory.mktemp("accuracy")
    client = TestClient(COLLECTOR.app(from_env(collector_env(directory))), headers=AUTH)
    client.__enter__()
    _, points = workload
    for i in range(0, len(points), 2000):
        post(client, points[i : i + 2000])
    aggregate(client)
    assert count(client, "metrics_raw") == 0  # older than RETENTION_RAW: rows only
    yield client
    client.__exit__(None, None, None)


def expected(
    points: list[Point], keep: Callable[[Point], bool], hourly: bool
) -> dict[str, list[float]]:
    """The raw values of each answer bucket, for the points a query selects."""
    buckets: dict[str, list[float]] = defaultdict(list)
    for p in points:
        if keep(p):
            ts = p["timestamp"]
            bucket = ts[:13] + ":00:00Z" if hourly else ts[:16] + ":00Z"
            buckets[bucket].append(p["value"])
    return buckets


def assert_within_one_percent(data: list[dict], want: dict[str, list[float]], what: str) -> None:
    assert [d["bucket"] for d in data] == sorted(want), what
    worst = 0.0
    for d in data:
        values = want[d["bucket"]]
        assert d["count"] == len(values), what
        assert "approximate" not in d, what
        for p in (50, 95, 99):
            exact = nearest_rank(values, p)
            error = abs(d[f"p{p}"] - exact) / exact
            worst = max(worst, error)
            assert error <= 0.01, f"{what} {d['bucket']} p{p}: {d[f'p{p}']} vs exact {exact}"
    assert worst < 0.01


FILTERS: list[tuple[str, dict[str, str], Callable[[Point], bool]]] = [
    ("all series", {}, lambda p: True),
    *(
        (f"route {r}", {"labels": f"route:{r}"}, lambda p, r=r: p["labels"]["route"] == r)
        for r in ROUTES
    ),
    *(
        (f"status {s}", {"labels": f"status:{s}"}, lambda p, s=s: p["labels"]["status"] == s)
        for s in STATUSES
    ),
    (
        "one series",
        {"labels": "route:/checkout,status:200"},
        lambda p: p["labels"] == {"route": SLOW, "status": "200"},
    ),
]


@pytest.mark.parametrize("resolution", ["minute", "hour"])
@pytest.mark.parametrize(("what", "params", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_merged_percentiles_are_within_one_percent(
    aggregated: TestClient,
    workload: tuple[int, list[Point]],
    resolution: str,
    what: str,
    params: dict[str, str],
    keep: Callable[[Point], bool],
) -> None:
    _, points = workload
    r = aggregated.get(
        "/api/metrics", params={"name": NAME, "period": "4h", "resolution": resolution, **params}
    )
    assert r.status_code == 200, r.text
    want = expected(points, keep, resolution == "hour")
    assert_within_one_percent(r.json()["data"], want, f"{what} by {resolution}")


@pytest.mark.parametrize("resolution", ["minute", "hour"])
@pytest.mark.parametrize("key", ["route", "status"])
def test_group_by_percentiles_are_within_one_percent(
    aggregated: TestClient, workload: tuple[int, list[Point]], resolution: str, key: str
) -> None:
    _, points = workload
    r = aggregated.get(
        "/api/metrics",
        params={"name": NAME, "period": "4h", "resolution": resolution, "group_by": key},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    groups = {s["labels"][key]: s["data"] for s in body["series"]}
    assert set(groups) == set(ROUTES if key == "route" else STATUSES)
    for value, data in groups.items():
        want = expected(points, lambda p, v=value: p["labels"][key] == v, resolution == "hour")
        assert_within_one_percent(data, want, f"{key}={value} by {resolution}")


def test_the_slow_routes_tail_shows_in_the_overall_p99(
    aggregated: TestClient, workload: tuple[int, list[Point]]
) -> None:
    """The issue's case: the whole period's p99 is the slow route's tail, not a blend."""
    _, points = workload
    (hour,) = aggregated.get(
        "/api/metrics", params={"name": NAME, "period": "4h", "resolution": "hour"}
    ).json()["data"][:1]
    first_hour = [p["value"] for p in points if p["timestamp"][:13] == hour["bucket"][:13]]
    exact = nearest_rank(first_hour, 99)
    assert hour["p99"] == pytest.approx(exact, rel=0.01)
    assert hour["p99"] > 0.3  # the slow route dominates the tail
