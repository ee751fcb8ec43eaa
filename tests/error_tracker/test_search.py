"""Search answers exactly like a LIKE scan, whichever plan finds the rows."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from error_tracker import search
from error_tracker.retention import purge
from shared.app import runtime

MESSAGES = [
    "Connection timeout after 30s",
    "connection TIMEOUT to db-primary",
    "Cannot read properties of undefined (reading 'map')",
    "division by zero",
    "100% of quota used_up",
    "Ünïcödé fehlgeschlagen: Größe",
    'quote " and \\ backslash',
    "plain",
]


def post_all(client: TestClient, messages: list[str], tag: str) -> None:
    for i, message in enumerate(messages):
        body = {
            "project": "p",
            "exception_type": "TimeoutError" if "imeout" in message else "ValueError",
            "message": message,
            "traceback": f'File "{tag}.py", line {i}, in f{i}',  # a group each
        }
        assert client.post("/api/errors", json=body).status_code == 201


def expected(client: TestClient, term: str) -> list[int]:
    everything = client.get("/api/errors", params={"limit": 200, "resolved": "all"}).json()
    low = term.lower()

    def hit(text: str) -> bool:  # LIKE: ASCII letters fold, everything else literal
        return low in "".join(c.lower() if c.isascii() else c for c in text)

    return [e["id"] for e in everything["errors"] if hit(e["message"]) or hit(e["exception_type"])]


def found(client: TestClient, term: str) -> tuple[list[int], int]:
    body = client.get("/api/errors", params={"search": term, "resolved": "all", "limit": 200})
    assert body.status_code == 200
    return [e["id"] for e in body.json()["errors"]], body.json()["total"]


TERMS = [
    "timeout",
    "TIMEOUT",
    "db-primary",
    "100%",
    "used_",
    "Größe",
    "größe",
    '" and \\',
    "zz-not-there",
    "ti",
    "",
    "reading 'map'",
]


@pytest.mark.parametrize("selective", [search.INDEX.selective, 2], ids=["few-candidates", "common"])
def test_search_matches_like_on_indexed_and_new_rows(
    tracker: TestClient, monkeypatch: pytest.MonkeyPatch, selective: int
) -> None:
    monkeypatch.setattr(search, "INDEX", replace(search.INDEX, selective=selective))
    db = runtime(tracker.app).db
    post_all(tracker, MESSAGES, "old")
    assert search.index_pending(db) == len(MESSAGES)
    post_all(tracker, MESSAGES, "new")  # above the watermark: not indexed yet
    for term in TERMS:
        if not term:
            continue
        ids, total = found(tracker, term)
        want = expected(tracker, term)
        assert ids == want, term
        assert total == len(want), term


def test_index_stays_consistent_when_groups_are_deleted(tracker: TestClient) -> None:
    db = runtime(tracker.app).db
    post_all(tracker, MESSAGES, "a")
    search.index_pending(db)
    post_all(tracker, MESSAGES, "b")
    for error_id in (1, 2, len(MESSAGES) + 1):  # indexed and not-yet-indexed groups
        tracker.post(f"/api/errors/{error_id}/resolve")
    deleted = db.writer.submit_sync(lambda conn: purge(conn, "9999-01-01T00:00:00Z"))
    assert deleted == 3
    search.index_pending(db)

    def integrity(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO errors_fts (errors_fts) VALUES ('integrity-check')")

    db.writer.submit_sync(integrity)  # raises if the index disagrees with the table
    ids, total = found(tracker, "timeout")
    assert ids == expected(tracker, "timeout") == [len(MESSAGES) + 2]  # b's second one
    assert total == 1


def test_indexer_runs_in_the_background(tracker: TestClient) -> None:
    post_all(tracker, MESSAGES[:2], "bg")
    db = runtime(tracker.app).db
    worker = next(
        w for w in runtime(tracker.app).workers if getattr(w, "name", "") == "search-index"
    )
    worker.trigger()
    from tests.helpers import wait_until

    wait_until(lambda: db.reader.run_sync(search.watermark) == 2, what="indexer caught up")


def test_indexer_stops_promptly_during_a_long_catch_up(
    tracker: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgraded database may need minutes of indexing; SIGTERM must not wait for it."""
    import time

    from tests.helpers import wait_until

    db = runtime(tracker.app).db
    groups = 20_000

    def fill(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO errors (fingerprint, project, exception_type, message, traceback)"
            " VALUES (?, 'p', 'E', ?, '')",
            [(f"f{i}", f"message {i}") for i in range(groups)],
        )

    db.writer.submit_sync(fill)
    for running in runtime(tracker.app).workers:  # only the worker under test indexes
        if getattr(running, "name", "") == "search-index":
            running.stop()
    # One row per writer job: a long catch-up.
    monkeypatch.setattr(search, "INDEX", replace(search.INDEX, chunk=1))
    worker = search.indexer(db, interval=3600)
    worker.start()
    wait_until(lambda: db.reader.run_sync(search.watermark) > 0, what="indexing started")
    start = time.monotonic()
    worker.stop()
    assert time.monotonic() - start < 2
    assert db.reader.run_sync(search.watermark) < groups  # stopped part-way, resumes later
