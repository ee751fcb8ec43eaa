"""The benchmark registry, bars, result rows and the load-run loop.

A benchmark is one function registered under its id (E1, M1, ...) that gets
a Context and returns table rows. Adding the metrics, log or relay
benchmarks means adding one such function in a module listed in
`bench.__main__.SUITES`; `run_load` does the start-service / wrk / median
part for anything HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.service import Service
from bench.wrk import MODES, Load, WrkResult

# -- bars ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One condition of a bar, e.g. `rps >= 6000` printed as `≥ 6,000 req/s`."""

    metric: str  # rps | p50_ms | p99_ms | errors | value
    op: str  # ">=" | "<="
    limit: float
    label: str

    def holds(self, row: Row) -> bool | None:
        measured = getattr(row, self.metric)
        if measured is None:
            return None
        return measured >= self.limit if self.op == ">=" else measured <= self.limit


def min_rps(limit: float, why: str = "") -> Check:
    return Check("rps", ">=", limit, f"≥ {limit:,.0f} req/s{why}")


def max_p50(ms: float) -> Check:
    return Check("p50_ms", "<=", ms, f"p50 ≤ {ms:g} ms")


def max_p99(ms: float) -> Check:
    return Check("p99_ms", "<=", ms, f"p99 ≤ {ms:g} ms")


def no_errors() -> Check:
    return Check("errors", "<=", 0, "0 errors")


def max_value(limit: float, unit: str) -> Check:
    return Check("value", "<=", limit, f"≤ {limit:g} {unit}")


def min_value(limit: float, unit: str) -> Check:
    return Check("value", ">=", limit, f"≥ {limit:,.0f} {unit}")


# -- rows ---------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One line of the table: medians over the runs of one variant."""

    id: str
    what: str
    mode: str = "–"
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    #: Median server CPU time per request (µs): what a request costs the server.
    cpu_us: float | None = None
    #: A figure that is not a request rate: MB of RSS, points/s, seconds.
    value: float | None = None
    unit: str = ""
    bar: Sequence[Check] = ()
    notes: list[str] = field(default_factory=list)
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.bar:
            return "ref" if self.id == "REF" else "info"
        held = [check.holds(self) for check in self.bar]
        if False in held:
            return "**miss**"
        return "n/a" if None in held else "pass"

    def missed(self) -> list[str]:
        return [check.label for check in self.bar if check.holds(self) is False]


def row_from_runs(
    bench_id: str, what: str, mode: str, results: Sequence[WrkResult], bar: Sequence[Check]
) -> Row:
    """The median of each figure over the runs (each run is one wrk invocation)."""
    row = Row(
        bench_id,
        what,
        mode,
        rps=statistics.median(r.rps for r in results),
        p50_ms=_median_or_none([r.p50_ms for r in results]),
        p99_ms=_median_or_none([r.p99_ms for r in results]),
        errors=round(statistics.median(r.errors for r in results)),
        cpu_us=_median_or_none([r.cpu_us_per_request for r in results]),
        bar=bar,
        runs=list(results),
    )
    idle = sum(1 for r in results if not r.requests)
    if idle:
        row.notes.append(f"no request completed in {idle} of {len(results)} run(s)")
    if any(r.errors for r in results):
        kinds: dict[str, int] = {}
        for r in results:
            if r.non_2xx:
                kinds["non-2xx"] = kinds.get("non-2xx", 0) + r.non_2xx
            for name, count in r.socket_errors.items():
                kinds[name] = kinds.get(name, 0) + count
        per_run = "/".join(str(r.errors) for r in results)
        detail = ", ".join(f"{n} {k}" for k, n in kinds.items())
        row.notes.append(f"errors per run {per_run} ({detail})")
    return row


def _median_or_none(values: Sequence[float | None]) -> float | None:
    """Runs where nothing completed have no latency; a bar on it then cannot pass."""
    if any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


