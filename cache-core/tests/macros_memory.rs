//! `#[cached]` and `#[cache_invalidate]` behaviours on the in-memory store.
//!
//! Each test gets a fresh cache; the behaviours themselves live in `macros_common` so that
//! every store runs the same list.

#[path = "macros_common/mod.rs"]
mod macros_common;

fn make_cache() -> cache_core::Cache {
    cache_core::Cache::memory()
}

macro_behaviour_tests!(make_cache());
