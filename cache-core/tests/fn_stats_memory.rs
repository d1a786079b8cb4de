//! Per-function hit/miss counts of `#[cached]` functions and the recent-invalidation log.

use cache_core::stats::{functions, InvalidationKind};
use cache_core::{cached, Cache, SetOptions};

fn counts(suffix: &str) -> (u64, u64) {
    functions()
        .into_iter()
        .find(|f| f.name.ends_with(suffix))
        .map(|f| (f.hits, f.misses))
        .unwrap_or((0, 0))
}

#[cached(key = "fn_stats:double:{n}", cache = CACHE.get_or_init(Cache::memory))]
async fn double(n: u64) -> u64 {
    n * 2
}

#[cached(key = "fn_stats:maybe:{n}", cache = CACHE.get_or_init(Cache::memory))]
async fn maybe(n: u64) -> Option<u64> {
    (n > 0).then_some(n)
}

static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();

#[tokio::test]
async fn cached_functions_count_hits_and_misses_under_their_names() {
    assert_eq!(counts("fn_stats_memory::double"), (0, 0));
    assert_eq!(double(2).await, 4); // miss
    assert_eq!(double(2).await, 4); // hit
    assert_eq!(double(2).await, 4); // hit
    assert_eq!(double(3).await, 6); // miss
    assert_eq!(counts("fn_stats_memory::double"), (2, 2));
    let f = functions();
    let names: Vec<_> = f.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"fn_stats_memory::double"), "{names:?}");

    // `None` is not stored: every call runs the body.
    assert_eq!(maybe(0).await, None);
    assert_eq!(maybe(0).await, None);
    assert_eq!(counts("fn_stats_memory::maybe"), (0, 2));
    assert_eq!(
        counts("fn_stats_memory::double"),
        (2, 2),
        "counts are per function"
    );
}

#[tokio::test]
async fn invalidations_are_logged_newest_last_and_bounded() {
    let cache = Cache::memory();
    cache
        .set_with("u:1", &1, SetOptions::new().tag("users"))
        .await
        .unwrap();
    cache.set("u:2", &2).await.unwrap();
    cache.delete("u:2").await.unwrap();
    cache.delete_many(["a", "b", "c"]).await.unwrap();
    cache.delete_pattern("x:*").await.unwrap();
    assert_eq!(cache.invalidate_tags(["users"]).await.unwrap(), 1);
    cache.clear().await.unwrap();
    cache.bump_version().await.unwrap();
    let log = cache.recent_invalidations();
    let kinds: Vec<_> = log.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            InvalidationKind::Key,
            InvalidationKind::Keys,
            InvalidationKind::Pattern,
            InvalidationKind::Tags,
            InvalidationKind::Clear,
            InvalidationKind::Version,
        ]
    );
    assert_eq!(
        (log[0].deleted, log[0].targets.clone()),
        (1, vec!["u:2".to_owned()])
    );
    assert_eq!(log[1].target_count, 3);
    assert_eq!(log[3].deleted, 1);
    assert_eq!(log[5].targets, ["2"]);
    assert!(log[0].at_ms > 0);

    // The ring keeps the latest 64.
    for i in 0..100 {
        cache.delete(&format!("k{i}")).await.unwrap();
    }
    let log = cache.recent_invalidations();
    assert_eq!(log.len(), 64);
    assert_eq!(log.last().unwrap().targets, ["k99"]);

    // Many keys: the event keeps a bounded list and the real count.
    let keys: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    cache.delete_many(&keys).await.unwrap();
    let last = cache.recent_invalidations().pop().unwrap();
    assert_eq!(
        last.targets.len(),
        cache_core::stats::InvalidationEvent::MAX_TARGETS
    );
    assert_eq!(last.target_count, 50);
}

static BG_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cached(key = "fn_stats:bg", ttl = std::time::Duration::from_millis(200), stale = "1h", background = true, cache = CACHE.get_or_init(Cache::memory))]
async fn refreshed() -> u64 {
    BG_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

#[tokio::test]
async fn a_stale_value_served_is_a_hit_and_the_background_refresh_is_no_miss() {
    assert_eq!(refreshed().await, 1); // miss: the body ran for this caller
    tokio::time::sleep(std::time::Duration::from_millis(400)).await; // past the TTL
    assert_eq!(refreshed().await, 1); // stale, served at once: a hit; a refresh is spawned
    let mut seen = 1;
    for _ in 0..300 {
        seen = refreshed().await;
        if seen == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 2, "the background refresh stored its value");
    assert_eq!(BG_CALLS.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (hits, misses) = counts("fn_stats_memory::refreshed");
    assert_eq!(misses, 1, "only the first call waited for the body");
    assert!(hits >= 2, "{hits}");
}
