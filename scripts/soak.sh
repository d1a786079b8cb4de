#!/usr/bin/env bash
# Soak under faults: the demo service under wrk load on a cache server of its own, while the
# server is killed (SIGKILL), restarted, paused (SIGSTOP) and resumed (SIGCONT).
#
#   ./scripts/soak.sh                          # redis tiered+redis memcached tiered+memcached postgres
#   ./scripts/soak.sh redis tiered+redis       # some of them
#   ./scripts/soak.sh self-test                # only the check of the instrument (always run first)
#   SECS=60 TIMEOUT_MS=250 ./scripts/soak.sh   # longer runs, another store timeout
#
# Per configuration (scripts/soak.d/soak.py; about 50 s each): a redis-server (no persistence),
# memcached or PostgreSQL (initdb in a temporary directory) on a free loopback port — never the
# services on the standard ports — and the demo (debug build, `CACHE_URL=<url>?timeout_ms=500`,
# `SLOW_MS=20`) on it. For SECS s (default 40), wrk (-t4 -c4, one connection per thread so each
# response is checked against its own path) reads the response-cache routes (/users/N,
# /users/N/posts, /users) and the `#[cached]` function alone (/fn/users/N) and checks every
# body; a prober reads one request at a time every 20 ms and times each; a writer renames
# user 4 (PUT /users/4) before, during and after the kill and the pause, and every read that
# starts after a rename was answered must show it. Faults: SIGKILL at 6 s, restart (same port,
# same data directory) at 12 s, SIGSTOP at 20 s, SIGCONT at 26 s.
#
# First, `self-test` checks the instrument on the demo's in-memory cache, without faults: wrk
# must count a 404 path as non-2xx and a path with an altered expected body as wrong (about once
# per cycle of paths each, nothing else, with user 4 renamed), and the prober's check must pass
# the latest name and flag an older one.
#
# One row per configuration: requests; non-2xx (and failed requests); wrong bodies (including
# stale names after a rename, and a check of every route after the run); the slowest read (ms,
# wrk and prober) against the bound TIMEOUT_MS + 100; the slowest rename (not bounded); the
# seconds from the restart and from SIGCONT until hits resume (a prober `x-cache: HIT` on
# /users/1 and a rise of find_user's hit counter in /cache/stats; bound 2 s). Exits 1 when a
# bound fails, 2 when a run could not be made. Everything it starts is stopped by PID, its files
# live in one temporary directory, removed at exit (KEEP=1 keeps it, with the servers' and the
# demo's logs).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-40}
TIMEOUT_MS=${TIMEOUT_MS:-500}
SLOW_MS=${SLOW_MS:-20}
all=(redis tiered+redis memcached tiered+memcached postgres)
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=("${all[@]}")
for c in "${configs[@]}"; do
  case " ${all[*]} self-test " in *" $c "*) ;; *) echo "unknown configuration $c (expected: ${all[*]} self-test)" >&2; exit 2 ;; esac
done
# The instrument is checked first, every time (a few seconds).
case " ${configs[*]} " in *" self-test "*) ;; *) configs=(self-test "${configs[@]}") ;; esac

./scripts/ensure-bench-tools.sh
./scripts/ensure-redis.sh
./scripts/ensure-memcached.sh
./scripts/ensure-sql.sh
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 2; }

cargo build -q -p cache-examples --bin demo
demo="${CARGO_TARGET_DIR:-target}/debug/demo"

tmp=$(mktemp -d)
# PostgreSQL runs as an unprivileged user when this runs as root: it must reach its directory.
chmod 755 "$tmp"
child=""
cleanup() {
  if [ -n "$child" ]; then
    kill "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
: >"$tmp/rows.jsonl"
for c in "${configs[@]}"; do
  dir="$tmp/${c/+/-}"
  python3 scripts/soak.d/soak.py "$c" --demo "$demo" --dir "$dir" --secs "$SECS" \
    --timeout-ms "$TIMEOUT_MS" --slow-ms "$SLOW_MS" >"$tmp/$c.out" 2>&1 &
  child=$!
  rc=0
  wait "$child" || rc=$?
  child=""
  grep -v '^ROW ' "$tmp/$c.out" || true
  grep '^ROW ' "$tmp/$c.out" | sed 's/^ROW //' >>"$tmp/rows.jsonl" || true
  [ "$rc" -le "$status" ] || status=$rc
done

echo
python3 - "$tmp/rows.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])] if open(sys.argv[1]).read().strip() else []
fmt = "{:<17} {:>9} {:>7} {:>6} {:>8} {:>6} {:>8} {:>12} {:>10}  {}"
print(fmt.format("config", "requests", "non2xx", "wrong", "max_ms", "bound", "put_max",
                 "rec_restart", "rec_pause", "verdict"))
s = lambda v: "-" if v is None else f"{v:.2f}"
for r in rows:
    if "requests" not in r:
        print(fmt.format(r["config"], *["-"] * 8, r["verdict"]))
        continue
    print(fmt.format(r["config"], r["requests"], r["non2xx"], r["wrong"], r["max_ms"],
                     r["bound_ms"], r["put_max_ms"], s(r["rec_restart"]), s(r["rec_pause"]),
                     r["verdict"]))
PY
exit "$status"
