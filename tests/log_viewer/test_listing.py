"""GET /api/logs, containers, stats and the histogram, as read jobs on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.datastructures import QueryParams

from log_viewer import listing
from log_viewer.database import MIGRATIONS
from log_viewer.histogram import bucket_size, histogram
from log_viewer.listing import list_logs, parse_filters, parse_page
from log_viewer.stats import containers, stats
from shared.db import Database
from shared.responses import BadRequest

ROWS = [
    ("2026-12-02T10:00:00.000000Z", "web", "stdout", "INFO", "GET /checkout 200 in 12ms"),
    ("2026-12-02T10:00:05.000000Z", "web", "stderr", "ERROR", "payment failed for order 17"),
    ("2026-12-02T10:01:00.000000Z", "worker", "stdout", "INFO", "payment accepted order 18"),
    ("2026-12-02T10:02:00.000000Z", "worker", "stderr", "WARNING", "retrying payment gateway"),
    ("2026-12-02T10:03:00.000000Z", "web", "stdout", "INFO", "<img src=x onerror=alert(1)>"),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(str(tmp_path / "logs.db"), MIGRATIONS)
    database.write_sync(
        lambda c: c.executemany(
            "INSERT INTO log_entries (timestamp, container, stream, level, message)"
            " VALUES (?, ?, ?, ?, ?)",
            ROWS,
        )
    )
    yield database
    database.close()


def logs(db: Database, **params: str) -> dict:
    q = QueryParams(params)
    filters, page = parse_filters(q), parse_page(q)
    return db.read_sync(lambda c: list_logs(c, filters, page))  # type: ignore[no-any-return]


def messages(db: Database, **params: str) -> list[str]:
    return [entry["message"] for entry in logs(db, **params)["logs"]]


def test_newest_first_with_totals_and_pages(db: Database) -> None:
    body = logs(db, limit="2")
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 0
    assert [e["message"] for e in body["logs"]] == [ROWS[4][4], ROWS[3][4]]
    assert set(body["logs"][0]) == {"id", "timestamp", "container", "stream", "level", "message"}
    assert messages(db, limit="2", offset="4") == [ROWS[0][4]]
    assert logs(db, limit="100000")["limit"] == 500


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "payment"}, [3, 2, 1]),
        ({"q": "payment"}, [3, 2, 1]),
        ({"search": '"payment failed"'}, [1]),
        ({"search": "payment OR checkout"}, [3, 2, 1, 0]),
        ({"search": "payment NOT failed"}, [3, 2]),
        ({"search": "pay*"}, [3, 2, 1]),
        ({"search": "payment", "container": "worker"}, [3, 2]),
        ({"search": "payment", "level": "error"}, [1]),
        ({"level": "warn"}, [3]),
        ({"since": "2026-12-02T10:01:00Z", "until": "2026-12-02T11:02:00+01:00"}, [3, 2]),
        ({"search": "payment", "since": "2026-12-02T10:00:30Z", "level": "INFO"}, [2]),
        ({"search": "   "}, [4, 3, 2, 1, 0]),
        ({"container": "nope"}, []),
    ],
)
@pytest.mark.parametrize("sort_hits", [4_000, 0], ids=["hits-sorted", "time-index-walked"])
def test_filters_and_search(
    db: Database,
    params: dict[str, str],
    expected: list[int],
    sort_hits: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both ways of finding a search's newest page give the same answer and total."""
    monkeypatch.setattr(listing, "SORT_HITS", sort_hits)
    body = logs(db, **params, limit="2")
    assert body["total"] == len(expected)
    assert messages(db, **params) == [ROWS[i][4] for i in expected]
    assert messages(db, **params, limit="2", offset="1") == [ROWS[i][4] for i in expected[1:3]]


@pytest.mark.parametrize("search", ['"unclosed', "AND", "*", "NEAR(", "col:x", "a OR", "'"])
def test_broken_fts_syntax_is_a_400_naming_the_problem(db: Database, search: str) -> None:
    with pytest.raises(BadRequest, match="not valid FTS5 syntax"):
        logs(db, search=search)


@pytest.mark.parametrize(
    "params",
    [
        {"level": "loud"},
        {"since": "yesterday"},
        {"since": "2026-12-02T11:00:00Z", "until": "2026-12-02T10:00:00Z"},
        {"limit": "0"},
        {"offset": "-1"},
        {"limit": "ten"},
        {"search": "a\x00b"},
        {"container": "c" * 201},
    ],
)
def test_bad_parameters_are_400(db: Database, params: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        logs(db, **params)


def test_containers_and_stats(db: Database) -> None:
    assert db.read_sync(containers) == {
        "containers": [{"name": "web", "log_count": 3}, {"name": "worker", "log_count": 2}]
    }
    assert db.read_sync(stats) == {
        "total_logs": 5,
        "oldest_log": ROWS[0][0],
        "newest_log": ROWS[4][0],
        "by_level": {"ERROR": 1, "INFO": 3, "WARNING": 1},
        "by_container": {"web": 3, "worker": 2},
    }


def test_histogram_counts_levels_per_bucket_for_the_filters(db: Database) -> None:
    body = db.read_sync(lambda c: histogram(c, parse_filters(QueryParams({}))))
    assert body["bucket_seconds"] == 5  # 3 minutes of data: at most 120 buckets
    buckets = {b["start"]: b for b in body["buckets"]}
    assert sum(b["total"] for b in body["buckets"]) == 5
    assert buckets["2026-12-02T10:00:05Z"]["counts"]["ERROR"] == 1
    assert buckets["2026-12-02T10:02:00Z"]["counts"] == {
        "DEBUG": 0,
        "INFO": 0,
        "WARNING": 1,
        "ERROR": 0,
        "CRITICAL": 0,
    }
    searched = db.read_sync(
        lambda c: histogram(c, parse_filters(QueryParams({"search": "payment", "level": "INFO"})))
    )
    assert sum(b["total"] for b in searched["buckets"]) == 1
    wide = db.read_sync(
        lambda c: histogram(
            c, parse_filters(QueryParams({"since": "0001-01-01T00:00:00Z", "until": "9999-01-01"}))
        )
    )
    assert len(wide["buckets"]) <= 121 and sum(b["total"] for b in wide["buckets"]) == 5
    with pytest.raises(BadRequest):
        db.read_sync(lambda c: histogram(c, parse_filters(QueryParams({"search": "NEAR("}))))


def test_an_empty_database_has_an_empty_histogram(tmp_path: Path) -> None:
    empty = Database(str(tmp_path / "empty.db"), MIGRATIONS)
    try:
        body = empty.read_sync(lambda c: histogram(c, parse_filters(QueryParams({}))))
        assert body["buckets"] == [] and body["bucket_seconds"] is None
    finally:
        empty.close()


@pytest.mark.parametrize(
    ("seconds", "size"), [(60, 1), (600, 5), (3600, 30), (86_400, 1800), (30 * 86_400, 6 * 3600)]
)
def test_bucket_sizes_fit_the_range(seconds: int, size: int) -> None:
    assert bucket_size(seconds) == size and seconds / size <= 120
