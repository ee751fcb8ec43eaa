"""The results table, and docs/benchmarks.md's "Latest results" section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    .venv/bin/python -m bench E1 E3           # a subset (prints only; --write to record)
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

Adding a benchmark: one function decorated `@benchmark("M1", "...")` in a
module listed in `bench/__main__.py` `SUITES`, returning rows; for HTTP
loads `bench.core.run_load` starts the service, runs wrk in both connection
modes `--runs` times and takes the medians.
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
            out.append(f"{row.id} {row.what} ({row.mode}) misses: {', '.join(missed)}")
    return ceiling_notes(rows) + out


def section(
    rows: Sequence[Row], facts: Mapping[str, str], settings: str, load: tuple[str, str]
) -> str:
    machine = (
        f"{facts['date']} · {facts['nproc']} CPUs ({facts['cpu']}) · Python {facts['python']}"
        f" · SQLite {facts['sqlite']} · {facts['wrk']} · Linux {facts['kernel']}"
    )
    parts = [
        HEADING,
        "",
        f"Machine: {machine}.  ",
        f"Settings: {settings}.  ",
        f"Load average before/after: {load[0]} / {load[1]} (other work shares the machine).",
        "",
        table(rows),
    ]
    extra = notes(rows)
    if extra:
        parts += ["", "Notes:", ""] + [f"- {note}" for note in extra]
    return "\n".join(parts) + "\n"


def write_docs(path: Path, text: str) -> None:
    """Replace everything from the "Latest results" heading on; keep the intro."""
    intro = DEFAULT_INTRO
    if path.exists():
        current = path.read_text()
        head, sep, _ = current.partition(HEADING)
        if sep:
            intro = head
        elif current.strip():
            intro = current.rstrip() + "\n\n"
    if not intro.endswith("\n\n"):
        intro = intro.rstrip("\n") + "\n\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(intro + text)
