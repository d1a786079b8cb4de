//! Responses that are never fresh, behind the README's layering (`EtagLayer` inside
//! `ResponseCacheLayer`, and `StatsLayer` outside as in the demo): what each request costs the
//! store, and that every response stays correct. Each scenario takes the `Cache` and a count of
//! the writes its store received, so the same list runs on every store.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use cache_axum::observe::{HttpStats, RouteStats, StatsLayer};
use cache_axum::{CacheOptions, EtagLayer, ResponseCacheLayer};
use cache_core::Cache;
use http::{HeaderMap, HeaderValue};

use crate::support::{serve, Client, Resp};

/// The number of writes the store has received so far (values set, keys deleted, scripts run).
pub type Writes = Box<dyn Fn() -> u64 + Send + Sync>;

/// Runs every scenario against what `$make` builds: an async fn returning
/// `(guard, Cache, Writes)`, where the guard (a Redis server, say) lives as long as the test.
#[macro_export]
macro_rules! never_fresh_scenarios {
    ($make:path) => {
        $crate::never_fresh_scenarios!(@ $make;
            a_route_without_freshness_is_never_written,
            a_no_cache_route_is_written_once_and_again_only_when_it_changes,
            max_age_zero_with_a_validator_is_stored_and_revalidated_without_rewrites,
            an_expires_in_the_past_is_not_stored_even_with_a_validator,
            a_skipped_rewrite_keeps_the_entrys_tags,
            a_rewrite_after_revalidation_keeps_the_entrys_tags,
        );
    };
    (@ $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, cache, writes) = $make().await;
                $crate::never_fresh::$name(cache, writes).await;
            }
        )*
    };
}

/// One route, `/page`, answered by a handler that counts its calls and serves the current body
/// with the given response fields, behind `EtagLayer`, `ResponseCacheLayer` and `StatsLayer`.
pub struct App {
    pub client: Client,
    pub cache: Cache,
    pub calls: Arc<AtomicUsize>,
    pub body: Arc<Mutex<String>>,
    pub stats: HttpStats,
}

impl App {
    pub async fn new(cache: Cache, fields: &[(&'static str, &'static str)]) -> Self {
        Self::tagged(cache, fields, None).await
    }

