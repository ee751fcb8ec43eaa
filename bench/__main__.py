"""`python -m bench [ID ...] [--runs N] [--duration S]`: run, print the table, record it."""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.core import REGISTRY, Context, Row, elapsed, log
from bench.report import section, write_docs
from bench.service import ROOT, load_average, machine_facts

#: Modules that register benchmarks, in table order. L1-L3 and R1 join here.
SUITES = (
    "bench.reference",
    "bench.errors",
    "bench.metrics",
    "bench.logs",
    "bench.relay",
    "bench.client",
    "bench.memory",
)

DOCS = ROOT / "docs" / "benchmarks.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load benchmarks of the real services with wrk (see docs/benchmarks.md).",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="benchmarks to run (default: all)")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (median; 3)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (10)")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (1: the other core is the server's)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--write",
        action="store_true",
        help="record the table in docs/benchmarks.md (the default when running all)",
    )
    parser.add_argument("--no-write", action="store_true", help="never touch the docs")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the server with py-spy during every run; raw stacks + summary in DIR",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: only samples holding the GIL (what bounds the event loop)",
    )
    parser.add_argument("--keep", action="store_true", help="keep databases and server logs")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration < 1:
        parser.error("--runs and --duration must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for module in SUITES:
        importlib.import_module(module)
    # Table order is SUITES order, whatever order the modules import each other in.
    ordered = sorted(REGISTRY.values(), key=lambda b: SUITES.index(b.run.__module__))
    if args.list:
        for bench in ordered:
            print(f"{bench.id:<4} {bench.title}")
        return 0
    wanted = [i.upper() for i in args.ids] or [b.id for b in ordered]
    unknown = [i for i in wanted if i not in REGISTRY]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(REGISTRY)}",
            file=sys.stderr,
        )
        return 2
    if shutil.which("wrk") is None:
        print("wrk is not installed: bash scripts/ensure-system-deps.sh wrk", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="monlight-bench-"))
    ctx = Context(args.runs, args.duration, args.threads, workdir, args.profile, args.profile_gil)
    facts = machine_facts()
    load_before = load_average()
    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()
    try:
        for bench_id in wanted:
            bench = REGISTRY[bench_id]
            log(f"{bench.id}: {bench.title}")
            t0 = time.monotonic()
            try:
                rows += bench.run(ctx)
            except Exception as exc:  # noqa: BLE001 - report it, run the rest
                log(f"{bench.id} FAILED: {exc}")
                failed.append(f"{bench.id}: {exc}")
            log(f"{bench.id} took {elapsed(t0)}")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    settings = (
        f"{args.runs} run(s) × {args.duration:g} s per variant, median; wrk -t{args.threads}"
        + (", py-spy sampling (slower)" if args.profile else "")
    )
    text = section(rows, facts, settings, (load_before, load_average()))
    print(text)
    if failed:
        print("FAILED:\n" + "\n".join(failed), file=sys.stderr)
    if args.profile:
        from bench.profile import summarize_dir

        print(summarize_dir(args.profile))
    full = not args.ids
    if (args.write or full) and not args.no_write and not args.profile and not failed:
        # A subset run replaces only its own ids' rows; a full run the whole table.
        write_docs(DOCS, text, None if full else [b.id for b in ordered])
        log(f"recorded in {DOCS.relative_to(ROOT)}")
    log(f"total {elapsed(started)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
