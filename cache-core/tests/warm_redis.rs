//! Warming on a real Redis (one server per test), and on the tiered store in front of it: the
//! list of `warm_common`.

#[path = "warm_common/mod.rs"]
mod warm_common;

mod redis {
    use cache_core::testing::RedisServer;
    use cache_core::Cache;

    use super::warm_common;
    use crate::warm_behaviour_tests;

    async fn make_cache(server: &RedisServer) -> Cache {
        Cache::builder()
            .url(server.url())
            .prefix("warm")
            .build()
            .await
            .expect("connecting to the test redis-server")
    }

    warm_behaviour_tests!(RedisServer::start(), make_cache);
}

mod tiered {
    use cache_core::testing::RedisServer;
    use cache_core::Cache;

    use super::warm_common;
    use crate::warm_behaviour_tests;

    async fn make_cache(server: &RedisServer) -> Cache {
        Cache::builder()
            .url(format!("tiered+{}", server.url()))
            .prefix("warm")
            .build()
            .await
            .expect("connecting to the test redis-server")
    }

    warm_behaviour_tests!(RedisServer::start(), make_cache);
}
