"""The Log Viewer over HTTP: its API on the real app, the live tail on a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from log_viewer import SERVICE
from log_viewer.config import from_env
from log_viewer.tail import MAX_TAILS
from shared.app import runtime
from tests.helpers import ServiceProcess, StackProcess, wait_until
from tests.log_viewer.dockerlog import DockerLog

KEY = "log-key"
AUTH = {"X-API-Key": KEY}


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "API_KEY": KEY,
        "DATABASE_PATH": str(tmp_path / "logs.db"),
        "LOG_SOURCES": str(tmp_path / "containers"),
        "RATE_LIMIT": "0",
        **extra,
    }


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, DockerLog]]:
    log = DockerLog(tmp_path / "containers")
    with TestClient(SERVICE.app(from_env(env(tmp_path))), headers=AUTH) as client:
        yield client, log


def ingest(client: TestClient, log: DockerLog) -> None:
    runtime(client.app).context.ingestor.poll(log.clock + 10, rescan=True)


def test_the_api_answers_what_was_ingested(app: tuple[TestClient, DockerLog]) -> None:
    client, log = app
    log.lines("GET / 200", "payment failed <img src=x onerror=alert(1)>")
    log.lines("ERROR db: connection refused", stream="stderr")
    ingest(client, log)

    body = client.get("/api/logs").json()
    assert body["total"] == 3 and body["limit"] == 100
    assert [e["message"] for e in body["logs"]][0] == "ERROR db: connection refused"
    assert client.get("/api/logs", params={"q": "payment"}).json()["total"] == 1
    assert client.get("/api/logs", params={"level": "error"}).json()["total"] == 1
    r = client.get("/api/logs", params={"search": '"unclosed'})
    assert r.status_code == 400 and "FTS5" in r.json()["detail"]
    assert client.get("/api/logs", params={"since": "soon"}).status_code == 400

    expected = {"containers": [{"name": "web", "log_count": 3}]}
    assert client.get("/api/logs/containers").json() == expected
    assert client.get("/api/containers").json() == expected  # where the earlier one served it
    stats = client.get("/api/logs/stats").json()
    assert stats == client.get("/api/stats").json()
    assert stats["total_logs"] == 3 and stats["by_level"] == {"ERROR": 1, "INFO": 2}
    histogram = client.get("/api/logs/histogram", params={"level": "ERROR"}).json()
    assert sum(b["total"] for b in histogram["buckets"]) == 1

    health = client.get("/health").json()
    assert health["status"] == "ok" and health["containers"] == 1
    assert client.get("/api/logs", headers={"X-API-Key": "wrong"}).status_code == 401


def read_events(response: httpx.Response, into: list[tuple[str, str]], done: threading.Event):
    event = ""
    try:
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                into.append((event, line[6:]))
    except httpx.HTTPError:
        pass
    finally:
        done.set()


def test_live_tail_over_real_http(tmp_path: Path) -> None:
    log = DockerLog(tmp_path / "containers")
    log.lines("already there")
    with ServiceProcess("log_viewer", env(tmp_path, POLL_INTERVAL="1")) as svc:
        wait_until(
            lambda: httpx.get(f"{svc.url}/api/logs", headers=AUTH).json()["total"] == 1,
            timeout=10,
            what="the first poll",
        )
        with httpx.Client(base_url=svc.url, headers=AUTH, timeout=30) as http:
            events: list[tuple[str, str]] = []
            done = threading.Event()
            with http.stream("GET", "/api/logs/tail", params={"level": "ERROR"}) as tail:
                assert tail.status_code == 200
                assert tail.headers["content-type"].startswith("text/event-stream")
                reader = threading.Thread(target=read_events, args=(tail, events, done))
                reader.start()
                wait_until(  # subscribed before the lines are written
                    lambda: httpx.get(f"{svc.url}/health").json()["live_tails"] == 1,
                    timeout=10,
                    what="the tail subscribed",
                )
                written = time.monotonic()
                log.clock = time.time()
                log.lines("not an error")
                log.lines("ERROR worker: job 7 failed", stream="stderr")
                wait_until(
                    lambda: any(e == "log" for e, _ in events), timeout=10, what="a log event"
                )
                print(f"log event {time.monotonic() - written:.2f} s after the write")
                assert [d for e, d in events if e == "log"][0].count("job 7 failed") == 1
                assert not any("not an error" in d for _, d in events)  # filtered out

                # Five tails at most; the sixth is told so; closing one frees its slot at once.
                others = [http.stream("GET", "/api/logs/tail") for _ in range(MAX_TAILS - 1)]
                opened = [o.__enter__() for o in others]
                assert all(o.status_code == 200 for o in opened)
                sixth = http.get("/api/logs/tail")
                assert sixth.status_code == 429 and "at most 5" in sixth.json()["detail"]
                others[0].__exit__(None, None, None)
                wait_until(
                    lambda: httpx.get(f"{svc.url}/health").json()["live_tails"] == MAX_TAILS - 1,
                    timeout=10,
                    what="the closed tail's slot freed",
                )
                with http.stream("GET", "/api/logs/tail") as again:
                    assert again.status_code == 200
                for other in others[1:]:
                    other.__exit__(None, None, None)


def test_a_stop_ends_open_tails_with_a_close_event(tmp_path: Path) -> None:
    """SIGTERM must not wait out the grace period for a browser tab left tailing."""
    DockerLog(tmp_path / "containers")
    svc = ServiceProcess("log_viewer", env(tmp_path)).start()
    try:
        with (
            httpx.Client(base_url=svc.url, headers=AUTH, timeout=30) as http,
            http.stream("GET", "/api/logs/tail") as tail,
        ):
            events: list[tuple[str, str]] = []
            done = threading.Event()
            reader = threading.Thread(target=read_events, args=(tail, events, done))
            reader.start()
            wait_until(
                lambda: httpx.get(f"{svc.url}/health").json()["live_tails"] == 1,
                timeout=10,
                what="the tail subscribed",
            )
            stopper = threading.Thread(target=svc.stop)
            stopper.start()
            assert done.wait(10), "the stream did not end"
            stopper.join()
        assert events[-1][0] == "close" and "shutting down" in events[-1][1]
        assert "timeout graceful shutdown exceeded" not in svc.log()
    finally:
        svc.stop()


def test_kill_9_during_ingestion_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """Lines written before, during and after a kill -9 are stored once each, in order."""
    log = DockerLog(tmp_path / "containers")
    total = 30_000
    written = threading.Event()

    def writer() -> None:
        for start in range(0, total, 500):
            log.lines(*[f"line {i}" for i in range(start, start + 500)])
            time.sleep(0.05)  # spread over ~3 s, so the kill lands while lines arrive
        written.set()

    settings = env(tmp_path, POLL_INTERVAL="1", TAIL_BUFFER="100000000")

    def stored() -> int:
        r = httpx.get(f"{svc.url}/api/logs/stats", headers=AUTH, timeout=10)
        return int(r.json()["total_logs"])

    svc = ServiceProcess("log_viewer", settings).start()
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: stored() > 2_000, timeout=30, what="some lines stored")
        svc.kill9()  # mid-ingestion, no shutdown at all
        print(f"killed with the writer {'done' if written.is_set() else 'still writing'}")
    finally:
        thread.join()
    assert written.is_set()
    with ServiceProcess("log_viewer", settings) as svc:
        wait_until(lambda: stored() >= total, timeout=60, what="every line stored")
        rows = [
            e["message"]
            for offset in range(0, total, 500)
            for e in httpx.get(
                f"{svc.url}/api/logs",
                params={"limit": "500", "offset": str(offset)},
                headers=AUTH,
            ).json()["logs"]
        ]
        assert stored() == total
    assert sorted(rows, key=lambda m: int(m.split()[1])) == [f"line {i}" for i in range(total)]


def test_make_run_serves_it_with_sample_logs_that_keep_coming(tmp_path: Path) -> None:
    """`python -m shared.stack` (what `make run` starts): the log viewer on base + 1
    reads the sample containers the stack writes, and new lines keep arriving."""
    with StackProcess(tmp_path, KEY) as stack:
        url = stack.url(SERVICE)

        def total() -> int:
            stack.running()
            try:
                r = httpx.get(f"{url}/api/logs/stats", headers=AUTH, timeout=2)
            except httpx.HTTPError:
                return -1
            return int(r.json()["total_logs"]) if r.status_code == 200 else -1

        wait_until(lambda: total() > 50, timeout=30, what="sample history ingested")
        first = total()
        wait_until(lambda: total() > first, timeout=15, what="new sample lines")
        names = httpx.get(f"{url}/api/logs/containers", headers=AUTH).json()["containers"]
        assert {c["name"] for c in names} == {"shop-web", "shop-worker"}
        assert httpx.get(f"{url}/").status_code == 200  # the UI
        assert "Log Viewer" in stack.log() and "sample logs" in stack.log()


def test_the_stack_writes_no_samples_when_log_sources_names_real_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as a system service with LOG_SOURCES set, the stack reads those and writes
    no sample containers of its own."""
    from shared.service import StackPlan

    plan = StackPlan(data_dir=tmp_path, urls={}, keys={})
    assert SERVICE.stack_part is not None
    sample = SERVICE.stack_part(plan)
    assert sample.env == {"LOG_SOURCES": str(tmp_path / "sample-logs")} and sample.workers
    monkeypatch.setenv("LOG_SOURCES", "/var/lib/docker/containers")
    real = SERVICE.stack_part(plan)
    assert real.env == {} and list(real.workers) == []
    assert "/var/lib/docker/containers" in real.note
