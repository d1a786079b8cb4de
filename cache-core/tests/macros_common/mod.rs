//! Behaviours of `#[cached]` and `#[cache_invalidate]`, each an async fn over a `Cache`, so the
//! same checks run on every store: `macros_memory.rs` runs them on the memory store; a Redis
//! variant only needs a `make_cache()` on a Redis store and the same list of tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use cache_core::{cache_invalidate, cached, Cache, KeyTtl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore};

/// Every behaviour, by name, for stores that want one test per behaviour.
#[macro_export]
macro_rules! macro_behaviour_tests {
    // A store that needs a server: `$start` gives a guard kept alive for the whole test, and
    // `$make` builds the cache from it (`async fn(&Guard) -> Cache`).
    (guard: $start:expr, cache: $make:path) => {
        macro_behaviour_tests!(@guarded $start, $make;
            hit_then_miss_per_argument, ttl_expires_and_is_set_on_the_store, result_stores_ok_only,
            option_stores_some_only, condition_false_bypasses_the_cache, unless_skips_storing,
            default_key_is_path_and_digest_of_arguments, tags_and_ttl_presets_reach_the_store,
            invalidation_by_key_tag_and_pattern_across_functions, invalidation_skipped_when_body_fails,
            stale_value_served_while_one_refresh_runs,
            background_refresh_serves_the_stale_value_to_every_caller, thousand_concurrent_calls_run_the_body_once,
            lock_false_lets_concurrent_callers_run_the_body, methods_key_on_self_fields,
            axum_handler_with_extractors_over_tcp, cache_failures_fall_through_to_the_body,
            escaped_values_cannot_forge_keys);
    };
    (@guarded $start:expr, $make:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let guard = $start;
                macros_common::$name($make(&guard).await).await;
            }
        )*
    };
    ($make:expr) => {
        macro_behaviour_tests!(@each $make;
            hit_then_miss_per_argument, ttl_expires_and_is_set_on_the_store, result_stores_ok_only,
            option_stores_some_only, condition_false_bypasses_the_cache, unless_skips_storing,
            default_key_is_path_and_digest_of_arguments, tags_and_ttl_presets_reach_the_store,
            invalidation_by_key_tag_and_pattern_across_functions, invalidation_skipped_when_body_fails,
            stale_value_served_while_one_refresh_runs,
            background_refresh_serves_the_stale_value_to_every_caller, thousand_concurrent_calls_run_the_body_once,
            lock_false_lets_concurrent_callers_run_the_body, methods_key_on_self_fields,
            axum_handler_with_extractors_over_tcp, cache_failures_fall_through_to_the_body,
            escaped_values_cannot_forge_keys);
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                macros_common::$name($make).await;
            }
        )*
    };
}

/// A service whose methods are cached in `self.cache` and count how often their bodies run.
pub struct Svc {
    pub cache: Cache,
    pub calls: AtomicUsize,
    pub tenant: String,
    pub entered: Notify,
    pub gate: Semaphore,
}

impl Svc {
    pub fn new(cache: Cache) -> Self {
        Self {
            cache,
            calls: AtomicUsize::new(0),
            tenant: "acme".into(),
            entered: Notify::new(),
            gate: Semaphore::new(0),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }

    fn bump(&self) -> usize {
        self.calls.fetch_add(1, SeqCst) + 1
    }

    #[cached(key = "user:{id}", ttl = 60, cache = self.cache)]
    pub async fn user(&self, id: u64) -> String {
        self.bump();
        format!("user-{id}")
    }

    #[cached(key = "short:{id}", ttl = Duration::from_millis(300), cache = self.cache)]
    pub async fn short_lived(&self, id: u64) -> usize {
        self.bump()
    }

    #[cached(key = "res:{id}", cache = self.cache)]
    pub async fn fallible(&self, id: u64, fail: bool) -> Result<usize, String> {
        let n = self.bump();
        if fail {
            return Err(format!("failed {id}"));
        }
        Ok(n)
    }

    #[cached(key = "opt:{id}", cache = self.cache)]
    pub async fn maybe(&self, id: u64, found: bool) -> Option<usize> {
        let n = self.bump();
        found.then_some(n)
    }

    #[cached(key = "cond:{id}", cache = self.cache, condition = id != 0)]
    pub async fn conditional(&self, id: u64) -> usize {
        self.bump()
    }

    #[cached(key = "unless:{id}", cache = self.cache, unless = |v| v.is_empty())]
    pub async fn list(&self, id: u64) -> Vec<u64> {
        self.bump();
        (0..id).collect()
    }

    #[cached(cache = self.cache, ttl = "1h")]
    pub async fn search(&self, query: &str, page: u32, filters: Vec<String>) -> usize {
        let _ = (query, page, filters);
        self.bump()
    }

    #[cached(key = "tenant:{self.tenant}:{id}", cache = self.cache, ttl = "long", tags = ["tenant:{self.tenant}", "items"])]
    pub async fn tenant_item(&self, id: u64) -> String {
        self.bump();
        format!("{}-{id}", self.tenant)
    }

    #[cached(key = "profile:{id}", cache = self.cache, tags = ["profiles"], ttl = "short")]
    pub async fn profile(&self, id: u64) -> usize {
        self.bump()
    }

    #[cached(key = "post:{id}:{page}", cache = self.cache)]
    pub async fn posts(&self, id: u64, page: u32) -> usize {
        self.bump()
    }

    #[cache_invalidate(keys = ["user:{id}"], tags = ["profiles"], patterns = ["post:{id}:*"], cache = self.cache)]
    pub async fn update_user(&self, id: u64, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("update failed".into())
        }
    }

