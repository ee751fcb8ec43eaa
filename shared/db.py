"""SQLite for every service: pragmas, migrations, one writer, pooled readers.

Writes go through a single writer thread per database that runs every
pending job in one transaction (group commit) and resolves each job's
future only after COMMIT returned, so a 2xx is never sent for a write that
is not durable. Reads run on a small thread pool with one connection per
thread; WAL lets them proceed while the writer writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("monlight.db")

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
Migration = Callable[[sqlite3.Connection], None] | str

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


READ_MMAP_BYTES = 256 * 1024 * 1024


class Overloaded(Exception):
    """The writer queue stayed full past the submit timeout."""


class WriterClosed(Exception):
    """A job was submitted after shutdown began."""


def connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the spec's pragmas, in autocommit mode.

    Autocommit (isolation_level=None) leaves transactions to us: the writer
    says BEGIN/COMMIT itself, readers never hold one open by accident.
    """
    if path != ":memory:":
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if readonly:
        conn.execute("PRAGMA query_only=ON")
        # Reads of a large table page through the OS cache instead of one
        # pread per page; mapped pages are shared and reclaimable.
        conn.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
    row = conn.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Apply migrations after the stored version, each in its own transaction.

    Migration i (1-based) is migrations[i-1]: a SQL script or a function of
    the connection. A database from the earlier implementation at version N
    simply continues at N+1.
    """
    current = schema_version(conn)
    if current > len(migrations):
        raise RuntimeError(
            f"database schema version {current} is newer than this release knows "
            f"({len(migrations)}); refusing to run an older release on it"
        )
    for number in range(current + 1, len(migrations) + 1):
        step = migrations[number - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                for statement in _split_sql(step):
                    conn.execute(statement)
            else:
                step(conn)
            conn.execute(
                "INSERT INTO _meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(number),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("applied migration %d", number)
    return len(migrations)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (executescript would COMMIT)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


@dataclass(slots=True)
class _Pending:
    fn: Job[Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | concurrent.futures.Future[Any]


_STOP = object()


class Writer:
    """The one writer of a database: a thread committing jobs in batches.

    A job is a plain function of the connection, with no awaits. Jobs
    submitted during one event-loop tick travel to the thread as one queue
    entry (one wake-up, not one per request); the thread runs everything
    queued in one transaction and resolves the futures with one callback per
    loop after COMMIT. In-flight jobs are bounded: past `max_queue`,
    `submit` waits for room and gives up with Overloaded after
    `submit_timeout` seconds, so memory never grows without bound.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        max_queue: int = 10_000,
        max_batch: int = 2_000,
        submit_timeout: float = 5.0,
        name: str = "writer",
    ) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_inflight = max_queue
        self._max_batch = max_batch
        self._submit_timeout = submit_timeout
        self._inflight = 0
        self._lock = threading.Lock()
        self._ticks: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self.batches = 0
        self.jobs = 0
        #: Bumped after every commit that changed rows (before anyone is
        #: answered): cached reads taken at an older generation are stale.
        self.generation = 0

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet committed (or failed)."""
        return self._inflight

    async def submit(self, fn: Job[T]) -> T:
        """Queue a job and wait until the batch holding it has committed."""
        if self._closed:
            raise WriterClosed("the database writer is shut down")
        if self._inflight >= self._max_inflight:
            await self._wait_for_room()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._inflight += 1
        tick = self._ticks.get(loop)
        if tick is None:
            tick = self._ticks[loop] = []
            loop.call_soon(self._flush_tick, loop)
        tick.append(_Pending(fn, loop, future))
        return await future

    async def _wait_for_room(self) -> None:
        deadline = time.monotonic() + self._submit_timeout
        delay = 0.001
        while self._inflight >= self._max_inflight:
            if time.monotonic() > deadline:
                raise Overloaded("database writer is overloaded")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _flush_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        items = self._ticks.pop(loop, None)
        if items:
            self._queue.put(items)

    def submit_sync(self, fn: Job[T], timeout: float | None = None) -> T:
        """The same for background threads: blocks until committed."""
        if self._closed:
            raise WriterClosed("the database writer is shut down")
        deadline = time.monotonic() + self._submit_timeout
        while self._inflight >= self._max_inflight:
            if time.monotonic() > deadline:
                raise Overloaded("database writer is overloaded")
            time.sleep(0.005)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self._inflight += 1
        self._queue.put([_Pending(fn, None, future)])
        return future.result(timeout)

    def close(self) -> None:
        """Commit everything queued so far, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        for loop in list(self._ticks):
            self._flush_tick(loop)
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        q = self._queue
        stop = False
        while not stop:
            first = q.get()
            if first is _STOP:
                break
            batch: list[_Pending] = list(first)
            while len(batch) < self._max_batch:
                try:
                    entry = q.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stop = True
                    break
                batch.extend(entry)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        """Run the batch in one transaction; isolate failures only when there are some.

        The fast path runs every job bare (a SAVEPOINT pair costs about as much
        as a small job). If any job raises, the whole transaction is rolled
        back and replayed with a SAVEPOINT per job, so the failing job fails
        alone and the rest still commit. Jobs are plain SQL on the connection,
        so replaying them is safe.
        """
        conn = self._conn
        changes = conn.total_changes
        try:
            results = self._run_batch(conn, batch, isolated=False)
            if results is None:
                results = self._run_batch(conn, batch, isolated=True)
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed
            log.error("write batch of %d failed: %s", len(batch), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(item, False, exc) for item in batch]
        self.batches += 1
        self.jobs += len(batch)
        if conn.total_changes != changes:
            self.generation += 1
        self._resolve(results)

    @staticmethod
    def _run_batch(
        conn: sqlite3.Connection, batch: list[_Pending], *, isolated: bool
    ) -> list[tuple[_Pending, bool, Any]] | None:
        """BEGIN and run the jobs; None means "a job failed, replay isolated"."""
        results: list[tuple[_Pending, bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        if not isolated:
            try:
                for item in batch:
                    results.append((item, True, item.fn(conn)))
            except Exception:  # noqa: BLE001 - replayed below, job by job
                conn.execute("ROLLBACK")
                return None
            return results
        for item in batch:
            conn.execute("SAVEPOINT job")
            try:
                value = item.fn(conn)
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                results.append((item, False, exc))
            else:
                conn.execute("RELEASE job")
                results.append((item, True, value))
        return results

    def _resolve(self, results: list[tuple[_Pending, bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, bool, Any]]] = {}
        for entry in results:
            item = entry[0]
            if item.loop is None:
                with self._lock:
                    self._inflight -= 1
                fut = item.future
                if entry[1]:
                    fut.set_result(entry[2])  # type: ignore[union-attr]
                else:
                    fut.set_exception(entry[2])  # type: ignore[union-attr]
            else:
                by_loop.setdefault(item.loop, []).append(entry)
        for loop, entries in by_loop.items():
            with self._lock:
                self._inflight -= len(entries)
            with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits
                loop.call_soon_threadsafe(_set_all, entries)


def _set_all(entries: list[tuple[_Pending, bool, Any]]) -> None:
    for item, ok, value in entries:
        fut = item.future
        if fut.done():  # the request was cancelled (client went away)
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class Reader:
    """Runs read queries on a thread pool, one read-only connection per thread."""

    def __init__(self, path: str, *, threads: int = 4) -> None:
        self._path = path
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="reader"
        )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _call(self, fn: Job[T]) -> T:
        return fn(self._conn())

    async def run(self, fn: Job[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, fn)

    def run_sync(self, fn: Job[T]) -> T:
        return self._pool.submit(self._call, fn).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class Checkpointer:
    """Moves WAL pages into the database file on its own thread and connection.

    Left to SQLite, a checkpoint runs inside whichever COMMIT crosses 1000
    WAL pages, fsyncing the database while every request waiting on that
    batch waits too. Here the writer's connection never checkpoints; this
    thread does a PASSIVE checkpoint (it never blocks the writer or readers)
    at most every `interval` seconds, when something was written.
    """

    def __init__(self, path: str, writer: Writer, interval: float = 1.0) -> None:
        self._path = path
        self._writer = writer
        self._interval = interval
        self._stop = threading.Event()
        self._seen = writer.generation
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = connect(self._path)
        try:
            while not self._stop.wait(self._interval):
                generation = self._writer.generation
                if generation != self._seen:
                    self._seen = generation
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.Error as exc:
                        log.warning("checkpoint failed: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Database:
    """A service's database: migrated on open, one Writer, one Reader."""

    def __init__(
        self, path: str, migrations: Sequence[Migration], *, reader_threads: int = 4
    ) -> None:
        self.path = path
        conn = connect(path)
        try:
            migrate(conn, migrations)
        except BaseException:
            conn.close()
            raise
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
        self._write_conn = conn
        self.writer = Writer(conn, name=f"writer:{os.path.basename(path)}")
        self.reader = Reader(path, threads=reader_threads)
        self.checkpointer = Checkpointer(path, self.writer)
        self._cache: dict[Any, tuple[int, Any]] = {}
        self._loading: dict[Any, asyncio.Future[Any]] = {}

    async def write(self, fn: Job[T]) -> T:
        return await self.writer.submit(fn)

    async def read(self, fn: Job[T]) -> T:
        return await self.reader.run(fn)

    async def read_cached(self, key: Any, fn: Job[T], max_entries: int = 256) -> T:
        """A read whose (immutable) result is reused until the next change.

        For aggregates that cost a scan (list totals): repeated page views are
        free while nothing is written, and never stale, since every commit
        that changes rows bumps the writer's generation. The generation is
        taken before the query, so a result racing a commit is filed under
        the older one. Concurrent misses share one query instead of each
        running the scan.
        """
        generation = self.writer.generation
        hit = self._cache.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]  # type: ignore[no-any-return]
        slot = (key, generation, asyncio.get_running_loop())
        loading = self._loading.get(slot)
        if loading is None:
            loading = self._loading[slot] = asyncio.ensure_future(self.reader.run(fn))
            loading.add_done_callback(lambda _: self._loading.pop(slot, None))
        value = await asyncio.shield(loading)
        if len(self._cache) >= max_entries:
            self._cache.clear()
        self._cache[key] = (generation, value)
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Drain pending writes, checkpoint, then close every connection."""
        self.writer.close()
        self.checkpointer.stop()
        self.reader.close()
        with contextlib.suppress(sqlite3.Error):
            self._write_conn.execute("PRAGMA optimize")
            self._write_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self._write_conn.close()
