"""`make run`: every service of the stack in one process, on 127.0.0.1:5010..

Each declared service (shared.service.discover) gets its own uvicorn server
on the shared event loop and its own database under the data directory.
One development key serves them all, so a client configured with one key
(the published `setup_monlight(api_key=...)`) reaches every service; it is
`MONLIGHT_API_KEY` from the environment, else the one kept in
`<data>/dev-keys.env`, else a new one saved there. A service's own variable
(`ERROR_TRACKER_API_KEY`, ...) overrides it for that service.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.app import Worker
from shared.config import ConfigError
from shared.server import Served, bind, configure_logging, run
from shared.service import Service, StackPlan, discover

SHARED_KEY = "MONLIGHT_API_KEY"
KEYS_FILE = "dev-keys.env"
DEFAULT_BASE_PORT = 5010


def read_keys_file(path: Path) -> dict[str, str]:
    saved: dict[str, str] = {}
    if path.exists():
        path.chmod(0o600)  # keys: never readable by other local users
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                saved[name.strip()] = value.strip()
    return saved


def write_keys_file(path: Path, keys: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Development API keys of `make run`; delete this file to get a new key."]
    lines += [f"{name}={value}" for name, value in keys.items()]
    # Created private (no window where the umask's mode applies), then written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")


def dev_keys(
    data_dir: Path,
    services: Sequence[Service[Any, Any]],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Each service's key by its stack variable, plus MONLIGHT_API_KEY, the shared one.

    The file records what is in force, so `set -a; . data/dev-keys.env` gives a
    shell every key; only MONLIGHT_API_KEY is read back from it.
    """
    env = os.environ if environ is None else environ
    path = data_dir / KEYS_FILE
    saved = read_keys_file(path)
    shared = env.get(SHARED_KEY) or saved.get(SHARED_KEY) or secrets.token_hex(16)
    keys = {SHARED_KEY: shared}
    for service in services:
        keys[service.stack_key_env] = env.get(service.stack_key_env) or shared
    if keys != saved:
        write_keys_file(path, keys)
    return keys


def service_env(
    service: Service[Any, Any],
    *,
    host: str,
    base_port: int,
    data_dir: Path,
    keys: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    env.update(
        HOST=host,
        PORT=str(base_port + service.port_offset),
        DATABASE_PATH=str(data_dir / service.db_file),
    )
    env[service.key_var] = keys[service.stack_key_env]
    return env


def banner(served: Sequence[tuple[Service[Any, Any], Served]], keys: Mapping[str, str]) -> str:
    lines = ["Monlight stack — one process, Ctrl-C stops everything cleanly."]
    for service, item in served:
        line = f"  {service.title:<18} http://{item.host}:{item.port}/"
        if keys[service.stack_key_env] != keys[SHARED_KEY]:
            line += f"   (own key: {service.stack_key_env})"
        lines.append(line)
    lines.append(f"  API key of every service: {keys[SHARED_KEY]}")
    lines.append(f"  to use it in a shell:  export {SHARED_KEY}={keys[SHARED_KEY]}")
    return "\n".join(lines)


def main(services: Sequence[Service[Any, Any]] | None = None) -> int:
    services = discover() if services is None else services
    host = os.environ.get("MONLIGHT_HOST", "127.0.0.1")
    data_dir = Path(os.environ.get("MONLIGHT_DATA_DIR", "./data")).resolve()
    try:
        base_port = int(os.environ.get("MONLIGHT_BASE_PORT", str(DEFAULT_BASE_PORT)))
    except ValueError:
        print("stack: MONLIGHT_BASE_PORT must be an integer", file=sys.stderr)
        return 1
    keys = dev_keys(data_dir, services)
    planned = []
    extras: list[Worker] = []
    notes: list[str] = []
    plan = StackPlan(
        data_dir,
        urls={s.name: f"http://{host}:{base_port + s.port_offset}" for s in services},
        keys={s.name: keys[s.stack_key_env] for s in services},
    )
    for service in services:
        env = service_env(service, host=host, base_port=base_port, data_dir=data_dir, keys=keys)
        if service.stack_part is not None:
            part = service.stack_part(plan)
            for name, value in part.env.items():
                env.setdefault(name, value)  # what the user set wins
            extras += part.workers
            if part.note:
                notes.append(f"  {service.title}: {part.note}")
        try:
            planned.append((service, service.load(env)))
        except ConfigError as exc:
            print(f"stack: {service.name}: configuration error: {exc}", file=sys.stderr)
            return 1
    served: list[tuple[Service[Any, Any], Served]] = []
    try:
        for service, settings in planned:
            sock = bind(settings.host, settings.port)
            app = service.app(settings)
            callers = frozenset(s.name for s, _ in planned if service.name in s.forwards_to)
            item = Served(
                app,
                settings.host,
                settings.port,
                service.name,
                sock,
                settings.max_connections,
                after=callers,
            )
            served.append((service, item))
    except OSError as exc:
        for _, item in served:
            item.sock.close()
        print(
            f"stack: {exc.strerror} (for the {service.title}); stop what holds it or move "
            f"the stack with MONLIGHT_BASE_PORT (now {base_port}, e.g. {base_port + 1000})",
            file=sys.stderr,
        )
        return 1
    level = planned[0][1].log_level if planned else "info"
    configure_logging(level)
    print(banner(served, keys), flush=True)
    print(f"  data: {data_dir}   keys: {data_dir / KEYS_FILE}", flush=True)
    for note in notes:
        print(note, flush=True)
    for worker in extras:
        worker.start()
    try:
        return run([item for _, item in served], level)
    finally:
        for worker in extras:
            worker.stop()


if __name__ == "__main__":
    sys.exit(main())