# -- context ------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Context:
    """What every benchmark gets: run count, duration, a scratch dir, profiling."""

    runs: int
    duration: float
    threads: int
    workdir: Path
    profile_dir: Path | None = None
    profile_gil: bool = False
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def scratch(self, name: str) -> Path:
        """A fresh directory for one service instance's database and log."""
        path = self.workdir / f"{name}-{next(self._counter)}"
        path.mkdir(parents=True)
        return path

    def wrk(self, service: Service, load: Load, mode: str, label: str) -> WrkResult:
        """Run one wrk load against the service (sampled by py-spy with --profile)."""
        with self._profiled(service, label):
            cpu_before = service.cpu_seconds()
            result = wrk.run(service.url, load, mode, duration=self.duration, threads=self.threads)
            result = dataclasses.replace(result, server_cpu_s=service.cpu_seconds() - cpu_before)
        log(
            f"  {label}: {result.rps:,.0f} req/s  p50 {fmt_ms(result.p50_ms)}  "
            f"p99 {fmt_ms(result.p99_ms)}  errors {result.errors}  "
            f"server CPU {fmt_us(result.cpu_us_per_request)}/req"
        )
        return result

    @contextlib.contextmanager
    def _profiled(self, service: Service, label: str) -> Iterator[None]:
        if self.profile_dir is None:
            yield
            return
        from bench.profile import start_recording

        self.profile_dir.mkdir(parents=True, exist_ok=True)
        recorder = start_recording(
            service.pid, self.profile_dir / label, self.duration, self.profile_gil
        )
        try:
            yield
        finally:
            try:
                recorder.wait(timeout=self.duration + 30)
            except subprocess.TimeoutExpired:
                recorder.kill()


StartService = Callable[[int], AbstractContextManager[Service]]


def run_load(
    ctx: Context,
    bench_id: str,
    what: str,
    start: StartService,
    load: Callable[[str, int], Load],
    bars: Callable[[str], Sequence[Check]],
    *,
    fresh_per_run: bool = True,
    modes: Sequence[str] = MODES,
    variant: str = "",
    after_run: Callable[[Service, WrkResult], None] | None = None,
) -> list[Row]:
    """Each mode × `ctx.runs` wrk runs → one median row per mode.

    `start(run)` yields a healthy service; with `fresh_per_run` every run gets
    a new one (writes would otherwise pile up across runs), else one serves
    all runs of a mode. `load(mode, run)` builds the wrk load. `variant` tells
    runs of one benchmark apart in logs and profile file names.
    """
    rows = []
    for mode in modes:
        results: list[WrkResult] = []
        label = "-".join(part for part in (bench_id, variant, mode) if part)
        if fresh_per_run:
            for run in range(ctx.runs):
                with start(run) as service:
                    results.append(ctx.wrk(service, load(mode, run), mode, f"{label}-{run + 1}"))
                    if after_run:
                        after_run(service, results[-1])
        else:
            with start(0) as service:
                for run in range(ctx.runs):
                    results.append(ctx.wrk(service, load(mode, run), mode, f"{label}-{run + 1}"))
                    if after_run:
                        after_run(service, results[-1])
        rows.append(row_from_runs(bench_id, what, mode, results, bars(mode)))
    return rows


# -- registry -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Benchmark:
    id: str
    title: str
    run: Callable[[Context], list[Row]]


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    bench_id: str, title: str
) -> Callable[[Callable[[Context], list[Row]]], Callable[[Context], list[Row]]]:
    """Register a benchmark; the table lists them in registration order."""

    def register(fn: Callable[[Context], list[Row]]) -> Callable[[Context], list[Row]]:
        if bench_id in REGISTRY:
            raise ValueError(f"benchmark {bench_id} registered twice")
        REGISTRY[bench_id] = Benchmark(bench_id, title, fn)
        return fn

    return register


# -- formatting ---------------------------------------------------------------


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"


def fmt_us(us: float | None) -> str:
    return "–" if us is None else f"{us:,.0f} µs"


def fmt_rps(rps: float | None) -> str:
    return "–" if rps is None else f"{rps:,.0f}"


def fmt_value(row: Row) -> str:
    if row.value is None:
        return "–"
    if abs(row.value) >= 1000:
        return f"{row.value:,.0f} {row.unit}".strip()
    return f"{row.value:.1f} {row.unit}".strip()


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.0f} s"
