"""`make run`: the development keys file the stack keeps for the UI."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shared import stack


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_file_is_private_even_when_it_already_existed_world_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [stack.MEMBERS[0]]
    monkeypatch.delenv(members[0].key_env, raising=False)
    path = tmp_path / "dev-keys.env"
    path.write_text(f"{members[0].key_env}=kept-key\n")
    path.chmod(0o644)  # e.g. written by hand or copied with default permissions
    assert stack.dev_keys(tmp_path, members) == {members[0].key_env: "kept-key"}
    assert mode(path) == 0o600


def test_new_keys_file_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for member in stack.MEMBERS:
        monkeypatch.delenv(member.key_env, raising=False)
    keys = stack.dev_keys(tmp_path / "data", list(stack.MEMBERS))
    path = tmp_path / "data" / "dev-keys.env"
    assert mode(path) == 0o600
    assert stack.dev_keys(tmp_path / "data", list(stack.MEMBERS)) == keys  # reused
