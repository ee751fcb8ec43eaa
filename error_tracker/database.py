"""Error Tracker schema: versions 1-4 as the earlier implementation made them, then ours."""

from __future__ import annotations

from error_tracker import dsn, search
from shared.db import Migration

_NOW = "(strftime('%Y-%m-%dT%H:%M:%SZ','now'))"

MIGRATIONS: list[Migration] = [
    # 1: the original tables (with the `environment` column dropped again by 4).
    f"""
    CREATE TABLE errors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint VARCHAR(32) NOT NULL,
        project VARCHAR(100) NOT NULL,
        environment VARCHAR(20) NOT NULL DEFAULT 'prod',
        exception_type VARCHAR(200) NOT NULL,
        message TEXT NOT NULL,
        traceback TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 1,
        first_seen DATETIME NOT NULL DEFAULT {_NOW},
        last_seen DATETIME NOT NULL DEFAULT {_NOW},
        resolved BOOLEAN NOT NULL DEFAULT 0,
        resolved_at DATETIME
    );
    CREATE TABLE error_occurrences (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        error_id INTEGER NOT NULL REFERENCES errors(id) ON DELETE CASCADE,
        timestamp DATETIME NOT NULL DEFAULT {_NOW},
        request_url VARCHAR(500),
        request_method VARCHAR(10),
        request_headers TEXT,
        user_id VARCHAR(100),
        extra TEXT,
        traceback TEXT NOT NULL
    );
    """,
    # 2: lookups by fingerprint and listing by recency.
    """
    CREATE INDEX idx_fingerprint_resolved ON errors(fingerprint, resolved);
    CREATE INDEX idx_last_seen ON errors(last_seen);
    """,
    # 3: filters and occurrence lookups.
    """
    CREATE INDEX idx_resolved ON errors(resolved);
    CREATE INDEX idx_project ON errors(project);
    CREATE INDEX idx_occurrence_error_id ON error_occurrences(error_id);
    """,
    # 4: environment moved into `extra`.
    "ALTER TABLE errors DROP COLUMN environment;",
    # 5 (ours): list pages walk (resolved, last_seen[, rowid]) in order instead of
    # sorting every group, per project too; these serve `resolved = ?` and
    # `project = ?` alone, so the two single-column indexes go.
    """
    CREATE INDEX idx_errors_resolved_last_seen ON errors(resolved, last_seen);
    CREATE INDEX idx_errors_project_resolved_last_seen ON errors(project, resolved, last_seen);
    DROP INDEX idx_resolved;
    DROP INDEX idx_project;
    """,
    # 6 (ours): trigram index for substring search, filled in the background.
    search.MIGRATION,
    # 7 (ours): grouping v2 (grouping.py) — a group is found by its grouping key, which
    # leaves line numbers out; groups from before keep their v1 fingerprint and take the
    # key of the first report that joins them, so only those still without a key are
    # looked up by fingerprint: the fingerprint index shrinks to them (a new group
    # writes one random-keyed index entry, as before, not two). The culprit: the app's
    # frame that raised. Regressions: when a resolved group came back, how often.
    """
    ALTER TABLE errors ADD COLUMN grouping_key TEXT;
    ALTER TABLE errors ADD COLUMN culprit TEXT;
    ALTER TABLE errors ADD COLUMN regressed_at DATETIME;
    ALTER TABLE errors ADD COLUMN times_reopened INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX idx_errors_grouping_key ON errors(grouping_key);
    DROP INDEX idx_fingerprint_resolved;
    CREATE INDEX idx_errors_keyless_fingerprint ON errors(fingerprint) WHERE grouping_key IS NULL;
    """,
    # 8 (ours): reports per hour over the last day, for the list's sparkline (activity.py);
    # a short text in the group's own row, bounded to 24 counts. Groups from before start
    # counting at their next report.
    "ALTER TABLE errors ADD COLUMN hourly TEXT;",
    # 9 (ours): Sentry DSNs — per project a numeric id and its public keys (dsn.py).
    dsn.MIGRATION,
]
