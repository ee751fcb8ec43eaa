"""The app every service is: gate, JSON errors, `/health`, and a lifespan.

The lifespan opens (and migrates) the database off the event loop, builds
the service's context, starts its workers; shutdown runs in reverse —
workers stop, queued writes commit, the database closes — also off the loop,
so a slow stop never stalls another service sharing the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.config import Settings
from shared.db import Database
from shared.middleware import Gate
from shared.responses import EXCEPTION_HANDLERS, JSONResponse, error_parts

if TYPE_CHECKING:
    from shared.service import Service

log = logging.getLogger("monlight")

S = TypeVar("S", bound=Settings)
#: A service's context type (the class of `Service.context`'s result).
C = TypeVar("C", bound="Context[Any]")
#: The context type a caller asks for.
K = TypeVar("K", bound="Context[Any]")


class Worker(Protocol):
    """Background work: started after the context exists, stopped before the DB closes.

    `stop()` may block (it waits for the thread); the lifespan calls it off the loop.
    """

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(eq=False)
class Context(Generic[S]):
    """What a running service's handlers and workers share.

    A service with parts of its own (an alert sender, a cache) subclasses it;
    handlers get theirs with `MyContext.of(request)`, typed.
    """

    settings: S
    db: Database

    @classmethod
    def of(cls: type[K], request: Request) -> K:
        return runtime(request.app).context_as(cls)


class Runtime(Generic[C]):
    """One app's live state, the only thing kept on `app.state`: the context
    while the lifespan runs (None before and after) and the running workers."""

    def __init__(self, service: Service[Any, C], settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.context: C | None = None
        self.workers: list[Worker] = []

    @property
    def db(self) -> Database:
        if self.context is None:
            raise RuntimeError(f"{self.service.name} is not running")
        return self.context.db

    def drain(self) -> None:
        """The server is shutting down and about to wait for open connections: end
        the responses that would otherwise hold it (live tails) — the service's hook."""
        hook = self.service.drain
        if hook is not None and self.context is not None:
            hook(self.context)

    def context_as(self, cls: type[K]) -> K:
        context = self.context
        if not isinstance(context, cls):
            raise RuntimeError(f"{self.service.name} is not running (or its context is no {cls})")
        return context


def runtime(app: Starlette) -> Runtime[Any]:
    """The live state of an app built by `create_app` (tests reach in through it)."""
    found = app.state.runtime
    assert isinstance(found, Runtime)
    return found


def health_route(state: Runtime[Any]) -> Route:
    async def health(request: Request) -> Response:
        context = state.context
        if context is None:
            return JSONResponse({"status": "error", "detail": "database not open"}, 503)
        problem = context.db.health()
        if problem is not None and context.db.writer.storage_error is not None:
            await context.db.probe_write()  # space may be back: find out
            problem = context.db.health()
        if problem is not None:
            return JSONResponse({"status": "error", "detail": problem}, 503)
        try:
            body: dict[str, Any] = {"status": "ok"}
            extra = state.service.health
            if extra is None:
                await context.db.read(lambda conn: conn.execute("SELECT 1").fetchone())
            else:
                body.update(await extra(context))
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


async def _stop_workers(state: Runtime[Any]) -> None:
    for worker in reversed(state.workers):
        try:
            await asyncio.to_thread(worker.stop)
        except Exception:  # noqa: BLE001 - keep shutting down the rest
            log.exception("worker failed to stop")
    state.workers.clear()


#: A hot route's work: the context, the whole body and the scope in; (status, JSON) out.
HotHandler = Callable[[Any, bytes, Scope], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """An ingest endpoint, answered without Starlette's router, Request and Response.

    Ingestion is the hot path: at thousands of requests a second, Starlette's
    layers (exception middleware twice, the router's regex walk, a Request, a
    Response) cost about a sixth of the event loop's time per request, for a
    route that only reads a body and answers JSON. Its handler raises what any
    handler raises (ApiError, Overloaded...), answered as Starlette would.
    """

    method: str
    path: str
    handler: HotHandler

    def route(self, state: Runtime[Any]) -> Route:
        """The same handler as a Starlette route: listed with the others (405s, docs)
        and answering should a request ever reach the router."""
        handler = self.handler

        async def endpoint(request: Request) -> Response:
            if state.context is None:  # before start-up or after shutdown
                return JSONResponse({"detail": "Service is not running"}, 503, {"Retry-After": "5"})
            status, content = await handler(state.context, await request.body(), request.scope)
            return JSONResponse(content, status)

        return Route(self.path, endpoint, methods=[self.method])


class HotRoutes:
    """Serves the hot routes inside the gate (so key, body limit and rate limits
    hold), passing every other request on to Starlette."""

    def __init__(self, app: ASGIApp, routes: Sequence[HotRoute], state: Runtime[Any]) -> None:
        self.app = app
        self.state = state
        self.routes = {(r.method, r.path): r.handler for r in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None and self.state.context is not None:
                await self._serve(handler, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, handler: HotHandler, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was in: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        headers: dict[str, str] | None = None
        try:
            status, content = await handler(self.state.context, body, scope)
            payload = orjson.dumps(content)
        except Exception as exc:  # noqa: BLE001 - every failure gets its JSON answer
            status, detail, headers = error_parts(exc)
            if status == 500:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            payload = orjson.dumps({"detail": detail})
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
        for key, value in (headers or {}).items():
            raw.append((key.lower().encode(), value.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def create_app(service: Service[S, Any], settings: S) -> Starlette:
    """The service's routes (API, then UI) behind body limit → key → rate limits."""
    state: Runtime[Any] = Runtime(service, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await Database.open(
            settings.database_path, service.migrations, synchronous=settings.sqlite_synchronous
        )
        try:
            context = state.context = service.context(settings, db)
            if service.startup is not None:
                await service.startup(context)
            for worker in service.workers(context):
                worker.start()
                state.workers.append(worker)
            yield
        finally:
            await _stop_workers(state)
            if state.context is not None and service.shutdown is not None:
                try:
                    await service.shutdown(state.context)
                except Exception:  # noqa: BLE001 - the database must still close
                    log.exception("%s: shutdown hook failed", service.name)
            state.context = None
            await db.aclose()

    def too_large(scope: Scope, detail: str) -> None:
        if service.body_refused is not None and state.context is not None:
            service.body_refused(state.context, scope, detail)

    routes = [health_route(state), *(hot.route(state) for hot in service.hot), *service.routes]
    if service.ui is not None:
        routes += service.ui.routes(service.key_var, service.stack_key_env)
    outer = list(service.middleware(settings)) if service.middleware is not None else []
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(StartupErrorLine),
            *outer,
            Middleware(
                Gate,
                max_body=settings.max_body_size,
                body_limits=service.body_limits,
                rate_limit=settings.rate_limit,
                key_rate_limit=settings.key_rate_limit,
                api_key=settings.api_key or None,
                trusted_proxies=settings.trusted_proxies,
                applies=service.keyed_paths,
                on_too_large=too_large,
            ),
            *([Middleware(HotRoutes, routes=service.hot, state=state)] if service.hot else []),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = state
    return app
