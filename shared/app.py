"""The app factory every service builds on: middleware, errors, health, lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import Database, Migration
from shared.middleware import Gate, client_ip
from shared.responses import EXCEPTION_HANDLERS, JSONResponse

log = logging.getLogger("monlight")


class Worker(Protocol):
    """A background worker: started after migrations, stopped before the DB closes."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


HealthExtra = Callable[[Database], Awaitable[dict[str, Any]]]


async def _ping(db: Database) -> None:
    await db.read(lambda conn: conn.execute("SELECT 1").fetchone())


def health_route(extra: HealthExtra | None = None) -> Route:
    async def health(request: Request) -> Response:
        db: Database | None = getattr(request.app.state, "db", None)
        if db is None:
            return JSONResponse({"status": "error", "detail": "database not open"}, 503)
        try:
            body: dict[str, Any] = {"status": "ok"}
            if extra is None:
                await _ping(db)
            else:
                body.update(await extra(db))
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            return JSONResponse({"status": "error", "detail": f"database: {exc}"}, 503)
        return JSONResponse(body)

    return Route("/health", health, methods=["GET"])


class StartupErrorLine:
    """Reports a failed start-up (e.g. a database newer than this release) as the
    exception's one line, not the traceback Starlette hands to uvicorn."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_short(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                lines = [ln for ln in str(message.get("message", "")).splitlines() if ln.strip()]
                message = {**message, "message": lines[-1] if lines else "start-up failed"}
            await send(message)

        await self.app(scope, receive, send_short)


def create_app(
    config: SimpleNamespace,
    *,
    routes: Sequence[BaseRoute],
    migrations: Sequence[Migration],
    workers: Callable[[Starlette], Sequence[Worker]] | None = None,
    health_extra: HealthExtra | None = None,
    rate_key: Callable[[Scope], str | None] = client_ip,
    api_key: str | None = None,
) -> Starlette:
    """Build a service: its routes behind body limit → rate limit → auth.

    The database opens (and migrates) in the lifespan, workers start after it,
    and shutdown runs in reverse: workers stop, queued writes commit, the
    database closes.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(config.database_path, migrations)
        app.state.db = db
        running: list[Worker] = []
        app.state.workers = running
        try:
            for worker in workers(app) if workers else ():
                worker.start()
                running.append(worker)
            yield
        finally:
            for worker in reversed(running):
                try:
                    worker.stop()
                except Exception:  # noqa: BLE001 - keep shutting down the rest
                    log.exception("worker failed to stop")
            db.close()
            app.state.db = None

    key = api_key if api_key is not None else getattr(config, "api_key", None)
    middleware = [
        Middleware(StartupErrorLine),
        Middleware(
            Gate,
            max_body=config.max_body_size,
            rate_limit=config.rate_limit,
            api_key=key or None,
            rate_key=rate_key,
        ),
    ]
    app = Starlette(
        routes=[health_route(health_extra), *routes],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.db = None
    return app


def db_of(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]
