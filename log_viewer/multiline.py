"""Multiline reassembly: the lines of one container's stream → log entries.

A line continues the open entry of its stream when it

* starts with whitespace (indented continuations, Java's `\\tat ...` and
  `... 3 more`, Python's frames and code lines);
* is a stack frame, `at ...`, or Java's `Caused by: ...`;
* is part of a Python traceback: `Traceback (most recent call last):`, and
  while one is in progress the final `SomeError: message` line, the blank
  lines and the "During handling of the above exception..." sentences of a
  chained traceback.

Anything else starts a new entry and completes the open one, which is why
an entry is only known to be complete when the next line arrives or the
caller flushes it (the ingestion worker does once its stream goes quiet).
Entries remember the file offsets they span, so the reader's cursor never
passes a line of an entry that is not stored yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from log_viewer import levels
from log_viewer.parsing import Line

#: An entry is closed once it reaches either bound; the next line starts a new one.
MAX_ENTRY_LINES = 2_000
MAX_ENTRY_CHARS = 1_048_576

_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
_FRAME = re.compile(r"^\s*at\s")
_CAUSED = re.compile(r"^(Caused by|Suppressed):\s")
#: The last line of a Python traceback: `ValueError: bad`, `pkg.mod.Error`, `KeyboardInterrupt`.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?::\s.*|:)?$")

# Where a Python traceback stands in the open entry.
_NONE, _FRAMES, _RAISED = 0, 1, 2


@dataclass(slots=True)
class Entry:
    """One log entry: its first line's time, stream and level, all its lines."""

    time: str
    stream: str
    level: str
    lines: list[str]
    start: int  # file offset of its first line
    end: int  # file offset just past its last line

    @property
    def message(self) -> str:
        return "\n".join(self.lines)


@dataclass(slots=True)
class _Open:
    entry: Entry
    traceback: int = _NONE
    chars: int = 0


def continues(text: str, traceback: int) -> tuple[bool, int]:
    """Whether a line continues the open entry, and the traceback state after it."""
    if text.startswith(_TRACEBACK):
        return True, _FRAMES
    if text[:1] in (" ", "\t"):
        return True, traceback
    if _FRAME.match(text) or _CAUSED.match(text):
        return True, traceback
    if traceback == _FRAMES:
        if not text:
            return True, _FRAMES
        if _EXCEPTION.match(text):
            return True, _RAISED
    if traceback == _RAISED and (not text or text in _CHAINED):
        return True, _RAISED
    return False, _NONE


@dataclass(slots=True)
class Reassembler:
    """Open entries of one container, one per stream."""

    open: dict[str, _Open] = field(default_factory=dict)

    def feed(self, line: Line) -> list[Entry]:
        """Add a line; returns the entry it completed, if it started a new one."""
        current = self.open.get(line.stream)
        if current is not None:
            joins, state = continues(line.text, current.traceback)
            full = len(current.entry.lines) >= MAX_ENTRY_LINES or current.chars >= MAX_ENTRY_CHARS
            if joins and not full:
                current.entry.lines.append(line.text)
                current.entry.end = line.end
                current.traceback = state
                current.chars += len(line.text) + 1
                return []
        done = [] if current is None else [_finish(current.entry)]
        entry = Entry(
            line.time,
            line.stream,
            levels.detect(line.text, line.stream),
            [line.text],
            line.start,
            line.end,
        )
        state = _FRAMES if line.text.startswith(_TRACEBACK) else _NONE
        self.open[line.stream] = _Open(entry, state, len(line.text))
        return done

    def close(self, stream: str) -> list[Entry]:
        """Complete the open entry of one stream (it has gone quiet)."""
        current = self.open.pop(stream, None)
        return [] if current is None else [_finish(current.entry)]

    def flush(self) -> list[Entry]:
        """Complete every open entry (its stream has gone quiet, or the file ended)."""
        done = [_finish(o.entry) for o in self.open.values()]
        self.open.clear()
        return done

    @property
    def held(self) -> int | None:
        """Where the oldest open entry starts: the cursor may not pass it."""
        return min((o.entry.start for o in self.open.values()), default=None)

    def state(self) -> dict[str, Any]:
        """The open entries, as they must survive a restart with the cursor."""
        return {
            stream: [e.time, e.level, e.lines, e.start, e.end, o.traceback]
            for stream, o in self.open.items()
            for e in (o.entry,)
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Reassembler:
        r = cls()
        for stream, (time, level, lines, start, end, traceback) in state.items():
            entry = Entry(time, stream, level, list(lines), start, end)
            r.open[stream] = _Open(entry, traceback, sum(len(x) + 1 for x in lines))
        return r


def _finish(entry: Entry) -> Entry:
    """Blank lines a traceback in progress kept, in case more followed, go."""
    while len(entry.lines) > 1 and not entry.lines[-1].strip():
        entry.lines.pop()
    return entry
