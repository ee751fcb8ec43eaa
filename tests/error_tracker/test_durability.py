"""A 2xx means committed: kill -9 under load loses no acknowledged error."""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from error_tracker import SERVICE
from shared.app import runtime
from tests.conftest import AUTH, tracker_config
from tests.contract import WriterKilled, cap_pages
from tests.error_tracker.conftest import at_line
from tests.helpers import ServiceProcess, tracker_env, wait_until

TOTAL = 2000
CONCURRENCY = 16
KILL_AFTER = 400


def body(n: int) -> dict[str, str]:
    return {
        "project": "load",
        "exception_type": f"LoadError{n}",
        "message": f"request {n}",
        "traceback": f'Traceback (most recent call last):\n  File "load.py", line {n + 1}, in f\n',
    }


def stored_fingerprints(service: ServiceProcess) -> dict[str, int]:
    found: dict[str, int] = {}
    with httpx.Client(base_url=service.url, headers=AUTH, timeout=10) as api:
        for offset in itertools.count(0, 200):
            page = api.get(
                "/api/errors", params={"resolved": "all", "limit": 200, "offset": offset}
            ).json()
            found.update({e["fingerprint"]: e["id"] for e in page["errors"]})
            if offset + 200 >= page["total"]:
                return found
    raise AssertionError("unreachable")


def test_acknowledged_errors_survive_kill_9(tmp_path: Path) -> None:
    env = tracker_env(tmp_path)
    service = ServiceProcess("error_tracker", env).start()
    acked: dict[str, int] = {}
    failures: list[str] = []
    numbers = iter(range(TOTAL))
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=service.url, headers=AUTH, timeout=10) as client:
            while True:
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return
                try:
                    r = client.post("/api/errors", json=body(n))
                except httpx.TransportError as exc:
                    with lock:
                        failures.append(type(exc).__name__)
                    return  # the server is gone
                if r.status_code // 100 == 2:
                    data = r.json()
                    assert data["status"] == "created", data
                    with lock:
                        acked[data["fingerprint"]] = data["id"]

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= KILL_AFTER, timeout=30, what="first acknowledgements")
        service.kill9()
    finally:
        for t in threads:
            t.join(30)
    assert failures, "the kill landed after the load finished; nothing was in flight"
    assert KILL_AFTER <= len(acked) < TOTAL

    restarted = ServiceProcess("error_tracker", env).start()
    try:
        stored = stored_fingerprints(restarted)
        missing = [fp for fp in acked if fp not in stored]
        assert not missing, f"{len(missing)} acknowledged errors lost, e.g. {missing[:3]}"
        assert all(stored[fp] == error_id for fp, error_id in acked.items())
        # The restarted service keeps working on the same database.
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=10) as api:
            again = api.post("/api/errors", json=body(0))
            assert again.status_code in (200, 201)
    finally:
        assert restarted.stop() == 0


def test_a_report_is_503_not_a_hang_when_the_writer_died(tmp_path: Path) -> None:
    """An error reported while the database writer is dead gets 503 + Retry-After
    (the client retries later), and nothing claims it was stored."""
    with TestClient(SERVICE.app(tracker_config(tmp_path)), headers=AUTH) as client:
        writer = runtime(client.app).db.writer

        def explode(batch: object) -> None:
            raise WriterKilled("simulated crash")

        writer._commit = explode  # type: ignore[method-assign]
        body = {"project": "p", "exception_type": "E", "message": "m", "traceback": ""}
        r = client.post("/api/errors", json=body)
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert "simulated crash" in r.json()["detail"]
        assert client.post("/api/errors", json=body).status_code == 503
        assert client.get("/health").status_code == 503


def test_a_full_disk_is_503_one_log_line_and_heals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Writes that fail for lack of space (SQLITE_FULL, simulated with max_page_count)
    get 503 + Retry-After with a detail, /health says so, one log line per burst,
    and everything works again once space is back."""
    with TestClient(SERVICE.app(tracker_config(tmp_path)), headers=AUTH) as client:
        db = runtime(client.app).db

        assert client.post("/api/errors", json=at_line(1)).status_code == 201
        cap_pages(db, 0)
        caplog.clear()
        codes = [
            client.post("/api/errors", json=at_line(10 + i, message="m" * 20_000)).status_code
            for i in range(20)
        ]
        assert 503 in codes and set(codes[codes.index(503) :]) == {503}  # once full, all
        for i in range(5):
            r = client.post("/api/errors", json=at_line(100 + i, message="m" * 20_000))
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] and "cannot be written" in r.json()["detail"]
        health = client.get("/health")
        assert health.status_code == 503 and "disk full" in health.json()["detail"]
        lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(lines) == 1 and "cannot be written" in lines[0].getMessage()
        assert client.get("/api/errors").status_code == 200  # reads go on

        cap_pages(db, 100_000)  # space is back
        assert client.get("/health").status_code == 200
        assert client.post("/api/errors", json=at_line(999)).status_code == 201
        assert "can be written again" in caplog.text
