"""Ingestion on real Docker-format files: every line once, in order, across whatever the
files go through (growth, half-written records, rotation, truncation, split and huge
lines, tracebacks, malformed records) and across a restart in the middle."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from starlette.datastructures import QueryParams

from log_viewer import ingestion
from log_viewer.config import from_env
from log_viewer.database import MIGRATIONS
from log_viewer.ingestion import Ingestor, canonical_time, trim
from log_viewer.listing import list_logs, parse_filters, parse_page
from log_viewer.tailing import read_new, rotated
from shared.db import Database
from tests.log_viewer.dockerlog import DockerLog

LATER = 10.0  # seconds after the last line: every open entry is quiet by then


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(str(tmp_path / "logs.db"), MIGRATIONS)
    yield database
    database.close()


def ingestor(db: Database, root: Path, **env: str) -> Ingestor:
    settings = from_env({"API_KEY": "k", "DATABASE_PATH": db.path, "LOG_SOURCES": str(root), **env})
    return Ingestor(db, settings)


def messages(db: Database) -> list[str]:
    return [
        r[0]
        for r in db.read_sync(
            lambda c: c.execute("SELECT message FROM log_entries ORDER BY id").fetchall()
        )
    ]


def poll(ing: Ingestor, log: DockerLog) -> None:
    ing.poll(log.clock + LATER, rescan=True)


def test_every_line_once_in_order_through_all_a_file_goes_through(
    db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "containers"
    log = DockerLog(root)
    ing = ingestor(db, root)
    expected: list[str] = []

    log.lines("one", "two", "three")
    expected += ["one", "two", "three"]
    poll(ing, log)
    assert messages(db) == expected

    # A half-written record waits for its newline.
    whole = log.record("completed later\n")
    log.lines("four")
    log.write(whole[:20])
    poll(ing, log)
    expected += ["four"]
    assert messages(db) == expected
    log.write(whole[20:])
    poll(ing, log)
    expected += ["completed later"]
    assert messages(db) == expected

    # Rotation: the old file's last lines, then the new file's.
    log.lines("last before rotation")
    os.rename(log.path, rotated(log.path))
    log.lines("first after rotation")
    poll(ing, log)
    expected += ["last before rotation", "first after rotation"]
    assert messages(db) == expected

    # Truncation in place.
    os.truncate(log.path, 0)
    log.lines("after truncation")
    poll(ing, log)
    expected += ["after truncation"]
    assert messages(db) == expected

    # A 40 KiB line split Docker-style, a 1 MiB line, a malformed record between.
    forty = "4" * 40 * 1024
    log.long_line(forty)
    log.write(b"{not docker json\n")
    big = "m" * (1024 * 1024)
    log.long_line(big)
    poll(ing, log)
    expected += [forty, big]
    assert messages(db) == expected

    # A traceback is one entry, the line after it another.
    trace = [
        "ERROR app: failed",
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 3, in <module>',
        "ValueError: nope",
    ]
    log.lines(*trace, stream="stderr")
    log.lines("next", stream="stderr")
    poll(ing, log)
    expected += ["\n".join(trace), "next"]
    assert messages(db) == expected
    rows = db.read_sync(
        lambda c: c.execute(
            "SELECT container, stream, level FROM log_entries ORDER BY id DESC LIMIT 2"
        ).fetchall()
    )
    assert rows == [("web", "stderr", "ERROR"), ("web", "stderr", "ERROR")]


def test_a_restart_in_the_middle_loses_and_repeats_nothing(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "containers"
    log = DockerLog(root)
    first = ingestor(db, root)
    log.lines("before")
    log.clock += 1.0  # stdout has been quiet for a second when the traceback starts
    log.lines("Traceback (most recent call last):", '  File "a.py", line 1', stream="stderr")
    log.write(log.record("x" * 16384))  # a piece of a split line
    first.poll(log.clock, rescan=True)  # the traceback's stream is not quiet yet
    assert messages(db) == ["before"]

    # A new process: the cursor and the unfinished state come back from the database.
    again = ingestor(db, root)
    log.lines("KeyError: 'k'", stream="stderr")
    log.write(log.record("y\n"))
    log.lines("after")
    poll(again, log)
    got = messages(db)
    assert got[0] == "before"
    assert sorted(got[1:]) == sorted(
        [
            "Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'k'",
            "x" * 16384 + "y",
            "after",
        ]
    )


def test_first_sight_starts_tail_buffer_from_the_end(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "containers"
    log = DockerLog(root)
    log.lines(*[f"old {i}" for i in range(1000)])
    size = log.path.stat().st_size
    ing = ingestor(db, root, TAIL_BUFFER="2000")
    poll(ing, log)
    got = messages(db)
    assert 0 < len(got) < 1000 and got[-1] == "old 999"
    assert all(m.startswith("old ") for m in got)  # whole lines only
    assert len(got) * len(log.record("old 999\n")) <= 2000 + 100 and size > 2000


def test_containers_are_filtered_and_stored_under_their_names(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "containers"
    web, worker, db_log = (
        DockerLog(root, "a" * 64, "web"),
        DockerLog(root, "b" * 64, "worker-1"),
        DockerLog(root, "c" * 64, "postgres"),
    )
    for log in (web, worker, db_log):
        log.lines(f"hello from {log.dir.name[:1]}")
    ing = ingestor(db, root, CONTAINERS="web,worker-*")
    ing.poll(time.time() + LATER, rescan=True)
    rows = db.read_sync(
        lambda c: c.execute("SELECT container FROM log_entries ORDER BY container").fetchall()
    )
    assert rows == [("web",), ("worker-1",)]


def test_the_oldest_entries_go_beyond_max_entries(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "containers"
    log = DockerLog(root)
    ing = ingestor(db, root, MAX_ENTRIES="50")
    log.lines(*[f"line {i}" for i in range(120)])
    report = ing.poll(log.clock + LATER, rescan=True)
    assert report.trimmed == 70
    assert messages(db) == [f"line {i}" for i in range(70, 120)]
    found = db.read_sync(
        lambda c: c.execute(
            "SELECT count(*) FROM log_entries_fts WHERE log_entries_fts MATCH 'line'"
        ).fetchone()[0]
    )
    assert found == 50  # the index lost the trimmed rows too
    assert db.write_sync(lambda c: trim(c, 50)) == 0


@pytest.mark.parametrize(
    ("docker", "stored"),
    [
        ("2026-12-02T10:00:00.123456789Z", "2026-12-02T10:00:00.123456Z"),
        ("2026-12-02T10:00:00Z", "2026-12-02T10:00:00.000000Z"),
        ("2026-12-02T11:00:00.5+01:00", "2026-12-02T10:00:00.500000Z"),
    ],
)
def test_docker_times_are_stored_in_one_format(docker: str, stored: str) -> None:
    assert canonical_time(docker) == stored


def test_stored_entries_are_handed_on_with_their_ids(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "containers"
    log = DockerLog(root)
    handed: list[dict] = []
    ing = ingestor(db, root)
    ing.on_stored = handed.extend
    log.lines("a", "b")
    log.lines("c", stream="stderr")
    poll(ing, log)
    rows = db.read_sync(
        lambda c: c.execute(
            "SELECT id, timestamp, container, stream, level, message FROM log_entries"
        ).fetchall()
    )
    keys = ("id", "timestamp", "container", "stream", "level", "message")
    assert sorted(handed, key=lambda e: e["id"]) == [dict(zip(keys, r, strict=True)) for r in rows]
    assert len(rows) == 3


def test_concurrent_polls_never_store_a_line_twice(db: Database, tmp_path: Path) -> None:
    import threading

    root = tmp_path / "containers"
    log = DockerLog(root)
    log.lines(*[f"line {i}" for i in range(2000)])
    ing = ingestor(db, root, TAIL_BUFFER="10000000")  # the whole file at first sight
    threads = [threading.Thread(target=poll, args=(ing, log)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert messages(db) == [f"line {i}" for i in range(2000)]


def test_a_failed_write_loses_and_repeats_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads are parsed while the previous one commits; when a commit fails, the
    reads parsed after it are dropped and the next poll resumes from the database."""
    root = tmp_path / "containers"
    log = DockerLog(root)
    texts = [f"line {i:03}" for i in range(60)]
    log.lines(*texts)
    monkeypatch.setattr(
        ingestion, "read_new", lambda path, cursor, tail: read_new(path, cursor, tail, 400)
    )
    submitted = 0
    write_soon = db.write_soon

    def failing_third(job: Callable[[sqlite3.Connection], int]) -> Future[int]:
        nonlocal submitted
        submitted += 1
        if submitted != 3:
            return write_soon(job)

        def fail(conn: sqlite3.Connection) -> int:
            job(conn)  # the rows go in, then the transaction fails
            raise sqlite3.OperationalError("disk I/O error")

        return write_soon(fail)

    monkeypatch.setattr(db, "write_soon", failing_third)
    ing = ingestor(db, root)
    with pytest.raises(sqlite3.OperationalError):
        poll(ing, log)
    assert 0 < len(messages(db)) < len(texts)
    assert messages(db) == texts[: len(messages(db))]

    monkeypatch.setattr(db, "write_soon", write_soon)
    poll(ing, log)
    assert messages(db) == texts


