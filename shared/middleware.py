"""The gate every service sits behind: body limit → rate limit → API key.

Pure ASGI (no BaseHTTPMiddleware) so streaming bodies are checked as they
arrive and nothing is buffered twice, and one layer rather than three, so
each request pays one call for all of it.
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


async def _read_limited(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int
) -> None:
    """Run app with a body of unknown length, stopping the read past `limit`."""
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
        await app(scope, limited_receive, tracking_send)
    except _BodyTooLarge:
        if not started:
            await send_error(send, 413, f"Request body exceeds {limit} bytes")


def _declared_length_status(scope: Scope, limit: int) -> int | None:
    """None: declared and within the limit; 0: unknown length; else the error status.

    With Transfer-Encoding the body is framed by it, whatever Content-Length says
    (RFC 9112 6.3), so the length is unknown and the body gets counted.
    """
    declared: int | None = None
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return 0
        if name == b"content-length" and declared is None:
            try:
                declared = int(value)
            except ValueError:
                return 400
    if declared is None:
        return 0
    return 413 if declared > limit else None


async def _reject_length(send: Send, status: int, limit: int) -> None:
    if status == 400:
        await send_error(send, 400, "Invalid Content-Length header")
    else:
        await send_error(send, 413, f"Request body exceeds {limit} bytes")


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimiter:
    """Sliding-window log per key: exact, bounded by `limit` entries per key and
    by `max_keys` keys, so a flood from ever-new addresses cannot grow memory
    without bound (past it, idle keys go first, then the longest-known ones)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = time.monotonic()

    def check(self, key: str, now: float | None = None) -> float:
        """Record a hit; return 0 if allowed, else seconds until a slot frees."""
        now = time.monotonic() if now is None else now
        if now - self._last_sweep > self.window:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._sweep(now)
                while len(self._hits) >= self.max_keys:
                    del self._hits[next(iter(self._hits))]
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


def query_param(scope: Scope, name: str) -> str | None:
    qs = scope.get("query_string", b"")
    if not qs or name.encode() not in qs:
        return None
    for key, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
        if key == name:
            return value
    return None


def key_matches(scope: Scope, expected: bytes) -> bool:
    """`X-API-Key`, else `?api_key=` (EventSource cannot set headers), in constant time."""
    given: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"x-api-key" and value:
            given = value
            break
    if given is None:
        param = query_param(scope, "api_key")
        given = param.encode() if param is not None else None
    return given is not None and hmac.compare_digest(given, expected)


class Gate:
    """Body limit → rate limit → API key.

    A declared Content-Length is checked up front and the request then passes
    untouched (the HTTP server never hands over more than it declared); only
    bodies of unknown length (chunked) are counted as they arrive. Rate limit
    and key apply to `/api/*`; `rate_key` picks what is limited (the client
    IP; the relay limits per DSN key), None skipping it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        rate_limit: int,
        api_key: str | None,
        rate_key: Callable[[Scope], str | None] = client_ip,
        applies: Callable[[str], bool] = is_api,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.limiter = RateLimiter(rate_limit) if rate_limit > 0 else None
        self.rate_key = rate_key
        self.expected = api_key.encode() if api_key else None
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = _declared_length_status(scope, self.max_body)
        if status not in (None, 0):
            await _reject_length(send, status, self.max_body)  # type: ignore[arg-type]
            return
        if self.applies(scope["path"]):
            if self.limiter is not None:
                key = self.rate_key(scope)
                wait = self.limiter.check(key) if key is not None else 0.0
                if wait > 0:
                    retry = str(max(1, int(wait + 0.999)))
                    await send_error(send, 429, "Rate limit exceeded", {"Retry-After": retry})
                    return
            if self.expected is not None and not key_matches(scope, self.expected):
                await send_error(send, 401, "Invalid API key")
                return
        if status is None:
            await self.app(scope, receive, send)
        else:
            await _read_limited(self.app, scope, receive, send, self.max_body)
