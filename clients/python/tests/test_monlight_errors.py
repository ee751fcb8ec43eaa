"""ErrorClient: payload shape, header stripping, retry schedule, queue bounds, before_send."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import monlight._core as core
import pytest
from monlight import ErrorClient
from pytest_httpx import HTTPXMock

URL = "http://tracker.test"


def boom() -> ValueError:
    try:
        raise ValueError("bad price")
    except ValueError as exc:
        return exc


def body(request: httpx.Request) -> dict[str, Any]:
    return json.loads(request.content)  # type: ignore[no-any-return]


def test_capture_sends_the_tracker_payload(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{URL}/api/errors", status_code=201, json={"status": "created"})
    client = ErrorClient(URL, "k", project="shop", environment="staging")
    assert client.capture_exception(
        boom(),
        request_url="http://shop/cart",
        request_method="POST",
        request_headers={"Accept": "text/html"},
        user_id=42,
        extra={"cart": 7},
    )
    assert client.flush(5)
    (request,) = httpx_mock.get_requests()
    assert request.headers["x-api-key"] == "k"
    payload = body(request)
    assert payload["project"] == "shop"
    assert payload["exception_type"] == "ValueError"
    assert payload["message"] == "bad price"
    assert payload["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("bad price")' in payload["traceback"]
    assert payload["request_url"] == "http://shop/cart"
    assert payload["request_method"] == "POST"
    assert payload["request_headers"] == {"Accept": "text/html"}
    assert payload["user_id"] == "42"
    assert payload["extra"] == {"cart": 7}
    assert payload["environment"] == "staging"
    assert client.get_stats() == {
        "sent": 1,
        "dropped": 0,
        "failed": 0,
        "filtered": 0,
        "retried": 0,
        "queued": 0,
    }


def test_capture_without_argument_reports_the_exception_being_handled(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(status_code=201)
    client = ErrorClient(URL, "k")
    assert client.capture_exception() is False  # nothing is being handled
    try:
        {}["missing"]  # noqa: B018
    except KeyError:
        assert client.capture_exception()
    client.flush(5)
    assert body(httpx_mock.get_requests()[0])["exception_type"] == "KeyError"


def test_fields_are_clipped_to_the_tracker_limits(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201)
    client = ErrorClient(URL, "k")
    client.capture_exception(boom(), request_url="http://x/" + "a" * 900, user_id="u" * 300)
    client.flush(5)
    payload = body(httpx_mock.get_requests()[0])
    assert len(payload["request_url"]) == 500
    assert len(payload["user_id"]) == 100


def test_sensitive_headers_are_stripped_in_any_case(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201)
    client = ErrorClient(URL, "k", excluded_headers={"X-Tenant-Secret"})
    headers = {
        "AUTHORIZATION": "Bearer t",
        "cookie": "s=1",
        "Set-Cookie": "s=2",
        "x-Api-KEY": "k",
        "x-tenant-SECRET": "s",
        "User-Agent": "curl/8",
    }
    client.capture_exception(boom(), request_headers=headers)
    client.flush(5)
    assert body(httpx_mock.get_requests()[0])["request_headers"] == {"User-Agent": "curl/8"}


def test_retry_schedule_honours_retry_after_then_backs_off_exponentially(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(status_code=201)
    client = ErrorClient(URL, "k", backoff_base=0.5, backoff_max=30)
    waits: list[float] = []
    monkeypatch.setattr(client._stop, "wait", lambda delay: waits.append(delay) or False)
    monkeypatch.setattr(core.random, "random", lambda: 1.0)  # the top of the jitter range

    client.capture_exception(boom())
    assert client.flush(5)
    assert waits == [7.0, 1.0, 2.0]  # Retry-After, then 0.5·2¹, 0.5·2² (3rd failure in a row)
    assert len(httpx_mock.get_requests()) == 4
    stats = client.get_stats()
    assert (stats["sent"], stats["retried"], stats["failed"]) == (1, 3, 0)


def test_retries_are_bounded_then_counted_as_failed(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=500)
    client = ErrorClient(URL, "k", max_retries=2)
    monkeypatch.setattr(client._stop, "wait", lambda delay: False)
    client.capture_exception(boom())
    assert client.flush(5)
    assert len(httpx_mock.get_requests()) == 3
    assert client.get_stats()["failed"] == 1


def test_a_4xx_is_not_retried(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=400, json={"detail": "project: required"})
    client = ErrorClient(URL, "k")
    client.capture_exception(boom())
    client.flush(5)
    assert len(httpx_mock.get_requests()) == 1
    assert client.get_stats()["failed"] == 1


def test_jitter_stays_within_half_to_full_step_and_is_capped() -> None:
    policy = core.RetryPolicy(base=1.0, cap=8.0)
    assert policy.delay(1, rand=lambda: 0.0) == 0.5
    assert policy.delay(3, rand=lambda: 1.0) == 4.0
    assert policy.delay(10, rand=lambda: 1.0) == 8.0
    assert policy.delay(2, retry_after=1000.0) == policy.max_retry_after


def test_retry_after_as_http_date() -> None:
    when = time.time() + 30
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))
    response = httpx.Response(429, headers={"Retry-After": date})
    assert 25 < (core.retry_after_seconds(response) or 0) <= 30


class GatedTransport(httpx.BaseTransport):
    """Holds every request until released: a tracker that hangs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        self.entered.set()
        self.release.wait(10)
        return httpx.Response(201)


