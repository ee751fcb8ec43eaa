"""POST /api/metrics: all-or-nothing validation, canonical labels and timestamps."""

from __future__ import annotations

import time

import orjson
import pytest
from starlette.testclient import TestClient

from tests.metrics_collector.conftest import (
    MakeClient,
    agg_rows,
    aggregate,
    count,
    iso,
    minutes_ago,
    point,
    post,
    sql,
)


def test_batch_is_accepted_and_stored(collector: TestClient) -> None:
    ts = minutes_ago(3)
    post(
        collector,
        [
            point("requests", "counter", 1, labels={"method": "GET"}, project="shop", timestamp=ts),
            point("latency", "histogram", 0.25, timestamp=ts),
            point("queue", "gauge", -3),
        ],
    )
    rows = sql(
        collector,
        "SELECT timestamp, name, labels, value, type, project FROM metrics_raw ORDER BY id",
    )
    assert rows[0] == (ts, "requests", '{"method":"GET"}', 1.0, "counter", "shop")
    assert rows[1] == (ts, "latency", None, 0.25, "histogram", None)
    assert rows[2][1:] == ("queue", None, -3.0, "gauge", None)
    assert isinstance(rows[2][3], float)


def test_missing_timestamp_means_server_time(collector: TestClient) -> None:
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    post(collector, [point()])
    after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ((stored,),) = sql(collector, "SELECT timestamp FROM metrics_raw")
    assert before <= stored <= after


#: A day inside every retention tier (points older than the hour tier are refused).
DAY = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86_400))


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (f"{DAY}T12:00:00Z", f"{DAY}T12:00:00Z"),
        (f"{DAY}T12:00:00.123456Z", f"{DAY}T12:00:00Z"),
        (f"{DAY}T14:30:00+02:00", f"{DAY}T12:30:00Z"),
        (f"{DAY}T07:00:00.5-05:00", f"{DAY}T12:00:00Z"),
        (f"{DAY}T12:00:00", f"{DAY}T12:00:00Z"),
        (f"{DAY}T12:00:00+00:00", f"{DAY}T12:00:00Z"),
    ],
)
def test_timestamps_are_normalised_to_utc(collector: TestClient, sent: str, stored: str) -> None:
    post(collector, [point(timestamp=sent)])
    assert sql(collector, "SELECT timestamp FROM metrics_raw") == [(stored,)]


def test_labels_are_canonical_json(collector: TestClient) -> None:
    post(
        collector,
        [
            point(labels={"b": "1", "a": "2"}),
            point(labels={"a": "2", "b": "1"}),
            point(
                labels={
                    "status": 200,
                    "ok": True,
                    "none": None,
                    "ratio": 0.5,
                    "nested": {"z": 1, "a": [1, {"y": "x"}]},
                }
            ),
            point(labels={}),
        ],
    )
    labels = [r[0] for r in sql(collector, "SELECT labels FROM metrics_raw ORDER BY id")]
    assert labels[0] == labels[1] == '{"a":"2","b":"1"}'
    assert orjson.loads(labels[2]) == {
        "nested": '{"a":[1,{"y":"x"}],"z":1}',
        "none": "null",
        "ok": "true",
        "ratio": "0.5",
        "status": "200",
    }
    assert labels[2].index('"nested"') < labels[2].index('"none"') < labels[2].index('"ok"')
    assert labels[3] is None


def test_labels_in_any_key_order_are_one_series(collector: TestClient) -> None:
    ts = minutes_ago(2)
    post(
        collector,
        [
            point("hits", labels={"region": "eu", "host": "a"}, timestamp=ts, value=1),
            point("hits", labels={"host": "a", "region": "eu"}, timestamp=ts, value=2),
        ],
    )
    aggregate(collector)
    rows = agg_rows(collector, "minute")
    assert len(rows) == 1
    assert rows[0][2] == '{"host":"a","region":"eu"}' and rows[0][5:7] == (2, 3.0)


def test_large_integers_and_1000_points_are_fine(collector: TestClient) -> None:
    post(collector, [point(value=2**64)] + [point(value=i) for i in range(999)])
    assert count(collector) == 1000
    assert sql(collector, "SELECT value FROM metrics_raw ORDER BY id LIMIT 1")[0][0] == 2.0**64


def test_empty_project_means_none(collector: TestClient) -> None:
    post(collector, [point(project="")])
    assert sql(collector, "SELECT project FROM metrics_raw") == [(None,)]
    assert collector.get("/api/projects").json()["projects"] == []


