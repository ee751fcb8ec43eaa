"""Pure-ASGI middleware: body limit → rate limit → auth.

Pure ASGI (no BaseHTTPMiddleware) so streaming bodies are checked as they
arrive and nothing is buffered twice.
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.responses import send_error


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for bodies over the limit, counted while streaming (chunked too)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_error(send, 400, "Invalid Content-Length header")
                    return
                if declared > limit:
                    await send_error(send, 413, f"Request body exceeds {limit} bytes")
                    return
                break

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await send_error(send, 413, f"Request body exceeds {limit} bytes")


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimiter:
    """Sliding-window log per key: exact, and bounded by `limit` entries per key."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = time.monotonic()

    def check(self, key: str, now: float | None = None) -> float:
        """Record a hit; return 0 if allowed, else seconds until a slot frees."""
        now = time.monotonic() if now is None else now
        if now - self._last_sweep > self.window:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - self.window
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        cutoff = now - self.window
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= cutoff]:
            del self._hits[key]
        self._last_sweep = now


class RateLimitMiddleware:
    """429 with Retry-After once a client exceeds `limit` API requests a minute.

    `key` picks what is limited (the client IP by default; the relay limits
    per DSN key). A key function returning None skips limiting.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        key: Callable[[Scope], str | None] = client_ip,
        applies: Callable[[str], bool] = is_api,
    ) -> None:
        self.app = app
        self.limiter = RateLimiter(limit) if limit > 0 else None
        self.key = key
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limiter is not None and scope["type"] == "http" and self.applies(scope["path"]):
            key = self.key(scope)
            if key is not None:
                wait = self.limiter.check(key)
                if wait > 0:
                    retry = str(max(1, int(wait + 0.999)))
                    await send_error(
                        send, 429, "Rate limit exceeded", {"Retry-After": retry}
                    )
                    return
        await self.app(scope, receive, send)


def query_param(scope: Scope, name: str) -> str | None:
    qs = scope.get("query_string", b"")
    if not qs or name.encode() not in qs:
        return None
    for key, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
        if key == name:
            return value
    return None


class APIKeyMiddleware:
    """`X-API-Key` (or `?api_key=`) on every `/api/*` route, compared in constant time."""

    def __init__(
        self, app: ASGIApp, api_key: str, applies: Callable[[str], bool] = is_api
    ) -> None:
        self.app = app
        self.expected = api_key.encode()
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.applies(scope["path"]):
            given: bytes | None = None
            for name, value in scope["headers"]:
                if name == b"x-api-key" and value:
                    given = value
                    break
            if given is None:
                param = query_param(scope, "api_key")
                given = param.encode() if param is not None else None
            if given is None or not hmac.compare_digest(given, self.expected):
                await send_error(send, 401, "Invalid API key")
                return
        await self.app(scope, receive, send)