def test_capture_never_waits_for_a_hanging_tracker_and_overflow_is_counted() -> None:
    transport = GatedTransport()
    client = ErrorClient(URL, "k", max_queue_size=3, transport=transport)
    try:
        assert client.capture_exception(boom())
        assert transport.entered.wait(5)  # the worker is stuck in the first send
        started = time.perf_counter()
        results = [client.capture_exception(boom()) for _ in range(5)]
        elapsed = time.perf_counter() - started
        assert results == [True, True, True, False, False]
        assert elapsed < 0.05
        stats = client.get_stats()
        assert (stats["dropped"], stats["queued"]) == (2, 4)
    finally:
        transport.release.set()
    assert client.flush(5)
    assert transport.count == 4
    assert client.get_stats()["sent"] == 4


def test_flush_times_out_instead_of_hanging() -> None:
    transport = GatedTransport()
    client = ErrorClient(URL, "k", transport=transport)
    client.capture_exception(boom())
    assert transport.entered.wait(5)
    assert client.flush(0.05) is False
    transport.release.set()
    assert client.flush(5) is True


def test_before_send_scrubs_and_drops(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201)

    def scrub(payload: dict[str, Any]) -> dict[str, Any] | None:
        if payload["exception_type"] == "KeyboardInterrupt":
            return None
        payload["message"] = payload["message"].replace("4111111111111111", "[card]")
        return payload

    client = ErrorClient(URL, "k", before_send=scrub)
    client.capture_exception(ValueError("card 4111111111111111 declined"))
    client.capture_exception(KeyboardInterrupt())
    client.flush(5)
    (request,) = httpx_mock.get_requests()
    assert body(request)["message"] == "card [card] declined"
    assert client.get_stats()["filtered"] == 1


def test_a_failing_before_send_or_bad_extra_never_reaches_the_app(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201)

    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug in the hook")

    client = ErrorClient(URL, "k", before_send=broken)
    client.capture_exception(boom())
    client.capture_exception(boom(), extra={"not json": object()})
    assert client.flush(5)
    assert len(httpx_mock.get_requests()) == 1  # sent unchanged; the unserialisable one failed
    assert client.get_stats()["failed"] == 1


def test_one_pooled_connection_serves_many_reports(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201, is_reusable=True)
    client = ErrorClient(URL, "k")
    for _ in range(3):
        client.capture_exception(boom())
    client.flush(5)
    first = client._pool.sync()
    client.report_error_sync(boom())
    assert client._pool.sync() is first
    assert len(httpx_mock.get_requests()) == 4


async def _report(client: ErrorClient) -> None:
    await client.report_error(boom(), {"request_url": "/x"})


def test_async_report_error_uses_one_client_per_loop(httpx_mock: HTTPXMock) -> None:
    import asyncio

    httpx_mock.add_response(status_code=201, is_reusable=True)
    client = ErrorClient(URL, "k")
    asyncio.run(_report(client))
    asyncio.run(_report(client))  # a new loop: a new async client, no "loop is closed"
    assert client.get_stats()["sent"] == 2
    assert body(httpx_mock.get_requests()[1])["request_url"] == "/x"
