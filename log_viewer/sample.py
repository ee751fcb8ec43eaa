"""Sample logs for `make run`: a small shop's two containers, written as Docker does.

So a new user of the one-process stack sees the Log Viewer work at once —
entries, levels, a traceback now and then, the live tail moving — without
Docker. Files live under `<data>/sample-logs/` in Docker's layout
(`<id>/<id>-json.log`, `<id>/config.v2.json`); a file past MAX_BYTES is
rotated the way Docker rotates (renamed to `-json.log.1`), so the directory
stays small however long the stack runs.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from shared.workers import PeriodicWorker

#: A file is rotated past this size (Docker's max-size, small).
MAX_BYTES = 2 * 1024 * 1024
CONTAINERS = {"shop-web": "5a" * 32, "shop-worker": "7c" * 32}
ROUTES = ["/", "/products", "/products/{id}", "/cart", "/checkout", "/health"]
TRACEBACK = [
    "ERROR worker.jobs: job send_invoice failed",
    "Traceback (most recent call last):",
    '  File "/app/worker/jobs.py", line 48, in run',
    "    invoice = build_invoice(order)",
    '  File "/app/worker/invoices.py", line 17, in build_invoice',
    '    total = sum(line["price"] for line in order["lines"])',
    "KeyError: 'price'",
]


class SampleLogs:
    """Appends realistic lines every second; `start`/`stop` make it a stack worker."""

    def __init__(self, root: Path, seed: int | None = None) -> None:
        self.root = root
        self.random = random.Random(seed)
        self.worker = PeriodicWorker("sample-logs", self.tick, 1.0, run_at_start=True)
        self._history_written = False

    def start(self) -> None:
        for name, cid in CONTAINERS.items():
            directory = self.root / cid
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "config.v2.json").write_bytes(
                orjson.dumps({"ID": cid, "Name": f"/{name}"})
            )
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def path(self, name: str) -> Path:
        cid = CONTAINERS[name]
        return self.root / cid / f"{cid}-json.log"

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if not self._history_written:  # a few minutes of past lines, so the page is not empty
            self._history_written = True
            for second in range(180, 0, -3):
                self.write_second(now - second)
        self.write_second(now)

    def write_second(self, at: float) -> None:
        web: list[tuple[str, str]] = []
        for _ in range(self.random.randint(1, 4)):
            route = self.random.choice(ROUTES)
            status = self.random.choices((200, 404, 500), weights=(90, 8, 2))[0]
            ms = self.random.lognormvariate(3, 0.6) * (8 if route == "/checkout" else 1)
            web.append(
                (
                    "stdout",
                    f'INFO:     10.0.0.{self.random.randint(2, 250)}:0 - "GET {route} HTTP/1.1"'
                    f" {status} ({ms:.0f} ms)",
                )
            )
        if self.random.random() < 0.1:
            web.append(
                (
                    "stdout",
                    orjson.dumps(
                        {"level": "warn", "msg": "slow query", "table": "orders", "ms": 1200}
                    ).decode(),
                )
            )
        worker: list[tuple[str, str]] = [
            ("stdout", f"INFO worker.jobs: sent {self.random.randint(1, 9)} emails")
        ]
        if self.random.random() < 0.05:
            worker += [("stderr", line) for line in TRACEBACK]
        self.append("shop-web", web, at)
        self.append("shop-worker", worker, at)

    def append(self, name: str, lines: list[tuple[str, str]], at: float) -> None:
        path = self.path(name)
        stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        data = b"".join(
            orjson.dumps({"log": text + "\n", "stream": stream, "time": stamp}) + b"\n"
            for stream, text in lines
        )
        try:
            if path.exists() and path.stat().st_size > MAX_BYTES:
                path.replace(path.with_name(path.name + ".1"))
            with path.open("ab") as f:
                f.write(data)
        except OSError:
            pass  # the data directory went away: the stack is stopping