    #[cache_invalidate(tags = ["tenant:{self.tenant}"], cache = self.cache)]
    pub async fn reset_tenant(&self) {}

    #[cached(key = "stale:{id}", ttl = Duration::from_millis(300), stale = "1h", cache = self.cache)]
    pub async fn refreshed(&self, id: u64) -> usize {
        let n = self.bump();
        if n > 1 {
            // The refresh: announce it, then wait to be let through.
            self.entered.notify_one();
            let _permit = self.gate.acquire().await;
        }
        n
    }

    /// The refresh runs in a spawned task: the body must be `'static`, hence `Arc<Self>`.
    #[cached(key = "bg:{id}", ttl = Duration::from_millis(300), stale = "1h", background = true, cache = self.cache)]
    pub async fn refreshed_in_background(self: Arc<Self>, id: u64) -> usize {
        let n = self.bump();
        if n > 1 {
            self.entered.notify_one();
            let _permit = self.gate.acquire().await;
        }
        n
    }

    #[cached(key = "hot:{id}", cache = self.cache)]
    pub async fn hot(&self, id: u64) -> usize {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.bump()
    }

    #[cached(key = "nolock:{id}", cache = self.cache, lock = false)]
    pub async fn unlocked(&self, id: u64, barrier: &tokio::sync::Barrier) -> usize {
        barrier.wait().await;
        self.bump()
    }

    #[cached(key = "{name}", cache = self.cache)]
    pub async fn by_name(&self, name: &str) -> usize {
        let _ = name;
        self.bump()
    }

    #[cached(cache = self.cache)]
    pub async fn odd_args(&self, map: HashMap<(u8, u8), u8>) -> usize {
        let _ = map;
        self.bump()
    }

    #[cached(key = "typed:{id}", cache = self.cache)]
    pub async fn typed(&self, id: u64) -> u64 {
        self.bump();
        id
    }
}

pub async fn hit_then_miss_per_argument(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert_eq!(svc.user(1).await, "user-1");
    assert_eq!(svc.user(1).await, "user-1");
    assert_eq!(svc.calls(), 1, "the second call must be a hit");
    assert_eq!(svc.user(2).await, "user-2");
    assert_eq!(svc.calls(), 2, "another argument is another key");
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.sets), (1, 2, 2), "{s:?}");
    assert_eq!(
        cache.get::<String>("user:1").await.unwrap().as_deref(),
        Some("user-1")
    );
}

pub async fn ttl_expires_and_is_set_on_the_store(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert_eq!(svc.short_lived(1).await, 1);
    assert_eq!(svc.short_lived(1).await, 1);
    match cache.ttl("short:1").await.unwrap() {
        KeyTtl::Expires(d) => assert!(d <= Duration::from_millis(300), "{d:?}"),
        other => panic!("expected a TTL on short:1, got {other:?}"),
    }
    assert!(matches!(
        cache.ttl("user:9").await.unwrap(),
        KeyTtl::Missing
    ));
    svc.user(9).await;
    assert!(
        matches!(cache.ttl("user:9").await.unwrap(), KeyTtl::Expires(d) if d <= Duration::from_secs(60))
    );
    // Wait well past the TTL (no timing is asserted, only that the entry went).
    for _ in 0..100 {
        if !cache.exists("short:1").await.unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        svc.short_lived(1).await,
        3,
        "after the TTL the body runs again (call 2 was user(9))"
    );
}

