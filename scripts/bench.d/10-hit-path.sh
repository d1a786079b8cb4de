# Typed Cache::get hit on the memory store vs raw moka get + clone (criterion).
cargo bench -q -p cache-core --bench hit_path -- --warm-up-time 1 --measurement-time 5
