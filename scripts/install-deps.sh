#!/usr/bin/env bash
# Installs the Debian packages hermes-router needs to build, test and benchmark.
# Idempotent: installs only what is missing. Usage: scripts/install-deps.sh [--bench]
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libevent-dev libcurl4-openssl-dev libcjson-dev libyaml-dev
  libsqlite3-dev libpq-dev libxgboost-dev libpcre2-dev libjemalloc-dev
  libcmocka-dev python3 python3-numpy
  postgresql   # server binaries for the request-log PostgreSQL test (skipped without them)
  chromium     # headless browser for the web UI tests (skipped without it)
)
# The web UI build (web/, embedded in the binary) needs node + npm; a Node.js
# from elsewhere (e.g. nodesource, which bundles npm) counts.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(wrk nginx sqlite3 curl)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
