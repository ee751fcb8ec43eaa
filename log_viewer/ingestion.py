"""The ingestion worker: every POLL_INTERVAL, new log lines → stored entries.

Per container and read: the file's new bytes (tailing) → complete lines
(parsing) → entries (multiline) → one write job that inserts the entries
*and* moves the cursor, with the reader's unfinished state (pieces of a
split line, entries still open) stored on the cursor row. So whatever
happens between two reads — a restart, a kill -9 — the next read resumes
exactly where the last commit left it: no line lost, none stored twice.

An open entry (a traceback may still be growing) is stored once its
stream has been quiet for QUIET seconds by Docker's own timestamps, or
when its file ends (rotation, truncation): a traceback written in one burst
stays one entry. A poll that leaves an entry open for that reason asks for
another pass QUIET seconds later, so a line is stored (and tailed) within
POLL_INTERVAL + QUIET of being written, not two intervals.

The oldest entries beyond MAX_ENTRIES are trimmed after each poll, by id
(rows are only ever removed from the bottom, so max(id) − min(id) + 1 is
the count, and the cut is one range delete).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from log_viewer.config import LogSettings
from log_viewer.discovery import Container, discover
from log_viewer.listing import stored
from log_viewer.multiline import Entry, Reassembler
from log_viewer.parsing import LineReader
from log_viewer.tailing import Position, read_new
from shared.db import Database
from shared.workers import PeriodicWorker

log = logging.getLogger("monlight.log_viewer.ingestion")

_DOCKER_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z")
#: Seconds a stream must have been quiet before its open entry is stored.
QUIET = 0.25
#: Seconds between re-scans of LOG_SOURCES for new containers.
RESCAN = 30.0
#: Rows deleted per trim statement (each fires the FTS delete trigger).
TRIM_CHUNK = 5_000


def docker_epoch(stamp: str) -> float:
    """Seconds since the epoch of Docker's RFC 3339 time (nanoseconds allowed)."""
    return datetime.fromisoformat(canonical_time(stamp).replace("Z", "+00:00")).timestamp()


