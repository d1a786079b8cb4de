//! Redis down at start is a clear backend error; Redis killed mid-use gives errors within the
//! command timeout (never a hang), and the same client works again once Redis is back. Through
//! a kill and a pause, a cached function costs at most one failing command per call, the
//! breaker answers while the server is down, and nothing invalidated meanwhile is served after.

#[path = "outage_common/mod.rs"]
mod outage_common;

use std::time::Duration;

use cache_core::store::BreakerState;
use cache_core::testing::RedisServer;
use cache_core::{Cache, Error};
use outage_common::{guarded, through_an_outage, Users};

/// A guard against hangs only (far above the configured timeout), not a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

async fn wait_until_up(cache: &Cache) {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while let Err(e) = cache.ping().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery after restart: {e}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_is_a_clear_backend_error() {
    let mut server = RedisServer::start();
    let url = format!(
        "redis://:hunter2@127.0.0.1:{}?connect_timeout_ms=500",
        server.port()
    );
    server.kill();
    let err = tokio::time::timeout(HANG_GUARD, Cache::from_url(&url))
        .await
        .expect("connecting to a dead server hung")
        .unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&server.port().to_string()),
        "message does not name the server: {msg}"
    );
    assert!(!msg.contains("hunter2"), "password leaked: {msg}");

    let err = Cache::from_url("redis-cluster://127.0.0.1:1?connect_timeout_ms=300")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_use_errors_then_recovers_without_a_new_client() {
    let mut server = RedisServer::start();
    let cache = Cache::from_url(&format!("{}?timeout_ms=300&pool=2", server.url()))
        .await
        .unwrap();
    cache.set("k", &1).await.unwrap();
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(1));

    server.kill();
    for _ in 0..3 {
        let r = tokio::time::timeout(HANG_GUARD, cache.get::<i32>("k"))
            .await
            .expect("get hung on a dead server");
        let err = r.expect_err("a dead server answered");
        assert!(err.is_backend(), "{err:?}");
        let r = tokio::time::timeout(HANG_GUARD, cache.set("k", &2))
            .await
            .expect("set hung on a dead server");
        assert!(r.unwrap_err().is_backend());
    }
    assert!(
        cache.stats().errors >= 6,
        "errors not counted: {:?}",
        cache.stats()
    );
    // get_or_set falls through to the loader when the cache is down.
    let v: u32 = tokio::time::timeout(HANG_GUARD, cache.get_or_set("loaded", (), || async { 7 }))
        .await
        .expect("get_or_set hung");
    assert_eq!(v, 7);

    server.restart();
    // Same Cache, same pool: it reconnects by itself.
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        match cache.set("k", &3).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no recovery after restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(3));
    cache.ping().await.unwrap();
    // The restarted server has an empty script cache: tag scripts are loaded again.
    cache
        .set_with("t0", &1, cache_core::SetOptions::new().tag("tag"))
        .await
        .unwrap();
    assert_eq!(cache.invalidate_tags(["tag"]).await.unwrap(), 1);
    server.kill();
    server.restart();
    wait_until_up(&cache).await;
    cache
        .set_with("t", &1, cache_core::SetOptions::new().tag("tag"))
        .await
        .unwrap();
    assert_eq!(cache.invalidate_tags(["tag"]).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_gives_timeouts_not_hangs_and_is_used_again_when_it_wakes() {
    let server = RedisServer::start();
    let cache = Cache::from_url(&format!("{}?timeout_ms=200", server.url()))
        .await
        .unwrap();
    cache.set("k", &1).await.unwrap();

    server.pause();
    let r = tokio::time::timeout(HANG_GUARD, cache.get::<i32>("k"))
        .await
        .expect("get hung on a frozen server");
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    // The breaker is open: the next calls fail at once (or, as the probe, time out).
    for _ in 0..2 {
        let r = tokio::time::timeout(HANG_GUARD, cache.get::<i32>("k"))
            .await
            .expect("get hung on a frozen server");
        assert!(r.unwrap_err().is_backend());
    }
    let r = tokio::time::timeout(HANG_GUARD, cache.delete_pattern("*"))
        .await
        .expect("SCAN hung");
    assert!(r.unwrap_err().is_backend());
    server.resume();

    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        match cache.get::<i32>("k").await {
            Ok(v) => {
                // The delete_pattern that failed during the pause was replayed.
                assert_eq!(v, None);
                break;
            }
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no recovery after resume: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_costs_one_failing_command_and_a_refused_one_does_not_wait() {
    let mut server = RedisServer::start();
    // A timeout half the hang guard: a refused or reset connection must not wait it out often.
    let cache = Cache::from_url(&format!("{}?timeout_ms=5000", server.url()))
        .await
        .unwrap();
    let users = Users::new(cache);
    through_an_outage(&users, &mut server, RedisServer::kill, RedisServer::restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_costs_one_timeout_and_its_missed_invalidations_are_replayed() {
    let mut server = RedisServer::start();
    let cache = Cache::from_url(&format!("{}?timeout_ms=300", server.url()))
        .await
        .unwrap();
    let users = Users::new(cache);
    through_an_outage(&users, &mut server, |s| s.pause(), |s| s.resume()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_set_on_a_dead_server_reads_once_and_does_not_write() {
    let mut server = RedisServer::start();
    let cache = Cache::from_url(&format!(
        "{}?timeout_ms=300&breaker_threshold=100",
        server.url()
    ))
    .await
    .unwrap();
    server.kill();
    // With the breaker out of the way (it opens after 100 failures), each call makes exactly
    // one store call: its read. No second read, no lease, no write.
    for i in 0..3u64 {
        let before = cache.stats().errors;
        let v: u64 = guarded(
            "get_or_set",
            cache.get_or_set(&format!("k{i}"), (), || async move { i }),
        )
        .await;
        assert_eq!(v, i);
        assert_eq!(cache.stats().errors - before, 1, "call {i}");
        let r: Result<u64, std::sync::Arc<&str>> = guarded(
            "try_get_or_set",
            cache.try_get_or_set(
                &format!("t{i}"),
                cache_core::SetOptions::new().distributed_lock(),
                || async move { Ok(i) },
            ),
        )
        .await;
        assert_eq!(r.unwrap(), i);
    }
    assert_eq!(cache.store().stats().breaker, Some(BreakerState::Closed));
    assert_eq!(cache.stats().errors, 6);
    // The failed writes are not even attempted: nothing queued but nothing lost either.
    assert_eq!(cache.store().stats().pending, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_options_are_read_from_the_url_and_bad_ones_named() {
    let server = RedisServer::start();
    let cache = Cache::from_url(&format!(
        "{}?breaker_threshold=2&breaker_cooldown=5s",
        server.url()
    ))
    .await
    .unwrap();
    assert_eq!(cache.store().stats().breaker, Some(BreakerState::Closed));
    for (bad, says) in [
        ("breaker_threshold=0", "breaker_threshold"),
        ("breaker_cooldown=soon", "breaker_cooldown"),
    ] {
        let e = Cache::from_url(&format!("{}?{bad}", server.url()))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}
