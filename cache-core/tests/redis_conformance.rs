//! The store conformance suite on real Redis: a standalone server and a 3-master cluster.

use std::sync::Arc;

use cache_core::store::{RedisStore, Store};
use cache_core::testing::{self, RedisCluster, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_standalone_passes_the_conformance_suite() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&server.url()).await.expect("connect");
    assert!(!store.is_cluster());
    testing::conformance(Arc::new(store) as Arc<dyn Store>).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_passes_the_conformance_suite() {
    let cluster = RedisCluster::start(3);
    let store = RedisStore::connect(&cluster.url()).await.expect("connect");
    assert!(store.is_cluster());
    testing::conformance(Arc::new(store) as Arc<dyn Store>).await;
}

async fn store_from(url: &str) -> Arc<dyn Store> {
    let cache = cache_core::Cache::from_url(url).await.expect("connect");
    assert_eq!(cache.store().name(), "tiered");
    Arc::clone(cache.store())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_redis_standalone_passes_the_conformance_suite() {
    let server = RedisServer::start();
    testing::conformance(store_from(&format!("tiered+{}", server.url())).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_redis_cluster_passes_the_conformance_suite() {
    let cluster = RedisCluster::start(3);
    testing::conformance(store_from(&format!("tiered+{}", cluster.url())).await).await;
}
