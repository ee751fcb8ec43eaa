"""GET /api/metrics (+ names, projects): periods, resolutions, label filters, merging, freshness."""

from __future__ import annotations

import orjson
import pytest
from starlette.testclient import TestClient

from metrics_collector.query import parse_label_filter, plan
from shared.responses import BadRequest
from shared.validate import parse_duration
from tests.metrics_collector.conftest import (
    MakeClient,
    aggregate,
    iso,
    minutes_ago,
    point,
    post,
    this_hour,
    this_minute,
)


def series(client: TestClient, **params: str) -> dict:
    r = client.get("/api/metrics", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.usefixtures("steady_minute")
def test_a_point_sent_a_second_ago_is_visible(collector: TestClient) -> None:
    post(collector, [point("signups", "counter", 3)])
    body = series(collector, name="signups", period="5m")
    assert body["name"] == "signups" and body["period"] == "5m"
    assert body["resolution"] == "minute"
    (bucket,) = body["data"]
    assert bucket["count"] == 1 and bucket["sum"] == 3.0
    assert set(bucket) == {"bucket", "count", "sum", "min", "max", "avg", "p50", "p95", "p99"}


@pytest.mark.usefixtures("steady_minute")
def test_aggregated_and_fresh_minutes_together_oldest_first(collector: TestClient) -> None:
    post(
        collector,
        [point("jobs", value=v, timestamp=minutes_ago(m)) for v, m in ((1, 30), (2, 10), (4, 10))],
    )
    aggregate(collector)
    post(collector, [point("jobs", value=8), point("jobs", value=16, timestamp=minutes_ago(10))])
    data = series(collector, name="jobs", period="1h")["data"]
    assert [d["bucket"] for d in data] == [minutes_ago(30), minutes_ago(10), minutes_ago(0)]
    assert [d["sum"] for d in data] == [1.0, 6.0, 8.0]  # the late 16 waits for the next run
    aggregate(collector)
    data = series(collector, name="jobs", period="1h")["data"]
    assert [d["sum"] for d in data] == [1.0, 22.0, 8.0]


@pytest.mark.usefixtures("steady_minute")
def test_answers_do_not_change_when_minutes_get_aggregated(collector: TestClient) -> None:
    points = [
        point(
            "lat",
            "histogram",
            float(v),
            labels={"r": str(v % 3)},
            timestamp=minutes_ago(v % 7 + 1, v % 60),
        )
        for v in range(200)
    ]
    post(collector, points)
    before = series(collector, name="lat", period="1h")
    aggregate(collector)
    after = series(collector, name="lat", period="1h")
    # Exact from raw; from the three series' merged sketches once aggregated (within 1 %).
    assert [{k: v for k, v in d.items() if k[0] != "p"} for d in after["data"]] == [
        {k: v for k, v in d.items() if k[0] != "p"} for d in before["data"]
    ]
    for a, b in zip(after["data"], before["data"], strict=True):
        for p in ("p50", "p95", "p99"):
            assert a[p] == pytest.approx(b[p], rel=0.01)
    assert sum(d["count"] for d in before["data"]) == 200


def test_series_are_merged_per_bucket(collector: TestClient) -> None:
    ts = minutes_ago(3)
    a = [1.0, 2.0, 3.0, 4.0]
    b = [10.0, 20.0]  # together: p50 3, p95/p99 20 (never a mean of the series' percentiles)
    post(
        collector,
        [point("lat", "histogram", v, labels={"host": "a"}, timestamp=ts) for v in a]
        + [point("lat", "histogram", v, labels={"host": "b"}, timestamp=ts) for v in b],
    )
    for _ in range(2):  # from raw, then from minute rows: the same numbers
        (d,) = series(collector, name="lat", period="10m")["data"]
        assert (d["count"], d["sum"], d["min"], d["max"]) == (6, 40.0, 1.0, 20.0)
        assert d["avg"] == pytest.approx(40.0 / 6)
        assert d["p50"] == pytest.approx(3.0, rel=0.01)
        assert (d["p95"], d["p99"]) == (20.0, 20.0)
        aggregate(collector)


def test_counters_have_null_percentiles(collector: TestClient) -> None:
    post(collector, [point("hits", "counter", 1, timestamp=minutes_ago(2))])
    (d,) = series(collector, name="hits", period="1h")["data"]
    assert (d["p50"], d["p95"], d["p99"]) == (None, None, None)


def test_label_filters_match_in_any_order(collector: TestClient) -> None:
    ts = minutes_ago(2)
    post(
        collector,
        [
            point("req", value=1, labels={"route": "/a", "method": "GET"}, timestamp=ts),
            point("req", value=2, labels={"method": "GET", "route": "/b"}, timestamp=ts),
            point("req", value=4, labels={"x": "1", "route": "/a", "method": "POST"}, timestamp=ts),
            point("req", value=8, labels={"url": "http://h:1/p", "code": 200}, timestamp=ts),
            point("req", value=16, timestamp=ts),
        ],
    )
    cases = {
        "route:/a": 5.0,
        "method:GET,route:/a": 1.0,
        "route:/a,method:GET": 1.0,
        "method:GET": 3.0,
        " method : GET , route : /b ": 2.0,
        "route:/c": None,
        "url:http://h:1/p": 8.0,
        "code:200": 8.0,
        "route:/a,route:/b": None,
    }
    for _ in range(2):  # from raw points, then from minute rows
        for labels, total in cases.items():
            data = series(collector, name="req", period="1h", labels=labels)["data"]
            assert ([d["sum"] for d in data] or [None]) == [total], labels
        aggregate(collector)


@pytest.mark.parametrize("labels", ["route", ":x", "a:1,,b:2", ",", "a:1,b"])
def test_malformed_label_filters_are_400(collector: TestClient, labels: str) -> None:
    r = collector.get("/api/metrics", params={"name": "req", "labels": labels})
    assert r.status_code == 400 and "labels" in r.json()["detail"]


def test_label_filter_parsing() -> None:
    assert parse_label_filter("a:1,b:x:y") == [("a", "1"), ("b", "x:y")]
    assert parse_label_filter("") == [] and parse_label_filter(None) == []
    with pytest.raises(BadRequest):
        parse_label_filter("nocolon")


def test_project_filter(collector: TestClient) -> None:
    ts = minutes_ago(2)
    post(
        collector,
        [
            point("req", value=1, project="shop", timestamp=ts),
            point("req", value=2, project="blog", timestamp=ts),
            point("req", value=4, timestamp=ts),
        ],
    )
    assert [d["sum"] for d in series(collector, name="req", project="shop")["data"]] == [1.0]
    assert [d["sum"] for d in series(collector, name="req")["data"]] == [7.0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h", 3600),
        ("24h", 86400),
        ("7d", 604800),
        ("30d", 2592000),
        ("3650d", 315360000),
    ],
)
def test_periods(collector: TestClient, text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    body = series(collector, name="x", period=text)
    assert body["period"] == text and body["data"] == []


def test_default_period_is_24h(collector: TestClient) -> None:
    post(collector, [point("x", timestamp=iso(this_hour() - 23 * 3600))])
    body = series(collector, name="x")
    assert body["period"] == "24h" and body["resolution"] == "minute"
    assert len(body["data"]) == 1


@pytest.mark.parametrize(
    "period", ["0h", "1w", "-5m", "abc", "5", "1.5h", "h", "24H", "1d1h", "9999999999999d"]
)
def test_unknown_periods_are_400(collector: TestClient, period: str) -> None:
    r = collector.get("/api/metrics", params={"name": "x", "period": period})
    assert r.status_code == 400 and "period" in r.json()["detail"]


@pytest.mark.parametrize(
    ("period", "resolution"),
    [("24h", "minute"), ("1441m", "hour"), ("2d", "hour"), ("90s", "minute")],
)
def test_auto_resolution(collector: TestClient, period: str, resolution: str) -> None:
    assert series(collector, name="x", period=period)["resolution"] == resolution
    explicit = series(collector, name="x", period=period, resolution="minute")
    assert explicit["resolution"] == "minute"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"name": ""},
        {"name": "  "},
        {"name": "x", "resolution": "second"},
        {"name": "x" * 201},
        {"name": "x", "project": "p" * 101},
    ],
)
def test_bad_parameters_are_400(collector: TestClient, params: dict) -> None:
    r = collector.get("/api/metrics", params=params)
    assert r.status_code == 400 and r.json()["detail"]


