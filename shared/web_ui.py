"""Serving a service's web UI: HTML shells and static assets, the same way everywhere.

The pages carry no data (the browser fetches everything from `/api/*` with the
key the user typed), so pages and assets are served without a key. Assets are
read once at start-up into memory: only files found then can ever be served,
so no request path reaches the file system. Each asset URL carries its content
hash (`?v=`), which lets browsers cache it for good while a new release is
picked up at once.

`shared/static/` holds what every UI shares (`ui.js`: key prompt, API calls,
DOM helpers; `base.css`: the house look); a service serves it under
`static/shared/` next to its own assets (`load_ui_assets`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from shared.responses import error

SHARED_STATIC_DIR = Path(__file__).resolve().parent / "static"

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

#: Assets whose URL carries their content hash may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Anything else is revalidated on every use (cheap: the ETag answers 304).
REVALIDATE = "no-cache"

#: The pages load only their own scripts and styles and talk only to their own API,
#: so even a rendering bug could not run injected markup.
PAGE_HEADERS = {
    "Cache-Control": REVALIDATE,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str  # also the version in the asset's URL


def load_assets(directory: Path, prefix: str = "") -> dict[str, Asset]:
    """Every servable file under `directory` (subfolders too), by relative path."""
    assets: dict[str, Asset] = {}
    for path in sorted(directory.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        name = prefix + path.relative_to(directory).as_posix()
        assets[name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return assets


def load_ui_assets(directory: Path) -> dict[str, Asset]:
    """A service's own assets plus the shared ones under `shared/`."""
    return {**load_assets(SHARED_STATIC_DIR, "shared/"), **load_assets(directory)}


def asset_url(assets: Mapping[str, Asset], name: str, root: str = "./") -> str:
    """The versioned URL of an asset, relative to a page whose root is `root`."""
    return f"{root}static/{name}?v={assets[name].etag}"


def asset_response(request: Request, asset: Asset) -> Response:
    cache = IMMUTABLE if request.query_params.get("v") == asset.etag else REVALIDATE
    headers = {
        "Cache-Control": cache,
        "ETag": f'"{asset.etag}"',
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def page_route(path: str, html: str, name: str) -> Route:
    """A GET route answering with a fixed HTML shell and the page security headers."""

    async def serve(request: Request) -> Response:
        return HTMLResponse(html, headers=PAGE_HEADERS)

    return Route(path, serve, methods=["GET"], name=name)


def static_route(assets: Mapping[str, Asset]) -> Route:
    """`GET /static/<path>` for exactly the loaded assets; anything else is a 404."""

    async def static(request: Request) -> Response:
        asset = assets.get(request.path_params["path"])
        if asset is None:
            return error(404, "Not found")
        return asset_response(request, asset)

    return Route("/static/{path:path}", static, methods=["GET"], name="ui_static")
