#!/usr/bin/env bash
# HTTP load benchmark of cache-axum's ResponseCacheLayer on loopback, as ratios against a bare
# handler returning the same bytes, all measured in this one run.
#
#   ./scripts/bench-http.sh            # 5 rounds of 3 s per case
#   ROUNDS=5 SECS=10 ./scripts/bench-http.sh
#
# hit ratio:  requests/s of cached hits  / requests/s of the bare handler   (target >= 0.90)
# miss cost:  mean latency of a stored miss / mean latency of the bare handler - 1 (target <= 5 %)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3}
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

# Each round measures every case back to back, alternating the order to cancel drift; the
# machine is shared, so the medians over rounds are what count.
printf '%-6s %11s %11s %9s %11s %11s %10s %10s %10s %9s\n' \
  round bare_rps hit_rps hit/bare bare_u_rps miss_rps miss_cost bare_c1_us miss_c1_us c1_cost
ratios=(); costs=(); c1costs=()
for i in $(seq "$ROUNDS"); do
  if [ $((i % 2)) -eq 1 ]; then
    read -r b_rps _ < <(run "$bare" 0 "$CONNS"); read -r h_rps _ < <(run "$cached" 0 "$CONNS")
    read -r bu_rps _ < <(run "$bare" 1 "$CONNS"); read -r m_rps _ < <(run "$cached" 1 "$CONNS")
    read -r _ b_lat < <(run "$bare" 1 1); read -r _ m_lat < <(run "$cached" 1 1)
  else
    read -r h_rps _ < <(run "$cached" 0 "$CONNS"); read -r b_rps _ < <(run "$bare" 0 "$CONNS")
    read -r m_rps _ < <(run "$cached" 1 "$CONNS"); read -r bu_rps _ < <(run "$bare" 1 "$CONNS")
    read -r _ m_lat < <(run "$cached" 1 1); read -r _ b_lat < <(run "$bare" 1 1)
  fi
  ratio=$(awk -v h="$h_rps" -v b="$b_rps" 'BEGIN {printf "%.3f", h / b}')
  # At equal concurrency mean latency is connections / throughput, so the added latency of a
  # miss is bare_rps / miss_rps - 1; the c1 columns measure it directly, one request at a time.
  cost=$(awk -v m="$m_rps" -v b="$bu_rps" 'BEGIN {printf "%.4f", b / m - 1}')
  c1=$(awk -v m="$m_lat" -v b="$b_lat" 'BEGIN {printf "%.4f", m / b - 1}')
  ratios+=("$ratio"); costs+=("$cost"); c1costs+=("$c1")
  pct() { awk -v c="$1" 'BEGIN {printf "%+.1f%%", c * 100}'; }
  printf '%-6s %11s %11s %9s %11s %11s %10s %10s %10s %9s\n' \
    "$i" "$b_rps" "$h_rps" "$ratio" "$bu_rps" "$m_rps" "$(pct "$cost")" "$b_lat" "$m_lat" "$(pct "$c1")"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "x-cache on /item after warm-up: ${hit:-unknown (curl missing)}"
printf 'median hit/bare requests/s:              %s (target >= 0.90)\n' "$(median "${ratios[@]}")"
printf 'median added latency of a miss (c=%s):   %s (target <= +5%%)\n' "$CONNS" "$(awk -v c="$(median "${costs[@]}")" 'BEGIN {printf "%+.1f%%", c * 100}')"
printf 'median added latency of a miss (c=1):    %s\n' "$(awk -v c="$(median "${c1costs[@]}")" 'BEGIN {printf "%+.1f%%", c * 100}')"
