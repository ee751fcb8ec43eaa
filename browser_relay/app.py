"""Browser Relay: its context, thin handlers over keys, maps, errors, metrics and the
SDK, and the one declaration of the service (`SERVICE`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from browser_relay import keys, maps
from browser_relay.auth import Auth
from browser_relay.config import MAX_MAP_BYTES, MAX_PROJECT, RelaySettings
from browser_relay.cors import Cors, is_browser
from browser_relay.database import MIGRATIONS
from browser_relay.errors import parse_error, tracker_payload
from browser_relay.forwarding import Upstreams
from browser_relay.maps import Maps
from browser_relay.metrics import collector_batch
from browser_relay.retention import retention_worker
from browser_relay.sdk import Asset, load_sdk, serve
from browser_relay.upstream import Answer
from shared.app import Context, Worker
from shared.keys import KeyRing
from shared.middleware import is_api
from shared.responses import JSONResponse, NotFound
from shared.service import Service, StackPart, StackPlan
from shared.validate import json_object, path_int, query_optional, string_field

log = logging.getLogger("monlight.browser_relay")


@dataclass(eq=False)
class Relay(Context[RelaySettings]):
    """The running relay: settings, database, upstream connections, maps, keys, SDK."""

    upstreams: Upstreams = field(init=False)
    maps: Maps = field(init=False)
    auth: Auth = field(init=False)
    sdk: dict[str, Asset] = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.upstreams = Upstreams(
            s.error_tracker_url,
            s.error_tracker_api_key,
            s.metrics_collector_url,
            s.metrics_collector_api_key,
        )
        self.maps = Maps(self.db)
        self.auth = Auth(self._load_keys, s.rate_limit, s.trusted_proxies)
        self.sdk = load_sdk()

    async def _load_keys(self) -> KeyRing[str]:
        return KeyRing.of(await self.db.read(keys.active_keys))

    async def startup(self) -> None:
        pairs = self.settings.dsn_keys
        if pairs:
            added = await self.db.write(lambda c: keys.seed(c, pairs))
            if added:
                log.info("DSN_KEYS: %d key(s) added", added)

    async def shutdown(self) -> None:
        await self.upstreams.aclose()

    def workers(self) -> list[Worker]:
        return [retention_worker(self.db, self.settings.retention_days)]

    async def health(self) -> Mapping[str, Any]:
        active = await self.db.read(lambda c: len(keys.active_keys(c)))
        return {"active_keys": active, "cached_maps": len(self.maps.cache)}


def relayed(answer: Answer) -> Response:
    """An upstream's answer passed back as it came (its 2xx, or its 4xx)."""
    media_type = answer.header(b"content-type", b"application/json").decode("latin-1")
    return Response(answer.body, answer.status, media_type=media_type)


# -- admin (X-API-Key = ADMIN_API_KEY) -----------------------------------------


async def create_key(request: Request) -> Response:
    data = json_object(await request.body())
    project = string_field(data, "project", required=True, min_len=1, max_len=MAX_PROJECT)
    assert project is not None
    relay = Relay.of(request)
    created = await relay.db.write(lambda c: keys.create(c, project))
    relay.auth.changed()
    return JSONResponse(created, 201)


async def get_keys(request: Request) -> Response:
    return JSONResponse(await Relay.of(request).db.read(keys.list_keys))


async def delete_key(request: Request) -> Response:
    key_id = path_int(request.path_params["key_id"], "DSN key not found")
    relay = Relay.of(request)
    if not await relay.db.write(lambda c: keys.deactivate(c, key_id)):
        raise NotFound("DSN key not found")
    relay.auth.changed()
    return JSONResponse({"status": "deactivated"})


async def upload_map(request: Request) -> Response:
    project, release, file_url, content = maps.parse_upload(json_object(await request.body()))
    await Relay.of(request).maps.upload(project, release, file_url, content)
    return JSONResponse(
        {"status": "uploaded", "project": project, "release": release, "file_url": file_url},
        201,
    )


async def get_maps(request: Request) -> Response:
    project = query_optional(request.query_params, "project", MAX_PROJECT)
    return JSONResponse(await Relay.of(request).db.read(lambda c: maps.list_maps(c, project)))


async def delete_map(request: Request) -> Response:
    map_id = path_int(request.path_params["map_id"], "Source map not found")
    if not await Relay.of(request).db.write(lambda c: maps.delete(c, map_id)):
        raise NotFound("Source map not found")
    return JSONResponse({"status": "deleted"})


# -- browsers (DSN key) ---------------------------------------------------------


