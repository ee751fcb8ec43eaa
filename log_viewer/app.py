"""Log Viewer: its context, thin handlers over listing, stats, histogram and the live
tail, and the one declaration of the service (`SERVICE`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from log_viewer import web_ui
from log_viewer.config import LogSettings
from log_viewer.database import MIGRATIONS
from log_viewer.histogram import histogram
from log_viewer.ingestion import Ingestor
from log_viewer.listing import MAX_CONTAINER, list_logs, parse_filters, parse_page
from log_viewer.sample import SampleLogs
from log_viewer.stats import containers, stats
from log_viewer.tail import TailHub, TooManyTails, stream
from shared.app import Context, Worker
from shared.responses import ApiError, JSONResponse
from shared.service import Service, StackPart, StackPlan
from shared.validate import query_optional


@dataclass(eq=False)
class LogViewer(Context[LogSettings]):
    """The running log viewer: settings, database, the ingestion worker, the tail hub."""

    hub: TailHub = field(init=False, default_factory=TailHub)
    ingestor: Ingestor = field(init=False)

    def __post_init__(self) -> None:
        self.ingestor = Ingestor(self.db, self.settings, self.hub.publish)

    def workers(self) -> list[Worker]:
        return [self.ingestor.worker]

    def drain(self) -> None:
        """Shutdown: every live tail ends with a close event, so none holds the stop."""
        self.hub.close_all("the server is shutting down")

    async def health(self) -> Mapping[str, Any]:
        return {"containers": len(self.ingestor.sources), "live_tails": self.hub.count}


async def get_logs(request: Request) -> Response:
    filters, page = parse_filters(request.query_params), parse_page(request.query_params)
    viewer = LogViewer.of(request)
    return JSONResponse(await viewer.db.read(lambda conn: list_logs(conn, filters, page)))


async def get_histogram(request: Request) -> Response:
    filters = parse_filters(request.query_params)
    return JSONResponse(await LogViewer.of(request).db.read(lambda c: histogram(c, filters)))


async def get_containers(request: Request) -> Response:
    return JSONResponse(await LogViewer.of(request).db.read(containers))


async def get_stats(request: Request) -> Response:
    return JSONResponse(await LogViewer.of(request).db.read(stats))


async def get_tail(request: Request) -> Response:
    container = query_optional(request.query_params, "container", MAX_CONTAINER)
    level = parse_filters(request.query_params).level
    hub = LogViewer.of(request).hub
    try:
        sub = hub.join(container, level)
    except TooManyTails as exc:
        raise ApiError(429, f"{exc}; close another tail first", {"Retry-After": "5"}) from None

    disconnected = asyncio.Event()

    async def watch() -> None:
        """The client leaving ends the stream at once, not at its next heartbeat."""
        while (await request.receive())["type"] != "http.disconnect":
            pass
        disconnected.set()

    async def events() -> AsyncIterator[bytes]:
        watcher = asyncio.ensure_future(watch())
        try:
            async for chunk in stream(sub, disconnected=disconnected):
                yield chunk
        finally:  # the client went away, the stream ended, or the server stops: free the slot
            watcher.cancel()
            hub.leave(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [
    Route("/api/logs", get_logs, methods=["GET"]),
    Route("/api/logs/tail", get_tail, methods=["GET"]),
    Route("/api/logs/histogram", get_histogram, methods=["GET"]),
    Route("/api/logs/containers", get_containers, methods=["GET"]),
    Route("/api/logs/stats", get_stats, methods=["GET"]),
    # Where the earlier implementation actually served these two.
    Route("/api/containers", get_containers, methods=["GET"]),
    Route("/api/stats", get_stats, methods=["GET"]),
]


def make_run(plan: StackPlan) -> StackPart:
    """`make run` has no Docker: it reads sample containers the stack keeps writing,
    unless LOG_SOURCES names real ones (the stack run as a system service)."""
    if os.environ.get("LOG_SOURCES"):
        return StackPart(note=f"reads {os.environ['LOG_SOURCES']} (LOG_SOURCES)")
    root = plan.data_dir / "sample-logs"
    return StackPart(
        env={"LOG_SOURCES": str(root)},
        workers=[SampleLogs(root)],
        note=f"reads sample logs written to {root} (set LOG_SOURCES for real ones)",
    )


SERVICE: Service[LogSettings, LogViewer] = Service(
    name="log_viewer",
    title="Log Viewer",
    port_offset=1,
    settings=LogSettings,
    migrations=MIGRATIONS,
    routes=ROUTES,
    context=LogViewer,
    workers=LogViewer.workers,
    health=LogViewer.health,
    drain=LogViewer.drain,
    ui=web_ui.UI,
    stack_part=make_run,
)
