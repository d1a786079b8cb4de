# HTTP load (wrk on loopback): cached-hit requests/s vs a bare handler returning the same bytes,
# and the added latency of a miss vs no layer.
./scripts/bench-http.sh
