"""Real HTTP servers on loopback for the browser SDK tests.

`AppServer` plays the web site that embeds the SDK (pages, the SDK file, a few
endpoints the page fetches); `FakeRelay` plays the Browser Relay's HTTP role: it
answers browser routes with configurable statuses, applies CORS like the relay
(exact origin, 204 preflights) and records every request it gets. Both are
`http.server` servers in a daemon thread; tests await recorded requests on a
condition variable, never with fixed sleeps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
SDK_FILE = ROOT / "clients" / "browser" / "monlight.js"
ERRORS = "/api/browser/errors"
METRICS = "/api/browser/metrics"


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"status": "ok"}'


class _Server:
    """A ThreadingHTTPServer on a free loopback port that records every request."""

    def __init__(self) -> None:
        self.records: list[Recorded] = []
        self._changed = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                record = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = server.reply(record)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
                # Recorded after answering: a test that saw the record may rely on the answer
                # being on its way to the browser.
                with server._changed:
                    server.records.append(record)
                    server._changed.notify_all()

            do_GET = do_POST = do_PUT = do_OPTIONS = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reply(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def reset(self) -> None:
        with self._changed:
            self.records.clear()

    def wait_for(
        self,
        select: Callable[[list[Recorded]], list[Recorded]],
        count: int = 1,
        timeout: float = 10.0,
        what: str = "",
    ) -> list[Recorded]:
        """Block until `select(records)` has at least `count` entries; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = select(list(self.records))
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.method, r.path) for r in self.records]
                    raise AssertionError(
                        f"timed out waiting for {count} × {what or select}; saw {seen}"
                    )
                self._changed.wait(left)


class FakeRelay(_Server):
    """The relay's browser routes: CORS for one origin, scripted answers, every request kept."""

    def __init__(self) -> None:
        super().__init__()
        self.allow_origin = ""
        self.expose_headers = ""
        self._scripted: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._scripted.clear()
        self.expose_headers = ""

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next POSTs to `path` with these replies, in order (then the default)."""
        with self._lock:
            self._scripted.setdefault(path, []).extend(replies)

    def posts(self, path: str) -> Callable[[list[Recorded]], list[Recorded]]:
        return lambda records: [r for r in records if r.method == "POST" and r.path == path]

    def wait_posts(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        return self.wait_for(self.posts(path), count, timeout, what=f"POST {path}")

    def metric_points(self) -> list[dict[str, Any]]:
        """Every metric point received so far, in arrival order."""
        points: list[dict[str, Any]] = []
        for record in self.posts(METRICS)(list(self.records)):
            points.extend(record.json()["metrics"])
        return points

    def reply(self, request: Recorded) -> Reply:
        cors: dict[str, str] = {}
        origin = request.headers.get("origin", "")
        if origin and origin == self.allow_origin:
            cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
            if self.expose_headers:
                cors["Access-Control-Expose-Headers"] = self.expose_headers
        if request.method == "OPTIONS":
            if cors:
                cors.update(
                    {
                        "Access-Control-Allow-Methods": "POST, OPTIONS",
                        "Access-Control-Allow-Headers": "X-Monlight-Key, Content-Type",
                        "Access-Control-Max-Age": "86400",
                    }
                )
            return Reply(204, cors, b"")
        with self._lock:
            queued = self._scripted.get(request.path)
            scripted = queued.pop(0) if queued else None
        json_type = {"Content-Type": "application/json"}
        if scripted is not None:
            return Reply(scripted.status, {**json_type, **scripted.headers, **cors}, scripted.body)
        if request.method == "POST" and request.path == ERRORS:
            return Reply(201, {**json_type, **cors}, b'{"status": "created", "id": 1}')
        if request.method == "POST" and request.path == METRICS:
            count = len(json.loads(request.body or b"{}").get("metrics", []))
            body = json.dumps({"status": "accepted", "count": count}).encode()
            return Reply(202, {**json_type, **cors}, body)
        return Reply(404, {**json_type, **cors}, b'{"detail": "Not found"}')


IMAGE_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200">'
    b'<rect width="400" height="200" fill="#3a7"/></svg>'
)


class AppServer(_Server):
    """The site embedding the SDK: /sdk/monlight.js (read fresh), pages put by tests, /data."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, str] = {}

    def reply(self, request: Recorded) -> Reply:
        if request.path == "/sdk/monlight.js":
            return Reply(200, {"Content-Type": "text/javascript"}, SDK_FILE.read_bytes())
        if request.path in self.pages:
            html = self.pages[request.path].encode()
            return Reply(200, {"Content-Type": "text/html; charset=utf-8"}, html)
        if request.path == "/blank":
            return Reply(200, {"Content-Type": "text/html"}, b"<!doctype html><title>blank</title>")
        if request.path == "/image.svg":
            return Reply(200, {"Content-Type": "image/svg+xml"}, IMAGE_SVG)
        if request.path == "/data":
            return Reply(200, {"Content-Type": "application/json"}, b'{"ok": true}')
        return Reply(404, {"Content-Type": "text/plain"}, b"not found")