GOOD = point(timestamp=f"{DAY}T00:00:00Z")
BAD_BODIES = [
    pytest.param(b'{"name": "a", "type": "counter", "value": 1}', "JSON array", id="object"),
    pytest.param(b"[]", "1 to 10000 points (got 0", id="empty"),
    pytest.param(orjson.dumps([GOOD] * 10_001), "1 to 10000 points (got 10001", id="10001-points"),
    pytest.param(b'[{"name":"a","type":"counter","value":NaN}]', "Invalid JSON", id="NaN"),
    pytest.param(b'[{"name":"a","type":"counter","value":Infinity}]', "Invalid JSON", id="inf"),
    pytest.param(b'[{"name":"a","type":"counter","value":1e999}]', "Invalid JSON", id="1e999"),
    pytest.param(b'[{"name":"a","type":"counter","value":-1e999}]', "Invalid JSON", id="-1e999"),
    pytest.param(b"[{", "Invalid JSON", id="truncated"),
    pytest.param(b"", "empty", id="no-body"),
    pytest.param(
        orjson.dumps([point(value=True)]), "points[0].value must be a finite number", id="bool"
    ),
    pytest.param(
        orjson.dumps([point(value="1")]),
        "points[0].value must be a finite number",
        id="string-value",
    ),
    pytest.param(
        orjson.dumps([{"name": "a", "type": "counter"}]),
        "points[0].value must be a finite number",
        id="no-value",
    ),
    pytest.param(
        orjson.dumps([point(kind="summary")]),
        "points[0].type must be one of: counter, histogram, gauge",
        id="unknown-type",
    ),
    pytest.param(orjson.dumps([point(kind=None)]), "points[0].type", id="no-type"),
    pytest.param(
        orjson.dumps([point(name="x" * 201)]),
        "points[0].name must be a string of 1 to 200 characters",
        id="201-char-name",
    ),
    pytest.param(orjson.dumps([point(name="")]), "points[0].name", id="empty-name"),
    pytest.param(
        orjson.dumps([{"type": "counter", "value": 1}]), "points[0].name is required", id="no-name"
    ),
    pytest.param(orjson.dumps([point(name=5)]), "points[0].name", id="numeric-name"),
    pytest.param(
        orjson.dumps([point(timestamp="yesterday")]),
        "points[0].timestamp must be an ISO 8601 timestamp",
        id="bad-timestamp",
    ),
    pytest.param(
        orjson.dumps([point(timestamp="2026-02-30T12:00:00Z")]), "points[0].timestamp", id="feb-30"
    ),
    pytest.param(
        orjson.dumps([point(timestamp="2026-01-01T24:00:00Z")]), "points[0].timestamp", id="hour-24"
    ),
    pytest.param(
        orjson.dumps([point(timestamp=1767225600)]), "points[0].timestamp", id="epoch-timestamp"
    ),
    pytest.param(
        orjson.dumps([point(labels=["a"])]), "points[0].labels must be an object", id="labels-list"
    ),
    pytest.param(
        orjson.dumps([point(project="p" * 101)]),
        "points[0].project must be a string of at most 100 characters",
        id="project",
    ),
    pytest.param(orjson.dumps([point(project=7)]), "points[0].project", id="numeric-project"),
    pytest.param(
        orjson.dumps([GOOD, GOOD, GOOD, "not a point"]),
        "points[3] must be an object",
        id="string-point",
    ),
    pytest.param(
        orjson.dumps([GOOD, GOOD, GOOD, point(value=[1])]),
        "points[3].value must be a finite number",
        id="bad-among-good",
    ),
]


