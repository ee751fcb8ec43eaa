#!/usr/bin/env bash
# Upgrade the Docker stack in place: fetch, rebuild, restart one service at a time.
#
# usage: deploy/upgrade.sh [options] [service...]     (default: every compose service)
#
#   --dry-run     print every step (the commands it would run) and change nothing
#   --no-pull     rebuild the current checkout (skip git fetch/pull)
#   --no-backup   skip the backup of the databases taken before any restart
#   --force       rebuild and restart even when git brought nothing new
#   -h, --help    this text
#
# Steps:
#   1. git fetch, then git pull --ff-only (a diverged checkout stops here).
#   2. deploy/backup.sh: a consistent copy of every database first (migrations
#      of a new version only go forward).
#   3. docker compose build: the new images, while the old ones keep serving.
#   4. For each service in turn (the Error Tracker and Metrics Collector before
#      the Browser Relay that forwards to them): its running image is tagged
#      <image>:previous, the service is recreated on the new image, and its
#      Docker healthcheck is awaited (UPGRADE_TIMEOUT seconds, default 120).
#      If it does not become healthy, it is rolled back: <image>:previous is tagged
#      back as <image>, the service recreated on it and awaited, and the upgrade
#      stops with exit 1, the remaining services untouched on their old images.
#
# Environment: COMPOSE_FILE (default deploy/docker-compose.monitoring.yml), ENV_FILE
# (the secrets compose substitutes, default secrets.env beside the compose file),
# UPGRADE_TIMEOUT (seconds per service, default 120).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "upgrade: $*" >&2; exit 1; }

dry=0 pull=1 backup=1 force=0
services=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --dry-run | -n) dry=1 ;;
    --no-pull) pull=0 ;;
    --no-backup) backup=0 ;;
    --force) force=1 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) services+=("$1") ;;
  esac
  shift
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
compose_file=${COMPOSE_FILE:-deploy/docker-compose.monitoring.yml}
env_file=${ENV_FILE:-$(dirname "$compose_file")/secrets.env}
timeout=${UPGRADE_TIMEOUT:-120}
case "$timeout" in '' | *[!0-9]*) die "UPGRADE_TIMEOUT must be a number of seconds, got '$timeout'" ;; esac

step() { printf '\n== %s\n' "$*"; }
# run CMD...: runs it, or with --dry-run prints it.
run() {
  if [ $dry -eq 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}
# The compose command: its ${...} are filled from the secrets file (--env-file).
dc=(docker compose -f "$compose_file" --env-file "$env_file")
compose() { "${dc[@]}" "$@"; }

if [ $dry -eq 0 ]; then
  command -v git >/dev/null || die "git is required"
  command -v docker >/dev/null || die "docker is required"
  docker compose version >/dev/null 2>&1 || die "the docker compose plugin is required (docker compose version)"
  [ -f "$env_file" ] || die "no $env_file: compose needs the keys (cp deploy/secrets.env.example $env_file, fill it in; or set ENV_FILE)"
fi
[ -f "$compose_file" ] || [ ${#services[@]} -gt 0 ] || die "no compose file at $compose_file (set COMPOSE_FILE)"

# The services, upstreams first: the relay forwards to the tracker and the collector.
if [ ${#services[@]} -eq 0 ]; then
  if [ $dry -eq 0 ]; then
    mapfile -t services < <(compose config --services)
  else  # no docker needed to show the plan: the top-level keys under `services:`
    mapfile -t services < <(awk '/^services:/ {on=1; next} /^[^ #]/ {on=0}
      on && /^  [A-Za-z0-9_.-]+:/ {sub(/^  /, ""); sub(/:.*/, ""); print}' "$compose_file")
  fi
  [ ${#services[@]} -gt 0 ] || die "no services in $compose_file"
fi
ordered=()
for s in "${services[@]}"; do case "$s" in *relay*) ;; *) ordered+=("$s") ;; esac; done
for s in "${services[@]}"; do case "$s" in *relay*) ordered+=("$s") ;; esac; done
services=("${ordered[@]}")

[ $dry -eq 1 ] && echo "dry run: nothing is changed; the steps for ${services[*]}:"

# container SERVICE: its container id (empty when it has none).
container() { compose ps -q "$1" 2>/dev/null | head -n 1; }

# await SERVICE: its container's Docker healthcheck reports healthy (or, without a
# healthcheck, it keeps running); 1 when unhealthy, exited or out of time.
await() {
  local svc=$1 deadline=$((SECONDS + timeout)) cid state
  if [ $dry -eq 1 ]; then
    printf '+ wait up to %ss until %s is healthy (docker inspect .State.Health.Status)\n' "$timeout" "$svc"
    return 0
  fi
  while [ $SECONDS -lt $deadline ]; do
    cid=$(container "$svc")
    if [ -n "$cid" ]; then
      state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$cid" 2>/dev/null || echo "gone none")
      case "$state" in
        "running healthy") echo "   $svc is healthy"; return 0 ;;
        "running none") sleep 5; [ -n "$(container "$svc")" ] && echo "   $svc is running (no healthcheck)" && return 0 ;;
        *" unhealthy" | exited* | dead* | gone*) echo "   $svc: $state" >&2; return 1 ;;
      esac
    fi
    sleep 2
  done
  echo "   $svc: not healthy after ${timeout}s" >&2
  return 1
}

# image_of SERVICE: the image name its container runs (as created: name[:tag]).
image_of() { docker inspect -f '{{.Config.Image}}' "$1"; }
# repo_of IMAGE: the name without its tag (a registry's :port stays).
repo_of() {
  local last=${1##*/}
  case "$last" in *:*) printf '%s' "${1%:*}" ;; *) printf '%s' "$1" ;; esac
}

old_head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ $pull -eq 1 ]; then
  step "1. fetch and pull (at $old_head)"
  run git fetch --prune
  run git pull --ff-only
  new_head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ $dry -eq 0 ] && [ "$new_head" = "$old_head" ] && [ $force -eq 0 ]; then
    echo "already up to date at $old_head: nothing to upgrade (--force rebuilds anyway)"
    exit 0
  fi
  [ $dry -eq 1 ] || git log --oneline "$old_head..$new_head" | sed 's/^/   /'
