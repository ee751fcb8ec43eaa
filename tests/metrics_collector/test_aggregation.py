"""Aggregation: exact minute rows, the hourly roll-up, idempotence, late points, retention."""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from metrics_collector import aggregation, retention
from shared.app import runtime
from tests.helpers import wait_until
from tests.metrics_collector.conftest import (
    MakeClient,
    agg_rows,
    aggregate,
    assert_merged_consistent,
    count,
    iso,
    minutes_ago,
    point,
    post,
    sql,
    this_hour,
    this_minute,
)

HOUR = 3600
DAY = 86_400


def assert_same_rows(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                assert u == pytest.approx(v, rel=1e-12), (x, y)
            else:
                assert u == v, (x, y)


def workload(base: int, seed: int = 1) -> list[dict]:
    """A mix of series over a few minutes starting at `base` (epoch, minute-aligned)."""
    rnd = random.Random(seed)
    points = []
    for i in range(600):
        at = iso(base + rnd.randrange(0, 5 * 60))
        points.append(
            point(
                "latency",
                "histogram",
                round(rnd.lognormvariate(3, 1), 3),
                labels={"route": rnd.choice(["/a", "/b"])},
                timestamp=at,
            )
        )
        points.append(
            point("requests", "counter", 1, labels={"route": "/a"}, project="shop", timestamp=at)
        )
        if i % 10 == 0:
            points.append(point("queue", "gauge", rnd.randrange(100), timestamp=at))
    return points


def post_all(client: TestClient, points: list[dict]) -> None:
    for i in range(0, len(points), 1000):
        post(client, points[i : i + 1000])


@pytest.mark.usefixtures("steady_minute")
def test_minute_rows_are_exact(collector: TestClient) -> None:
    m1, m2 = minutes_ago(5), minutes_ago(4)
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    post(collector, [point("lat", "histogram", v, timestamp=m1) for v in values])
    post(
        collector,
        [
            point("hits", "counter", 2, labels={"a": "1"}, timestamp=m1),
            point("hits", "counter", 3, labels={"a": "1"}, timestamp=m2),
            point("temp", "gauge", -1.5, project="lab", timestamp=m2),
            point("hits", "counter", 1, timestamp=minutes_ago(0)),
        ],
    )
    report = aggregate(collector)
    assert report.minutes == 2  # the current minute waits until it is complete
    rows = {(r[0], r[1]): r for r in agg_rows(collector, "minute")}
    b1, b2 = m1[:17] + "00Z", m2[:17] + "00Z"
    assert rows[(b1, "lat")] == (
        b1,
        "lat",
        None,
        None,
        "histogram",
        5,
        15.0,
        1.0,
        5.0,
        3.0,
        3.0,
        5.0,
        5.0,
    )
    assert rows[(b1, "hits")][2:] == (
        '{"a":"1"}',
        None,
        "counter",
        1,
        2.0,
        2.0,
        2.0,
        2.0,
        None,
        None,
        None,
    )
    assert rows[(b2, "hits")][5:7] == (1, 3.0)
    assert rows[(b2, "temp")][2:] == (
        None,
        "lab",
        "gauge",
        1,
        -1.5,
        -1.5,
        -1.5,
        -1.5,
        None,
        None,
        None,
    )
    assert len(rows) == 4
    assert count(collector, "metrics_dirty_minutes") == 1  # only the current minute


def test_running_twice_changes_nothing(collector: TestClient) -> None:
    post_all(collector, workload(this_minute() - 20 * 60))
    aggregate(collector)
    minutes, hours = agg_rows(collector, "minute"), agg_rows(collector, "hour")
    again = aggregate(collector)
    assert again.minutes == 0
    assert agg_rows(collector, "minute") == minutes
    assert agg_rows(collector, "hour") == hours
    total = sum(r[5] for r in minutes)
    assert total == count(collector)  # every raw point counted exactly once


def test_late_points_give_exactly_a_single_pass(make_collector: MakeClient) -> None:
    base = this_hour() - 2 * HOUR + 10 * 60  # complete hours, raw still kept (RETENTION_RAW=24)
    early = workload(base, seed=1)
    late = workload(base, seed=2)[:500]
    incremental = make_collector("incremental", RETENTION_RAW="24")
    post_all(incremental, early)
    aggregate(incremental)
    post_all(incremental, late)
    aggregate(incremental)
    aggregate(incremental)

    single = make_collector("single", RETENTION_RAW="24")
    post_all(single, early + late)
    aggregate(single)

    assert agg_rows(incremental, "minute") == agg_rows(single, "minute")
    assert_same_rows(agg_rows(incremental, "hour"), agg_rows(single, "hour"))
    assert sum(r[5] for r in agg_rows(incremental, "hour")) == len(early) + len(late)
    assert_merged_consistent(incremental)


def test_chunked_runs_match_one_chunk(make_collector: MakeClient, monkeypatch) -> None:
    points = workload(this_minute() - 30 * 60)
    whole = make_collector("whole")
    post_all(whole, points)
    aggregate(whole)
    monkeypatch.setattr(aggregation, "CHUNK_POINTS", 7)
    chunked = make_collector("chunked")
    post_all(chunked, points)
    aggregate(chunked)
    assert agg_rows(chunked, "minute") == agg_rows(whole, "minute")
    assert count(chunked, "metrics_dirty_minutes") == 0
    assert_merged_consistent(whole)
    assert_merged_consistent(chunked)


def spec_rollup(minute_rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The spec's hourly rule for counts, sums, min, max, avg (percentiles: see the test)."""
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for r in minute_rows:
        groups[(r[0][:13] + ":00:00Z", r[1], r[2], r[3], r[4])].append(r)
    out = {}
    for key, rows in groups.items():
        n = sum(r[5] for r in rows)
        total = sum(r[6] for r in rows)

        out[key] = {
            "count": n,
            "sum": total,
            "min": min(r[7] for r in rows),
            "max": max(r[8] for r in rows),
            "avg": total / n,
        }
    return out


def nearest(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


def test_hour_rows_are_the_rollup_of_minute_rows(make_collector: MakeClient) -> None:
    collector = make_collector(RETENTION_RAW="24")
    start = this_hour() - 3 * HOUR
    rnd = random.Random(3)
    points = [
        point(
            "latency",
            "histogram",
            rnd.uniform(0, 100),
            labels={"r": str(i % 3)},
            timestamp=iso(start + rnd.randrange(0, 2 * HOUR)),
        )
        for i in range(3000)
    ] + [point("jobs", "counter", 1, timestamp=iso(start + i * 97)) for i in range(100)]
    post_all(collector, points)
    aggregate(collector)
    raw: dict[tuple[str, str], list[float]] = defaultdict(list)
    for p in points:
        if p["name"] == "latency":
            raw[(p["timestamp"][:13], p["labels"]["r"])].append(p["value"])
    expected = spec_rollup(agg_rows(collector, "minute"))
    hours = agg_rows(collector, "hour")
    assert len(hours) == len(expected) > 0
    for r in hours:
        want = expected[(r[0], r[1], r[2], r[3], r[4])]
        got = dict(zip(("count", "sum", "min", "max", "avg"), r[5:10], strict=True))
        assert got == pytest.approx(want)
        if r[1] == "jobs":
            assert r[10:13] == (None, None, None)
            continue
        # Percentiles of the hour are those of all its raw values, within 1 %
        # (the merged sketches), never an average of the minutes' percentiles.
        values = raw[(r[0][:13], orjson.loads(r[2])["r"])]
        assert len(values) == r[5]
        for got_p, p in zip(r[10:13], (50, 95, 99), strict=True):
            assert got_p == pytest.approx(nearest(values, p), rel=0.01)
    assert_merged_consistent(collector)


def test_incomplete_hour_gets_its_row_once_complete(make_collector: MakeClient) -> None:
    collector = make_collector(RETENTION_RAW="24")
    at = this_hour() + 60  # in the current hour, a minute in
    post(collector, [point("x", timestamp=iso(at))])
    aggregate(collector, now=at + 120)
    assert agg_rows(collector, "minute") and not agg_rows(collector, "hour")
    aggregate(collector, now=this_hour() + HOUR + 30)
    assert [r[0] for r in agg_rows(collector, "hour")] == [iso(this_hour())]


@pytest.mark.usefixtures("steady_minute")
def test_point_newer_than_the_run_keeps_its_minute_dirty(collector: TestClient) -> None:
    ts = minutes_ago(3)
    post(collector, [point(timestamp=ts)])
    db = runtime(collector.app).db
    top = sql(collector, "SELECT max(id) FROM metrics_raw")[0][0]
    post(collector, [point(timestamp=ts, value=5)])  # arrives after the run read its points
    minute = ts[:17] + "00Z"
    db.writer.submit_sync(lambda c: aggregation.replace_minutes(c, [minute], [], [], top))
    assert sql(collector, "SELECT minute FROM metrics_dirty_minutes") == [(minute,)]
    aggregate(collector)
    assert [r[5:7] for r in agg_rows(collector, "minute")] == [(2, 6.0)]


def test_late_points_for_purged_raw_are_merged_once(collector: TestClient) -> None:
    old = iso(this_minute() - 3 * HOUR + 15)
    post(collector, [point("lat", "histogram", v, timestamp=old) for v in (10.0, 20.0)])
    aggregate(collector)
    assert count(collector) == 0  # aggregated, then purged (older than RETENTION_RAW)
    post(collector, [point("lat", "histogram", v, timestamp=old) for v in (1.0, 100.0, 40.0)])
    report = aggregate(collector)
    assert report.merged_minutes == 1
    aggregate(collector)  # nothing left to merge a second time
    (minute,) = agg_rows(collector, "minute")
    assert minute[5:9] == (5, 171.0, 1.0, 100.0)
    assert minute[9] == pytest.approx(171.0 / 5)
    # Percentiles of all five values (1, 10, 20, 40, 100) from the merged sketches, not a
    # count-weighted mean of the parts' percentiles (which would say p50 = 28).
    assert minute[10] == pytest.approx(20.0, rel=0.01)
    assert minute[12] == 100.0  # the top rank is the true max
    (hour,) = agg_rows(collector, "hour")
    assert hour[5:9] == (5, 171.0, 1.0, 100.0)
    assert count(collector) == 0 and count(collector, "metrics_dirty_minutes") == 0
    assert_merged_consistent(collector)


def test_late_points_past_the_minute_tier_merge_into_the_hour(make_collector: MakeClient) -> None:
    collector = make_collector(RETENTION_MINUTE="2")
    old = iso(this_hour() - 5 * HOUR + 600)
    post(collector, [point("jobs", "counter", 2, timestamp=old)])
    aggregate(collector)
    assert agg_rows(collector, "minute") == []  # past RETENTION_MINUTE
    assert [r[5:7] for r in agg_rows(collector, "hour")] == [(1, 2.0)]
    post(collector, [point("jobs", "counter", 3, timestamp=old)])
    aggregate(collector)
    aggregate(collector)
    assert agg_rows(collector, "minute") == []
    assert [r[5:9] for r in agg_rows(collector, "hour")] == [(2, 5.0, 2.0, 3.0)]
    assert_merged_consistent(collector)


@pytest.mark.usefixtures("steady_minute")
def test_retention_tiers(collector: TestClient) -> None:
    now = time.time()
    post(collector, [point("jobs", "counter", 1, timestamp=minutes_ago(5))])
    aggregate(collector, now)
    assert (count(collector), len(agg_rows(collector, "minute"))) == (1, 1)
    aggregate(collector, now + 2 * HOUR)  # past RETENTION_RAW (1 h)
    assert_merged_consistent(collector)
    assert count(collector) == 0
    assert len(agg_rows(collector, "minute")) == 1 and len(agg_rows(collector, "hour")) == 1
    aggregate(collector, now + 26 * HOUR)  # past RETENTION_MINUTE (24 h)
    assert_merged_consistent(collector)
    assert agg_rows(collector, "minute") == [] and len(agg_rows(collector, "hour")) == 1
    assert collector.get("/api/metrics/names").json()["metrics"] == [
        {"name": "jobs", "type": "counter"}
    ]
    report = aggregate(collector, now + 31 * DAY)  # past RETENTION_HOURLY (30 d)
    assert agg_rows(collector, "hour") == []
    assert count(collector, "metrics_merged") == 0
    assert report.deleted["hour"] == 1
    assert collector.get("/api/metrics/names").json()["metrics"] == []


def test_retention_never_deletes_points_not_yet_aggregated(collector: TestClient) -> None:
    old = iso(this_minute() - 3 * HOUR)
    post(collector, [point("jobs", "counter", 4, timestamp=old)])
    agg = runtime(collector.app).context.aggregator
    # Retention alone (as if the point came in between the minute phase and retention).
    retention.run(agg, time.time())
    assert count(collector) == 1
    aggregate(collector)
    assert [r[5:7] for r in agg_rows(collector, "minute")] == [(1, 4.0)]  # exact, not merged


@pytest.mark.usefixtures("steady_minute")
def test_worker_runs_on_trigger_and_stops_promptly(make_collector: MakeClient) -> None:
    collector = make_collector()
    post(collector, [point(timestamp=minutes_ago(2))])
    agg = runtime(collector.app).context.aggregator
    agg.trigger()
    wait_until(lambda: agg.runs >= 1, what="a triggered aggregation run")
    assert len(agg_rows(collector, "minute")) == 1
    assert collector.get("/health").json()["last_aggregation"] is not None
    started = time.monotonic()
    collector.__exit__(None, None, None)
    assert time.monotonic() - started < 5


def test_aggregated_values_stay_finite(collector: TestClient) -> None:
    post(
        collector,
        [point("big", "gauge", v, timestamp=minutes_ago(2)) for v in (1.7e308, 1.7e308, -1.7e308)],
    )
    aggregate(collector)
    (row,) = agg_rows(collector, "minute")
    assert row[5] == 3 and all(math.isfinite(v) for v in row[6:9])
    assert row[6] == 1.7e308


def test_a_sum_beyond_the_double_range_never_stops_aggregation(collector: TestClient) -> None:
    """Two 1e308 gauges in one past minute: the sum is +inf (shown as null), the
    other series, the next runs, retention, the hour roll-up and queries go on."""
    post(
        collector,
        [
            point("huge", "gauge", 1e308, timestamp=minutes_ago(70)),
            point("huge", "gauge", 1e308, timestamp=minutes_ago(70, 5)),
            point("fine", "counter", 1, timestamp=minutes_ago(70)),
        ],
    )
    assert collector.get("/api/metrics", params={"name": "huge", "period": "2h"}).status_code == 200
    report = aggregate(collector)
    assert report.minutes >= 1 and report.hours >= 1
    rows = {r[1]: r for r in agg_rows(collector, "minute")}
    assert rows["fine"][5:7] == (1, 1.0)
    assert rows["huge"][5] == 2 and rows["huge"][6] == math.inf
    hours = {r[1]: r for r in agg_rows(collector, "hour")}
    assert hours["huge"][6] == math.inf and hours["fine"][6] == 1.0
    answer = collector.get("/api/metrics", params={"name": "huge", "period": "2h"})
    assert answer.status_code == 200
    (bucket,) = [b for b in answer.json()["data"] if b["count"]]
    assert bucket["sum"] is None and bucket["avg"] is None and bucket["max"] == 1e308
    assert aggregate(collector).minutes == 0  # nothing left dirty, nothing stuck
    assert collector.get("/health").json()["status"] == "ok"


def test_opposite_infinite_sums_merge_to_null_not_a_500(collector: TestClient) -> None:
    """+inf and -inf series in one hour: merged sums are undefined (null), never NULL → 500."""

    def two(labels: dict[str, str], value: float, ago: int) -> list[dict]:
        at = minutes_ago(ago)
        return [point("swing", "gauge", value, labels=labels, timestamp=at)] * 2

    # Minute sums +inf (up) and -inf (down); "down" also goes +inf a minute later,
    # so its own hour row adds -inf and +inf.
    up, down = {"s": "up", "k": "x"}, {"s": "down", "k": "x"}
    post(collector, two(up, 1.7e308, 70) + two(down, -1.7e308, 70) + two(down, 1.7e308, 69))
    aggregate(collector)
    for params in ({"period": "2h"}, {"period": "2h", "resolution": "hour"}, {"period": "7d"}):
        r = collector.get("/api/metrics", params={"name": "swing", "labels": "k:x", **params})
        assert r.status_code == 200, r.text
        sums = [b["sum"] for b in r.json()["data"] if b["count"]]
        assert sums and set(sums) == {None}
        # Unfiltered, the series were merged at aggregation from the raw values: minute
        # 70 sums to exactly 0 (1.7e308 twice, -1.7e308 twice); what holds +inf is null.
        r = collector.get("/api/metrics", params={"name": "swing", **params})
        assert r.status_code == 200, r.text
        sums = [b["sum"] for b in r.json()["data"] if b["count"]]
        assert sums and set(sums) <= {None, 0.0} and None in sums
    dash = collector.get("/api/dashboard", params={"period": "7d"})
    assert dash.status_code == 200, dash.text
    assert dash.json()["top_metrics"][0]["total"] is None
