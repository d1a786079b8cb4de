# Cross-process invalidation delay of the tiered store (two processes, one Redis).
cargo test -q -p cache-e2e --test invalidation_tiered -- --nocapture
