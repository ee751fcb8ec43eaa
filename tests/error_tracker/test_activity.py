"""The list's sparkline: reports per hour over the last day, kept in each group's row."""

from __future__ import annotations

import sqlite3

import orjson
from starlette.testclient import TestClient

from error_tracker.activity import HOURS, bump, series
from error_tracker.ingestion import parse_report, store
from shared.app import runtime
from tests.error_tracker.conftest import at_line


def test_a_repeat_in_the_same_hour_adds_to_its_count() -> None:
    value = bump(None, "2026-12-02T15")
    assert value == "2026-12-02T15|1"
    value = bump(value, "2026-12-02T15", 4)
    assert value == "2026-12-02T15|5"
    assert series(value, "2026-12-02T15:59:59Z") == [0] * 23 + [5]


def test_later_hours_shift_and_old_hours_fall_off() -> None:
    value = bump(None, "2026-12-02T22")
    value = bump(value, "2026-12-03T01", 2)  # across midnight, two empty hours between
    assert value == "2026-12-03T01|1,0,0,2"
    assert series(value, "2026-12-03T01:00:00Z")[-4:] == [1, 0, 0, 2]
    # Two hours later the counts move left; the current hour is empty.
    assert series(value, "2026-12-03T03:10:00Z")[-6:] == [1, 0, 0, 2, 0, 0]
    # A day after its last report a group shows nothing; a day and more of silence
    # between reports starts the counts again.
    assert series(value, "2026-12-04T01:00:00Z") == [0] * HOURS
    assert bump(value, "2026-12-04T02") == "2026-12-04T02|1"


def test_counts_stay_bounded_to_a_day() -> None:
    value = None
    for hour in range(48):
        value = bump(value, f"2026-12-{1 + hour // 24:02d}T{hour % 24:02d}", hour + 1)
    assert value is not None
    assert len(value.split("|")[1].split(",")) == HOURS
    assert series(value, "2026-12-02T23:30:00Z") == list(range(25, 49))


def test_a_report_from_a_clock_stepped_back_counts_in_its_own_hour() -> None:
    value = bump(None, "2026-12-02T15")
    assert bump(value, "2026-12-02T14") == "2026-12-02T15|1,1"
    assert bump(value, "2026-12-02T12") == "2026-12-02T15|1,0,0,1"
    assert bump("2026-12-02T15|1,1", "2026-12-02T15") == "2026-12-02T15|1,2"
    assert bump(value, "2026-11-30T12") == value  # outside the window: count only
    # Damaged text (edited by hand) starts again rather than failing the report.
    assert bump("garbage", "2026-12-02T15") == "2026-12-02T15|1"
    assert bump("2026-12-02T15|x", "2026-12-02T15") == "2026-12-02T15|1"
    assert series("garbage", "2026-12-02T15:00:00Z") == [0] * HOURS


def test_the_list_shows_each_groups_last_day(tracker: TestClient) -> None:
    storm = parse_report(orjson.dumps(at_line(1)))
    quiet = parse_report(orjson.dumps(at_line(2)))

    def job(conn: sqlite3.Connection) -> None:
        for _ in range(30):
            store(conn, storm, now="2026-12-02T14:10:00Z")
        store(conn, storm, now="2026-12-02T15:00:00Z")
        store(conn, quiet, now="2026-12-01T20:00:00Z")

    runtime(tracker.app).db.writer.submit_sync(job)
    listed = {e["id"]: e for e in tracker.get("/api/errors").json()["errors"]}
    assert len(listed) == 2
    # Served against the current hour: the counts are those of the stored text.
    rows = dict(
        runtime(tracker.app).db.writer.submit_sync(
            lambda c: c.execute("SELECT id, hourly FROM errors").fetchall()
        )
    )
    for error_id, error in listed.items():
        assert error["hourly"] == series(rows[error_id])
    assert sorted(rows.values()) == ["2026-12-01T20|1", "2026-12-02T15|30,1"]


def test_a_report_over_http_shows_in_the_current_hour(tracker: TestClient) -> None:
    for _ in range(3):
        tracker.post("/api/errors", json=at_line(7))
    (listed,) = tracker.get("/api/errors").json()["errors"]
    # In the current hour (or the one before, should the hour turn during the test).
    assert len(listed["hourly"]) == 24 and sum(listed["hourly"][-2:]) == 3
    detail = tracker.get(f"/api/errors/{listed['id']}").json()
    assert detail["hourly"] == listed["hourly"]
