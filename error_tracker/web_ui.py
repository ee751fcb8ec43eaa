"""The web UI: two HTML shells (list, detail) and their static assets.

The pages carry no data: the browser fetches everything from `/api/*` with
the key the user typed, so pages and assets are served without a key. The
HTML uses paths relative to the page (`./static/...`, `../static/...`), so
the UI also works behind a reverse proxy that mounts the service under a
prefix. Shell, serving, caching and security headers are the house ones
(shared.web_ui); the key prompt and API calls are shared/static/ui.js, and
`static/common.js` adds only what both tracker pages need on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from starlette.routing import BaseRoute

from shared.web_ui import Asset, load_ui_assets, page_route, render_shell, static_route

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where the browser keeps the key: unchanged since the first release, so saved keys keep working.
KEY_STORE = "monlight.error_tracker.api_key"


def render_page(assets: Mapping[str, Asset], page: str, root: str) -> str:
    """The HTML shell of `page` ("list" or "detail"), its URLs relative to `root`."""
    return render_shell(
        assets,
        service="Error Tracker",
        title="Errors",
        key_store=KEY_STORE,
        styles=["shared/base.css", "app.css"],
        scripts=["shared/ui.js", "common.js", f"{page}.js"],
        root=root,
    )


def routes(directory: Path = STATIC_DIR) -> list[BaseRoute]:
    assets = load_ui_assets(directory)
    return [
        page_route("/", render_page(assets, "list", "./"), "ui_list"),
        page_route("/errors/{id}", render_page(assets, "detail", "../"), "ui_detail"),
        static_route(assets),
    ]
