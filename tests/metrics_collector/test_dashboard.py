"""GET /api/dashboard (totals, top metrics, Web Vitals) and the richer /health."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from starlette.testclient import TestClient

from tests.metrics_collector.conftest import (
    MakeClient,
    aggregate,
    count,
    iso,
    minutes_ago,
    point,
    post,
    this_hour,
)


def vital(short: str, value: float, page: str = "/home", minute: int = 3, **labels: str) -> dict:
    return point(
        f"web_vitals_{short}",
        "histogram",
        value,
        timestamp=minutes_ago(minute),
        labels={"source": "browser", "page": page, "session_id": "s1", **labels},
    )


def dash(client: TestClient, **params: str) -> dict:
    r = client.get("/api/dashboard", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def jobs(n: int) -> dict:
    """The top_metrics entry of `n` points of the counter `jobs`, each of value 1."""
    return {
        "name": "jobs",
        "type": "counter",
        "count": n,
        "total": float(n),
        "avg": 1.0,
        "p95": None,
    }


@pytest.mark.usefixtures("steady_minute")
def test_summary_and_top_metrics(collector: TestClient) -> None:
    points = []
    for i in range(12):  # metric i has i + 1 points of value 2
        points += [point(f"m{i:02d}", "counter", 2, timestamp=minutes_ago(2)) for _ in range(i + 1)]
    post(collector, points)
    for _ in range(2):  # from raw, then from minute rows
        body = dash(collector, period="1h")
        assert body["period"] == "1h"
        assert body["summary"] == {"total_datapoints": 78, "distinct_metrics": 12}
        top = body["top_metrics"]
        assert len(top) == 10
        assert top[0] == {
            "name": "m11",
            "type": "counter",
            "count": 12,
            "total": 24.0,
            "avg": 2.0,
            "p95": None,
        }
        assert [t["name"] for t in top] == [f"m{i:02d}" for i in range(11, 1, -1)]
        assert "web_vitals" not in body
        aggregate(collector)


def test_project_filter_and_periods(collector: TestClient) -> None:
    post(
        collector,
        [
            point("a", project="shop", timestamp=minutes_ago(2)),
            point("b", project="blog", timestamp=minutes_ago(2)),
            point("c", timestamp=minutes_ago(90)),
        ],
    )
    assert dash(collector, project="shop")["summary"] == {
        "total_datapoints": 1,
        "distinct_metrics": 1,
    }
    assert dash(collector, period="1h")["summary"]["total_datapoints"] == 2
    assert dash(collector)["summary"]["total_datapoints"] == 3
    aggregate(collector)
    assert dash(collector, period="7d")["summary"]["total_datapoints"] == 3  # hour tier


@pytest.mark.parametrize("params", [{"period": "1w"}, {"period": "0d"}, {"project": "p" * 101}])
def test_bad_dashboard_parameters_are_400(collector: TestClient, params: dict) -> None:
    r = collector.get("/api/dashboard", params=params)
    assert r.status_code == 400 and r.json()["detail"]


@pytest.mark.usefixtures("steady_minute")
def test_web_vitals_ratings_and_distribution(collector: TestClient) -> None:
    post(
        collector,
        [
            vital("lcp", 1000),
            vital("lcp", 3000),
            vital("lcp", 5000, page="/about"),
            vital("lcp", 2000, minute=2),
            vital("inp", 100),
            vital("inp", 600, page="/about"),
            vital("cls", 0.05),
            vital("cls", 0.3),
            vital("cls", 0.2, page="/about"),
            # Not from the browser: not a Web Vital sample.
            point("web_vitals_lcp", "histogram", 99999, timestamp=minutes_ago(3)),
        ],
    )
    for _ in range(2):  # from raw, then from minute rows (good/poor counts kept per row)
        vitals = dash(collector, period="1h")["web_vitals"]
        lcp, inp, cls = (vitals["summary"][k] for k in ("lcp", "inp", "cls"))
        # The rating follows the 75th percentile (nearest rank), as Core Web Vitals rate
        # a page; the average alone would call INP and CLS merely "needs improvement".
        assert (lcp["avg"], lcp["count"], lcp["rating"]) == (2750.0, 4, "needs-improvement")
        assert lcp["p75"] == pytest.approx(3000.0, rel=0.01)
        assert lcp["distribution"] == {"good": 0.5, "needs-improvement": 0.25, "poor": 0.25}
        assert (inp["avg"], inp["count"], inp["rating"]) == (350.0, 2, "poor")
        assert inp["p75"] == pytest.approx(600.0, rel=0.01)
        assert inp["distribution"] == {"good": 0.5, "needs-improvement": 0.0, "poor": 0.5}
        assert cls["avg"] == pytest.approx(0.55 / 3)
        assert cls["rating"] == "poor" and cls["p75"] == pytest.approx(0.3, rel=0.01)
        assert cls["distribution"] == pytest.approx(
            {"good": 1 / 3, "needs-improvement": 1 / 3, "poor": 1 / 3}
        )
        pages = {p["page"]: p for p in vitals["by_page"]}
        assert pages["/home"] == {
            "page": "/home",
            "lcp": 2000.0,
            "inp": 100.0,
            "cls": pytest.approx(0.175),
            "page_views": 3,
        }
        assert pages["/about"] == {
            "page": "/about",
            "lcp": 5000.0,
            "inp": 600.0,
            "cls": 0.2,
            "page_views": 1,
        }
        assert [p["page"] for p in vitals["by_page"]] == ["/home", "/about"]
        series = vitals["timeseries"]
        assert vitals["resolution"] == "minute"
        assert [s["bucket"] for s in series] == [minutes_ago(3), minutes_ago(2)]
        assert series[0]["lcp"] == 3000.0 and series[0]["count"] == 3
        assert series[1] == {
            "bucket": minutes_ago(2),
            "lcp": 2000.0,
            "inp": None,
            "cls": None,
            "count": 1,
        }
        aggregate(collector)


@pytest.mark.usefixtures("steady_minute")
def test_web_vitals_good_ratings_and_hourly_buckets(collector: TestClient) -> None:
    post(collector, [vital("lcp", 1200), vital("inp", 80), vital("cls", 0.01)])
    vitals = dash(collector, period="24h")["web_vitals"]
    assert {k: v["rating"] for k, v in vitals["summary"].items()} == {
        "lcp": "good",
        "inp": "good",
        "cls": "good",
    }
    assert vitals["summary"]["lcp"]["distribution"] == {
        "good": 1.0,
        "needs-improvement": 0.0,
        "poor": 0.0,
    }
    (bucket,) = vitals["timeseries"]
    assert vitals["resolution"] == "hour"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00Z", bucket["bucket"])


def test_web_vitals_only_when_present_and_filtered_by_project(collector: TestClient) -> None:
    post(collector, [vital("lcp", 1000, project="shop")])
    assert "web_vitals" in dash(collector)
    assert "web_vitals" in dash(collector, project="shop")  # the relay's project label
    assert "web_vitals" not in dash(collector, project="blog")
    summary = dash(collector)["web_vitals"]["summary"]
    assert summary["inp"] == {
        "avg": None,
        "count": 0,
        "rating": None,
        "distribution": None,
        "p75": None,
    }


@pytest.mark.usefixtures("steady_minute")
def test_health_reports_received_points_and_last_run(collector: TestClient) -> None:
    assert collector.get("/health", headers={"X-API-Key": ""}).json() == {
        "status": "ok",
        "metrics_received_24h": 0,
        "last_aggregation": None,
        "rejected_batches_24h": 0,
    }
    post(collector, [point(timestamp=minutes_ago(3))] * 7)
    post(collector, [point()] * 5)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(time.time())))
    aggregate(collector)
    body = collector.get("/health").json()
    assert body["status"] == "ok" and body["metrics_received_24h"] == 12
    assert body["last_aggregation"] >= started
    # Counted when received, so purging raw points does not change it.
    aggregate(collector, time.time() + 2 * 3600)
    assert count(collector) == 0
    assert collector.get("/health").json()["metrics_received_24h"] == 12


@pytest.mark.usefixtures("steady_minute")
def test_dashboard_totals_read_each_tier_once(make_collector) -> None:
    collector = make_collector(RETENTION_RAW="24")
    now = time.time()
    start = int(now - 3 * 3600) // 60 * 60  # where a 3h dashboard starts
    inside = [start + 60, start + 3600, start + 2 * 3600 + 120, int(now) - 300]
    post(
        collector,
        [point("jobs", "counter", 1, timestamp=iso(t)) for t in inside]
        + [point("jobs", "counter", 100, timestamp=iso(start - 60))],
    )  # before the period
    before = dash(collector, period="3h")["top_metrics"]
    assert before == [jobs(4)]
    aggregate(collector)
    post(collector, [point("jobs", "counter", 1)])
    assert dash(collector, period="3h")["top_metrics"] == [jobs(5)]
    assert dash(collector, period="24h")["summary"]["total_datapoints"] == 6


@pytest.mark.usefixtures("steady_minute")
def test_dashboard_counts_the_first_hour_once_its_minute_rows_expired(make_collector) -> None:
    """A period reaching past the minute tier still counts its first (partial) hour.

    Its minute rows are gone, so the hour row — the finest data left — answers it,
    rather than the first minutes of the period silently counting nothing.
    """
    collector = make_collector(RETENTION_MINUTE="1")
    now = int(time.time())
    seconds = 3 * 3600 + (now % 3600 - 1800) % 3600  # the period starts mid-hour
    start = (now - seconds) // 60 * 60
    post(
        collector,
        [
            point("jobs", "counter", 1, timestamp=iso(start + 60)),
            point("jobs", "counter", 1, timestamp=iso(now - 120)),
        ],
    )
    aggregate(collector)
    assert count(collector, "metrics_raw") == 1  # the old point lives on in its hour row only
    body = dash(collector, period=f"{seconds}s")
    assert body["top_metrics"] == [jobs(2)]


def test_dashboard_reads_one_snapshot_while_aggregation_moves_points(
    collector: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Totals planned just before a run that aggregates a backlog and purges its raw points
    still count those points."""
    from metrics_collector import dashboard

    post(
        collector,
        [
            point("backlog", value=1, timestamp=minutes_ago(90)),
            point("backlog", value=2, timestamp=minutes_ago(2)),
        ],
    )
    real = dashboard.read_state

    def state_then_a_run(conn):  # type: ignore[no-untyped-def]
        state = real(conn)
        # The run happens elsewhere, as the worker's would: on its own thread,
        # reading through the pool, not inside this read's snapshot.
        with ThreadPoolExecutor(1) as other:
            assert other.submit(aggregate, collector).result().deleted["raw"] == 1
        return state

    monkeypatch.setattr(dashboard, "read_state", state_then_a_run)
    assert dash(collector, period="2h")["summary"]["total_datapoints"] == 2
    monkeypatch.undo()
    assert dash(collector, period="2h")["summary"]["total_datapoints"] == 2


@pytest.mark.usefixtures("steady_minute")
def test_data_since_is_the_oldest_bucket_with_data(collector: TestClient) -> None:
    """The UI fits its default period to it (a new install is not a sliver of 24 h)."""
    assert dash(collector)["data_since"] is None
    post(collector, [point("a", timestamp=minutes_ago(7, 30)), point("b", project="shop")])
    for _ in range(2):  # from raw points, then from minute rows
        assert dash(collector)["data_since"] == minutes_ago(7)
        assert dash(collector, project="shop")["data_since"] == minutes_ago(0)
        assert dash(collector, period="5m")["data_since"] == minutes_ago(0)
        aggregate(collector)


def test_data_since_in_a_complete_hour_is_still_its_minute(make_collector: MakeClient) -> None:
    """A day's dashboard reads complete hours from the hour tier; the minute of the
    oldest point still comes from the minute rows while they exist."""
    collector = make_collector()
    at = this_hour() - 2 * 3600 + 7 * 60 + 5
    post(collector, [point("a", timestamp=iso(at))])
    aggregate(collector)
    assert dash(collector)["data_since"] == iso(at - 5)
