#!/usr/bin/env bash
# Smoke test of a running Monlight stack (Docker compose or the local `make run`).
#
# usage: deploy/smoke-test.sh [host] [base port]      (default 127.0.0.1 5010)
#
# The services are expected on base (Error Tracker), base+1 (Log Viewer),
# base+2 (Metrics Collector) and base+3 (Browser Relay). It checks the health of
# all four; an error created then deduplicated; a metrics batch accepted and
# queryable; a DSN key created on the relay, a browser error relayed through it
# (with an Origin header, CORS checked) and then found in the tracker; the log
# viewer answering and a log line searched; every UI (and the relay's SDK) served.
# What it creates is tidied up: its errors resolved, its DSN key deactivated.
#
# Keys come from the environment, as deploy/secrets.env and the local stack's
# data/dev-keys.env name them (`set -a; . data/dev-keys.env; set +a`):
#   ERROR_TRACKER_API_KEY, LOG_VIEWER_API_KEY, METRICS_COLLECTOR_API_KEY,
#   BROWSER_RELAY_ADMIN_API_KEY (each falls back to MONLIGHT_API_KEY).
# Optional:
#   SMOKE_ORIGIN   the Origin the browser requests send: one the relay allows
#                  (default: the first of CORS_ORIGINS when it is set, as after
#                  sourcing deploy/secrets.env, else http://localhost:3000, which
#                  the local stack allows). Only when neither is set and the
#                  default is not allowed is the CORS check skipped.
#   SMOKE_WAIT     seconds to wait for health and for the first log lines (20).
#
# Exit 0 when every check passed, 1 otherwise (each failure is a FAIL line).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  -*) echo "smoke-test: unknown option $1 (see --help)" >&2; exit 1 ;;
esac
if [ $# -gt 2 ]; then echo "smoke-test: at most two arguments: [host] [base port]" >&2; exit 1; fi
host=${1:-127.0.0.1}
base=${2:-5010}
case "$base" in
  '' | *[!0-9]*) echo "smoke-test: base port must be a number, got '$base'" >&2; exit 1 ;;
esac
wait_s=${SMOKE_WAIT:-20}
case "$wait_s" in
  '' | *[!0-9]*) echo "smoke-test: SMOKE_WAIT must be a number of seconds, got '$wait_s'" >&2; exit 1 ;;
esac
command -v curl >/dev/null || { echo "smoke-test: curl is required" >&2; exit 1; }

need_key() {  # need_key VAR: the service's key, else MONLIGHT_API_KEY, else stop
  local value=${!1:-${MONLIGHT_API_KEY:-}}
  if [ -z "$value" ]; then
    echo "smoke-test: set $1 (or MONLIGHT_API_KEY); for the local stack: set -a; . data/dev-keys.env; set +a" >&2
    exit 1
  fi
  printf '%s' "$value"
}
et_key=$(need_key ERROR_TRACKER_API_KEY)
lv_key=$(need_key LOG_VIEWER_API_KEY)
mc_key=$(need_key METRICS_COLLECTOR_API_KEY)
br_key=$(need_key BROWSER_RELAY_ADMIN_API_KEY)

et="http://$host:$base"
lv="http://$host:$((base + 1))"
mc="http://$host:$((base + 2))"
br="http://$host:$((base + 3))"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Keys go to curl in header files (in the private $tmp), never on its command line,
# where any local user could read them (ps).
auth_file() { printf 'X-API-Key: %s\n' "$2" >"$tmp/$1.auth"; printf '%s' "$tmp/$1.auth"; }
et_auth=$(auth_file et "$et_key")
lv_auth=$(auth_file lv "$lv_key")
mc_auth=$(auth_file mc "$mc_key")
br_auth=$(auth_file br "$br_key")
failures=()
ok() { printf '  ok    %s\n' "$1"; }
skip() { printf '  skip  %s\n' "$1"; }
bad() { printf '  FAIL  %s\n' "$1"; failures+=("$1"); }

