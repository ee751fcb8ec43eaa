"""The web UI: two HTML shells (list, detail) and their static assets.

The pages carry no data: the browser fetches everything from `/api/*` with
the key the user typed, so pages and assets are served without a key. The
HTML uses paths relative to the page (`./static/...`, `../static/...`), so
the UI also works behind a reverse proxy that mounts the service under a
prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from shared.responses import error

STATIC_DIR = Path(__file__).resolve().parent / "static"

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
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


def load_assets(directory: Path) -> dict[str, Asset]:
    """Every servable file of `directory` by name; nothing else can be reached."""
    assets: dict[str, Asset] = {}
    for path in sorted(directory.iterdir()):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file() or path.suffix == ".html":
            continue
        body = path.read_bytes()
        assets[path.name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return assets


def render_page(template: Template, page: str, root: str, assets: dict[str, Asset]) -> str:
    """The HTML shell of `page`, its asset URLs relative to `root` and versioned."""

    def url(name: str) -> str:
        return f"{root}static/{name}?v={assets[name].etag}"

    return template.substitute(
        page=page,
        root=root,
        css=url("app.css"),
        icon=url("favicon.svg"),
        common_js=url("common.js"),
        page_js=url(f"{page}.js"),
    )


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


def routes(directory: Path = STATIC_DIR) -> list[BaseRoute]:
    assets = load_assets(directory)
    template = Template((directory / "page.html").read_text(encoding="utf-8"))

    def page_route(path: str, page: str, root: str) -> Route:
        html = render_page(template, page, root, assets)

        async def serve(request: Request) -> Response:
            return HTMLResponse(html, headers=PAGE_HEADERS)

        return Route(path, serve, methods=["GET"], name=f"ui_{page}")

    async def static(request: Request) -> Response:
        asset = assets.get(request.path_params["name"])
        if asset is None:
            return error(404, "Not found")
        return asset_response(request, asset)

    return [
        page_route("/", "list", "./"),
        page_route("/errors/{id}", "detail", "../"),
        Route("/static/{name}", static, methods=["GET"], name="ui_static"),
    ]