else
  step "1. fetch and pull: skipped (--no-pull), building $old_head"
fi

if [ $backup -eq 1 ]; then
  step "2. back up the databases"
  run env MONLIGHT_DATA_DIR="${MONLIGHT_DATA_DIR:-$(dirname "$compose_file")/data}" bash deploy/backup.sh
else
  step "2. backup: skipped (--no-backup)"
fi

step "3. build the new images (the old ones keep serving)"
run "${dc[@]}" build "${services[@]}"

step "4. restart one service at a time"
for svc in "${services[@]}"; do
  echo "-- $svc"
  previous=''
  if [ $dry -eq 1 ]; then
    image="<image of $svc>"
    previous="$image:previous"
    run docker tag "$image" "$previous"
  else
    cid=$(container "$svc")
    if [ -n "$cid" ]; then
      image=$(image_of "$cid")
      previous="$(repo_of "$image"):previous"
      docker tag "$(docker inspect -f '{{.Image}}' "$cid")" "$previous"
      echo "   the running image is kept as $previous"
    else
      echo "   $svc has no container yet: nothing to roll back to"
    fi
  fi
  run "${dc[@]}" up -d --no-deps "$svc"
  if await "$svc"; then
    if [ $dry -eq 1 ]; then
      printf '+ if it is not healthy: docker tag %s %s; %s up -d --no-deps --force-recreate %s; wait for health; stop with exit 1\n' \
        "$previous" "$image" "${dc[*]}" "$svc"
    fi
    continue
  fi
  if [ -z "$previous" ]; then
    die "$svc is not healthy on the new image and had no previous one; see: ${dc[*]} logs $svc"
  fi
  echo "   rolling $svc back to $previous" >&2
  docker tag "$previous" "$image"
  compose up -d --no-deps --force-recreate "$svc"
  if await "$svc"; then
    die "$svc failed on the new image and was rolled back to its previous one; the services after it were not restarted. The checkout is now at $(git rev-parse --short HEAD) (it was $old_head). See: ${dc[*]} logs $svc"
  fi
  die "$svc failed on the new image and is not healthy on the previous one either; see: ${dc[*]} logs $svc"
done

step "done"
if [ $dry -eq 1 ]; then echo "dry run complete: nothing was changed"; exit 0; fi
echo "upgraded ${services[*]} to $(git rev-parse --short HEAD 2>/dev/null || echo unknown); previous images kept as <image>:previous"
