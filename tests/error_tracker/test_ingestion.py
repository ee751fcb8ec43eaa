"""POST /api/errors: the response shapes clients depend on and what gets stored."""

from __future__ import annotations

import hashlib
import sqlite3

from starlette.testclient import TestClient

from tests.error_tracker.conftest import at_line, db_path, report, row_counts, store_at


def test_new_group_is_created_with_fingerprint(tracker: TestClient) -> None:
    r = tracker.post("/api/errors", json=report())
    assert r.status_code == 201
    body = r.json()
    expected = hashlib.md5(b"shop:ValueError:app.py:10").hexdigest()
    assert body == {"status": "created", "id": body["id"], "fingerprint": expected}
    assert isinstance(body["id"], int)


def test_repeat_increments_and_keeps_first_seen(tracker: TestClient) -> None:
    first = store_at(tracker, "2026-01-01T10:00:00Z")
    again = store_at(tracker, "2026-01-02T10:00:00Z", message="a different message")
    assert (again.status, again.id, again.count) == ("incremented", first.id, 2)
    r = tracker.post("/api/errors", json=report())
    assert r.status_code == 200
    assert r.json() == {
        "status": "incremented",
        "id": first.id,
        "count": 3,
        "fingerprint": first.fingerprint,
    }
    detail = tracker.get(f"/api/errors/{first.id}").json()
    assert detail["first_seen"] == "2026-01-01T10:00:00Z"
    assert detail["last_seen"] > "2026-01-02T10:00:00Z"
    assert detail["message"] == "bad"  # the group keeps its first message


def test_repeat_of_resolved_group_reopens_it(tracker: TestClient) -> None:
    created = tracker.post("/api/errors", json=report()).json()
    tracker.post(f"/api/errors/{created['id']}/resolve")
    assert tracker.get(f"/api/errors/{created['id']}").json()["resolved_at"] is not None
    r = tracker.post("/api/errors", json=report())
    assert r.status_code == 201
    assert r.json() == {
        "status": "reopened",
        "id": created["id"],
        "count": 2,
        "fingerprint": created["fingerprint"],
    }
    detail = tracker.get(f"/api/errors/{created['id']}").json()
    assert detail["resolved"] is False and detail["resolved_at"] is None
    # Reopened, it shows up in the default (unresolved) list again.
    assert [e["id"] for e in tracker.get("/api/errors").json()["errors"]] == [created["id"]]
    # And the next repeat is a plain increment again.
    assert tracker.post("/api/errors", json=report()).json()["status"] == "incremented"


def test_different_locations_are_different_groups(tracker: TestClient) -> None:
    a = tracker.post("/api/errors", json=at_line(1)).json()
    b = tracker.post("/api/errors", json=at_line(2)).json()
    c = tracker.post("/api/errors", json=at_line(1, project="other")).json()
    assert len({a["id"], b["id"], c["id"]}) == 3
    assert len({a["fingerprint"], b["fingerprint"], c["fingerprint"]}) == 3


def test_occurrence_keeps_request_context(tracker: TestClient) -> None:
    body = report(
        request_url="https://shop.example.com/cart?x=1",
        request_method="POST",
        request_headers={"User-Agent": "curl/8", "Accept": "*/*"},
        user_id="u-42",
        extra={"order": 7, "tags": ["a", "b"], "nested": {"k": None}},
    )
    error_id = tracker.post("/api/errors", json=body).json()["id"]
    occ = tracker.get(f"/api/errors/{error_id}").json()["occurrences"]
    assert len(occ) == 1
    assert occ[0]["request_url"] == body["request_url"]
    assert occ[0]["request_method"] == "POST"
    assert occ[0]["request_headers"] == body["request_headers"]
    assert occ[0]["user_id"] == "u-42"
    assert occ[0]["extra"] == body["extra"]
    assert occ[0]["traceback"] == body["traceback"]
    assert occ[0]["timestamp"].endswith("Z")
    with sqlite3.connect(db_path(tracker)) as conn:
        headers, extra = conn.execute(
            "SELECT request_headers, extra FROM error_occurrences"
        ).fetchone()
    assert isinstance(headers, str) and isinstance(extra, str)  # stored as JSON text


def test_optional_fields_may_be_absent_or_null(tracker: TestClient) -> None:
    r = tracker.post(
        "/api/errors",
        json=report(
            request_url=None,
            user_id=None,
            extra=None,
            request_headers=None,
            message="",
            traceback="",
        ),
    )
    assert r.status_code == 201, r.text
    occ = tracker.get(f"/api/errors/{r.json()['id']}").json()["occurrences"][0]
    assert occ["request_url"] is None and occ["extra"] is None
    assert occ["request_headers"] is None and occ["user_id"] is None


def test_environment_from_older_clients_goes_into_extra(tracker: TestClient) -> None:
    plain = tracker.post("/api/errors", json=report(environment="staging")).json()
    merged = tracker.post("/api/errors", json=report(environment="prod", extra={"k": 1})).json()
    occ = tracker.get(f"/api/errors/{plain['id']}").json()["occurrences"]
    assert occ[0]["extra"] == {"environment": "prod", "k": 1}
    assert occ[1]["extra"] == {"environment": "staging"}
    assert merged["id"] == plain["id"]  # environment does not split groups


def test_unknown_fields_are_ignored(tracker: TestClient) -> None:
    r = tracker.post("/api/errors", json=report(level="fatal", sdk={"v": 1}))
    assert r.status_code == 201
    assert row_counts(tracker) == (1, 1)


def test_only_five_newest_occurrences_are_kept(tracker: TestClient) -> None:
    for i in range(9):
        tracker.post("/api/errors", json=report(user_id=f"u{i}"))
    other = tracker.post("/api/errors", json=at_line(99)).json()["id"]
    listed = tracker.get("/api/errors").json()["errors"]
    main = next(e for e in listed if e["id"] != other)
    detail = tracker.get(f"/api/errors/{main['id']}").json()
    assert detail["count"] == 9
    assert [o["user_id"] for o in detail["occurrences"]] == ["u8", "u7", "u6", "u5", "u4"]
    # Trimming one group never touches another group's occurrences.
    assert len(tracker.get(f"/api/errors/{other}").json()["occurrences"]) == 1
    assert row_counts(tracker) == (2, 6)


def test_browser_report_is_marked_browser(tracker: TestClient) -> None:
    stack = "render@https://shop.example.com/app.js:120:17\n"
    r = tracker.post(
        "/api/errors",
        json=report(traceback=stack, request_method="BROWSER", exception_type="TypeError"),
    )
    expected = hashlib.md5(b"shop:TypeError:https://shop.example.com/app.js:120").hexdigest()
    assert r.json()["fingerprint"] == expected
    assert tracker.get("/api/errors").json()["errors"][0]["source"] == "browser"
