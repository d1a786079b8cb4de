//! Write-behind on a tiered store over real Redis (`tiered+redis://…?write_behind=…`): writes
//! land in memory at once and reach Redis in batches; another instance sees them once flushed;
//! pending writes show in the stats, are seen by `exists`/`ttl`/`incr`, cancelled by deletes,
//! kept through a Redis outage, written by `Cache::flush` and on drop; and the conformance
//! suite passes with write-behind on.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::store::{KeyTtl, Store, TierStats, WriteOptions};
use cache_core::testing::{self, RedisServer};
use cache_core::{Cache, SetOptions};

/// A guard against hangs only, not a speed assertion.
const WITHIN: Duration = Duration::from_secs(10);

/// The shared (Redis) tier's row of the stats.
fn shared(cache: &Cache) -> TierStats {
    let stats = cache.store().stats();
    stats.tiers.last().expect("a tiered store").clone()
}

/// Polls `check` until it holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write-behind cache that flushes only when asked (or when a batch fills).
async fn deferred(server: &RedisServer, prefix: &str, options: &str) -> Cache {
    server
        .cache(prefix, "tiered+", &format!("write_behind=1h&{options}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_land_in_memory_at_once_and_reach_redis_in_one_batch() {
    let server = RedisServer::start();
    let a = deferred(&server, "wb", "").await;
    let plain = server.cache("wb", "", "").await;
    let b = server.cache("wb", "tiered+", "").await;

    // Another instance holds an old value in its memory tier.
    a.set("k0", "old").await.unwrap();
    a.flush().await.unwrap();
    // (A read that overlaps the flush's message does not promote: read until one does.)
    eventually(
        "the other instance holds the old value in memory",
        async || {
            b.reset_stats();
            b.get::<String>("k0").await.unwrap().as_deref() == Some("old")
                && b.store().stats().tiers[0].hits == 1
        },
    )
    .await;
    a.store().reset_stats();

    a.set("k0", "new").await.unwrap();
    for i in 1..100 {
        a.set(&format!("k{i}"), &format!("v{i}")).await.unwrap();
    }
    // Readable here at once, from memory; not yet in Redis.
    assert_eq!(a.get::<String>("k0").await.unwrap().as_deref(), Some("new"));
    assert_eq!(
        a.get::<String>("k99").await.unwrap().as_deref(),
        Some("v99")
    );
    assert_eq!(
        plain.get::<String>("k0").await.unwrap().as_deref(),
        Some("old")
    );
    assert_eq!(plain.get::<String>("k99").await.unwrap(), None);
    let row = shared(&a);
    assert_eq!(
        (row.write_behind_pending, row.write_behind_flushed),
        (100, 0)
    );
    assert_eq!(row.hits, 0, "nothing read from Redis");
    assert_eq!(b.get::<String>("k0").await.unwrap().as_deref(), Some("old"));

    a.flush().await.unwrap();
    let row = shared(&a);
    assert_eq!(row.write_behind_pending, 0);
    assert_eq!(row.write_behind_flushed, 100);
    assert_eq!(row.write_behind_batches, 1, "100 writes, one set_many");
    assert_eq!(
        plain.get::<String>("k0").await.unwrap().as_deref(),
        Some("new")
    );
    assert_eq!(
        plain.get::<String>("k99").await.unwrap().as_deref(),
        Some("v99")
    );

    // The flush told the other instance, which drops its old copy.
    eventually("the other instance reads the new value", async || {
        b.get::<String>("k0").await.unwrap().as_deref() == Some("new")
    })
    .await;
    assert_eq!(
        b.get::<String>("k50").await.unwrap().as_deref(),
        Some("v50")
    );

    // Dropped after a flush: nothing lost.
    a.set("last", "x").await.unwrap();
    a.flush().await.unwrap();
    drop(a);
    assert_eq!(
        plain.get::<String>("last").await.unwrap().as_deref(),
        Some("x")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_is_flushed_without_waiting_for_the_interval() {
    let server = RedisServer::start();
    let a = deferred(&server, "wb", "write_behind_batch=10").await;
    let plain = server.cache("wb", "", "").await;
    for i in 0..10 {
        a.set(&format!("k{i}"), &i).await.unwrap();
    }
    // The interval is an hour: only the full batch wakes the flusher.
    eventually("the batch reaches Redis", async || {
        shared(&a).write_behind_flushed == 10
    })
    .await;
    assert_eq!(shared(&a).write_behind_pending, 0);
    assert_eq!(plain.get::<i32>("k9").await.unwrap(), Some(9));
    // Rewrites of one key coalesce into one pending write.
    for i in 0..5 {
        a.set("hot", &i).await.unwrap();
    }
    assert_eq!(shared(&a).write_behind_pending, 1);
    a.flush().await.unwrap();
    assert_eq!(shared(&a).write_behind_flushed, 11);
    assert_eq!(plain.get::<i32>("hot").await.unwrap(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_cancel_pending_writes_and_other_operations_see_them() {
    let server = RedisServer::start();
    let a = deferred(&server, "wb", "").await;
    let plain = server.cache("wb", "", "").await;

    // A delete cancels a pending write, and the older value in Redis goes too.
    a.set("gone", "old").await.unwrap();
    a.flush().await.unwrap();
    a.set("gone", "new").await.unwrap();
    a.set("never", "x").await.unwrap();
    assert!(a.delete("gone").await.unwrap());
    assert!(a.delete("never").await.unwrap());
    assert_eq!(shared(&a).write_behind_pending, 0);
    a.flush().await.unwrap();
    assert_eq!(a.get::<String>("gone").await.unwrap(), None);
    assert_eq!(plain.get::<String>("gone").await.unwrap(), None);
    assert_eq!(plain.get::<String>("never").await.unwrap(), None);

    // take answers the pending value and cancels it.
    a.set("t", "taken").await.unwrap();
    assert_eq!(
        a.take::<String>("t").await.unwrap().as_deref(),
        Some("taken")
    );
    a.flush().await.unwrap();
    assert_eq!(plain.get::<String>("t").await.unwrap(), None);

    // A pattern and a tag cancel the pending writes they cover.
    a.set("p:1", &1).await.unwrap();
    a.set_with("tagged", &1, SetOptions::default().tags(["t1"]))
        .await
        .unwrap();
    assert!(a.delete_pattern("p:*").await.unwrap() >= 1);
    a.invalidate_tags(&["t1"]).await.unwrap();
    a.flush().await.unwrap();
    assert_eq!(plain.get::<i32>("p:1").await.unwrap(), None);
    assert_eq!(plain.get::<i32>("tagged").await.unwrap(), None);
    assert_eq!(a.get::<i32>("tagged").await.unwrap(), None);

    // exists, ttl and incr see pending writes.
    a.set_with("e", "v", Duration::from_secs(60)).await.unwrap();
    assert!(!plain.exists("e").await.unwrap(), "still pending");
    assert!(a.exists("e").await.unwrap());
    let ttl = a.ttl("e").await.unwrap().remaining().expect("a TTL");
    assert!(ttl <= Duration::from_secs(60) && ttl > Duration::from_secs(30));
    let store = Arc::clone(a.store());
    let opts = WriteOptions::default();
    store.set("raw:n", Bytes::from("5"), &opts).await.unwrap();
    assert_eq!(shared(&a).write_behind_pending, 2);
    assert_eq!(store.incr("raw:n", 2).await.unwrap(), 7);
    assert_eq!(
        shared(&a).write_behind_pending,
        1,
        "incr wrote its key first"
    );
    assert_eq!(store.get("raw:n").await.unwrap(), Some(Bytes::from("7")));

    assert_eq!(store.ttl("raw:never").await.unwrap(), KeyTtl::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_writes_survive_a_redis_outage() {
    let mut server = RedisServer::start();
    let a = server
        .cache(
            "wb",
            "tiered+",
            "write_behind=50ms&timeout_ms=250&breaker_threshold=1&breaker_cooldown=200ms",
        )
        .await;
    a.set("before", "b").await.unwrap();
    a.flush().await.unwrap();

    server.kill();
    for i in 0..20 {
        // No error reaches the caller.
        a.set(&format!("k{i}"), &i).await.unwrap();
    }
    assert_eq!(a.get::<i32>("k7").await.unwrap(), Some(7));
    eventually("a flush finds Redis down", async || {
        shared(&a).write_behind_failed >= 1
    })
    .await;
    assert!(
        a.flush().await.is_err(),
        "flush says what it could not write"
    );
    assert_eq!(shared(&a).write_behind_pending, 20, "nothing dropped");
    assert_eq!(a.get::<i32>("k19").await.unwrap(), Some(19));

    server.restart();
    eventually("the pending writes reach Redis", async || {
        shared(&a).write_behind_pending == 0
    })
    .await;
    let plain = server.cache("wb", "", "").await;
    for i in 0..20 {
        assert_eq!(plain.get::<i32>(&format!("k{i}")).await.unwrap(), Some(i));
    }
    a.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_dropped_with_writes_pending_still_writes_them_on_a_live_runtime() {
    let server = RedisServer::start();
    let a = deferred(&server, "wb", "").await;
    let plain = server.cache("wb", "", "").await;
    a.set("k", "v").await.unwrap();
    drop(a);
    eventually("the last flush lands", async || {
        plain.get::<String>("k").await.unwrap().as_deref() == Some("v")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_writes_through() {
    let server = RedisServer::start();
    let a = deferred(&server, "wb", "write_behind_max=3").await;
    let plain = server.cache("wb", "", "").await;
    for i in 0..5 {
        a.set(&format!("k{i}"), &i).await.unwrap();
    }
    let row = shared(&a);
    assert_eq!(
        (row.write_behind_pending, row.write_behind_overflows),
        (3, 2)
    );
    assert_eq!(
        plain.get::<i32>("k4").await.unwrap(),
        Some(4),
        "written through"
    );
    assert_eq!(plain.get::<i32>("k0").await.unwrap(), None, "still pending");
    // A rewrite of a pending key still coalesces.
    a.set("k0", &10).await.unwrap();
    assert_eq!(shared(&a).write_behind_overflows, 2);
    a.flush().await.unwrap();
    assert_eq!(plain.get::<i32>("k0").await.unwrap(), Some(10));
}

async fn store_from(url: &str) -> Arc<dyn Store> {
    let cache = Cache::from_url(url).await.expect("connect");
    assert_eq!(cache.store().name(), "tiered");
    Arc::clone(cache.store())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_tiered_passes_the_conformance_suite() {
    let server = RedisServer::start();
    // A short interval, so flushes run during the suite.
    let store = store_from(&format!("tiered+{}?write_behind=5ms", server.url())).await;
    testing::conformance(Arc::clone(&store)).await;
    store.flush().await.unwrap();
    assert!(store.stats().tiers[1].write_behind_flushed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_three_tiers_pass_the_conformance_suite() {
    let server = RedisServer::start();
    let url = format!("tiers:mem://|mem://|{}?write_behind=1h", server.url());
    let store = store_from(&url).await;
    assert_eq!(store.stats().tiers.len(), 3);
    testing::conformance(store).await;
}