pub async fn result_stores_ok_only(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert_eq!(svc.fallible(1, true).await, Err("failed 1".into()));
    assert!(
        !cache.exists("res:1").await.unwrap(),
        "an Err is never stored"
    );
    assert_eq!(svc.fallible(1, false).await, Ok(2));
    assert_eq!(
        svc.fallible(1, true).await,
        Ok(2),
        "the stored Ok is served"
    );
    assert_eq!(svc.calls(), 2);
}

pub async fn option_stores_some_only(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert_eq!(svc.maybe(1, false).await, None);
    assert_eq!(svc.maybe(1, false).await, None);
    assert_eq!(svc.calls(), 2, "None is not stored");
    assert_eq!(svc.maybe(1, true).await, Some(3));
    assert_eq!(svc.maybe(1, false).await, Some(3));
    assert_eq!(svc.calls(), 3);
}

pub async fn condition_false_bypasses_the_cache(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert_eq!(svc.conditional(0).await, 1);
    assert_eq!(svc.conditional(0).await, 2, "condition false: no read");
    assert!(
        !cache.exists("cond:0").await.unwrap(),
        "condition false: no write"
    );
    assert_eq!(svc.conditional(5).await, 3);
    assert_eq!(svc.conditional(5).await, 3);
    assert_eq!(
        cache.stats().misses,
        1,
        "bypassed calls do not touch the cache"
    );
}

pub async fn unless_skips_storing(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert!(svc.list(0).await.is_empty());
    assert!(
        !cache.exists("unless:0").await.unwrap(),
        "unless matched: not stored"
    );
    svc.list(0).await;
    assert_eq!(svc.calls(), 2);
    assert_eq!(svc.list(3).await, vec![0, 1, 2]);
    assert_eq!(svc.list(3).await, vec![0, 1, 2]);
    assert_eq!(svc.calls(), 3);
}

pub async fn default_key_is_path_and_digest_of_arguments(cache: Cache) {
    let svc = Svc::new(cache.clone());
    let f = || vec!["a".to_string()];
    assert_eq!(svc.search("rust", 1, f()).await, 1);
    assert_eq!(svc.search("rust", 1, f()).await, 1);
    assert_eq!(svc.search("rust", 2, f()).await, 2);
    assert_eq!(svc.search("rust", 1, vec![]).await, 3);
    // ("ab", 1) and ("a", "b1")-style run-ons must not collide: page is part of the digest.
    assert_eq!(svc.search("rust1", 1, f()).await, 4);
    let keys = cache.keys("*").await.unwrap();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in &keys {
        assert!(k.contains("Svc::search:"), "{k}");
        let digest = k.rsplit(':').next().unwrap();
        assert_eq!(digest.len(), 32, "{k}");
    }
}

pub async fn tags_and_ttl_presets_reach_the_store(cache: Cache) {
    let svc = Svc::new(cache.clone());
    assert_eq!(svc.tenant_item(1).await, "acme-1");
    svc.tenant_item(1).await;
    assert_eq!(svc.calls(), 1);
    let ttl = cache
        .ttl("tenant:acme:1")
        .await
        .unwrap()
        .remaining()
        .unwrap();
    assert!(
        ttl > cache.short_ttl() && ttl <= cache.long_ttl(),
        "{ttl:?}"
    );
    svc.profile(1).await;
    let ttl = cache.ttl("profile:1").await.unwrap().remaining().unwrap();
    assert!(ttl <= cache.short_ttl(), "{ttl:?}");
    assert_eq!(cache.invalidate_tags(["items"]).await.unwrap(), 1);
    svc.tenant_item(1).await;
    assert_eq!(svc.calls(), 3);
    svc.reset_tenant().await;
    assert!(
        !cache.exists("tenant:acme:1").await.unwrap(),
        "tag template rendered with self.tenant"
    );
}

