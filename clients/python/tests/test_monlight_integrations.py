"""FastAPI, Flask and Django integrations: same labels (method, route template, status), errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from monlight.testing import Recorder


@pytest.fixture
def rec() -> Iterator[Recorder]:
    with Recorder(project="shop") as recorder:
        yield recorder


def request_points(rec: Recorder) -> dict[tuple[str, str, str], float]:
    """http_requests_total by (method, endpoint, status)."""
    totals: dict[tuple[str, str, str], float] = {}
    for p in rec.metrics:
        if p["name"] == "http_requests_total":
            labels = p["labels"]
            key = (labels["method"], labels["endpoint"], labels["status"])
            totals[key] = totals.get(key, 0) + p["value"]
    return totals


# -- FastAPI ---------------------------------------------------------------------------


def fastapi_app(rec: Recorder) -> Any:
    from monlight.integrations.fastapi import MonlightExceptionHandler, MonlightMiddleware

    app = FastAPI()
    app.state.monlight_error_client = rec.error_client
    app.add_exception_handler(Exception, MonlightExceptionHandler)
    app.add_middleware(MonlightMiddleware, metrics_client=rec.metrics_client)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                yield f"chunk{i}\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(chunks())

    @app.get("/later")
    async def later(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(app.state.done.append, "ran")
        return {"ok": True}

    @app.get("/boom/{n}")
    async def boom(n: int) -> None:
        raise ZeroDivisionError(f"n={n}")

    app.state.done = []
    return app


def test_fastapi_middleware_is_pure_asgi() -> None:
    from monlight.integrations.fastapi import MonlightMiddleware
    from starlette.middleware.base import BaseHTTPMiddleware

    assert not issubclass(MonlightMiddleware, BaseHTTPMiddleware)


def test_fastapi_labels_streaming_background_and_errors(rec: Recorder) -> None:
    from fastapi.testclient import TestClient

    app = fastapi_app(rec)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/items/1").json() == {"id": 1}
    assert client.get("/items/2").status_code == 200
    assert client.get("/stream").text == "chunk0\nchunk1\nchunk2\n"
    assert client.get("/later").json() == {"ok": True}
    assert app.state.done == ["ran"]
    response = client.get("/boom/3", headers={"Authorization": "Bearer x", "X-Trace": "t1"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert client.get("/nope").status_code == 404

    assert request_points(rec) == {
        ("GET", "/items/{item_id}", "200"): 2,
        ("GET", "/stream", "200"): 1,
        ("GET", "/later", "200"): 1,
        ("GET", "/boom/{n}", "500"): 1,
        ("GET", "/nope", "404"): 1,
    }
    (error,) = rec.errors
    assert error["exception_type"] == "ZeroDivisionError"
    assert error["project"] == "shop"
    assert error["request_url"] == "http://testserver/boom/3"
    assert error["extra"] == {"endpoint": "/boom/{n}", "status": "500"}
    assert error["request_headers"]["x-trace"] == "t1"
    assert "authorization" not in error["request_headers"]


def test_fastapi_setup_monlight_passes_environment() -> None:
    from monlight.integrations.fastapi import setup_monlight

    result = setup_monlight(
        FastAPI(), error_tracker_url="http://t", api_key="k", environment="staging"
    )
    assert result["error_client"].environment == "staging"


# -- Flask ---------------------------------------------------------------------------------


def test_flask_labels_and_errors(rec: Recorder) -> None:
    from flask import Flask
    from monlight.integrations.flask import instrument

    app = Flask(__name__)

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom/<name>")
    def boom(name: str) -> str:
        raise LookupError(name)

    instrument(app, error_client=rec.error_client, metrics_client=rec.metrics_client)
    client = app.test_client()
    assert client.get("/items/5").json == {"id": 5}
    assert client.get("/boom/x", headers={"Cookie": "s=1"}).status_code == 500
    assert client.get("/missing").status_code == 404

    assert request_points(rec) == {
        ("GET", "/items/{item_id}", "200"): 1,
        ("GET", "/boom/{name}", "500"): 1,
        ("GET", "/missing", "404"): 1,
    }
    (error,) = rec.errors
    assert error["exception_type"] == "LookupError"
    assert error["extra"] == {"endpoint": "/boom/{name}", "status": "500"}
    assert error["request_method"] == "GET"
    assert "Cookie" not in error["request_headers"]


# -- Django --------------------------------------------------------------------------------


def _django_views() -> list[Any]:
    from django.http import JsonResponse
    from django.urls import path

    def item(request: Any, item_id: int) -> JsonResponse:
        return JsonResponse({"id": item_id})

    def boom(request: Any, name: str) -> JsonResponse:
        raise KeyError(name)

    return [path("items/<int:item_id>", item), path("boom/<str:name>", boom)]


urlpatterns: list[Any] = []


@pytest.fixture
def django_client() -> Iterator[Any]:
    import django
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings

    if not settings.configured:
        settings.configure(SECRET_KEY="test", DEBUG=False)
        django.setup()
    urlpatterns[:] = _django_views()
    with override_settings(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=["monlight.integrations.django.MonlightMiddleware"],
    ):
        yield Client(raise_request_exception=False)


def test_django_labels_and_errors(rec: Recorder, django_client: Any) -> None:
    assert django_client.get("/items/7").json() == {"id": 7}
    assert django_client.get("/boom/z", HTTP_X_API_KEY="secret").status_code == 500
    assert django_client.get("/missing").status_code == 404

    assert request_points(rec) == {
        ("GET", "/items/{item_id}", "200"): 1,
        ("GET", "/boom/{name}", "500"): 1,
        ("GET", "/missing", "404"): 1,
    }
    (error,) = rec.errors
    assert error["exception_type"] == "KeyError"
    assert error["extra"] == {"endpoint": "/boom/{name}", "status": "500"}
    assert error["request_url"] == "http://testserver/boom/z"
    assert not any(h.lower() == "x-api-key" for h in error["request_headers"])
