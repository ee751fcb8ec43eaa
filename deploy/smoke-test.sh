#!/usr/bin/env bash
# Smoke test of a running stack (Docker or local `make run`).
# usage: deploy/smoke-test.sh [host] [base port]
# Keys come from the environment: ERROR_TRACKER_API_KEY, METRICS_COLLECTOR_API_KEY.
# Checks the Error Tracker (base port) and the Metrics Collector (base + 2).
set -euo pipefail

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
host=${1:-127.0.0.1}
base=${2:-5010}
fail=0
ok() { printf '  ok    %s\n' "$1"; }
bad() { printf '  FAIL  %s\n' "$1" >&2; fail=1; }

# check NAME EXPECTED_STATUS CURL_ARGS... ; leaves the body in $body
check() {
  local name=$1 want=$2; shift 2
  local out status
  out=$(curl -sS -m 10 -w '\n%{http_code}' "$@" 2>&1) || { bad "$name: $out"; return 1; }
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  if [ "$status" = "$want" ]; then ok "$name ($status)"; else bad "$name: expected $want, got $status: $body"; return 1; fi
}

echo "Error Tracker on $host:$base"
et="http://$host:$base"
key=${ERROR_TRACKER_API_KEY:?set ERROR_TRACKER_API_KEY}
check "health" 200 "$et/health" || true
fp_body='{"project":"smoke","exception_type":"SmokeTest","message":"smoke '"$(date +%s%N)"'","traceback":"File \"smoke.py\", line '"$RANDOM$RANDOM"'"}'
if check "error created" 201 -H "X-API-Key: $key" -H 'Content-Type: application/json' -d "$fp_body" "$et/api/errors"; then
  check "error deduplicated" 200 -H "X-API-Key: $key" -H 'Content-Type: application/json' -d "$fp_body" "$et/api/errors" || true
  case "$body" in *'"incremented"'*) ok "dedup status incremented" ;; *) bad "dedup body: $body" ;; esac
fi
check "wrong key refused" 401 -H "X-API-Key: wrong" "$et/api/errors" || true
check "UI served" 200 "$et/" || true

echo "Metrics Collector on $host:$((base + 2))"
mc="http://$host:$((base + 2))"
mkey=${METRICS_COLLECTOR_API_KEY:?set METRICS_COLLECTOR_API_KEY}
check "health" 200 "$mc/health" || true
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
batch='[{"name":"smoke_requests_total","type":"counter","value":1,"labels":{"check":"smoke"},"timestamp":"'"$now"'"},
        {"name":"smoke_latency_ms","type":"histogram","value":12.5,"labels":{"check":"smoke"}}]'
if check "metrics batch accepted" 202 -H "X-API-Key: $mkey" -H 'Content-Type: application/json' -d "$batch" "$mc/api/metrics"; then
  check "metrics queryable" 200 -H "X-API-Key: $mkey" "$mc/api/metrics?name=smoke_latency_ms&period=1h" || true
  case "$body" in *'"count":'[1-9]*) ok "fresh point visible" ;; *) bad "fresh point missing: $body" ;; esac
fi
check "bad batch refused" 400 -H "X-API-Key: $mkey" -H 'Content-Type: application/json' -d '[]' "$mc/api/metrics" || true
check "UI served" 200 "$mc/" || true

if [ $fail -ne 0 ]; then echo "smoke test FAILED" >&2; exit 1; fi
echo "smoke test passed"