pub async fn invalidation_by_key_tag_and_pattern_across_functions(cache: Cache) {
    let svc = Svc::new(cache.clone());
    svc.user(1).await;
    svc.user(2).await;
    svc.profile(1).await;
    svc.profile(2).await;
    svc.posts(1, 1).await;
    svc.posts(1, 2).await;
    svc.posts(11, 1).await;
    assert_eq!(svc.calls(), 7);
    svc.update_user(1, true).await.unwrap();
    assert!(!cache.exists("user:1").await.unwrap(), "key");
    assert!(cache.exists("user:2").await.unwrap(), "other keys stay");
    assert!(
        !cache.exists("profile:1").await.unwrap() && !cache.exists("profile:2").await.unwrap(),
        "tag"
    );
    assert!(
        !cache.exists("post:1:1").await.unwrap() && !cache.exists("post:1:2").await.unwrap(),
        "pattern"
    );
    assert!(
        cache.exists("post:11:1").await.unwrap(),
        "the pattern is post:1:*, not post:1*"
    );
    svc.user(1).await;
    assert_eq!(svc.calls(), 8, "the invalidated key is loaded again");
}

pub async fn invalidation_skipped_when_body_fails(cache: Cache) {
    let svc = Svc::new(cache.clone());
    svc.user(1).await;
    assert!(svc.update_user(1, false).await.is_err());
    assert!(
        cache.exists("user:1").await.unwrap(),
        "an Err leaves the cache alone"
    );
}

pub async fn stale_value_served_while_one_refresh_runs(cache: Cache) {
    let svc = Arc::new(Svc::new(cache.clone()));
    assert_eq!(svc.refreshed(1).await, 1);
    // Past the TTL, inside the stale window.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        cache.exists("stale:1").await.unwrap(),
        "kept for the stale window"
    );
    let refresher = tokio::spawn({
        let svc = Arc::clone(&svc);
        async move { svc.refreshed(1).await }
    });
    svc.entered.notified().await; // the refresh is running and held
    assert_eq!(
        svc.refreshed(1).await,
        1,
        "a caller during the refresh gets the stale value at once"
    );
    assert_eq!(svc.refreshed(1).await, 1);
    assert_eq!(svc.calls(), 2, "one refresh only");
    svc.gate.add_permits(1);
    assert_eq!(
        refresher.await.unwrap(),
        2,
        "the refreshing caller gets the new value"
    );
    assert_eq!(
        svc.refreshed(1).await,
        2,
        "the new value is served after the refresh"
    );
    assert_eq!(svc.calls(), 2);
}

pub async fn background_refresh_serves_the_stale_value_to_every_caller(cache: Cache) {
    let svc = Arc::new(Svc::new(cache.clone()));
    assert_eq!(Arc::clone(&svc).refreshed_in_background(1).await, 1);
    tokio::time::sleep(Duration::from_millis(600)).await; // past the TTL
                                                          // The refresh will block on the gate; the caller must not: the timeout turns a wait into a
                                                          // failure instead of a hang.
    let first = tokio::time::timeout(
        Duration::from_secs(30),
        Arc::clone(&svc).refreshed_in_background(1),
    );
    assert_eq!(
        first
            .await
            .expect("the caller that finds a stale value must not wait"),
        1
    );
    svc.entered.notified().await; // the background refresh is running
    assert_eq!(Arc::clone(&svc).refreshed_in_background(1).await, 1);
    assert_eq!(svc.calls(), 2, "one refresh, not one per caller");
    svc.gate.add_permits(1);
    let mut seen = 1;
    for _ in 0..200 {
        seen = Arc::clone(&svc).refreshed_in_background(1).await;
        if seen == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 2, "the refreshed value replaces the stale one");
    assert_eq!(svc.calls(), 2);
}

