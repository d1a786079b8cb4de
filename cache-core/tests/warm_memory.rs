//! Warming (`Cache::warm`, `Warmer`, `#[cached(warm = true)]`) on the memory store: the list
//! of `warm_common`.

#[path = "warm_common/mod.rs"]
mod warm_common;

use cache_core::Cache;

async fn make_cache(_: &()) -> Cache {
    Cache::memory()
}

warm_behaviour_tests!((), make_cache);
