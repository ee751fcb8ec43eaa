"""The results table, and docs/benchmarks.md's "Latest results" section."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.core import Row, fmt_ms, fmt_rps, fmt_us, fmt_value

HEADING = "## Latest results"

DEFAULT_INTRO = """\
# Benchmarks

The bar and the method are in the performance spec: start the real service
(`python -m <service>` with `RATE_LIMIT=0` on a free loopback port), drive it
with `wrk` with keep-alive and again with `Connection: close`, run each
benchmark 3 times and report the median. Benchmarks are never part of
`make test`.

    make bench                                # everything; rewrites the section below
    .venv/bin/python -m bench E1 E3           # a subset (prints only; --write merges its rows)
    .venv/bin/python -m bench E1 --runs 1 --duration 3   # quick, while developing
    .venv/bin/python -m bench --list          # what there is
    .venv/bin/python -m bench E1 --profile /tmp/prof     # + py-spy samples per run

`REF` is a bare Starlette + uvicorn (httptools, uvloop) endpoint that parses
the same JSON POST and answers with orjson (`bench/baseline_app.py`): the
ceiling for any endpoint of ours, measured in the same run. Bars apply to
keep-alive; with `Connection: close` the ingest rows must beat the earlier
native implementation's figure (which could only close), E3's bars apply to
both. `errors` counts non-2xx responses plus socket errors (connect, read,
write, timeouts over 5 s). `CPU/req` is the server process's CPU time (user +
system, all threads, from /proc) divided by the requests answered: what a
request costs the server, much steadier than req/s when other work shares
the machine. `value` is for figures that are not request rates (S1: MB of
VmRSS, or VmHWM for the peak). The machine is small and shared: req/s and
p99 wobble by 10-50 % between runs when tests run beside the benchmark, so
compare rows of the same run (REF is there for that).

E3 seeds 100k realistic groups straight into SQLite (through the tracker's
own migrations, `bench/seed_errors.py`) and measures once the service's
start-up background work (search index catch-up, retention) has settled.
S1 reads VmRSS/VmHWM from /proc for each service on its own and for
`python -m shared.stack` (limited to the services that start on their own
while others are still being built).

M1 posts 100-point batches shaped like the monlight client's flushes
(`bench/metrics_batch.lua`: the FastAPI middleware's request counter and
duration histogram labelled method/endpoint/status, some job timings and a
gauge, timestamps over the last 10 s); its `value` is points/s = req/s × 100.
M2 seeds a day of 1M points (`bench/seed_metrics.py`) through the
collector's own code — 1000-point batches through `parse_batch` and the
`store` write job, the real `Aggregator` run after every simulated minute
with retention — so the database holds what a service that ran all day
holds: minute and hour rows for the day, raw points for the last hour, the
newest minute not aggregated yet. It then queries
`GET /api/metrics?name=http_request_duration_seconds&period=24h` (5 routes ×
3 statuses = 15 series) with and without a label filter while the worker
stays idle (`AGGREGATION_INTERVAL=86400`); the p50 bar applies at 1 and at
32 connections. M3 seeds 1M raw points not yet aggregated (a burst within
50 minutes, and a day's backlog after downtime) and times one run of the
worker's `Aggregator.run_once` (aggregation, then retention) on a fresh
copy per run; `value` is seconds, the notes split them by phase. With
`--profile`, M3 samples the bench process itself (the run is on a thread
named `aggregation`, like the service's worker).

Adding a benchmark: one function decorated `@benchmark("M1", "...")` in a
module listed in `bench/__main__.py` `SUITES`, returning rows; for HTTP
loads `bench.core.run_load` starts the service, runs wrk in both connection
modes `--runs` times and takes the medians.

`--write` with some ids replaces only those ids' rows (and notes) in the
section below and lists which run each row comes from; `make bench` (all
ids) rewrites the whole table.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| id | what | conn | req/s | p50 | p99 | errors | CPU/req | value | bar | result |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for row in rows:
        bar = "; ".join(check.label for check in row.bar) or "–"
        errors = "–" if row.errors is None else str(row.errors)
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    row.id,
                    row.what,
                    row.mode,
                    fmt_rps(row.rps),
                    fmt_ms(row.p50_ms),
                    fmt_ms(row.p99_ms),
                    errors,
                    fmt_us(row.cpu_us),
                    fmt_value(row),
                    bar,
                    row.verdict,
                )
            )
            + " |"
        )
    return "\n".join(lines)


