"""The live-tail hub and event stream: filters, slots, heartbeats, slow clients, the 30 min cap."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import orjson
import pytest

from log_viewer.tail import MAX_TAILS, QUEUE_ENTRIES, TailHub, TooManyTails, sse, stream


def entry(i: int, container: str = "web", level: str = "INFO") -> dict:
    return {
        "id": i,
        "timestamp": "t",
        "container": container,
        "stream": "stdout",
        "level": level,
        "message": f"m{i}",
    }


def parse(chunk: bytes) -> tuple[str, object]:
    event, data = chunk.decode().strip().split("\n")
    return event.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))


def test_events_are_one_json_line_each() -> None:
    assert sse("log", {"message": "a\nb <img>"}) == (
        b'event: log\ndata: {"message":"a\\nb <img>"}\n\n'
    )


def test_published_entries_reach_matching_subscribers_from_another_thread() -> None:
    async def run() -> list[tuple[str, object]]:
        hub = TailHub()
        with hub.subscribe("web", "ERROR") as sub:
            events = stream(sub, heartbeat=5)
            assert await anext(events) == b": connected\n\n"
            worker = threading.Thread(
                target=hub.publish,
                args=([entry(1), entry(2, level="ERROR"), entry(3, "db", "ERROR")],),
            )
            worker.start()
            worker.join()
            got = [parse(await anext(events))]
            hub.close_all("shutting down")
            got.append(parse(await anext(events)))
            return got

    assert asyncio.run(run()) == [
        ("log", entry(2, level="ERROR")),
        ("close", {"reason": "shutting down"}),
    ]


def test_heartbeats_while_quiet_and_a_close_at_the_time_limit() -> None:
    async def run() -> list[str]:
        now = [0.0]
        hub = TailHub()
        with hub.subscribe(None, None) as sub:
            events = stream(sub, heartbeat=0.01, max_duration=100, clock=lambda: now[0])
            await anext(events)
            kinds = [parse(await anext(events))[0], parse(await anext(events))[0]]
            now[0] = 100.0
            kinds.append(parse(await anext(events))[0])
            with pytest.raises(StopAsyncIteration):
                await anext(events)
            return kinds

    assert asyncio.run(run()) == ["heartbeat", "heartbeat", "close"]


def test_slots_are_limited_and_freed_at_once() -> None:
    async def run() -> None:
        hub = TailHub()
        with contextlib.ExitStack() as stack:
            subs = [stack.enter_context(hub.subscribe(None, None)) for _ in range(MAX_TAILS)]
            assert len(subs) == hub.count == MAX_TAILS
            with pytest.raises(TooManyTails), hub.subscribe(None, None):
                pass
        assert hub.count == 0
        with hub.subscribe(None, None):
            assert hub.count == 1

    asyncio.run(run())


def test_a_client_too_slow_to_read_is_closed_not_buffered_forever() -> None:
    async def run() -> list[tuple[str, object]]:
        hub = TailHub()
        with hub.subscribe(None, None) as sub:
            sub.offer([entry(i) for i in range(QUEUE_ENTRIES + 10)])
            events = stream(sub)
            await anext(events)
            seen = []
            async for chunk in events:
                seen.append(parse(chunk))
            return seen

    seen = asyncio.run(run())
    assert seen[-1] == ("close", {"reason": "too slow: entries arrived faster than they were read"})
    assert len(seen) <= QUEUE_ENTRIES + 1