    /// [`App::new`] whose responses carry the tag `tag` (a [`CacheOptions`]).
    pub async fn tagged(
        cache: Cache,
        fields: &[(&'static str, &'static str)],
        tag: Option<&'static str>,
    ) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new("version 1".to_owned()));
        let stats = HttpStats::new();
        let mut headers = HeaderMap::new();
        for (n, v) in fields {
            headers.append(*n, HeaderValue::from_static(v));
        }
        let handler = {
            let (calls, body) = (Arc::clone(&calls), Arc::clone(&body));
            move || {
                calls.fetch_add(1, SeqCst);
                let text = body.lock().unwrap().clone();
                let opts = tag.map_or_else(CacheOptions::new, |t| CacheOptions::new().tag(t));
                let headers = headers.clone();
                async move { (opts, headers, text) }
            }
        };
        let app = Router::new()
            .route("/page", get(handler))
            .layer(EtagLayer::new())
            .layer(ResponseCacheLayer::new(cache.clone()))
            .layer(StatsLayer::with_stats(stats.clone()));
        let addr = serve(app).await;
        App {
            client: Client::new(addr),
            cache,
            calls,
            body,
            stats,
        }
    }

    pub async fn get(&self) -> Resp {
        self.client.get("/page").await
    }

    pub fn calls(&self) -> usize {
        self.calls.load(SeqCst)
    }

    pub fn set_body(&self, text: &str) {
        *self.body.lock().unwrap() = text.to_owned();
    }

    /// Waits for any store write in flight for `/page` to land: a request with
    /// `only-if-cached` waits for the write its key's flight holds, then (nothing fresh being
    /// stored) is answered 504 without calling the handler. A network store writes behind the
    /// response; after this, every write of the requests before it is counted.
    /// Waits until the store holds a fresh copy (written behind the response on some stores):
    /// `only-if-cached` is answered from the cache, without the handler.
    pub async fn until_fresh_in_store(&self) {
        let calls = self.calls();
        for _ in 0..100 {
            let r = self
                .client
                .get_with("/page", &[("cache-control", "only-if-cached")])
                .await;
            if r.status == 200 {
                assert_eq!(self.calls(), calls, "only-if-cached reached the handler");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no fresh copy reached the store within 2 s");
    }

    pub async fn settle(&self) {
        let calls = self.calls();
        let r = self
            .client
            .get_with("/page", &[("cache-control", "only-if-cached")])
            .await;
        assert_eq!((r.status, r.x_cache()), (504, "MISS"));
        assert_eq!(self.calls(), calls, "only-if-cached reached the handler");
    }

    /// The per-route counts `StatsLayer` keeps for `/page`.
    pub fn route(&self) -> RouteStats {
        let routes = self.stats.routes();
        routes
            .into_iter()
            .find(|r| r.route == "/page")
            .expect("StatsLayer counted /page")
    }
}

/// The case: a route with no `Cache-Control` behind `EtagLayer` gets an ETag, but no
/// freshness, so a stored copy could only be revalidated, which runs the handler anyway: it is
/// not stored at all. Every response is still right, and the cache still answers the client's
/// `If-None-Match` with a 304.
pub async fn a_route_without_freshness_is_never_written(cache: Cache, writes: Writes) {
    let app = App::new(cache.clone(), &[]).await;
    let (before, stats) = (writes(), cache.stats());
    let first = app.get().await;
    assert_eq!((first.status, first.x_cache()), (200, "MISS"));
    assert_eq!(first.text(), "version 1");
    let etag = first.h("etag").expect("EtagLayer's ETag").to_owned();
    for n in 2..=10 {
        let r = app.get().await;
        assert_eq!(
            (r.status, r.x_cache(), r.text().as_str(), r.h("etag")),
            (200, "MISS", "version 1", Some(etag.as_str())),
            "request {n}"
        );
    }
    let r = app
        .client
        .get_with("/page", &[("if-none-match", &etag)])
        .await;
    assert_eq!(
        (r.status, r.x_cache(), r.h("etag")),
        (304, "MISS", Some(etag.as_str()))
    );
    assert!(r.body.is_empty());
    assert_eq!(app.calls(), 11, "every request ran the handler");
    app.settle().await;
    assert_eq!(
        writes() - before,
        0,
        "a never-fresh response was written to the store"
    );
    // What the counters say about such a route: each request is a lookup that misses, nothing
    // is set, and the route's HTTP outcomes are all MISS (the 504 of `settle` included).
    let now = cache.stats();
    assert_eq!(now.sets - stats.sets, 0, "{now:?}");
    assert_eq!(now.hits - stats.hits, 0, "{now:?}");
    assert_eq!(now.misses - stats.misses, 12, "one per request: {now:?}");
    let route = app.route();
    assert_eq!(
        (route.miss, route.revalidated, route.hit, route.total),
        (12, 0, 0, 12)
    );
}

/// `no-cache` with a validator: the origin asked for revalidation, so the response is stored
/// once; each later request is revalidated (the handler runs behind `EtagLayer`, which answers
/// 304) and answered from the stored body, with no further write. When the handler's content
/// changes, the next request gets the new body and the entry is replaced: one write.
pub async fn a_no_cache_route_is_written_once_and_again_only_when_it_changes(
    cache: Cache,
    writes: Writes,
) {
    let app = App::new(cache.clone(), &[("cache-control", "no-cache")]).await;
    let before = writes();
    let first = app.get().await;
    assert_eq!(
        (first.status, first.x_cache(), first.text().as_str()),
        (200, "MISS", "version 1")
    );
    let etag = first.h("etag").expect("EtagLayer's ETag").to_owned();
    app.settle().await;
    assert_eq!(writes() - before, 1, "stored once");
    let stats = cache.stats();
    for n in 2..=11 {
        let r = app.get().await;
        assert_eq!(
            (r.status, r.x_cache(), r.text().as_str(), r.h("etag")),
            (200, "REVALIDATED", "version 1", Some(etag.as_str())),
            "request {n}"
        );
        assert_eq!(r.h("cache-control"), Some("no-cache"));
        assert!(
            r.age() < 5,
            "Age of a response just revalidated: {}",
            r.age()
        );
    }
    // The client's own validator is answered 304 after the revalidation.
    let r = app
        .client
        .get_with("/page", &[("if-none-match", &etag)])
        .await;
    assert_eq!(
        (r.status, r.x_cache(), r.h("etag")),
        (304, "REVALIDATED", Some(etag.as_str()))
    );
    assert_eq!(app.calls(), 12);
    app.settle().await;
    assert_eq!(
        writes() - before,
        1,
        "a 304 that changed nothing was written again"
    );
    let now = cache.stats();
    // Each revalidation looked the stored copy up (a store hit: 11, and the lookup of
    // `settle`) and wrote nothing.
    assert_eq!(now.sets - stats.sets, 0, "{now:?}");
    assert_eq!(
        (now.hits - stats.hits, now.misses - stats.misses),
        (12, 0),
        "{now:?}"
    );
    let route = app.route();
    // MISS: the first request and the two 504s of `settle`.
    assert_eq!((route.revalidated, route.miss, route.hit), (11, 3, 0));

    app.set_body("version 2");
    let changed = app.get().await;
    assert_eq!(
        (changed.status, changed.x_cache(), changed.text().as_str()),
        (200, "MISS", "version 2")
    );
    let etag2 = changed.h("etag").expect("ETag").to_owned();
    assert_ne!(etag2, etag);
    app.settle().await;
    assert_eq!(
        writes() - before,
        2,
        "the changed response replaces the entry: one write"
    );
    for _ in 0..3 {
        let r = app.get().await;
        assert_eq!(
            (r.x_cache(), r.text().as_str(), r.h("etag")),
            ("REVALIDATED", "version 2", Some(etag2.as_str()))
        );
    }
    app.settle().await;
    assert_eq!(writes() - before, 2);
}

/// `max-age=0` with a validator asks for revalidation too: stored once, then revalidated
/// without rewrites (here the validator is the handler's own `ETag`).
pub async fn max_age_zero_with_a_validator_is_stored_and_revalidated_without_rewrites(
    cache: Cache,
    writes: Writes,
) {
    let app = App::new(
        cache,
        &[("cache-control", "public, max-age=0"), ("etag", "\"own\"")],
    )
    .await;
    let before = writes();
    assert_eq!(app.get().await.x_cache(), "MISS");
    for _ in 0..5 {
        let r = app.get().await;
        assert_eq!(
            (r.status, r.x_cache(), r.text().as_str(), r.h("etag")),
            (200, "REVALIDATED", "version 1", Some("\"own\""))
        );
    }
    app.settle().await;
    assert_eq!(writes() - before, 1);
    assert_eq!(app.calls(), 6);
    // The stored copy is now 2 s old. A revalidated response is served from the copy the 304
    // refreshed, aged from that 304 (RFC 9111 §4.2.3), although the store still holds the old
    // one; a client accepting stale responses gets the stored copy, with an age that is never
    // understated.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = app.get().await;
    assert_eq!(
        (r.x_cache(), r.text().as_str()),
        ("REVALIDATED", "version 1")
    );
    assert!(
        r.age() < 2,
        "aged from the stored copy, not the 304: {}",
        r.age()
    );
    let r = app
        .client
        .get_with("/page", &[("cache-control", "max-stale")])
        .await;
    assert_eq!((r.x_cache(), r.text().as_str()), ("STALE", "version 1"));
    assert!(r.age() >= 2, "age understated: {}", r.age());
    app.settle().await;
    assert_eq!(writes() - before, 1);
}

/// A lifetime of zero that is not a request for revalidation (an `Expires` in the past, the
/// way old frameworks say "do not cache") is not stored, validator or not.
pub async fn an_expires_in_the_past_is_not_stored_even_with_a_validator(
    cache: Cache,
    writes: Writes,
) {
    let app = App::new(cache, &[("expires", "Thu, 01 Jan 1970 00:00:00 GMT")]).await;
    let before = writes();
    for _ in 0..5 {
        let r = app.get().await;
        assert_eq!(
            (r.status, r.x_cache(), r.text().as_str()),
            (200, "MISS", "version 1")
        );
        assert!(r.h("etag").is_some());
    }
    app.settle().await;
    assert_eq!(writes() - before, 0);
    assert_eq!(app.calls(), 5);
}

/// `EtagLayer`'s 304 carries no tags; a revalidation that writes nothing leaves the stored
/// entry, and its tags, as they were: purging the tag still drops it.
pub async fn a_skipped_rewrite_keeps_the_entrys_tags(cache: Cache, _writes: Writes) {
    let app = App::tagged(
        cache.clone(),
        &[("cache-control", "no-cache")],
        Some("pages"),
    )
    .await;
    assert_eq!(app.get().await.x_cache(), "MISS");
    for _ in 0..3 {
        assert_eq!(app.get().await.x_cache(), "REVALIDATED");
    }
    app.settle().await;
    cache.invalidate_tags(["pages"]).await.unwrap();
    let r = app.get().await;
    assert_eq!(
        (r.x_cache(), r.text().as_str()),
        ("MISS", "version 1"),
        "the purge by tag missed the revalidated entry"
    );
}

/// The contrast to [`a_skipped_rewrite_keeps_the_entrys_tags`]: a response with a lifetime is
/// rewritten when a 304 revalidates it, and the rewrite keeps the tags the handler gave (the
/// `EtagLayer`'s 304 carries the handler's `CacheOptions`), so a purge by tag still reaches it.
pub async fn a_rewrite_after_revalidation_keeps_the_entrys_tags(cache: Cache, _writes: Writes) {
    let app = App::tagged(
        cache.clone(),
        &[("cache-control", "max-age=1")],
        Some("pages"),
    )
    .await;
    assert_eq!(app.get().await.x_cache(), "MISS");
    app.until_fresh_in_store().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get().await.x_cache(), "REVALIDATED");
    app.until_fresh_in_store().await;
    cache.invalidate_tags(["pages"]).await.unwrap();
    let r = app.get().await;
    assert_eq!(
        (r.x_cache(), r.text().as_str()),
        ("MISS", "version 1"),
        "the purge by tag missed the entry rewritten by the revalidation"
    );
}
