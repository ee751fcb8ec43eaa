"""Must-show 3: FastAPI (uvicorn), Flask and Django apps against the real tracker and collector.

Each app serves requests and raises one error; the Error Tracker then holds
the error (project, route template, status) and the Metrics Collector the
request metrics. With the tracker stopped the app keeps answering at full
speed, and the report made meanwhile arrives once the tracker is back.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import monlight
import pytest
from monlight import ErrorClient, MetricsClient

from tests.helpers import (
    ServiceProcess,
    collector_env,
    free_port,
    tracker_env,
    wait_until,
)

AUTH = {"X-API-Key": "test-key"}


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", free_port(), app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def fastapi_app(errors: ErrorClient, metrics: MetricsClient) -> Any:
    from fastapi import FastAPI
    from monlight.integrations.fastapi import MonlightExceptionHandler, MonlightMiddleware

    app = FastAPI()
    app.state.monlight_error_client = errors
    app.add_exception_handler(Exception, MonlightExceptionHandler)
    app.add_middleware(MonlightMiddleware, metrics_client=metrics)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom/{n}")
    async def boom(n: int) -> None:
        raise ZeroDivisionError(f"fastapi {n}")

    return serve_asgi(app)


def flask_app(errors: ErrorClient, metrics: MetricsClient) -> Any:
    from flask import Flask
    from monlight.integrations.flask import instrument

    app = Flask("e2e")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom/<int:n>")
    def boom(n: int) -> None:
        raise ZeroDivisionError(f"flask {n}")

    instrument(app, error_client=errors, metrics_client=metrics)
    return serve_wsgi(app)


def _django_urls() -> list[Any]:
    from django.http import JsonResponse
    from django.urls import path

    def item(request: Any, item_id: int) -> JsonResponse:
        return JsonResponse({"id": item_id})

    def boom(request: Any, n: int) -> JsonResponse:
        raise ZeroDivisionError(f"django {n}")

    return [path("items/<int:item_id>", item), path("boom/<int:n>", boom)]


urlpatterns: list[Any] = []


@contextmanager
def django_app(errors: ErrorClient, metrics: MetricsClient) -> Iterator[str]:
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    if not settings.configured:
        settings.configure(SECRET_KEY="e2e", DEBUG=False)
        django.setup()
    urlpatterns[:] = _django_urls()
    monlight.set_default_clients(errors, metrics)
    try:
        with (
            override_settings(
                ROOT_URLCONF=__name__,
                ALLOWED_HOSTS=["*"],
                MIDDLEWARE=["monlight.integrations.django.MonlightMiddleware"],
            ),
            serve_wsgi(WSGIHandler()) as url,
        ):
            yield url
    finally:
        monlight.clear_default_clients()


APPS: dict[str, Callable[[ErrorClient, MetricsClient], Any]] = {
    "fastapi": fastapi_app,
    "flask": flask_app,
    "django": django_app,
}


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with (
        ServiceProcess("error_tracker", tracker_env(tmp_path)) as tracker,
        ServiceProcess("metrics_collector", collector_env(tmp_path)) as collector,
    ):
        yield tracker, collector


def tracker_errors(url: str, project: str) -> list[dict[str, Any]]:
    try:
        r = httpx.get(f"{url}/api/errors", params={"project": project}, headers=AUTH, timeout=2)
    except httpx.HTTPError:
        return []
    return r.json()["errors"] if r.status_code == 200 else []  # type: ignore[no-any-return]


@pytest.mark.parametrize("framework", list(APPS))
def test_app_reports_to_the_real_services_and_survives_a_tracker_outage(
    framework: str, services: tuple[ServiceProcess, ServiceProcess]
) -> None:
    tracker, collector = services
    project = f"e2e-{framework}"
    errors = ErrorClient(
        tracker.url, "test-key", project=project, backoff_base=0.05, backoff_max=0.3,
        max_retries=200,
    )  # fmt: skip
    metrics = MetricsClient(collector.url, "test-key", flush_interval=0.2, project=project)
    metrics.start()
    try:
        with APPS[framework](errors, metrics) as app_url, httpx.Client(base_url=app_url) as http:
            for i in range(3):
                assert http.get(f"/items/{i}").json() == {"id": i}
            assert http.get("/boom/1").status_code == 500

            wait_until(lambda: tracker_errors(tracker.url, project), what="the error")
            (group,) = tracker_errors(tracker.url, project)
            assert group["exception_type"] == "ZeroDivisionError"
            detail = httpx.get(f"{tracker.url}/api/errors/{group['id']}", headers=AUTH).json()
            occurrence = detail["occurrences"][0]
            assert occurrence["request_url"].endswith("/boom/1")
            assert occurrence["extra"]["endpoint"] == "/boom/{n}"
            assert occurrence["extra"]["status"] == "500"

            def request_totals() -> dict[str, float]:
                r = httpx.get(
                    f"{collector.url}/api/metrics",
                    params={
                        "name": "http_requests_total",
                        "period": "1h",
                        "group_by": "endpoint",
                        "project": project,
                    },
                    headers=AUTH,
                )
                return {
                    s["labels"]["endpoint"]: sum(row["sum"] for row in s["data"])
                    for s in r.json().get("series", [])
                }

            wait_until(
                lambda: request_totals() == {"/items/{item_id}": 3, "/boom/{n}": 1},
                what="the request counters",
            )

            # The tracker goes away: the app answers as fast as before.
            baseline = [_timed_get(http, f"/items/{i}") for i in range(10)]
            tracker.stop()
            during = [_timed_get(http, "/boom/2")] + [
                _timed_get(http, f"/items/{i}") for i in range(10)
            ]
            assert max(during) < 0.5, during
            assert statistics.median(during) < statistics.median(baseline) + 0.05, (
                baseline,
                during,
            )
            assert errors.get_stats()["queued"] == 1  # the outage's report waits, retrying

            back = ServiceProcess("error_tracker", tracker.env, port=tracker.port).start()
            try:
                wait_until(
                    lambda: any(
                        g["count"] == 2 for g in tracker_errors(back.url, project)
                    ),  # boom/1 and boom/2 group together (same type and line)
                    what="the report made during the outage",
                )
            finally:
                back.stop()
    finally:
        metrics.shutdown(1)
        errors.close(1)


def _timed_get(http: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    http.get(path)
    return time.perf_counter() - start
