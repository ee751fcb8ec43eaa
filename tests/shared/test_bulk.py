"""shared.bulk: multi-row inserts put every row in, in order, with few distinct statements."""

from __future__ import annotations

import sqlite3

import pytest

from shared.bulk import MAX_PARAMS, BulkInsert


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 100, 511, 512, 513, 1000, 1024, 2500])
def test_every_row_goes_in_in_order(n: int) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
    insert = BulkInsert("t", ("a", "b"))
    values = [v for i in range(n) for v in (i, f"row {i}")]
    assert insert(conn, values) == n
    assert conn.execute("SELECT a, b FROM t ORDER BY id").fetchall() == [
        (i, f"row {i}") for i in range(n)
    ]


def test_statements_stay_within_sqlite_limits_for_wide_rows() -> None:
    columns = [f"c{i}" for i in range(40)]
    insert = BulkInsert("t", columns)
    assert max(insert.sizes) * len(columns) <= MAX_PARAMS
    assert len(insert.statements) <= 10  # all cached by sqlite3's statement cache