# A word of letters only: error groups blank numbers and hex ids in messages,
# so a unique message (a new group each run) must be made of letters.
token() { printf '%s%05d' "$(date +%s%N)" "$RANDOM" | tr '0-9' 'a-j'; }

# request CURL_ARGS...: sets $status, $body, $ctype and the headers file $tmp/headers.
request() {
  local out
  status=000 body='' ctype=''
  : >"$tmp/headers"
  if ! out=$(curl -sS -m 10 -D "$tmp/headers" -o "$tmp/body" -w '%{http_code} %{content_type}' "$@" 2>"$tmp/error"); then
    body=$(cat "$tmp/error")
    return 1
  fi
  status=${out%% *}
  ctype=${out#* }
  body=$(cat "$tmp/body")
}

# check NAME EXPECTED_STATUS CURL_ARGS...: one ok/FAIL line; leaves $body etc.
check() {
  local name=$1 want=$2
  shift 2
  if ! request "$@"; then bad "$name: no answer: $body"; return 1; fi
  if [ "$status" = "$want" ]; then ok "$name ($status)"; return 0; fi
  bad "$name: expected $want, got $status: ${body:0:300}"
  return 1
}

# contains NAME PATTERN: $body matches the shell pattern (quote it at the call).
contains() {
  # shellcheck disable=SC2053  # the pattern is meant as a glob
  if [[ $body == $2 ]]; then ok "$1"; else bad "$1: unexpected answer: ${body:0:300}"; return 1; fi
}

# header NAME: the value of a response header of the last request (empty when absent).
header() {
  local name
  name=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
  tr -d '\r' <"$tmp/headers" | while IFS= read -r line; do
    case "$(printf '%s' "${line%%:*}" | tr '[:upper:]' '[:lower:]')" in
      "$name") printf '%s' "${line#*: }"; break ;;
    esac
  done
}

# healthy NAME URL: GET /health answers 200, waiting for it until SMOKE_WAIT seconds
# after the start (a stack just started, all services coming up together).
health_deadline=$((SECONDS + wait_s))
healthy() {
  local deadline=$health_deadline
  while :; do
    if request "$2/health" && [ "$status" = 200 ]; then ok "health ($status)"; return 0; fi
    if [ $SECONDS -ge $deadline ]; then
      bad "health of the $1 at $2: ${status}: ${body:0:300}"
      return 1
    fi
    sleep 0.5
  done
}

# ui NAME URL: GET URL is a 200 HTML page.
ui() {
  if check "$1" 200 "$2"; then
    case "$ctype" in
      text/html*) ok "$1 is HTML" ;;
      *) bad "$1: content type $ctype, expected text/html" ;;
    esac
  fi
}

json_post=(-H 'Content-Type: application/json')
run=$(token)
error_id=''