@pytest.mark.usefixtures("steady_minute")
def test_hour_resolution_reads_every_tier_once(make_collector: MakeClient) -> None:
    collector = make_collector(RETENTION_RAW="24")
    base = this_hour()
    post(
        collector,
        [point("jobs", value=1, timestamp=iso(base - 3 * 3600 + 60 * i)) for i in range(5)],
    )  # a complete hour: hour rows
    post(collector, [point("jobs", value=10, timestamp=iso(base - 3600 + 30))])
    aggregate(collector, now=base - 3600 + 120)  # that last hour is not complete yet
    post(collector, [point("jobs", value=100)])  # raw only
    body = series(collector, name="jobs", period="7d")
    assert body["resolution"] == "hour"
    assert [(d["bucket"], d["count"], d["sum"]) for d in body["data"]] == [
        (iso(base - 3 * 3600), 5, 5.0),
        (iso(base - 3600), 1, 10.0),
        (iso(base), 1, 100.0),
    ]
    aggregate(collector)
    assert series(collector, name="jobs", period="7d") == body


def test_names_and_projects(collector: TestClient) -> None:
    post(
        collector,
        [
            point("zeta", "gauge", project="b"),
            point("alpha", "histogram", project="a"),
            point("mid", "counter"),
            point("alpha", "histogram", project="b"),
        ],
    )
    assert collector.get("/api/metrics/names").json() == {
        "metrics": [
            {"name": "alpha", "type": "histogram"},
            {"name": "mid", "type": "counter"},
            {"name": "zeta", "type": "gauge"},
        ],
        "total": 3,
        "limit": 1000,
        "offset": 0,
    }
    assert collector.get("/api/metrics/names", params={"project": "b"}).json()["metrics"] == [
        {"name": "alpha", "type": "histogram"},
        {"name": "zeta", "type": "gauge"},
    ]
    assert collector.get("/api/projects").json()["projects"] == ["a", "b"]
    aggregate(collector)
    assert collector.get("/api/projects").json()["projects"] == ["a", "b"]


