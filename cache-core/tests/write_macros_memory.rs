//! `#[cache_invalidate(recache = ..)]`, `#[cache_put]` and resources on the in-memory store;
//! the behaviours live in `write_macros_common`, shared with `write_macros_redis.rs`.

#[path = "write_macros_common/mod.rs"]
mod write_macros_common;

fn make_cache() -> cache_core::Cache {
    cache_core::Cache::memory()
}

write_macro_tests!(make_cache());
