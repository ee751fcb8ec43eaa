"""CORS on the relay's real app: exact origins, preflights, admin routes never."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from browser_relay import SERVICE
from tests.browser_relay.relay import ADMIN, relay_env

ALLOWED = "https://shop.example.com"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    env = relay_env(tmp_path, CORS_ORIGINS=f"{ALLOWED},https://admin.shop.example.com")
    with TestClient(SERVICE.app(SERVICE.load(env))) as c:
        yield c


def test_a_preflight_from_an_allowed_origin_gets_every_header(client: TestClient) -> None:
    r = client.options(
        "/api/browser/errors",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-monlight-key, content-type",
        },
    )
    assert r.status_code == 204 and r.content == b""
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert r.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert r.headers["access-control-allow-headers"] == "X-Monlight-Key, Content-Type"
    assert r.headers["access-control-max-age"] == "86400"
    assert r.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    "origin", ["https://evil.example.com", "https://SHOP.example.com", f"{ALLOWED}/", "null"]
)
def test_other_origins_get_no_cors_headers(client: TestClient, origin: str) -> None:
    pre = client.options(
        "/api/browser/metrics", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert pre.status_code == 204
    assert not [h for h in pre.headers if h.startswith("access-control-")]
    post = client.post("/api/browser/errors", headers={"Origin": origin}, content=b"{}")
    assert post.status_code == 401
    assert not [h for h in post.headers if h.startswith("access-control-")]
    assert post.headers["vary"] == "Origin"


def test_answers_to_an_allowed_origin_carry_the_origin_even_refusals(client: TestClient) -> None:
    r = client.post("/api/browser/errors", headers={"Origin": ALLOWED}, content=b"{}")
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    big = client.post(
        "/api/browser/errors", headers={"Origin": ALLOWED}, content=b"x" * (70 * 1024)
    )
    assert big.status_code == 413 and big.headers["access-control-allow-origin"] == ALLOWED


def test_admin_routes_never_get_cors_headers(client: TestClient) -> None:
    for method, path in [("GET", "/api/dsn-keys"), ("OPTIONS", "/api/dsn-keys")]:
        r = client.request(method, path, headers={"Origin": ALLOWED, "X-API-Key": ADMIN})
        assert not [h for h in r.headers if h.startswith("access-control-")], (method, r.headers)
    assert client.get("/api/dsn-keys", headers={"X-API-Key": ADMIN}).status_code == 200


def test_without_cors_origins_nothing_is_allowed(tmp_path: Path) -> None:
    with TestClient(SERVICE.app(SERVICE.load(relay_env(tmp_path)))) as c:
        r = c.options(
            "/api/browser/errors",
            headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 204 and "access-control-allow-origin" not in r.headers
