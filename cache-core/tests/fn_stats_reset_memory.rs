//! `stats::reset_functions` zeroes the per-function counts of `#[cached]` functions. One test
//! in its own binary: the counts are process-wide, and a reset would disturb other tests.

use cache_core::stats::{functions, reset_functions};
use cache_core::{cached, Cache};

static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();

#[cached(key = "fn_reset:a:{n}", cache = CACHE.get_or_init(Cache::memory))]
async fn a(n: u64) -> u64 {
    n + 1
}

#[cached(key = "fn_reset:b:{n}", cache = CACHE.get_or_init(Cache::memory))]
async fn b(n: u64) -> u64 {
    n + 2
}

fn counts(suffix: &str) -> Option<(u64, u64)> {
    functions()
        .into_iter()
        .find(|f| f.name.ends_with(suffix))
        .map(|f| (f.hits, f.misses))
}

#[tokio::test]
async fn reset_functions_zeroes_every_function_and_counting_goes_on() {
    for _ in 0..3 {
        a(1).await;
    }
    b(1).await;
    b(2).await;
    assert_eq!(counts("::a"), Some((2, 1)));
    assert_eq!(counts("::b"), Some((0, 2)));

    reset_functions();
    assert_eq!(counts("::a"), Some((0, 0)), "listed, at zero");
    assert_eq!(counts("::b"), Some((0, 0)));

    // The values stay cached: the next call is a hit, counted from zero.
    a(1).await;
    assert_eq!(counts("::a"), Some((1, 0)));
    assert_eq!(counts("::b"), Some((0, 0)));
}
