"""Source maps: the admin API's upload/list/delete, retention, and the stack rewrite
that browser errors go through.

A map is validated by parsing it (off the event loop: a 5 MiB map takes a
while) and stored as uploaded; the parsed form is cached by bytes
(`MapCache`), keyed by row id and upload time, so a re-upload or a delete is
never served from the cache — which maps exist is always read from the
database (one indexed read per error with a release), only the parsing is
saved, and that read is itself reused until the next write (`read_cached`).
Concurrent misses for one map share one parse.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from browser_relay.sourcemap import InvalidSourceMap, MapCache, Original, SourceMap, parse_map
from browser_relay.stacktrace import frame_urls, normalize_url, rewrite
from shared.db import Database
from shared.responses import BadRequest
from shared.timeutil import now_iso
from shared.validate import string_field

log = logging.getLogger("monlight.browser_relay.maps")

MAX_RELEASE = 100
MAX_FILE_URL = 500
#: Memory the parsed maps may hold (their own estimate, see SourceMap.nbytes).
CACHE_BYTES = 64 * 1024 * 1024

MapKey = tuple[int, str]  # row id, uploaded_at


def parse_upload(data: dict[str, Any]) -> tuple[str, str, str, str]:
    """(project, release, file_url, map_content) of an upload, checked (not the map)."""
    project = string_field(data, "project", required=True, min_len=1, max_len=100)
    release = string_field(data, "release", required=True, min_len=1, max_len=MAX_RELEASE)
    file_url = string_field(data, "file_url", required=True, min_len=1, max_len=MAX_FILE_URL)
    content = string_field(data, "map_content", required=True, min_len=1)
    assert project and release and file_url and content
    return project, release, file_url, content


def check_map(content: str) -> SourceMap:
    try:
        return parse_map(content)
    except InvalidSourceMap as exc:
        raise BadRequest(f"Field 'map_content' is not a valid source map: {exc}") from None


def upsert(
    conn: sqlite3.Connection, project: str, release: str, file_url: str, content: str
) -> tuple[int, str]:
    uploaded = now_iso()
    row = conn.execute(
        "INSERT INTO source_maps (project, release, file_url, map_content, uploaded_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(project, release, file_url) DO UPDATE SET"
        " map_content = excluded.map_content, uploaded_at = excluded.uploaded_at RETURNING id",
        (project, release, file_url, content, uploaded),
    ).fetchone()
    return int(row[0]), uploaded


def list_maps(conn: sqlite3.Connection, project: str | None) -> dict[str, Any]:
    sql = "SELECT id, project, release, file_url, uploaded_at FROM source_maps"
    args: tuple[str, ...] = ()
    if project is not None:
        sql += " WHERE project = ?"
        args = (project,)
    rows = conn.execute(sql + " ORDER BY id", args).fetchall()
    return {
        "source_maps": [
            {"id": r[0], "project": r[1], "release": r[2], "file_url": r[3], "uploaded_at": r[4]}
            for r in rows
        ],
        "total": len(rows),
    }


def delete(conn: sqlite3.Connection, map_id: int) -> bool:
    return conn.execute("DELETE FROM source_maps WHERE id = ?", (map_id,)).rowcount > 0


def purge(conn: sqlite3.Connection, cutoff: str) -> int:
    """Retention: maps uploaded before the cutoff go."""
    return conn.execute("DELETE FROM source_maps WHERE uploaded_at < ?", (cutoff,)).rowcount


def release_files(conn: sqlite3.Connection, project: str, release: str) -> dict[str, MapKey]:
    """The release's maps by normalised file URL (what stack frames are matched on)."""
    rows = conn.execute(
        "SELECT id, file_url, uploaded_at FROM source_maps WHERE project = ? AND release = ?",
        (project, release),
    ).fetchall()
    return {normalize_url(url): (int(map_id), str(at)) for map_id, url, at in rows}


def map_content(conn: sqlite3.Connection, map_id: int) -> str | None:
    row = conn.execute("SELECT map_content FROM source_maps WHERE id = ?", (map_id,)).fetchone()
    return None if row is None else str(row[0])


class Maps:
    """The parsed-map cache and the rewrite of stacks through it."""

    def __init__(self, db: Database, cache_bytes: int = CACHE_BYTES) -> None:
        self.db = db
        self.cache: MapCache[MapKey] = MapCache(cache_bytes)
        self._parsing: dict[MapKey, asyncio.Future[SourceMap | None]] = {}
        self.parses = 0

    def remember(self, key: MapKey, parsed: SourceMap) -> None:
        """A map just uploaded (and parsed to check it) is cached for its first error."""
        self.cache.put(key, parsed)

    async def upload(self, project: str, release: str, file_url: str, content: str) -> None:
        parsed = await asyncio.to_thread(check_map, content)
        key = await self.db.write(lambda c: upsert(c, project, release, file_url, content))
        self.remember(key, parsed)

    async def get(self, key: MapKey) -> SourceMap | None:
        found = self.cache.get(key)
        if found is not None:
            return found
        pending = self._parsing.get(key)
        if pending is None:
            pending = self._parsing[key] = asyncio.ensure_future(self._load(key))
            pending.add_done_callback(lambda _: self._parsing.pop(key, None))
        return await asyncio.shield(pending)

    async def _load(self, key: MapKey) -> SourceMap | None:
        content = await self.db.read(lambda c: map_content(c, key[0]))
        if content is None:
            return None
        try:
            parsed = await asyncio.to_thread(parse_map, content)
        except InvalidSourceMap as exc:  # stored by an older release that checked less
            log.warning("source map %d cannot be used: %s", key[0], exc)
            return None
        self.parses += 1
        self.cache.put(key, parsed)
        return parsed

    async def rewrite(self, project: str, release: str | None, stack: str) -> tuple[str, bool]:
        """The stack with every frame that has a map rewritten to its original position."""
        if not release or not stack:
            return stack, False
        files = await self.db.read_cached(
            ("files", project, release), lambda c: release_files(c, project, release)
        )
        if not files:
            return stack, False
        wanted = [url for url in frame_urls(stack) if url in files]
        if not wanted:
            return stack, False
        loaded = {url: await self.get(files[url]) for url in wanted}

        def lookup(url: str, line: int, column: int) -> Original | None:
            parsed = loaded.get(url)
            return None if parsed is None else parsed.lookup(line, column)

        return rewrite(stack, lookup)
