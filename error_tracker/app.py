"""Error Tracker: its context, thin handlers over ingestion, listing, detail,
resolve, and the one declaration of the service (`SERVICE`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from error_tracker import search, web_ui
from error_tracker.alerts import Alert, Alerter
from error_tracker.config import TrackerSettings
from error_tracker.database import MIGRATIONS
from error_tracker.detail import get_error
from error_tracker.ingestion import Groups, parse_report, store
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
from shared.app import Context, HotRoute, Worker
from shared.responses import ApiError, JSONResponse, NotFound
from shared.service import Service
from shared.validate import path_int

NOT_FOUND = "Error not found"


@dataclass(eq=False)
class Tracker(Context[TrackerSettings]):
    """The running tracker: settings, database and the alert sender."""

    alerter: Alerter = field(init=False)
    #: The writer's memory of the groups (touched only in write jobs).
    groups: Groups = field(default_factory=Groups)

    def __post_init__(self) -> None:
        self.alerter = Alerter(self.settings)

    def workers(self) -> list[Worker]:
        return [
            self.alerter,
            retention_worker(self.db, self.settings.retention_days),
            search.indexer(self.db),
        ]


async def post_error(tracker: Tracker, body: bytes, scope: Scope) -> tuple[int, Any]:
    report = parse_report(body)
    outcome = await tracker.db.write(lambda conn: store(conn, report, groups=tracker.groups))
    if outcome.status != "incremented":  # new, or a regression: once each, never per repeat
        tracker.alerter.notify(
            Alert(
                outcome.id,
                report.project,
                report.exception_type,
                report.message,
                report.traceback,
                regression=outcome.status == "reopened",
            )
        )
    return outcome.http_status, outcome.body()


async def get_errors(request: Request) -> Response:
    filters = parse_filters(request.query_params)
    db = Tracker.of(request).db
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
    found = await Tracker.of(request).db.read(lambda conn: get_error(conn, error_id))
    if found is None:
        raise NotFound(NOT_FOUND)
    return JSONResponse(found)


async def post_resolve(request: Request) -> Response:
    error_id = path_int(request.path_params["id"], NOT_FOUND)
    if not await Tracker.of(request).db.write(lambda conn: resolve(conn, error_id)):
        raise NotFound(NOT_FOUND)
    return JSONResponse({"status": "resolved", "id": error_id})


async def get_projects(request: Request) -> Response:
    return JSONResponse({"projects": await Tracker.of(request).db.read(list_projects)})


async def post_test_alert(request: Request) -> Response:
    alerter = Tracker.of(request).alerter
    if not alerter.enabled:
        raise ApiError(503, f"SMTP not configured: set {alerter.missing()}")
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
    Route("/api/errors", get_errors, methods=["GET"]),
    Route("/api/errors/{id}", get_error_detail, methods=["GET"]),
    Route("/api/errors/{id}/resolve", post_resolve, methods=["POST"]),
    Route("/api/projects", get_projects, methods=["GET"]),
    Route("/api/test-alert", post_test_alert, methods=["POST"]),
]


SERVICE: Service[TrackerSettings, Tracker] = Service(
    name="error_tracker",
    title="Error Tracker",
    port_offset=0,
    settings=TrackerSettings,
    migrations=MIGRATIONS,
    routes=ROUTES,
    hot=[HotRoute("POST", "/api/errors", post_error)],
    context=Tracker,
    workers=Tracker.workers,
    ui=web_ui.UI,
)
