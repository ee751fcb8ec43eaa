"""The two shapes of background work, driven directly."""

from __future__ import annotations

import threading

from shared.workers import PeriodicWorker, QueueLimits, QueueWorker
from tests.helpers import wait_until


def test_queue_worker_batches_retries_and_drains_on_stop() -> None:
    handled: list[list[int]] = []
    gate = threading.Event()
    fail_once = {3}

    def handle(batch: list[int]) -> tuple[list[int], bool]:
        gate.wait(5)
        handled.append(list(batch))
        retry = [i for i in batch if i in fail_once]
        fail_once.difference_update(retry)
        return retry, not retry

    limits = QueueLimits(max_items=5, max_batch=10, window=0.05, backoff_min=0.01, backoff_max=0.02)
    worker = QueueWorker("test-queue", handle, noun="item", target=lambda: "nowhere", limits=limits)
    worker.start()
    try:
        assert all(worker.put(i) for i in range(1, 6))
        assert worker.put(6) is False and worker.dropped == 1  # bounded, never blocks
        gate.set()
        wait_until(lambda: sum(map(len, handled)) == 6, what="the retry of item 3")
        assert handled[0] == [1, 2, 3, 4, 5]  # one batch for the burst
        assert handled[-1] == [3]  # the failed item came back, alone
        gate.clear()
        assert worker.put(7)
    finally:
        gate.set()
        worker.stop()
    assert handled[-1] == [7]  # stop() made the last attempt


def test_queue_worker_survives_a_failing_handler() -> None:
    calls: list[int] = []

    def handle(batch: list[int]) -> tuple[list[int], bool]:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("bug")
        return [], True

    limits = QueueLimits(window=0.0, backoff_min=0.01, backoff_max=0.01)
    worker = QueueWorker("test-queue", handle, noun="item", target=lambda: "nowhere", limits=limits)
    worker.start()
    try:
        worker.put(1)
        wait_until(lambda: len(calls) == 1)
        worker.put(2)
        wait_until(lambda: len(calls) == 2, what="the thread to go on after a failed batch")
    finally:
        worker.stop()


def test_periodic_worker_runs_on_trigger_and_stops() -> None:
    ran = threading.Event()
    worker = PeriodicWorker("test-periodic", ran.set, 3600)
    worker.start()
    try:
        assert not ran.wait(0.05)
        worker.trigger()
        assert ran.wait(5)
    finally:
        worker.stop()
    assert worker.stopping()
