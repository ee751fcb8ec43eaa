from __future__ import annotations

from starlette.testclient import TestClient

PY_TB = 'Traceback (most recent call last):\n  File "app.py", line 10, in f\nValueError: x\n'


def report(**over):
    body = {"project": "shop", "exception_type": "ValueError", "message": "bad", "traceback": PY_TB}
    body.update(over)
    return body


def test_create_increment_resolve_reopen(tracker: TestClient) -> None:
    first = tracker.post("/api/errors", json=report())
    assert first.status_code == 201
    assert first.json()["status"] == "created"
    fp = first.json()["fingerprint"]
    again = tracker.post("/api/errors", json=report(message="other message"))
    assert again.status_code == 200
    assert again.json() == {
        "status": "incremented",
        "id": first.json()["id"],
        "count": 2,
        "fingerprint": fp,
    }
    error_id = first.json()["id"]
    assert tracker.post(f"/api/errors/{error_id}/resolve").json() == {
        "status": "resolved",
        "id": error_id,
    }
    reopened = tracker.post("/api/errors", json=report())
    assert reopened.status_code == 201
    assert reopened.json()["status"] == "reopened"
    assert reopened.json()["count"] == 3


def test_keeps_five_newest_occurrences(tracker: TestClient) -> None:
    for i in range(8):
        tracker.post("/api/errors", json=report(user_id=f"u{i}"))
    listed = tracker.get("/api/errors").json()["errors"]
    detail = tracker.get(f"/api/errors/{listed[0]['id']}").json()
    assert detail["count"] == 8
    assert [o["user_id"] for o in detail["occurrences"]] == ["u7", "u6", "u5", "u4", "u3"]


def test_requires_api_key(tracker: TestClient) -> None:
    assert tracker.get("/api/errors", headers={"X-API-Key": "wrong"}).status_code == 401
    r = tracker.get("/api/projects", headers={"X-API-Key": ""})
    assert r.status_code == 401 and r.json() == {"detail": "Invalid API key"}
    assert tracker.get("/health", headers={"X-API-Key": ""}).json() == {"status": "ok"}
