"""Middleware every service sits behind: body limit, rate limit, API key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import shared.middleware
from shared.app import create_app
from shared.middleware import Gate, RateLimiter
from shared.responses import JSONResponse

KEY = "s3cr3t+/="


async def echo(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


async def page(request: Request) -> Response:
    return PlainTextResponse("page")


def make_client(tmp_path: Path, *, rate_limit: int = 0, max_body: int = 1024) -> TestClient:
    config = SimpleNamespace(
        database_path=str(tmp_path / "m.db"),
        max_body_size=max_body,
        rate_limit=rate_limit,
        api_key=KEY,
    )
    app = create_app(
        config,
        routes=[Route("/api/echo", echo, methods=["POST"]), Route("/page", page)],
        migrations=[],
    )
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


# --- body limit ---------------------------------------------------------------


def test_body_at_limit_passes_and_over_limit_is_413(client: TestClient) -> None:
    headers = {"X-API-Key": KEY}
    assert client.post("/api/echo", content=b"x" * 1024, headers=headers).json() == {
        "received": 1024
    }
    r = client.post("/api/echo", content=b"x" * 1025, headers=headers)
    assert r.status_code == 413
    assert "1024" in r.json()["detail"]


def test_body_without_content_length_is_counted(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 200

    r = client.post("/api/echo", content=chunks(), headers={"X-API-Key": KEY})
    assert r.status_code == 413 and "detail" in r.json()


async def run_asgi(
    middleware: Gate, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[list[dict[str, Any]], int]:
    """Drive the middleware with a streamed body; return what it sent and bytes read."""
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []
    delivered = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        delivered += 1
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/x", "headers": headers}
    await middleware(scope, receive, send)
    return sent, delivered


async def reading_app(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_streamed_body_stops_reading_at_the_limit() -> None:
    mw = Gate(reading_app, max_body=10, rate_limit=0, api_key=None)
    sent, delivered = asyncio.run(run_asgi(mw, [], [b"abcd"] * 100))
    assert sent[0]["status"] == 413
    assert delivered == 3  # 12 bytes > 10: the other 97 chunks are never read
    sent, _ = asyncio.run(run_asgi(mw, [], [b"abcde", b"abcde"]))
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"10")


def test_declared_content_length_is_checked_before_reading() -> None:
    mw = Gate(reading_app, max_body=10, rate_limit=0, api_key=None)
    sent, delivered = asyncio.run(run_asgi(mw, [(b"content-length", b"11")], [b"x" * 11]))
    assert sent[0]["status"] == 413 and delivered == 0
    sent, delivered = asyncio.run(run_asgi(mw, [(b"content-length", b"ten")], [b"x"]))
    assert sent[0]["status"] == 400 and delivered == 0


# --- rate limit ---------------------------------------------------------------


def test_sliding_window_math() -> None:
    limiter = RateLimiter(3, window=60.0)
    t0 = 1_000.0
    assert [limiter.check("a", t0 + i) for i in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("a", t0 + 10) == pytest.approx(50.0)  # the hit at t0 frees at t0+60
    assert limiter.check("b", t0 + 10) == 0.0  # other clients are unaffected
    assert limiter.check("a", t0 + 59.5) == pytest.approx(0.5)
    assert limiter.check("a", t0 + 60) == 0.0  # exactly one window later: slot free
    assert limiter.check("a", t0 + 60.5) == pytest.approx(0.5)  # t0+1 frees at t0+61
    assert limiter.check("a", t0 + 61) == 0.0
    # Refused requests do not count: after a burst of refusals the window is unchanged.
    for _ in range(50):
        limiter.check("a", t0 + 61.1)
    assert limiter.check("a", t0 + 122) == 0.0


def test_idle_clients_are_forgotten() -> None:
    limiter = RateLimiter(2, window=60.0)
    start = limiter._last_sweep
    for i in range(100):
        limiter.check(f"ip{i}", start + 1)
    assert len(limiter._hits) == 100
    limiter.check("late", start + 200)
    assert set(limiter._hits) == {"late"}


def test_rate_limited_requests_get_429_with_retry_after(tmp_path: Path) -> None:
    with make_client(tmp_path, rate_limit=3) as client:
        headers = {"X-API-Key": KEY}
        codes = [
            client.post("/api/echo", content=b"{}", headers=headers).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 200]
        r = client.post("/api/echo", content=b"{}", headers=headers)
        assert r.status_code == 429
        assert r.json() == {"detail": "Rate limit exceeded"}
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # Health checks and pages are never limited.
        assert client.get("/health").status_code == 200
        assert client.get("/page").status_code == 200


# --- API key ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "s3cr3t"},
        {"X-API-Key": KEY + "x"},
        {"X-API-Key": KEY.upper()},
    ],
)
def test_missing_or_wrong_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    r = client.post("/api/echo", content=b"", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid API key"}


def test_key_in_header_or_query(client: TestClient) -> None:
    assert client.post("/api/echo", headers={"X-API-Key": KEY}).status_code == 200
    assert client.post("/api/echo", params={"api_key": KEY}).status_code == 200
    assert client.post("/api/echo", params={"api_key": "nope"}).status_code == 401
    # An empty header (a UI that has no key yet) does not hide a key in the URL.
    empty = {"X-API-Key": ""}
    assert client.post("/api/echo", params={"api_key": KEY}, headers=empty).status_code == 200
    assert client.post("/api/echo", headers=empty).status_code == 401
    # Unknown API routes need the key too: nothing about the API leaks without it.
    assert client.get("/api/nothing-here").status_code == 401


def test_health_and_pages_need_no_key(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/page").text == "page"


def test_key_is_compared_in_constant_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = shared.middleware.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(shared.middleware.hmac, "compare_digest", spy)
    assert client.post("/api/echo", headers={"X-API-Key": "guess"}).status_code == 401
    assert calls == [(b"guess", KEY.encode())]


def test_chunked_body_with_a_small_content_length_is_still_counted() -> None:
    # h11 frames such a request by Transfer-Encoding (RFC 9112 6.3) and passes both
    # headers on: trusting the small Content-Length let any body size through.
    mw = Gate(reading_app, max_body=10, rate_limit=0, api_key=None)
    headers = [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]
    sent, delivered = asyncio.run(run_asgi(mw, headers, [b"abcd"] * 100))
    assert sent[0]["status"] == 413
    assert delivered == 3


def test_rate_limiter_memory_is_bounded_by_max_keys() -> None:
    limiter = RateLimiter(2, window=60.0, max_keys=100)
    for i in range(10_000):  # a flood from ever-new addresses
        assert limiter.check(f"10.0.{i // 256}.{i % 256}", 1_000.0) == 0.0
    assert len(limiter._hits) <= 100
    # A client seen within the bound is still limited exactly.
    limiter.check("me", 1_001.0)
    limiter.check("me", 1_002.0)
    assert limiter.check("me", 1_003.0) > 0
