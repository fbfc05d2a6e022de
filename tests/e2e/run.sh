#!/bin/sh
# Runs the end-to-end tests with the official openai npm SDK (node:test).
# Installs tests/e2e/node_modules with `npm ci` (package-lock.json) when
# missing; skips cleanly (exit 0 with a message) when node/npm is absent or
# the packages cannot be installed (no registry access). Run from the repo root.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP e2e.openai_sdk: node is not installed"
    exit 0
fi
if [ ! -f "$dir/node_modules/openai/package.json" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "SKIP e2e.openai_sdk: npm is not installed"
        exit 0
    fi
    # one installer at a time (plain and ASan test runs may start together)
    (
        flock 9
        if [ ! -f "$dir/node_modules/openai/package.json" ]; then
            timeout 300 npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
        fi
    ) 9>"$dir/.npm-install.lock"
    if [ ! -f "$dir/node_modules/openai/package.json" ]; then
        echo "SKIP e2e.openai_sdk: could not install the npm packages (npm ci --prefix tests/e2e failed)"
        exit 0
    fi
fi
exec node --test "$dir"/*.test.mjs
