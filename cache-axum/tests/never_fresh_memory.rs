//! Never-fresh responses on the in-memory store: no store write for what can never be served
//! without running the handler (the `Cache`'s own count of values set counts the writes).
//! Run with: cargo test -p cache-axum --test never_fresh_memory

mod never_fresh;
mod support;

use cache_core::Cache;

use never_fresh::Writes;

async fn memory() -> ((), Cache, Writes) {
    let cache = Cache::memory();
    let counted = cache.clone();
    ((), cache, Box::new(move || counted.stats().sets))
}

never_fresh_scenarios!(memory);
