//! The store conformance suite on real Redis: a standalone server and a 3-master cluster, and
//! tiered stacks over them (memory over Redis; memory over memory over Redis).

use std::sync::Arc;

use cache_core::store::{Capabilities, Capability, RedisStore, Store};
use cache_core::testing::{self, Limited, RedisCluster, RedisServer};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tiers_memory_memory_redis_pass_the_conformance_suite() {
    let server = RedisServer::start();
    let url = format!("tiers:mem://?max_entries=10000|mem://|{}", server.url());
    let store = store_from(&url).await;
    assert_eq!(store.stats().tiers.len(), 3);
    let ran = testing::conformance(store).await;
    assert!(ran.contains(&"tags") && ran.contains(&"expire"), "{ran:?}");
}

/// Redis with its tag index hidden: the cache's emulated tags pass the same checks on a real
/// remote store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_without_its_tag_index_passes_with_emulated_tags() {
    let server = RedisServer::start();
    let store: Arc<dyn Store> = Arc::new(RedisStore::connect(&server.url()).await.unwrap());
    let all: Capabilities = Capability::ALL.into_iter().collect();
    let limited = Limited::new(store, all.without(Capability::NativeTags));
    let ran = testing::conformance(Arc::new(limited)).await;
    assert!(ran.contains(&"tags_emulated"), "{ran:?}");
}