#: Rows compared with REF: ingest paths, where the spec asks for "within 2× of it".
CEILING_COMPARED = ("E1", "E2", "M1", "R1")


def ceiling_notes(rows: Sequence[Row]) -> list[str]:
    """How far each ingest row is from the bare HTTP stack, in req/s and in CPU."""
    ref = {row.mode: row for row in rows if row.id == "REF"}
    out = []
    for row in rows:
        base = ref.get(row.mode)
        if row.id not in CEILING_COMPARED or base is None or not (row.rps and base.rps):
            continue
        share = row.rps / base.rps
        text = (
            f"{row.id} {row.mode}: {share:.1%} of REF's req/s "
            f"({'within' if share >= 0.5 else 'not within'} 2× of the ceiling)"
        )
        if row.cpu_us and base.cpu_us:
            text += f"; {row.cpu_us / base.cpu_us:.1f}× REF's CPU per request"
        out.append(text)
    return out


def notes(rows: Sequence[Row]) -> list[str]:
    out = []
    for row in rows:
        out += [
            f"{row.id} {row.what}" + (f" ({row.mode})" if row.mode != "–" else "") + f": {note}"
            for note in row.notes
        ]
        missed = row.missed()
        if missed:
            mode = f" ({row.mode})" if row.mode != "–" else ""
            out.append(f"{row.id} {row.what}{mode} misses: {', '.join(missed)}")
    return ceiling_notes(rows) + out


def machine_line(facts: Mapping[str, str]) -> str:
    return (
        f"{facts['nproc']} CPUs ({facts['cpu']}) · Python {facts['python']}"
        f" · SQLite {facts['sqlite']} · {facts['wrk']} · Linux {facts['kernel']}"
    )


def section(
    rows: Sequence[Row], facts: Mapping[str, str], settings: str, load: tuple[str, str]
) -> str:
    ids = list(dict.fromkeys(row.id for row in rows))
    run = Run(
        facts["date"],
        ids,
        f"{settings}; load average before/after {load[0]} / {load[1]}",
        machine_line(facts),
    )
    lines = table(rows).splitlines()[2:]
    recorded = Recorded(
        [run],
        [(row.id, line) for row, line in zip(rows, lines, strict=True)],
        [(note.split(" ", 1)[0], note) for note in notes(rows)],
    )
    return render(recorded)


# -- recording: a subset run replaces only its own ids' rows ------------------


@dataclass
class Run:
    """One `python -m bench` invocation whose rows are (still) in the table."""

    date: str
    ids: list[str]
    detail: str
    machine: str


@dataclass
class Recorded:
    """The "Latest results" section, parsed: runs, table rows and notes by id."""

    runs: list[Run]
    rows: list[tuple[str, str]]
    notes: list[tuple[str, str]] = field(default_factory=list)


TABLE_HEAD = table([]).splitlines()
RUNS_INTRO = "Rows come from these runs (a run of some ids replaces only those ids' rows):"
_RUN_LINE = re.compile(r"^- (.+? UTC) · ([^:]+): (.*?)(?: \(machine: (.*)\))?$")


def render(recorded: Recorded) -> str:
    machine = recorded.runs[-1].machine if recorded.runs else "unknown"
    parts = [HEADING, "", f"Machine: {machine}.", "", RUNS_INTRO, ""]
    for run in recorded.runs:
        other = f" (machine: {run.machine})" if run.machine != machine else ""
        parts.append(f"- {run.date} · {', '.join(run.ids)}: {run.detail}{other}")
    parts += ["", *TABLE_HEAD, *(line for _, line in recorded.rows)]
    if recorded.notes:
        parts += ["", "Notes:", ""] + [f"- {note}" for _, note in recorded.notes]
    return "\n".join(parts) + "\n"


