#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (real redis-server processes on free
# loopback ports, started by the tests themselves), UI and doc tests.
# Installs redis-server and redis-tools from the system packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/ensure-redis.sh"
"$(dirname "$0")/ensure-chromium.sh"

cargo nextest run --workspace --all-features --no-fail-fast
cargo test --workspace --all-features --doc
