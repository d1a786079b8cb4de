//! `Lock::Distributed` on the memory store, which is not shared across processes: it is the
//! local single flight (50 concurrent cold calls, one load) and takes no lease.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{cached, Cache, Lock, SetOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_falls_back_to_the_local_single_flight() {
    let cache = Cache::memory();
    let loads = Arc::new(AtomicUsize::new(0));
    let calls = (0..50).map(|_| {
        let (cache, loads) = (cache.clone(), Arc::clone(&loads));
        tokio::spawn(async move {
            cache
                .get_or_set("k", SetOptions::new().distributed_lock(), || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    7u32
                })
                .await
        })
    });
    for v in futures_util::future::join_all(calls).await {
        assert_eq!(v.unwrap(), 7);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.leases_acquired, stats.lease_waits), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_false_still_runs_every_loader() {
    let cache = Cache::memory();
    let opts = SetOptions::new().distributed_lock().lock(false);
    assert_eq!(opts.lock_value(), Lock::Off);
    let loads = Arc::new(AtomicUsize::new(0));
    let calls = (0..10).map(|_| {
        let (cache, loads, opts) = (cache.clone(), Arc::clone(&loads), opts.clone());
        tokio::spawn(async move {
            cache
                .get_or_set("k", opts, || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    7u32
                })
                .await
        })
    });
    futures_util::future::join_all(calls).await;
    assert_eq!(loads.load(Ordering::SeqCst), 10);
}

static BODY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "slow:{id}", cache = CACHE, lock = "distributed", lease = "2s")]
async fn slow(id: u32) -> u32 {
    BODY_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    id * 2
}

static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Cache::memory);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_with_a_distributed_lock_runs_the_body_once_on_memory() {
    let calls = (0..50).map(|_| tokio::spawn(slow(21)));
    for v in futures_util::future::join_all(calls).await {
        assert_eq!(v.unwrap(), 42);
    }
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 1);
}
