# Cache::get hits on Memcached vs the raw async-memcached client's get, 50 tasks over the same
# number of connections, on one memcached started by the benchmark.
"$(dirname "$0")/../ensure-memcached.sh"
cargo bench -q -p cache-core --features memcached --bench memcached_get
