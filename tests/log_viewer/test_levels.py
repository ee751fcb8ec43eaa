"""Level detection: every rule of the spec, first match wins, names normalised."""

from __future__ import annotations

import pytest

from log_viewer.levels import detect, normalize


@pytest.mark.parametrize(
    ("text", "stream", "level"),
    [
        # 1. JSON lines: level / severity / lvl, names or pino numbers
        ('{"level": "warn", "msg": "disk 91%"}', "stdout", "WARNING"),
        ('{"severity": "ERROR", "message": "x"}', "stdout", "ERROR"),
        ('{"lvl": "fatal"}', "stdout", "CRITICAL"),
        ('{"level": 50, "msg": "pino"}', "stdout", "ERROR"),
        ('{"level": 30}', "stderr", "INFO"),  # JSON beats the stream
        ('{"level": "chatty", "msg": "[ERROR] x"}', "stdout", "ERROR"),  # unknown → next rule
        # 2. brackets
        ("2026-12-02 10:00:00 [WARN] low memory", "stdout", "WARNING"),
        ("[error] upstream timed out", "stdout", "ERROR"),
        ("[ DEBUG ] cache warm", "stderr", "DEBUG"),
        # 3. logfmt
        ('time=2026 level=error msg="db down"', "stdout", "ERROR"),
        ('ts=1 lvl="warning" msg=x', "stdout", "WARNING"),
        # 4. prefix
        ("ERROR: relation does not exist", "stdout", "ERROR"),
        ("WARNING: no config", "stdout", "WARNING"),
        ("INFO:     Uvicorn running on http://0.0.0.0:8000", "stderr", "INFO"),
        ("CRITICAL: out of disk", "stdout", "CRITICAL"),
        # 5. a timestamp, then the level (our own stack; Python logging's default)
        ("2026-12-02T10:00:00Z ERROR monlight.error_tracker: refused", "stdout", "ERROR"),
        ("2026-12-02 10:00:00,123 WARNING app.views: slow", "stdout", "WARNING"),
        ("2026-12-02T10:00:00.123+01:00 DEBUG x: y", "stderr", "DEBUG"),
        ("ERROR app.views: checkout failed", "stdout", "ERROR"),
        ("WARNING py.warnings: deprecated", "stdout", "WARNING"),
        ("Error handling: on", "stderr", "ERROR"),  # prose: only the stream says so
        ("Error handling: on", "stdout", "INFO"),
        # 6. the stream
        ("GET /health 200", "stdout", "INFO"),
        ("something odd happened", "stderr", "ERROR"),
        ("an error occurred in the middle", "stdout", "INFO"),  # no rule matches the word
    ],
)
def test_rules(text: str, stream: str, level: str) -> None:
    assert detect(text, stream) == level


def test_first_match_wins() -> None:
    assert detect("[INFO] level=error ERROR: x", "stderr") == "INFO"
    assert detect("level=debug ERROR: x", "stdout") == "DEBUG"


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("WARN", "WARNING"),
        ("FATAL", "CRITICAL"),
        ("trace", "DEBUG"),
        (60, "CRITICAL"),
        (10, "DEBUG"),
        (True, None),
        ("nope", None),
        (None, None),
    ],
)
def test_normalize(name: object, level: str | None) -> None:
    assert normalize(name) == level
