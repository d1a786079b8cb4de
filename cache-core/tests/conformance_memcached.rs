//! The store conformance suite on real Memcached: one server, and three with keys spread over
//! them by consistent hashing; and a memory tier over Memcached.

use std::sync::Arc;

use cache_core::store::{MemcachedStore, Store};
use cache_core::testing::{self, MemcachedServer};

fn assert_ran_memcached_checks(ran: &[&str]) {
    for check in ["counters", "expire", "take", "tags_emulated", "batches"] {
        assert!(ran.contains(&check), "{check} did not run: {ran:?}");
    }
    assert!(!ran.contains(&"patterns"), "Memcached cannot scan: {ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_one_server_passes_the_conformance_suite() {
    let server = MemcachedServer::start();
    let store = MemcachedStore::connect(&server.url())
        .await
        .expect("connect");
    assert_eq!(store.servers(), [server.addr()]);
    let ran = testing::conformance(Arc::new(store) as Arc<dyn Store>).await;
    assert_ran_memcached_checks(&ran);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_three_servers_pass_the_conformance_suite_and_share_the_keys() {
    let servers = [
        MemcachedServer::start(),
        MemcachedServer::start(),
        MemcachedServer::start(),
    ];
    let store = Arc::new(
        MemcachedStore::connect(&MemcachedServer::url_of(&servers))
            .await
            .expect("connect"),
    );
    let ran = testing::conformance(Arc::clone(&store) as Arc<dyn Store>).await;
    assert_ran_memcached_checks(&ran);
    // Every server holds some of 300 keys, and each key is where the ring says.
    let mut per = [0; 3];
    for i in 0..300 {
        let key = format!("spread:{i}");
        let at = store.server_for(&key);
        per[servers.iter().position(|s| s.addr() == at).unwrap()] += 1;
    }
    assert!(per.iter().all(|&n| n > 50), "uneven spread: {per:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_over_memcached_passes_the_conformance_suite() {
    let server = MemcachedServer::start();
    let cache = cache_core::Cache::from_url(&format!("tiered+{}", server.url()))
        .await
        .expect("connect");
    assert_eq!(cache.store().name(), "tiered");
    let ran = testing::conformance(Arc::clone(cache.store())).await;
    assert!(ran.contains(&"counters"), "{ran:?}");
}

/// Memcached reads an expiry above 30 days as a Unix time: a 40-day TTL sent as seconds would
/// expire at once. The store sends it as a Unix time, so the value lives and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetimes_past_thirty_days_are_kept() {
    let server = MemcachedServer::start();
    let cache = cache_core::Cache::from_url(&server.url()).await.unwrap();
    let forty_days = std::time::Duration::from_secs(40 * 24 * 3600);
    cache.set_with("far", &1, forty_days).await.unwrap();
    assert_eq!(cache.get::<i32>("far").await.unwrap(), Some(1));
    let left = cache.ttl("far").await.unwrap().remaining().expect("a TTL");
    assert!(
        left > forty_days - std::time::Duration::from_secs(60) && left <= forty_days,
        "{left:?}"
    );
    // Memcached itself holds it too (a relative 40-day time would have expired it at once).
    let store = cache_core::store::MemcachedStore::connect(&server.url())
        .await
        .unwrap();
    assert!(store
        .get(&cache.full_key("far").unwrap())
        .await
        .unwrap()
        .is_some());
}

/// A version bump in one process reaches another process's cache on the same servers (read back
/// once a second): it stops serving the old namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_bump_reaches_other_processes() {
    let server = MemcachedServer::start();
    let open = || async {
        cache_core::Cache::builder()
            .url(server.url())
            .prefix("shared")
            .build()
            .await
            .unwrap()
    };
    let (a, b) = (open().await, open().await);
    a.set("k", &1).await.unwrap();
    assert_eq!(b.get::<i32>("k").await.unwrap(), Some(1));
    a.bump_version().await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.get::<i32>("k").await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other process still serves the old namespace"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A third process, started now, starts at the bumped version.
    assert_eq!(open().await.get::<i32>("k").await.unwrap(), None);
}
