//! `#[cache_invalidate(recache = ..)]`, `#[cache_put]` and resources on a real Redis (one server
//! per test) and on the tiered store in front of it: the same list as `write_macros_memory.rs`,
//! plus a recache seen by another process sharing the store.

#[path = "write_macros_common/mod.rs"]
mod write_macros_common;

use std::time::{Duration, Instant};

use cache_core::Cache;
use write_macros_common::Users;

mod redis {
    use cache_core::testing::RedisServer;
    use cache_core::Cache;

    use super::write_macros_common;
    use crate::write_macro_tests;

    pub(crate) async fn make_cache(server: &RedisServer) -> Cache {
        super::connect(&server.url(), "write-macros").await
    }

    write_macro_tests!(guard: RedisServer::start(), cache: make_cache);
}

mod tiered {
    use cache_core::testing::RedisServer;
    use cache_core::Cache;

    use super::write_macros_common;
    use crate::write_macro_tests;

    pub(crate) async fn make_cache(server: &RedisServer) -> Cache {
        super::connect(&format!("tiered+{}", server.url()), "write-macros").await
    }

    write_macro_tests!(guard: RedisServer::start(), cache: make_cache);
}

async fn connect(url: &str, prefix: &str) -> Cache {
    Cache::builder()
        .url(url)
        .prefix(prefix)
        .build()
        .await
        .expect("connecting to the test redis-server")
}

/// The reader process's cache URL (`redis://..` or `tiered+redis://..`).
const READER_URL: &str = "WRITE_MACROS_READER_URL";
/// The plain Redis URL the two processes signal each other through.
const SIGNAL_URL: &str = "WRITE_MACROS_SIGNAL_URL";
/// The prefix both processes' caches use.
const PREFIX: &str = "two-processes";

/// Waits (10 s at most) until `key` exists in `signals`.
async fn wait_for(signals: &Cache, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !signals.exists(key).await.expect("reading a signal") {
        assert!(Instant::now() < deadline, "no `{key}` signal within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Process A: reads user 1 (so B finds it), lets B read it too, updates it with recache, and
/// checks that B then read the new value as a hit.
async fn recache_seen_by_another_process(url: String, redis_url: String) {
    let users = Users::new(connect(&url, PREFIX).await);
    let signals = connect(&redis_url, "signals").await;
    assert_eq!(users.get_user(1).await.as_deref(), Some("Ada"));

    // This test binary again, running only the reader below (libtest arguments, which
    // cargo-nextest also uses).
    let exe = std::env::current_exe().expect("current_exe");
    let (reader_url, signal_url) = (url.clone(), redis_url.clone());
    let reader = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .args([
                "--exact",
                "recache_reader_in_another_process",
                "--ignored",
                "--nocapture",
            ])
            .env(READER_URL, reader_url)
            .env(SIGNAL_URL, signal_url)
            .output()
            .expect("spawning the reader process")
    });
    wait_for(&signals, "b-read-old").await;
    users.update_user(7, 1, "Grace").await.unwrap();
    assert_eq!(users.loads(), 3, "A loaded get_user and get_org_user again");
    signals.set("a-updated", &true).await.unwrap();

    let out = reader.await.expect("the reader's thread");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the reader failed:\n{text}");
    assert!(text.contains("1 passed"), "the reader did not run:\n{text}");
    assert!(
        text.contains("B read Grace as a hit"),
        "the reader did not report:\n{text}"
    );
}

/// Process B, run by `recache_seen_by_another_process`: reads the old value as a hit, waits for
/// A's update, then reads the new value, never running the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the recache_*_two_processes tests, in another process"]
async fn recache_reader_in_another_process() {
    let url = std::env::var(READER_URL).expect("the cache URL");
    let redis_url = std::env::var(SIGNAL_URL).expect("the signal URL");
    let users = Users::new(connect(&url, PREFIX).await);
    let signals = connect(&redis_url, "signals").await;
    // Process B's "database" would say otherwise: any load would show.
    users.db.lock().unwrap().insert(1, "loaded by B".to_owned());

    assert_eq!(users.get_user(1).await.as_deref(), Some("Ada"));
    assert_eq!(users.loads(), 0, "B's first read is a hit on A's value");
    signals.set("b-read-old", &true).await.unwrap();
    wait_for(&signals, "a-updated").await;

    // On the tiered store, B's memory tier holds "Ada" until the invalidation reaches it over
    // the bus; the shared tier already holds "Grace" (A recached before signalling).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let name = users.get_user(1).await;
        assert_eq!(users.loads(), 0, "B never loads: every read is a hit");
        if name.as_deref() == Some("Grace") {
            break;
        }
        assert_eq!(name.as_deref(), Some("Ada"));
        assert!(
            Instant::now() < deadline,
            "B still reads the old value after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        users.get_org_user(7, 1).await.as_deref(),
        Some("7/Grace"),
        "the other recached call too"
    );
    assert_eq!(users.loads(), 0);
    println!("B read Grace as a hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recache_on_redis_two_processes() {
    let server = cache_core::testing::RedisServer::start();
    recache_seen_by_another_process(server.url(), server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recache_on_tiered_two_processes() {
    let server = cache_core::testing::RedisServer::start();
    recache_seen_by_another_process(format!("tiered+{}", server.url()), server.url()).await;
}
