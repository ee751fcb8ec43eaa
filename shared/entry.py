"""`python -m <service>`: the health check answered before anything heavy is imported.

Docker runs `python -m <service> --healthcheck` every 30 s in each container.
Importing a service (Starlette, uvicorn, sqlite, its routes) costs ~0.3 s of
CPU and ~10 MB more than this module's standard library does, so the check
is answered here, and a service package's `SERVICE` is imported only when
asked for (`lazy_service`). This module imports nothing but the standard
library.
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def healthcheck(environ: Mapping[str, str] | None = None) -> int:
    """`--healthcheck`: GET /health on this service's port; 0 on 200, else 1."""
    env = os.environ if environ is None else environ
    raw = env.get("PORT", "8000")
    if not (raw.isascii() and raw.isdigit() and 0 <= int(raw) <= 65535):
        print(f"unhealthy: PORT is invalid: expected a port number 0..65535, got {raw!r}")
        return 1
    url = f"http://127.0.0.1:{int(raw)}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            print(f"healthy: {url} answered {resp.status}")
            return 0 if resp.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}")
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}")
    return 1


def main(package: str, argv: Sequence[str] | None = None) -> int:
    """A service package's `__main__`: the health check, else the service itself."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--healthcheck" in args:
        return healthcheck()
    service: Any = importlib.import_module(package).SERVICE
    return int(service.main(args))


def lazy_service(module: str) -> Callable[[str], Any]:
    """A package's module `__getattr__` that imports `SERVICE` from `module` on first use."""

    def __getattr__(name: str) -> Any:
        if name == "SERVICE":
            return importlib.import_module(module).SERVICE
        raise AttributeError(f"module {module.rpartition('.')[0]!r} has no attribute {name!r}")

    return __getattr__
