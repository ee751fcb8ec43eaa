"""JSON responses with orjson, and the JSON error handlers every service installs."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from shared.db import Overloaded, StorageError, WriterClosed, WriterDead

log = logging.getLogger("monlight.http")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """The one error a handler raises: becomes `{"detail": ...}` with its status."""

    status_code = 500

    def __init__(
        self, status_code: int, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    """Bad input from parsers and validators: 400 naming the field."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


class NotFound(ApiError):
    def __init__(self, detail: str = "Not found") -> None:
        super().__init__(404, detail)


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def send_error(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Answer from pure-ASGI middleware, before any app has run."""
    body = orjson.dumps({"detail": detail})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for key, value in (headers or {}).items():
        raw.append((key.lower().encode(), value.encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_STATUS_DETAIL = {404: "Not found", 405: "Method not allowed"}


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if exc.status_code in _STATUS_DETAIL and detail in (None, "", _default_phrase(exc.status_code)):
        detail = _STATUS_DETAIL[exc.status_code]
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase


def error_parts(exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    """(status, detail, headers) of the answer to an exception a handler raised.

    The one mapping, shared by Starlette's exception handlers and the hot routes
    (shared.app.HotRoutes), which answer without Starlette.
    """
    if isinstance(exc, ApiError):
        return exc.status_code, exc.detail, exc.headers
    if isinstance(exc, Overloaded):
        return 503, "Service overloaded, retry shortly", {"Retry-After": "1"}
    if isinstance(exc, WriterClosed):
        return 503, "Service is shutting down", {"Retry-After": "5"}
    if isinstance(exc, WriterDead):
        return 503, f"Database unavailable: {exc}", {"Retry-After": "5"}
    if isinstance(exc, StorageError):
        return 503, f"Database cannot be written ({exc}); retry later", {"Retry-After": "30"}
    return 500, "Internal server error", None


async def _mapped(request: Request, exc: Exception) -> Response:
    return error(*error_parts(exc))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error(500, "Internal server error")


EXCEPTION_HANDLERS = {
    HTTPException: _http_exception,
    ApiError: _mapped,
    Overloaded: _mapped,
    WriterClosed: _mapped,
    WriterDead: _mapped,
    StorageError: _mapped,
    Exception: _server_error,
}
