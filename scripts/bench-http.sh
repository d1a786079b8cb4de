#!/usr/bin/env bash
# HTTP load benchmark of cache-axum's ResponseCacheLayer on loopback, as ratios against a bare
# handler returning the same bytes, all measured in this one run.
#
#   ./scripts/bench-http.sh              # 11 rounds of 2 s per case
#   ROUNDS=15 SECS=3 CONNS=32 ./scripts/bench-http.sh
#
# Per round, back to back (order alternating between rounds): wrk on the bare server and on the
# cached one, for hits (GET /item, stored after the first request) and for misses (unique
# paths, each stored). Reported, with medians over rounds:
#   (every run with the server pinned to one CPU and wrk to another, so both variants see the
#   same placement and the server never competes with wrk for a core)
#   hit/bare    requests/s of cached hits / requests/s of the bare handler     (target >= 0.90)
#   miss c=1    median latency of a miss, one request at a time, vs bare       (target <= +5 %)
#               (the median, because stalls of a millisecond
#               or more that this kind of shared VM inflicts on either variant at random
#               dominate the mean, which is shown alongside)
#   floor c=1   the same for `bench_server floor`, the least a cache layer on moka can do on a
#               miss (look up, call the handler, collect the body, insert from a spawned task;
#               no HTTP semantics): a reference for how much of the miss figure any moka-backed
#               layer pays on this machine
#   miss c=N    bare_rps / miss_rps - 1: the added latency at N connections
#   cpu columns server CPU time per request (from /proc), vs bare: the same comparison, but
#               insensitive to other load on the machine
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-11}
SECS=${SECS:-2}
CONNS=${CONNS:-32}

./scripts/ensure-bench-tools.sh

cargo build -q --release -p cache-axum --example bench_server
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_server"

tmp=$(mktemp -d)
"$bin" bare >"$tmp/bare.out" &
bare_pid=$!
"$bin" cached >"$tmp/cached.out" &
cached_pid=$!
"$bin" floor >"$tmp/floor.out" &
floor_pid=$!
trap 'kill "$bare_pid" "$cached_pid" "$floor_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  grep -q '^addr=' "$tmp/bare.out" && grep -q '^addr=' "$tmp/cached.out" \
    && grep -q '^addr=' "$tmp/floor.out" && break
  sleep 0.1
done
bare=$(sed 's/^addr=//' "$tmp/bare.out")
cached=$(sed 's/^addr=//' "$tmp/cached.out")
floor=$(sed 's/^addr=//' "$tmp/floor.out")

# Unique paths per request (misses), and a machine-readable summary: req/s, mean latency (us),
# requests, non-2xx responses.
lua="$tmp/bench.lua"
cat >"$lua" <<'LUA'
local unique = os.getenv("UNIQUE") == "1"
local n, prefix = 0, tostring(math.random(1, 1e9))
request = function()
  if unique then
    n = n + 1
    return wrk.format("GET", "/miss/" .. prefix .. "/" .. n)
  end
  return wrk.format("GET", "/item")
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency.mean, summary.requests, summary.errors.status, latency:percentile(50)))
end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN {print 1e6 / hz}')

# Every run: the server on the last CPU, wrk on the first (when there are two or more), so
# the server under test never competes with the load generator for a core, and every variant
# sees the same placement (unpinned, the hit ratio moved from 0.85 to 0.93 between two runs of
# one commit on a 2-core VM).
pin=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  pin=$(( $(nproc) - 1 ))
  all=$(taskset -p "$bare_pid" | awk '{print $NF}')
fi

