"""REF: the bare HTTP stack's figure, measured in the same run as ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bench.core import Context, Row, benchmark, run_load
from bench.errors import new_fingerprint_load
from bench.service import Service, free_port


@contextlib.contextmanager
def baseline(ctx: Context) -> Iterator[Service]:
    scratch = ctx.scratch("baseline")
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port)}
    with Service("bench.baseline_app", env, [port], scratch / "server.log") as service:
        yield service


@benchmark("REF", "bare Starlette + uvicorn JSON POST (the ceiling)")
def reference(ctx: Context) -> list[Row]:
    return run_load(
        ctx,
        "REF",
        "bare Starlette+uvicorn JSON POST, E1 body, c=32",
        lambda run: baseline(ctx),
        new_fingerprint_load,
        lambda mode: [],
    )
