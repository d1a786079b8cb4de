#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (real redis-server, memcached, postgres
# and mariadbd processes on free loopback ports, started by the tests themselves), UI and doc
# tests, under both cargo-nextest and cargo test.
# Installs what the tests need from the system packages when it is missing (ensure-*.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/ensure-redis.sh"
"$(dirname "$0")/ensure-memcached.sh"
"$(dirname "$0")/ensure-sql.sh"
"$(dirname "$0")/ensure-chromium.sh"

echo "== tests [${SECONDS}s]"
cargo nextest run --workspace --all-features --no-fail-fast
# The same tests again under `cargo test`, the command every Rust contributor types first: it runs
# the tests of one binary as threads of one process, which nextest does not, so a test that leans
# on a working directory, a port, an environment variable or other state of its own process shows
# up here. It also runs the doc tests (the README's included).
echo "== cargo test (one process per test binary; doc tests) [${SECONDS}s]"
cargo test --workspace --all-features --no-fail-fast
echo "== tests done [${SECONDS}s]"
