//! `#[memoize]` counts: every call counts once, as a hit or a miss, sync and async, alone and
//! under concurrency; `reset_stats` zeroes the counts and keeps the entries.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::memoize;

#[memoize(capacity = 100)]
async fn cold_warm(n: u64) -> u64 {
    n + 1
}

#[tokio::test]
async fn async_cold_then_warm_is_one_miss_and_one_hit() {
    assert_eq!(cold_warm(1).await, 2);
    assert_eq!(cold_warm(1).await, 2);
    let s = cold_warm_memo().stats();
    assert_eq!((s.hits, s.misses, s.entries), (1, 1, 1), "{s:?}");
}

#[memoize(capacity = 100)]
async fn twelve(n: u64) -> u64 {
    n * 10
}

#[tokio::test]
async fn async_twelve_calls_count_twelve() {
    // Three keys, four calls each: three misses, nine hits.
    for _ in 0..4 {
        for n in 0..3 {
            assert_eq!(twelve(n).await, n * 10);
        }
    }
    let s = twelve_memo().stats();
    assert_eq!((s.hits, s.misses), (9, 3), "{s:?}");
    assert_eq!(s.hits + s.misses, 12);
}

#[memoize(capacity = 100)]
fn twelve_sync(n: u64) -> u64 {
    n * 10
}

#[test]
fn sync_twelve_calls_count_twelve() {
    for _ in 0..4 {
        for n in 0..3 {
            assert_eq!(twelve_sync(n), n * 10);
        }
    }
    let s = twelve_sync_memo().stats();
    assert_eq!((s.hits, s.misses), (9, 3), "{s:?}");
}

static GATED_RUNS: AtomicUsize = AtomicUsize::new(0);
static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();
static ENTERED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Held inside its body until the test opens the gate, so callers pile up behind it.
#[memoize(capacity = 10)]
async fn gated(n: u64) -> u64 {
    GATED_RUNS.fetch_add(1, SeqCst);
    ENTERED.notify_one();
    GATE.notified().await;
    n * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_async_calls_count_once_each() {
    let guard = async {
        let leader = tokio::spawn(gated(21));
        ENTERED.notified().await;
        // The body is held: these 199 callers wait for it (or find its value).
        let waiters: Vec<_> = (0..199).map(|_| tokio::spawn(gated(21))).collect();
        // Let the waiters reach the table before the body ends (a bounded number of yields;
        // a waiter that arrives later finds the value, which is a hit all the same).
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        GATE.notify_one();
        assert_eq!(leader.await.unwrap(), 42);
        for w in waiters {
            assert_eq!(w.await.unwrap(), 42);
        }
        // And 50 more after the value is stored.
        for _ in 0..50 {
            assert_eq!(gated(21).await, 42);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), guard)
        .await
        .expect("hang guard");
    assert_eq!(GATED_RUNS.load(SeqCst), 1, "single flight");
    let s = gated_memo().stats();
    assert_eq!((s.hits, s.misses), (249, 1), "{s:?}");
}

static FAILS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
async fn fails_twice(n: u32) -> Result<u32, String> {
    if FAILS.fetch_add(1, SeqCst) < 2 {
        Err("not yet".into())
    } else {
        Ok(n)
    }
}

#[tokio::test]
async fn async_failures_count_as_misses_and_nothing_twice() {
    assert!(fails_twice(1).await.is_err());
    assert!(fails_twice(1).await.is_err());
    assert_eq!(fails_twice(1).await, Ok(1));
    assert_eq!(fails_twice(1).await, Ok(1));
    let s = fails_twice_memo().stats();
    assert_eq!((s.hits, s.misses), (1, 3), "{s:?}");
}

#[memoize(ttl = Duration::from_millis(100))]
async fn short_lived(n: u8) -> u8 {
    n
}

#[tokio::test]
async fn async_expired_entry_is_one_miss() {
    short_lived(1).await;
    short_lived(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    short_lived(1).await;
    let s = short_lived_memo().stats();
    assert_eq!((s.hits, s.misses), (1, 2), "{s:?}");
}

#[memoize]
async fn resettable(n: u8) -> u8 {
    n
}

#[tokio::test]
async fn reset_stats_zeroes_the_counts_and_keeps_the_entries() {
    resettable(1).await;
    resettable(1).await;
    resettable(2).await;
    let memo = resettable_memo();
    assert_eq!((memo.stats().hits, memo.stats().misses), (1, 2));
    memo.reset_stats();
    let s = memo.stats();
    assert_eq!((s.hits, s.misses, s.entries), (0, 0, 2), "{s:?}");
    resettable(2).await;
    assert_eq!((memo.stats().hits, memo.stats().misses), (1, 0));
}
