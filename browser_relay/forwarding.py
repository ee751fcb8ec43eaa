"""Forwarding to the Error Tracker and the Metrics Collector over one keep-alive pool.

An upstream that is down, slow (over TIMEOUT seconds) or answering 5xx is a
prompt 502 with what went wrong, and the relay stays healthy; the next
request tries again (no restart, no circuit to reset). An upstream 4xx is
the browser's problem and is passed back as is.
"""

from __future__ import annotations

import logging

import orjson

from browser_relay.upstream import Answer, Pool, Target, UpstreamError, UpstreamTimeout
from shared.responses import ApiError

log = logging.getLogger("monlight.browser_relay.forwarding")

#: Seconds an upstream may take to connect, take the request and answer.
TIMEOUT = 5.0


class Upstreams:
    """The two services the relay forwards to, sharing one pool of connections."""

    def __init__(
        self, tracker_url: str, tracker_key: str, collector_url: str, collector_key: str
    ) -> None:
        self.tracker = (Target.of(f"{tracker_url}/api/errors"), tracker_key, "Error Tracker")
        self.collector = (
            Target.of(f"{collector_url}/api/metrics"),
            collector_key,
            "Metrics Collector",
        )
        self.pool = Pool()
        #: Failures in a row, per upstream (logged once per outage, not per request).
        self.failures: dict[str, int] = {}

    async def error(self, payload: object) -> Answer:
        return await self._post(self.tracker, payload)

    async def metrics(self, batch: object) -> Answer:
        return await self._post(self.collector, batch)

    async def _post(self, upstream: tuple[Target, str, str], payload: object) -> Answer:
        target, key, name = upstream
        headers = [(b"Content-Type", b"application/json"), (b"X-API-Key", key.encode())]
        try:
            answer = await self.pool.post(target, orjson.dumps(payload), headers, TIMEOUT)
        except UpstreamTimeout:
            self._failed(name, "timed out")
            raise ApiError(502, f"{name} did not answer within {TIMEOUT:.0f} s") from None
        except UpstreamError as exc:
            self._failed(name, str(exc))
            raise ApiError(502, f"{name} is unreachable: {exc}") from None
        if answer.status >= 500:
            self._failed(name, f"answered {answer.status}")
            raise ApiError(502, f"{name} answered {answer.status}")
        if self.failures.get(name):
            log.info("%s answers again", name)
            self.failures[name] = 0
        return answer

    def _failed(self, name: str, what: str) -> None:
        if not self.failures.get(name):
            log.warning("%s %s; browser requests get 502 until it answers", name, what)
        self.failures[name] = self.failures.get(name, 0) + 1

    async def aclose(self) -> None:
        await self.pool.aclose()