def test_query_routes_need_the_key(collector: TestClient) -> None:
    for path in ("/api/metrics?name=x", "/api/metrics/names", "/api/projects", "/api/dashboard"):
        assert collector.get(path, headers={"X-API-Key": ""}).status_code == 401


def test_plan_reads_each_span_from_one_tier() -> None:
    state = {"aggregated_through": "2026-01-01T12:34:00Z", "hours_through": "2026-01-01T12:00:00Z"}
    now = 1767271000.0  # 2026-01-01T12:36:40Z
    minute = plan("minute", "2026-01-01T09:10:00Z", now, state)
    assert [(s.tier, s.start, s.end) for s in minute] == [
        ("minute", "2026-01-01T09:10:00Z", "2026-01-01T12:34:00Z"),
        ("raw", "2026-01-01T12:34:00Z", "2026-01-01T12:37:00Z"),
    ]
    mixed = plan("minute", "2026-01-01T09:10:00Z", now, state, whole_hours=True)
    assert [(s.tier, s.start, s.end) for s in mixed] == [
        ("minute", "2026-01-01T09:10:00Z", "2026-01-01T10:00:00Z"),
        ("hour", "2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z"),
        ("minute", "2026-01-01T12:00:00Z", "2026-01-01T12:34:00Z"),
        ("raw", "2026-01-01T12:34:00Z", "2026-01-01T12:37:00Z"),
    ]
    hourly = plan("hour", "2026-01-01T09:00:00Z", now, state)
    assert [s.tier for s in hourly] == ["hour", "minute", "raw"]
    fresh = plan(
        "minute", "2026-01-01T09:10:00Z", now, {"aggregated_through": "", "hours_through": ""}
    )
    assert [(s.tier, s.start) for s in fresh] == [("raw", "2026-01-01T09:10:00Z")]


def test_label_keys_with_control_characters_filter_instead_of_failing(
    collector: TestClient,
) -> None:
    """A key a JSON path cannot spell (NUL, tab, newline…) is a filter like any other, not a 500."""
    ts = minutes_ago(2)
    post(
        collector,
        [
            point("ctl", value=1, labels={"a\tb": "x"}, timestamp=ts),
            point("ctl", value=2, labels={"a\nb": "x"}, timestamp=ts),
        ],
    )
    for _ in range(2):  # from raw points, then from minute rows
        assert [
            d["sum"] for d in series(collector, name="ctl", period="1h", labels="a\tb:x")["data"]
        ] == [1.0]
        assert [
            d["sum"] for d in series(collector, name="ctl", period="1h", labels="a\nb:x")["data"]
        ] == [2.0]
        assert series(collector, name="ctl", period="1h", labels="a\x00b:x")["data"] == []
        aggregate(collector)


