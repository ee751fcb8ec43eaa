"""The service contract: what a service is, declared once, in one object.

A service package exports `SERVICE = Service(...)` from its `__init__.py`.
Everything that runs or describes services takes these objects:
`python -m <package>` (`SERVICE.main()`), the one-process stack and the
configuration docs (both through `discover()`), and the contract tests that
every service must pass. Adding a service is writing its package; no list
elsewhere names it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import Scope

from shared.app import Context, HotRoute, Worker, create_app
from shared.config import Settings, Var, load, var_of, variables
from shared.db import Database, Migration
from shared.middleware import is_api

if TYPE_CHECKING:
    from shared.web_ui import UI

#: The checkout (or install) root the services' packages sit in.
ROOT = Path(__file__).resolve().parent.parent

S = TypeVar("S", bound=Settings)
C = TypeVar("C", bound=Context[Any])


def _no_workers(context: Any) -> Sequence[Worker]:
    return ()


@dataclass(frozen=True)
class StackPlan:
    """What `make run` tells a service about the stack it joins."""

    #: The stack's data directory (databases, keys, sample data).
    data_dir: Path
    #: Every service's base URL by package name (`http://127.0.0.1:5010`).
    urls: Mapping[str, str]
    #: Every service's key by package name.
    keys: Mapping[str, str]


@dataclass(frozen=True)
class StackPart:
    """What a service needs from `make run` besides its port, key and database:
    settings (an environment variable set by the user wins), and workers the stack
    process runs beside it (sample data), started before serving, stopped after."""

    env: Mapping[str, str] = field(default_factory=dict)
    workers: Sequence[Worker] = ()
    #: One line for the banner (where the sample data is, say).
    note: str = ""


@dataclass(frozen=True, eq=False)
class Service(Generic[S, C]):
    """One service of the stack, as everything else sees it."""

    #: The package, and `python -m <name>`.
    name: str
    #: The name people see ("Error Tracker").
    title: str
    #: Its port in the one-process stack is MONLIGHT_BASE_PORT + this.
    port_offset: int
    #: Its settings class: every environment variable it reads, with defaults and help.
    settings: type[S]
    #: Schema migrations, in order (see shared.db.migrate).
    migrations: Sequence[Migration]
    #: The API routes (`/health`, the hot routes and the UI's come on top).
    routes: Sequence[BaseRoute]
    #: Builds the running service's parts once the database is open.
    context: Callable[[S, Database], C]
    #: Background workers, started after the context and stopped before the DB closes.
    workers: Callable[[C], Sequence[Worker]] = _no_workers
    #: Awaited once the context exists, before workers start and requests come (seeding).
    startup: Callable[[C], Awaitable[None]] | None = None
    #: Awaited after the workers stopped, before the database closes (pooled clients).
    shutdown: Callable[[C], Awaitable[None]] | None = None
    #: Extra `/health` fields (it must also prove the database answers).
    health: Callable[[C], Awaitable[Mapping[str, Any]]] | None = None
    #: Told of a request body the gate refused for its size (413) before any handler ran.
    body_refused: Callable[[C, Scope, str], None] | None = None
    #: Told when the server starts shutting down, before it waits for open connections:
    #: end long-lived responses (live tails) so a stop is not held for the grace period.
    drain: Callable[[C], None] | None = None
    #: The web UI, if the service has one.
    ui: UI | None = None
    #: Variables the contract tests set besides the key (required ones, say).
    test_env: Mapping[str, str] = field(default_factory=dict)
    #: What `make run` adds for it, given the stack's plan (see StackPart).
    stack_part: Callable[[StackPlan], StackPart] | None = None
    #: The paths its key (`key_var`) guards; the relay's browser routes take DSN keys.
    keyed_paths: Callable[[str], bool] = is_api
    #: Routes with a body limit of their own instead of MAX_BODY_SIZE (path → bytes).
    body_limits: Mapping[str, int] = field(default_factory=dict)
    #: ASGI layers outside the gate, so they see its answers too (the relay's CORS).
    middleware: Callable[[S], Sequence[Middleware]] | None = None
    #: Ingest endpoints served without Starlette's per-request layers (see HotRoute).
    hot: Sequence[HotRoute] = ()
    #: The services it sends requests to: in the one-process stack they stop after it,
    #: so nothing it accepted is refused upstream during a stop.
    forwards_to: Sequence[str] = ()

    @property
    def variables(self) -> list[Var]:
        return [var for _, var in variables(self.settings)]

    @property
    def db_file(self) -> str:
        """The database file name, from the default of DATABASE_PATH."""
        return Path(str(var_of(self.settings, "database_path").default)).name

    @property
    def key_var(self) -> str:
        """The service's own name for its key (API_KEY; the relay's ADMIN_API_KEY)."""
        return var_of(self.settings, "api_key").name

    @property
    def stack_key_env(self) -> str:
        """Its key's name where services share one environment (compose, `make run`)."""
        return f"{self.name.upper()}_{self.key_var}"

    def load(self, environ: Mapping[str, str] | None = None) -> S:
        """Settings from the environment; ConfigError names the first bad variable."""
        return load(self.settings, environ)

    def app(self, settings: S) -> Starlette:
        return create_app(self, settings)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """`python -m <name> [--healthcheck]`."""
        from shared.server import main

        return main(self, argv)


def discover(root: Path = ROOT) -> list[Service[Any, Any]]:
    """Every service declared by a runnable package (`__main__.py`) directly under root.

    A package counts when it exports a `Service` as `SERVICE`; others
    (benchmarks, tools) are passed over. Ordered by port offset, which must be unique.
    """
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    found: list[Service[Any, Any]] = []
    for main in sorted(root.glob("*/__main__.py")):
        package = main.parent
        if not (package / "__init__.py").exists() or not package.name.isidentifier():
            continue
        declared = getattr(importlib.import_module(package.name), "SERVICE", None)
        if isinstance(declared, Service):
            found.append(declared)
    found.sort(key=lambda s: s.port_offset)
    offsets = [s.port_offset for s in found]
    if len(set(offsets)) != len(offsets):
        taken = ", ".join(f"{s.name}={s.port_offset}" for s in found)
        raise RuntimeError(f"services share a port offset: {taken}")
    return found
