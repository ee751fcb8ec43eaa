"""Helpers the framework integrations share."""

from __future__ import annotations

import re

_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def brace_template(rule: str) -> str:
    """`/items/<int:item_id>` (Flask, Django) → `/items/{item_id}`, as FastAPI names it."""
    path = _PARAM.sub(r"{\1}", rule)
    return path if path.startswith("/") else "/" + path
