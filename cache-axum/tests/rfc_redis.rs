//! The RFC scenarios of `ResponseCacheLayer` on Redis (one real `redis-server` per test), and
//! two app instances sharing one Redis. Run with: cargo test -p cache-axum --test rfc_redis

mod scenarios;
mod support;

use std::sync::Arc;

use cache_core::store::{RedisStore, Store};
use cache_core::testing::RedisServer;
use cache_core::Cache;

/// A fresh Redis for one test (stopped when the guard drops) and a cache on it.
async fn redis() -> (RedisServer, Cache) {
    let server = RedisServer::start();
    let cache = Cache::from_url(&server.url())
        .await
        .expect("connect to the test redis-server");
    (server, cache)
}

all_scenarios!(redis);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_redis() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url())
        .await
        .expect("connect to the test redis-server");
    scenarios::two_instances_share_one_store(Arc::new(store) as Arc<dyn Store>).await;
}
