"""The gate every service sits behind: body limit → API key → rate limit.

Pure ASGI (no BaseHTTPMiddleware) so streaming bodies are checked as they
arrive and nothing is buffered twice, and one layer rather than three, so
each request pays one call (and one pass over its headers) for all of it.

Rate limits protect the service, not the data a key holder reports: the
per-IP limit counts only requests without a valid key (floods, key guessing),
so an app reporting an error storm is never throttled by its own address;
keyed traffic has its own optional per-key limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache, partial
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.responses import send_error

Network = IPv4Network | IPv6Network

_UNKNOWN_LENGTH = -1  # no Content-Length, or Transfer-Encoding frames the body
_INVALID_LENGTH = -2  # Content-Length that is not a plain decimal number
_HUGE_LENGTH = 10**18  # stands for a Content-Length too long to parse


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class _BodyTooLarge(Exception):
    pass


#: Told of every body refused for its size (scope, detail), e.g. to count it.
TooLargeHook = Callable[[Scope, str], None]


async def _read_limited(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    limit: int,
    on_too_large: TooLargeHook | None = None,
) -> None:
    """Run app with a body of unknown length, stopping the read past `limit`.

    Whatever the app sends after the limit is hit (e.g. Starlette's 500 page for
    the exception raised in its `receive`, when the gate wraps the whole app) is
    dropped: the 413 replaces it. A response started before the body was read
    first reads the rest of the body (the same limit applies).
    """
    received = 0
    started = False
    exceeded = False
    body_done = False

    def count(message: Message) -> None:
        nonlocal received, exceeded, body_done
        if message["type"] != "http.request":
            body_done = True  # the client is gone: nothing more will come
            return
        received += len(message.get("body", b""))
        body_done = not message.get("more_body", False)
        if received > limit:
            exceeded = True

    async def limited_receive() -> Message:
        message = await receive()
        count(message)
        if exceeded:
            raise _BodyTooLarge
        return message

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if exceeded:
            return
        if message["type"] == "http.response.start":
            # A handler that answers without reading the body (a 405, a GET route): read
            # the rest now, within the limit, or the server closes on a client still
            # sending (a reset, not an answer) — and a body over the limit is a 413 still.
            while not body_done and not exceeded:
                count(await receive())
            if exceeded:
                return
            started = True
        await send(message)

    with contextlib.suppress(_BodyTooLarge):
        await app(scope, limited_receive, tracking_send)
    if exceeded and not started:
        if not body_done:
            await _drain(receive)
        detail = f"Request body exceeds {limit} bytes"
        if on_too_large is not None:
            on_too_large(scope, detail)
        await send_error(send, 413, detail)


#: What is read and dropped of a body over the limit before the 413 goes out,
#: and for how long: a client still sending when the server closes gets a
#: connection reset instead of the answer (seen with `Connection: close`).
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of a request body, within DRAIN_BYTES and DRAIN_SECONDS."""
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def _scan_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[int, bytes | None, list[bytes] | None]:
    """One pass for all the gate needs: (declared length, `X-API-Key`, `X-Forwarded-For`s).

    The length is the first Content-Length, `_UNKNOWN_LENGTH` without one or
    with Transfer-Encoding (which frames the body whatever Content-Length says,
    RFC 9112 6.3, so the body gets counted), `_INVALID_LENGTH` if malformed.
    The key is the first non-empty `X-API-Key`; forwarded values keep their order.
    """
    length = _UNKNOWN_LENGTH
    chunked = False
    given: bytes | None = None
    forwarded: list[bytes] | None = None
    for name, value in headers:
        if name == b"content-length":
            if length == _UNKNOWN_LENGTH:
                if not value.isdigit():
                    length = _INVALID_LENGTH
                else:  # past 18 digits int() may refuse, and no body is that big anyway
                    length = int(value) if len(value) <= 18 else _HUGE_LENGTH
        elif name == b"x-api-key":
            if given is None and value:
                given = value
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"x-forwarded-for":
            if forwarded is None:
                forwarded = [value]
            else:
                forwarded.append(value)
    return (_UNKNOWN_LENGTH if chunked else length), given, forwarded


