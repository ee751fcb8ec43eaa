"""C2's app: FastAPI hello world, with the monlight middleware when MONLIGHT_MIDDLEWARE=1.

`python -m bench.client_app` serves it on $HOST:$PORT with uvicorn (httptools, uvloop).
The metrics client flushes hourly into an in-memory transport: the middleware's own work
per request (route template, timing, in-process aggregation) is what is measured.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from bench.baseline_app import serve

app = FastAPI()


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if os.environ.get("MONLIGHT_MIDDLEWARE") == "1":
    import httpx
    from monlight import MetricsClient
    from monlight.integrations.fastapi import MonlightMiddleware

    sink = httpx.MockTransport(lambda request: httpx.Response(202, json={"status": "accepted"}))
    metrics = MetricsClient("http://metrics", "bench", flush_interval=3600, transport=sink)
    app.add_middleware(MonlightMiddleware, metrics_client=metrics)


def main() -> None:
    serve(app)


if __name__ == "__main__":
    main()
