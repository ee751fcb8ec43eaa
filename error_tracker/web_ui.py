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

from pathlib import Path

from shared.web_ui import UI as WebUI
from shared.web_ui import Page

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where the browser keeps the key: unchanged since the first release, so saved keys keep working.
KEY_STORE = "monlight.error_tracker.api_key"

UI = WebUI(
    title="Error Tracker",
    page_title="Errors",
    key_store=KEY_STORE,
    static_dir=STATIC_DIR,
    pages=(
        Page("/", "ui_list", "./", scripts=("common.js", "list.js"), styles=("app.css",)),
        Page("/sdks", "ui_sdks", "./", scripts=("common.js", "sdks.js"), styles=("app.css",)),
        Page(
            "/errors/{id}",
            "ui_detail",
            "../",
            scripts=("common.js", "detail.js"),
            styles=("app.css",),
        ),
    ),
)
