"""Which containers to read: Docker's directory, their names, the CONTAINERS filter.

`LOG_SOURCES/<id>/<id>-json.log` is a container's log; its name is in
`<id>/config.v2.json` as `"Name": "/web"`. Entries are stored under that
real name, never the pattern that matched it. A container whose config
cannot be read is known by its short id, so its logs are not lost.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import orjson

log = logging.getLogger("monlight.log_viewer.discovery")

#: A config.v2.json larger than this is not read (a name is a few bytes into it).
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Container:
    id: str
    name: str
    log_path: Path


def name_from_config(text: bytes) -> str | None:
    """The container name in a config.v2.json (leading slash stripped), if any."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    name = data.get("Name") if isinstance(data, dict) else None
    if not isinstance(name, str):
        return None
    name = name.lstrip("/").strip()
    return name or None


def wanted(name: str, patterns: tuple[str, ...]) -> bool:
    """Exact names and `*`/`?` globs, case-sensitive as Docker names are; none = all."""
    return not patterns or any(fnmatchcase(name, p) for p in patterns)


def container_name(directory: Path, container_id: str) -> str:
    config = directory / "config.v2.json"
    try:
        if config.stat().st_size <= MAX_CONFIG_BYTES:
            name = name_from_config(config.read_bytes())
            if name is not None:
                return name
    except OSError:
        pass
    return container_id[:12]


def discover(
    root: Path, patterns: tuple[str, ...], problem: Callable[[str | None], None] | None = None
) -> list[Container]:
    """The containers under `root` that have a log file and match `patterns`, by name.

    `problem` is told why `root` cannot be listed (None once it can), so the
    caller can say it once rather than at every re-scan.
    """
    found: list[Container] = []
    try:
        entries = list(os.scandir(root))
    except OSError as exc:
        (problem or log.warning)(f"cannot list {root}: {exc.strerror or exc}")
        return found
    if problem is not None:
        problem(None)
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        log_path = Path(entry.path) / f"{entry.name}-json.log"
        if not log_path.exists() and not log_path.with_name(log_path.name + ".1").exists():
            continue
        name = container_name(Path(entry.path), entry.name)
        if wanted(name, patterns):
            found.append(Container(entry.name, name, log_path))
    return sorted(found, key=lambda c: (c.name, c.id))
