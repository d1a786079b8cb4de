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
use cache_core::store::{BoxFuture, KeyTtl, MemoryStore, Store, WriteOptions};
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
    fn invalidate_tags<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Result<u64>> {
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
