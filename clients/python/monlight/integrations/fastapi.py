"""FastAPI / Starlette integration: request metrics and error reporting.

`MonlightMiddleware` is plain ASGI (no `BaseHTTPMiddleware`): it passes
streaming responses and background tasks through untouched, and times a
request until its last body byte is handed to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from monlight import _defaults
from monlight.error_client import ErrorClient
from monlight.integrations._common import record_request
from monlight.metrics_client import MetricsClient

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _endpoint(scope: Scope) -> str:
    """The matched route's template (`/items/{item_id}`), else the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return str(scope.get("path", ""))


class MonlightMiddleware:
    """ASGI middleware that records HTTP request metrics.

    Emits ``http_requests_total`` (counter) and ``http_request_duration_seconds``
    (histogram) with labels method, endpoint (route template), status.

    Usage::

        app.add_middleware(MonlightMiddleware, metrics_client=client)
    """

    def __init__(self, app: ASGIApp, metrics_client: MetricsClient) -> None:
        self.app = app
        self.metrics_client = metrics_client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state: list[Any] = [None, False]  # [status, recorded]

        async def send_wrapper(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                state[0] = message["status"]
            elif kind == "http.response.body" and not message.get("more_body", False):
                await send(message)
                if not state[1]:
                    state[1] = True
                    self._record(scope, state[0] or 500, time.perf_counter() - start)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not state[1]:
                state[1] = True
                self._record(scope, state[0] or 500, time.perf_counter() - start)

    def _record(self, scope: Scope, status: int, duration: float) -> None:
        try:
            endpoint = _endpoint(scope)
        except Exception:
            logger.debug("recording request metrics failed", exc_info=True)
            return
        record_request(self.metrics_client, scope.get("method", ""), endpoint, status, duration)


def request_context(request: Any) -> dict[str, Any]:
    """What an error report says about the request (headers are filtered by the client)."""
    context: dict[str, Any] = {
        "request_url": str(request.url),
        "request_method": request.method,
    }
    with contextlib.suppress(Exception):
        context["request_headers"] = dict(request.headers)
    context["extra"] = {"endpoint": _endpoint(request.scope), "status": "500"}
    return context


async def MonlightExceptionHandler(request: Any, exc: Exception) -> Any:
    """Global exception handler that reports errors to Monlight.

    Register for ``Exception`` (``HTTPException`` and validation errors keep
    their own handlers). The report is queued, never awaited; the response is
    ``500 {"detail": "Internal server error"}``. The client is found at
    ``request.app.state.monlight_error_client`` (see :func:`setup_monlight`).
    """
    from starlette.responses import JSONResponse

    background = None
    error_client: ErrorClient | None = getattr(request.app.state, "monlight_error_client", None)
    if error_client is not None:
        try:
            background = _queue_report(error_client, exc, request_context(request))
        except Exception:
            logger.warning("Failed to report error in exception handler", exc_info=True)

    logger.exception("Unhandled exception: %s", exc, exc_info=exc)
    return JSONResponse(
        status_code=500, content={"detail": "Internal server error"}, background=background
    )


#: How long the request's task lingers, after its 500 went out, for its report to settle.
REPORT_GRACE = 2.0


def _queue_report(client: ErrorClient, exc: Exception, context: dict[str, Any]) -> Any:
    """Queue the report for the sender thread; return a background task that awaits it.

    The task runs after the response is sent, so the client never waits; it only
    keeps the request's task alive until the report is settled (at most
    REPORT_GRACE s), which lets a graceful shutdown or a TestClient see it through.
    """
    from starlette.background import BackgroundTask

    if not hasattr(client, "_enqueue"):  # a stand-in without the queue: plain capture
        client.capture_exception(exc, **context)
        return None
    loop = asyncio.get_running_loop()
    settled: asyncio.Future[None] = loop.create_future()

    def on_done() -> None:
        loop.call_soon_threadsafe(_resolve, settled)

    if not client._enqueue(exc, context, on_done):
        return None

    async def linger() -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(settled), REPORT_GRACE)

    return BackgroundTask(linger)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def setup_monlight(
    app: Any,
    *,
    error_tracker_url: str | None = None,
    metrics_collector_url: str | None = None,
    api_key: str,
    project: str = "default",
    flush_interval: float = 10.0,
    environment: str | None = None,
) -> dict[str, Any]:
    """Wire error reporting and request metrics on a FastAPI/Starlette app in one call.

    Returns ``{"error_client": ..., "metrics_client": ...}`` (None for a URL not
    given); the clients also become the process defaults (decorators, logging).
    """
    result: dict[str, Any] = {"error_client": None, "metrics_client": None}

    if error_tracker_url:
        error_client = ErrorClient(
            base_url=error_tracker_url,
            api_key=api_key,
            project=project,
            environment=environment,
        )
        app.state.monlight_error_client = error_client
        app.add_exception_handler(Exception, MonlightExceptionHandler)
        result["error_client"] = error_client
        logger.info("Monlight error tracking enabled: %s", error_tracker_url)

    if metrics_collector_url:
        metrics_client = MetricsClient(
            base_url=metrics_collector_url,
            api_key=api_key,
            flush_interval=flush_interval,
            project=project,
        )
        app.add_middleware(MonlightMiddleware, metrics_client=metrics_client)
        metrics_client.start()
        result["metrics_client"] = metrics_client
        logger.info("Monlight metrics collection enabled: %s", metrics_collector_url)

    _defaults.set_default_clients(result["error_client"], result["metrics_client"])
    return result
