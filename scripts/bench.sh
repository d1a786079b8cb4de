#!/usr/bin/env bash
# Runs every benchmark of the project and prints one table: name, ours, baseline, ratio,
# target, met or not. Every baseline is measured in the same run as what it is compared with.
#
#   ./scripts/bench.sh                 # run all, print the table
#   ./scripts/bench.sh --update-readme # also write the table into README.md
#
# Each benchmark prints lines of the form
#   RESULT | name | ours | baseline | ratio | target | met
# which this script collects.
set -euo pipefail
cd "$(dirname "$0")/.."
update_readme=0
[ "${1:-}" = "--update-readme" ] && update_readme=1

"$(dirname "$0")/ensure-redis.sh"
"$(dirname "$0")/ensure-bench-tools.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() {
  echo "== $*" >&2
  # Benchmarks print their RESULT lines on stdout; keep the rest for the log.
  "$@" 2>&1 | tee -a "${BENCH_LOG:-/dev/null}" | grep '^RESULT' >>"$out" || {
    echo "benchmark failed: $*" >&2
    return 1
  }
}

for bench in ${BENCHES:-$(ls scripts/bench.d/*.sh)}; do
  run bash "$bench"
done

table=$(
  echo "| Benchmark | Ours | Baseline | Ratio | Target | Met |"
  echo "| --- | --- | --- | --- | --- | --- |"
  sed -e 's/^RESULT *| *//' -e 's/ *| */ | /g' -e 's/^/| /' -e 's/$/ |/' "$out"
)
stamp="Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -m) $(uname -s), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//') by \`./scripts/bench.sh --update-readme\`."
printf '%s\n\n%s\n' "$table" "$stamp"

if [ "$update_readme" = 1 ]; then
  python3 - "$table" "$stamp" <<'PY'
import sys, re
table, stamp = sys.argv[1], sys.argv[2]
p = "README.md"
s = open(p).read()
block = "<!-- bench:start -->\n" + table + "\n\n" + stamp + "\n<!-- bench:end -->"
s2, n = re.subn(r"<!-- bench:start -->.*?<!-- bench:end -->", lambda m: block, s, flags=re.S)
if n != 1:
    sys.exit("README.md has no <!-- bench:start --> ... <!-- bench:end --> block")
open(p, "w").write(s2)
print("README.md updated", file=sys.stderr)
PY
fi
