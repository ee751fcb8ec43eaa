"""Error Tracker: its context, thin handlers over ingestion, listing, detail,
resolve, and the one declaration of the service (`SERVICE`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from error_tracker import dsn, search, sentry, web_ui
from error_tracker.alerts import Alert, Alerter
from error_tracker.config import TrackerSettings
from error_tracker.database import MIGRATIONS
from error_tracker.detail import get_error
from error_tracker.envelope import parse_envelope
from error_tracker.ingestion import Groups, Outcome, Report, parse_report, store
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
from error_tracker.sentry import (
    SentryIntake,
    answer_id,
    body_of,
    event_report,
    rate_limited,
    reports_of,
)
from shared.app import Context, HotRoute, Worker
from shared.db import Overloaded
from shared.keys import KeyRing
from shared.responses import ApiError, JSONResponse, NotFound
from shared.service import Service
from shared.validate import json_object, path_int, string_field

NOT_FOUND = "Error not found"


@dataclass(eq=False)
class Tracker(Context[TrackerSettings]):
    """The running tracker: settings, database and the alert sender."""

    alerter: Alerter = field(init=False)
    #: The writer's memory of the groups (touched only in write jobs).
    groups: Groups = field(default_factory=Groups)
    #: Sentry SDK traffic: the DSN key ring and what was dropped.
    sentry: SentryIntake = field(init=False)

    def __post_init__(self) -> None:
        self.alerter = Alerter(self.settings)
        self.sentry = SentryIntake(self._load_dsns)

    async def _load_dsns(self) -> KeyRing[dsn.Owner]:
        return KeyRing.of(await self.db.read(dsn.active_keys))

    async def startup(self) -> None:
        pairs = self.settings.sentry_dsn_keys
        if pairs:
            await self.db.write(lambda conn: dsn.seed(conn, pairs))

    async def store_all(self, reports: list[Report]) -> list[Outcome]:
        """Store reports in one write job, then alert on what is new or came back."""
        groups = self.groups
        outcomes = await self.db.write(
            lambda conn: [store(conn, report, groups=groups) for report in reports]
        )
        for report, outcome in zip(reports, outcomes, strict=True):
            if outcome.status != "incremented":  # new, or a regression: once each
                self.alerter.notify(
                    Alert(
                        outcome.id,
                        report.project,
                        report.exception_type,
                        report.message,
                        report.traceback,
                        regression=outcome.status == "reopened",
                    )
                )
        return outcomes

    def workers(self) -> list[Worker]:
        return [
            self.alerter,
            retention_worker(self.db, self.settings.retention_days),
            search.indexer(self.db),
        ]


async def post_error(tracker: Tracker, body: bytes, scope: Scope) -> tuple[int, Any]:
    (outcome,) = await tracker.store_all([parse_report(body)])
    return outcome.http_status, outcome.body()


def dsn_base(tracker: Tracker, request: Request) -> str:
    """Where DSNs point: BASE_URL when set, else the host this request came to."""
    return tracker.settings.base_url or f"{request.url.scheme}://{request.url.netloc}"


async def post_dsn(request: Request) -> Response:
    tracker = Tracker.of(request)
    data = json_object(await request.body())
    project = string_field(data, "project", required=True, min_len=1, max_len=100)
    assert project is not None
    base = dsn_base(tracker, request)
    created = await tracker.db.write(lambda conn: dsn.create(conn, project, base))
    tracker.sentry.changed()
    return JSONResponse(created, 201)


async def get_dsns(request: Request) -> Response:
    tracker = Tracker.of(request)
    base = dsn_base(tracker, request)
    listed = await tracker.db.read(lambda conn: dsn.list_dsns(conn, base))
    # What SDKs sent that was not kept since the service started, by kind.
    listed["dropped"] = dict(tracker.sentry.dropped)
    return JSONResponse(listed)


async def delete_dsn(request: Request) -> Response:
    tracker = Tracker.of(request)
    project_id = path_int(request.path_params["project_id"], "No such DSN key for this project")
    key = request.path_params["public_key"]
    if not await tracker.db.write(lambda conn: dsn.revoke(conn, project_id, key)):
        raise NotFound("No such DSN key for this project")
    tracker.sentry.changed()
    return JSONResponse({"status": "revoked"})


async def post_envelope(request: Request) -> Response:
    tracker = Tracker.of(request)
    project_id: int = request.path_params["project_id"]
    envelope = parse_envelope(body_of(await request.body(), request))
    project = await tracker.sentry.project_of(request, project_id, envelope.headers.get("dsn"))
    reports, event_id = reports_of(envelope, project, tracker.sentry)
    if reports:
        try:
            await tracker.store_all(reports)
        except Overloaded:
            raise rate_limited() from None
    return JSONResponse(answer_id(event_id))


async def post_store(request: Request) -> Response:
    tracker = Tracker.of(request)
    project_id: int = request.path_params["project_id"]
    body = body_of(await request.body(), request)
    project = await tracker.sentry.project_of(request, project_id)
    report, event_id = event_report(body, project)
    try:
        await tracker.store_all([report])
    except Overloaded:
        raise rate_limited() from None
    return JSONResponse(answer_id(event_id))


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
    Route("/api/dsn", post_dsn, methods=["POST"]),
    Route("/api/dsn", get_dsns, methods=["GET"]),
    Route("/api/dsn/{project_id}/{public_key}", delete_dsn, methods=["DELETE"]),
    Route("/api/{project_id:int}/envelope/", post_envelope, methods=["POST"]),
    Route("/api/{project_id:int}/store/", post_store, methods=["POST"]),
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
    startup=Tracker.startup,
    keyed_paths=sentry.keyed,
    ui=web_ui.UI,
)
