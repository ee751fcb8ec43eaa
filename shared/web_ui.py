"""Serving a service's web UI: HTML shells and static assets, the same way everywhere.

The pages carry no data (the browser fetches everything from `/api/*` with the
key the user typed), so pages and assets are served without a key. Assets are
read once at start-up into memory: only files found then can ever be served,
so no request path reaches the file system. Each asset URL carries its content
hash (`?v=`), which lets browsers cache it for good while a new release is
picked up at once.

`shared/static/` holds what every UI shares (`ui.js`: key prompt, API calls,
DOM helpers; `base.css`: the house look); a service serves it under
`static/shared/` next to its own assets (`load_ui_assets`). Every page is the
same shell (`page.html` there, never served: top bar, `#app`, the `<html>` data
attributes ui.js reads), filled in by `render_shell` with the page's own assets.

A service declares its UI once (`UI`: names, key store, static folder, pages)
and mounts `UI.routes()`; everything else here is how that is served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from shared.responses import error

SHARED_STATIC_DIR = Path(__file__).resolve().parent / "static"

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

#: The one HTML shell of every page (a `.html` file, so never served as an asset).
SHELL = Template((SHARED_STATIC_DIR / "page.html").read_text(encoding="utf-8"))

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


def render_shell(
    assets: Mapping[str, Asset],
    *,
    service: str,
    title: str,
    key_store: str,
    styles: Sequence[str],
    scripts: Sequence[str],
    root: str = "./",
    data: Mapping[str, str] | None = None,
) -> str:
    """A page's HTML: the house shell with the service's name, icon and assets.

    `service` is the name people see (top bar, key prompt); `key_store` is the
    localStorage name of the key, kept stable so saved keys survive releases;
    `styles` and `scripts` are asset names, loaded in that order (the shared
    ones, `shared/base.css` and `shared/ui.js`, first); `favicon.svg` is the
    service's own; `data` adds `data-*` attributes on `<html>` for its scripts.
    Asset URLs are versioned and relative to `root`, the path from the page to
    the service root, so the UI also works behind a proxy that adds a prefix.
    """

    def url(name: str) -> str:
        return escape(asset_url(assets, name, root))

    attrs = {"root": root, "service": service, "key-store": key_store, **(data or {})}
    head = [f'<link rel="stylesheet" href="{url(name)}">' for name in styles]
    head += [f'<script src="{url(name)}" defer></script>' for name in scripts]
    return SHELL.substitute(
        attrs="".join(f' data-{name}="{escape(value)}"' for name, value in attrs.items()),
        title=escape(title),
        service=escape(service),
        root=escape(root),
        icon=url("favicon.svg"),
        assets="\n".join(head),
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


#: What every page loads before its own assets: the house look and ui.js.
SHARED_STYLES = ("shared/base.css",)
SHARED_SCRIPTS = ("shared/ui.js",)


@dataclass(frozen=True)
class Page:
    """One HTML page of a UI: its route and the assets it loads after the shared ones.

    `root` is the relative path from the page to the service root (`../` for
    `/errors/{id}`), so asset URLs and links also work under a proxy prefix.
    """

    path: str
    name: str
    root: str = "./"
    scripts: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()


@dataclass(frozen=True)
class UI:
    """A service's whole web UI, declared once: its pages and the static folder.

    `title` is the service name people see (top bar, key prompt), `page_title`
    the `<title>`; `key_store` is the localStorage name of the key and must
    never change (saved keys would be lost); `data` adds `data-*` attributes
    on `<html>` for the service's scripts (settings that live in Python).
    """

    title: str
    page_title: str
    key_store: str
    static_dir: Path
    pages: tuple[Page, ...]
    data: Mapping[str, str] = field(default_factory=dict)

    def render(
        self, page: Page, assets: Mapping[str, Asset], key_hint: Mapping[str, str] | None = None
    ) -> str:
        """The HTML of one page (`assets` as `routes` loads them)."""
        return render_shell(
            assets,
            service=self.title,
            title=self.page_title,
            key_store=self.key_store,
            styles=[*SHARED_STYLES, *page.styles],
            scripts=[*SHARED_SCRIPTS, *page.scripts],
            root=page.root,
            data={**self.data, **(key_hint or {})},
        )

    def routes(self, key_var: str = "API_KEY", stack_key_env: str = "") -> list[BaseRoute]:
        """Every page plus `GET /static/...`, assets read (and pages rendered) now, once.

        The key's variable names go to the key prompt, so it can say where the key is.
        """
        assets = load_ui_assets(self.static_dir)
        hint = {"key-var": key_var, "stack-key-env": stack_key_env}
        pages: list[BaseRoute] = [
            page_route(page.path, self.render(page, assets, hint), page.name) for page in self.pages
        ]
        return [*pages, static_route(assets)]
