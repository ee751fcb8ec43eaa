"""Fixtures for the Metrics Collector: the real app over TestClient, time helpers, row reads.

Aggregation never runs on its own here (AGGREGATION_INTERVAL is an hour);
tests run it with `aggregate(client, now)` at a time of their choosing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from metrics_collector import SERVICE as COLLECTOR
from metrics_collector.aggregation import RunReport
from metrics_collector.config import from_env
from shared.app import runtime
from tests.helpers import collector_env

API_KEY = "test-key"
AUTH = {"X-API-Key": API_KEY}


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[MakeClient]:
    """Build collectors with extra env (e.g. RETENTION_RAW="24"); each gets its own DB."""
    clients: list[TestClient] = []

    def make(name: str = "metrics", **env: str) -> TestClient:
        directory = tmp_path / name
        directory.mkdir()
        client = TestClient(COLLECTOR.app(from_env(collector_env(directory, **env))), headers=AUTH)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def collector(make_collector: MakeClient) -> TestClient:
    return make_collector()


# --- time -------------------------------------------------------------------------------------


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def this_minute() -> int:
    now = int(time.time())
    return now - now % 60


def this_hour() -> int:
    now = int(time.time())
    return now - now % 3600


def steady(margin: int = 6) -> None:
    """Wait out the last seconds of a minute, so a test mixing server time with
    expected minute buckets never straddles a minute boundary."""
    from tests.helpers import wait_until

    if time.time() % 60 > 60 - margin:
        wait_until(
            lambda: time.time() % 60 < 60 - margin,
            timeout=margin + 1,
            what="the start of the next minute",
        )


@pytest.fixture
def steady_minute() -> None:
    steady()


def minutes_ago(n: int, second: int = 0) -> str:
    """A timestamp `second` seconds into the minute n minutes before the current one."""
    return iso(this_minute() - 60 * n + second)


def point(name: str = "m", kind: str = "counter", value: float = 1.0, **extra: Any) -> dict:
    body: dict[str, Any] = {"name": name, "type": kind, "value": value}
    body.update(extra)
    return body


# --- the app's insides ------------------------------------------------------------------------


def db_path(client: TestClient) -> str:
    return str(runtime(client.app).settings.database_path)


def sql(client: TestClient, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows as stored, read on a connection of the test's own."""
    with sqlite3.connect(db_path(client)) as conn:
        return conn.execute(query, args).fetchall()


def count(client: TestClient, table: str = "metrics_raw") -> int:
    return int(sql(client, f"SELECT count(*) FROM {table}")[0][0])


def aggregate(client: TestClient, now: float | None = None) -> RunReport:
    """One aggregation + retention run, as the worker would do it at `now`."""
    return runtime(client.app).context.aggregator.run_once(now)


AGG_FIELDS = "bucket, name, labels, project, type, count, sum, min, max, avg, p50, p95, p99"


def agg_rows(client: TestClient, resolution: str) -> list[tuple[Any, ...]]:
    return sql(
        client,
        f"SELECT {AGG_FIELDS} FROM metrics_aggregated WHERE resolution = ?"
        " ORDER BY bucket, name, labels, project, type",
        resolution,
    )


def post(client: TestClient, points: list[dict]) -> None:
    r = client.post("/api/metrics", json=points)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted", "count": len(points)}


def assert_merged_consistent(client: TestClient) -> None:
    """metrics_merged holds, per bucket, name, project and type, every series merged:
    counts and sums add up, min and max agree, nothing is missing or extra."""
    per_series = sql(
        client,
        "SELECT resolution, bucket, name, coalesce(project, ''), coalesce(type, ''),"
        " sum(count), total(sum), min(min), max(max) FROM metrics_aggregated"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
    )
    merged = sql(
        client,
        "SELECT resolution, bucket, name, coalesce(project, ''), coalesce(type, ''),"
        " count, sum, min, max FROM metrics_merged ORDER BY 1, 2, 3, 4, 5",
    )
    assert [r[:6] for r in merged] == [r[:6] for r in per_series]
    for m, a in zip(merged, per_series, strict=True):
        assert m[6] == pytest.approx(a[6], rel=1e-9), (m, a)
        assert m[7:] == a[7:], (m, a)
