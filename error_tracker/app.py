"""Error Tracker routes: thin handlers over ingestion, listing, detail, resolve."""

from __future__ import annotations

from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from error_tracker import search, web_ui
from error_tracker.alerts import Alert, Alerter
from error_tracker.database import MIGRATIONS
from error_tracker.detail import get_error
from error_tracker.ingestion import parse_report, store
from error_tracker.listing import (
    count_errors,
    count_key,
    list_page,
    parse_filters,
    search_plan,
)
from error_tracker.projects import list_projects
from error_tracker.resolve import resolve
from error_tracker.retention import retention_worker
from shared.app import Worker, create_app, db_of
from shared.responses import JSONResponse, NotFound, error
from shared.validate import path_int

NOT_FOUND = "Error not found"


async def post_error(request: Request) -> Response:
    report = parse_report(await request.body())
    outcome = await db_of(request).write(lambda conn: store(conn, report))
    if outcome.status == "created":
        request.app.state.alerter.notify(
            Alert(
                outcome.id, report.project, report.exception_type, report.message, report.traceback
            )
        )
    return JSONResponse(outcome.body(), outcome.http_status)


async def get_errors(request: Request) -> Response:
    filters = parse_filters(request.query_params)
    db = db_of(request)
    # How to search, and the total (a scan at 100k groups), hold until the next write.
    plan = (
        await db.read_cached(("errors.plan", filters.search), lambda c: search_plan(c, filters))
        if filters.search
        else None
    )
    total = await db.read_cached(count_key(filters), lambda c: count_errors(c, filters, plan))
    page = await db.read(lambda c: list_page(c, filters, plan))
    return JSONResponse(
        {"errors": page, "total": total, "limit": filters.limit, "offset": filters.offset}
    )


async def get_error_detail(request: Request) -> Response:
    error_id = path_int(request.path_params["id"], NOT_FOUND)
    found = await db_of(request).read(lambda conn: get_error(conn, error_id))
    if found is None:
        raise NotFound(NOT_FOUND)
    return JSONResponse(found)


async def post_resolve(request: Request) -> Response:
    error_id = path_int(request.path_params["id"], NOT_FOUND)
    if not await db_of(request).write(lambda conn: resolve(conn, error_id)):
        raise NotFound(NOT_FOUND)
    return JSONResponse({"status": "resolved", "id": error_id})


async def get_projects(request: Request) -> Response:
    return JSONResponse({"projects": await db_of(request).read(list_projects)})


async def post_test_alert(request: Request) -> Response:
    alerter: Alerter = request.app.state.alerter
    if not alerter.enabled:
        return error(503, f"SMTP not configured: set {alerter.missing()}")
    alerter.send_test()
    return JSONResponse(
        {
            "status": "test alert dispatched",
            "detail": f"sending to {', '.join(alerter.config.alert_emails)} via "
            f"{alerter.config.smtp_host}:{alerter.config.smtp_port}",
        },
        202,
    )


ROUTES = [
    Route("/api/errors", post_error, methods=["POST"]),
    Route("/api/errors", get_errors, methods=["GET"]),
    Route("/api/errors/{id}", get_error_detail, methods=["GET"]),
    Route("/api/errors/{id}/resolve", post_resolve, methods=["POST"]),
    Route("/api/projects", get_projects, methods=["GET"]),
    Route("/api/test-alert", post_test_alert, methods=["POST"]),
]


def build(config: SimpleNamespace) -> Starlette:
    alerter = Alerter(config)

    def workers(app: Starlette) -> list[Worker]:
        db = app.state.db
        return [alerter, retention_worker(db, config.retention_days), search.indexer(db)]

    app = create_app(
        config, routes=[*ROUTES, *web_ui.routes()], migrations=MIGRATIONS, workers=workers
    )
    app.state.alerter = alerter
    return app
