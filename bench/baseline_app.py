"""The ceiling: a bare Starlette + uvicorn (httptools, uvloop) JSON POST endpoint.

No middleware, no database: it parses the body with orjson and answers
with orjson, so its figure is what the HTTP stack alone can do on this
machine. `python -m bench.baseline_app` serves it on $HOST:$PORT.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def post(request: Request) -> Response:
    data = orjson.loads(await request.body())
    body = orjson.dumps({"status": "created", "id": 1, "project": data.get("project")})
    return Response(body, 201, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/api/errors", post, methods=["POST"]), Route("/health", health)])


def main() -> None:
    serve(app)


def serve(asgi_app: Any) -> None:
    """uvicorn as the services run it (httptools, uvloop), quiet, on $HOST:$PORT."""
    uvicorn.run(
        asgi_app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
        server_header=False,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