@pytest.mark.parametrize(("body", "detail"), BAD_BODIES)
def test_bad_batches_are_rejected_whole(collector: TestClient, body: bytes, detail: str) -> None:
    r = collector.post("/api/metrics", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert detail in r.json()["detail"]
    assert count(collector) == 0
    assert count(collector, "metrics_dirty_minutes") == 0
    assert collector.get("/health").json()["metrics_received_24h"] == 0


def test_body_over_4_mib_is_413(collector: TestClient) -> None:
    body = orjson.dumps([point(labels={"pad": "x" * 5000})] * 1000)
    assert len(body) > 4 * 1024 * 1024
    r = collector.post("/api/metrics", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "exceeds" in r.json()["detail"]
    assert count(collector) == 0


def test_api_key_is_required(collector: TestClient) -> None:
    r = collector.post("/api/metrics", json=[point()], headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and r.json() == {"detail": "Invalid API key"}
    assert count(collector) == 0


def test_labels_nested_too_deep_to_store_are_400_naming_the_point(collector: TestClient) -> None:
    """Nested label values are kept, but one orjson cannot write back is a clear 400, not a 500."""

    def nested(depth: int) -> bytes:
        return (
            b'{"name":"m","type":"gauge","value":1,"labels":{"a":'
            + b"[" * depth
            + b"]" * depth
            + b"}}"
        )

    r = collector.post("/api/metrics", content=b"[" + nested(200) + b"]")
    assert r.status_code == 202, r.text
    r = collector.post("/api/metrics", content=b"[" + nested(1) + b"," + nested(300) + b"]")
    assert r.status_code == 400, r.text
    assert "points[1].labels" in r.json()["detail"]
    assert count(collector) == 1


def test_points_from_too_far_ahead_or_too_long_ago_are_refused_not_lost(
    collector: TestClient,
) -> None:
    """9999-12-31 stayed raw and "dirty" forever; a point older than the hour tier got
    202 and was purged unseen. Both are now a 400 naming the point; nothing is stored."""
    ahead = iso(time.time() + 3600 + 120)
    old = iso(time.time() - 31 * 86_400)
    for bad in ("9999-12-31T23:59:59Z", ahead, old, "1970-01-01T00:00:00Z"):
        r = collector.post("/api/metrics", json=[point(), point(timestamp=bad)])
        assert r.status_code == 400, bad
        assert r.json()["detail"].startswith("points[1].timestamp"), r.text
    assert count(collector) == 0
    # Just inside both ends is fine.
    post(
        collector,
        [point(timestamp=iso(time.time() + 3500)), point(timestamp=iso(time.time() - 29 * 86_400))],
    )
    assert count(collector) == 2


def test_the_oldest_accepted_point_follows_retention_hourly(make_collector: MakeClient) -> None:
    short = make_collector(RETENTION_HOURLY="2")
    r = short.post("/api/metrics", json=[point(timestamp=iso(time.time() - 3 * 86_400))])
    assert r.status_code == 400 and "RETENTION_HOURLY=2" in r.json()["detail"]
    post(short, [point(timestamp=iso(time.time() - 86_400))])


def test_the_in_memory_catalog_is_bounded(
    collector: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 distinct 200-char names per post kept growing the catalog set for a day."""
    from metrics_collector import ingestion
    from shared.app import runtime

    monkeypatch.setattr(ingestion, "MAX_KNOWN", 1500)
    catalog = runtime(collector.app).context.catalog
    for batch in range(5):
        post(collector, [point(f"{batch}-{i}-" + "n" * 190) for i in range(1000)])
        assert len(catalog.known) <= 1500
    assert collector.get("/api/metrics/names").json()["total"] == 5000  # nothing lost


def test_distinct_series_are_bounded_by_max_series(make_collector: MakeClient) -> None:
    """A label with unbounded values grew every table without end; past MAX_SERIES a
    batch adding series is refused whole, known series still flow, retention frees room."""
    small = make_collector(MAX_SERIES="5")
    post(small, [point("req", labels={"user": str(i)}) for i in range(5)])
    r = small.post(
        "/api/metrics",
        json=[point("req", labels={"user": "0"}), point("req", labels={"user": "new"})],
    )
    assert r.status_code == 400 and "MAX_SERIES" in r.json()["detail"]
    assert count(small) == 5  # nothing of the refused batch
    post(small, [point("req", labels={"user": "3"}), point("req", labels={"user": "4"})])
    assert count(small) == 7
    # Once their data has aged out of every tier, series stop counting.
    aggregate(small, time.time() + 40 * 86_400)
    assert sql(small, "SELECT count(*) FROM metric_series") == [(0,)]
    post(small, [point("other", labels={"user": str(i)}) for i in range(5)])


def test_big_flushes_are_accepted_and_refused_batches_are_never_silent(
    make_collector: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The published client sends everything it gathered in one batch; above ~50
    requests/s that passed 1,000 points and was refused with nothing in the log."""
    collector = make_collector()
    post(collector, [point(value=i) for i in range(10_000)])  # MAX_BATCH_POINTS default
    small = make_collector("small", MAX_BATCH_POINTS="100")
    caplog.set_level("WARNING", logger="monlight.metrics_collector.ingestion")
    for _ in range(5):
        r = small.post("/api/metrics", json=[point()] * 101)
        assert r.status_code == 400 and "MAX_BATCH_POINTS" in r.json()["detail"]
    bad = small.post("/api/metrics", json=[{"name": "x"}])
    assert bad.status_code == 400
    assert small.get("/health").json()["rejected_batches_24h"] == 6
    lines = [r.getMessage() for r in caplog.records if "refused a metrics batch" in r.getMessage()]
    assert len(lines) == 1 and "testclient" in lines[0] and "101" in lines[0]  # one per client
    assert collector.get("/health").json()["rejected_batches_24h"] == 0
    # A batch the gate refuses for its size (413) counts too.
    r = collector.post("/api/metrics", content=b"[" + b" " * (4 * 1024 * 1024) + b"]")
    assert r.status_code == 413
    assert collector.get("/health").json()["rejected_batches_24h"] == 1


def test_rejection_log_lines_are_rate_limited_per_client() -> None:
    from metrics_collector.ingestion import Rejections

    rejections = Rejections()
    for second in range(0, 180, 2):
        rejections.record("10.0.0.1", "bad", now=1_000_000 + second)
    assert rejections.last_24h(now=1_000_200) == 90
    assert rejections.last_24h(now=1_000_000 + 25 * 3600) == 0
