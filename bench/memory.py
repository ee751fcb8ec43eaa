"""S1: resident memory per service (idle, after a few requests, peak under load)
and of the whole stack in one process, read from /proc/<pid>/status."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from bench.core import Context, Row, benchmark, log, max_value
from bench.errors import new_fingerprint_load
from bench.metrics import batch_load
from bench.service import (
    API_KEY,
    Service,
    free_port,
    free_port_block,
    request,
    service_env,
)
from bench.wrk import KEEP_ALIVE, Load
from shared.service import Service as Declared
from shared.service import discover

IDLE_MB = 40
STACK_MB = 60

_REPORT = (
    b'{"project":"shop-api","exception_type":"ValueError","message":"bad quantity",'
    b'"traceback":"Traceback (most recent call last):\\n  File \\"/app/orders.py\\", line 9,'
    b' in create\\nValueError: bad quantity"}'
)
_POINTS = (
    b'[{"name":"http_requests_total","type":"counter","value":1,'
    b'"labels":{"method":"GET","endpoint":"/api/orders","status":"200"},"project":"shop-api"},'
    b'{"name":"http_request_duration_seconds","type":"histogram","value":0.042,'
    b'"labels":{"method":"GET","endpoint":"/api/orders","status":"200"},"project":"shop-api"},'
    b'{"name":"db_pool_connections_in_use","type":"gauge","value":4}]'
)

_MAP = (
    b'{"project":"shop","release":"1.0","file_url":"/assets/app.min.js","map_content":'
    b'"{\\"version\\":3,\\"sources\\":[\\"src/app.ts\\"],\\"names\\":[],'
    b'\\"mappings\\":\\"AAAA,SAAS\\"}"}'
)

#: Requests that exercise a service's usual paths once, so imports made lazily and
#: first-use caches count toward "idle". Unknown services get the UI and /health.
WARMUP: dict[str, list[tuple[str, str, bytes | None]]] = {
    "error_tracker": [
        ("POST", "/api/errors", _REPORT),
        ("POST", "/api/errors", _REPORT),
        ("GET", "/api/errors?limit=50", None),
        ("GET", "/api/errors?limit=50&search=quantity", None),
        ("GET", "/api/errors/1", None),
        ("GET", "/api/projects", None),
    ],
    "metrics_collector": [
        ("POST", "/api/metrics", _POINTS),
        ("POST", "/api/metrics", _POINTS),
        ("GET", "/api/metrics?name=http_request_duration_seconds&period=24h", None),
        ("GET", "/api/metrics?name=http_requests_total&period=7d&labels=method:GET", None),
        ("GET", "/api/metrics/names", None),
        ("GET", "/api/projects", None),
        ("GET", "/api/dashboard?period=24h", None),
    ],
    # Admin routes and the SDK (browser routes forward: S1 runs the relay on its own).
    "browser_relay": [
        ("POST", "/api/dsn-keys", b'{"project": "shop"}'),
        ("GET", "/api/dsn-keys", None),
        ("POST", "/api/source-maps", _MAP),
        ("GET", "/api/source-maps", None),
        ("GET", "/sdk/monlight.js", None),
    ],
}

#: The load whose peak RSS S1 reports per service (L1 joins here).
PEAK_LOAD: dict[str, tuple[str, Callable[[], Load]]] = {
    "error_tracker": ("E1", lambda: new_fingerprint_load(KEEP_ALIVE, 99)),
    "metrics_collector": ("M1", lambda: batch_load(KEEP_ALIVE, 99)),
}


def mb(kib: int) -> float:
    return kib / 1024


def warm_up(service: Service, base_url: str, package: str) -> None:
    for method, path, body in [
        ("GET", "/", None),
        ("GET", "/health", None),
        *WARMUP.get(package, []),
    ]:
        status, text = request(base_url + path, method=method, body=body)
        if status >= 400 and path != "/":
            raise RuntimeError(
                f"warm-up {method} {path} on {package} answered {status}: {text[:200]!r}"
            )


@contextlib.contextmanager
def standalone(ctx: Context, member: Declared) -> Iterator[Service]:
    scratch = ctx.scratch(member.name)
    port = free_port()
    env = service_env(scratch / member.db_file, port, **member.test_env)
    env[member.key_var] = API_KEY
    with Service(member.name, env, [port], scratch / "server.log") as service:
        yield service


def service_rows(ctx: Context, member: Declared) -> list[Row]:
    name = member.name
    idle_bar = [max_value(IDLE_MB, "MB")]
    rows: list[Row] = []
    with standalone(ctx, member) as service:
        rows.append(
            Row(
                "S1",
                f"RSS idle, {name}, right after start-up",
                value=mb(service.memory_kb()["VmRSS"]),
                unit="MB",
                bar=idle_bar,
            )
        )
        warm_up(service, service.url, name)
        rows.append(
            Row(
                "S1",
                f"RSS idle, {name}, after a few requests",
                value=mb(service.memory_kb()["VmRSS"]),
                unit="MB",
                bar=idle_bar,
            )
        )
        if name in PEAK_LOAD:
            load_id, load = PEAK_LOAD[name]
            result = ctx.wrk(service, load(), KEEP_ALIVE, f"S1-{name}-peak")
            rows.append(
                Row(
                    "S1",
                    f"RSS peak (VmHWM), {name}, during {load_id}",
                    KEEP_ALIVE,
                    rps=result.rps,
                    p50_ms=result.p50_ms,
                    p99_ms=result.p99_ms,
                    errors=result.errors,
                    cpu_us=result.cpu_us_per_request,
                    value=mb(service.memory_kb()["VmHWM"]),
                    unit="MB",
                )
            )
    return rows


def stack_rows(ctx: Context, members: list[Declared], complete: bool) -> list[Row]:
    """`python -m shared.stack`; limited to `members` when some service cannot start."""
    scratch = ctx.scratch("stack")
    base = free_port_block(max(m.port_offset for m in members) + 1)
    env = {
        "MONLIGHT_DATA_DIR": str(scratch),
        "MONLIGHT_BASE_PORT": str(base),
        "MONLIGHT_HOST": "127.0.0.1",
        "RATE_LIMIT": "0",
        "LOG_LEVEL": "warn",
    }
    for member in members:
        env[member.stack_key_env] = API_KEY
    ports = [base + m.port_offset for m in members]
    names = ", ".join(m.name for m in members)
    bar = [max_value(STACK_MB, "MB")]
    module, args = "shared.stack", []
    if not complete:
        module, args = "bench.stack_subset", [",".join(m.name for m in members)]
    with Service(module, env, ports, scratch / "server.log", args) as service:
        rows = [
            Row(
                "S1",
                f"RSS idle, stack in one process ({names}), right after start-up",
                value=mb(service.memory_kb()["VmRSS"]),
                unit="MB",
                bar=bar,
            )
        ]
        for member, port in zip(members, ports, strict=True):
            warm_up(service, f"http://127.0.0.1:{port}", member.name)
        rows.append(
            Row(
                "S1",
                "RSS idle, stack in one process, after a few requests each",
                value=mb(service.memory_kb()["VmRSS"]),
                unit="MB",
                bar=bar,
            )
        )
    declared = len(discover())
    if len(members) < declared:
        rows[0].notes.append(
            f"measured with {len(members)} of {declared} services"
            + ("" if complete else " (the others did not start on their own)")
        )
    return rows


@benchmark("S1", "memory: RSS idle and peak per service, and the one-process stack")
def s1(ctx: Context) -> list[Row]:
    members = discover()
    rows: list[Row] = []
    started: list[Declared] = []
    for member in members:
        try:
            rows += service_rows(ctx, member)
            started.append(member)
        except RuntimeError as exc:
            reason = (exc.__cause__ or exc).__class__.__name__
            last = str(exc).strip().splitlines()[-1]
            log(f"  S1 {member.name}: {exc}")
            rows.append(
                Row(
                    "S1",
                    f"RSS, {member.name}: did not start",
                    bar=[max_value(IDLE_MB, "MB")],
                    notes=[f"{reason}: {last}"],
                )
            )
    if started:
        rows += stack_rows(ctx, started, complete=len(started) == len(members))
    return rows