def browser_json(body: bytes) -> dict[str, Any]:
    """Beacons arrive as text/plain (or anything): the body is JSON whatever the type."""
    return json_object(body)


async def browser_error(request: Request) -> Response:
    relay = Relay.of(request)
    project = await relay.auth.project_of(request)
    error = parse_error(browser_json(await request.body()))
    stack, rewritten = await relay.maps.rewrite(project, error.release, error.stack)
    payload = tracker_payload(error, project, stack, error.stack if rewritten else None)
    return relayed(await relay.upstreams.error(payload))


async def browser_metrics(request: Request) -> Response:
    relay = Relay.of(request)
    project = await relay.auth.project_of(request)
    batch = collector_batch(browser_json(await request.body()), project)
    answer = await relay.upstreams.metrics(batch)
    if answer.status >= 300:
        return relayed(answer)
    return JSONResponse({"status": "accepted", "count": len(batch)}, 202)


async def sdk_file(request: Request) -> Response:
    return serve(Relay.of(request).sdk, request.path_params["name"], request)


ROUTES = [
    Route("/api/dsn-keys", create_key, methods=["POST"]),
    Route("/api/dsn-keys", get_keys, methods=["GET"]),
    Route("/api/dsn-keys/{key_id}", delete_key, methods=["DELETE"]),
    Route("/api/source-maps", upload_map, methods=["POST"]),
    Route("/api/source-maps", get_maps, methods=["GET"]),
    Route("/api/source-maps/{map_id}", delete_map, methods=["DELETE"]),
    Route("/api/browser/errors", browser_error, methods=["POST"]),
    Route("/api/browser/metrics", browser_metrics, methods=["POST"]),
    Route("/sdk/{name}", sdk_file, methods=["GET"]),
]


def is_admin(path: str) -> bool:
    """Every /api path but the browser routes takes the admin key (unknown ones too:
    a 401 says nothing about which admin routes exist)."""
    return is_api(path) and not is_browser(path)


def cors(settings: RelaySettings) -> Sequence[Middleware]:
    return [Middleware(Cors, origins=settings.cors_origins)]


#: Where a development server usually serves the page under test (`make run` only).
DEV_ORIGINS = tuple(
    f"http://{host}:{port}"
    for port in (3000, 5173, 8000, 8080)
    for host in ("localhost", "127.0.0.1")
)


def make_run(plan: StackPlan) -> StackPart:
    """`make run`: wired to the local tracker and collector, with a development DSN key
    and the local dev servers' origins, unless DSN_KEYS and CORS_ORIGINS say otherwise
    (the stack run as a system service)."""
    wiring = {
        "ERROR_TRACKER_URL": plan.urls["error_tracker"],
        "ERROR_TRACKER_API_KEY": plan.keys["error_tracker"],
        "METRICS_COLLECTOR_URL": plan.urls["metrics_collector"],
        "METRICS_COLLECTOR_API_KEY": plan.keys["metrics_collector"],
    }
    if os.environ.get("DSN_KEYS"):
        return StackPart(env=wiring, note="DSN keys from DSN_KEYS")
    key_file = plan.data_dir / "dev-dsn-key"
    if key_file.exists():
        dsn = key_file.read_text().strip()
    else:
        dsn = keys.new_key()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(dsn + "\n")
    return StackPart(
        env={
            **wiring,
            "DSN_KEYS": f"dev:{dsn}",
            "CORS_ORIGINS": ",".join(DEV_ORIGINS),
        },
        note=f"DSN key for browsers (project dev): {dsn}; pages may call it from"
        f" {', '.join(o.removeprefix('http://') for o in DEV_ORIGINS)} (set CORS_ORIGINS)",
    )


SERVICE: Service[RelaySettings, Relay] = Service(
    name="browser_relay",
    title="Browser Relay",
    port_offset=3,
    settings=RelaySettings,
    migrations=MIGRATIONS,
    routes=ROUTES,
    context=Relay,
    workers=Relay.workers,
    startup=Relay.startup,
    shutdown=Relay.shutdown,
    health=Relay.health,
    keyed_paths=is_admin,
    body_limits={"/api/source-maps": MAX_MAP_BYTES},
    middleware=cors,
    forwards_to=("error_tracker", "metrics_collector"),
    test_env={
        "ERROR_TRACKER_URL": "http://127.0.0.1:9",
        "ERROR_TRACKER_API_KEY": "tracker-key",
        "METRICS_COLLECTOR_URL": "http://127.0.0.1:9",
        "METRICS_COLLECTOR_API_KEY": "collector-key",
    },
    stack_part=make_run,
)
