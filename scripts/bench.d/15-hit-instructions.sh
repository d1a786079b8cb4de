# Instructions per typed hit under callgrind (steady where wall-clock time on a shared 2-core
# machine is not): the memory store and a tiered store's first tier vs a raw moka::sync get +
# clone, a three-tier (memory → SQLite → Redis) first-tier hit vs a memory hit, and a #[cached]
# hit vs the hand-written Cache::get it stands for.
set -euo pipefail
./scripts/ensure-bench-tools.sh
cargo build -q --release -p cache-core --features sqlite --example hit_profile
bin=target/release/examples/hit_profile
n=20000
per() { ./scripts/callgrind-per-op.sh "$n" "$bin" "$1"; }
raw=$(per raw)
get=$(per get)
row() { ./scripts/ratio-row.sh "$1" "$2" "$3" "$4" instr; }
row "memory hit: typed Cache::get vs raw moka get+clone (callgrind)" "$(per memory)" "$raw" 1.20
row "tiered L1 hit: typed Cache::get vs raw moka get+clone (callgrind)" "$(per tiered)" "$raw" 1.30
row "three-tier L1 hit (memory → SQLite → Redis) vs memory hit, typed Cache::get (callgrind)" "$(per three-tier)" "$(per memory)" 1.10
store=$(per raw-store)
awk -v o="$store" -v b="$raw" 'BEGIN { printf "RESULT | raw moka configured as the memory store (per-entry expiry, ahash, weigher) vs raw moka (callgrind) | %d instr | %d instr | %.2fx | reported | - \n", o, b, o / b }'
row "#[cached] hit vs hand-written key + Cache::get (callgrind)" "$(per cached)" "$get" 1.10
