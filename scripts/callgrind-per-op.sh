#!/usr/bin/env bash
# Instructions per operation of a program under callgrind: runs `PROGRAM ARGS... N` and
# `PROGRAM ARGS... 0`, and prints (Ir(N) - Ir(0)) / N, so that set-up is not counted.
# Instruction counts do not move with the load of a shared machine, as wall-clock time does.
#
#   scripts/callgrind-per-op.sh N PROGRAM ARGS...
set -euo pipefail
n=$1
shift
command -v valgrind >/dev/null || {
  echo "valgrind is not installed: run scripts/ensure-bench-tools.sh" >&2
  exit 1
}
ir() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1 || {
    echo "callgrind run failed: $*" >&2
    rm -f "$out"
    exit 1
  }
  # The totals line: "summary: <Ir>" (or "totals:").
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
  rm -f "$out"
}
with=$(ir "$@" "$n")
without=$(ir "$@" 0)
echo $(((with - without) / n))
