"""`make run`: one development key for every service, kept private."""

from __future__ import annotations

import stat
from pathlib import Path

from shared import stack
from shared.service import discover


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_one_key_serves_every_service_and_is_kept(tmp_path: Path) -> None:
    services = discover()
    keys = stack.dev_keys(tmp_path / "data", services, environ={})
    shared = keys[stack.SHARED_KEY]
    assert len(shared) >= 32
    assert {keys[s.stack_key_env] for s in services} == {shared}
    path = tmp_path / "data" / "dev-keys.env"
    assert mode(path) == 0o600
    assert stack.dev_keys(tmp_path / "data", services, environ={}) == keys  # reused
    # The file can be sourced for every service's variable.
    assert f"ERROR_TRACKER_API_KEY={shared}" in path.read_text()


def test_a_service_variable_overrides_the_shared_key(tmp_path: Path) -> None:
    services = discover()
    env = {"MONLIGHT_API_KEY": "from-env", "METRICS_COLLECTOR_API_KEY": "own"}
    keys = stack.dev_keys(tmp_path, services, environ=env)
    assert keys["MONLIGHT_API_KEY"] == keys["ERROR_TRACKER_API_KEY"] == "from-env"
    assert keys["METRICS_COLLECTOR_API_KEY"] == "own"
    text = stack.banner([], keys)
    assert "export MONLIGHT_API_KEY=from-env" in text


def test_keys_file_is_private_even_when_it_already_existed_world_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dev-keys.env"
    path.write_text("MONLIGHT_API_KEY=kept-key\n")
    path.chmod(0o644)  # e.g. written by hand or copied with default permissions
    keys = stack.dev_keys(tmp_path, discover(), environ={})
    assert keys["MONLIGHT_API_KEY"] == "kept-key"
    assert mode(path) == 0o600
