//! The RFC scenarios of `ResponseCacheLayer` on the in-memory store, plus the failure and
//! sharing cases. Run with: cargo test -p cache-axum --test rfc_memory
//!
//! A Redis variant is this file with `memory` replaced by a function that starts a
//! `RedisServer` and returns `(server, Cache::from_url(&server.url()).await?)`.

mod scenarios;
mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::store::{
    BoxFuture, Capabilities, Capability, KeyTtl, MemoryStore, Store, WriteOptions,
};
use cache_core::{Cache, Error, Result, StoreStats};

use support::{Setup, Spec};

async fn memory() -> ((), Cache) {
    ((), Cache::memory())
}

all_scenarios!(memory);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_memory_store() {
    scenarios::two_instances_share_one_store(Arc::new(MemoryStore::new())).await;
}

/// A store whose backend is down: every operation fails, as an unreachable Redis does.
#[derive(Debug)]
struct DownStore;

fn down<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T>> {
    Box::pin(async { Err(Error::Backend("connection refused".into())) })
}

impl Store for DownStore {
    fn name(&self) -> &'static str {
        "down"
    }
    fn capabilities(&self) -> Capabilities {
        // All a Redis declares: every call reaches the dead backend.
        Capability::ALL.into_iter().collect()
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        down()
    }
    fn set<'a>(&'a self, _: &'a str, _: Bytes, _: &'a WriteOptions) -> BoxFuture<'a, Result<()>> {
        down()
    }
    fn add<'a>(&'a self, _: &'a str, _: Bytes, _: &'a WriteOptions) -> BoxFuture<'a, Result<bool>> {
        down()
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool>> {
        down()
    }
    fn take<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        down()
    }
    fn exists<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool>> {
        down()
    }
    fn scan<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        down()
    }
    fn delete_pattern<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<u64>> {
        down()
    }
    fn incr<'a>(&'a self, _: &'a str, _: i64) -> BoxFuture<'a, Result<i64>> {
        down()
    }
    fn expire<'a>(&'a self, _: &'a str, _: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        down()
    }
    fn ttl<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        down()
    }
    fn invalidate_tags<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        down()
    }
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        down()
    }
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_failure_never_fails_the_request() {
    let cache = Cache::builder().store(DownStore).build_now().unwrap();
    let t = Setup::new(cache.clone()).await;
    t.origin
        .get("/down", Spec::ok("still here").cc("max-age=60"));
    t.origin.set("POST", "/down", Spec::ok("posted"));
    for _ in 0..2 {
        let r = t.client.get("/down").await;
        assert_eq!(
            (r.status, r.x_cache(), r.text().as_str()),
            (200, "BYPASS", "still here")
        );
    }
    let r = t.client.send("POST", "/down", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "posted"));
    assert_eq!(t.origin.gets("/down"), 2);
    assert!(cache.stats().errors >= 3, "{:?}", cache.stats());
}

/// Serves `v{n}` from the origin and checks it is stored and then hit: a miss, then hits on
/// many connections at once, so every worker thread serves (and keeps its copy of) it.
async fn stored_and_hit_everywhere(t: &Setup, n: u32) {
    let body = format!("v{n}");
    t.origin.get(
        "/copy",
        Spec::ok(&body)
            .cc("max-age=600")
            .header("cache-tag", "copies"),
    );
    let first = t.client.get("/copy").await;
    assert_eq!((first.x_cache(), first.text()), ("MISS", body.clone()));
    let hits = t.cache.stats().hits;
    let all = futures_util::future::join_all((0..32).map(|_| t.client.get("/copy"))).await;
    for r in &all {
        assert_eq!((r.x_cache(), r.text()), ("HIT", body.clone()));
    }
    assert!(t.cache.stats().hits >= hits + 32, "{:?}", t.cache.stats());
}

/// Fresh hits on the memory store are served from each worker thread's own copy of the stored
/// response; every kind of change to what is stored must end those copies at once, on every
/// worker, so the next request misses and gets the origin's new response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_copies_of_hits_end_with_every_change_to_the_store() {
    let store = MemoryStore::new();
    let cache = Cache::builder().store(store.clone()).build_now().unwrap();
    let t = Setup::new(cache.clone()).await;
    t.origin.set("POST", "/copy", Spec::ok("posted"));

    stored_and_hit_everywhere(&t, 0).await;
    assert!(cache.delete("rc:/copy").await.unwrap(), "the layer's key");
    stored_and_hit_everywhere(&t, 1).await;
    cache.invalidate_tags(["copies"]).await.unwrap();
    stored_and_hit_everywhere(&t, 2).await;
    assert_eq!(t.client.send("POST", "/copy", &[]).await.text(), "posted");
    stored_and_hit_everywhere(&t, 3).await;
    cache.bump_version().await.unwrap();
    stored_and_hit_everywhere(&t, 4).await;
    cache.clear().await.unwrap();
    stored_and_hit_everywhere(&t, 5).await;
    store.clear("*").await.unwrap();
    stored_and_hit_everywhere(&t, 6).await;
    // Another layer on the same store replacing the response.
    let other = Setup::new(cache.clone()).await;
    other.origin.get(
        "/copy",
        Spec::ok("from the other instance").cc("max-age=600"),
    );
    let r = other
        .client
        .get_with("/copy", &[("cache-control", "no-cache")])
        .await;
    assert_eq!(r.text(), "from the other instance");
    // The other instance writes behind its response: once the write has landed, this
    // instance's copies must be over.
    let mut landed = false;
    for _ in 0..500 {
        let stored = cache
            .get_bytes("rc:/copy")
            .await
            .unwrap()
            .unwrap_or_default();
        landed = stored
            .windows(b"from the other instance".len())
            .any(|w| w == b"from the other instance");
        if landed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        landed,
        "the other instance's response was not stored within 5 s"
    );
    let r = t.client.get("/copy").await;
    assert_eq!(
        (r.x_cache(), r.text()),
        ("HIT", "from the other instance".into())
    );
}
