"""SQLite for every service: pragmas, migrations, one writer, pooled readers.

Writes go through a single writer thread per database that runs every
pending job in one transaction (group commit) and resolves each job's
future only after COMMIT returned, so a 2xx is never sent for a write that
is not durable. Reads run on a small thread pool with one connection per
thread; WAL lets them proceed while the writer writes.

How durable "committed" is depends on the `synchronous` level (see
`connect`): NORMAL survives a crash of the process, FULL also a power loss.
If the writer thread ever dies, every waiting and later write fails with
WriterDead (never hangs) and `Database.health()` says why.
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
from typing import Any, Self, TypeVar

from shared.logs import spawn

log = logging.getLogger("monlight.db")

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]
Migration = Callable[[sqlite3.Connection], None] | str

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)

#: The `synchronous` levels a database may run at (see `connect`), and the default.
SYNCHRONOUS_LEVELS = ("NORMAL", "FULL")
DEFAULT_SYNCHRONOUS = "NORMAL"

READ_MMAP_BYTES = 256 * 1024 * 1024

#: How long `Writer.close` waits for a running event loop to hand over its tick.
_TICK_GRACE = 1.0


class Overloaded(Exception):
    """The writer queue stayed full past the submit timeout."""


class WriterClosed(Exception):
    """A job was submitted after shutdown began."""


class StorageError(Exception):
    """The database cannot be written now (disk full, read-only, I/O error).

    Not a bug of the request: it gets 503 + Retry-After, and writes work again
    by themselves once the cause is gone (space freed, permissions fixed).
    """


#: SQLite's primary result codes that mean "the storage refuses", not "the SQL is wrong".
_STORAGE_CODES = {8: "read-only", 10: "I/O error", 13: "disk full", 14: "cannot open"}


def storage_problem(exc: BaseException) -> str | None:
    """A short reason when `exc` says the database cannot be written, else None."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or (code & 0xFF) not in _STORAGE_CODES:
        return None
    return f"{_STORAGE_CODES[code & 0xFF]}: {exc}"


