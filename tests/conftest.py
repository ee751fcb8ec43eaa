from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from error_tracker import SERVICE as TRACKER
from error_tracker.config import from_env

API_KEY = "test-key"
AUTH = {"X-API-Key": API_KEY}


def tracker_config(tmp_path: Path, **extra: str):
    env = {"API_KEY": API_KEY, "DATABASE_PATH": str(tmp_path / "errors.db"), "RATE_LIMIT": "0"}
    env.update(extra)
    return from_env(env)


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[TestClient]:
    """The tracker app over Starlette's TestClient (lifespan runs: DB opens, migrates)."""
    with TestClient(TRACKER.app(tracker_config(tmp_path)), headers=AUTH) as client:
        yield client


@pytest.fixture(scope="session")
def published_client() -> Path:
    """Directory holding the published `monlight` 0.3.0 (see helpers.published_client_dir)."""
    from tests.helpers import published_client_dir

    return published_client_dir()
