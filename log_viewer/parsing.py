"""Docker `json-file` records: bytes read from a log file → complete log lines.

Pure functions and a small per-file state, no I/O, so every case a real
file can hold is tested directly:

* one JSON object per line, `{"log": ..., "stream": ..., "time": ...}`;
* a half-written last line (no newline yet) is left for the next read;
* Docker splits lines longer than 16 KiB into several records, only the last
  ending in `\\n`: the pieces of one stream are joined (lines of any length);
* a malformed record is skipped and counted, never stops the reader;
* bytes that are not UTF-8 are replaced, the line kept.

Every line carries the byte offsets it spans in the file: the reader's
cursor may only move past lines that are stored, so a line still waiting
for its continuation (a split piece, or a multiline entry in progress)
holds the cursor back to where it started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

STREAMS = ("stdout", "stderr")
#: A line longer than this (a process printing without newlines) is stored in
#: parts of this size, so one runaway writer cannot exhaust the reader's memory.
MAX_LINE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Line:
    """One complete log line of a container's stream."""

    time: str  # Docker's RFC 3339 time of the line (its first piece)
    stream: str
    text: str  # without the trailing newline
    start: int  # file offset of the line's first record
    end: int  # file offset just past its last record


@dataclass(slots=True)
class Record:
    """One decoded record (a whole line, or a piece of a split one)."""

    log: str
    stream: str
    time: str


def decode_record(raw: bytes) -> Record | None:
    """A JSON record, or None when it is not one of Docker's (malformed)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:  # invalid UTF-8 in the file: keep the line, with the bad bytes replaced
            data = orjson.loads(raw.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            return None
    if not isinstance(data, dict):
        return None
    log, stream, time = data.get("log"), data.get("stream", "stdout"), data.get("time")
    if not isinstance(log, str) or not isinstance(time, str) or not time:
        return None
    if stream not in STREAMS:
        stream = "stdout"
    return Record(log, stream, time)


@dataclass(slots=True)
class Partial:
    """Pieces of a split line seen so far on one stream."""

    time: str
    start: int
    pieces: list[str] = field(default_factory=list)
    size: int = 0


@dataclass(slots=True)
class LineReader:
    """Turns a file's bytes into complete lines, across reads.

    `feed(data, offset)` takes bytes read at `offset` and returns the lines
    completed in them; `consumed` is how far the bytes were used (the rest,
    a half-written record, is read again next time); `held` is where the
    oldest split line still waiting for its last piece starts, if any.
    """

    #: Records that were not Docker JSON, since this reader started.
    malformed: int = 0
    partials: dict[str, Partial] = field(default_factory=dict)

    def feed(self, data: bytes, offset: int) -> tuple[list[Line], int]:
        """(complete lines, offset just past the last complete record)."""
        lines: list[Line] = []
        position = 0
        size = len(data)
        while position < size:
            newline = data.find(b"\n", position)
            if newline < 0:
                break  # half-written: wait for the rest
            raw = data[position:newline]
            start, end = offset + position, offset + newline + 1
            position = newline + 1
            if not raw.strip():
                continue
            record = decode_record(raw)
            if record is None:
                self.malformed += 1
                continue
            line = self._assemble(record, start, end)
            if line is not None:
                lines.append(line)
        return lines, offset + position

    def _assemble(self, record: Record, start: int, end: int) -> Line | None:
        pending = self.partials.get(record.stream)
        if not record.log.endswith("\n"):  # a piece of a longer line
            if pending is None:
                pending = self.partials[record.stream] = Partial(record.time, start)
            pending.pieces.append(record.log)
            pending.size += len(record.log)
            if pending.size < MAX_LINE:
                return None
            del self.partials[record.stream]  # runaway line: store what there is
            return Line(pending.time, record.stream, "".join(pending.pieces), pending.start, end)
        text = record.log[:-1]
        if text.endswith("\r"):
            text = text[:-1]
        if pending is None:
            return Line(record.time, record.stream, text, start, end)
        del self.partials[record.stream]
        pending.pieces.append(text)
        return Line(pending.time, record.stream, "".join(pending.pieces), pending.start, end)

    @property
    def held(self) -> int | None:
        """Where the oldest unfinished split line starts (the cursor may not pass it)."""
        return min((p.start for p in self.partials.values()), default=None)

    def reset(self) -> None:
        """A new file (rotation, truncation): pieces of the old one cannot continue."""
        self.partials.clear()

    def state(self) -> dict[str, Any]:
        """What must survive a restart with the cursor: the pieces of unfinished lines."""
        return {stream: [p.time, p.start, "".join(p.pieces)] for stream, p in self.partials.items()}

    @classmethod
    def restore(cls, state: dict[str, Any]) -> LineReader:
        reader = cls()
        for stream, (time, start, text) in state.items():
            reader.partials[stream] = Partial(time, start, [text], len(text))
        return reader
