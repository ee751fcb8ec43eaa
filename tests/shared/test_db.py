"""The database layer: group commit, durability of acknowledgements, migrations."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.db import (
    SYNCHRONOUS_LEVELS,
    Database,
    Overloaded,
    Writer,
    WriterClosed,
    WriterDead,
    check_writable,
    connect,
    migrate,
    schema_version,
    storage_problem,
)
from tests.helpers import ROOT, wait_until

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


# --- durability levels -------------------------------------------------------------


def test_synchronous_level_is_validated_and_applied(path: str) -> None:
    assert SYNCHRONOUS_LEVELS == ("NORMAL", "FULL")
    conn = connect(path, synchronous="FULL")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()
    for bad in ("OFF", "EXTRA", "full", ""):
        with pytest.raises(ValueError, match="NORMAL, FULL"):
            connect(path, synchronous=bad)


def test_database_writes_at_the_chosen_level(tmp_path: Path) -> None:
    """Both connections that write (the writer's, the checkpointer's) use the level."""
    path = str(tmp_path / "new" / "t.db")
    with pytest.raises(ValueError):
        Database(path, [TABLE], synchronous="OFF")
    assert not (tmp_path / "new").exists()  # refused before anything was created

    def level_of(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])

    for level, number in (("FULL", 2), ("NORMAL", 1)):
        db = Database(path, [TABLE], synchronous=level)
        try:
            assert db.write_sync(level_of) == number
            assert level_of(db.checkpointer._conn) == number
        finally:
            db.close()


CRASH_AFTER_ACK = """
import os, signal, sys
from shared.db import Database
db = Database(sys.argv[1], [sys.argv[3]], synchronous=sys.argv[2])
db.write_sync(lambda conn: conn.execute("INSERT INTO t (v) VALUES ('acked')"))
print("acked", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("level", SYNCHRONOUS_LEVELS)
def test_acknowledged_write_survives_kill_9(path: str, level: str) -> None:
    """What both levels promise: once write_sync returned, a killed process keeps the row."""
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_ACK, path, level, TABLE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "acked\n", done.stderr
    assert done.returncode == -9  # no close(), no final checkpoint: only the WAL has it
    assert stored(path) == ["acked"]


# --- a dead writer -----------------------------------------------------------------


class Boom(BaseException):
    """Escapes the writer's per-job and per-batch handling, as a bug or MemoryError would."""


def explode(self: Writer, batch: list[object]) -> None:
    raise Boom("disk on fire")


def test_dead_writer_fails_the_job_in_flight_and_refuses_later_ones(
    writer: Writer, path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Writer, "_commit", explode)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    with caplog.at_level(logging.DEBUG, logger="monlight.db"):
        job = pool.submit(writer.submit_sync, insert("lost"), 10)
        with pytest.raises(WriterDead, match="database writer stopped: Boom: disk on fire") as err:
            job.result(timeout=5)  # the old writer left this waiting forever
    pool.shutdown()
    assert isinstance(err.value.__cause__, Boom)
    assert not writer.alive
    assert writer.error == "Boom: disk on fire"
    assert writer.pending == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["database writer stopped: Boom: disk on fire"]  # one line, not one per job

    started = time.monotonic()
    with pytest.raises(WriterDead, match="Boom"):
        writer.submit_sync(insert("later"), timeout=5)
    with pytest.raises(WriterDead, match="Boom"):
        asyncio.run(asyncio.wait_for(writer.submit(insert("later")), 5))
    assert time.monotonic() - started < 1  # refused at once, not after a timeout
    assert writer.pending == 0
    assert stored(path) == []


def test_dead_writer_fails_every_queued_job(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs behind the batch that died (async and sync alike) fail too, and are counted out."""
    conn = connect(path)
    conn.execute(TABLE)
    writer = Writer(conn, max_batch=1)  # one queue entry per batch: the rest stay queued
    release = hold(writer)
    pool = concurrent.futures.ThreadPoolExecutor(3)

    async def main() -> tuple[list[object], list[BaseException | None]]:
        tasks = [asyncio.ensure_future(writer.submit(insert(f"a{i}"))) for i in range(3)]
        await asyncio.sleep(0.01)  # the tasks submit and their tick is handed over
        syncs = [pool.submit(writer.submit_sync, insert(f"s{i}"), 10) for i in range(3)]
        wait_until(lambda: writer.pending == 7, what="jobs queued")  # + the blocker
        monkeypatch.setattr(Writer, "_commit", explode)  # the blocker's batch is already in it
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        return results, [f.exception(timeout=5) for f in syncs]

    async_results, sync_errors = asyncio.run(main())
    pool.shutdown()
    assert all(isinstance(r, WriterDead) for r in async_results), async_results
    assert all(isinstance(e, WriterDead) for e in sync_errors), sync_errors
    assert writer.pending == 0
    assert writer.batches == 1  # only the blocker's
    writer.close()
    conn.close()
    assert stored(path) == []


def test_job_handed_over_after_the_writer_died_fails_too(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: a submit that passed the liveness check reaches the queue after the death."""
    release = hold(writer)
    pool = concurrent.futures.ThreadPoolExecutor(1)

    async def main() -> object:
        late = asyncio.ensure_future(writer.submit(insert("late")))
        await asyncio.sleep(0)  # `late` submits; its tick goes to the queue at the next turn
        assert writer.pending == 2
        # Kill the writer while this loop is blocked, so the tick arrives after the thread ended.
        doomed = pool.submit(writer.submit_sync, insert("doomed"), 10)
        wait_until(lambda: writer.pending == 3, what="doomed queued")
        monkeypatch.setattr(Writer, "_commit", explode)
        release.set()
        assert isinstance(doomed.exception(timeout=5), WriterDead)
        writer._thread.join(5)
        assert not writer._thread.is_alive()
        return (await asyncio.gather(asyncio.wait_for(late, 5), return_exceptions=True))[0]

    assert isinstance(asyncio.run(main()), WriterDead)
    pool.shutdown()
    assert writer.pending == 0


def test_database_health_names_a_dead_writer(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(path, [TABLE])
    try:
        assert db.health() is None
        db.write_sync(insert("before"))
        monkeypatch.setattr(Writer, "_commit", explode)
        with pytest.raises(WriterDead):
            db.write_sync(insert("lost"), timeout=5)
        assert db.health() == "writer thread stopped: Boom: disk on fire"

        async def later() -> None:
            with pytest.raises(WriterDead):
                await asyncio.wait_for(db.write(insert("later")), 5)

        asyncio.run(later())
        # Reads still work: the service can answer them while /health says 503.
        assert db.read_sync(lambda conn: [r[0] for r in conn.execute("SELECT v FROM t")]) == [
            "before"
        ]
    finally:
        db.close()  # returns: nothing waits on the dead thread
    assert db.health() == "writer thread stopped: Boom: disk on fire"
    assert stored(path) == ["before"]


# --- background threads and the event loop -----------------------------------------


def test_background_threads_read_and_write_through_the_database(path: str) -> None:
    db = Database(path, [TABLE], reader_threads=1)

    def worker() -> list[str]:
        db.write_sync(insert("bg"))
        # A read job that reads more runs inline on its reader thread: with one
        # thread, waiting for the pool from inside it would never return.
        return db.read_sync(
            lambda conn: db.read_sync(
                lambda inner: [r[0] for r in inner.execute("SELECT v FROM t")]
            )
        )

    async def on_the_loop() -> None:
        with pytest.raises(RuntimeError, match="blocks"):
            db.write_sync(insert("loop"))
        with pytest.raises(RuntimeError, match="blocks"):
            db.read_sync(lambda conn: 1)

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        assert pool.submit(worker).result(timeout=5) == ["bg"]
        asyncio.run(on_the_loop())
        # A write job waiting for another write would wait for itself.
        with pytest.raises(RuntimeError, match="deadlock"):
            db.write_sync(lambda conn: db.write_sync(insert("inner")), timeout=5)
    finally:
        pool.shutdown(wait=False)
        db.close()
    assert stored(path) == ["bg"]


def test_open_and_aclose_leave_the_event_loop_free(path: str) -> None:
    migrated_on: list[threading.Thread] = []

    def slow_migration(conn: sqlite3.Connection) -> None:
        migrated_on.append(threading.current_thread())
        time.sleep(0.3)  # a big table being rebuilt
        conn.execute(TABLE)

    async def main() -> list[int]:
        turns = 0

        async def ticker() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        db = await Database.open(path, [slow_migration])
        assert migrated_on[0] is not threading.current_thread()
        assert turns >= 5  # the loop kept turning during the migration
        assert db.health() is None
        writes = [asyncio.ensure_future(db.write(insert(f"v{i}"))) for i in range(20)]
        await asyncio.sleep(0)  # every write now sits in this loop's unflushed tick
        await asyncio.wait_for(db.aclose(), 10)
        ids = await asyncio.wait_for(asyncio.gather(*writes), 5)  # committed, not dropped
        with pytest.raises(WriterClosed):
            await db.write(insert("late"))
        assert db.health() == "database is closed"
        ticking.cancel()
        return ids

    assert sorted(asyncio.run(main())) == list(range(1, 21))
    assert len(stored(path)) == 20


def test_close_from_another_thread_while_a_loop_submits(path: str) -> None:
    """Every submit racing the close either commits or gets WriterClosed: none hangs."""
    conn = connect(path)
    conn.execute(TABLE)
    writer = Writer(conn)
    outcome = {"ok": 0, "closed": 0}
    running = threading.Event()

    async def producer(n: int) -> None:
        for i in range(1_000_000):
            try:
                await writer.submit(insert(f"p{n}-{i}"))
            except WriterClosed:
                outcome["closed"] += 1
                return
            outcome["ok"] += 1
            running.set()

    async def producers() -> None:
        await asyncio.wait_for(asyncio.gather(*(producer(n) for n in range(20))), 10)

    thread = threading.Thread(target=asyncio.run, args=(producers(),), daemon=True)
    thread.start()
    assert running.wait(5)
    time.sleep(0.05)
    writer.close()
    thread.join(15)
    assert not thread.is_alive()
    assert outcome["closed"] == 20  # every producer was told, none left waiting
    assert writer.pending == 0
    conn.close()
    assert len(stored(path)) == outcome["ok"]  # every acknowledged write is there


def test_storage_failures_are_recognised_and_a_read_only_database_refuses_to_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ro.db"
    Database(str(path), ["CREATE TABLE t (x)"]).close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as info:
        ro.execute("INSERT INTO t VALUES (1)")
    assert (storage_problem(info.value) or "").startswith("read-only")
    with pytest.raises(RuntimeError, match="cannot be written \\(read-only"):
        check_writable(ro, str(path))
    ro.close()
    assert storage_problem(sqlite3.OperationalError("no such table: x")) is None
    assert storage_problem(ValueError("x")) is None
