"""Container discovery: names from config.v2.json, exact names and globs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from log_viewer.discovery import discover, name_from_config, wanted


def container(root: Path, cid: str, name: str | None, *, log: bool = True) -> None:
    d = root / cid
    d.mkdir()
    if name is not None:
        (d / "config.v2.json").write_bytes(orjson.dumps({"ID": cid, "Name": f"/{name}"}))
    if log:
        (d / f"{cid}-json.log").write_bytes(b"")


def test_containers_by_name_with_filters(tmp_path: Path) -> None:
    container(tmp_path, "a" * 64, "web")
    container(tmp_path, "b" * 64, "worker-1")
    container(tmp_path, "c" * 64, "worker-2")
    container(tmp_path, "d" * 64, "db", log=False)  # no log file: not a candidate
    container(tmp_path, "e" * 64, None)  # no config: known by its short id
    (tmp_path / "stray-file").write_text("x")
    names = [c.name for c in discover(tmp_path, ())]
    assert names == ["e" * 12, "web", "worker-1", "worker-2"]
    assert [c.name for c in discover(tmp_path, ("web", "worker-*"))] == [
        "web",
        "worker-1",
        "worker-2",
    ]
    (web,) = discover(tmp_path, ("web",))
    assert web.log_path == tmp_path / ("a" * 64) / f"{'a' * 64}-json.log"


def test_a_missing_root_is_an_empty_list(tmp_path: Path) -> None:
    assert discover(tmp_path / "nope", ()) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (b'{"Name": "/web"}', "web"),
        (b'{"Name": "web"}', "web"),
        (b'{"Name": "/"}', None),
        (b'{"Name": 5}', None),
        (b"[]", None),
        (b"{broken", None),
    ],
)
def test_name_from_config(text: bytes, name: str | None) -> None:
    assert name_from_config(text) == name


def test_patterns_are_exact_or_globs_and_case_sensitive() -> None:
    assert wanted("web", ()) and wanted("web", ("web",)) and wanted("web-1", ("web-*",))
    assert not wanted("Web", ("web",)) and not wanted("web-1", ("web",))