def parse_trusted_proxies(raw: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 127.0.0.1, ::1` → networks; a bare address is a one-address network.

    Raises ValueError naming the bad part, for a one-line start-up error.
    """
    networks: list[Network] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"expected comma-separated CIDRs such as 10.0.0.0/8,127.0.0.1: {part}"
            ) from None
    return tuple(networks)


def _in_networks(address: str, networks: tuple[Network, ...]) -> bool | None:
    """Whether `address` is in one of `networks`; None if it is no IP address at all.

    An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer)
    counts as the IPv4 address it carries.
    """
    try:
        ip = ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def _forwarded_client(
    peer: str, forwarded: list[bytes] | None, is_trusted: Callable[[str], bool | None]
) -> str:
    """The right-most `X-Forwarded-For` entry not added by a trusted proxy.

    Only a trusted peer's header is believed. Each trusted proxy appends the
    address it saw, so walking from the right, the first untrusted entry is the
    client; entries left of it were sent by the client and may be forged. An
    entry that is no IP address is taken as is (it is what the proxy saw).
    """
    if not forwarded or not is_trusted(peer):
        return peer
    leftmost: str | None = None
    for entry in reversed(b",".join(forwarded).decode("latin-1").split(",")):
        entry = entry.strip()
        if not entry:
            continue
        if not is_trusted(entry):
            return entry
        leftmost = entry
    return leftmost if leftmost is not None else peer


def client_ip(scope: Scope, trusted: Sequence[Network] = ()) -> str:
    """The address a request is limited by: the socket peer, unless that is a
    trusted proxy, in which case the right-most untrusted `X-Forwarded-For` entry."""
    client = scope.get("client")
    peer: str = client[0] if client else "unknown"
    if not trusted:
        return peer
    forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-for"]
    return _forwarded_client(peer, forwarded, partial(_in_networks, networks=tuple(trusted)))


class RateLimiter:
    """Sliding-window log per key: exact, bounded by `limit` entries per key and
    by `max_keys` keys, so a flood from ever-new addresses cannot grow memory
    without bound.

    Keys are kept in order of their last admitted hit, so the idle ones are a
    prefix: the sweep (at most once per window) removes exactly them in
    O(removed), and a full table evicts its longest-idle key in O(1) — a flood
    of new clients never pays for a scan of the whole table.
    """

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        if limit < 1 or max_keys < 1:
            raise ValueError("limit and max_keys must be positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.sweeps = 0
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._last_sweep = time.monotonic()

    def check(self, key: str, now: float | None = None) -> float:
        """Record a hit; return 0 if allowed, else seconds until a slot frees.

        `now` (for tests) must not go backwards, like `time.monotonic()`.
        """
        now = time.monotonic() if now is None else now
        cutoff = now - self.window
        if cutoff > self._last_sweep:
            self._sweep(cutoff, now)
        table = self._hits
        hits = table.get(key)
        if hits is None:
            if len(table) >= self.max_keys:
                table.popitem(last=False)
            table[key] = deque((now,))
            return 0.0
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window - now
        hits.append(now)
        table.move_to_end(key)
        return 0.0

    def _sweep(self, cutoff: float, now: float) -> None:
        """Forget keys with no hit inside the window (the front of the table)."""
        table = self._hits
        while table:
            key = next(iter(table))
            if table[key][-1] > cutoff:
                break
            del table[key]
        self._last_sweep = now
        self.sweeps += 1


def query_param(scope: Scope, name: str) -> str | None:
    qs: bytes = scope.get("query_string", b"")
    if not qs or name.encode() not in qs:
        return None
    for key, value in parse_qsl(qs.decode("latin-1"), keep_blank_values=True):
        if key == name:
            return value
    return None


def _key_given(scope: Scope, header: bytes | None) -> bytes | None:
    """The header's key, else `?api_key=` (EventSource cannot set headers)."""
    if header is not None:
        return header
    param = query_param(scope, "api_key")
    return param.encode() if param is not None else None


async def _too_many(send: Send, wait: float) -> None:
    retry = str(max(1, math.ceil(wait)))
    await send_error(send, 429, "Rate limit exceeded", {"Retry-After": retry})


class Gate:
    """Body limit → API key → rate limit.

    A declared Content-Length is checked up front and the request then passes
    untouched (the HTTP server never hands over more than it declared); only
    bodies of unknown length (chunked) are counted as they arrive.

    On paths where `applies` holds (default `/api`, `/api/...`): a valid key
    passes, subject only to `key_rate_limit` (per key, 0 = off); a missing or
    wrong key counts against `rate_limit` (per client IP, 0 = off), so key
    guessing gets 429, else 401. Without `api_key` every request there counts
    against the per-IP limit. The client IP is the socket peer unless that is
    in `trusted_proxies` (see `client_ip`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        rate_limit: int,
        api_key: str | None,
        key_rate_limit: int = 0,
        trusted_proxies: Sequence[Network] = (),
        applies: Callable[[str], bool] = is_api,
        on_too_large: TooLargeHook | None = None,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.on_too_large = on_too_large
        self.max_body = max_body
        #: Paths with a limit of their own (the relay's source-map upload).
        self.body_limits = dict(body_limits or {})
        self.applies = applies
        self.expected = api_key.encode() if api_key else None
        self.ip_limiter = RateLimiter(rate_limit) if rate_limit > 0 else None
        self.key_limiter = (
            RateLimiter(key_rate_limit) if key_rate_limit > 0 and self.expected else None
        )
        # The per-key limiter's entry: a digest, so the key itself sits in no table.
        self._key_id = hashlib.sha256(self.expected).hexdigest()[:16] if self.expected else ""
        self.trusted = tuple(trusted_proxies)
        # Peers are a few proxies and forwarded entries repeat: parse each once.
        self._is_trusted: Callable[[str], bool | None] = lru_cache(maxsize=4096)(
            partial(_in_networks, networks=self.trusted)
        )

    def _client(self, scope: Scope, forwarded: list[bytes] | None) -> str:
        client = scope.get("client")
        peer: str = client[0] if client else "unknown"
        if not self.trusted:
            return peer
        return _forwarded_client(peer, forwarded, self._is_trusted)

    def _forwarded_scheme(self, scope: Scope) -> None:
        """`X-Forwarded-Proto` from a trusted proxy is the request's scheme (redirects
        then keep https); from anyone else it is ignored, as X-Forwarded-For is."""
        client = scope.get("client")
        if not client or not self._is_trusted(client[0]):
            return
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto = value.split(b",")[0].strip().lower()
                if proto in (b"http", b"https"):
                    scope["scheme"] = proto.decode()
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.trusted:
            self._forwarded_scheme(scope)
        length, header_key, forwarded = _scan_headers(scope["headers"])
        if length == _INVALID_LENGTH:
            await send_error(send, 400, "Invalid Content-Length header")
            return
        max_body = self.body_limits.get(scope["path"], self.max_body)
        if length > max_body:
            await _drain(receive)
            detail = f"Request body exceeds {max_body} bytes"
            if self.on_too_large is not None:
                self.on_too_large(scope, detail)
            await send_error(send, 413, detail)
            return
        if self.applies(scope["path"]):
            expected = self.expected
            if expected is None:
                if self.ip_limiter is not None:
                    wait = self.ip_limiter.check(self._client(scope, forwarded))
                    if wait > 0:
                        await _too_many(send, wait)
                        return
            else:
                given = _key_given(scope, header_key)
                if given is not None and hmac.compare_digest(given, expected):
                    if self.key_limiter is not None:
                        wait = self.key_limiter.check(self._key_id)
                        if wait > 0:
                            await _too_many(send, wait)
                            return
                else:
                    if self.ip_limiter is not None:
                        wait = self.ip_limiter.check(self._client(scope, forwarded))
                        if wait > 0:
                            await _too_many(send, wait)
                            return
                    await send_error(send, 401, "Invalid API key")
                    return
        if length == _UNKNOWN_LENGTH:
            await _read_limited(self.app, scope, receive, send, max_body, self.on_too_large)
        else:
            await self.app(scope, receive, send)
