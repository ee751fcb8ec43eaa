"""M1-M3's seeding, and --write merging a subset run into the recorded table.

The seeded databases must be what the collector itself would hold — every
point stored once, retention applied, served back exactly by GET
/api/metrics — or M2 and M3 measure something no user has.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from pathlib import Path

import orjson
from starlette.testclient import TestClient

from bench.core import Row, max_value, min_value, no_errors
from bench.metrics import query_path
from bench.report import HEADING, parse, section, write_docs
from bench.seed_metrics import (
    LABEL_FILTER,
    QUERY_NAME,
    ROUTES,
    Traffic,
    batches,
    per_minute,
    seed_day,
    seed_raw,
    table_counts,
)
from metrics_collector import SERVICE as COLLECTOR
from metrics_collector.config import from_env
from metrics_collector.ingestion import parse_batch
from shared.timeutil import from_epoch
from tests.metrics_collector.conftest import AUTH, collector_env


def served(tmp_path: Path) -> TestClient:
    """The real app over the seeded database (its worker never runs during a test)."""
    return TestClient(COLLECTOR.app(from_env(collector_env(tmp_path))), headers=AUTH)


def counts_served(client: TestClient, period: str) -> dict[str, int]:
    """Points per name as GET /api/metrics answers them, minute resolution."""
    out = {}
    for entry in client.get("/api/metrics/names").json()["metrics"]:
        answer = client.get(
            "/api/metrics",
            params={"name": entry["name"], "period": period, "resolution": "minute"},
        ).json()
        out[entry["name"]] = sum(bucket["count"] for bucket in answer["data"])
    return out


def test_minute_counts_add_up_and_follow_the_day_curve() -> None:
    counts = per_minute(0, 1440, 1_000_000, peak=6 * 3600)
    assert sum(counts) == 1_000_000
    assert abs(counts.index(max(counts)) - 360) <= 10  # busiest at the peak (a flat top)
    assert max(counts) / min(counts) > 5  # 1.7 / 0.3 of the average
    flat = per_minute(0, 50, 1_000_001)
    assert sum(flat) == 1_000_001 and max(flat) - min(flat) <= 1


def test_a_minute_of_traffic_is_what_the_client_sends() -> None:
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    points = Traffic(3).minute(start, 700)
    assert len(points) == 700
    stamps = [p["timestamp"] for p in points]
    assert stamps == sorted(stamps)
    assert stamps[0] >= from_epoch(start) and stamps[-1] < from_epoch(start + 60)
    names = Counter(p["name"] for p in points)
    # One counter and one histogram point per request, the rest jobs, vitals, gauges.
    assert abs(names["http_requests_total"] - names[QUERY_NAME]) <= 1  # the last may be cut
    assert names[QUERY_NAME] > 0.35 * 700
    routes = {
        (p["labels"]["method"], p["labels"]["endpoint"]) for p in points if p["name"] == QUERY_NAME
    }
    assert routes == {(method, route) for method, route, _, _ in ROUTES}
    assert sum(1 for p in points if p["type"] == "gauge") == 12  # 3 gauges every 15 s
    bodies = list(batches(points))
    assert len(bodies) == 1
    assert parse_batch(bodies[0]).count == 700  # the API accepts it as sent


def test_raw_seed_is_stored_as_ingestion_stores_it(tmp_path: Path) -> None:
    facts = seed_raw(tmp_path / "metrics.db", 3000, 5)
    assert facts["points"] == 3000
    counts = table_counts(tmp_path / "metrics.db")
    assert counts == {"raw": 3000, "minute": 0, "hour": 0, "dirty_minutes": 5}
    with sqlite3.connect(tmp_path / "metrics.db") as conn:
        labels = [r[0] for r in conn.execute("SELECT DISTINCT labels FROM metrics_raw")]
        received = conn.execute("SELECT sum(count) FROM metrics_received").fetchone()[0]
        histogram = conn.execute(
            "SELECT count(*) FROM metrics_raw WHERE name = ?", (QUERY_NAME,)
        ).fetchone()[0]
    # Labels canonical (sorted keys, compact), so one route is one series.
    assert all(
        text == orjson.dumps(json.loads(text), option=orjson.OPT_SORT_KEYS).decode()
        for text in labels
    )
    assert received == 3000
    with served(tmp_path) as client:
        assert counts_served(client, "1h")[QUERY_NAME] == histogram


def test_day_seed_is_what_a_running_service_holds(tmp_path: Path) -> None:
    end = time.time()
    facts = seed_day(tmp_path / "metrics.db", 12_000, hours=3, end=end)
    assert facts["points"] == 12_000 and facts["runs"] == 3 * 60 - 1
    counts = table_counts(tmp_path / "metrics.db")
    assert counts["dirty_minutes"] == 1  # the newest minute waits for the next run
    assert counts["minute"] > 0 and counts["hour"] >= 2
    with sqlite3.connect(tmp_path / "metrics.db") as conn:
        oldest_raw = conn.execute("SELECT min(timestamp) FROM metrics_raw").fetchone()[0]
    # Retention kept raw points for the last hour (RETENTION_RAW) only.
    assert oldest_raw >= from_epoch(end - 3600 - 180)
    assert counts["raw"] < 12_000 / 2
    with served(tmp_path) as client:
        # Minute rows plus the raw tail hold every point exactly once.
        assert sum(counts_served(client, "4h").values()) == 12_000
        everything = client.get(query_path()).json()["data"]
        one_route = client.get(query_path(LABEL_FILTER)).json()["data"]
        assert 0 < sum(b["count"] for b in one_route) < sum(b["count"] for b in everything)


# -- --write merges by id -------------------------------------------------------

FACTS = {
    "date": "2026-11-22 05:00 UTC",
    "nproc": "2",
    "cpu": "AMD EPYC",
    "python": "3.11.7",
    "sqlite": "3.40.1",
    "wrk": "wrk 4.1.0",
    "kernel": "6.18",
}
ORDER = ["REF", "E1", "E2", "M1", "M3", "S1"]

#: The section as the one-run format before merging wrote it ("  " ends a markdown line).
BR = "  "
LEGACY = f"""{HEADING}

