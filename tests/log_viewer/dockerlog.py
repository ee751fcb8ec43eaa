"""Docker `json-file` log directories written from tests, as the driver writes them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

CID = "f" * 64


class DockerLog:
    """One container's directory, written the way Docker's json-file driver writes it."""

    def __init__(self, root: Path, cid: str = CID, name: str = "web") -> None:
        self.dir = root / cid
        self.dir.mkdir(parents=True)
        (self.dir / "config.v2.json").write_bytes(orjson.dumps({"Name": f"/{name}"}))
        self.path = self.dir / f"{cid}-json.log"
        self.path.touch()
        self.clock = time.time() - 60

    def record(self, log: str, stream: str = "stdout") -> bytes:
        self.clock += 0.001
        stamp = datetime.fromtimestamp(self.clock, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        return orjson.dumps({"log": log, "stream": stream, "time": stamp + "123Z"}) + b"\n"

    def write(self, data: bytes) -> None:
        with self.path.open("ab") as f:
            f.write(data)

    def lines(self, *texts: str, stream: str = "stdout") -> None:
        self.write(b"".join(self.record(t + "\n", stream) for t in texts))

    def long_line(self, text: str) -> None:
        pieces = [text[i : i + 16384] for i in range(0, len(text), 16384)]
        self.write(b"".join(self.record(p) for p in pieces[:-1]) + self.record(pieces[-1] + "\n"))
