"""Docker `json-file` log directories for the log benchmarks: L1's input.

`write_docker_logs(root, lines, containers=4, multiline=0.05)` writes
`root/<id>/<id>-json.log` and `config.v2.json` per container, as Docker's
driver does: realistic web-access and worker lines, and a share of entries
that are multiline (a four-line Python traceback), spread over the
containers. Seeded, so every run ingests the same bytes.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import orjson

TRACEBACK = [
    "ERROR worker.jobs: job send_invoice failed",
    "Traceback (most recent call last):",
    '  File "/app/worker/jobs.py", line 48, in run',
    "KeyError: 'price'",
]


def write_docker_logs(
    root: Path, lines: int, containers: int = 4, multiline: float = 0.05, seed: int = 1
) -> dict[str, int]:
    """Write about `lines` log lines; returns {"lines", "entries", "bytes"}."""
    rnd = random.Random(seed)
    files = []
    for c in range(containers):
        cid = f"{c:02x}" * 32
        directory = root / cid
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.v2.json").write_bytes(orjson.dumps({"Name": f"/service-{c}"}))
        files.append((directory / f"{cid}-json.log").open("wb"))
    written = entries = size = 0
    second = 1_764_669_600  # 2025-12-02T10:00:00Z
    try:
        while written < lines:
            f = files[rnd.randrange(containers)]
            if rnd.random() < multiline:
                texts, stream = TRACEBACK, "stderr"
            else:
                texts = [
                    f'INFO:     10.0.0.{rnd.randint(2, 250)}:0 - "GET /items/'
                    f'{rnd.randint(1, 9999)} HTTP/1.1" {rnd.choice((200, 200, 200, 404))}'
                ]
                stream = "stdout"
            second += rnd.random() < 0.01
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            stamp += f".{rnd.randrange(10**9):09d}Z"
            data = b"".join(
                orjson.dumps({"log": t + "\n", "stream": stream, "time": stamp}) + b"\n"
                for t in texts
            )
            f.write(data)
            written += len(texts)
            entries += 1
            size += len(data)
    finally:
        for f in files:
            f.close()
    return {"lines": written, "entries": entries, "bytes": size}


def docker_record(text: str, stream: str = "stdout") -> bytes:
    """One line as Docker's json-file driver writes it now (L3 appends these)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    stamp += f".{int(now % 1 * 1e9):09d}Z"
    return orjson.dumps({"log": text + "\n", "stream": stream, "time": stamp}) + b"\n"
