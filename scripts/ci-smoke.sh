#!/usr/bin/env bash
# Starts the local stack as `make run` does, waits for health, and smoke-tests it.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(mktemp -d)
export MONLIGHT_DATA_DIR="$data"
.venv/bin/python -m shared.stack >"$data/stack.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:5010/health >/dev/null 2>&1; then break; fi
  if ! kill -0 $pid 2>/dev/null; then cat "$data/stack.log" >&2; exit 1; fi
  sleep 0.1
done
set -a
# shellcheck source=/dev/null
. "$data/dev-keys.env"
set +a
bash deploy/smoke-test.sh 127.0.0.1 5010
kill -TERM $pid
wait $pid
echo "smoke: stack stopped cleanly"
