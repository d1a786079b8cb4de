#!/usr/bin/env bash
# HTTP load benchmark of cache-axum's ResponseCacheLayer on loopback, as ratios against a bare
# handler returning the same bytes, all measured in this one run.
#
#   ./scripts/bench-http.sh            # 3 rounds of 5 s per case
#   ROUNDS=5 SECS=10 ./scripts/bench-http.sh
#
# hit ratio:  requests/s of cached hits  / requests/s of the bare handler   (target >= 0.90)
# miss cost:  mean latency of a stored miss / mean latency of the bare handler - 1 (target <= 5 %)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-32}

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk not found: installing it (Debian package)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi

cargo build -q --release -p cache-axum --example bench_server
bin="${CARGO_TARGET_DIR:-target}/release/examples/bench_server"

out=$(mktemp)
lua=$(mktemp --suffix=.lua)
"$bin" >"$out" &
server=$!
trap 'kill "$server" 2>/dev/null; rm -f "$out" "$lua"' EXIT
for _ in $(seq 100); do grep -q '^bare=' "$out" && break; sleep 0.1; done
read -r bare cached < <(sed -E 's/bare=([^ ]+) cached=([^ ]+)/\1 \2/' "$out")

# Unique paths per request (misses), and a machine-readable summary: req/s and mean latency (us).
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
  io.write(string.format("RESULT %.1f %.2f %d\n",
    summary.requests / (summary.duration / 1e6), latency.mean, summary.errors.status))
end
LUA

run() { # addr unique conns -> "rps mean_us"
  local r
  r=$(UNIQUE=$2 wrk -t1 -c"$3" -d"${SECS}s" -s "$lua" "http://$1" | awk '/^RESULT/ {print $2, $3, $4}')
  set -- $r
  [ "$3" = "0" ] || { echo "non-2xx responses during the run" >&2; exit 1; }
  echo "$1 $2"
}

# Warm up (and store /item in the cache).
wrk -t1 -c4 -d1s "http://$bare/item" >/dev/null
wrk -t1 -c4 -d1s "http://$cached/item" >/dev/null
hit=$(curl -s -o /dev/null -D - "http://$cached/item" 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache" {print $2}' || true)

printf '%-7s %14s %14s %9s %16s %16s %9s\n' round bare_rps hit_rps hit/bare bare_lat_us miss_lat_us miss_cost
ratios=(); costs=()
for i in $(seq "$ROUNDS"); do
  read -r b_rps _ < <(run "$bare" 0 "$CONNS")
  read -r h_rps _ < <(run "$cached" 0 "$CONNS")
  read -r _ b_lat < <(run "$bare" 1 1)
  read -r _ m_lat < <(run "$cached" 1 1)
  ratio=$(awk -v h="$h_rps" -v b="$b_rps" 'BEGIN {printf "%.3f", h / b}')
  cost=$(awk -v m="$m_lat" -v b="$b_lat" 'BEGIN {printf "%+.1f%%", (m / b - 1) * 100}')
  ratios+=("$ratio"); costs+=("$(awk -v m="$m_lat" -v b="$b_lat" 'BEGIN {printf "%.4f", m / b - 1}')")
  printf '%-7s %14s %14s %9s %16s %16s %9s\n' "$i" "$b_rps" "$h_rps" "$ratio" "$b_lat" "$m_lat" "$cost"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mr=$(median "${ratios[@]}"); mc=$(median "${costs[@]}")
echo
echo "x-cache on /item after warm-up: ${hit:-unknown (curl missing)}"
printf 'median hit/bare requests/s: %s (target >= 0.90)\n' "$mr"
printf 'median added latency of a miss: %s (target <= +5%%)\n' "$(awk -v c="$mc" 'BEGIN {printf "%+.1f%%", c * 100}')"