def canonical_time(stamp: str) -> str:
    """Docker's `2026-12-02T10:00:00.123456789Z` as stored: UTC, microseconds,
    `2026-12-02T10:00:00.123456Z` (one format, so text order is time order)."""
    # Docker always writes UTC with a `Z`: cut the fraction to six digits by slicing
    # (a datetime round trip per line cost more than the rest of the parsing).
    match = _DOCKER_TIME.fullmatch(stamp)
    if match:
        return f"{stamp[:19]}.{((match.group(1) or '') + '000000')[:6]}Z"
    try:
        head, _, rest = stamp.partition(".")
        if not rest:  # no fraction
            moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        else:
            digits = ""
            for ch in rest:
                if not ch.isdigit():
                    break
                digits += ch
            zone = rest[len(digits) :] or "Z"
            moment = datetime.fromisoformat(
                f"{head}.{(digits + '000000')[:6]}{zone.replace('Z', '+00:00')}"
            )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return stored(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        return stored(datetime.now(UTC))


@dataclass(slots=True)
class Source:
    """A container's reading state, as committed with its last rows."""

    container: Container
    cursor: Position | None = None
    reader: LineReader = field(default_factory=LineReader)
    entries: Reassembler = field(default_factory=Reassembler)
    last_seen: dict[str, str] = field(default_factory=dict)  # stream → its last line's time

    def pending(self) -> str:
        return orjson.dumps(
            {"lines": self.reader.state(), "entries": self.entries.state()}
        ).decode()


@dataclass(slots=True)
class PollReport:
    containers: int = 0
    entries: int = 0
    malformed: int = 0
    trimmed: int = 0


def load_source(conn: sqlite3.Connection, container: Container) -> Source:
    """A container's cursor and unfinished state from the database (or a fresh start)."""
    row = conn.execute(
        "SELECT position, inode, pending FROM cursors WHERE container_id = ?", (container.id,)
    ).fetchone()
    if row is None:
        return Source(container)
    position, inode, pending = row
    state: dict[str, Any] = {}
    if pending:
        try:
            state = orjson.loads(pending)
        except orjson.JSONDecodeError:
            state = {}
    return Source(
        container,
        Position(inode, position),
        LineReader.restore(state.get("lines") or {}),
        Reassembler.restore(state.get("entries") or {}),
    )


_INSERT_JSON = (
    "INSERT INTO log_entries (timestamp, container, stream, level, message)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4"
    " FROM json_each(?) ORDER BY key"
)
_CURSOR = (
    "INSERT INTO cursors (container_id, file_path, position, inode, updated_at, pending)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(container_id) DO UPDATE SET"
    " file_path = excluded.file_path, position = excluded.position,"
    " inode = excluded.inode, updated_at = excluded.updated_at, pending = excluded.pending"
)


Row = tuple[str, str, str, str, str]  # timestamp, container, stream, level, message


def rows_of(container: Container, entries: list[Entry]) -> list[Row]:
    """Entries as table rows, in time order (done on the reading thread, not the writer's)."""
    return [
        (canonical_time(e.time), container.name, e.stream, e.level, e.message)
        for e in sorted(entries, key=lambda e: e.time)
    ]


def store(
    conn: sqlite3.Connection,
    container: Container,
    rows: list[Row],
    cursor: Position,
    pending: str,
    packed_rows: str | None = None,
) -> int:
    """The write job: the rows and the cursor (with its unfinished state), together.

    Returns the first row's id: one writer and AUTOINCREMENT make a batch's
    ids the run ending at last_insert_rowid. `packed_rows`, when given, is
    `packed(rows)` made beforehand off the writer's thread.
    """
    if rows:
        insert_rows(conn, packed_rows if packed_rows is not None else rows)
    last: int = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn.execute(
        _CURSOR,
        (container.id, str(container.log_path), cursor.offset, cursor.inode, now, pending),
    )
    return last - len(rows) + 1


def as_entries(rows: list[Row], first: int) -> list[dict[str, Any]]:
    """Stored rows as the API shows them (the live tail sends them on)."""
    return [
        {
            "id": first + i,
            "timestamp": ts,
            "container": name,
            "stream": stream,
            "level": level,
            "message": message,
        }
        for i, (ts, name, stream, level, message) in enumerate(rows)
    ]


def insert_rows(conn: sqlite3.Connection, rows: list[Row] | str) -> None:
    """All the rows in one INSERT statement: a JSON array of rows (see `packed`).

    FTS5 writes its pending index data out as a new segment at the end of
    every statement that touched it, so one statement per row (executemany)
    made a segment per row, and merging them cost 4× the insert itself. And
    one statement is one GIL-free `sqlite3_step`: the reading thread parses
    the next batch meanwhile instead of trading the GIL with the writer
    after every statement.
    """
    data = packed(rows) if isinstance(rows, list) else rows
    conn.execute(_INSERT_JSON, (data,))


def packed(rows: list[Row]) -> str:
    """Rows as the JSON array `insert_rows` takes (built on the reading thread)."""
    return orjson.dumps(rows).decode()


def trim(conn: sqlite3.Connection, keep: int) -> int:
    """Delete the oldest rows beyond `keep` (a chunk per call)."""
    low, high = conn.execute("SELECT min(id), max(id) FROM log_entries").fetchone()
    if high is None or high - low + 1 <= keep:
        return 0
    cut = min(high - keep + 1, low + TRIM_CHUNK)
    return conn.execute("DELETE FROM log_entries WHERE id < ?", (cut,)).rowcount


class Ingestor:
    """Reads every wanted container's log on a thread, every POLL_INTERVAL seconds.

    `poll(now)` is one whole pass (tests call it directly); `worker` runs it
    on its own thread for the service.
    """

    def __init__(
        self,
        db: Database,
        settings: LogSettings,
        on_stored: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        #: Told every stored batch (the live tail's hub publishes them).
        self.on_stored = on_stored
        self.sources: dict[str, Source] = {}
        self._containers: list[Container] = []
        self._scanned = -RESCAN
        self._problem: str | None = None
        self._lock = threading.Lock()  # one pass at a time: two would read the same bytes
        self._timer: threading.Timer | None = None
        self.worker = PeriodicWorker(
            "ingestion", self._tick, float(settings.poll_interval), run_at_start=True
        )

    def _tick(self) -> None:
        self.poll()

    def containers(self, force: bool = False) -> list[Container]:
        clock = time.monotonic()
        if force or clock - self._scanned >= RESCAN:
            self._containers = discover(
                Path(self.settings.log_sources), self.settings.containers, self._report
            )
            self._scanned = clock
        return self._containers

    def _report(self, problem: str | None) -> None:
        """LOG_SOURCES trouble, said once when it starts and once when it ends."""
        if problem != self._problem:
            if problem is not None:
                log.warning("%s (LOG_SOURCES); retrying every %.0f s", problem, RESCAN)
            elif self._problem is not None:
                log.info("LOG_SOURCES can be listed again")
            self._problem = problem

    def poll(self, now: float | None = None, *, rescan: bool = False) -> PollReport:
        with self._lock:
            return self._poll(time.time() if now is None else now, rescan)

    def _poll(self, now: float, rescan: bool) -> PollReport:
        report = PollReport()
        for container in self.containers(rescan):
            source = self.sources.get(container.id)
            if source is None:
                source = self.db.read_sync(partial(load_source, container=container))
                self.sources[container.id] = source
            before = source.reader.malformed
            report.entries += self._read(source, now)
            report.malformed += source.reader.malformed - before
            report.containers += 1
        while (trimmed := self.db.write_sync(lambda c: trim(c, self.settings.max_entries))) > 0:
            report.trimmed += trimmed
        if any(source.entries.open for source in self.sources.values()):
            self._soon()
        return report

    def _soon(self) -> None:
        """One more pass once the open entries' streams can count as quiet."""
        if self._timer is None or not self._timer.is_alive():
            self._timer = threading.Timer(QUIET + 0.05, self.worker.trigger)
            self._timer.daemon = True
            self._timer.start()

    def _read(self, source: Source, now: float) -> int:
        """Everything new in one container's file, stored read by read.

        The next read is parsed while the writer commits the previous one
        (SQLite releases the GIL), and submitted only once that one has
        committed: a failed write never has a later one committed after it.
        If anything fails, the in-memory state is dropped and the next poll
        resumes from what the database holds.
        """
        stored = 0
        inflight: tuple[Future[int], list[Row]] | None = None
        try:
            while True:
                segments = read_new(
                    source.container.log_path, source.cursor, self.settings.tail_buffer
                )
                done: list[Entry] = []
                cursor = source.cursor
                for segment in segments:
                    if segment.fresh and cursor is not None and segment.inode != cursor.inode:
                        done += source.entries.flush()  # the old file ended: nothing continues it
                        source.reader.reset()
                    elif segment.fresh:
                        source.reader.reset()
                    lines, used = source.reader.feed(segment.data, segment.offset)
                    for line in lines:
                        done += source.entries.feed(line)
                        source.last_seen[line.stream] = line.time
                    cursor = Position(segment.inode, used)
                done += self._quiet(source, now)
                if inflight is not None:
                    stored += self._settle(inflight)
                    inflight = None
                if cursor is None or (cursor == source.cursor and not done):
                    return stored
                rows = rows_of(source.container, done)
                job = partial(
                    store,
                    container=source.container,
                    rows=rows,
                    cursor=cursor,
                    pending=source.pending(),
                    packed_rows=packed(rows),
                )
                inflight = (self.db.write_soon(job), rows)
                source.cursor = cursor
                if not any(s.data for s in segments):
                    break
            return stored + self._settle(inflight)
        except BaseException:
            self.sources.pop(source.container.id, None)  # reload from the last commit
            raise

    def _settle(self, inflight: tuple[Future[int], list[Row]]) -> int:
        """Wait for a store job's commit and pass its rows on; the entries stored."""
        future, rows = inflight
        first = future.result()
        if rows and self.on_stored is not None:
            self.on_stored(as_entries(rows, first))
        return len(rows)

    def _quiet(self, source: Source, now: float) -> list[Entry]:
        """Open entries whose stream has said nothing for QUIET seconds, completed."""
        quiet = [
            stream
            for stream in source.entries.open
            if stream not in source.last_seen
            or now - docker_epoch(source.last_seen[stream]) >= QUIET
        ]
        return [e for stream in quiet for e in source.entries.close(stream)]
