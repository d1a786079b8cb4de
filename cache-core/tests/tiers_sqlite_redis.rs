//! Three tiers, memory → SQLite → Redis (`tiers:mem://|sqlite://…|redis://…`): the conformance
//! suite; promotion into both upper tiers; a change made by one instance reaching another
//! instance's memory and SQLite tiers over Redis pub/sub; and an instance that was away (its
//! SQLite file kept what it held) not serving what changed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use cache_core::store::{SqlStore, Store};
use cache_core::testing::{self, RedisServer, SqliteFile};
use cache_core::Cache;

/// A guard against hangs only, not a speed assertion.
const WITHIN: Duration = Duration::from_secs(10);

fn url(file: &SqliteFile, redis: &RedisServer) -> String {
    format!(
        "tiers:mem://?max_entries=10000|{}|{}",
        file.url(),
        redis.url()
    )
}

async fn open(file: &SqliteFile, redis: &RedisServer) -> Cache {
    let cache = Cache::builder()
        .url(url(file, redis))
        .prefix("app")
        .build()
        .await
        .expect("three tiers");
    assert_eq!(cache.store().stats().tiers.len(), 3);
    cache
}

/// Polls until `cache` reads `want` for `key`.
async fn eventually(cache: &Cache, key: &str, want: Option<&str>) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let got = cache.get::<String>(key).await.unwrap();
        if got.as_deref() == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key}: still {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the SQLite file itself holds for a cache key.
async fn in_file(file: &SqliteFile, cache: &Cache, key: &str) -> bool {
    let sqlite = SqlStore::connect(&file.url()).await.unwrap();
    sqlite
        .get(&cache.full_key(key).unwrap())
        .await
        .unwrap()
        .is_some()
}

/// Reads `key` through `cache` until the read has been promoted into its SQLite `file`: a read
/// that overlaps the instance's handling of the writer's own invalidation message rightly
/// does not promote (what it read may be older than the message), so the first read may not.
async fn read_until_promoted(cache: &Cache, file: &SqliteFile, key: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let got = cache.get::<String>(key).await.unwrap();
        assert_eq!(got.as_deref(), Some(want), "{key}");
        if in_file(file, cache, key).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key}: not promoted into the SQLite tier"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sqlite_redis_pass_the_conformance_suite() {
    let redis = RedisServer::start();
    let file = SqliteFile::new();
    let cache = Cache::from_url(&url(&file, &redis)).await.expect("connect");
    assert_eq!(cache.store().name(), "tiered");
    let ran = testing::conformance(Arc::clone(cache.store())).await;
    for check in ["tags", "patterns", "counters", "expire"] {
        assert!(ran.contains(&check), "{check} did not run: {ran:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_promote_into_both_upper_tiers_and_changes_reach_other_instances() {
    let redis = RedisServer::start();
    // Two instances on two machines: a SQLite file each, one Redis.
    let (file_a, file_b) = (SqliteFile::new(), SqliteFile::new());
    let a = open(&file_a, &redis).await;
    let b = open(&file_b, &redis).await;

    a.set("k", &"v1").await.unwrap();
    read_until_promoted(&b, &file_b, "k", "v1").await;
    let before = b.store().stats().tiers;
    assert!(
        before[2].hits >= 1,
        "the first read comes from Redis: {before:?}"
    );
    assert_eq!(b.get::<String>("k").await.unwrap().as_deref(), Some("v1"));
    let after = b.store().stats().tiers;
    assert_eq!(after[0].hits, before[0].hits + 1, "then from memory");
    assert_eq!(after[2].hits, before[2].hits, "not from Redis again");

    // A changes it: B's memory and SQLite copies are dropped, B reads the new value.
    a.set("k", &"v2").await.unwrap();
    eventually(&b, "k", Some("v2")).await;
    a.delete("k").await.unwrap();
    eventually(&b, "k", None).await;
    assert!(
        !in_file(&file_b, &b, "k").await,
        "B's SQLite tier kept a deleted key"
    );

    // Tags too.
    a.set_with("t", &"tagged", cache_core::SetOptions::new().tag("users"))
        .await
        .unwrap();
    read_until_promoted(&b, &file_b, "t", "tagged").await;
    assert_eq!(a.invalidate_tags(["users"]).await.unwrap(), 1);
    eventually(&b, "t", None).await;
    assert!(
        !in_file(&file_b, &b, "t").await,
        "B's SQLite tier kept a member of an invalidated tag"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_was_away_does_not_serve_its_files_stale_copies() {
    let redis = RedisServer::start();
    let (file_a, file_b) = (SqliteFile::new(), SqliteFile::new());
    let a = open(&file_a, &redis).await;
    let b = open(&file_b, &redis).await;
    a.set("k", &"old").await.unwrap();
    read_until_promoted(&b, &file_b, "k", "old").await;
    drop(b);
    // While B is away (it hears nothing), A changes the value.
    a.set("k", &"new").await.unwrap();
    let b = open(&file_b, &redis).await;
    assert_eq!(
        b.get::<String>("k").await.unwrap().as_deref(),
        Some("new"),
        "a restarted instance served its SQLite tier's stale copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_invalidations_never_leave_an_old_value_behind() {
    let redis = RedisServer::start();
    let (file_a, file_b) = (SqliteFile::new(), SqliteFile::new());
    let a = open(&file_a, &redis).await;
    let b = open(&file_b, &redis).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // B reads the key all the time, so that reads of its SQLite tier overlap B's handling of
    // each of A's changes: a read that found the old value there must not promote it.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (b, stop) = (b.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = b.get::<String>("k").await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for round in 0..100 {
        let value = format!("v{round}");
        a.set("k", &value).await.unwrap();
        eventually(&b, "k", Some(&value)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    // Nothing reads now: what B's tiers hold is what they will serve.
    assert_eq!(b.get::<String>("k").await.unwrap().as_deref(), Some("v99"));
    a.delete("k").await.unwrap();
    eventually(&b, "k", None).await;
}