def check_writable(conn: sqlite3.Connection, path: str) -> str | None:
    """Fail start-up, in one line, on a database that can never be written (read-only
    file or folder); a full disk is only reported (it heals, and reads still work)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO _meta (key, value) VALUES ('_probe', randomblob(8192))")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        if problem.startswith(("read-only", "cannot open")):
            raise RuntimeError(f"database {path} cannot be written ({problem})") from None
        return problem
    return None


class WriterDead(Exception):
    """The writer thread stopped on an error: the job was not (or may not have been) committed.

    Raised for jobs in flight when it died (a batch that had already
    committed included: its callers cannot be told apart, and a retry beats
    a hang) and, at once, for every later submit. Nothing restarts the
    writer; the service reports it on /health and needs a restart.
    """


def connect(
    path: str, *, readonly: bool = False, synchronous: str = DEFAULT_SYNCHRONOUS
) -> sqlite3.Connection:
    """Open a connection with the spec's pragmas, in autocommit mode.

    Autocommit (isolation_level=None) leaves transactions to us: the writer
    says BEGIN/COMMIT itself, readers never hold one open by accident.

    `synchronous` decides what an acknowledged (committed) write survives,
    in WAL mode:

    - "NORMAL": COMMIT writes the WAL but does not fsync it (the WAL is
      fsynced at checkpoints). A committed write survives a crash of the
      process (kill -9, OOM kill): it is in the OS page cache. On power loss
      or an OS crash the last commits may be lost (the database stays
      consistent, it just ends a little earlier).
    - "FULL": the WAL is fsynced at every COMMIT, which with group commit
      means once per batch, not once per request. A committed write also
      survives power loss or an OS crash, given disks that honour fsync.

    It only matters for connections that write (the writer, the checkpointer).
    """
    if synchronous not in SYNCHRONOUS_LEVELS:
        raise ValueError(
            f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}, not {synchronous!r}"
        )
    if path != ":memory:":
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute(f"PRAGMA synchronous={synchronous}")  # validated above: no injection
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


def _describe(exc: BaseException) -> str:
    """One line naming an exception: its type, and its message when there is one."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Writer:
    """The one writer of a database: a thread committing jobs in batches.

    A job is a plain function of the connection, with no awaits. Jobs
    submitted during one event-loop tick travel to the thread as one queue
    entry (one wake-up, not one per request); the thread runs everything
    queued in one transaction and resolves the futures with one callback per
    loop after COMMIT. In-flight jobs are bounded: past `max_queue`,
    `submit` waits for room and gives up with Overloaded after
    `submit_timeout` seconds, so memory never grows without bound.

    Nobody is ever left waiting on a thread that is gone: if anything escapes
    the thread's loop, every job in hand or queued fails with WriterDead and
    later submits fail at once (see `_run`).
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
        #: The one flag the hot path reads: False once closed or dead.
        self._accepting = True
        #: What killed the thread, and its one-line description.
        self._dead: BaseException | None = None
        self._error: str | None = None
        #: The thread takes nothing more from the queue: whoever puts after
        #: this is set must fail what is left there (`_fail_leftovers`).
        self._done = False
        #: The batch the thread holds, until its callers are answered.
        self._batch: list[_Pending] | None = None
        self.batches = 0
        self.jobs = 0
        #: Bumped after every commit that changed rows (before anyone is
        #: answered): cached reads taken at an older generation are stale.
        self.generation = 0
        #: Why writes fail right now (disk full, read-only...), None while they work.
        self.storage_error: str | None = None
        self._thread = spawn(self._run, name)

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet committed (or failed)."""
        return self._inflight

    @property
    def alive(self) -> bool:
        """The thread runs and takes jobs (False once closed, or dead)."""
        return self._accepting and self._thread.is_alive()

    @property
    def error(self) -> str | None:
        """Why the thread died, in one line; None while it runs or after a clean close."""
        if self._dead is None and not self._closed and not self._thread.is_alive():
            # Gone without passing through `_run`'s guard: treat it the same.
            self._mark_dead(RuntimeError("the writer thread exited unexpectedly"))
        return self._error

    async def submit(self, fn: Job[T]) -> T:
        """Queue a job and wait until the batch holding it has committed."""
        if not self._accepting:
            raise self._refusal()
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
            if not self._accepting:
                raise self._refusal()
            if time.monotonic() > deadline:
                raise Overloaded("database writer is overloaded")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        if not self._accepting:  # closed or died while we waited
            raise self._refusal()

    def _flush_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        items = self._ticks.pop(loop, None)
        if items:
            self._queue.put(items)
            if self._done:  # put after the thread stopped taking: nobody else will answer
                self._fail_leftovers()

    def flush_pending(self) -> None:
        """Hand unflushed ticks to the thread now rather than at the end of the loop tick.

        Only a loop's own thread may take its tick (a submit on that thread
        may be appending to it), so this flushes the calling thread's running
        loop and loops no longer running; a tick of a loop running elsewhere
        is flushed by the callback already scheduled on that loop.
        """
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop in list(self._ticks):
            if loop is current or not loop.is_running():
                self._flush_tick(loop)

    def submit_sync(self, fn: Job[T], timeout: float | None = None) -> T:
        """The same for background threads: blocks until committed."""
        return self.submit_thread(fn).result(timeout)

    def submit_thread(self, fn: Job[T]) -> concurrent.futures.Future[T]:
        """Queue a job from a background thread; the future resolves after COMMIT.

        For a thread that prepares its next batch while the writer commits
        this one (jobs commit in the order submitted). Waits only for room.
        """
        if not self._accepting or not self._thread.is_alive():
            raise self._refusal()
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError("a write job cannot wait for another write (it would deadlock)")
        deadline = time.monotonic() + self._submit_timeout
        while self._inflight >= self._max_inflight:
            if not self._accepting:
                raise self._refusal()
            if time.monotonic() > deadline:
                raise Overloaded("database writer is overloaded")
            time.sleep(0.005)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            self._inflight += 1
        self._queue.put([_Pending(fn, None, future)])
        if self._done:  # see _flush_tick
            self._fail_leftovers()
        return future

    def close(self) -> None:
        """Commit everything queued so far, then stop the thread.

        Safe from any thread: ticks of event loops running on other threads
        are not taken from under them; this waits (briefly) for those loops
        to hand them over themselves. A job that still arrives after the
        thread stopped fails with WriterClosed instead of waiting forever.
        """
        if self._closed:
            return
        self._closed = True
        self._accepting = False
        self.flush_pending()
        deadline = time.monotonic() + _TICK_GRACE
        while self._ticks and time.monotonic() < deadline:
            time.sleep(0.001)
            self.flush_pending()  # a loop may have stopped meanwhile
        self._queue.put(_STOP)
        self._thread.join()

    def _refusal(self) -> Exception:
        """The exception for a job this writer will not run (a fresh one per job).

        A death wins over a close: a job failed by a writer that died while
        closing did not fail because of the shutdown.
        """
        if self._dead is None and not self._closed and not self._thread.is_alive():
            self._mark_dead(RuntimeError("the writer thread exited unexpectedly"))
        if self._dead is None:
            return WriterClosed("the database writer is shut down")
        error = WriterDead(f"database writer stopped: {self._error}")
        error.__cause__ = self._dead
        return error

    def _mark_dead(self, exc: BaseException) -> None:
        if self._dead is None:
            self._dead = exc
            self._error = _describe(exc)
        self._accepting = False

    def _run(self) -> None:
        """The thread. Whatever escapes the loop kills it, but never silently.

        A job's own exception never gets here (it fails that job); this is
        for failures of the machinery itself: a bug, MemoryError, a ROLLBACK
        that raised. Then the error is logged once, the batch in hand and
        everything queued fail with WriterDead, and so does every later
        submit (`_accepting`), so requests get a 503 instead of hanging while
        /health says ok.
        """
        try:
            self._serve()
        except BaseException as exc:  # noqa: BLE001 - the thread dies either way
            self._mark_dead(exc)
            with contextlib.suppress(Exception):
                log.error("database writer stopped: %s", self._error)
                log.debug("database writer failure", exc_info=exc)
            with contextlib.suppress(Exception):
                if self._conn.in_transaction:  # undo the batch, release the write lock
                    self._conn.execute("ROLLBACK")
            batch = self._batch
            if batch:
                self._resolve([(item, False, self._refusal()) for item in batch])
        finally:
            # From here on a put is answered by whoever put it (_flush_tick,
            # submit_sync); what was put before is answered here.
            self._done = True
            self._fail_leftovers()

    def _serve(self) -> None:
        q = self._queue
        stopping = False
        while True:
            if stopping:
                # Close was asked for: commit what submits racing it still
                # handed over, then stop once the queue is empty.
                try:
                    first = q.get_nowait()
                except queue.Empty:
                    return
            else:
                first = q.get()
            if first is _STOP:
                stopping = True
                continue
            batch: list[_Pending] = list(first)
            while len(batch) < self._max_batch:
                try:
                    entry = q.get_nowait()
                except queue.Empty:
                    break
                if entry is _STOP:
                    stopping = True
                    continue
                batch.extend(entry)
            self._batch = batch
            self._commit(batch)

    def _fail_leftovers(self) -> None:
        """Fail whatever is queued once the thread takes nothing more.

        Several threads may run this at once (the dying writer, a submitter
        whose put raced it); each queue entry is taken by exactly one.
        """
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return
            if entry is not _STOP:
                self._resolve([(item, False, self._refusal()) for item in entry])

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
                assert results is not None  # isolated runs never give up
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed
            if storage_problem(exc) is None:
                log.error("write batch of %d failed: %s", len(batch), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(item, False, exc) for item in batch]
        self.batches += 1
        self.jobs += len(batch)
        if conn.total_changes != changes:
            self.generation += 1
        self._resolve(self._storage_state(results))

    def _storage_state(
        self, results: list[tuple[_Pending, bool, Any]]
    ) -> list[tuple[_Pending, bool, Any]]:
        """Turn storage failures into StorageError and keep `storage_error` current.

        One log line when writes start failing and one when they work again,
        however many requests fail in between.
        """
        reason = None
        committed = False
        out = results
        for i, (item, ok, value) in enumerate(results):
            if ok:
                committed = True
                continue
            problem = storage_problem(value)
            if problem is not None:
                reason = problem
                if out is results:
                    out = list(results)
                error = StorageError(problem)
                error.__cause__ = value
                out[i] = (item, False, error)
        if reason is not None:
            if self.storage_error is None:
                log.error("database cannot be written (%s); writes get 503 until it can", reason)
            self.storage_error = reason
        elif committed and self.storage_error is not None:
            log.warning("database can be written again (it could not: %s)", self.storage_error)
            self.storage_error = None
        return out

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
                if conn.in_transaction:  # SQLite may have rolled back itself (disk full)
                    conn.execute("ROLLBACK")
                return None
            return results
        for item in batch:
            conn.execute("SAVEPOINT job")
            try:
                value = item.fn(conn)
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (disk full, I/O
                    # error): the jobs before this one are gone too.
                    raise
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                results.append((item, False, exc))
            else:
                conn.execute("RELEASE job")
                results.append((item, True, value))
        return results

    def _resolve(self, results: list[tuple[_Pending, bool, Any]]) -> None:
        """Answer every caller, then count the jobs out of the in-flight total.

        Answering is idempotent (a future already answered is left alone), so
        if the thread dies half-way through, `_run` can answer the whole
        batch again with WriterDead: the rest get it, nobody gets two
        answers, and the count drops once.
        """
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, bool, Any]]] = {}
        for entry in results:
            item = entry[0]
            if item.loop is None:
                fut = item.future
                if not fut.done():
                    if entry[1]:
                        fut.set_result(entry[2])
                    else:
                        fut.set_exception(entry[2])
            else:
                by_loop.setdefault(item.loop, []).append(entry)
        for loop, entries in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits
                loop.call_soon_threadsafe(_set_all, entries)
        with self._lock:
            self._inflight -= len(results)
            self._batch = None


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
        """Run a read on the pool and wait for it, from a thread with no event loop.

        On one of the pool's own threads (a read job reading more) it runs
        inline: waiting there for another pool thread deadlocks once every
        thread does it.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return fn(conn)
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

    def __init__(
        self,
        path: str,
        writer: Writer,
        interval: float = 1.0,
        *,
        synchronous: str = DEFAULT_SYNCHRONOUS,
    ) -> None:
        # Opened here, not on the thread: a failure is the caller's error,
        # not a thread that silently never checkpoints.
        self._conn = connect(path, synchronous=synchronous)
        self._writer = writer
        self._interval = interval
        self._stop = threading.Event()
        self._seen = writer.generation
        self._thread = spawn(self._run, "checkpoint")

    def _run(self) -> None:
        conn = self._conn
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


def _not_on_event_loop(method: str) -> None:
    """Refuse a blocking call on an event loop's thread: it would stall every request."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"Database.{method} blocks: on the event loop, await Database.read/write instead"
    )


