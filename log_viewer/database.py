"""Log Viewer schema: versions 1-4 as the earlier implementation made them, then ours.

Ours (5+): the reader's state that is not yet a stored entry — the pieces
of a split line, a multiline entry still open — kept on the cursor row, so
it commits with the rows and the position it belongs to: a crash between
two reads neither loses a line nor stores one twice (5); an index for the
UI's commonest filters (6).
"""

from __future__ import annotations

from shared.db import Migration

MIGRATIONS: list[Migration] = [
    # 1: the entries.
    """
    CREATE TABLE log_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        timestamp DATETIME NOT NULL,
        container VARCHAR(200) NOT NULL,
        stream VARCHAR(10) NOT NULL DEFAULT 'stdout',
        level VARCHAR(10) NOT NULL DEFAULT 'INFO',
        message TEXT NOT NULL,
        raw TEXT
    );
    """,
    # 2: full-text search over messages, kept in step by triggers.
    """
    CREATE VIRTUAL TABLE log_entries_fts USING fts5(
        message, content='log_entries', content_rowid='id'
    );
    CREATE TRIGGER log_entries_ai AFTER INSERT ON log_entries BEGIN
        INSERT INTO log_entries_fts(rowid, message) VALUES (new.id, new.message);
    END;
    CREATE TRIGGER log_entries_ad AFTER DELETE ON log_entries BEGIN
        INSERT INTO log_entries_fts(log_entries_fts, rowid, message)
            VALUES ('delete', old.id, old.message);
    END;
    CREATE TRIGGER log_entries_au AFTER UPDATE ON log_entries BEGIN
        INSERT INTO log_entries_fts(log_entries_fts, rowid, message)
            VALUES ('delete', old.id, old.message);
        INSERT INTO log_entries_fts(rowid, message) VALUES (new.id, new.message);
    END;
    """,
    # 3: where reading stopped, per container.
    """
    CREATE TABLE cursors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        container_id VARCHAR(200) NOT NULL UNIQUE,
        file_path TEXT NOT NULL,
        position INTEGER NOT NULL DEFAULT 0,
        inode INTEGER NOT NULL DEFAULT 0,
        updated_at DATETIME NOT NULL
    );
    """,
    # 4: lookups by time, container and level.
    """
    CREATE INDEX idx_timestamp ON log_entries(timestamp);
    CREATE INDEX idx_container ON log_entries(container);
    CREATE INDEX idx_level ON log_entries(level);
    CREATE INDEX idx_container_timestamp ON log_entries(container, timestamp);
    """,
    # 5 (ours): the reader's unfinished lines and entries, with the position they go with.
    "ALTER TABLE cursors ADD COLUMN pending TEXT;",
    # 6 (ours): container + level (+ search) filters answered from one index: a search
    # for a word with 43k hits at 1M entries, within a container and level, counted and
    # paged in ~10 ms instead of ~85 (each hit's row was read to check its container).
    "CREATE INDEX idx_container_level_timestamp ON log_entries(container, level, timestamp);",
]