run() { # pid addr unique conns -> "rps mean_us cpu_us_per_request p50_us"
  local before after r client=()
  if [ -n "$pin" ]; then
    taskset -a -p -c "$pin" "$1" >/dev/null
    client=(taskset -c 0)
  fi
  before=$(cpu_ticks "$1")
  r=$(UNIQUE=$3 "${client[@]}" wrk -t1 -c"$4" -d"${SECS}s" -s "$lua" "http://$2" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}')
  after=$(cpu_ticks "$1")
  [ ${#client[@]} -eq 0 ] || taskset -a -p "$all" "$1" >/dev/null
  set -- $r "$before" "$after"
  [ "$4" = "0" ] || { echo "non-2xx responses during the run" >&2; exit 1; }
  awk -v rps="$1" -v lat="$2" -v n="$3" -v p50="$5" -v b="$6" -v a="$7" -v t="$tick_us" \
    'BEGIN {printf "%s %s %.2f %s\n", rps, lat, (a - b) * t / n, p50}'
}

# Fill both caches to their bound, so misses also evict, as they do in a long-running service.
UNIQUE=1 wrk -t1 -c"$CONNS" -d5s -s "$lua" "http://$cached" >/dev/null
UNIQUE=1 wrk -t1 -c"$CONNS" -d5s -s "$lua" "http://$floor" >/dev/null
# Warm up (and store /item in the cache).
wrk -t1 -c4 -d1s "http://$bare/item" >/dev/null
wrk -t1 -c4 -d1s "http://$cached/item" >/dev/null
hit=$(curl -s -o /dev/null -D - "http://$cached/item" 2>/dev/null | tr -d '\r' \
  | awk -F': ' 'tolower($1)=="x-cache" {print $2}' || true)

pct() { awk -v c="$1" 'BEGIN {printf "%+.1f%%", c * 100}'; }
printf '%-5s %9s %9s %8s %8s %8s %8s %8s %8s %9s %9s %9s %8s %8s\n' round bare_rps hit_rps hit/bare \
  bare_p50 miss_p50 miss_c1 c1_mean floor_c1 bare_urps miss_rps "miss_c$CONNS" cpu_hit cpu_miss
declare -a R C1 C1M CF CN CH CM BR HR BL ML FL
for i in $(seq "$ROUNDS"); do
  cases=("B0 $bare_pid $bare 0 $CONNS" "H0 $cached_pid $cached 0 $CONNS"
         "B1 $bare_pid $bare 1 1" "M1 $cached_pid $cached 1 1" "F1 $floor_pid $floor 1 1"
         "BU $bare_pid $bare 1 $CONNS" "MU $cached_pid $cached 1 $CONNS")
  [ $((i % 2)) -eq 0 ] && cases=("${cases[1]}" "${cases[0]}" "${cases[4]}" "${cases[3]}" "${cases[2]}" "${cases[6]}" "${cases[5]}")
  declare -A res=()
  for c in "${cases[@]}"; do
    set -- $c
    res[$1]=$(run "$2" "$3" "$4" "$5")
  done
  read -r b_rps _ b_cpu <<<"${res[B0]}"; read -r h_rps _ h_cpu <<<"${res[H0]}"
  read -r _ b_mean _ b_lat <<<"${res[B1]}"; read -r _ m_mean _ m_lat <<<"${res[M1]}"
  read -r _ _ _ f_lat <<<"${res[F1]}"
  read -r bu_rps _ bu_cpu <<<"${res[BU]}"; read -r m_rps _ m_cpu <<<"${res[MU]}"
  r=$(awk -v h="$h_rps" -v b="$b_rps" 'BEGIN {printf "%.3f", h / b}')
  c1=$(awk -v m="$m_lat" -v b="$b_lat" 'BEGIN {printf "%.4f", m / b - 1}')
  cf=$(awk -v m="$f_lat" -v b="$b_lat" 'BEGIN {printf "%.4f", m / b - 1}')
  c1m=$(awk -v m="$m_mean" -v b="$b_mean" 'BEGIN {printf "%.4f", m / b - 1}')
  cn=$(awk -v m="$m_rps" -v b="$bu_rps" 'BEGIN {printf "%.4f", b / m - 1}')
  ch=$(awk -v h="$h_cpu" -v b="$b_cpu" 'BEGIN {printf "%.3f", h / b}')
  cm=$(awk -v m="$m_cpu" -v b="$bu_cpu" 'BEGIN {printf "%.3f", m / b}')
  R+=("$r"); C1+=("$c1"); C1M+=("$c1m"); CF+=("$cf"); CN+=("$cn"); CH+=("$ch"); CM+=("$cm")
  BR+=("$b_rps"); HR+=("$h_rps"); BL+=("$b_lat"); ML+=("$m_lat"); FL+=("$f_lat")
  printf '%-5s %9s %9s %8s %8s %8s %8s %8s %8s %9s %9s %9s %8s %8s\n' "$i" "$b_rps" "$h_rps" "$r" \
    "$b_lat" "$m_lat" "$(pct "$c1")" "$(pct "$c1m")" "$(pct "$cf")" "$bu_rps" "$m_rps" "$(pct "$cn")" "$ch" "$cm"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "x-cache on /item after warm-up: ${hit:-unknown (curl missing)}; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'median hit/bare requests/s:                 %s   (target >= 0.90)\n' "$(median "${R[@]}")"
printf 'median added latency of a miss, c=1:        %s   (target <= +5%%; of the means: %s)\n' \
  "$(pct "$(median "${C1[@]}")")" "$(pct "$(median "${C1M[@]}")")"
printf 'median added latency of a miss, floor c=1:  %s   (minimal moka layer, for reference)\n' \
  "$(pct "$(median "${CF[@]}")")"
printf 'median added latency of a miss, c=%-3s       %s\n' "$CONNS:" "$(pct "$(median "${CN[@]}")")"
printf 'median server CPU per request, hit/bare:    %s\n' "$(median "${CH[@]}")"
printf 'median server CPU per request, miss/bare:   %s\n' "$(median "${CM[@]}")"

# Summary lines collected by scripts/bench.sh: medians of the per-round ratios above, with the
# medians of the raw figures for context.
r_med=$(median "${R[@]}")
c1_med=$(median "${C1[@]}")
awk -v o="$(median "${HR[@]}")" -v b="$(median "${BR[@]}")" -v r="$r_med" 'BEGIN {
  printf "RESULT | http cached hit req/s vs bare handler | %.0f req/s | %.0f req/s | %.3fx | >= 0.90x | %s\n",
    o, b, r, (r >= 0.90 ? "met" : "NOT met") }'
awk -v o="$(median "${ML[@]}")" -v b="$(median "${BL[@]}")" -v c="$c1_med" 'BEGIN {
  printf "RESULT | http miss added latency vs no layer (1 connection, median) | %.1f us | %.1f us | %.3fx | <= 1.05x | %s\n",
    o, b, 1 + c, (1 + c <= 1.05 ? "met" : "NOT met") }'
awk -v o="$(median "${FL[@]}")" -v b="$(median "${BL[@]}")" -v c="$(median "${CF[@]}")" 'BEGIN {
  printf "RESULT | http miss added latency of a minimal moka cache layer (reference floor, 1 connection, median) | %.1f us | %.1f us | %.3fx | reported | -\n",
    o, b, 1 + c }'
