#!/usr/bin/env bash
# The demo under a cardinality attack: 100,000 GETs of a cached route, each with a query string
# never seen before (examples/tests/cardinality.rs), printing the demo's resident memory against
# the memory store's bound (max_bytes): VmRSS after a warm-up and its file-backed part (the
# binary's pages), peak VmHWM, the peak less the file-backed pages, the sampled peak RssAnon,
# and the store's entries, counted bytes and evictions. The test asserts the peak less the
# binary's pages stays within max_bytes + 25 %.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -p cache-examples --test cardinality -- --nocapture
