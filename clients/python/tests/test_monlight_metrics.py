"""MetricsClient: in-process aggregation, batch shape, retention across failed flushes."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
import monlight.metrics_client as mc
import pytest
import respx
from monlight import MetricsClient

URL = "http://collector.test"


def sent(route: respx.Route, call: int = -1) -> list[dict[str, Any]]:
    return json.loads(route.calls[call].request.content)  # type: ignore[no-any-return]


@respx.mock
def test_counters_sum_into_one_point_per_series_and_flush() -> None:
    route = respx.post(f"{URL}/api/metrics").mock(return_value=httpx.Response(202))
    client = MetricsClient(URL, "k", project="shop")
    for _ in range(1000):
        client.counter("http_requests_total", {"method": "GET", "status": "200"})
    client.counter("http_requests_total", {"status": "200", "method": "GET"}, value=5)
    client.counter("http_requests_total", {"method": "GET", "status": "500"})
    assert client.flush()
    points = sent(route)
    assert [(p["labels"]["status"], p["value"]) for p in points] == [("200", 1005), ("500", 1)]
    point = points[0]
    assert set(point) == {"name", "type", "value", "labels", "timestamp", "project"}
    assert point["type"] == "counter" and point["project"] == "shop"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", point["timestamp"])
    assert route.calls[0].request.headers["x-api-key"] == "k"
    assert client.get_stats() == {"sent": 2, "dropped": 0, "failed": 0, "queued": 0}


@respx.mock
def test_histogram_samples_are_bounded_per_series_and_gauges_keep_the_last_value() -> None:
    route = respx.post(f"{URL}/api/metrics").mock(return_value=httpx.Response(202))
    client = MetricsClient(URL, "k", max_samples_per_series=50)
    for i in range(10_000):
        client.histogram("latency_seconds", i / 1000, {"endpoint": "/a"})
    client.histogram("latency_seconds", 0.5, {"endpoint": "/b"})
    client.gauge("queue_depth", 3)
    client.gauge("queue_depth", 9)
    client.flush()
    points = sent(route)
    a = [p["value"] for p in points if p.get("labels") == {"endpoint": "/a"}]
    assert len(a) == 50 and len(set(a)) == 50
    assert max(a) > 1.0  # a uniform reservoir, not just the first 50 samples
    assert [p["value"] for p in points if p.get("labels") == {"endpoint": "/b"}] == [0.5]
    assert [p["value"] for p in points if p["name"] == "queue_depth"] == [9]


@respx.mock
def test_points_survive_a_failed_flush_and_go_out_with_the_next() -> None:
    route = respx.post(f"{URL}/api/metrics").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(202)]
    )
    client = MetricsClient(URL, "k")
    client.counter("orders_total", value=2)
    assert client.flush() is False
    client.counter("orders_total", value=3)
    assert client.flush() is False
    client.histogram("pay_seconds", 0.2)
    assert client.get_stats()["queued"] == 3
    assert client.flush() is True
    last = sent(route)
    assert [(p["name"], p["value"]) for p in last] == [
        ("orders_total", 2),
        ("orders_total", 3),
        ("pay_seconds", 0.2),
    ]
    assert client.get_stats() == {"sent": 3, "dropped": 0, "failed": 0, "queued": 0}


@respx.mock
def test_the_retained_buffer_is_bounded_dropping_the_oldest() -> None:
    respx.post(f"{URL}/api/metrics").mock(side_effect=httpx.ConnectError("refused"))
    client = MetricsClient(URL, "k", max_pending_points=3)
    for round_ in range(3):
        client.counter("c", {"round": str(round_)})
        client.counter("d", {"round": str(round_)})
        client.flush()
    kept = client._buffer
    assert [(p["name"], p["labels"]["round"]) for p in kept] == [("d", "1"), ("c", "2"), ("d", "2")]
    assert client.get_stats()["dropped"] == 3


@respx.mock
def test_a_refused_batch_is_dropped_not_retried() -> None:
    route = respx.post(f"{URL}/api/metrics").mock(return_value=httpx.Response(400))
    client = MetricsClient(URL, "k")
    client.counter("c")
    assert client.flush() is False
    assert client.flush() is True  # nothing left
    assert route.call_count == 1
    assert client.get_stats()["failed"] == 1


@respx.mock
def test_429_retry_after_sets_the_next_background_flush() -> None:
    respx.post(f"{URL}/api/metrics").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "42"})
    )
    client = MetricsClient(URL, "k", flush_interval=1.0)
    assert client._next_delay() == 1.0
    client.counter("c")
    client.flush()
    assert client._next_delay() == 42.0
    assert client._buffer[0]["name"] == "c"


@respx.mock
def test_big_windows_go_out_in_batches_the_collector_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mc, "MAX_BATCH_POINTS", 4)
    route = respx.post(f"{URL}/api/metrics").mock(return_value=httpx.Response(202))
    client = MetricsClient(URL, "k")
    for i in range(10):
        client.counter("c", {"i": str(i)})
    client.flush()
    assert [len(sent(route, n)) for n in range(route.call_count)] == [4, 4, 2]


@respx.mock
def test_series_beyond_the_limit_are_dropped_and_counted() -> None:
    client = MetricsClient(URL, "k", max_series=2)
    for path in ("/a", "/b", "/c", "/d"):
        client.counter("hits", {"path": path})
    assert len(client._buffer) == 2
    assert client.get_stats()["dropped"] == 2


@respx.mock
def test_background_flusher_sends_without_being_asked() -> None:
    arrived = threading.Event()

    def accept(request: httpx.Request) -> httpx.Response:
        arrived.set()
        return httpx.Response(202)

    respx.post(f"{URL}/api/metrics").mock(side_effect=accept)
    client = MetricsClient(URL, "k", flush_interval=0.05)
    client.counter("c")
    client.start()
    try:
        assert arrived.wait(5)
    finally:
        client.shutdown()
    assert client._timer is None


def test_recording_never_raises_into_the_app() -> None:
    client = MetricsClient(URL, "k")
    client.counter("c", {"odd": ["unhashable"]})  # type: ignore[dict-item]
    client.histogram("h", 1.0, {"odd": {"x": 1}})  # type: ignore[dict-item]
    assert len(client._buffer) == 2
