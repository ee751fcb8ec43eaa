#!/usr/bin/env bash
# Online backups of Monlight's SQLite databases, and putting one back.
#
# usage: deploy/backup.sh [name...]              back up (default: every database found)
#        deploy/backup.sh --restore FILE [name]   put a backup back (its service stopped;
#                                                 name: when FILE's name does not say)
#        deploy/backup.sh --list                  show the databases and their backups
#
# names: errors (Error Tracker), logs (Log Viewer), metrics (Metrics Collector),
#        browser-relay (Browser Relay); service names work too (error_tracker, relay...).
#
# A backup is taken with SQLite's online backup API while the services keep
# writing: one read transaction, so the copy is the database as it was at one
# moment, with every write acknowledged before it started. Each copy is checked
# with PRAGMA integrity_check before it is kept (a failed one is deleted and the
# run exits 1), written private (0600), and the newest 7 per database are kept.
# Copies are named <db>-<UTC timestamp>.db, e.g. errors-20261202T153000.123456Z.db.
#
# --restore FILE checks FILE, refuses while the database is open by any process
# (a running service holds it open; it is detected through SQLite's own locks,
# which see every process on the host, containers included), saves the current
# database beside the backups as <db>-<timestamp>.before-restore.db, removes the
# stale -wal/-shm files and puts FILE in place, owned as the file it replaces.
# Stop the service first: `cd deploy && docker compose --env-file secrets.env
# -f docker-compose.monitoring.yml stop error-tracker` (then `start` it), or stop
# `make run`.
#
# Where (environment):
#   MONLIGHT_DATA_DIR  the data directory (default ./data: the local stack's layout,
#                      <dir>/errors.db...); the compose layout <dir>/{errors,logs,
#                      metrics,relay}/<db> is found too. When unset and ./data holds
#                      no database, deploy/data (next to this script) is used.
#   BACKUP_DIR         where copies go (default <data dir>/backups)
#   BACKUP_KEEP        copies kept per database (default 7)
#   PYTHON             the Python 3 with sqlite3 to use (default python3)
#
# Run it as the user the services write as, or as root (sudo) for the compose
# layout, whose files belong to the containers' users: a restored database gets
# the owner and mode of the one it replaces.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "backup: $*" >&2; exit 1; }

mode=backup restore_file=''
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --restore)
      [ $# -ge 2 ] || die "--restore needs a backup file (see --help)"
      mode=restore restore_file=$2
      shift 2
      ;;
    --restore=*) mode=restore restore_file=${1#--restore=}; shift ;;
    --list) mode=list; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) names+=("$1"); shift ;;
  esac
done

py=${PYTHON:-python3}
command -v "$py" >/dev/null || die "$py not found (set PYTHON to a Python 3 with sqlite3)"
"$py" -c 'import sqlite3' 2>/dev/null || die "$py cannot import sqlite3 (set PYTHON)"
keep=${BACKUP_KEEP:-7}
case "$keep" in '' | *[!0-9]* | 0) die "BACKUP_KEEP must be a positive number, got '$keep'" ;; esac
umask 077

# Every database: its file name, compose sub-directory, service title and aliases.
DBS=(errors logs metrics browser-relay)
db_file() { printf '%s.db' "$1"; }
db_subdir() { case "$1" in browser-relay) echo relay ;; *) echo "$1" ;; esac; }
db_title() {
  case "$1" in
    errors) echo "Error Tracker" ;;
    logs) echo "Log Viewer" ;;
    metrics) echo "Metrics Collector" ;;
    browser-relay) echo "Browser Relay" ;;
  esac
}
db_service() {  # its service's name in the compose files
  case "$1" in
    errors) echo error-tracker ;;
    logs) echo log-viewer ;;
    metrics) echo metrics-collector ;;
    browser-relay) echo browser-relay ;;
  esac
}
canonical() {  # canonical NAME: the database a user's name means, or nothing
  case "$1" in
    errors | errors.db | error_tracker | error-tracker | tracker) echo errors ;;
    logs | logs.db | log_viewer | log-viewer) echo logs ;;
    metrics | metrics.db | metrics_collector | metrics-collector | collector) echo metrics ;;
    browser-relay | browser-relay.db | browser_relay | relay) echo browser-relay ;;
  esac
}

# find_db ROOT DB: the database's path under ROOT, either layout; nothing when absent.
find_db() {
  local file
  file=$(db_file "$2")
  if [ -f "$1/$file" ]; then
    printf '%s\n' "$1/$file"
  elif [ -f "$1/$(db_subdir "$2")/$file" ]; then
    printf '%s\n' "$1/$(db_subdir "$2")/$file"
  fi
}
holds_any() {
  local db
  for db in "${DBS[@]}"; do [ -n "$(find_db "$1" "$db")" ] && return 0; done
  return 1
}

