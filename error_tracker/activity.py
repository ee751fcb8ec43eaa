"""A group's reports per hour over the last day: the list's sparkline.

Occurrences are trimmed to the newest five, so they cannot say whether a
group fired five times or five thousand in the last hour. Each group keeps
its own hourly counts instead, in one short text column of its row:
`2026-12-02T15|3,0,0,12` — the hour of the last count, then the counts of
consecutive hours ending at it, at most 24 (older hours fall off, and
leading zeros are dropped). It is bounded by construction, needs no table,
index or retention job of its own, and a repeat in the same hour rewrites
only the last number of a row the repeat updates anyway.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

HOURS = 24
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hour_of(iso: str) -> str:
    """`2026-12-02T15` of `2026-12-02T15:04:05Z`: the prefix is the hour."""
    return iso[:13]


def _index(hour: str) -> int:
    """Hours since the epoch, so two hours can be subtracted."""
    moment = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return int((moment - _EPOCH).total_seconds()) // 3600


def _parse(value: str) -> tuple[str, list[int]]:
    hour, _, counts = value.partition("|")
    return hour, [int(c) for c in counts.split(",")]


def _format(hour: str, counts: list[int]) -> str:
    counts = counts[-HOURS:]
    first = next((i for i, c in enumerate(counts) if c), len(counts) - 1)
    return hour + "|" + ",".join(map(str, counts[first:]))


def bump(value: str | None, hour: str, n: int = 1) -> str:
    """`value` with `n` more reports in `hour` (a `YYYY-MM-DDTHH` string).

    Reports are stored as they arrive, so `hour` is never far behind the last;
    one that is (a clock stepped back) counts in its own hour if that is still
    in the window, and is dropped from the sparkline (never from `count`) if not.
    """
    if not value:
        return f"{hour}|{n}"
    if value.startswith(hour + "|"):  # the common case: another report in the same hour
        head, sep, last = value.rpartition(",")
        if not sep:
            head, sep, last = value.partition("|")
        if last.isascii() and last.isdigit():
            return f"{head}{sep}{int(last) + n}"
    try:
        last_hour, counts = _parse(value)
        shift = _index(hour) - _index(last_hour)
    except ValueError:  # written by hand or damaged: start again rather than fail a report
        return f"{hour}|{n}"
    if shift > 0:
        counts += [0] * shift
        counts[-1] += n
        return _format(hour, counts)
    if -shift < len(counts):
        counts[shift - 1] += n
    elif -shift < HOURS:
        counts = [n] + [0] * (-shift - len(counts)) + counts
    return _format(last_hour, counts)


def series(value: str | None, now: str | None = None) -> list[int]:
    """The last 24 hours' counts, oldest first, ending with the current hour."""
    out = [0] * HOURS
    if not value:
        return out
    current = hour_of(now or time.strftime("%Y-%m-%dT%H", time.gmtime()))
    try:
        last_hour, counts = _parse(value)
        age = _index(current) - _index(last_hour)
    except ValueError:
        return out
    for i, count in enumerate(reversed(counts)):  # i hours before last_hour
        slot = HOURS - 1 - age - i
        if 0 <= slot < HOURS:
            out[slot] = count
    return out
