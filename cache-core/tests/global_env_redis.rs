//! `Cache::global()` with `CACHE_URL` naming a Redis server and no `Cache::set_global`: the
//! macros' default cache is that Redis, the same store a handler's `Cache::from_env` opens, so
//! purging a tag through the handler's cache reaches the function's data. Its own test binary:
//! the global cache and the environment belong to the process.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_core::testing::RedisServer;
use cache_core::{cached, Cache};

static LOADS: AtomicUsize = AtomicUsize::new(0);

/// A `#[cached]` function without `cache = …`: it uses `Cache::global()`.
#[cached(key = "user:{id}", ttl = 300, tags = ["users"])]
async fn user_name(id: u64) -> String {
    LOADS.fetch_add(1, SeqCst);
    format!("user {id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_set_global_the_macros_use_the_store_cache_url_names() {
    let server = RedisServer::start();
    std::env::set_var("CACHE_URL", server.url());
    std::env::set_var("CACHE_PREFIX", "global-env");

    assert_eq!(user_name(7).await, "user 7");
    assert_eq!(user_name(7).await, "user 7");
    assert_eq!(LOADS.load(SeqCst), 1, "the second call is a hit");
    let global = Cache::global();
    assert_eq!(global.store().name(), "redis");

    // The handlers' cache, built the documented way, sees the function's entry …
    let handlers = Cache::from_env().await.expect("CACHE_URL opens");
    assert!(!handlers.same_as(global));
    let keys = handlers.keys("user:*").await.expect("scan");
    assert_eq!(keys.len(), 1, "{keys:?}");

    // … and purging the tag there reaches it: the next call runs the body again.
    handlers.invalidate_tags(&["users"]).await.expect("purge");
    assert_eq!(user_name(7).await, "user 7");
    assert_eq!(
        LOADS.load(SeqCst),
        2,
        "the purge through from_env reached the global cache"
    );
}
