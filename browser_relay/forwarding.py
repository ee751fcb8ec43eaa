"""Forwarding to the Error Tracker and the Metrics Collector: one pooled client.

An upstream that is down, slow (over TIMEOUT seconds) or answering 5xx is a
prompt 502 with what went wrong, and the relay stays healthy; the next
request tries again (no restart, no circuit to reset). An upstream 4xx is
the browser's problem and is passed back as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
import orjson

from browser_relay.transport import LeanTransport
from shared.responses import ApiError

log = logging.getLogger("monlight.browser_relay.forwarding")

#: Seconds an upstream may take to connect, answer or send its answer.
TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str


class Upstreams:
    """The keep-alive connections to both services, shared by every request."""

    def __init__(
        self,
        tracker_url: str,
        tracker_key: str,
        collector_url: str,
        collector_key: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tracker = (f"{tracker_url}/api/errors", tracker_key, "Error Tracker")
        self.collector = (f"{collector_url}/api/metrics", collector_key, "Metrics Collector")
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
            # Plain-HTTP upstreams (the usual: one private network) go through the lean
            # transport; https:// ones keep httpx's own.
            mounts=None if transport is not None else {"http://": LeanTransport()},
        )
        #: Failures in a row, per upstream (logged once per outage, not per request).
        self.failures: dict[str, int] = {}

    async def error(self, payload: object) -> Answer:
        return await self._post(self.tracker, payload)

    async def metrics(self, batch: object) -> Answer:
        return await self._post(self.collector, batch)

    async def _post(self, target: tuple[str, str, str], payload: object) -> Answer:
        url, key, name = target
        try:
            resp = await self.client.post(
                url,
                content=orjson.dumps(payload),
                headers={"Content-Type": "application/json", "X-API-Key": key},
            )
            body = await resp.aread()
        except httpx.TimeoutException:
            self._failed(name, "timed out")
            raise ApiError(502, f"{name} did not answer within {TIMEOUT:.0f} s") from None
        except httpx.HTTPError as exc:
            self._failed(name, str(exc) or type(exc).__name__)
            raise ApiError(502, f"{name} is unreachable: {type(exc).__name__}") from None
        if resp.status_code >= 500:
            self._failed(name, f"answered {resp.status_code}")
            raise ApiError(502, f"{name} answered {resp.status_code}")
        if self.failures.get(name):
            log.info("%s answers again", name)
            self.failures[name] = 0
        return Answer(resp.status_code, body, resp.headers.get("content-type", "application/json"))

    def _failed(self, name: str, what: str) -> None:
        if not self.failures.get(name):
            log.warning("%s %s; browser requests get 502 until it answers", name, what)
        self.failures[name] = self.failures.get(name, 0) + 1

    async def aclose(self) -> None:
        await self.client.aclose()