def _close_abandoned(task: asyncio.Future[Any]) -> None:
    """A database opened for a caller that was cancelled meanwhile: close it, off the loop."""
    if task.cancelled() or task.exception() is not None:
        return
    threading.Thread(target=task.result().close, name="db-close", daemon=True).start()


class Database:
    """A service's database: migrated on open, one Writer, one Reader."""

    def __init__(
        self,
        path: str,
        migrations: Sequence[Migration],
        *,
        reader_threads: int = 4,
        synchronous: str = DEFAULT_SYNCHRONOUS,
    ) -> None:
        """Connect and migrate (slow on a big database: from async code use `open`).

        `synchronous` ("NORMAL" or "FULL", see `connect`) applies to the
        connections that write: the writer's and the checkpointer's.
        """
        self.path = path
        conn = connect(path, synchronous=synchronous)
        try:
            migrate(conn, migrations)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the Checkpointer's job
            full = check_writable(conn, path)
        except BaseException:
            conn.close()
            raise
        self._write_conn = conn
        self.writer = Writer(conn, name=f"writer:{os.path.basename(path)}")
        if full is not None:
            log.error("database cannot be written (%s); writes get 503 until it can", full)
            self.writer.storage_error = full
        self.reader = Reader(path, threads=reader_threads)
        try:
            self.checkpointer = Checkpointer(path, self.writer, synchronous=synchronous)
        except BaseException:
            self.writer.close()
            self.reader.close()
            conn.close()
            raise
        self._cache: dict[Any, tuple[int, Any]] = {}
        self._loading: dict[Any, asyncio.Future[Any]] = {}

    @classmethod
    async def open(cls, path: str, migrations: Sequence[Migration], **kw: Any) -> Self:
        """The constructor on a worker thread, so migrating never blocks the event loop.

        If the caller is cancelled meanwhile, the database still finishes
        opening (a migration cannot be interrupted) and is then closed.
        """
        task = asyncio.ensure_future(asyncio.to_thread(cls, path, migrations, **kw))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_close_abandoned)
            raise

    def health(self) -> str | None:
        """None while writes can commit; else one line saying why not (for /health)."""
        error = self.writer.error
        if error is not None:
            return f"writer thread stopped: {error}"
        if not self.writer.alive:
            return "database is closed"
        if self.writer.storage_error is not None:
            return f"database cannot be written: {self.writer.storage_error}"
        return None

    async def probe_write(self) -> None:
        """A write that needs new space and leaves nothing behind: while writes
        fail, /health uses it to notice that they work again."""

        def probe(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO _meta (key, value) VALUES ('_probe', randomblob(8192))"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            )
            conn.execute("DELETE FROM _meta WHERE key = '_probe'")

        with contextlib.suppress(StorageError):
            await self.writer.submit(probe)

    async def write(self, fn: Job[T]) -> T:
        return await self.writer.submit(fn)

    async def read(self, fn: Job[T]) -> T:
        return await self.reader.run(fn)

    def write_sync(self, fn: Job[T], timeout: float | None = None) -> T:
        """`write` for background threads: blocks until committed. Not on the event loop."""
        _not_on_event_loop("write_sync")
        return self.writer.submit_sync(fn, timeout)

    def write_soon(self, fn: Job[T]) -> concurrent.futures.Future[T]:
        """`write` for a background thread that goes on working while the job commits."""
        _not_on_event_loop("write_soon")
        return self.writer.submit_thread(fn)

    def read_sync(self, fn: Job[T]) -> T:
        """`read` for background threads, on the same pool. Not on the event loop."""
        _not_on_event_loop("read_sync")
        return self.reader.run_sync(fn)

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
        """Commit pending writes, checkpoint, then close every connection.

        Blocks for as long as that takes: from async code use `aclose`.
        """
        self.writer.close()
        self.checkpointer.stop()
        self.reader.close()
        with contextlib.suppress(sqlite3.Error):
            self._write_conn.execute("PRAGMA optimize")
            self._write_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self._write_conn.close()

    async def aclose(self) -> None:
        """`close` on a worker thread, so the final checkpoint never blocks the event loop.

        This loop's not yet flushed writes are handed over here first, on
        the loop's own thread (see `Writer.flush_pending`), so they commit.
        """
        self.writer.flush_pending()
        await asyncio.to_thread(self.close)
