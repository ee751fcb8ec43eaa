"""Hot routes: ingest endpoints served without Starlette's router, still behind the
gate, answering errors exactly as the Starlette routes do."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from shared.app import Context, HotRoute, HotRoutes, runtime
from shared.config import Settings, database_path_setting, load
from shared.db import Overloaded
from shared.responses import BadRequest, JSONResponse
from shared.service import Service

KEY = "hot-key"


@dataclass(frozen=True, kw_only=True)
class HotSettings(Settings):
    database_path: str = database_path_setting("hot.db")


async def add(ctx: Context[Any], body: bytes, scope: Scope) -> tuple[int, Any]:
    if body == b"overloaded":
        raise Overloaded
    if body == b"boom":
        raise RuntimeError("a bug")
    if not body:
        raise BadRequest("Request body is empty")
    text = body.decode()
    row_id = await ctx.db.write(
        lambda conn: conn.execute("INSERT INTO notes (body) VALUES (?)", (text,)).lastrowid
    )
    return 201, {"id": row_id, "length": len(body), "client": scope["client"][0]}


async def count(request: Any) -> JSONResponse:
    return JSONResponse({"route": "starlette"})


SERVICE: Service[HotSettings, Context[HotSettings]] = Service(
    name="hot_svc",
    title="Hot",
    port_offset=9,
    settings=HotSettings,
    migrations=["CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"],
    routes=[Route("/api/notes", count, methods=["GET"])],
    hot=[HotRoute("POST", "/api/notes", add)],
    context=Context,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load(
        HotSettings,
        {"API_KEY": KEY, "DATABASE_PATH": str(tmp_path / "hot.db"), "MAX_BODY_SIZE": "1000"},
    )
    with TestClient(SERVICE.app(settings), headers={"X-API-Key": KEY}) as test_client:
        yield test_client


def test_a_hot_route_writes_and_answers_json(client: TestClient) -> None:
    r = client.post("/api/notes", content=b"hello")
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"id": 1, "length": 5, "client": "testclient"}
    # The same path's other method is Starlette's as before; others are 405.
    assert client.get("/api/notes").json() == {"route": "starlette"}
    assert client.put("/api/notes").status_code == 405


def test_the_gate_still_guards_it(client: TestClient) -> None:
    assert client.post("/api/notes", content=b"x", headers={"X-API-Key": "wrong"}).json() == {
        "detail": "Invalid API key"
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: the gate counts as it reads
        for _ in range(20):
            yield b"x" * 100

    r = client.post("/api/notes", content=chunks())
    assert r.status_code == 413 and "exceeds 1000 bytes" in r.json()["detail"]
    small = client.post("/api/notes", content=iter([b"a" * 300, b"b" * 300]))
    assert small.status_code == 201 and small.json()["length"] == 600  # chunks joined


def test_errors_are_answered_as_starlettes_handlers_answer_them(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    r = client.post("/api/notes", content=b"")
    assert (r.status_code, r.json()) == (400, {"detail": "Request body is empty"})
    r = client.post("/api/notes", content=b"overloaded")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json() == {"detail": "Service overloaded, retry shortly"}
    with caplog.at_level(logging.ERROR):
        r = client.post("/api/notes", content=b"boom")
    assert (r.status_code, r.json()) == (500, {"detail": "Internal server error"})
    assert "unhandled error on POST /api/notes" in caplog.text and "a bug" in caplog.text


def test_a_client_gone_before_its_body_gets_no_answer_and_nothing_is_written(
    client: TestClient,
) -> None:
    state = runtime(client.app)  # type: ignore[arg-type]
    sent: list[Message] = []
    messages: list[Message] = [
        {"type": "http.request", "body": b"half", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise AssertionError("not for the router")

    hot = HotRoutes(app, SERVICE.hot, state)
    scope = {"type": "http", "method": "POST", "path": "/api/notes", "client": ("1.2.3.4", 1)}
    asyncio.run(hot(scope, receive, send))
    assert sent == []
    assert (
        state.db.writer.submit_sync(
            lambda conn: conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        )
        == 0
    )


def test_before_start_up_the_route_says_so(tmp_path: Path) -> None:
    settings = load(HotSettings, {"API_KEY": KEY, "DATABASE_PATH": str(tmp_path / "hot.db")})
    app = SERVICE.app(settings)
    client = TestClient(app, headers={"X-API-Key": KEY})  # no `with`: no lifespan ran
    r = client.post("/api/notes", content=b"early")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
