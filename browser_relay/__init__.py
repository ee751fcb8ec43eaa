"""Browser Relay: DSN keys, CORS and source maps in front of the tracker and collector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.entry import lazy_service

if TYPE_CHECKING:
    from browser_relay.app import SERVICE

__all__ = ["SERVICE"]
#: `SERVICE` is imported on first use, so `--healthcheck` stays light (shared.entry).
__getattr__ = lazy_service("browser_relay.app")