def row_id(line: str) -> str:
    return line.split("|")[1].strip()


def parse(text: str) -> Recorded | None:
    """Read a section written by `render` (or by the one-run format before it)."""
    lines = text.splitlines()
    if HEADING not in lines or TABLE_HEAD[0] not in lines:
        return None
    machine = ""
    runs: list[Run] = []
    rows: list[tuple[str, str]] = []
    notes_: list[tuple[str, str]] = []
    legacy: dict[str, str] = {}
    in_notes = False
    for line in lines:
        text_ = line.rstrip()
        if text_.startswith("Machine: "):
            machine = text_.removeprefix("Machine: ").rstrip(".")
        elif text_.startswith(("Settings: ", "Load average before/after: ")):
            name, _, value = text_.partition(": ")
            legacy[name] = value.rstrip(".")
        elif text_ == "Notes:":
            in_notes = True
        elif text_.startswith("| ") and text_ not in TABLE_HEAD:
            rows.append((row_id(text_), text_))
        elif text_.startswith("- ") and in_notes:
            note = text_[2:]
            notes_.append((note.split(" ", 1)[0], note))
        elif text_.startswith("- ") and (match := _RUN_LINE.match(text_)):
            date, ids, detail, other = match.groups()
            runs.append(Run(date, ids.split(", "), detail, other or ""))
    for run in runs:
        run.machine = run.machine or machine
    if not runs and legacy:
        # One run, its date leading the machine line.
        date, _, rest = machine.partition(" · ")
        load = legacy.get("Load average before/after", "").split(" (")[0]
        detail = f"{legacy.get('Settings', '')}; load average before/after {load}"
        runs.append(Run(date, list(dict.fromkeys(i for i, _ in rows)), detail, rest))
    return Recorded(runs, rows, notes_)


def merge(old: Recorded, new: Recorded, order: Sequence[str]) -> Recorded:
    """`new`'s ids replace theirs in `old`; the table follows `order` (registry order),
    ids it does not know stay after, as they were."""
    fresh = {i for run in new.runs for i in run.ids} | {i for i, _ in new.rows}
    runs = []
    for run in old.runs:
        kept = [i for i in run.ids if i not in fresh]
        if kept:
            runs.append(Run(run.date, kept, run.detail, run.machine))
    runs += new.runs
    ids = list(dict.fromkeys([*(i for i, _ in old.rows), *(i for i, _ in new.rows)]))
    rank = {bench_id: n for n, bench_id in enumerate(order)}
    ids.sort(key=lambda i: rank.get(i, len(rank)))  # stable: unknown ids keep their order

    def pick(
        entries_old: list[tuple[str, str]], entries_new: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for bench_id in ids:
            source = entries_new if bench_id in fresh else entries_old
            out += [entry for entry in source if entry[0] == bench_id]
        return out

    return Recorded(runs, pick(old.rows, new.rows), pick(old.notes, new.notes))


def write_docs(path: Path, text: str, merge_order: Sequence[str] | None = None) -> None:
    """Replace everything from the "Latest results" heading on; keep the intro.

    With `merge_order` (a run of some benchmarks), rows and notes of the ids
    not run now are kept from the recorded section, which then lists each run
    its rows come from.
    """
    intro = DEFAULT_INTRO
    if path.exists():
        current = path.read_text()
        head, sep, recorded = current.partition(HEADING)
        if sep:
            intro = head
            if merge_order is not None:
                old, new = parse(sep + recorded), parse(text)
                if old is not None and new is not None:
                    text = render(merge(old, new, merge_order))
        elif current.strip():
            intro = current.rstrip() + "\n\n"
    if not intro.endswith("\n\n"):
        intro = intro.rstrip("\n") + "\n\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(intro + text)
