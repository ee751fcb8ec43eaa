"""Metrics Collector routes: thin handlers over ingestion, query, dashboard, aggregation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from metrics_collector import web_ui
from metrics_collector.aggregation import Aggregator
from metrics_collector.dashboard import dashboard, parse_dashboard_query
from metrics_collector.database import MIGRATIONS
from metrics_collector.ingestion import MAX_PROJECT, Catalog, parse_batch, store
from metrics_collector.query import (
    health_figures,
    list_names,
    list_projects,
    parse_metrics_query,
    query_metrics,
)
from shared.app import Worker, create_app, db_of
from shared.db import Database
from shared.responses import JSONResponse
from shared.validate import query_optional


async def post_metrics(request: Request) -> Response:
    batch = parse_batch(await request.body())
    catalog: Catalog = request.app.state.catalog
    known = catalog.known
    added = await db_of(request).write(lambda conn: store(conn, batch, known))
    if added:
        catalog.remember(added)
    return JSONResponse({"status": "accepted", "count": batch.count}, 202)


async def get_metrics(request: Request) -> Response:
    q = parse_metrics_query(request.query_params)
    return JSONResponse(await db_of(request).read(lambda conn: query_metrics(conn, q)))


async def get_names(request: Request) -> Response:
    project = query_optional(request.query_params, "project", MAX_PROJECT)
    names = await db_of(request).read(lambda conn: list_names(conn, project))
    return JSONResponse({"metrics": names})


async def get_projects(request: Request) -> Response:
    return JSONResponse({"projects": await db_of(request).read(list_projects)})


async def get_dashboard(request: Request) -> Response:
    q = parse_dashboard_query(request.query_params)
    return JSONResponse(await db_of(request).read(lambda conn: dashboard(conn, q)))


async def health_extra(db: Database) -> dict[str, Any]:
    return await db.read(health_figures)  # type: ignore[no-any-return]


ROUTES = [
    Route("/api/metrics", post_metrics, methods=["POST"]),
    Route("/api/metrics", get_metrics, methods=["GET"]),
    Route("/api/metrics/names", get_names, methods=["GET"]),
    Route("/api/projects", get_projects, methods=["GET"]),
    Route("/api/dashboard", get_dashboard, methods=["GET"]),
]


def build(config: SimpleNamespace) -> Starlette:
    catalog = Catalog()

    def workers(app: Starlette) -> list[Worker]:
        app.state.aggregator = Aggregator(app.state.db, config, catalog)
        return [app.state.aggregator]

    app = create_app(
        config,
        routes=[*ROUTES, *web_ui.routes()],
        migrations=MIGRATIONS,
        workers=workers,
        health_extra=health_extra,
    )
    app.state.catalog = catalog
    app.state.aggregator = None
    return app
