"""The web UI: list and detail pages, served with their assets (placeholder)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route


async def _index(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>Monlight errors</title><p>Error Tracker</p>")


def routes() -> list[BaseRoute]:
    return [Route("/", _index)]
