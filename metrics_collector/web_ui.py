"""The Metrics Collector web UI at `/`: one HTML shell, its scripts and uPlot.

Charts are drawn in the browser by uPlot, vendored under
`static/vendor/uplot-<version>/` (see scripts/vendor-uplot.sh) and served by
the service itself, so the UI works offline. Serving, caching and the page's
security headers are the house ones (shared.web_ui); the key prompt and API
calls are shared/static/ui.js.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from starlette.routing import BaseRoute

from shared.web_ui import Asset, asset_url, load_ui_assets, page_route, static_route

STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOT_DIR = "vendor/uplot-1.6.32"


def render_page(template: Template, assets: dict[str, Asset], root: str = "./") -> str:
    """The HTML shell, its asset URLs relative to `root` and versioned by content."""

    def url(name: str) -> str:
        return asset_url(assets, name, root)

    return template.substitute(
        root=root,
        icon=url("favicon.svg"),
        base_css=url("shared/base.css"),
        uplot_css=url(f"{UPLOT_DIR}/uPlot.min.css"),
        css=url("metrics.css"),
        ui_js=url("shared/ui.js"),
        uplot_js=url(f"{UPLOT_DIR}/uPlot.iife.min.js"),
        charts_js=url("charts.js"),
        page_js=url("metrics.js"),
    )


def routes(directory: Path = STATIC_DIR) -> list[BaseRoute]:
    assets = load_ui_assets(directory)
    template = Template((directory / "page.html").read_text(encoding="utf-8"))
    return [
        page_route("/", render_page(template, assets), "ui_metrics"),
        static_route(assets),
    ]
