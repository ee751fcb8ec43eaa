"""Graceful shutdown of the one-process stack under load (issue 14, must-show 4).

`python -m shared.stack` (what `make run` starts) on free ports, with errors,
metric batches, relayed browser errors, DSN keys and log lines flowing into all
four services and queries on the log viewer: SIGTERM in the middle of it must
end the process with exit 0 within 10 s, print no traceback, and every write a
service acknowledged (2xx) — every line the viewer returned — must be in the
databases afterwards.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from shared.service import discover
from tests.deploy.traffic import Traffic, missing, prepare_log_container, stored
from tests.helpers import StackProcess, wait_until

KEY = "shutdown-test-key"
SERVICES = discover()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_sigterm_during_load_on_all_four_exits_0_in_time_and_loses_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    log_file = prepare_log_container(data / "sample-logs")
    stack = StackProcess(tmp_path, KEY, RATE_LIMIT="0", POLL_INTERVAL="1")
    with stack:
        assert stack.proc is not None
        urls = {s.name: stack.url(s) for s in SERVICES}
        assert set(urls) == {"error_tracker", "log_viewer", "metrics_collector", "browser_relay"}
        for name, url in urls.items():
            wait_until(lambda u=url: stack.running() and healthy(u), 30, what=f"{name} healthy")
        dsn = (data / "dev-dsn-key").read_text().strip()

        traffic = Traffic(urls, KEY, dsn, log_file).start()
        try:
            # Load on every service: each kind of write acknowledged a few times already.
            wait_until(
                lambda: (
                    stack.running()
                    and all(
                        traffic.count(kind) >= 50 for kind in ("error", "metric", "browser", "dsn")
                    )
                    and traffic.count("log") >= 10
                    and traffic.queries >= 20
                ),
                30,
                what="writes acknowledged by all four services",
            )
            stack.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            try:
                code = stack.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"the stack did not exit within 10 s of SIGTERM:\n{stack.log()[-3000:]}"
                ) from None
            took = time.monotonic() - signalled
        finally:
            traffic.stop()

    output = stack.log()
    assert code == 0, output[-3000:]
    assert took < 10
    assert "Traceback" not in output, output
    # Before the signal every write is acknowledged; after it a write may be refused
    # (503: the writer is stopping) — refused, not acknowledged, so not lost; the
    # client retries it. Never a 502: the relay stops before the tracker and the
    # collector it forwards to (Service.forwards_to), so what it accepted arrives.
    assert traffic.refused_before(signalled) == [], traffic.refused[:10]
    late = [r for r in traffic.refused if r[0] >= signalled]
    assert all(status == 503 for _, _, status, _ in late), late[:10]
    acked = traffic.snapshot()
    lost = missing(acked, stored(data))
    assert all(not tokens for tokens in lost.values()), (
        f"acknowledged but not in the databases: {lost}"
    )
    print(f"stopped in {took:.2f} s; acknowledged: " + ", ".join(
        f"{kind} {len(tokens)}" for kind, tokens in acked.items()
    ) + f"; refused after SIGTERM: {[(k, s) for _, k, s, _ in late]}")  # fmt: skip
