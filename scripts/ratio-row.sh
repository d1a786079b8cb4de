#!/usr/bin/env bash
# Prints a benchmark's RESULT line (see scripts/bench.sh) for a lower-is-better ratio:
#
#   scripts/ratio-row.sh WHAT OURS BASELINE TARGET UNIT
#
# e.g. `scripts/ratio-row.sh "hit vs bare" 1100 1000 1.10 instr` prints
# "RESULT | hit vs bare | 1100 instr | 1000 instr | 1.10x | <= 1.10x | met".
set -euo pipefail
awk -v w="$1" -v o="$2" -v b="$3" -v t="$4" -v u="$5" 'BEGIN {
  r = o / b
  printf "RESULT | %s | %d %s | %d %s | %.2fx | <= %.2fx | %s\n", w, o, u, b, u, r, t, (r <= t ? "met" : "NOT met") }'
