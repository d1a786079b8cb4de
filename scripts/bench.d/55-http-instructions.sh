# Instructions per request of the HTTP response cache under callgrind (steady where wall-clock
# time on a shared 2-core machine is not): `bench_server profile` runs the router in-process on
# one thread, without sockets. A hit vs the bare handler, and a miss (looked up, fetched,
# served, stored) vs `floor`, the least a cache layer on moka can do on a miss.
set -euo pipefail
./scripts/ensure-bench-tools.sh
cargo build -q --release -p cache-axum --example bench_server
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_server"
n=20000
per() { ./scripts/callgrind-per-op.sh "$n" "$bin" profile "$1"; }
row() { ./scripts/ratio-row.sh "$1" "$2" "$3" "$4" instr; }
row "http hit vs bare handler, per request in-process (callgrind)" "$(per hit)" "$(per bare)" 1.10
row "http miss vs minimal moka layer (floor), per request in-process (callgrind)" "$(per miss)" "$(per floor)" 1.25
