"""The relay under test, wired to a real Error Tracker and Metrics Collector."""

from __future__ import annotations

from pathlib import Path

ADMIN = "admin-key"
UPSTREAM_KEY = "test-key"


def relay_env(
    tmp_path: Path,
    tracker: str = "http://127.0.0.1:9",
    collector: str = "http://127.0.0.1:9",
    **extra: str,
) -> dict[str, str]:
    """Port 9 (discard) has no listener: an upstream that is down, unless one is given."""
    env = {
        "ADMIN_API_KEY": ADMIN,
        "DATABASE_PATH": str(tmp_path / "browser-relay.db"),
        "ERROR_TRACKER_URL": tracker,
        "ERROR_TRACKER_API_KEY": UPSTREAM_KEY,
        "METRICS_COLLECTOR_URL": collector,
        "METRICS_COLLECTOR_API_KEY": UPSTREAM_KEY,
    }
    env.update(extra)
    return env
