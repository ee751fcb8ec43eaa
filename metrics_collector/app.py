"""Metrics Collector: its context, thin handlers over ingestion, query, dashboard,
and the one declaration of the service (`SERVICE`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from metrics_collector import web_ui
from metrics_collector.aggregation import Aggregator
from metrics_collector.config import CollectorSettings
from metrics_collector.dashboard import dashboard, parse_dashboard_query
from metrics_collector.database import MIGRATIONS
from metrics_collector.ingestion import (
    MAX_PROJECT,
    Catalog,
    Rejections,
    parse_batch,
    store,
    window_at,
)
from metrics_collector.query import (
    TierCache,
    health_figures,
    label_values,
    list_names,
    list_projects,
    parse_labels_query,
    parse_list_query,
    parse_metrics_query,
    query_metrics_json,
)
from shared.app import Context, HotRoute, Worker
from shared.responses import ApiError, JSONResponse
from shared.service import Service
from shared.validate import query_optional


@dataclass(eq=False)
class Collector(Context[CollectorSettings]):
    """The running collector: settings, database, the series catalog, the aggregator."""

    catalog: Catalog = field(init=False, default_factory=Catalog)
    rejections: Rejections = field(init=False, default_factory=Rejections)
    #: Aggregated-tier rows of recent queries, until the aggregator next commits.
    tiers: TierCache = field(init=False, default_factory=TierCache)
    aggregator: Aggregator = field(init=False)

    def __post_init__(self) -> None:
        self.aggregator = Aggregator(self.db, self.settings, self.catalog, self.tiers)

    def workers(self) -> list[Worker]:
        return [self.aggregator]

    def body_refused(self, scope: Scope, detail: str) -> None:
        """A batch over MAX_BODY_SIZE is a refused batch too (the gate answered it)."""
        if scope["method"] == "POST" and scope["path"] == "/api/metrics":
            client = scope.get("client")
            self.rejections.record(client[0] if client else "unknown", detail)

    async def health(self) -> Mapping[str, Any]:
        figures = await self.db.read(health_figures)
        return {**figures, "rejected_batches_24h": self.rejections.last_24h()}


async def post_metrics(collector: Collector, body: bytes, scope: Scope) -> tuple[int, Any]:
    settings = collector.settings
    window = window_at(time.time(), settings.retention_hourly)
    catalog = collector.catalog
    known = catalog.known
    try:
        batch = parse_batch(body, window, settings.max_batch_points)
        added = await collector.db.write(
            lambda conn: store(conn, batch, known, settings.max_series)
        )
    except ApiError as exc:
        if exc.status_code < 500:  # refused for good, not "retry later": never silent
            client = scope.get("client")
            collector.rejections.record(client[0] if client else "unknown", exc.detail)
        raise
    if added:
        catalog.remember(added)
    return 202, {"status": "accepted", "count": batch.count}


async def get_metrics(request: Request) -> Response:
    q = parse_metrics_query(request.query_params)
    collector = Collector.of(request)
    tiers = collector.tiers
    answer = await collector.db.read(lambda conn: query_metrics_json(conn, q, tiers))
    return Response(answer, media_type="application/json")


async def get_names(request: Request) -> Response:
    project = query_optional(request.query_params, "project", MAX_PROJECT)
    q = parse_list_query(request.query_params)
    return JSONResponse(
        await Collector.of(request).db.read(lambda conn: list_names(conn, project, q))
    )


async def get_labels(request: Request) -> Response:
    q = parse_labels_query(request.query_params)
    return JSONResponse(await Collector.of(request).db.read(lambda conn: label_values(conn, q)))


async def get_projects(request: Request) -> Response:
    q = parse_list_query(request.query_params)
    return JSONResponse(await Collector.of(request).db.read(lambda conn: list_projects(conn, q)))


async def get_dashboard(request: Request) -> Response:
    q = parse_dashboard_query(request.query_params)
    return JSONResponse(await Collector.of(request).db.read(lambda conn: dashboard(conn, q)))


ROUTES = [
    Route("/api/metrics", get_metrics, methods=["GET"]),
    Route("/api/metrics/names", get_names, methods=["GET"]),
    Route("/api/metrics/labels", get_labels, methods=["GET"]),
    Route("/api/projects", get_projects, methods=["GET"]),
    Route("/api/dashboard", get_dashboard, methods=["GET"]),
]


SERVICE: Service[CollectorSettings, Collector] = Service(
    name="metrics_collector",
    title="Metrics Collector",
    port_offset=2,
    settings=CollectorSettings,
    migrations=MIGRATIONS,
    routes=ROUTES,
    hot=[HotRoute("POST", "/api/metrics", post_metrics)],
    context=Collector,
    workers=Collector.workers,
    health=Collector.health,
    body_refused=Collector.body_refused,
    ui=web_ui.UI,
)
