"""The Python client's benchmarks, with the usual libraries measured in the same run.

C1: what a call costs the calling thread. `counter()` 1M times on one series
(the middleware's request counter) against prometheus_client's
`labels().inc()`; `capture_exception()` 10k times with a raised exception
against sentry-sdk's with a null transport. Ours queues the exception and
its context; the worker thread formats the traceback and sends it, here
through an in-memory httpx transport (it runs meanwhile, as in an app;
nothing leaves the process). `value` is the median µs per call over
chunks of 10k (1k for capture).

C2: what the FastAPI middleware adds to a request: a hello-world route under
uvicorn with and without `MonlightMiddleware`, wrk c=32 keep-alive; the
overhead is the difference of the server's CPU per request.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import httpx

from bench.core import Context, Row, benchmark, log, max_value, run_load
from bench.service import Service, free_port
from bench.wrk import KEEP_ALIVE, Load

COUNTER_CALLS = 1_000_000
CAPTURE_CALLS = 10_000
LABELS = {"method": "GET", "endpoint": "/items/{item_id}", "status": "200"}


def per_call_us(fn: Callable[[], object], calls: int, chunk: int) -> float:
    """Median µs per call over chunks of `chunk` calls."""
    medians = []
    for _ in range(calls // chunk):
        started = time.perf_counter()
        for _ in range(chunk):
            fn()
        medians.append((time.perf_counter() - started) / chunk * 1e6)
    return statistics.median(medians)


def raised() -> BaseException:
    def parse(raw: str) -> int:
        return int(raw)

    def handler() -> int:
        return parse("abc")

    try:
        handler()
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


@benchmark("C1", "Python client: cost of a call in the calling thread")
def c1(ctx: Context) -> list[Row]:
    import prometheus_client
    import sentry_sdk
    from monlight import ErrorClient, MetricsClient

    sink = httpx.MockTransport(lambda request: httpx.Response(202, json={"status": "accepted"}))
    metrics = MetricsClient("http://metrics", "bench", flush_interval=3600, transport=sink)
    ours_counter = per_call_us(
        lambda: metrics.counter("http_requests_total", LABELS), COUNTER_CALLS, 10_000
    )

    registry = prometheus_client.CollectorRegistry()
    counter = prometheus_client.Counter(
        "http_requests_total", "requests", ["method", "endpoint", "status"], registry=registry
    )
    prom = per_call_us(lambda: counter.labels(**LABELS).inc(), COUNTER_CALLS, 10_000)

    sink = httpx.MockTransport(lambda request: httpx.Response(201, json={"status": "created"}))
    errors = ErrorClient("http://errors", "bench", transport=sink, max_queue_size=CAPTURE_CALLS * 2)
    exc = raised()
    ours_capture = per_call_us(lambda: errors.capture_exception(exc), CAPTURE_CALLS, 1_000)
    errors.flush(30)
    stats = errors.get_stats()

    class NullTransport(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope: object) -> None:
            pass

    sentry_sdk.init(
        dsn="http://key@127.0.0.1:9/1", transport=NullTransport, default_integrations=False
    )
    sentry = per_call_us(lambda: sentry_sdk.capture_exception(exc), CAPTURE_CALLS, 1_000)
    log(
        f"  C1: counter {ours_counter:.2f} µs (prometheus_client {prom:.2f}); capture"
        f" {ours_capture:.1f} µs (sentry-sdk {sentry:.1f}); sent {stats}"
    )
    rows = [
        Row(
            "C1",
            "monlight `counter()`, 1M calls, one series",
            value=ours_counter,
            unit="µs/call",
            bar=[max_value(2, "µs/call")],
        ),
        Row("C1", "prometheus_client `labels().inc()`, same run", value=prom, unit="µs/call"),
        Row(
            "C1",
            "monlight `capture_exception()`, 10k calls",
            value=ours_capture,
            unit="µs/call",
            bar=[max_value(50, "µs/call")],
        ),
        Row(
            "C1",
            "sentry-sdk `capture_exception()`, null transport, same run",
            value=sentry,
            unit="µs/call",
        ),
    ]
    rows[2].notes.append(f"the worker thread delivered them meanwhile: {stats}")
    return rows


@contextlib.contextmanager
def hello(ctx: Context, middleware: bool) -> Iterator[Service]:
    scratch = ctx.scratch("client-app")
    port = free_port()
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MONLIGHT_MIDDLEWARE": "1" if middleware else "0",
    }
    with Service("bench.client_app", env, [port], scratch / "server.log") as service:
        yield service


@benchmark("C2", "Python client: FastAPI middleware overhead per request")
def c2(ctx: Context) -> list[Row]:
    rows = []
    for middleware in (False, True):
        rows += run_load(
            ctx,
            "C2",
            f"FastAPI hello world, c=32, {'with' if middleware else 'without'} MonlightMiddleware",
            lambda run, m=middleware: hello(ctx, m),
            lambda mode, run: Load("/items/42", 32),
            lambda mode: [],
            modes=(KEEP_ALIVE,),
            variant="with" if middleware else "without",
        )
    without, with_ = rows
    if without.cpu_us is not None and with_.cpu_us is not None:
        with_.value = with_.cpu_us - without.cpu_us
        with_.unit = "µs/request added"
        with_.bar = [max_value(60, "µs/request added")]
    return rows
