//! `redis-sentinel://` finds the primary through a real Sentinel.

use std::sync::Arc;

use cache_core::store::{RedisStore, Store};
use cache_core::testing::{self, RedisSentinel, RedisServer};
use cache_core::Cache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_url_reaches_the_primary_and_passes_the_conformance_suite() {
    let primary = RedisServer::start();
    let sentinel = RedisSentinel::start(&primary, "mymaster");
    let cache = Cache::from_url(&sentinel.url())
        .await
        .expect("connect through the Sentinel");
    cache.set("k", "via sentinel").await.unwrap();
    // The value is on the primary, not on the Sentinel.
    assert!(primary.cli(&["GET", "cache:v1:k"]).contains("via sentinel"));

    let store = RedisStore::connect(&sentinel.url()).await.unwrap();
    testing::conformance(Arc::new(store) as Arc<dyn Store>).await;

    let err = Cache::from_url(&format!(
        "redis-sentinel://127.0.0.1:{}?service_name=nosuch&connect_timeout_ms=500",
        sentinel.server().port()
    ))
    .await
    .unwrap_err();
    assert!(err.is_backend(), "{err:?}");
}
