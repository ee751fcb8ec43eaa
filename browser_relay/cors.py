"""CORS for the browser routes, exactly as specified, outside the gate.

Only origins listed in CORS_ORIGINS, matched exactly (case-sensitive), get
`Access-Control-Allow-Origin`; others get no CORS headers at all (the
browser then refuses the page the answer). Every browser-route answer says
`Vary: Origin`, so a cache never hands one origin's answer to another. The
layer sits outside the gate so its 401/413/429 answers are readable by the
page too (the SDK backs off on 429 by its `Retry-After`). Admin routes
never get CORS headers. The SDK script is public: `*`, so a page may load
it with `crossorigin` and see its own errors' details.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BROWSER_PREFIX = "/api/browser/"
SDK_PREFIX = "/sdk/"

PREFLIGHT_HEADERS = (
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"X-Monlight-Key, Content-Type"),
    (b"access-control-max-age", b"86400"),
)
VARY = (b"vary", b"Origin")
EXPOSE = (b"access-control-expose-headers", b"Retry-After")


def is_browser(path: str) -> bool:
    return path.startswith(BROWSER_PREFIX)


def allowed_origin(
    headers: Sequence[tuple[bytes, bytes]], allowed: frozenset[bytes]
) -> bytes | None:
    """The request's Origin when it is one of `allowed` (exact bytes), else None."""
    for name, value in headers:
        if name == b"origin":
            return value if value in allowed else None
    return None


def response_headers(origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """What a browser-route answer gets for a request from `origin` (None: not allowed)."""
    if origin is None:
        return [VARY]
    return [(b"access-control-allow-origin", origin), VARY, EXPOSE]


def preflight_headers(origin: bytes | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return [VARY, (b"content-length", b"0")]
    return [
        (b"access-control-allow-origin", origin),
        *PREFLIGHT_HEADERS,
        VARY,
        (b"content-length", b"0"),
    ]


class Cors:
    """ASGI layer: preflights answered here; other browser answers get their headers."""

    def __init__(
        self, app: ASGIApp, *, origins: Sequence[str], applies: Callable[[str], bool] = is_browser
    ) -> None:
        self.app = app
        self.allowed = frozenset(o.encode() for o in origins)
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(SDK_PREFIX):
            await self.app(scope, receive, _adding(send, [(b"access-control-allow-origin", b"*")]))
            return
        if not self.applies(path):
            await self.app(scope, receive, send)
            return
        origin = allowed_origin(scope["headers"], self.allowed)
        if scope["method"] == "OPTIONS":
            await send(
                {"type": "http.response.start", "status": 204, "headers": preflight_headers(origin)}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, _adding(send, response_headers(origin)))


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return with_headers