Machine: 2026-11-22 03:23 UTC · 2 CPUs (AMD EPYC) · Python 3.11.7 · SQLite 3.40.1 · wrk 4.1.0 · Linux 6.18.{BR}
Settings: 3 run(s) × 10 s per variant, median; wrk -t1.{BR}
Load average before/after: 4.94 5.29 4.71 / 3.67 3.66 4.08 (other work shares the machine).

| id | what | conn | req/s | p50 | p99 | errors | CPU/req | value | bar | result |
|---|---|---|--:|--:|--:|--:|--:|--:|---|---|
| REF | bare Starlette | keep-alive | 9,028 | 2.95 ms | 39.8 ms | 0 | 75 µs | – | – | ref |
| E1 | POST /api/errors | keep-alive | 3,213 | 8.01 ms | 83.7 ms | 0 | 248 µs | – | ≥ 6,000 req/s | **miss** |
| E2 | POST /api/errors, one | keep-alive | 5,185 | 5.70 ms | 25.6 ms | 0 | 192 µs | – | ≥ 8,000 req/s | **miss** |
| S1 | RSS idle, old | – | – | – | – | – | – | 36.9 MB | ≤ 40 MB | pass |

Notes:

- E1 keep-alive: 35.6% of REF's req/s (not within 2× of the ceiling)
- E1 POST /api/errors (keep-alive) misses: ≥ 6,000 req/s
- S1 RSS idle, old: an old note
"""  # noqa: E501 - table rows are long


def m_rows() -> list[Row]:
    return [
        Row(
            "M1",
            "POST /api/metrics",
            "keep-alive",
            rps=1_000.0,
            errors=0,
            value=100_000.0,
            unit="points/s",
            bar=[min_value(250_000, "points/s"), no_errors()],
        ),
        Row(
            "M3",
            "1M raw points, burst",
            value=3.1,
            unit="s",
            bar=[max_value(5, "s")],
            notes=["runs 3.1 s"],
        ),
        Row("S1", "RSS idle, new", value=30.0, unit="MB", bar=[max_value(40, "MB")]),
    ]


def ids_in_table(text: str) -> list[str]:
    recorded = parse(text[text.index(HEADING) :])
    assert recorded is not None
    return [bench_id for bench_id, _ in recorded.rows]


def test_write_of_a_subset_replaces_only_its_ids(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nHow to run them.\n\n" + LEGACY)
    new = section(m_rows(), FACTS, "3 run(s) × 10 s per variant, median; wrk -t1", ("1", "2"))
    write_docs(docs, new, ORDER)
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nHow to run them.\n\n")
    # E rows kept verbatim, M rows in registry order, S1 replaced by this run's.
    assert ids_in_table(text) == ["REF", "E1", "E2", "M1", "M3", "S1"]
    assert "| E1 | POST /api/errors | keep-alive | 3,213 |" in text
    assert "RSS idle, new" in text and "RSS idle, old" not in text
    assert "- E1 keep-alive: 35.6% of REF's req/s" in text and "an old note" not in text
    assert "- M1 POST /api/metrics (keep-alive) misses: ≥ 250,000 points/s" in text
    assert "- M3 1M raw points, burst: runs 3.1 s" in text
    # Each row's run is named: the old run now stands for REF, E1, E2 only.
    assert "- 2026-11-22 03:23 UTC · REF, E1, E2: 3 run(s) × 10 s" in text
    assert "load average before/after 4.94 5.29 4.71 / 3.67 3.66 4.08" in text
    assert "- 2026-11-22 05:00 UTC · M1, M3, S1: " in text

    # Again, in the merged format: E1 alone replaces E1's rows and notes.
    e1 = Row("E1", "POST /api/errors", "keep-alive", rps=4_000.0, errors=0)
    later = dict(FACTS, date="2026-11-22 06:00 UTC")
    write_docs(docs, section([e1], later, "1 run(s)", ("3", "4")), ORDER)
    text = docs.read_text()
    assert ids_in_table(text) == ["REF", "E1", "E2", "M1", "M3", "S1"]
    assert "| 4,000 |" in text and "3,213" not in text and "35.6%" not in text
    assert "- 2026-11-22 03:23 UTC · REF, E2: " in text
    assert "- 2026-11-22 05:00 UTC · M1, M3, S1: " in text
    assert "- 2026-11-22 06:00 UTC · E1: 1 run(s)" in text
    assert text.count(HEADING) == 1

    # A full run (no merge order) records only itself.
    write_docs(docs, section([e1], later, "1 run(s)", ("3", "4")))
    assert ids_in_table(docs.read_text()) == ["E1"]


def test_a_missed_value_bar_is_named_without_a_connection_mode() -> None:
    from bench.report import notes

    slow = Row("M3", "backlog", value=6.0, unit="s", bar=[max_value(5, "s")])
    assert notes([slow]) == ["M3 backlog misses: ≤ 5 s"]
    points = Row(
        "M1",
        "ingest",
        "keep-alive",
        rps=900.0,
        value=90_000.0,
        bar=[min_value(250_000, "points/s")],
    )
    assert notes([points]) == ["M1 ingest (keep-alive) misses: ≥ 250,000 points/s"]
