"""The Metrics Collector web UI at `/`: one HTML shell, its scripts and uPlot.

Charts are drawn in the browser by uPlot, vendored under
`static/vendor/uplot-<version>/` (see scripts/vendor-uplot.sh) and served by
the service itself, so the UI works offline. The page shell, serving, caching
and the page's security headers are the house ones (shared.web_ui); the key
prompt and API calls are shared/static/ui.js. The Web Vitals thresholds are
stats.VITALS, handed to metrics.js as `data-vitals` on `<html>`, so the page
rates values exactly as the API does.
"""

from __future__ import annotations

import json
from pathlib import Path

from metrics_collector.dashboard import SHORT
from metrics_collector.stats import VITALS
from shared.web_ui import UI as WebUI
from shared.web_ui import Page

STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOT_DIR = "vendor/uplot-1.6.32"
#: Where the browser keeps the key: unchanged since the first release, so saved keys keep working.
KEY_STORE = "monlight.metrics_collector.api_key"


def vitals_json() -> str:
    """The thresholds by short name: `{"lcp": {"good": 2500.0, "poor": 4000.0}, ...}`."""
    return json.dumps(
        {SHORT[name]: {"good": good, "poor": poor} for name, (good, poor) in VITALS.items()},
        separators=(",", ":"),
    )


UI = WebUI(
    title="Metrics Collector",
    page_title="Metrics",
    key_store=KEY_STORE,
    static_dir=STATIC_DIR,
    pages=(
        Page(
            "/",
            "ui_metrics",
            "./",
            scripts=(f"{UPLOT_DIR}/uPlot.iife.min.js", "charts.js", "metrics.js"),
            styles=(f"{UPLOT_DIR}/uPlot.min.css", "metrics.css"),
        ),
    ),
    data={"vitals": vitals_json()},
)
