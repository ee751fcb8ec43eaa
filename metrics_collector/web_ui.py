"""The Metrics Collector web UI at `/`: one HTML shell, its scripts and uPlot.

Charts are drawn in the browser by uPlot, vendored under
`static/vendor/uplot-<version>/` (see scripts/vendor-uplot.sh) and served by
the service itself, so the UI works offline. The page shell, serving, caching
and the page's security headers are the house ones (shared.web_ui); the key
prompt and API calls are shared/static/ui.js.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from starlette.routing import BaseRoute

from shared.web_ui import Asset, load_ui_assets, page_route, render_shell, static_route

STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOT_DIR = "vendor/uplot-1.6.32"


def render_page(assets: Mapping[str, Asset], root: str = "./") -> str:
    """The HTML shell, its asset URLs relative to `root` and versioned by content."""
    return render_shell(
        assets,
        service="Metrics Collector",
        title="Metrics",
        key_store="monlight.metrics_collector.api_key",
        styles=["shared/base.css", f"{UPLOT_DIR}/uPlot.min.css", "metrics.css"],
        scripts=["shared/ui.js", f"{UPLOT_DIR}/uPlot.iife.min.js", "charts.js", "metrics.js"],
        root=root,
    )


def routes(directory: Path = STATIC_DIR) -> list[BaseRoute]:
    assets = load_ui_assets(directory)
    return [
        page_route("/", render_page(assets), "ui_metrics"),
        static_route(assets),
    ]
