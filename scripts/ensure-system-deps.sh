#!/usr/bin/env bash
# Installs the Debian packages the tests or benchmarks need, only when missing.
# usage: scripts/ensure-system-deps.sh chromium|wrk ...
set -euo pipefail

need=()
for what in "$@"; do
  case "$what" in
    chromium) [ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core) ;;
    wrk) command -v wrk >/dev/null 2>&1 || need+=(wrk) ;;
    *) echo "ensure-system-deps: unknown dependency '$what'" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "ensure-system-deps: need root (or sudo) to apt-get install: ${need[*]}" >&2
  exit 1
fi
echo "ensure-system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
