#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (real redis-server, memcached, postgres
# and mariadbd processes on free loopback ports, started by the tests themselves), UI and doc
# tests.
# Installs what the tests need from the system packages when it is missing (ensure-*.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/ensure-redis.sh"
"$(dirname "$0")/ensure-memcached.sh"
"$(dirname "$0")/ensure-sql.sh"
"$(dirname "$0")/ensure-chromium.sh"

echo "== tests [${SECONDS}s]"
cargo nextest run --workspace --all-features --no-fail-fast
echo "== doc tests [${SECONDS}s]"
cargo test --workspace --all-features --doc
echo "== tests done [${SECONDS}s]"
