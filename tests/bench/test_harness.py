"""The benchmark harness reads wrk right, judges bars right and keeps the docs intro."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bench.core import Row, max_p50, max_value, min_rps, no_errors, row_from_runs
from bench.report import HEADING, table, write_docs
from bench.seed_errors import SEARCH_WORD, seed
from bench.wrk import CLOSE, KEEP_ALIVE, Load, WrkError, command, duration_ms, parse
from error_tracker import SERVICE as TRACKER
from tests.conftest import AUTH, tracker_config

WRK_OK = """\
Running 10s test @ http://127.0.0.1:41234/api/errors
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.21ms    3.02ms  61.33ms   91.20%
    Req/Sec     6.21k   512.33     7.01k    70.00%
  Latency Distribution
     50%    4.52ms
     75%    5.80ms
     90%    7.91ms
     99%   18.77ms
  61834 requests in 10.01s, 10.12MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   6177.35
Transfer/sec:      1.01MB
"""

WRK_NOTHING = """\
Running 3s test @ http://127.0.0.1:41234/api/errors?search=x
  1 threads and 32 connections
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 3.00s, 0.00B read
Requests/sec:      0.00
Transfer/sec:       0.00B
"""


def test_parse_reads_rate_percentiles_and_every_kind_of_error() -> None:
    result = parse(WRK_OK)
    assert result.requests == 61834
    assert result.rps == pytest.approx(6177.35)
    assert result.p50_ms == pytest.approx(4.52)
    assert result.p99_ms == pytest.approx(18.77)
    assert result.non_2xx == 7
    assert result.socket_errors == {"read": 3, "timeout": 2}
    assert result.errors == 12


def test_parse_gives_no_latency_when_nothing_completed() -> None:
    result = parse(WRK_NOTHING)
    assert result.requests == 0 and result.p50_ms is None and result.p99_ms is None
    row = row_from_runs("E3", "search", KEEP_ALIVE, [result], [max_p50(10)])
    # A run where nothing completed must not pass a latency bar.
    assert row.verdict != "pass"


def test_parse_rejects_output_it_cannot_read() -> None:
    with pytest.raises(WrkError):
        parse("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(
    ("text", "ms"), [("812.00us", 0.812), ("1.25ms", 1.25), ("2.01s", 2010.0), ("1.00m", 60_000)]
)
def test_duration_units(text: str, ms: float) -> None:
    assert duration_ms(text) == pytest.approx(ms)


def test_close_mode_adds_the_header_and_script_args_follow_the_url() -> None:
    load = Load("/api/errors", 32, "error_new.lua", ("salt",), (("X-API-Key", "k"),))
    argv = command("http://127.0.0.1:9", load, CLOSE, duration=3, threads=4)
    assert "-HConnection: close" not in argv
    assert argv[argv.index("Connection: close") - 1] == "-H"
    assert argv[-3:] == ["http://127.0.0.1:9/api/errors", "--", "salt"]
    assert "-c32" in argv and "-d3s" in argv and "--latency" in argv
    keep = command("http://127.0.0.1:9", load, KEEP_ALIVE, duration=3, threads=4)
    assert "Connection: close" not in keep


def test_row_is_the_median_of_runs_and_misses_name_the_failed_check() -> None:
    runs = [parse(WRK_OK.replace("6177.35", rps)) for rps in ("5000", "7000", "6500")]
    row = row_from_runs("E1", "ingest", KEEP_ALIVE, runs, [min_rps(6000), no_errors()])
    assert row.rps == 6500
    assert row.errors == 12
    assert row.verdict == "**miss**"
    assert row.missed() == ["0 errors"]
    assert any("errors per run 12/12/12" in note for note in row.notes)


def test_memory_rows_judge_the_value_and_reference_rows_have_no_bar() -> None:
    assert Row("S1", "idle", value=39.9, unit="MB", bar=[max_value(40, "MB")]).verdict == "pass"
    assert Row("S1", "idle", value=40.1, unit="MB", bar=[max_value(40, "MB")]).verdict != "pass"
    assert Row("REF", "ceiling", rps=1.0).verdict == "ref"
    rendered = table([Row("S1", "a | b", value=12.34, unit="MB")])
    assert "12.3 MB" in rendered and "a \\| b" in rendered


def test_write_docs_keeps_the_intro_and_replaces_only_the_results(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    write_docs(docs, f"{HEADING}\n\nfirst table\n")
    assert "make bench" in docs.read_text()  # a new file gets the how-to intro
    docs.write_text(docs.read_text().replace("# Benchmarks", "# Benchmarks (edited)"))
    write_docs(docs, f"{HEADING}\n\nsecond table\n")
    text = docs.read_text()
    assert "# Benchmarks (edited)" in text
    assert "second table" in text and "first table" not in text
    assert text.count(HEADING) == 1


def test_seeded_database_is_what_the_tracker_serves(tmp_path: Path) -> None:
    counts = seed(tmp_path / "errors.db", 400)
    assert counts["groups"] == 400 and counts["occurrences"] >= 400
    with TestClient(TRACKER.app(tracker_config(tmp_path)), headers=AUTH) as client:
        everything = client.get("/api/errors", params={"resolved": "all"}).json()
        assert everything["total"] == 400
        assert len({e["fingerprint"] for e in everything["errors"]}) == len(everything["errors"])
        resolved = client.get("/api/errors", params={"resolved": "true"}).json()["total"]
        assert resolved == counts["resolved"] > 0
        hits = client.get("/api/errors", params={"search": SEARCH_WORD}).json()
        assert hits["total"] == counts["search_hits"] > 0
        detail = client.get(f"/api/errors/{hits['errors'][0]['id']}").json()
        assert detail["occurrences"]


def test_profile_summary_splits_threads_and_names_the_hot_code(tmp_path: Path) -> None:
    from bench.profile import summarize

    raw = tmp_path / "E1.txt"
    raw.write_text(
        "thread (11): MainThread;main (shared/server.py:9);"
        "BodyLimitMiddleware.__call__ (shared/middleware.py:64) 30\n"
        "thread (11);main (shared/server.py:9);parse_report (error_tracker/ingestion.py:60) 10\n"
        "thread (12): writer:errors.db;Writer._run (shared/db.py:229);"
        "store (error_tracker/ingestion.py:97) 60\n"
    )
    summary = summarize(raw)
    assert "100 busy samples" in summary
    assert "writer 60%" in summary and "event loop 40%" in summary
    assert "30.0%  our middleware" in summary
    assert "10.0%  validation + JSON parse" in summary
    assert "60.0%  writer thread (sqlite + jobs)" in summary