script_dir=$(cd "$(dirname "$0")" && pwd)
if [ -n "${MONLIGHT_DATA_DIR:-}" ]; then
  data_dir=$MONLIGHT_DATA_DIR
elif holds_any ./data || ! holds_any "$script_dir/data"; then
  data_dir=./data
else
  data_dir=$script_dir/data
fi
[ -d "$data_dir" ] || die "no data directory at $data_dir (set MONLIGHT_DATA_DIR)"
data_dir=$(cd "$data_dir" && pwd)
backup_dir=${BACKUP_DIR:-$data_dir/backups}

# The Python side: SQLite's backup API, integrity checks, the in-use probe.
read -r -d '' PY_TOOL <<'PY' || true
import os, sqlite3, sys, time
from datetime import datetime, timezone


def stamp():
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def integrity(conn):
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def sidecars(path):
    return {s for s in ("-wal", "-shm", "-journal") if os.path.exists(path + s)}


def give_back(path, before, owner):
    """Sidecar files this process created: to the database's owner (run as root)."""
    if os.geteuid() != 0:
        return
    for s in sidecars(path) - before:
        try:
            os.chown(path + s, owner.st_uid, owner.st_gid)
        except OSError:
            pass


def fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy(src_path, dst_path, ro=False):
    """A consistent copy (one read transaction), checked, self-contained (no WAL)."""
    owner = os.stat(src_path)
    before = sidecars(src_path)
    uri = "file:" + src_path + ("?mode=ro" if ro else "")
    src = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        dst = sqlite3.connect(dst_path)
        try:
            src.backup(dst)  # every page in one step: one snapshot, writers not blocked
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = integrity(dst)
        finally:
            dst.close()
    finally:
        src.close()
        give_back(src_path, before, owner)
    if verdict != "ok":
        os.unlink(dst_path)
        raise SystemExit(f"integrity_check of the copy failed: {verdict}")
    fsync_path(dst_path)


def in_use(path):
    """Whether another connection has the database open. A WAL connection holds a
    shared lock on the file as long as it is open; an exclusive lock is refused then."""
    owner = os.stat(path)
    before = sidecars(path)
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("COMMIT")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    finally:
        conn.close()
        give_back(path, before, owner)


