"""GET /api/errors: every filter, paging, caps and ordering the UI and scripts use."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from error_tracker.ingestion import parse_report, store
from shared.app import runtime
from tests.error_tracker.conftest import at_line, execute, report, store_at


def ids(client: TestClient, **params: Any) -> list[int]:
    r = client.get("/api/errors", params=params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["errors"]]


def bulk(client: TestClient, n: int, when: str = "2026-01-01T00:00:00Z") -> None:
    """n distinct groups in one write job (fast set-up for paging tests)."""
    reports = [parse_report(orjson.dumps(at_line(i + 1))) for i in range(n)]

    def job(conn: sqlite3.Connection) -> None:
        for r in reports:
            store(conn, r, now=when)

    runtime(client.app).db.writer.submit_sync(job)


def test_list_item_shape(tracker: TestClient) -> None:
    created = store_at(tracker, "2026-03-01T08:00:00Z")
    store_at(tracker, "2026-03-02T09:30:00Z")
    body = tracker.get("/api/errors").json()
    assert body == {
        "errors": [
            {
                "id": created.id,
                "fingerprint": created.fingerprint,
                "project": "shop",
                "exception_type": "ValueError",
                "message": "bad",
                "count": 2,
                "first_seen": "2026-03-01T08:00:00Z",
                "last_seen": "2026-03-02T09:30:00Z",
                "resolved": False,
                "source": "server",
                "regressed_at": None,
                "times_reopened": 0,
                "culprit": "app.py:10 in f",
                "hourly": [0] * 24,  # both reports are months old
            }
        ],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }


def test_resolved_filter(tracker: TestClient) -> None:
    open_id = tracker.post("/api/errors", json=at_line(1)).json()["id"]
    done_id = tracker.post("/api/errors", json=at_line(2)).json()["id"]
    tracker.post(f"/api/errors/{done_id}/resolve")
    assert ids(tracker) == [open_id]  # default: unresolved only
    assert ids(tracker, resolved="false") == [open_id]
    assert ids(tracker, resolved="true") == [done_id]
    assert sorted(ids(tracker, resolved="all")) == sorted([open_id, done_id])
    listed = tracker.get("/api/errors", params={"resolved": "true"}).json()["errors"][0]
    assert listed["resolved"] is True


def test_ordering_by_last_seen_then_id(tracker: TestClient) -> None:
    a = store_at(tracker, "2026-01-01T00:00:00Z", **at_line(1)).id
    b = store_at(tracker, "2026-01-03T00:00:00Z", **at_line(2)).id
    c = store_at(tracker, "2026-01-02T00:00:00Z", **at_line(3)).id
    d = store_at(tracker, "2026-01-02T00:00:00Z", **at_line(4)).id
    assert ids(tracker) == [b, d, c, a]
    store_at(tracker, "2026-01-04T00:00:00Z", **at_line(1))  # a repeat moves a to the top
    assert ids(tracker) == [a, b, d, c]


def test_limit_offset_and_total(tracker: TestClient) -> None:
    for i in range(7):
        store_at(tracker, f"2026-01-0{i + 1}T00:00:00Z", **at_line(i + 1))
    everything = ids(tracker)
    page = tracker.get("/api/errors", params={"limit": 3, "offset": 2}).json()
    assert [e["id"] for e in page["errors"]] == everything[2:5]
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 2)
    past_end = tracker.get("/api/errors", params={"offset": 50}).json()
    assert past_end["errors"] == [] and past_end["total"] == 7


def test_limit_zero_means_default_and_large_is_capped(tracker: TestClient) -> None:
    bulk(tracker, 205)
    default = tracker.get("/api/errors", params={"limit": 0}).json()
    assert default["limit"] == 50 and len(default["errors"]) == 50
    assert len(tracker.get("/api/errors").json()["errors"]) == 50
    capped = tracker.get("/api/errors", params={"limit": 500}).json()
    assert capped["limit"] == 200 and len(capped["errors"]) == 200
    assert capped["total"] == 205
    exact = tracker.get("/api/errors", params={"limit": 200, "offset": 200}).json()
    assert len(exact["errors"]) == 5


def test_project_filter_and_projects_endpoint(tracker: TestClient) -> None:
    shop = tracker.post("/api/errors", json=at_line(1, project="shop")).json()["id"]
    tracker.post("/api/errors", json=at_line(2, project="api"))
    spaced = tracker.post("/api/errors", json=at_line(3, project="my app/ü")).json()["id"]
    tracker.post("/api/errors", json=at_line(4, project="shop"))
    assert sorted(ids(tracker, project="shop"))[0] == shop
    assert len(ids(tracker, project="shop")) == 2
    assert ids(tracker, project="my app/ü") == [spaced]  # URL-decoded
    assert ids(tracker, project="sho") == []  # exact match, not a prefix
    assert tracker.get("/api/projects").json() == {"projects": ["api", "my app/ü", "shop"]}


def test_projects_include_resolved_groups(tracker: TestClient) -> None:
    error_id = tracker.post("/api/errors", json=report(project="old")).json()["id"]
    tracker.post(f"/api/errors/{error_id}/resolve")
    assert tracker.get("/api/projects").json() == {"projects": ["old"]}


def test_search_is_case_insensitive_on_type_and_message(tracker: TestClient) -> None:
    by_type = tracker.post(
        "/api/errors", json=at_line(1, exception_type="KeyError", message="m")
    ).json()["id"]
    by_message = tracker.post(
        "/api/errors", json=at_line(2, message="Connection REFUSED by db")
    ).json()["id"]
    tracker.post("/api/errors", json=report(message="unrelated", traceback="keyerror here"))
    assert ids(tracker, search="keyerr") == [by_type]
    assert ids(tracker, search="refused") == [by_message]
    assert ids(tracker, search="by DB") == [by_message]
    assert ids(tracker, search="nothing like this") == []


def test_source_filter(tracker: TestClient) -> None:
    server = tracker.post("/api/errors", json=at_line(1, request_method="GET")).json()["id"]
    browser = tracker.post("/api/errors", json=at_line(2, request_method="BROWSER")).json()["id"]
    # A group is "browser" once any of its occurrences came from a browser.
    mixed = tracker.post("/api/errors", json=at_line(3)).json()["id"]
    tracker.post("/api/errors", json=at_line(3, request_method="BROWSER"))
    assert sorted(ids(tracker, source="browser")) == sorted([browser, mixed])
    assert ids(tracker, source="server") == [server]
    sources = {e["id"]: e["source"] for e in tracker.get("/api/errors").json()["errors"]}
    assert sources == {server: "server", browser: "browser", mixed: "browser"}


def test_session_id_filter(tracker: TestClient) -> None:
    hit = tracker.post(
        "/api/errors", json=at_line(1, extra={"session_id": "sess-1", "page": "/"})
    ).json()["id"]
    tracker.post("/api/errors", json=at_line(2, extra={"session_id": "sess-2"}))
    tracker.post("/api/errors", json=at_line(3, extra={"other": "sess-1"}))
    tracker.post("/api/errors", json=at_line(4, extra={"nested": {"session_id": "sess-1"}}))
    tracker.post("/api/errors", json=at_line(5))
    # Occurrence extras written by hand or by other tools may not be JSON at all.
    odd = tracker.post("/api/errors", json=at_line(6)).json()["id"]
    execute(tracker, "UPDATE error_occurrences SET extra = 'not json {' WHERE error_id = ?", odd)
    array = tracker.post("/api/errors", json=at_line(7)).json()["id"]
    execute(tracker, "UPDATE error_occurrences SET extra = '[1, 2]' WHERE error_id = ?", array)
    assert ids(tracker, session_id="sess-1") == [hit]
    assert ids(tracker, session_id="sess-") == []
    # Any of a group's occurrences may carry the session.
    tracker.post("/api/errors", json=at_line(2, extra={"session_id": "sess-1"}))
    assert len(ids(tracker, session_id="sess-1")) == 2


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-01-02T00:00:00Z", ["b", "c"]),
        ("2026-01-02T12:00:00Z", ["c"]),  # at or after: c is exactly at 12:00
        ("2026-01-02T14:00:00+02:00", ["c"]),  # = 12:00Z
        ("2026-01-02T11:59:59.999Z", ["c"]),  # fractional seconds accepted
        ("2026-01-02T09:00:00-03:00", ["c"]),  # = 12:00Z
        ("2026-01-02T13:00:00+02:00", ["b", "c"]),  # = 11:00Z
        ("2026-01-04T00:00:00Z", []),
    ],
)
def test_since_filter(tracker: TestClient, since: str, expected: list[str]) -> None:
    names = {
        store_at(tracker, "2026-01-01T00:00:00Z", **at_line(1)).id: "a",
        store_at(tracker, "2026-01-02T11:00:00Z", **at_line(2)).id: "b",
        store_at(tracker, "2026-01-02T12:00:00Z", **at_line(3)).id: "c",
    }
    got = sorted(names[i] for i in ids(tracker, since=since))
    assert got == expected


def test_since_with_unencoded_plus_offset(tracker: TestClient) -> None:
    """`?since=...+02:00` typed into curl arrives as a space; it still means +02:00."""
    store_at(tracker, "2026-01-02T11:00:00Z", **at_line(1))
    late = store_at(tracker, "2026-01-02T12:00:00Z", **at_line(2)).id
    r = tracker.get("/api/errors?since=2026-01-02T14:00:00+02:00")
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()["errors"]] == [late]


def test_filters_combine_and_total_follows_them(tracker: TestClient) -> None:
    target = tracker.post(
        "/api/errors",
        json=at_line(
            1,
            project="web",
            request_method="BROWSER",
            message="Boom in cart",
            extra={"session_id": "s"},
        ),
    ).json()["id"]
    tracker.post("/api/errors", json=at_line(2, project="web", message="boom elsewhere"))
    tracker.post(
        "/api/errors",
        json=at_line(
            3, project="api", request_method="BROWSER", message="boom", extra={"session_id": "s"}
        ),
    )
    body = tracker.get(
        "/api/errors",
        params={
            "project": "web",
            "source": "browser",
            "search": "BOOM",
            "session_id": "s",
            "since": "2000-01-01T00:00:00Z",
            "resolved": "false",
        },
    ).json()
    assert [e["id"] for e in body["errors"]] == [target] and body["total"] == 1
    assert tracker.get("/api/errors", params={"search": "boom"}).json()["total"] == 3


def test_api_key_as_query_parameter(tracker: TestClient) -> None:
    tracker.post("/api/errors", json=report())
    bare = TestClient(tracker.app)
    ok = bare.get("/api/errors", params={"api_key": "test-key"})
    assert ok.status_code == 200 and ok.json()["total"] == 1
    wrong = bare.get("/api/errors", params={"api_key": "wrong"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid API key"}
    assert bare.get("/api/errors").status_code == 401


@pytest.mark.parametrize("since", ["0999-01-01T00:00:00Z", "0001-01-01T00:00:00Z"])
def test_since_before_year_1000_includes_everything(tracker: TestClient, since: str) -> None:
    """Stored times compare as text: the year must stay four digits (`0999`, not `999`)."""
    first = store_at(tracker, "2026-01-01T00:00:00Z", **at_line(1)).id
    assert ids(tracker, since=since) == [first]
