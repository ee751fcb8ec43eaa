"""Decorators, heartbeat, logging handler, recorder and fork safety."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator

import httpx
import monlight
import pytest
from monlight.integrations.logging import MonlightHandler
from monlight.testing import Recorder


@pytest.fixture
def rec() -> Iterator[Recorder]:
    with Recorder(project="jobs") as recorder:
        yield recorder


def test_capture_errors_on_sync_and_async_functions_reraises_by_default(rec: Recorder) -> None:
    @monlight.capture_errors
    def sync_job() -> None:
        raise ValueError("sync")

    @monlight.capture_errors(reraise=False)
    async def async_job() -> int:
        raise TypeError("async")

    @monlight.capture_errors
    async def fine() -> int:
        return 3

    with pytest.raises(ValueError, match="sync"):
        sync_job()
    assert asyncio.run(async_job()) is None
    assert asyncio.run(fine()) == 3
    assert [(e["exception_type"], e["extra"]["function"]) for e in rec.errors] == [
        ("ValueError", sync_job.__qualname__),
        ("TypeError", async_job.__qualname__),
    ]


def test_timed_records_seconds_for_sync_and_async_even_when_raising(rec: Recorder) -> None:
    @monlight.timed("job_seconds", {"job": "sync"})
    def sync_job(fail: bool) -> str:
        if fail:
            raise RuntimeError
        return "ok"

    @monlight.timed("job_seconds", {"job": "async"})
    async def async_job() -> str:
        await asyncio.sleep(0.02)
        return "ok"

    assert sync_job(False) == "ok"
    with pytest.raises(RuntimeError):
        sync_job(True)
    assert asyncio.run(async_job()) == "ok"
    points = [p for p in rec.metrics if p["name"] == "job_seconds"]
    assert [p["labels"]["job"] for p in points] == ["sync", "sync", "async"]
    assert all(p["type"] == "histogram" for p in points)
    assert points[2]["value"] >= 0.02


def test_heartbeat_reports_a_hang_with_the_stuck_stack_and_counts_recovery(
    rec: Recorder,
) -> None:
    stuck = threading.Event()
    release = threading.Event()

    def worker() -> None:
        monlight.heartbeat()
        stuck.set()
        release.wait(10)  # the hang: no heartbeat while blocked here
        monlight.heartbeat()

    thread = threading.Thread(target=worker)
    monitor = monlight.start_heartbeat_monitor(0.1, check_interval=0.02, watched_thread=thread)
    try:
        thread.start()
        assert stuck.wait(5)
        deadline = time.monotonic() + 5
        while not monitor.hung and time.monotonic() < deadline:
            time.sleep(0.01)  # the monitor thread's own clock decides; poll its flag
        (error,) = rec.errors
        assert error["exception_type"] == "ApplicationHung"
        assert "no heartbeat" in error["message"]
        assert "release.wait(10)" in error["traceback"]  # where the watched thread is stuck
        assert error["extra"]["seconds_since_heartbeat"] >= 0.1
        release.set()
        thread.join(5)
        assert not monitor.hung
        assert rec.metric_total("monlight_heartbeat_recovered_total") == 1
        assert rec.metric_total("monlight_heartbeat_hung_total") == 1
        assert len(rec.errors) == 1  # one report per hang, not one per check
    finally:
        release.set()
        monlight.stop_heartbeat_monitor()


def test_logging_handler_reports_records_with_exc_info_only(rec: Recorder) -> None:
    log = logging.getLogger("shop.payments")
    handler = MonlightHandler()
    log.addHandler(handler)
    try:
        log.error("no exception attached")
        try:
            raise ConnectionError("bank down")
        except ConnectionError:
            log.exception("charge failed for %s", "order-9")
        logging.getLogger("monlight.error_client").error("own", exc_info=ValueError("x"))
    finally:
        log.removeHandler(handler)
    (error,) = rec.errors
    assert error["exception_type"] == "ConnectionError"
    assert error["extra"]["log_message"] == "charge failed for order-9"
    assert error["extra"]["logger"] == "shop.payments"


def test_recorder_applies_before_send_and_header_stripping() -> None:
    def drop_health(payload: dict[str, object]) -> dict[str, object] | None:
        return None if payload["request_url"] == "/health" else payload

    with Recorder(before_send=drop_health) as rec:
        assert monlight.capture_exception(
            OSError("disk"), request_url="/x", request_headers={"Cookie": "a", "Accept": "b"}
        )
        monlight.capture_exception(OSError("disk"), request_url="/health")
        (error,) = rec.errors
        assert error["request_headers"] == {"Accept": "b"}
        rec.clear()
        assert rec.errors == []


def test_after_fork_the_child_restarts_its_threads_and_keeps_the_parents_data_out() -> None:
    """The child sends its own reports and metrics, never the parent's pending ones."""
    gate = threading.Event()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if os.getpid() == parent_pid:
            gate.wait(10)  # the parent's sender is busy when the fork happens
        seen.append(request.url.path + ":" + request.content.decode())
        return httpx.Response(201 if request.url.path == "/api/errors" else 202)

    parent_pid = os.getpid()
    transport = httpx.MockTransport(handler)
    errors = monlight.ErrorClient("http://t", "k", transport=transport)
    metrics = monlight.MetricsClient("http://m", "k", flush_interval=0.05, transport=transport)
    errors.capture_exception(ValueError("parent-busy"))
    errors.capture_exception(ValueError("parent-queued"))
    metrics.counter("parent_total")
    metrics.start()
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report through a pipe, exit without pytest's teardown
            status = 1
            try:
                errors.capture_exception(ValueError("child"))
                metrics.counter("child_total")
                ok = errors.flush(5) and metrics.flush()
                alive = metrics._timer is not None and metrics._timer.is_alive()
                text = "|".join(seen)
                good = (
                    ok
                    and alive
                    and "child" in text
                    and "child_total" in text
                    and "parent" not in text
                )
                os.write(write_fd, text.encode()[:4000])
                status = 0 if good else 1
            finally:
                os._exit(status)
        os.close(write_fd)
        _, wait_status = os.waitpid(pid, 0)
        report = os.read(read_fd, 4096).decode()
        os.close(read_fd)
        assert os.waitstatus_to_exitcode(wait_status) == 0, report
    finally:
        gate.set()
        metrics.shutdown()
    assert errors.flush(5)
    parent_text = "|".join(seen)
    assert "parent-busy" in parent_text and "parent-queued" in parent_text
    assert "parent_total" in parent_text
