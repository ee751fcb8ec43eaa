"""Browser Relay schema: versions 1-3 as the earlier implementation made them, then ours."""

from __future__ import annotations

from shared.db import Migration

MIGRATIONS: list[Migration] = [
    # 1: the public keys browsers send.
    """
    CREATE TABLE dsn_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        public_key VARCHAR(64) NOT NULL UNIQUE,
        project VARCHAR(100) NOT NULL,
        created_at DATETIME NOT NULL,
        active BOOLEAN NOT NULL DEFAULT 1
    );
    """,
    # 2: uploaded source maps, one per (project, release, file).
    """
    CREATE TABLE source_maps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project VARCHAR(100) NOT NULL,
        release VARCHAR(100) NOT NULL,
        file_url VARCHAR(500) NOT NULL,
        map_content TEXT NOT NULL,
        uploaded_at DATETIME NOT NULL,
        UNIQUE(project, release, file_url)
    );
    """,
    # 3: lookups.
    """
    CREATE INDEX idx_dsn_public_key ON dsn_keys(public_key);
    CREATE INDEX idx_source_map_lookup ON source_maps(project, release, file_url);
    """,
]
