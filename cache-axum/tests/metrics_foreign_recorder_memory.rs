//! `/metrics` when the application installed its own `metrics` recorder first: no panic, the
//! cache gauges are still rendered, and the text says why the rest is missing.
//! Run with: cargo test -p cache-axum --test metrics_foreign_recorder_memory

use cache_axum::observe::{install_recorder, render_metrics};
use cache_core::Cache;

#[tokio::test]
async fn another_global_recorder_is_tolerated() {
    metrics::set_global_recorder(metrics::NoopRecorder).expect("first recorder");
    assert!(install_recorder().is_none(), "ours cannot be installed now");

    let cache = Cache::memory();
    cache.set("a", &1).await.unwrap();
    let _: Option<i32> = cache.get("a").await.unwrap();
    let text = render_metrics(&cache);
    assert!(text.starts_with("# Another metrics recorder"), "{text}");
    assert!(text.lines().any(|l| l == "cache_hits_total 1"), "{text}");
    assert!(text.lines().any(|l| l == "cache_sets_total 1"), "{text}");
    // A second scrape renders the new values again.
    let _: Option<i32> = cache.get("a").await.unwrap();
    assert!(render_metrics(&cache)
        .lines()
        .any(|l| l == "cache_hits_total 2"));
}
