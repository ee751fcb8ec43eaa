"""Middleware every service sits behind: body limit, API key, rate limit."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterator, MutableMapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

import shared.middleware
from shared.middleware import Gate, RateLimiter, client_ip, parse_trusted_proxies
from shared.responses import JSONResponse

KEY = "s3cr3t+/="
PEER = ("1.2.3.4", 123)


async def echo(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


async def page(request: Request) -> Response:
    return PlainTextResponse("page")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def make_gate(
    *,
    rate_limit: int = 0,
    max_body: int = 1024,
    api_key: str | None = KEY,
    key_rate_limit: int = 0,
    trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
) -> Gate:
    """The real Gate in front of a tiny app, as a service builds it."""
    app = Starlette(
        routes=[
            Route("/api/echo", echo, methods=["GET", "POST"]),
            Route("/page", page),
            Route("/health", health),
        ]
    )
    return Gate(
        app,
        max_body=max_body,
        rate_limit=rate_limit,
        api_key=api_key,
        key_rate_limit=key_rate_limit,
        trusted_proxies=trusted_proxies,
    )


def connect(gate: Gate, peer: tuple[str, int] = PEER) -> TestClient:
    """A client whose requests arrive from socket address `peer`."""
    return TestClient(gate, client=peer)


def make_client(**kwargs: Any) -> TestClient:
    return connect(make_gate(**kwargs))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with make_client() as c:
        yield c


def codes(client: TestClient, n: int, **kwargs: Any) -> list[int]:
    return [client.get("/api/echo", **kwargs).status_code for _ in range(n)]


def assert_429(r: Any) -> None:
    assert r.status_code == 429
    assert r.json() == {"detail": "Rate limit exceeded"}
    assert 1 <= int(r.headers["Retry-After"]) <= 60


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

    # The gate wraps the whole Starlette app here, so Starlette's own error
    # middleware sees the read stop first: its 500 must not get out.
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

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

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


def test_streamed_body_stops_reaching_the_app_at_the_limit_and_is_drained_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mw = Gate(reading_app, max_body=10, rate_limit=0, api_key=None)
    sent, delivered = asyncio.run(run_asgi(mw, [], [b"abcd"] * 100))
    assert sent[0]["status"] == 413
    # 12 bytes > 10: the app saw 3 chunks; the rest was read and dropped, so a
    # client still sending gets the 413 rather than a reset.
    assert delivered == 100
    monkeypatch.setattr(shared.middleware, "DRAIN_BYTES", 20)
    sent, delivered = asyncio.run(run_asgi(mw, [], [b"abcd"] * 100))
    assert sent[0]["status"] == 413 and delivered == 3 + 6  # draining is bounded
    sent, _ = asyncio.run(run_asgi(mw, [], [b"abcde", b"abcde"]))
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"10")


def test_declared_content_length_is_checked_before_reading() -> None:
    mw = Gate(reading_app, max_body=10, rate_limit=0, api_key=None)
    sent, delivered = asyncio.run(run_asgi(mw, [(b"content-length", b"11")], [b"x" * 11]))
    assert sent[0]["status"] == 413 and delivered == 1  # never handed to the app; drained
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


def test_rate_limited_requests_get_429_with_retry_after() -> None:
    with make_client(rate_limit=3, api_key=None) as client:
        assert [client.post("/api/echo", content=b"{}").status_code for _ in range(3)] == [
            200,
            200,
            200,
        ]
        assert_429(client.post("/api/echo", content=b"{}"))
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
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the gate looks it up on each call
    assert client.post("/api/echo", headers={"X-API-Key": "guess"}).status_code == 401
    assert calls == [(b"guess", KEY.encode())]


def test_chunked_body_with_a_small_content_length_is_still_counted() -> None:
    # h11 frames such a request by Transfer-Encoding (RFC 9112 6.3) and passes both
    # headers on: trusting the small Content-Length let any body size through.
    mw = Gate(reading_app, max_body=10, rate_limit=0, api_key=None)
    headers = [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")]
    sent, delivered = asyncio.run(run_asgi(mw, headers, [b"abcd"] * 100))
    assert sent[0]["status"] == 413
    assert delivered == 100  # counted (413), then drained


def test_rate_limiter_memory_is_bounded_by_max_keys() -> None:
    limiter = RateLimiter(2, window=60.0, max_keys=100)
    for i in range(10_000):  # a flood from ever-new addresses
        assert limiter.check(f"10.0.{i // 256}.{i % 256}", 1_000.0) == 0.0
    assert len(limiter._hits) <= 100
    # A client seen within the bound is still limited exactly.
    limiter.check("me", 1_001.0)
    limiter.check("me", 1_002.0)
    assert limiter.check("me", 1_003.0) > 0


# --- rate limit vs. key (spec README, Limits) ---------------------------------


def test_a_valid_key_is_never_limited_by_the_per_ip_limit() -> None:
    with make_client(rate_limit=2) as client:
        # An app reporting an error storm with its key is not throttled by its address...
        assert codes(client, 20, headers={"X-API-Key": KEY}) == [200] * 20
        assert codes(client, 5, params={"api_key": KEY}) == [200] * 5
        # ...while keyless requests from the same address are, after 2.
        assert codes(client, 2) == [401, 401]
        assert_429(client.get("/api/echo"))
        # And the key still works after the address is limited.
        assert client.get("/api/echo", headers={"X-API-Key": KEY}).status_code == 200


def test_key_guessing_is_throttled_without_locking_out_the_key() -> None:
    gate = make_gate(rate_limit=2)
    with connect(gate) as client, connect(gate, ("5.6.7.8", 1)) as other:
        wrong = {"X-API-Key": "guess"}
        assert codes(client, 2, headers=wrong) == [401, 401]
        for _ in range(5):  # past the limit a guess gets 429, not an answer
            assert_429(client.get("/api/echo", headers=wrong))
        assert_429(client.get("/api/echo", params={"api_key": "guess"}))
        # The junk did not lock the real key out of the same address...
        assert codes(client, 10, headers={"X-API-Key": KEY}) == [200] * 10
        # ...nor another address out of its own allowance.
        assert codes(other, 3, headers=wrong) == [401, 401, 429]


def test_key_rate_limit_bounds_each_key() -> None:
    # The per-key limit is independent of (here: larger than) the per-IP one.
    with make_client(rate_limit=2, key_rate_limit=3) as client:
        headers = {"X-API-Key": KEY}
        assert codes(client, 3, headers=headers) == [200, 200, 200]
        assert_429(client.get("/api/echo", headers=headers))
        assert_429(client.get("/api/echo", params={"api_key": KEY}))
        # Keyless requests count against the address, not the key.
        assert codes(client, 3) == [401, 401, 429]
    with make_client(rate_limit=2, key_rate_limit=0) as client:
        assert codes(client, 50, headers={"X-API-Key": KEY}) == [200] * 50


def test_without_an_api_key_every_api_request_counts_per_ip() -> None:
    gate = make_gate(rate_limit=2, api_key=None)
    with connect(gate) as client, connect(gate, ("5.6.7.8", 1)) as other:
        assert codes(client, 2) == [200, 200]
        assert_429(client.get("/api/echo"))
        assert codes(other, 2) == [200, 200]  # another address has its own allowance
        assert client.get("/page").status_code == 200
        assert client.get("/health").status_code == 200


def test_a_flood_of_new_clients_sweeps_at_most_once_per_window() -> None:
    limiter = RateLimiter(3, window=60.0, max_keys=100)
    t0 = limiter._last_sweep + 1
    for i in range(100):
        limiter.check(f"old{i}", t0)
    assert limiter.sweeps == 0
    # 1,000 new clients past max_keys within one window (t0+59 < t0+60).
    for i in range(1_000):
        assert limiter.check(f"new{i}", t0 + i * 0.05) == 0.0
    assert limiter.sweeps <= 1
    assert len(limiter._hits) <= 100
    # Once a window has passed the periodic sweep forgets the idle clients.
    limiter.check("late", t0 + 200)
    assert limiter.sweeps == 1
    assert list(limiter._hits) == ["late"]


def test_a_full_table_evicts_the_longest_idle_client_first() -> None:
    limiter = RateLimiter(3, window=60.0, max_keys=100)
    t = limiter._last_sweep + 1
    for round_ in range(3):
        assert limiter.check("me", t) == 0.0
        for i in range(99):  # a flood that fills the rest of the table, and more
            limiter.check(f"flood{round_}-{i}", t)
        t += 0.1
    # "me" was active throughout, so the flood evicted others: still counted exactly.
    assert limiter.check("me", t) > 0
    assert len(limiter._hits) <= 100


# --- trusted proxies ----------------------------------------------------------


def test_parse_trusted_proxies() -> None:
    assert parse_trusted_proxies("") == ()
    assert parse_trusted_proxies("  ") == ()
    assert parse_trusted_proxies(" 10.0.0.0/8, 127.0.0.1 ,::1,fd00::/8 ") == (
        ip_network("10.0.0.0/8"),
        ip_network("127.0.0.1/32"),
        ip_network("::1/128"),
        ip_network("fd00::/8"),
    )
    assert parse_trusted_proxies("10.1.2.3/8") == (ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize("raw", ["nginx", "10.0.0.0/33", "10.0.0.0/8;127.0.0.1", "1.2.3"])
def test_parse_trusted_proxies_rejects_bad_entries(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_trusted_proxies(f"127.0.0.1, {raw}")
    assert str(info.value) == (
        f"expected comma-separated CIDRs such as 10.0.0.0/8,127.0.0.1: {raw}"
    )


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    for trusted in [(), parse_trusted_proxies("10.0.0.0/8")]:
        with make_client(rate_limit=1, trusted_proxies=trusted) as client:
            # A client cannot spoof its way out of the limit with a fresh address each time.
            assert (
                client.get("/api/echo", headers={"X-Forwarded-For": "9.9.9.1"}).status_code == 401
            )
            assert_429(client.get("/api/echo", headers={"X-Forwarded-For": "9.9.9.2"}))


def test_clients_behind_a_trusted_proxy_are_limited_separately() -> None:
    gate = make_gate(rate_limit=1, trusted_proxies=parse_trusted_proxies("10.0.0.0/8"))
    with connect(gate, ("10.0.0.5", 4000)) as proxy:
        a = {"X-Forwarded-For": "203.0.113.1"}
        b = {"X-Forwarded-For": "203.0.113.2"}
        assert proxy.get("/api/echo", headers=a).status_code == 401
        assert proxy.get("/api/echo", headers=b).status_code == 401
        assert_429(proxy.get("/api/echo", headers=a))
        assert_429(proxy.get("/api/echo", headers=b))
        # Without a header the proxy itself is the client.
        assert proxy.get("/api/echo").status_code == 401
        assert_429(proxy.get("/api/echo"))


def test_the_right_most_untrusted_forwarded_entry_counts() -> None:
    gate = make_gate(rate_limit=1, trusted_proxies=parse_trusted_proxies("10.0.0.0/8"))
    with connect(gate, ("10.0.0.5", 4000)) as proxy:
        # The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the real peer.
        spoofed = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7"}
        assert proxy.get("/api/echo", headers=spoofed).status_code == 401
        respoofed = {"X-Forwarded-For": "7.7.7.7, 203.0.113.7"}
        assert_429(proxy.get("/api/echo", headers=respoofed))
        # The forged entry charged nobody: the real 6.6.6.6 still has its allowance.
        assert proxy.get("/api/echo", headers={"X-Forwarded-For": "6.6.6.6"}).status_code == 401
        # Through two trusted proxies, and split over two headers, it is still 203.0.113.7.
        chained = [("X-Forwarded-For", "8.8.8.8, 203.0.113.7"), ("X-Forwarded-For", "10.1.1.1")]
        assert_429(proxy.get("/api/echo", headers=chained))
        chained = [("X-Forwarded-For", "203.0.113.7, 203.0.113.8"), ("X-Forwarded-For", "10.1.1.1")]
        assert proxy.get("/api/echo", headers=chained).status_code == 401


def scope_of(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 1) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_client_ip() -> None:
    trusted = parse_trusted_proxies("10.0.0.0/8, ::1")
    assert client_ip(scope_of("1.2.3.4", "9.9.9.9")) == "1.2.3.4"  # default: the peer
    assert client_ip(scope_of(None)) == "unknown"
    assert client_ip(scope_of("1.2.3.4", "9.9.9.9"), trusted) == "1.2.3.4"  # untrusted peer
    assert client_ip(scope_of("10.0.0.1"), trusted) == "10.0.0.1"  # no header: the proxy
    assert client_ip(scope_of("10.0.0.1", "9.9.9.9, 10.0.0.2"), trusted) == "9.9.9.9"
    assert client_ip(scope_of("::1", "2001:db8::7"), trusted) == "2001:db8::7"
    # A dual-stack socket shows an IPv4 proxy as an IPv4-mapped address.
    assert client_ip(scope_of("::ffff:10.0.0.1", "9.9.9.9"), trusted) == "9.9.9.9"
    # Every entry trusted: the left-most is the best there is.
    assert client_ip(scope_of("10.0.0.1", "10.0.0.3, 10.0.0.2"), trusted) == "10.0.0.3"
    # Empty elements are skipped; a malformed one is what the proxy saw, taken as is.
    assert client_ip(scope_of("10.0.0.1", "9.9.9.9,, "), trusted) == "9.9.9.9"
    assert client_ip(scope_of("10.0.0.1", "9.9.9.9, unknown, 10.0.0.2"), trusted) == "unknown"
    assert client_ip(scope_of("10.0.0.1", " , "), trusted) == "10.0.0.1"


def test_a_trusted_proxy_s_forwarded_proto_keeps_redirects_on_https() -> None:
    """nginx terminates TLS; Starlette's trailing-slash redirect must not send the
    client to http. Only a trusted proxy says so (uvicorn's own rewrite is off)."""
    trusted = parse_trusted_proxies("10.0.0.0/8")
    https = {"X-Forwarded-Proto": "https", "X-API-Key": KEY}
    with connect(make_gate(trusted_proxies=trusted), ("10.0.0.5", 4000)) as proxy:
        r = proxy.get("/api/echo/", headers=https, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"].startswith("https://")
    with connect(make_gate(trusted_proxies=trusted), ("1.2.3.4", 4000)) as stranger:
        r = stranger.get("/api/echo/", headers=https, follow_redirects=False)
        assert r.headers["location"].startswith("http://")
