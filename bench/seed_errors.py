"""A realistic error-tracker database of N groups, written straight into SQLite.

Going through the API would take minutes at 100k groups; instead the
database is opened once with the tracker's own migrations (so the schema is
exactly what the service expects) and filled with executemany in one
transaction. Rows look like production: a few projects, real exception
types, messages of 30-300 characters, 3-12 frame tracebacks, about 15 %
resolved, one to three occurrences per group, some from browsers.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from error_tracker.database import MIGRATIONS
from error_tracker.fingerprint import fingerprint
from shared.db import connect, migrate
from shared.timeutil import format_iso

#: The word E3 searches for: in roughly 3 % of messages, like a real rare term.
SEARCH_WORD = "deadlock"

PROJECTS = (("shop-api", 5), ("shop-web", 3), ("billing-worker", 2), ("auth", 1))

TYPES = (
    "ValueError",
    "KeyError",
    "TypeError",
    "AttributeError",
    "TimeoutError",
    "ConnectionResetError",
    "PermissionError",
    "ZeroDivisionError",
    "RuntimeError",
    "json.decoder.JSONDecodeError",
    "httpx.ReadTimeout",
    "redis.exceptions.ConnectionError",
    "sqlalchemy.exc.OperationalError",
    "sqlalchemy.exc.IntegrityError",
    "django.core.exceptions.ValidationError",
    "botocore.exceptions.ClientError",
)

MESSAGES = (
    "invalid literal for int() with base 10: '{word}'",
    "'NoneType' object has no attribute '{attr}'",
    "'{attr}'",
    "unsupported operand type(s) for +: 'int' and 'str' in {module}.{func}",
    "Read timed out after 30.0 s talking to https://payments.example.com/v1/charges/{n}",
    "(sqlite3.OperationalError) database is locked [SQL: UPDATE orders SET status=? "
    "WHERE orders.id = ?] [parameters: ('paid', {n})]",
    "(psycopg2.errors.DeadlockDetected) deadlock detected DETAIL: Process {n} waits for "
    "ShareLock on transaction {m}; blocked by process {k}.",
    "Error 111 connecting to redis:6379. Connection refused.",
    "Expecting value: line 1 column {n} (char {m})",
    "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied "
    "for key uploads/{word}/{n}.png",
    "[Errno 104] Connection reset by peer while streaming export {n} to {word}",
    "division by zero computing conversion rate for campaign {n}",
    'duplicate key value violates unique constraint "users_email_key" DETAIL: Key '
    "(email)=({word}@example.com) already exists.",
    "['Enter a valid date.'] for field 'delivery_date' in form {func}",
    "cannot schedule new futures after interpreter shutdown in worker {n} "
    "({module}.{func}, retry {k} of 5, queue depth {m}, job payload size {n} bytes)",
    "Task {module}.{func}[{word}-{n}] raised unexpected: {attr} could not be resolved "
    "because the upstream inventory service answered 502 Bad Gateway after {k} retries "
    "over {m} ms; the order stays pending and will be retried by the nightly sweeper",
)

WORDS = ("abc", "null", "undefined", "12a", "none", "x7", "cart", "promo", "guest", "admin")
ATTRS = ("id", "user", "email", "items", "total", "session", "customer_id", "price", "sku")
MODULES = ("orders", "cart", "billing", "users", "auth", "search", "exports", "inventory")
FUNCS = ("create", "update", "render", "charge", "refund", "sync", "handle", "validate")


def _traceback(rng: random.Random, exc_type: str, message: str, index: int) -> str:
    """A Python traceback whose deepest frame is unique to group `index`."""
    frames = ["Traceback (most recent call last):"]
    depth = rng.randint(3, 12)
    for level in range(depth):
        module, func = rng.choice(MODULES), rng.choice(FUNCS)
        if level == depth - 1:
            path, line = f"/app/shop/{module}/g{index // 1000}.py", 10 + index % 1000
        else:
            path, line = f"/app/shop/{module}/{func}.py", rng.randint(10, 900)
        frames.append(f'  File "{path}", line {line}, in {func}_{module}')
        frames.append(f"    result = {func}_{rng.choice(ATTRS)}(request, payload)")
    frames.append(f"{exc_type}: {message}")
    return "\n".join(frames)


def _message(rng: random.Random, template: str) -> str:
    return template.format(
        word=rng.choice(WORDS),
        attr=rng.choice(ATTRS),
        module=rng.choice(MODULES),
        func=rng.choice(FUNCS),
        n=rng.randint(1, 999_999),
        m=rng.randint(1, 99_999),
        k=rng.randint(1, 9),
    )


def seed(path: Path, groups: int, *, seed_value: int = 1) -> dict[str, int]:
    """Create `path` with `groups` error groups; return counts for the report."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC).replace(microsecond=0)
    projects = [p for p, weight in PROJECTS for _ in range(weight)]
    errors, occurrences = [], []
    resolved_count = search_hits = 0
    for index in range(1, groups + 1):
        project = rng.choice(projects)
        exc_type = rng.choice(TYPES)
        message = _message(rng, rng.choice(MESSAGES))
        traceback = _traceback(rng, exc_type, message, index)
        # Recent groups are denser, as in a live system; 30 days keeps retention idle.
        last = now - timedelta(seconds=int(rng.expovariate(1 / 86_400) % (30 * 86_400)))
        first = last - timedelta(seconds=rng.randint(0, 10 * 86_400))
        resolved = rng.random() < 0.15
        count = min(int(rng.paretovariate(1.2)), 50_000)
        errors.append(
            (
                index,
                fingerprint(project, exc_type, traceback),
                project,
                exc_type,
                message,
                traceback,
                count,
                format_iso(first),
                format_iso(last),
                int(resolved),
                format_iso(last + timedelta(hours=1)) if resolved else None,
            )
        )
        resolved_count += resolved
        search_hits += SEARCH_WORD in message and not resolved
        browser = project == "shop-web" and rng.random() < 0.3
        for n in range(min(count, rng.randint(1, 3))):
            occurrences.append(
                (
                    index,
                    format_iso(last - timedelta(minutes=n)),
                    f"https://shop.example.com/{rng.choice(MODULES)}/{rng.randint(1, 9999)}",
                    "BROWSER" if browser else rng.choice(("GET", "POST")),
                    orjson.dumps({"User-Agent": "Mozilla/5.0", "Accept": "*/*"}).decode(),
                    f"user-{rng.randint(1, 5000)}" if rng.random() < 0.6 else None,
                    orjson.dumps({"environment": "production", "release": "2026.1"}).decode(),
                    traceback,
                )
            )
    conn = connect(str(path))
    try:
        migrate(conn, MIGRATIONS)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO errors (id, fingerprint, project, exception_type, message, traceback,"
            " count, first_seen, last_seen, resolved, resolved_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            errors,
        )
        conn.executemany(
            "INSERT INTO error_occurrences (error_id, timestamp, request_url, request_method,"
            " request_headers, user_id, extra, traceback) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            occurrences,
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return {
        "groups": groups,
        "occurrences": len(occurrences),
        "resolved": resolved_count,
        "search_hits": search_hits,
    }
