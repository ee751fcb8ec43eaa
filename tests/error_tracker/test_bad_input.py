"""Bad input gets a clear 4xx naming the problem, and stores nothing; odd text is just text."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from error_tracker import SERVICE as TRACKER
from shared.app import runtime
from shared.validate import MAX_JSON_DEPTH
from tests.conftest import AUTH, tracker_config
from tests.error_tracker.conftest import at_line, report, row_counts
from tests.helpers import ServiceProcess, tracker_env


@pytest.fixture
def seeded(tracker: TestClient) -> Iterator[TestClient]:
    """A tracker holding one error, whose row counts must not change."""
    assert tracker.post("/api/errors", json=report()).status_code == 201
    before = row_counts(tracker)
    yield tracker
    assert row_counts(tracker) == before, "a rejected request stored something"


def rejected(client: TestClient, field: str, status: int = 400, **kwargs: Any) -> str:
    r = client.post("/api/errors", **kwargs)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and field in detail, detail
    return detail


WRONG_TYPES = [
    ("project", 42),
    ("project", ["shop"]),
    ("project", {"name": "shop"}),
    ("project", True),
    ("exception_type", 1.5),
    ("message", ["a"]),
    ("message", False),
    ("traceback", {"frames": []}),
    ("request_url", 80),
    ("request_method", ["GET"]),
    ("request_headers", "Accept: */*"),
    ("request_headers", [["Accept", "*/*"]]),
    ("user_id", 42),
    ("extra", [1, 2]),
    ("extra", "text"),
    ("extra", 3),
    ("environment", 1),
]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_wrong_type_is_400_naming_field(seeded: TestClient, field: str, value: Any) -> None:
    rejected(seeded, field, json=report(**{field: value}))


@pytest.mark.parametrize("value", [{"Accept": 1}, {"Accept": None}, {"X": ["a"]}, {"X": {}}])
def test_non_string_header_value_is_400(seeded: TestClient, value: Any) -> None:
    detail = rejected(seeded, "request_headers", json=report(request_headers=value))
    assert next(iter(value)) in detail


@pytest.mark.parametrize("field", ["project", "exception_type", "message", "traceback"])
def test_missing_or_null_required_field_is_400(seeded: TestClient, field: str) -> None:
    body = report()
    del body[field]
    assert "required" in rejected(seeded, field, json=body)
    rejected(seeded, field, json=report(**{field: None}))


@pytest.mark.parametrize("field", ["project", "exception_type"])
def test_empty_project_or_type_is_400(seeded: TestClient, field: str) -> None:
    rejected(seeded, field, json=report(**{field: ""}))


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("project", 100),
        ("exception_type", 200),
        ("request_url", 500),
        ("request_method", 10),
        ("user_id", 100),
    ],
)
def test_over_long_field_is_400(seeded: TestClient, field: str, limit: int) -> None:
    assert str(limit) in rejected(seeded, field, json=report(**{field: "x" * (limit + 1)}))


def test_fields_at_their_limits_are_accepted(tracker: TestClient) -> None:
    body = report(
        project="p" * 100,
        exception_type="E" * 200,
        request_url="u" * 500,
        request_method="M" * 10,
        user_id="i" * 100,
    )
    assert tracker.post("/api/errors", json=body).status_code == 201
    # Limits count characters, not bytes.
    wide = report(project="🚀" * 100, exception_type="É" * 200)
    r = tracker.post("/api/errors", json=wide)
    assert r.status_code == 201, r.text
    assert tracker.get(f"/api/errors/{r.json()['id']}").json()["project"] == "🚀" * 100


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"project": "p",}',
        b"[]",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"42",
        b"",
        b"project=shop",
        b"\xff\xfe{}",
        b"NaN",
        b"[" * 5000 + b"]" * 5000,
        b'{"project": "\\ud800"}',
        b'{"extra": {"n": 1e400}}',
    ],
)
def test_unparseable_or_non_object_body_is_400(seeded: TestClient, body: bytes) -> None:
    r = seeded.post("/api/errors", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


def test_deeply_nested_extra_is_400(seeded: TestClient) -> None:
    # Valid JSON (orjson reads 1024 levels) that cannot be stored back as JSON text.
    head = orjson.dumps(report())[:-1]
    body = head + b', "extra": ' + b'{"a": ' * 300 + b"1" + b"}" * 300 + b"}"
    rejected(seeded, "extra", content=body)


def nested_extra(levels: int) -> Any:
    nested: Any = "leaf"
    for i in range(levels):
        nested = {"a": nested} if i % 2 else [nested]
    return nested


def test_moderately_nested_extra_round_trips(tracker: TestClient) -> None:
    nested = {"a": nested_extra(MAX_JSON_DEPTH - 1)}  # exactly the limit
    r = tracker.post("/api/errors", content=orjson.dumps(report(extra=nested)))
    assert r.status_code == 201
    detail = tracker.get(f"/api/errors/{r.json()['id']}")
    assert detail.status_code == 200
    assert detail.json()["occurrences"][0]["extra"] == nested


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 251, 252, 253])
def test_extra_nested_past_the_limit_is_400_and_the_group_stays_readable(
    tracker: TestClient, levels: int
) -> None:
    """orjson could store 252-254 levels but the detail response then broke (500)."""
    first = tracker.post("/api/errors", json=report())
    head = orjson.dumps(report())[:-1]  # written by hand: orjson would refuse to write it
    extra = b'{"a": ' + b"[" * (levels - 1) + b"1" + b"]" * (levels - 1) + b"}"
    r = tracker.post("/api/errors", content=head + b', "extra": ' + extra + b"}")
    assert r.status_code == 400 and "extra" in r.json()["detail"]
    assert tracker.get(f"/api/errors/{first.json()['id']}").status_code == 200


def test_two_mib_body_is_413(seeded: TestClient) -> None:
    big = report(message="m" * (2 * 1024 * 1024))
    r = seeded.post("/api/errors", json=big)
    assert r.status_code == 413
    assert "detail" in r.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    service = ServiceProcess("error_tracker", tracker_env(tmp_path_factory.mktemp("bad"))).start()
    yield service
    service.stop()


def test_chunked_two_mib_body_is_413_on_a_real_server(server: ServiceProcess) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"project": "shop", "exception_type": "E", "traceback": "", "message": "'
        for _ in range(32):
            sent += 65536
            yield b"m" * 65536
        yield b'"}'

    with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
        r = client.post("/api/errors", content=body())
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert r.status_code == 413
        assert "262144" in r.json()["detail"]
        with_length = client.post("/api/errors", content=b"x" * (2 * 1024 * 1024))
        assert with_length.status_code == 413
        assert client.get("/api/errors", params={"resolved": "all"}).json()["total"] == 0
        # The server is still healthy and accepts normal reports afterwards.
        assert client.post("/api/errors", json=report()).status_code == 201


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("resolved", "maybe"),
        ("resolved", "TRUE1"),
        ("limit", "-1"),
        ("limit", "abc"),
        ("limit", "1.5"),
        ("offset", "-1"),
        ("offset", "x"),
        ("source", "mobile"),
        ("since", "yesterday"),
        ("since", "1700000000"),
        ("since", "2026-13-01T00:00:00Z"),
        ("since", "0001-01-01T00:00:00+01:00"),
        ("since", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_malformed_query_is_400_naming_param(tracker: TestClient, param: str, value: str) -> None:
    r = tracker.get("/api/errors", params={param: value})
    assert r.status_code == 400, r.text
    assert param in r.json()["detail"]


def test_huge_paging_numbers_are_past_the_end_not_a_crash(tracker: TestClient) -> None:
    tracker.post("/api/errors", json=report())
    huge = "9" * 30  # beyond SQLite's 64-bit integers
    page = tracker.get("/api/errors", params={"offset": huge})
    assert page.status_code == 200 and page.json()["errors"] == []
    assert page.json()["total"] == 1
    capped = tracker.get("/api/errors", params={"limit": huge}).json()
    assert capped["limit"] == 200 and len(capped["errors"]) == 1
    assert tracker.get("/api/errors", params={"limit": "9" * 5000}).status_code == 400


def test_over_long_search_is_400_not_a_crash(tracker: TestClient) -> None:
    tracker.post("/api/errors", json=report(message="x" * 1000))
    assert tracker.get("/api/errors", params={"search": "x" * 1000}).json()["total"] == 1
    for search in ("x" * 60_000, "%" * 20_000, "🚀" * 1001):
        r = tracker.get("/api/errors", params={"search": search})
        assert r.status_code == 400
        assert "search" in r.json()["detail"]


# --- SQL and LIKE metacharacters are plain text ------------------------------

MESSAGES = {
    "quote": "it's broken",
    "percent": "disk 100% full",
    "underscore": "bad field_name",
    "dashes": "value -- comment",
    "backslash": r"path C:\temp\x",
    "dquote": 'say "hi"',
    "plain": "nothing special here",
    "injection": "x'); DROP TABLE errors; --",
}


@pytest.fixture
def metachar_errors(tracker: TestClient) -> dict[str, int]:
    return {
        name: tracker.post("/api/errors", json=at_line(i + 1, message=msg)).json()["id"]
        for i, (name, msg) in enumerate(MESSAGES.items())
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("'", {"quote", "injection"}),
        ("%", {"percent"}),
        ("_", {"underscore"}),
        ("--", {"dashes", "injection"}),
        ("\\", {"backslash"}),
        ('"', {"dquote"}),
        ("100%", {"percent"}),
        ("fiel_", set()),  # `_` is not a wildcard
        ("field_", {"underscore"}),
        ("%full", set()),  # `%` is not a wildcard
        ("\\t", {"backslash"}),
        ("DROP TABLE", {"injection"}),
    ],
)
def test_search_treats_metacharacters_literally(
    tracker: TestClient, metachar_errors: dict[str, int], search: str, expected: set[str]
) -> None:
    r = tracker.get("/api/errors", params={"search": search})
    assert r.status_code == 200, r.text
    by_id = {v: k for k, v in metachar_errors.items()}
    assert {by_id[e["id"]] for e in r.json()["errors"]} == expected
    assert tracker.get("/api/errors").json()["total"] == len(MESSAGES)  # table intact


@pytest.mark.parametrize(
    "value", ["o'brien", "100%", "a_b", "x -- y", "back\\slash", 'q"q', "'; DELETE FROM errors; --"]
)
def test_project_and_session_metacharacters_are_literal(tracker: TestClient, value: str) -> None:
    hit = tracker.post(
        "/api/errors", json=at_line(1, project=value, extra={"session_id": value})
    ).json()["id"]
    tracker.post("/api/errors", json=at_line(2, project="aXb", extra={"session_id": "aXb"}))
    tracker.post("/api/errors", json=at_line(3, project="100", extra={"session_id": "100"}))
    for param in ("project", "session_id"):
        r = tracker.get("/api/errors", params={param: value})
        assert r.status_code == 200, r.text
        assert [e["id"] for e in r.json()["errors"]] == [hit], param
    assert value in tracker.get("/api/projects").json()["projects"]
    assert tracker.get("/api/errors").json()["total"] == 3


def test_unicode_and_html_round_trip_unchanged(tracker: TestClient) -> None:
    message = "Ünïcødé ✓ 日本語 🚀 \u0000 zero-width\u200b <img src=x onerror=alert(1)>"
    html_type = "<script>alert('x')</script>"
    headers = {"X-Note": "<b>bold</b> & ünï"}
    r = tracker.post(
        "/api/errors",
        json=report(
            message=message,
            exception_type=html_type,
            request_headers=headers,
            extra={"ключ": "значение ✓"},
        ),
    )
    assert r.status_code == 201
    detail = tracker.get(f"/api/errors/{r.json()['id']}").json()
    assert detail["message"] == message
    assert detail["exception_type"] == html_type
    assert detail["occurrences"][0]["request_headers"] == headers
    assert detail["occurrences"][0]["extra"] == {"ключ": "значение ✓"}
    assert tracker.get("/api/errors", params={"search": "日本語"}).json()["total"] == 1
    with sqlite3.connect(runtime(tracker.app).settings.database_path) as conn:
        assert conn.execute("SELECT message FROM errors").fetchone()[0] == message


# --- routing, methods, rate limit ---------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope", "/api/errors/1/nope", "/nope", "/api"])
def test_unknown_route_is_404_json(tracker: TestClient, path: str) -> None:
    r = tracker.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/errors"),
        ("PUT", "/api/errors"),
        ("GET", "/api/errors/1/resolve"),
        ("POST", "/api/projects"),
        ("DELETE", "/api/errors/1"),
        ("POST", "/health"),
    ],
)
def test_wrong_method_is_405_json(tracker: TestClient, method: str, path: str) -> None:
    tracker.post("/api/errors", json=report())
    r = tracker.request(method, path)
    assert r.status_code == 405
    assert r.json() == {"detail": "Method not allowed"}


def test_an_error_storm_with_the_key_is_never_rate_limited(tmp_path: Path) -> None:
    """RATE_LIMIT throttles keyless clients per IP; an app reporting with its key
    is never throttled by its own address (errors would be lost)."""
    app = TRACKER.app(tracker_config(tmp_path, RATE_LIMIT="3"))
    with TestClient(app) as client:
        codes = {client.post("/api/errors", json=report(), headers=AUTH).status_code}
        codes |= {
            client.post("/api/errors", json=report(), headers=AUTH).status_code for _ in range(20)
        }
        assert codes == {200, 201}
        assert client.get("/api/errors", headers=AUTH).json()["errors"][0]["count"] == 21
        # Key guessing from the same address is limited after three tries.
        wrong = {"X-API-Key": "guess"}
        assert [client.get("/api/errors", headers=wrong).status_code for _ in range(3)] == [401] * 3
        r = client.post("/api/errors", json=report(), headers=wrong)
        assert r.status_code == 429
        assert r.json() == {"detail": "Rate limit exceeded"}
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert client.get("/health").status_code == 200
        assert client.post("/api/errors", json=report(), headers=AUTH).json()["count"] == 22


@pytest.mark.parametrize("search", ["abc\x00def", "\x00ab", "a\x00"])
def test_search_with_a_nul_character_is_400_not_a_crash(tracker: TestClient, search: str) -> None:
    # FTS5 reads its query as a C string: a NUL cut the phrase short ("unterminated string").
    tracker.post("/api/errors", json={**report(), "message": "abc"})
    r = tracker.get("/api/errors", params={"search": search})
    assert r.status_code == 400
    assert "search" in r.json()["detail"]
