#!/usr/bin/env bash
# Runs every `cargo fuzz` target (fuzz/) for the given number of seconds each (default 600), two
# at a time, and prints a table of executions, corpus size and crashes per target.
#
#   scripts/fuzz.sh [seconds] [target…]
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz when it is
# missing. Corpora and crash artifacts stay in fuzz/corpus and fuzz/artifacts (ignored by git);
# logs in fuzz/logs. Environment: FUZZ_TARGET_DIR (default fuzz/target), FUZZ_PARALLEL (targets
# run at once, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true
parallel="${FUZZ_PARALLEL:-2}"
target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly --version >/dev/null

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== building ${#targets[@]} targets [${SECONDS}s]"
cargo +nightly fuzz build --target-dir "$target_dir"

mkdir -p fuzz/logs
# One process per target, no -jobs/-workers: in that mode libFuzzer writes every target's
# output to ./fuzz-0.log, so two targets run at once overwrite each other's figures.
run() {
  local t="$1"
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  # -rss_limit_mb: a decoder that allocates a lot on corrupt input is a finding, not noise.
  cargo +nightly fuzz run --target-dir "$target_dir" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"fuzz/logs/$t.log" 2>&1 || true
}

echo "== running each target for ${seconds}s, ${parallel} at a time [${SECONDS}s]"
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

echo "== results [${SECONDS}s]"
printf '| %-20s | %14s | %9s | %8s | %7s |\n' target executions "exec/s" corpus crashes
printf '|%s|%s|%s|%s|%s|\n' "----------------------" "----------------" "-----------" "----------" "---------"
status=0
for t in "${targets[@]}"; do
  log="fuzz/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  printf '| %-20s | %14s | %9s | %8s | %7s |\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    status=1
    find "fuzz/artifacts/$t" -type f -printf '    %p\n'
  fi
done
exit "$status"