def test_a_query_reads_one_snapshot_while_aggregation_moves_points(
    collector: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run after a pause aggregates a backlog and purges its raw points; a query
    that planned its tiers just before must still see those points, not a gap."""
    from metrics_collector import query

    post(
        collector,
        [
            point("backlog", value=1, timestamp=minutes_ago(90)),
            point("backlog", value=2, timestamp=minutes_ago(2)),
        ],
    )
    real = query.read_state

    def state_then_a_run(conn):  # type: ignore[no-untyped-def]
        state = real(conn)
        report = aggregate(collector)  # commits minute rows, then purges the old raw point
        assert report.deleted["raw"] == 1
        return state

    monkeypatch.setattr(query, "read_state", state_then_a_run)
    data = series(collector, name="backlog", period="2h")["data"]
    assert [d["sum"] for d in data] == [1.0, 2.0]
    monkeypatch.undo()
    assert series(collector, name="backlog", period="2h")["data"] == data


def test_too_many_label_pairs_are_400_not_500(collector: TestClient) -> None:
    post(collector, [point("req", value=1, labels={"a": "1"}, timestamp=minutes_ago(2))])
    fifty = ",".join(f"a:1,k{i}:v" for i in range(25))
    r = collector.get("/api/metrics", params={"name": "req", "labels": fifty})
    assert r.status_code == 200 and r.json()["data"] == []
    same = ",".join(["a:1"] * 50)
    assert [d["sum"] for d in series(collector, name="req", period="1h", labels=same)["data"]] == [
        1.0
    ]
    for n in (51, 1000):
        r = collector.get("/api/metrics", params={"name": "req", "labels": ",".join(["a:1"] * n)})
        assert r.status_code == 400 and "labels" in r.json()["detail"]


def test_names_and_projects_are_paged_searchable_and_counted(collector: TestClient) -> None:
    """200 posts of 1,000 distinct names answered 45 MB: lists are capped, with a total."""
    for batch in range(3):
        post(collector, [point(f"n{batch}_{i:04d}_%_x", project=f"p{i % 7}") for i in range(1000)])
    names = collector.get("/api/metrics/names").json()
    assert names["total"] == 3000 and len(names["metrics"]) == 1000
    assert names["metrics"][0]["name"] == "n0_0000_%_x"
    page = collector.get("/api/metrics/names", params={"limit": "10", "offset": "2995"}).json()
    assert [m["name"] for m in page["metrics"]] == [f"n2_{i:04d}_%_x" for i in range(995, 1000)]
    found = collector.get("/api/metrics/names", params={"search": "N1_0999_%"}).json()
    assert found["total"] == 1 and found["metrics"][0]["name"] == "n1_0999_%_x"
    assert collector.get("/api/metrics/names", params={"search": "_%_y"}).json()["total"] == 0
    assert collector.get("/api/metrics/names", params={"limit": "5000"}).json()["limit"] == 1000
    assert collector.get("/api/metrics/names", params={"limit": "0"}).status_code == 400
    projects = collector.get("/api/projects", params={"search": "p1"}).json()
    assert projects["projects"] == ["p1"] and projects["total"] == 1


def test_label_keys_and_their_frequent_values(collector: TestClient) -> None:
    """What the UI's label pickers offer: keys of the metric's series in the period,
    values by points, at most 50 each with the distinct count — raw and aggregated alike."""
    points = [
        point("req", labels={"endpoint": f"/e{i % 60}", "method": "GET" if i % 3 else "POST"},
              timestamp=minutes_ago(90 if i % 2 else 2))
        for i in range(600)
    ] + [point("req", labels={"code": 500}, timestamp=minutes_ago(2))] * 3 + [
        point("other", labels={"secret": "x"}, timestamp=minutes_ago(2)),
    ]  # fmt: skip
    post(collector, points)
    for run in (False, True):  # from raw points, then from aggregated rows
        if run:
            aggregate(collector)
        r = collector.get("/api/metrics/labels", params={"name": "req", "period": "3h"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["name"] == "req"
        by_key = {entry["key"]: entry for entry in body["labels"]}
        assert list(by_key) == ["code", "endpoint", "method"]  # not other's "secret"
        assert by_key["method"]["values"] == [
            {"value": "GET", "count": 400},
            {"value": "POST", "count": 200},
        ]
        assert by_key["endpoint"]["distinct"] == 60 and len(by_key["endpoint"]["values"]) == 50
        assert by_key["code"]["values"] == [{"value": "500", "count": 3}]
    narrow = collector.get("/api/metrics/labels", params={"name": "req", "period": "10m"}).json()
    assert {e["key"]: e["distinct"] for e in narrow["labels"]}["endpoint"] == 30
    assert collector.get("/api/metrics/labels").status_code == 400  # name is required


def test_json_label_filter_matches_values_with_commas_and_colons(collector: TestClient) -> None:
    ts = minutes_ago(2)
    post(
        collector,
        [
            point("req", value=1, labels={"route": "/a,b", "host": "h:1"}, timestamp=ts),
            point("req", value=2, labels={"route": "/a"}, timestamp=ts),
            point("req", value=4, labels={"route": " /a,b "}, timestamp=ts),
        ],
    )
    cases = {
        '{"route": "/a,b"}': 1.0,
        '{"route": "/a,b", "host": "h:1"}': 1.0,
        '{"route": " /a,b "}': 4.0,  # taken as is: no trimming in the JSON form
        ' {"route": "/a"}': 2.0,
        "{}": 7.0,
        '{"route": "/c"}': None,
    }
    for _ in range(2):  # from raw points, then from minute rows
        for labels, total in cases.items():
            data = series(collector, name="req", period="1h", labels=labels)["data"]
            assert ([d["sum"] for d in data] or [None]) == [total], labels
        aggregate(collector)


@pytest.mark.parametrize(
    "labels",
    ['{"route": 1}', '{"route": "/a"', "{route: x}", '{"": "x"}', '{"a": {"b": "c"}}', "{[]}"],
)
def test_malformed_json_label_filters_are_400(collector: TestClient, labels: str) -> None:
    r = collector.get("/api/metrics", params={"name": "req", "labels": labels})
    assert r.status_code == 400 and "JSON form" in r.json()["detail"]


def test_json_label_filter_pairs_are_bounded(collector: TestClient) -> None:
    labels = "{" + ",".join(f'"k{i}": "v"' for i in range(51)) + "}"
    r = collector.get("/api/metrics", params={"name": "req", "labels": labels})
    assert r.status_code == 400 and "at most 50" in r.json()["detail"]


@pytest.mark.usefixtures("steady_minute")
def test_group_by_splits_the_answer_per_label_value(collector: TestClient) -> None:
    ts = minutes_ago(2)
    post(
        collector,
        [point("lat", "histogram", v, labels={"endpoint": "/slow"}, timestamp=ts) for v in (5, 9)]
        + [
            point("lat", "histogram", v, labels={"endpoint": "/fast"}, timestamp=ts)
            for v in (1, 2, 3)
        ]
        + [point("lat", "histogram", 7.0, labels={"other": "x"}, timestamp=ts)],
    )
    for _ in range(2):  # from raw points, then from minute rows
        body = series(collector, name="lat", period="1h", group_by="endpoint")
        assert body["group_by"] == "endpoint" and "data" not in body
        assert [(s["labels"], [d["count"] for d in s["data"]]) for s in body["series"]] == [
            ({"endpoint": "/fast"}, [3]),
            ({"endpoint": "/slow"}, [2]),
            ({"endpoint": None}, [1]),  # series without the key
        ]
        slow = body["series"][1]["data"][0]
        assert (slow["bucket"], slow["min"], slow["max"], slow["p99"]) == (ts, 5.0, 9.0, 9.0)
        filtered = series(
            collector, name="lat", period="1h", group_by="endpoint", labels="endpoint:/slow"
        )
        assert [s["labels"] for s in filtered["series"]] == [{"endpoint": "/slow"}]
        aggregate(collector)


def test_group_by_keeps_the_fifty_busiest_and_merges_the_rest(collector: TestClient) -> None:
    ts = minutes_ago(2)
    points = []
    for i in range(60):  # route r00 has 60 points, r59 one
        points += [point("hits", value=1, labels={"route": f"r{i:02d}"}, timestamp=ts)] * (60 - i)
    post(collector, points)
    body = series(collector, name="hits", period="1h", group_by="route")
    names = [s["labels"]["route"] for s in body["series"]]
    assert names == [f"r{i:02d}" for i in range(50)] + ["__other__"]
    (other,) = body["series"][-1]["data"]
    assert other["count"] == sum(60 - i for i in range(50, 60))
    assert sum(d["count"] for s in body["series"] for d in s["data"]) == len(points)


@pytest.mark.parametrize("key", ["a\tb", 'q"uote', "back\\slash"])
def test_group_by_keys_a_json_path_cannot_spell(collector: TestClient, key: str) -> None:
    post(collector, [point("ctl", value=1, labels={key: "x"}, timestamp=minutes_ago(2))])
    for _ in range(2):
        body = series(collector, name="ctl", period="1h", group_by=key)
        assert [s["labels"] for s in body["series"]] == [{key: "x"}]
        aggregate(collector)


def test_group_by_must_name_a_key(collector: TestClient) -> None:
    r = collector.get("/api/metrics", params={"name": "x", "group_by": "k" * 201})
    assert r.status_code == 400 and "group_by" in r.json()["detail"]


@pytest.mark.usefixtures("steady_minute")
def test_group_by_series_carry_their_whole_period(collector: TestClient) -> None:
    """`total` merges a group over every bucket (percentiles from all its sketches): what a
    breakdown table shows, since per-bucket percentiles cannot be combined by a client."""
    values = {2: [1.0, 2.0, 3.0], 3: [10.0, 20.0, 30.0, 40.0]}
    post(
        collector,
        [
            point("lat", "histogram", v, labels={"r": "/a"}, timestamp=minutes_ago(m))
            for m, vs in values.items()
            for v in vs
        ],
    )
    for _ in range(2):  # from raw points, then from minute rows
        (a,) = series(collector, name="lat", period="1h", group_by="r")["series"]
        assert len(a["data"]) == 2
        total = a["total"]
        assert (total["count"], total["sum"], total["min"], total["max"]) == (7, 106.0, 1.0, 40.0)
        assert total["p50"] == pytest.approx(10.0, rel=0.01)  # nearest rank over all seven
        assert total["p99"] == 40.0
        assert "bucket" not in total
        aggregate(collector)


@pytest.mark.usefixtures("steady_minute")
def test_a_repeated_query_sees_each_new_point_and_each_aggregation(
    collector: TestClient,
) -> None:
    """Answers are reused between aggregation runs (TierCache), never past a change."""
    post(collector, [point("orders", value=1, timestamp=minutes_ago(20))])
    aggregate(collector)
    first = series(collector, name="orders", period="1h")["data"]
    assert series(collector, name="orders", period="1h")["data"] == first  # reused
    post(collector, [point("orders", value=2)])  # a raw minute: seen at once
    assert [d["sum"] for d in series(collector, name="orders", period="1h")["data"]] == [1, 2]
    post(collector, [point("orders", value=4, timestamp=minutes_ago(20))])  # late
    assert [d["sum"] for d in series(collector, name="orders", period="1h")["data"]] == [1, 2]
    aggregate(collector)  # the late point's minute is aggregated again
    assert [d["sum"] for d in series(collector, name="orders", period="1h")["data"]] == [5, 2]


def test_the_answer_cache_is_bounded_by_bytes() -> None:
    from metrics_collector.query import TierCache

    cache = TierCache(budget=400)
    for n in range(5):
        cache.put((0, n), b"x" * 90)
    assert cache.size <= 400 and cache.get((0, 0)) is None and cache.get((0, 4)) is not None
    cache.put((0, "big"), b"x" * 101)  # over a quarter of the budget: not kept
    assert cache.get((0, "big")) is None
    cache.put((1, "later"), b"x")  # a generation that is not the current one: not kept
    assert cache.get((1, "later")) is None
    cache.bump()
    assert cache.size == 0 and cache.get((0, 4)) is None


@pytest.mark.usefixtures("steady_minute")
def test_a_breakdown_s_totals_follow_its_window_within_a_minute(collector: TestClient) -> None:
    """`period=90s&group_by=`: the totals window moves every second, the tiers do not."""
    from metrics_collector.query import MetricsQuery, query_metrics_json
    from shared.app import runtime

    minute = this_minute()
    post(collector, [point("hits", value=7, labels={"r": "a"}, timestamp=iso(minute - 90))])
    post(collector, [point("hits", value=1, labels={"r": "a"}, timestamp=iso(minute - 10))])
    state = runtime(collector.app)
    cache = state.context.tiers
    q = MetricsQuery("hits", "90s", 90, "hour", None, [], group_by="r")

    def totals(at: float) -> dict:
        answer = state.db.read_sync(lambda conn: query_metrics_json(conn, q, cache, now=at))
        return orjson.loads(answer)["series"][0]["total"]

    early, late = totals(minute + 10), totals(minute + 40)
    # From :10 the window starts two minutes back; from :40 one: the 7 has left it.
    assert (early["count"], late["count"]) == (2, 1)
