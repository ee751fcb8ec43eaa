"""POST /api/browser/metrics: a browser's batch → one Metrics Collector batch.

Every point gets the labels `project` (the key's: a page cannot report for
another project), `source: browser`, `session_id` and `page` (the path of
the page URL). The earlier `@monlight/browser` SDK sent no `session_id` or
`url` at the top level and put them in each point's labels: those are kept
when the top level has none. Points also carry `project` as the collector's
own field, so its project filter finds them. The collector checks the
points themselves (names, types, values) and its 4xx is passed back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from browser_relay.config import MAX_PROJECT
from shared.responses import BadRequest
from shared.validate import string_field

MAX_PAGE = 200
MAX_SESSION = 100


def page_of(url: str) -> str:
    """The path of a page URL (`https://shop.example.com/cart?x=1` → `/cart`)."""
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    return (path or "/")[:MAX_PAGE]


def collector_batch(data: dict[str, Any], project: str) -> list[dict[str, Any]]:
    points = data.get("metrics")
    if not isinstance(points, list):
        raise BadRequest("Field 'metrics' must be an array of points")
    if not points:
        raise BadRequest("Field 'metrics' must not be empty")
    session_id = string_field(data, "session_id")
    url = string_field(data, "url")
    added: dict[str, str] = {"project": project[:MAX_PROJECT], "source": "browser"}
    if session_id:
        added["session_id"] = session_id[:MAX_SESSION]
    if url:
        added["page"] = page_of(url)
    batch = []
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise BadRequest(f"Field 'metrics[{i}]' must be an object")
        labels = point.get("labels")
        if labels is None:
            labels = {}
        elif not isinstance(labels, dict):
            raise BadRequest(f"Field 'metrics[{i}].labels' must be an object")
        batch.append({**point, "labels": {**labels, **added}, "project": added["project"]})
    return batch
