//! Warming behaviours, each an async fn over a `Cache`, so the same checks run on every store:
//! `warm_memory.rs` runs them on the memory store, `warm_redis.rs` on a real Redis and on the
//! tiered store in front of it.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{cached, Cache, KeyTtl, WarmArgs, WarmOptions, Warmer};

/// Every behaviour, by name: `$start` gives a guard kept alive for the whole test and `$make`
/// builds the cache from it (`async fn(&Guard) -> Cache`).
#[macro_export]
macro_rules! warm_behaviour_tests {
    ($start:expr, $make:path) => {
        warm_behaviour_tests!(@each $start, $make;
            thousand_keys_preload_with_at_most_eight_loads_at_once,
            warmer_keeps_a_hot_key_from_ever_missing_over_several_ttls,
            keys_read_once_are_not_refreshed,
            cached_warm_function_is_refreshed_by_the_warmer);
    };
    (@each $start:expr, $make:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let guard = $start;
                warm_common::$name($make(&guard).await).await;
            }
        )*
    };
}

/// Counts calls in flight and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
}

pub async fn thousand_keys_preload_with_at_most_eight_loads_at_once(cache: Cache) {
    let flight = InFlight::default();
    let calls = AtomicUsize::new(0);
    let keys = (0..1000u32).map(|i| format!("item:{i}"));
    let report = cache
        .warm(
            keys,
            WarmOptions::new()
                .concurrency(8)
                .ttl(Duration::from_secs(300)),
            |key: String| {
                let (flight, calls) = (&flight, &calls);
                async move {
                    flight.enter();
                    calls.fetch_add(1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let i: u32 = key["item:".len()..].parse().expect("our own keys");
                    flight.leave();
                    match i {
                        i if i % 100 == 7 => Err(format!("upstream refused {i}")),
                        i if i % 10 == 3 => Ok(None),
                        i => Ok(Some(i * 2)),
                    }
                }
            },
        )
        .await;
    assert_eq!(calls.load(SeqCst), 1000, "every key is asked for");
    let max = flight.max.load(SeqCst);
    assert!(max <= 8, "{max} loads ran at once");
    assert!(max > 1, "the loads never overlapped");
    assert_eq!(report.failed().len(), 10);
    assert_eq!(report.absent(), 100);
    assert_eq!(report.loaded(), 890);
    assert_eq!(report.total(), 1000);
    let mut failed: Vec<_> = report.failed().to_vec();
    failed.sort();
    assert_eq!(
        failed[0],
        ("item:107".to_string(), "upstream refused 107".to_string())
    );
    // Keys after a failure were still loaded; failed and absent keys hold nothing.
    assert_eq!(cache.get::<u32>("item:999").await.unwrap(), Some(1998));
    assert_eq!(cache.get::<u32>("item:108").await.unwrap(), Some(216));
    assert_eq!(cache.get::<u32>("item:107").await.unwrap(), None);
    assert_eq!(cache.get::<u32>("item:13").await.unwrap(), None);
    assert!(matches!(
        cache.ttl("item:1").await.unwrap(),
        KeyTtl::Expires(d) if d <= Duration::from_secs(300)
    ));
}

pub async fn warmer_keeps_a_hot_key_from_ever_missing_over_several_ttls(cache: Cache) {
    const TTL: Duration = Duration::from_secs(1);
    let warmer_loads = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&warmer_loads);
    let warmer = Warmer::builder(cache.clone())
        .interval(Duration::from_millis(100))
        .refresh_ahead(Duration::from_millis(700))
        .loader("hot:{id}", TTL, move |args: WarmArgs| {
            let w = Arc::clone(&w);
            async move {
                w.fetch_add(1, SeqCst);
                Ok::<_, cache_core::WarmArgError>(Some(format!("v{}", args.parse::<u32>("id")?)))
            }
        })
        .start();
    let reader_loads = AtomicUsize::new(0);
    let started = Instant::now();
    let mut reads = 0;
    // Four TTLs of reads, one every 50 ms.
    while started.elapsed() < TTL * 4 {
        let v: String = cache
            .get_or_set("hot:1", TTL, || async {
                reader_loads.fetch_add(1, SeqCst);
                "v1".to_string()
            })
            .await;
        assert_eq!(v, "v1");
        reads += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    warmer.stop().await;
    assert!(reads >= 20, "only {reads} reads");
    assert_eq!(
        reader_loads.load(SeqCst),
        1,
        "the readers loaded the key again: it expired under them"
    );
    // Four TTLs with the value kept alive: at least three refreshes.
    assert!(warmer_loads.load(SeqCst) >= 3, "{warmer_loads:?}");
}

pub async fn keys_read_once_are_not_refreshed(cache: Cache) {
    let loads = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let l = Arc::clone(&loads);
    let warmer = Warmer::builder(cache.clone())
        .interval(Duration::from_millis(30))
        // Every entry with a TTL is due: only the reads decide.
        .refresh_ahead(Duration::from_secs(3600))
        .loader("k:{id}", Duration::from_secs(600), move |args: WarmArgs| {
            let l = Arc::clone(&l);
            async move {
                l.lock().unwrap().push(args.key().to_owned());
                Ok::<_, std::convert::Infallible>(Some(1u8))
            }
        })
        .start();
    for i in 0..5 {
        cache
            .set_with(&format!("k:once{i}"), &0u8, Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(
            cache.get::<u8>(&format!("k:once{i}")).await.unwrap(),
            Some(0)
        );
    }
    cache
        .set_with("k:hot", &0u8, Duration::from_secs(600))
        .await
        .unwrap();
    let rounds_at_start = warmer.stats().rounds;
    // The hot key is read a few times a round until it was refreshed three times, over
    // several rounds in which the keys read once stay cold.
    let mut hot_loads = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while hot_loads < 3 || warmer.stats().rounds < rounds_at_start + 5 {
        assert!(Instant::now() < deadline, "timed out: {:?}", warmer.stats());
        for _ in 0..3 {
            let _ = cache.get::<u8>("k:hot").await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        hot_loads = loads
            .lock()
            .unwrap()
            .iter()
            .filter(|k| *k == "k:hot")
            .count();
    }
    let stats = warmer.stats();
    warmer.stop().await;
    let loaded = loads.lock().unwrap().clone();
    assert!(
        loaded.iter().all(|k| k == "k:hot"),
        "keys read once were refreshed: {loaded:?}"
    );
    assert!(stats.refreshed >= 3, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    for i in 0..5 {
        assert_eq!(
            cache.get::<u8>(&format!("k:once{i}")).await.unwrap(),
            Some(0)
        );
    }
    assert_eq!(cache.get::<u8>("k:hot").await.unwrap(), Some(1));
}

#[cached(key = "profile:{id}", ttl = 1, warm = true, cache = cache)]
async fn profile(cache: Cache, calls: Arc<AtomicUsize>, id: u64) -> String {
    calls.fetch_add(1, SeqCst);
    format!("profile {id}")
}

pub async fn cached_warm_function_is_refreshed_by_the_warmer(cache: Cache) {
    let calls = Arc::new(AtomicUsize::new(0));
    let warmer = Warmer::builder(cache.clone())
        .interval(Duration::from_millis(100))
        .refresh_ahead(Duration::from_millis(700))
        .start();
    let started = Instant::now();
    // Three TTLs of reads.
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            profile(cache.clone(), Arc::clone(&calls), 7).await,
            "profile 7"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = warmer.stats();
    warmer.stop().await;
    let runs = calls.load(SeqCst);
    assert!(stats.refreshed >= 2, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    // The readers ran the body once; every other run was the warmer's.
    assert_eq!(runs as u64, 1 + stats.refreshed, "{stats:?}");
}