pub async fn thousand_concurrent_calls_run_the_body_once(cache: Cache) {
    let svc = Arc::new(Svc::new(cache.clone()));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let svc = Arc::clone(&svc);
            tokio::spawn(async move { svc.hot(42).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    assert_eq!(
        svc.calls(),
        1,
        "1,000 concurrent callers of one key ran the body once"
    );
}

pub async fn lock_false_lets_concurrent_callers_run_the_body(cache: Cache) {
    let svc = Arc::new(Svc::new(cache.clone()));
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    // With single-flight on, the second caller would wait for the first, which waits at the
    // barrier for the second: the timeout turns that into a failure instead of a hang.
    let run = |svc: Arc<Svc>, b: Arc<tokio::sync::Barrier>| {
        tokio::spawn(async move { svc.unlocked(1, &b).await })
    };
    let (a, b) = (
        run(svc.clone(), barrier.clone()),
        run(svc.clone(), barrier.clone()),
    );
    let both = tokio::time::timeout(Duration::from_secs(30), async {
        (a.await.unwrap(), b.await.unwrap())
    });
    let (a, b) = both
        .await
        .expect("lock = false must not make callers wait for each other");
    assert_ne!(a, b);
    assert_eq!(svc.calls(), 2);
}

pub async fn methods_key_on_self_fields(cache: Cache) {
    let mut svc = Svc::new(cache.clone());
    assert_eq!(svc.tenant_item(7).await, "acme-7");
    svc.tenant = "globex".into();
    assert_eq!(
        svc.tenant_item(7).await,
        "globex-7",
        "self.tenant is part of the key"
    );
    assert_eq!(svc.calls(), 2);
    assert!(
        cache.exists("tenant:acme:7").await.unwrap()
            && cache.exists("tenant:globex:7").await.unwrap()
    );
}

#[derive(Clone)]
pub struct AppState {
    pub cache: Cache,
    pub calls: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize)]
pub struct Lang {
    pub lang: String,
}

#[cached(key = "item:{id}:{q.lang}", ttl = "5m", cache = state.cache)]
pub async fn item_handler(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(q): Query<Lang>,
) -> Result<String, StatusCode> {
    state.calls.fetch_add(1, SeqCst);
    if id == 0 {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(format!("item {id} in {}", q.lang))
}

#[cache_invalidate(patterns = ["item:{id}:*"], cache = state.cache)]
pub async fn item_delete(State(state): State<AppState>, Path(id): Path<u64>) -> StatusCode {
    let _ = (state, id);
    StatusCode::NO_CONTENT
}

async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub async fn axum_handler_with_extractors_over_tcp(cache: Cache) {
    let state = AppState {
        cache: cache.clone(),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new()
        .route(
            "/items/{id}",
            axum::routing::get(item_handler).delete(item_delete),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(
        http(addr, "GET", "/items/7?lang=en").await,
        (200, "item 7 in en".into())
    );
    assert_eq!(
        http(addr, "GET", "/items/7?lang=en").await,
        (200, "item 7 in en".into())
    );
    assert_eq!(state.calls.load(SeqCst), 1, "the second request is a hit");
    assert_eq!(
        http(addr, "GET", "/items/7?lang=fr").await.1,
        "item 7 in fr"
    );
    assert_eq!(state.calls.load(SeqCst), 2, "the query is part of the key");
    assert_eq!(http(addr, "GET", "/items/0?lang=en").await.0, 404);
    assert_eq!(http(addr, "GET", "/items/0?lang=en").await.0, 404);
    assert_eq!(state.calls.load(SeqCst), 4, "errors are not cached");
    assert!(cache.exists("item:7:en").await.unwrap());
    assert_eq!(http(addr, "DELETE", "/items/7").await.0, 204);
    assert!(!cache.exists("item:7:en").await.unwrap() && !cache.exists("item:7:fr").await.unwrap());
    server.abort();
}

pub async fn cache_failures_fall_through_to_the_body(cache: Cache) {
    let svc = Svc::new(cache.clone());
    // An empty key is invalid: the body runs, the call succeeds, the error is counted.
    assert_eq!(svc.by_name("").await, 1);
    assert_eq!(svc.by_name("").await, 2);
    assert_eq!(cache.stats().errors, 2);
    // Arguments that do not serialize (JSON map keys must be strings): no key, body runs.
    let before = cache.stats().errors;
    let map = HashMap::from([((1, 2), 3)]);
    assert_eq!(svc.odd_args(map.clone()).await, 3);
    assert_eq!(svc.odd_args(map).await, 4);
    assert_eq!(
        cache.stats().errors,
        before + 2,
        "each fall-through is counted"
    );
    // A stored value of the wrong type is a miss, counted, and overwritten.
    cache.set("typed:5", "not a number").await.unwrap();
    assert_eq!(svc.typed(5).await, 5);
    assert_eq!(cache.stats().decode_errors, 1, "counted once");
    assert_eq!(svc.typed(5).await, 5);
    assert_eq!(svc.calls(), 5, "the overwritten value is then served");
}

pub async fn escaped_values_cannot_forge_keys(cache: Cache) {
    let svc = Svc::new(cache.clone());
    svc.posts(1, 2).await;
    // "post:{id}:{page}" with id rendered as "1:2" would collide without escaping; a name with
    // a glob character must not be matched by a pattern it was not meant for.
    svc.by_name("post:1:2").await;
    assert_eq!(svc.calls(), 2);
    assert!(cache.exists("post%3A1%3A2").await.unwrap());
    assert_eq!(
        cache.keys("post:*").await.unwrap(),
        vec!["post:1:2".to_string()]
    );
}
