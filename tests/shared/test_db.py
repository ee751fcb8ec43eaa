"""The database layer: group commit, durability of acknowledgements, migrations."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.db import (
    Database,
    Overloaded,
    Writer,
    WriterClosed,
    connect,
    migrate,
    schema_version,
)
from tests.helpers import wait_until

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "sub" / "t.db")  # the directory does not exist yet


@pytest.fixture
def writer(path: str) -> Iterator[Writer]:
    conn = connect(path)
    conn.execute(TABLE)
    w = Writer(conn)
    yield w
    w.close()
    conn.close()


def insert(value: str):
    def job(conn: sqlite3.Connection) -> int:
        return conn.execute("INSERT INTO t (v) VALUES (?)", (value,)).lastrowid or 0

    return job


def stored(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY id")]


def hold(writer: Writer) -> threading.Event:
    """Park the writer thread inside a job so later submits pile up in the queue."""
    release, entered = threading.Event(), threading.Event()

    def blocker(conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait(10)

    threading.Thread(target=writer.submit_sync, args=(blocker,), daemon=True).start()
    assert entered.wait(5)
    return release


def test_connect_applies_pragmas_and_creates_directory(path: str) -> None:
    conn = connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    conn.close()


def test_concurrent_submits_commit_in_fewer_batches(writer: Writer, path: str) -> None:
    release = hold(writer)

    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(writer.submit(insert(f"v{i}"))) for i in range(100)]
        await asyncio.sleep(0)  # let every task queue its job
        wait_until(lambda: writer.pending == 101, what="jobs queued")  # + the blocker
        release.set()
        return await asyncio.gather(*tasks)

    ids = asyncio.run(main())
    assert sorted(ids) == list(range(1, 101))
    assert len(stored(path)) == 100
    assert writer.jobs == 101
    assert writer.batches == 2  # the blocker, then all 100 queued jobs in one commit


def test_failing_job_fails_alone(writer: Writer, path: str) -> None:
    release = hold(writer)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES ('partial')")
        raise ValueError("job failed")

    async def main() -> list[object]:
        tasks = [
            asyncio.ensure_future(writer.submit(insert("a"))),
            asyncio.ensure_future(writer.submit(half_then_fail)),
            asyncio.ensure_future(writer.submit(insert("a"))),  # unique violation
            asyncio.ensure_future(writer.submit(insert("c"))),
        ]
        await asyncio.sleep(0)
        wait_until(lambda: writer.pending == 5, what="jobs queued")  # + the blocker
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    a, failed, dup, c = asyncio.run(main())
    assert isinstance(a, int) and isinstance(c, int)
    assert isinstance(failed, ValueError)
    assert isinstance(dup, sqlite3.IntegrityError)
    assert stored(path) == ["a", "c"]  # the failed job's partial insert rolled back
    assert writer.batches == 2


def test_result_is_delivered_only_after_commit(writer: Writer, path: str) -> None:
    release = hold(writer)
    seen: dict[str, object] = {}
    first_returned = threading.Event()

    def check_before_commit(conn: sqlite3.Connection) -> None:
        # Runs after the first job in the same batch, before its COMMIT: the first
        # caller must still be waiting (a negative check needs a bounded wait).
        seen["first_returned"] = first_returned.wait(0.3)
        seen["visible"] = stored(path)

    pool = concurrent.futures.ThreadPoolExecutor(2)
    f1 = pool.submit(writer.submit_sync, insert("x"))
    f1.add_done_callback(lambda f: first_returned.set())
    wait_until(lambda: writer.pending == 2)  # + the blocker
    f2 = pool.submit(writer.submit_sync, check_before_commit)
    wait_until(lambda: writer.pending == 3)
    release.set()
    assert f1.result(5) == 1
    f2.result(5)
    pool.shutdown()
    assert seen == {"first_returned": False, "visible": []}
    assert stored(path) == ["x"]


def test_close_drains_queued_jobs(path: str) -> None:
    conn = connect(path)
    conn.execute(TABLE)
    writer = Writer(conn)
    release = hold(writer)
    pool = concurrent.futures.ThreadPoolExecutor(20)
    futures = [pool.submit(writer.submit_sync, insert(f"q{i}")) for i in range(20)]
    wait_until(lambda: writer.pending == 21, what="jobs queued")  # + the blocker
    closer = threading.Thread(target=writer.close)
    closer.start()
    release.set()
    closer.join(10)
    assert not closer.is_alive()
    assert sorted(f.result(5) for f in futures) == list(range(1, 21))
    assert len(stored(path)) == 20
    with pytest.raises(WriterClosed):
        writer.submit_sync(insert("late"))
    with pytest.raises(WriterClosed):
        asyncio.run(writer.submit(insert("late")))
    pool.shutdown()
    conn.close()


def test_full_queue_is_overloaded(path: str) -> None:
    conn = connect(path)
    conn.execute(TABLE)
    writer = Writer(conn, max_queue=2, submit_timeout=0.05)  # the blocker + one
    release = hold(writer)
    pending = concurrent.futures.ThreadPoolExecutor(1).submit(writer.submit_sync, insert("q"))
    wait_until(lambda: writer.pending == 2)
    with pytest.raises(Overloaded):
        asyncio.run(writer.submit(insert("x")))
    with pytest.raises(Overloaded):
        writer.submit_sync(insert("y"))
    release.set()
    assert pending.result(5) == 1
    writer.close()
    assert stored(path) == ["q"]
    conn.close()


def counting(log: list[int], number: int, sql: str):
    def step(conn: sqlite3.Connection) -> None:
        log.append(number)
        conn.execute(sql)

    return step


def test_migrate_runs_each_once_and_resumes(path: str) -> None:
    ran: list[int] = []
    first = [
        counting(ran, 1, "CREATE TABLE a (x)"),
        "CREATE TABLE b (x);\nCREATE INDEX b_x ON b(x);",
    ]
    conn = connect(path)
    assert migrate(conn, first) == 2
    assert migrate(conn, first) == 2
    assert ran == [1] and schema_version(conn) == 2
    more = [*first, counting(ran, 3, "CREATE TABLE c (x)")]
    assert migrate(conn, more) == 3
    assert ran == [1, 3] and schema_version(conn) == 3
    assert conn.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone() == ("3",)
    conn.close()


def test_failed_migration_rolls_back_and_is_retried(path: str) -> None:
    conn = connect(path)
    broken = ["CREATE TABLE a (x)", "CREATE TABLE b (x);\nCREATE TABLE a (x);"]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert schema_version(conn) == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "b" not in tables  # half of migration 2 did not stick
    assert migrate(conn, ["CREATE TABLE a (x)", "CREATE TABLE b (x)"]) == 2
    conn.close()


def test_newer_schema_refuses(path: str) -> None:
    conn = connect(path)
    migrate(conn, ["CREATE TABLE a (x)", "CREATE TABLE b (x)"])
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Database(path, ["CREATE TABLE a (x)"])


def test_database_reads_and_writes(path: str) -> None:
    db = Database(path, [TABLE])

    async def main() -> list[str]:
        await db.write(insert("one"))
        return await db.read(lambda conn: [r[0] for r in conn.execute("SELECT v FROM t")])

    assert asyncio.run(main()) == ["one"]
    with pytest.raises(sqlite3.OperationalError):  # readers cannot write by accident
        db.reader.run_sync(lambda conn: conn.execute("INSERT INTO t (v) VALUES ('r')"))
    db.close()
    assert stored(path) == ["one"]


# --- cached reads and checkpoints ------------------------------------------------


def test_cached_read_lasts_until_a_write_changes_rows(path: str) -> None:
    db = Database(path, [TABLE])
    calls: list[int] = []

    def count(conn: sqlite3.Connection) -> int:
        calls.append(1)
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])

    async def main() -> list[int]:
        seen = [await db.read_cached("n", count), await db.read_cached("n", count)]
        await db.write(lambda conn: conn.execute("SELECT 1").fetchone())  # changes nothing
        seen.append(await db.read_cached("n", count))
        await db.write(insert("a"))
        seen.append(await db.read_cached("n", count))
        # Concurrent misses share one query.
        await db.write(insert("b"))
        seen += await asyncio.gather(*(db.read_cached("n", count) for _ in range(10)))
        return seen

    try:
        assert asyncio.run(main()) == [0, 0, 0, 1] + [2] * 10
        assert len(calls) == 3
    finally:
        db.close()


def test_commits_reach_the_database_file_without_a_full_wal(path: str, tmp_path: Path) -> None:
    """The checkpointer moves committed pages into the main file within seconds."""
    import shutil

    db = Database(path, [TABLE])

    async def main() -> None:
        await asyncio.gather(*(db.write(insert(f"v{i}")) for i in range(50)))

    def in_main_file() -> int:
        copy = tmp_path / "copy.db"  # the main file alone, as a crash would leave it
        shutil.copyfile(path, copy)
        with sqlite3.connect(copy) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    try:
        asyncio.run(main())
        wait_until(lambda: in_main_file() == 50, timeout=10, what="checkpoint")
    finally:
        db.close()
    assert not Path(path + "-wal").exists() or Path(path + "-wal").stat().st_size == 0
