"""deploy/backup.sh (issue 14, must-show 2): online backups while the stack writes.

Run while traffic (and the smoke test) flows into a real `python -m shared.stack`,
it makes one copy per database that passes `PRAGMA integrity_check` and holds
every row acknowledged before it started; eight runs keep seven; `--restore`
refuses while the service runs, and with the service stopped puts a copy back,
which the service then serves.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import threading
from pathlib import Path

import httpx

from error_tracker import SERVICE as TRACKER
from shared.service import discover
from shared.stack import read_keys_file
from tests.deploy.traffic import Traffic, db_rows, missing, prepare_log_container, stored
from tests.helpers import ROOT, ServiceProcess, StackProcess, wait_until

KEY = "backup-test-key"
SCRIPT = ROOT / "deploy" / "backup.sh"
SMOKE = ROOT / "deploy" / "smoke-test.sh"
SERVICES = discover()
DBS = ("errors", "logs", "metrics", "browser-relay")
NAME = re.compile(r"^(errors|logs|metrics|browser-relay)-\d{8}T\d{6}(\.\d+)?Z\.db$")


def backup(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copies(directory: Path, db: str) -> list[Path]:
    """The kept copies of one database, oldest first."""
    return sorted(p for p in directory.glob(f"{db}-*.db") if NAME.match(p.name))


def integrity(path: Path) -> str:
    return "; ".join(r[0] for r in db_rows(path, "PRAGMA integrity_check"))


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def error_types(path: Path) -> set[str]:
    return {r[0] for r in db_rows(path, "SELECT exception_type FROM errors")}


def test_backup_while_the_stack_writes_keeps_seven_and_restores(tmp_path: Path) -> None:
    data = tmp_path / "data"
    backups = data / "backups"  # the default: <data dir>/backups
    log_file = prepare_log_container(data / "sample-logs")
    env = {"MONLIGHT_DATA_DIR": str(data)}
    with StackProcess(tmp_path, KEY, RATE_LIMIT="0", POLL_INTERVAL="1") as stack:
        urls = {s.name: stack.url(s) for s in SERVICES}
        for name, url in urls.items():
            wait_until(lambda u=url: stack.running() and healthy(u), 30, what=f"{name} healthy")
        dsn = (data / "dev-dsn-key").read_text().strip()
        keys = read_keys_file(data / "dev-keys.env")  # what ci-smoke.sh sources

        with Traffic(urls, KEY, dsn, log_file) as traffic:
            wait_until(
                lambda: stack.running() and all(traffic.count(k) >= 20 for k in Traffic.KINDS),
                30,
                what="writes acknowledged by all four services",
            )
            # The smoke test's traffic too, running beside the backup.
            smoke: dict[str, subprocess.CompletedProcess[str]] = {}
            runner = threading.Thread(
                target=lambda: smoke.setdefault(
                    "run",
                    subprocess.run(
                        ["bash", str(SMOKE), "127.0.0.1", str(stack.base)],
                        env={**os.environ, **keys},
                        capture_output=True,
                        text=True,
                        timeout=120,
                    ),
                )
            )
            runner.start()
            before = traffic.snapshot()  # acknowledged before the backup started
            first = backup(**env)
            runner.join(120)
            during = traffic.snapshot()
        assert first.returncode == 0, first.stdout + first.stderr
        assert smoke["run"].returncode == 0, smoke["run"].stdout + smoke["run"].stderr
        # Traffic flowed while the backup ran: writes were acknowledged during it.
        assert any(during[k] - before[k] for k in ("error", "metric", "browser", "dsn"))

        made = {db: copies(backups, db) for db in DBS}
        assert all(len(paths) == 1 for paths in made.values()), sorted(os.listdir(backups))
        for db, (path,) in made.items():
            assert integrity(path) == "ok", db
            assert db_rows(path, "PRAGMA journal_mode") == [("delete",)]  # one file
            assert path.stat().st_mode & 0o077 == 0  # private
            assert f"{db} -> {path.name}" in first.stdout
        held = stored(data, {db: str(paths[0]) for db, paths in made.items()})
        lost = missing(before, held)
        assert all(not tokens for tokens in lost.values()), lost
        copy = made["errors"][0]

        # Eight runs keep seven (per database; other files in the directory untouched).
        (backups / "errors-notes.txt").write_text("mine")
        for _ in range(7):
            run = backup("errors", **env)
            assert run.returncode == 0, run.stdout + run.stderr
        kept = copies(backups, "errors")
        assert len(kept) == 7
        assert copy not in kept  # the oldest went
        assert "removed 1 older" in run.stdout
        assert (backups / "errors-notes.txt").exists()
        assert all(len(copies(backups, db)) == 1 for db in DBS if db != "errors")

        # Rows written after the copy that will be restored.
        chosen = kept[0]
        for i in range(3):
            r = httpx.post(
                f"{urls['error_tracker']}/api/errors",
                headers={"X-API-Key": KEY},
                json={
                    "project": "later",
                    "exception_type": f"Later{i}",
                    "message": "later",
                    "traceback": "",
                },
            )
            assert r.status_code == 201, r.text

        # Restoring under a running service is refused, and changes nothing.
        live_before = error_types(data / "errors.db")
        refused = backup("--restore", str(chosen), **env)
        assert refused.returncode == 1
        assert "refusing to restore" in refused.stderr and "running" in refused.stderr
        assert error_types(data / "errors.db") >= live_before
        assert healthy(urls["error_tracker"])
    # The stack stopped (exit 0). The live database has rows the copy lacks.
    live = data / "errors.db"
    in_copy = error_types(chosen)
    assert error_types(live) - in_copy == {"Later0", "Later1", "Later2"}

    restored = backup("--restore", str(chosen), **env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"restored {live} from {chosen.name}" in restored.stdout
    assert error_types(live) == in_copy
    assert integrity(live) == "ok"
    assert not Path(f"{live}-wal").exists() and not Path(f"{live}-shm").exists()
    saved = list(backups.glob("errors-*.before-restore.db"))
    assert len(saved) == 1 and error_types(saved[0]) > in_copy  # the replaced one, kept

    # The service runs on the restored database and serves its rows.
    service = ServiceProcess(
        TRACKER.name, {"API_KEY": KEY, "DATABASE_PATH": str(live), "RATE_LIMIT": "0"}
    )
    with service:
        listed = httpx.get(
            f"{service.url}/api/errors",
            params={"project": "load", "limit": "1"},
            headers={"X-API-Key": KEY},
        ).json()
        assert listed["total"] == len({t for t in in_copy if t.startswith("LoadError_")})


def make_db(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"row {i}",) for i in range(rows)])
    conn.commit()
    conn.close()


def test_compose_layout_names_and_restore_over_a_stale_wal(tmp_path: Path) -> None:
    """deploy/data/<service>/<db> (the compose volumes) is found; names select; an open
    database (any process) refuses a restore; a stale -wal never reaches the restored one."""
    data = tmp_path / "deploy-data"
    make_db(data / "errors" / "errors.db", 3)
    make_db(data / "relay" / "browser-relay.db", 5)
    env = {"MONLIGHT_DATA_DIR": str(data), "BACKUP_DIR": str(tmp_path / "copies")}

    listed = backup("--list", **env)
    assert listed.returncode == 0, listed.stderr
    assert str(data / "relay" / "browser-relay.db") in listed.stdout

    run = backup("relay", **env)  # a service's name selects its database
    assert run.returncode == 0, run.stdout + run.stderr
    (relay_copy,) = copies(tmp_path / "copies", "browser-relay")
    assert copies(tmp_path / "copies", "errors") == []
    assert db_rows(relay_copy, "SELECT count(*) FROM t") == [(5,)]

    assert backup(**env).returncode == 0  # every database found
    (errors_copy,) = copies(tmp_path / "copies", "errors")

    unknown = backup("nonsense", **env)
    assert unknown.returncode == 1 and "unknown database 'nonsense'" in unknown.stderr
    empty = backup(MONLIGHT_DATA_DIR=str(tmp_path / "copies"))
    assert empty.returncode == 1 and "no database under" in empty.stderr

    # Open in another process (as a running service holds it): refused.
    live = data / "errors" / "errors.db"
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            " c.execute('SELECT count(*) FROM t').fetchone(); print('open', flush=True);"
            " sys.stdin.read()",
            str(live),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        refused = backup("--restore", str(errors_copy), **env)
        assert refused.returncode == 1 and "refusing to restore" in refused.stderr
    finally:
        holder.communicate("", timeout=10)

    # More rows, then a stale -wal of junk beside it: the restore removes it.
    conn = sqlite3.connect(live)
    conn.execute("INSERT INTO t VALUES ('later')")
    conn.commit()
    conn.close()
    Path(f"{live}-wal").write_bytes(b"\x00stale" * 1000)
    restored = backup("--restore", str(errors_copy), **env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert not Path(f"{live}-wal").exists()
    assert db_rows(live, "SELECT count(*) FROM t") == [(3,)]
    assert integrity(live) == "ok"

    # A file that is not a database is refused before anything changes.
    junk = tmp_path / "errors-20260101T000000Z.db"
    junk.write_bytes(b"not sqlite" * 100)
    bad = backup("--restore", str(junk), **env)
    assert bad.returncode == 1 and "integrity" in bad.stderr
    assert db_rows(live, "SELECT count(*) FROM t") == [(3,)]