def main(cmd, *args):
    if cmd == "backup":  # SRC DIR NAME [SUFFIX]: DIR/NAME-<stamp><SUFFIX>, printed
        src, directory, name = args[:3]
        final = os.path.join(directory, f"{name}-{stamp()}{args[3] if len(args) > 3 else '.db'}")
        partial = final + ".partial"
        try:
            copy(src, partial)
        finally:
            if os.path.exists(partial + "-journal"):
                os.unlink(partial + "-journal")
        os.replace(partial, final)
        fsync_path(directory, directory=True)
        print(final)
        print(f"{os.path.getsize(final) / 1e6:.1f} MB, integrity ok")
    elif cmd == "check":  # FILE
        conn = sqlite3.connect("file:" + args[0] + "?mode=ro", uri=True)
        try:
            verdict = integrity(conn)
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        finally:
            conn.close()
        if verdict != "ok":
            raise SystemExit(f"{args[0]} fails integrity_check: {verdict}")
    elif cmd == "in-use":  # DB -> exit 0 when in use, 3 when free
        sys.exit(0 if in_use(args[0]) else 3)
    elif cmd == "restore":  # FILE TARGET
        src, target = args
        tmp = target + ".restoring"
        for leftover in (tmp, tmp + "-journal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        copy(src, tmp, ro=True)
        ref = target if os.path.exists(target) else os.path.dirname(target)
        st = os.stat(ref)
        os.chmod(tmp, st.st_mode & 0o777 if ref == target else 0o644)
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        for s in ("-wal", "-shm", "-journal"):  # the old database's: never replayed onto the new
            if os.path.exists(target + s):
                os.unlink(target + s)
        os.replace(tmp, target)
        fsync_path(os.path.dirname(target), directory=True)
    else:
        raise SystemExit(f"unknown command {cmd}")


try:
    main(*sys.argv[1:])
except sqlite3.Error as exc:
    raise SystemExit(f"sqlite: {exc}") from None
PY
tool() { "$py" -c "$PY_TOOL" "$@"; }

# backups_of DB: its kept copies, oldest first (names sort by time).
backups_of() {
  [ -d "$backup_dir" ] || return 0
  find "$backup_dir" -maxdepth 1 -type f -name "$1-*Z.db" -print |
    grep -E "/$1-[0-9]{8}T[0-9]{6}(\.[0-9]+)?Z\.db$" | LC_ALL=C sort || true
}

list() {
  local db path
  echo "data directory: $data_dir"
  echo "backups:        $backup_dir (newest $keep kept per database)"
  for db in "${DBS[@]}"; do
    path=$(find_db "$data_dir" "$db")
    printf '%-14s %s\n' "$db" "${path:-(not found)}"
    backups_of "$db" | sed 's/^/                 /'
  done
}

backup() {
  local db path out failed=0 copies count old removed
  local selected=()
  if [ ${#names[@]} -eq 0 ]; then
    for db in "${DBS[@]}"; do [ -n "$(find_db "$data_dir" "$db")" ] && selected+=("$db"); done
    [ ${#selected[@]} -gt 0 ] ||
      die "no database under $data_dir (errors.db, logs.db, metrics.db, browser-relay.db, or the compose layout errors/errors.db...); set MONLIGHT_DATA_DIR"
  else
    for name in "${names[@]}"; do
      db=$(canonical "$name")
      [ -n "$db" ] || die "unknown database '$name' (one of: ${DBS[*]})"
      [ -n "$(find_db "$data_dir" "$db")" ] || die "$(db_file "$db") not found under $data_dir"
      selected+=("$db")
    done
  fi
  mkdir -p "$backup_dir"
  chmod 700 "$backup_dir" 2>/dev/null || true
  echo "backing up from $data_dir to $backup_dir"
  for db in "${selected[@]}"; do
    path=$(find_db "$data_dir" "$db")
    if ! out=$(tool backup "$path" "$backup_dir" "$db" 2>&1); then
      echo "  FAIL  $db: $path: $out" >&2
      failed=1
      continue
    fi
    echo "  ok    $db -> $(basename "${out%%$'\n'*}") (${out#*$'\n'})"
    copies=$(backups_of "$db")
    count=$(printf '%s\n' "$copies" | grep -c . || true)
    removed=0
    if [ "$count" -gt "$keep" ]; then
      while IFS= read -r old; do
        rm -f "$old"
        removed=$((removed + 1))
      done < <(printf '%s\n' "$copies" | head -n "$((count - keep))")
    fi
    if [ $removed -gt 0 ]; then echo "        kept the newest $keep, removed $removed older"; fi
  done
  if [ $failed -ne 0 ]; then die "some backups FAILED (see above)"; fi
}

restore() {
  local file=$1 base db target title saved
  [ -f "$file" ] || die "no such backup file: $file"
  file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
  base=$(basename "$file")
  db=''
  for candidate in "${DBS[@]}"; do
    case "$base" in "$candidate"-*) db=$candidate ;; esac
  done
  if [ ${#names[@]} -gt 0 ]; then db=$(canonical "${names[0]}"); fi
  [ -n "$db" ] || die "cannot tell which database $base is (name it: --restore FILE <${DBS[*]// /|}>)"
  title=$(db_title "$db")
  target=$(find_db "$data_dir" "$db")
  if [ -z "$target" ]; then
    if [ -d "$data_dir/$(db_subdir "$db")" ]; then
      target="$data_dir/$(db_subdir "$db")/$(db_file "$db")"
    else
      target="$data_dir/$(db_file "$db")"
    fi
  fi
  [ "$file" != "$target" ] || die "$file is the live database itself"
  tool check "$file" || die "refusing to restore $file: it fails its integrity check"
  if [ -f "$target" ]; then
    local rc=0
    tool in-use "$target" || rc=$?
    case $rc in
      0) die "refusing to restore: $target is open by a running process (the $title?). Stop it first (cd deploy && docker compose --env-file secrets.env -f docker-compose.monitoring.yml stop $(db_service "$db"); or stop make run), then run this again." ;;
      3) ;;  # nobody has it open
      *) die "cannot tell whether $target is in use (see above); nothing changed" ;;
    esac
    mkdir -p "$backup_dir"
    saved=$(tool backup "$target" "$backup_dir" "$db" .before-restore.db) ||
      die "could not save the current $target first; nothing changed"
    echo "saved the current $(db_file "$db") as ${saved%%$'\n'*}"
  fi
  tool restore "$file" "$target" || die "restore of $target failed"
  echo "restored $target from $base (integrity ok); start the $title again"
}

case "$mode" in
  backup) backup ;;
  list) list ;;
  restore) restore "$restore_file" ;;
esac
