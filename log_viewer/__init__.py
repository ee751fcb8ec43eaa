"""Log Viewer: Docker json-file logs read from disk, FTS5 search, live tail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.entry import lazy_service

if TYPE_CHECKING:
    from log_viewer.app import SERVICE

__all__ = ["SERVICE"]
#: `SERVICE` is imported on first use, so `--healthcheck` stays light (shared.entry).
__getattr__ = lazy_service("log_viewer.app")
