//! `#[cached]` and `#[cache_invalidate]` behaviours on a real Redis (one server per test), and
//! on the tiered store in front of it: the same list as `macros_memory.rs`.

#[path = "macros_common/mod.rs"]
mod macros_common;

mod redis {
    use cache_core::testing::RedisServer;
    use cache_core::Cache;

    use super::macros_common;
    use crate::macro_behaviour_tests;

    async fn make_cache(server: &RedisServer) -> Cache {
        Cache::builder()
            .url(server.url())
            .prefix("macros")
            .build()
            .await
            .expect("connecting to the test redis-server")
    }

    macro_behaviour_tests!(guard: RedisServer::start(), cache: make_cache);
}

mod tiered {
    use cache_core::testing::RedisServer;
    use cache_core::Cache;

    use super::macros_common;
    use crate::macro_behaviour_tests;

    async fn make_cache(server: &RedisServer) -> Cache {
        Cache::builder()
            .url(format!("tiered+{}", server.url()))
            .prefix("macros")
            .build()
            .await
            .expect("connecting to the test redis-server")
    }

    macro_behaviour_tests!(guard: RedisServer::start(), cache: make_cache);
}
