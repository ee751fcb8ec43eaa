"""The Log Viewer web UI at `/`: one HTML shell and its scripts (see shared.web_ui).

The page carries no data: the browser fetches `/api/logs*` with the key the
user typed; the live tail is an EventSource, which cannot set headers, so it
passes the key as `?api_key=` (the gate accepts it there; logs redact it).
"""

from __future__ import annotations

from pathlib import Path

from shared.web_ui import UI as WebUI
from shared.web_ui import Page

STATIC_DIR = Path(__file__).resolve().parent / "static"
KEY_STORE = "monlight.log_viewer.api_key"

UI = WebUI(
    title="Log Viewer",
    page_title="Logs",
    key_store=KEY_STORE,
    static_dir=STATIC_DIR,
    pages=(Page("/", "ui_logs", "./", scripts=("logs.js",), styles=("logs.css",)),),
)
