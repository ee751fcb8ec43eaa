"""Traffic on all four services of a running stack, remembering what was acknowledged.

Used by the backup and graceful-shutdown tests: writers post errors to the
tracker, metric batches to the collector, browser errors through the relay
(which forwards them to the tracker) and DSN keys to the relay's admin API;
a log writer appends lines to a container directory the log viewer reads, and
a reader queries the viewer. Each write the service answered 2xx is recorded
with a token the databases can be searched for afterwards (for log lines: each
line a query returned). Connection errors while a server stops are expected and
simply not acknowledged; every other answer is kept in `refused` with its time
(time.monotonic()), kind and status, for the test to judge.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

#: The container the log writer appends to (Docker's layout under LOG_SOURCES).
LOG_CONTAINER = "loadtest"
LOG_CID = "ab" * 32
ORIGIN = "http://localhost:3000"  # one of the origins `make run` allows


def prepare_log_container(sources: Path) -> Path:
    """The container directory (created before the stack starts); its log file path."""
    directory = sources / LOG_CID
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.v2.json").write_bytes(
        orjson.dumps({"ID": LOG_CID, "Name": f"/{LOG_CONTAINER}"})
    )
    path = directory / f"{LOG_CID}-json.log"
    path.touch()
    return path


class Traffic:
    """Writers (one thread each) until `stop()`; `acked[kind]` holds acknowledged tokens."""

    KINDS = ("error", "metric", "browser", "dsn", "log")

    def __init__(
        self, urls: dict[str, str], key: str, dsn: str, log_file: Path, pause: float = 0.005
    ) -> None:
        self.urls = urls
        self.key = key
        self.dsn = dsn
        self.log_file = log_file
        self.pause = pause
        self.acked: dict[str, set[str]] = {kind: set() for kind in self.KINDS}
        self.refused: list[tuple[float, str, int, str]] = []
        self.queries = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.counter = itertools.count()

    # -- running ------------------------------------------------------------------

    def start(self) -> Traffic:
        targets: list[Callable[[], None]] = [
            self.errors,
            self.metrics,
            self.browser_errors,
            self.dsn_keys,
            self.log_lines,
            self.log_queries,
        ]
        for target in targets:
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def snapshot(self) -> dict[str, set[str]]:
        """What is acknowledged so far."""
        with self.lock:
            return {kind: set(tokens) for kind, tokens in self.acked.items()}

    def refused_before(self, moment: float) -> list[tuple[float, str, int, str]]:
        with self.lock:
            return [r for r in self.refused if r[0] < moment]

    def count(self, kind: str) -> int:
        with self.lock:
            return len(self.acked[kind])

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the writers --------------------------------------------------------------

    def _token(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def _post_loop(self, kind: str, url: str, make: Callable[[str], tuple[dict, bytes]]) -> None:
        """POST made bodies until stopped; a 2xx acknowledges the token."""
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                token = self._token(kind)
                headers, body = make(token)
                try:
                    r = client.post(url, headers=headers, content=body)
                except httpx.HTTPError:
                    # The server is stopping (or stopped): not acknowledged. Back off a little.
                    time.sleep(0.02)
                    continue
                with self.lock:
                    if 200 <= r.status_code < 300:
                        self.acked[kind].add(token)
                    else:
                        self.refused.append((time.monotonic(), kind, r.status_code, r.text[:200]))
                time.sleep(self.pause)

    def _json(self, headers: dict[str, str], data: object) -> tuple[dict, bytes]:
        return {**headers, "Content-Type": "application/json"}, orjson.dumps(data)

    def errors(self) -> None:
        auth = {"X-API-Key": self.key}
        self._post_loop(
            "error",
            f"{self.urls['error_tracker']}/api/errors",
            lambda t: self._json(
                auth,
                {
                    "project": "load",
                    "exception_type": f"LoadError_{t}",
                    "message": "load test",
                    "traceback": 'Traceback (most recent call last):\n  File "load/run.py",'
                    f" line 3, in go\nLoadError_{t}: load test\n",
                },
            ),
        )

    def metrics(self) -> None:
        auth = {"X-API-Key": self.key}
        self._post_loop(
            "metric",
            f"{self.urls['metrics_collector']}/api/metrics",
            lambda t: self._json(
                auth,
                [
                    {"name": "load_batches_total", "type": "counter", "value": 1,
                     "labels": {"batch": t}},
                    {"name": "load_latency_ms", "type": "histogram", "value": 12.5,
                     "labels": {"batch": t}},
                ],
            ),
        )  # fmt: skip

    def browser_errors(self) -> None:
        headers = {"X-Monlight-Key": self.dsn, "Origin": ORIGIN}
        self._post_loop(
            "browser",
            f"{self.urls['browser_relay']}/api/browser/errors",
            lambda t: self._json(
                headers,
                {
                    "type": f"LoadBrowser_{t}",
                    "message": "relayed under load",
                    "stack": f"LoadBrowser_{t}: relayed\n    at go (https://load.example/a.js:1:2)",
                },
            ),
        )

    def dsn_keys(self) -> None:
        auth = {"X-API-Key": self.key}
        self._post_loop(
            "dsn",
            f"{self.urls['browser_relay']}/api/dsn-keys",
            lambda t: self._json(auth, {"project": f"load-{t}"}),
        )

    def log_lines(self) -> None:
        """Append Docker json-file lines; they count once a query returned them."""
        with self.log_file.open("ab") as out:
            while not self.stopping.is_set():
                token = self._token("log")
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
                line = {"log": f"load line {token}\n", "stream": "stdout", "time": stamp}
                out.write(orjson.dumps(line) + b"\n")
                out.flush()
                time.sleep(0.01)

    def log_queries(self) -> None:
        """Query the viewer (its container's newest lines, a search, the histogram)."""
        base = self.urls["log_viewer"]
        auth = {"X-API-Key": self.key}
        queries = [
            ("/api/logs", {"container": LOG_CONTAINER, "limit": "500"}),
            ("/api/logs", {"search": "load", "limit": "50"}),
            ("/api/logs/histogram", {}),
            ("/api/logs/stats", {}),
        ]
        with httpx.Client(timeout=10, headers=auth) as client:
            for path, params in itertools.cycle(queries):
                if self.stopping.is_set():
                    return
                try:
                    r = client.get(f"{base}{path}", params=params)
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                if r.status_code != 200:
                    with self.lock:
                        self.refused.append((time.monotonic(), path, r.status_code, r.text[:200]))
                    continue
                with self.lock:
                    self.queries += 1
                if path == "/api/logs" and "container" in params:
                    seen = [
                        e["message"].removeprefix("load line ")
                        for e in r.json()["logs"]
                        if e["message"].startswith("load line ")
                    ]
                    with self.lock:
                        self.acked["log"].update(seen)
                time.sleep(self.pause)


# -- what the databases hold -----------------------------------------------------------


def db_rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def stored(data: Path, names: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Every token the databases hold, by kind (`data`: the directory of the four
    databases, or `names` mapping a database stem to another file)."""
    files = {
        "errors": data / "errors.db",
        "metrics": data / "metrics.db",
        "logs": data / "logs.db",
        "browser-relay": data / "browser-relay.db",
    }
    files.update({k: Path(v) for k, v in (names or {}).items()})
    types = [r[0] for r in db_rows(files["errors"], "SELECT exception_type FROM errors")]
    batches = {
        json.loads(r[0]).get("batch")
        for r in db_rows(
            files["metrics"],
            "SELECT labels FROM metrics_raw WHERE name = 'load_batches_total'",
        )
    }
    projects = [r[0] for r in db_rows(files["browser-relay"], "SELECT project FROM dsn_keys")]
    lines = [
        r[0]
        for r in db_rows(
            files["logs"],
            "SELECT message FROM log_entries WHERE message LIKE 'load line %'",
        )
    ]
    return {
        "error": {t.removeprefix("LoadError_") for t in types if t.startswith("LoadError_")},
        "browser": {t.removeprefix("LoadBrowser_") for t in types if t.startswith("LoadBrowser_")},
        "metric": {b for b in batches if b},
        "dsn": {p.removeprefix("load-") for p in projects if p.startswith("load-")},
        "log": {m.removeprefix("load line ") for m in lines},
    }


def missing(acked: dict[str, set[str]], held: dict[str, set[str]]) -> dict[str, list[str]]:
    """Acknowledged tokens the databases do not hold (empty lists when none is lost)."""
    return {kind: sorted(acked[kind] - held[kind])[:10] for kind in acked}
