"""Who a browser request is from: its DSN key, checked, then limited per key.

The key comes in `X-Monlight-Key`, or in `?key=` for `navigator.sendBeacon`
(which cannot set headers). A missing, unknown or deactivated key is a 401;
such requests are limited per client IP (key guessing gets 429), while a
valid key has its own budget of RATE_LIMIT requests a minute — so 300 junk
requests never use up the budget of the real key on the same page.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from shared.keys import KeyRing
from shared.middleware import Network, RateLimiter, client_ip, query_param
from shared.responses import ApiError

MAX_KEY = 64


@dataclass
class Auth:
    """The key ring and the two limiters; `project_of(request)` is the whole check."""

    load: Callable[[], Awaitable[KeyRing[str]]]
    rate_limit: int
    trusted_proxies: tuple[Network, ...] = ()
    ring: KeyRing[str] | None = None
    per_key: RateLimiter | None = field(init=False)
    per_ip: RateLimiter | None = field(init=False)

    def __post_init__(self) -> None:
        self.per_key = RateLimiter(self.rate_limit) if self.rate_limit > 0 else None
        self.per_ip = RateLimiter(self.rate_limit) if self.rate_limit > 0 else None

    def changed(self) -> None:
        """An admin change: the next request reloads the ring."""
        self.ring = None

    async def project_of(self, request: Request) -> str:
        given = request.headers.get("x-monlight-key") or query_param(request.scope, "key")
        ring = self.ring
        if ring is None or ring.stale:
            ring = self.ring = await self.load()
        project = None
        if given and len(given) <= MAX_KEY:
            project = ring.find(given.encode())
        if project is None or given is None:
            if self.per_ip is not None:
                _limit(self.per_ip, client_ip(request.scope, self.trusted_proxies))
            raise ApiError(401, "Invalid DSN key")
        if self.per_key is not None:
            _limit(self.per_key, given)
        return project


def _limit(limiter: RateLimiter, key: str) -> None:
    wait = limiter.check(key)
    if wait > 0:
        raise ApiError(429, "Rate limit exceeded", {"Retry-After": str(max(1, math.ceil(wait)))})
