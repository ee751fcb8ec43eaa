"""GET /api/errors/{id} and POST /api/errors/{id}/resolve."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.error_tracker.conftest import PY_TB, at_line, execute, report, store_at


def test_detail_is_one_flat_object(tracker: TestClient) -> None:
    first = store_at(
        tracker,
        "2026-02-01T10:00:00Z",
        user_id="u1",
        request_headers={"User-Agent": "ua"},
        extra={"a": [1, 2]},
    )
    store_at(
        tracker,
        "2026-02-01T11:00:00Z",
        user_id="u2",
        request_url="https://x.test/p",
        request_method="GET",
    )
    detail = tracker.get(f"/api/errors/{first.id}").json()
    occurrences = detail.pop("occurrences")
    assert detail == {
        "id": first.id,
        "fingerprint": first.fingerprint,
        "project": "shop",
        "exception_type": "ValueError",
        "message": "bad",
        "count": 2,
        "first_seen": "2026-02-01T10:00:00Z",
        "last_seen": "2026-02-01T11:00:00Z",
        "resolved": False,
        "source": "server",
        "regressed_at": None,
        "times_reopened": 0,
        "culprit": "app.py:10 in f",
        "hourly": [0] * 24,
        "traceback": PY_TB,
        "traceback_frames": [{"start": 1, "end": 2, "in_app": True, "culprit": True}],
        "resolved_at": None,
    }
    assert [o["user_id"] for o in occurrences] == ["u2", "u1"]  # newest first
    assert occurrences[0] == {
        "id": occurrences[0]["id"],
        "timestamp": "2026-02-01T11:00:00Z",
        "request_url": "https://x.test/p",
        "request_method": "GET",
        "request_headers": None,
        "user_id": "u2",
        "extra": None,
        "traceback": PY_TB,
    }
    assert occurrences[1]["request_headers"] == {"User-Agent": "ua"}  # objects, not strings
    assert occurrences[1]["extra"] == {"a": [1, 2]}
    assert occurrences[0]["id"] > occurrences[1]["id"]


def test_detail_of_hand_written_non_json_context_does_not_fail(tracker: TestClient) -> None:
    error_id = tracker.post("/api/errors", json=report(extra={"k": 1})).json()["id"]
    execute(
        tracker, "UPDATE error_occurrences SET extra = 'legacy text' WHERE error_id = ?", error_id
    )
    r = tracker.get(f"/api/errors/{error_id}")
    assert r.status_code == 200
    assert r.json()["occurrences"][0]["extra"] == "legacy text"


def test_unknown_and_malformed_ids_are_404(tracker: TestClient) -> None:
    tracker.post("/api/errors", json=report())
    for raw in ("999", "abc", "1.5", "-1", "0", "1e3", "%201", "99999999999999999999999"):
        r = tracker.get(f"/api/errors/{raw}")
        assert r.status_code == 404, raw
        assert r.json() == {"detail": "Error not found"}, raw


def test_resolve_marks_resolved_and_is_idempotent(tracker: TestClient) -> None:
    error_id = tracker.post("/api/errors", json=report()).json()["id"]
    r = tracker.post(f"/api/errors/{error_id}/resolve")
    assert r.status_code == 200
    assert r.json() == {"status": "resolved", "id": error_id}
    detail = tracker.get(f"/api/errors/{error_id}").json()
    assert detail["resolved"] is True
    first_at = detail["resolved_at"]
    assert first_at.endswith("Z")
    # Pretend the first resolve was long ago: resolving again must not move it.
    execute(
        tracker, "UPDATE errors SET resolved_at = '2020-01-01T00:00:00Z' WHERE id = ?", error_id
    )
    again = tracker.post(f"/api/errors/{error_id}/resolve")
    assert again.status_code == 200 and again.json() == {"status": "resolved", "id": error_id}
    assert tracker.get(f"/api/errors/{error_id}").json()["resolved_at"] == "2020-01-01T00:00:00Z"


def test_resolve_only_touches_that_error(tracker: TestClient) -> None:
    a = tracker.post("/api/errors", json=at_line(1)).json()["id"]
    b = tracker.post("/api/errors", json=at_line(2)).json()["id"]
    tracker.post(f"/api/errors/{a}/resolve")
    assert tracker.get(f"/api/errors/{b}").json()["resolved"] is False
    assert [e["id"] for e in tracker.get("/api/errors").json()["errors"]] == [b]


def test_resolve_unknown_id_is_404(tracker: TestClient) -> None:
    for raw in ("12345", "abc", "-1", "1.5"):
        r = tracker.post(f"/api/errors/{raw}/resolve")
        assert r.status_code == 404, raw
        assert r.json() == {"detail": "Error not found"}
