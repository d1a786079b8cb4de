# Cache::get hits on Redis vs redis-benchmark (-c 50, and -P 16 as the ceiling), and tiered vs
# Redis-only hits, all on one redis-server started by the benchmark.
cargo bench -q -p cache-core --bench redis_get