tracker_checks() {
  local error
  error='{"project":"smoke","exception_type":"SmokeTest","message":"smoke check '"$run"'",'
  error+='"traceback":"Traceback (most recent call last):\n  File \"smoke/check.py\", line 7, in run_'"$run"'\nSmokeTest: smoke check\n"}'
  if check "error created" 201 -H @"$et_auth" "${json_post[@]}" -d "$error" "$et/api/errors" &&
    contains "created status" '*"status":"created"*'; then
    error_id=$(printf '%s' "$body" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
    if check "same error again" 200 -H @"$et_auth" "${json_post[@]}" -d "$error" "$et/api/errors"; then
      contains "error deduplicated (incremented)" '*"status":"incremented"*' || true
    fi
    if [ -n "$error_id" ] && check "error detail" 200 -H @"$et_auth" "$et/api/errors/$error_id"; then
      contains "count is 2" '*"count":2[,}]*' || true
    fi
  fi
  check "wrong key refused" 401 -H "X-API-Key: wrong-key" "$et/api/errors" || true
  ui "UI served" "$et/"
}

collector_checks() {
  local now batch
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  batch='[{"name":"smoke_requests_total","type":"counter","value":1,"labels":{"check":"smoke"},"timestamp":"'"$now"'"},'
  batch+='{"name":"smoke_latency_ms","type":"histogram","value":12.5,"labels":{"check":"smoke","run":"'"$run"'"}}]'
  if check "metrics batch accepted" 202 -H @"$mc_auth" "${json_post[@]}" -d "$batch" "$mc/api/metrics"; then
    contains "both points counted" '*"count":2*' || true
    if check "metrics queryable" 200 -H @"$mc_auth" \
      "$mc/api/metrics?name=smoke_latency_ms&period=1h&labels=run:$run"; then
      contains "the fresh point is in the answer" '*"count":1[,}]*' || true
    fi
  fi
  check "bad batch refused" 400 -H @"$mc_auth" "${json_post[@]}" -d '[]' "$mc/api/metrics" || true
  ui "UI served" "$mc/"
}

relay_checks() {
  local origin=${SMOKE_ORIGIN:-${CORS_ORIGINS:-http://localhost:3000}} project="smoke-$run"
  origin=${origin%%,*}
  origin=${origin// /}
  local dsn='' dsn_id='' allowed='' browser relayed_id
  if check "DSN key created (admin key)" 201 -H @"$br_auth" "${json_post[@]}" \
    -d '{"project":"'"$project"'"}' "$br/api/dsn-keys"; then
    dsn=$(printf '%s' "$body" | sed -n 's/.*"public_key":"\([^"]*\)".*/\1/p')
    [ -n "$dsn" ] || bad "no public_key in: $body"
  fi
  check "admin route refuses a wrong key" 401 -H "X-API-Key: wrong-key" "$br/api/dsn-keys" || true
  if [ -n "$dsn" ]; then
    check "browser route refuses an unknown DSN key" 401 -H "Origin: $origin" \
      -H "X-Monlight-Key: not-a-key" "${json_post[@]}" -d '{"type":"Error","message":"x"}' \
      "$br/api/browser/errors" || true
    if check "CORS preflight" 204 -X OPTIONS -H "Origin: $origin" \
      -H 'Access-Control-Request-Method: POST' \
      -H 'Access-Control-Request-Headers: X-Monlight-Key, Content-Type' "$br/api/browser/errors"; then
      allowed=$(header Access-Control-Allow-Origin)
      if [ "$allowed" = "$origin" ]; then
        ok "CORS allows $origin"
      elif [ -n "${SMOKE_ORIGIN:-}${CORS_ORIGINS:-}" ]; then
        bad "CORS: $origin got Access-Control-Allow-Origin '$allowed' (is it in the relay's CORS_ORIGINS?)"
      else
        skip "CORS: $origin is not in the relay's CORS_ORIGINS (set SMOKE_ORIGIN to one that is)"
      fi
    fi
    browser='{"type":"SmokeBrowserError","message":"relayed '"$run"'","url":"https://smoke.example/page",'
    browser+='"release":"smoke","stack":"SmokeBrowserError: relayed\n    at check (https://smoke.example/assets/smoke.js:1:10)"}'
    if check "browser error relayed" 201 -H "Origin: $origin" -H "X-Monlight-Key: $dsn" \
      "${json_post[@]}" -d "$browser" "$br/api/browser/errors"; then
      if [ "$allowed" = "$origin" ]; then
        if [ "$(header Access-Control-Allow-Origin)" = "$origin" ]; then
          ok "relayed answer readable by the page (CORS)"
        else
          bad "relayed answer lacks Access-Control-Allow-Origin: $origin"
        fi
      fi
      if check "relayed error listed in the tracker" 200 -H @"$et_auth" \
        "$et/api/errors?project=$project&source=browser" &&
        contains "the tracker holds it as a browser error" '*"exception_type":"SmokeBrowserError"*'; then
        relayed_id=$(printf '%s' "$body" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
        check "tidy: relayed error resolved" 200 -X POST -H @"$et_auth" \
          "$et/api/errors/$relayed_id/resolve" || true
      fi
    fi
    if request -H @"$br_auth" "$br/api/dsn-keys" && [ "$status" = 200 ]; then
      dsn_id=$(printf '%s' "$body" | sed -n 's/.*"id":\([0-9][0-9]*\),"public_key":"'"$dsn"'".*/\1/p')
    fi
    if [ -n "$dsn_id" ]; then
      check "tidy: smoke DSN key deactivated" 200 -X DELETE -H @"$br_auth" \
        "$br/api/dsn-keys/$dsn_id" || true
    else
      bad "the smoke DSN key is not in the admin list ($status): ${body:0:300}"
    fi
  fi
  if check "SDK served" 200 "$br/sdk/monlight.js"; then
    case "$ctype" in
      *javascript*) ok "SDK is JavaScript" ;;
      *) bad "SDK: content type $ctype, expected JavaScript" ;;
    esac
  fi
}

logs_checks() {
  local deadline=$((SECONDS + wait_s)) query params
  check "wrong key refused" 401 -H "X-API-Key: wrong-key" "$lv/api/logs" || true
  # Lines appear once the viewer has read them (every POLL_INTERVAL): wait for some.
  while request -H @"$lv_auth" "$lv/api/logs?limit=1" && [ "$status" = 200 ] &&
    [[ $body == *'"total":0,'* ]] && [ $SECONDS -lt $deadline ]; do
    sleep 0.5
  done
  if [ "$status" != 200 ]; then
    bad "log viewer answering: /api/logs gave $status: ${body:0:300}"
  elif [[ $body == *'"total":0,'* ]]; then
    ok "log viewer answering (no log lines yet)"
    request -H @"$lv_auth" "$lv/api/logs/containers" || true
    skip "log search: no log lines after ${wait_s}s (containers: ${body:0:200}); is Docker's"
    skip "  containers directory mounted where LOG_SOURCES says?"
  else
    ok "log viewer answering (log lines present)"
    if request -H @"$lv_auth" "$lv/api/logs/containers" &&
      [[ $body == *'"name":"shop-worker"'* ]]; then
      # The local stack's sample writer: its worker says "sent N emails" every second.
      query=emails params="container=shop-worker&search=emails"
    else
      # Any stack: a word of the newest line, searched as an FTS5 phrase.
      request -H @"$lv_auth" "$lv/api/logs?limit=1" || true
      query=$(printf '%s' "$body" | sed -n 's/.*"message":"\([^"]*\)".*/\1/p' |
        grep -oE '[A-Za-z]{3,}' | head -n 1 || true)
      params="search=%22$query%22"
    fi
    if [ -z "$query" ]; then
      skip "log search: the newest line has no word to search for"
    elif check "log search for '$query'" 200 -H @"$lv_auth" "$lv/api/logs?limit=5&$params"; then
      contains "a line with '$query' found" '*"total":[1-9]*' || true
    fi
  fi
  ui "UI served" "$lv/"
}

# service TITLE URL CHECKS: its health, then (when healthy) its checks.
service() {
  echo "$1 on $2"
  if healthy "$1" "$2"; then
    "$3"
  else
    skip "$1: its other checks (it is not healthy)"
  fi
}

service "Error Tracker" "$et" tracker_checks
service "Metrics Collector" "$mc" collector_checks
service "Browser Relay" "$br" relay_checks
if [ -n "$error_id" ]; then
  check "tidy: smoke error resolved" 200 -X POST -H @"$et_auth" \
    "$et/api/errors/$error_id/resolve" || true
fi
service "Log Viewer" "$lv" logs_checks

echo
if [ ${#failures[@]} -ne 0 ]; then
  {
    echo "smoke test FAILED: ${#failures[@]} check(s) against $host (base port $base):"
    printf '  - %s\n' "${failures[@]}"
  } >&2
  exit 1
fi
echo "smoke test passed: Error Tracker, Metrics Collector, Browser Relay and Log Viewer on $host"
