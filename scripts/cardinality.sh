#!/usr/bin/env bash
# The demo under a cardinality attack: REQUESTS (default 100000) GETs of a cached route, each
# with a query string never seen before, so every one is a miss stored under a new key. Samples
# the demo's resident memory and prints it against the memory store's bound (max_bytes).
#
#   scripts/cardinality.sh                      # debug build of the demo, default mem:// bound
#   PROFILE=release scripts/cardinality.sh
#   CACHE_URL='mem://?max_bytes=1073741824' scripts/cardinality.sh   # unbounded: cost per entry
#
# Prints: baseline VmRSS (after start), peak VmHWM, the final RssAnon, the store's counted
# bytes and entries (/cache/stats), and the ratios peak / max_bytes and
# (RSS growth) / (counted bytes), the second being what an entry really costs per counted byte.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-100000}
CONNECTIONS=${CONNECTIONS:-16}
PROFILE=${PROFILE:-debug}
ROUTE=${ROUTE:-/users/1}
MAX_BYTES=$((64 * 1024 * 1024))
if [[ ${CACHE_URL:-} =~ max_bytes=([0-9]+) ]]; then MAX_BYTES=${BASH_REMATCH[1]}; fi

"$(dirname "$0")/ensure-bench-tools.sh" >/dev/null
if [[ -n ${DEMO_BIN:-} ]]; then
  bin=$DEMO_BIN
else
  flag=(); [[ $PROFILE == release ]] && flag=(--release)
  cargo build -q "${flag[@]}" -p cache-examples --bin demo
  bin="${CARGO_TARGET_DIR:-target}/$PROFILE/demo"
fi

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
BIND=127.0.0.1:0 SLOW_MS=1 RUST_LOG=warn "$bin" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 300); do grep -q '^listening on ' "$work/out" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^listening on //p' "$work/out")
[[ -n $base ]] || { echo "the demo did not start: $(cat "$work/err")" >&2; exit 1; }
curl -sf "$base$ROUTE" >/dev/null
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
baseline=$(kib VmRSS)

cat >"$work/random.lua" <<LUA
local threads, n, limit = {}, 0, 0
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  limit = math.ceil($REQUESTS / $CONNECTIONS)
  math.randomseed(id * 7919 + os.time())
end
function request()
  n = n + 1
  return wrk.format("GET", "$ROUTE?q=" .. id .. "-" .. n .. "-" .. math.random(1, 2147483647))
end
function response(status)
  if n >= limit then wrk.thread:stop() end
end
LUA
# One wrk thread per connection, so each stops after its share of the requests.
start=$(date +%s.%N)
wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d600s -s "$work/random.lua" "$base" >"$work/wrk" &
wrk_pid=$!
peak_sampled=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  r=$(kib VmRSS); ((r > peak_sampled)) && peak_sampled=$r
  sleep 0.2
done
wait "$wrk_pid"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
stats=$(curl -sf "$base/cache/stats")
hwm=$(kib VmHWM); anon=$(kib RssAnon); rss=$(kib VmRSS)
python3 - "$stats" <<PY
import json, sys
s = json.loads(sys.argv[1])["cache"]
mb = lambda kib: kib / 1024
max_bytes = $MAX_BYTES
hwm, base, anon, rss = $hwm, $baseline, $anon, $rss
grown = (rss - base) * 1024
print(f"requests {$REQUESTS} in {float('$elapsed'):.1f} s; entries {s['entries']}, counted bytes {s['bytes'] / 2**20:.1f} MiB, evictions {s['evictions']}")
print(f"VmRSS baseline {mb(base):.1f} MiB, end {mb(rss):.1f} MiB (RssAnon {mb(anon):.1f}), peak VmHWM {mb(hwm):.1f} MiB; max_bytes {max_bytes / 2**20:.1f} MiB")
print(f"peak / max_bytes = {hwm * 1024 / max_bytes:.3f}; RSS growth / counted bytes = {grown / max(s['bytes'], 1):.3f}; RSS growth per entry = {grown / max(s['entries'], 1):.0f} B, counted per entry = {s['bytes'] / max(s['entries'], 1):.0f} B")
PY
grep -E 'Requests/sec|Non-2xx|errors' "$work/wrk" || true