def test_search_stays_consistent_through_trimming(db: Database, tmp_path: Path) -> None:
    """Poll after poll past MAX_ENTRIES: every search answers exactly the rows that are left."""
    root = tmp_path / "containers"
    log = DockerLog(root)
    ing = ingestor(db, root, MAX_ENTRIES="40")
    for round_ in range(6):
        log.lines(*[f"order {round_}-{i} {'paid' if i % 3 else 'refused'}" for i in range(25)])
        poll(ing, log)
        kept = messages(db)
        assert len(kept) == min(40, 25 * (round_ + 1))
        for search, wanted in [
            ("paid", [m for m in kept if m.endswith("paid")]),
            ("refused", [m for m in kept if m.endswith("refused")]),
            ("order NOT refused", [m for m in kept if m.endswith("paid")]),
            ('"order 0"', [m for m in kept if m.startswith("order 0-")]),
        ]:
            q = QueryParams({"search": search, "limit": "500"})
            body = db.read_sync(lambda c, q=q: list_logs(c, parse_filters(q), parse_page(q)))
            assert body["total"] == len(wanted)
            assert [e["message"] for e in body["logs"]] == wanted[::-1]
    # The index holds exactly the table's rows (FTS5's own check against the content).
    db.write_sync(
        lambda c: c.execute(
            "INSERT INTO log_entries_fts(log_entries_fts, rank) VALUES ('integrity-check', 1)"
        )
    )
