//! `EtagLayer` over real TCP. Run with: cargo test -p cache-axum --test etag_memory

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use cache_axum::{EtagLayer, LayerCache, ResponseCacheLayer};
use cache_core::key::KeyBuf;
use cache_core::{Cache, SetOptions};

use support::{serve, serve_service, Client};

#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn bump(&self) {
        self.0.fetch_add(1, SeqCst);
    }
    fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

async fn doc(State(calls): State<Calls>) -> ([(&'static str, &'static str); 2], &'static str) {
    calls.bump();
    (
        [
            ("cache-control", "max-age=60"),
            ("content-type", "text/plain"),
        ],
        "hello etag",
    )
}

async fn put_doc(State(calls): State<Calls>) -> &'static str {
    calls.bump();
    "updated"
}

fn routes(calls: Calls) -> Router {
    Router::new()
        .route("/doc", get(doc).put(put_doc).delete(put_doc))
        .route(
            "/own",
            get(|| async { ([("etag", "W/\"custom\"")], "own") }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::iter(["a", "b"].map(Ok::<_, std::io::Error>));
                Body::from_stream(chunks)
            }),
        )
        .route("/big", get(|| async { "x".repeat(4096) }))
        .route(
            "/missing",
            get(|| async { (http::StatusCode::NOT_FOUND, "gone") }).put(|| async { "created" }),
        )
        .with_state(calls)
}

/// The EtagLayer around the whole router, as its docs recommend.
async fn start() -> (Client, Calls) {
    let calls = Calls::default();
    let svc = tower::Layer::layer(&EtagLayer::new().max_size(1024), routes(calls.clone()));
    (Client::new(serve_service(svc).await), calls)
}

/// The EtagLayer added with `EtagLayer::wrap`, as the README shows.
async fn start_wrapped() -> (Client, Calls) {
    let calls = Calls::default();
    let app = EtagLayer::new().max_size(1024).wrap(routes(calls.clone()));
    (Client::new(serve(app).await), calls)
}

/// The EtagLayer added with `Router::layer`, behind routing.
async fn start_routed() -> (Client, Calls) {
    let calls = Calls::default();
    let app = routes(calls.clone()).layer(EtagLayer::new().max_size(1024));
    (Client::new(serve(app).await), calls)
}

#[tokio::test]
async fn behind_routing_etags_work_and_unsafe_handlers_run_once() {
    let (c, calls) = start_routed().await;
    let etag = c.get("/doc").await.h("etag").expect("etag").to_owned();
    assert_eq!(
        c.get_with("/doc", &[("if-none-match", &etag)]).await.status,
        304
    );
    let before = calls.get();
    let r = c.send("PUT", "/doc", &[("if-match", "\"whatever\"")]).await;
    // No way to see the current representation from here: the precondition passes through,
    // and the PUT handler runs exactly once (never as a probe).
    assert_eq!((r.status, r.text().as_str()), (200, "updated"));
    assert_eq!(calls.get(), before + 1);
}

#[tokio::test]
async fn etag_is_added_and_a_match_gets_304_with_the_required_headers() {
    let (c, calls) = start().await;
    let r = c.get("/doc").await;
    let etag = r.h("etag").expect("etag").to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    assert_eq!(
        c.get("/doc").await.h("etag"),
        Some(etag.as_str()),
        "stable for the same body"
    );
    let nm = c.get_with("/doc", &[("if-none-match", &etag)]).await;
    assert_eq!(nm.status, 304);
    assert!(nm.body.is_empty());
    assert_eq!(nm.h("etag"), Some(etag.as_str()));
    assert_eq!(nm.h("cache-control"), Some("max-age=60"));
    assert_eq!(nm.h("content-type"), None);
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn mismatch_gets_200() {
    let (c, _) = start().await;
    let r = c.get_with("/doc", &[("if-none-match", "\"nope\"")]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "hello etag"));
}

#[tokio::test]
async fn weak_comparison_lists_and_star_match() {
    let (c, _) = start().await;
    let etag = c.get("/doc").await.h("etag").unwrap().to_owned();
    let weak = format!("W/{etag}");
    assert_eq!(
        c.get_with("/doc", &[("if-none-match", &weak)]).await.status,
        304
    );
    let list = format!("\"a\", {weak}, \"b\"");
    assert_eq!(
        c.get_with("/doc", &[("if-none-match", &list)]).await.status,
        304
    );
    assert_eq!(
        c.get_with("/doc", &[("if-none-match", "*")]).await.status,
        304
    );
    assert_eq!(
        c.get_with("/doc", &[("if-none-match", "garbage")])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn failed_if_match_is_412_and_the_handler_does_not_run() {
    failed_if_match(start().await).await;
}

#[tokio::test]
async fn wrapped_failed_if_match_is_412_and_the_handler_does_not_run() {
    failed_if_match(start_wrapped().await).await;
}

async fn failed_if_match((c, calls): (Client, Calls)) {
    let r = c.send("PUT", "/doc", &[("if-match", "\"stale\"")]).await;
    assert_eq!(r.status, 412);
    // The precondition probe is a GET; the PUT handler never ran.
    assert_eq!(
        c.send("PUT", "/doc", &[("if-match", "garbage")])
            .await
            .status,
        412
    );
    let etag = c.get("/doc").await.h("etag").unwrap().to_owned();
    let before = calls.get();
    let weak = format!("W/{etag}");
    assert_eq!(
        c.send("PUT", "/doc", &[("if-match", &weak)]).await.status,
        412,
        "If-Match compares strongly"
    );
    let ok = c.send("PUT", "/doc", &[("if-match", &etag)]).await;
    assert_eq!((ok.status, ok.text().as_str()), (200, "updated"));
    assert_eq!(calls.get(), before + 3, "two probes and one PUT");
}

#[tokio::test]
async fn if_match_star_needs_a_current_representation() {
    if_match_star((start().await).0).await;
}

#[tokio::test]
async fn wrapped_if_match_star_needs_a_current_representation() {
    if_match_star((start_wrapped().await).0).await;
}

async fn if_match_star(c: Client) {
    assert_eq!(
        c.send("PUT", "/missing", &[("if-match", "*")]).await.status,
        412
    );
    assert_eq!(
        c.send("PUT", "/doc", &[("if-match", "*")]).await.status,
        200
    );
    assert_eq!(
        c.send("PUT", "/doc", &[("if-none-match", "*")])
            .await
            .status,
        412
    );
    assert_eq!(
        c.send("PUT", "/missing", &[("if-none-match", "*")])
            .await
            .text(),
        "created"
    );
}

#[tokio::test]
async fn handler_etag_is_respected() {
    let (c, _) = start().await;
    assert_eq!(c.get("/own").await.h("etag"), Some("W/\"custom\""));
    assert_eq!(
        c.get_with("/own", &[("if-none-match", "\"custom\"")])
            .await
            .status,
        304
    );
}

#[tokio::test]
async fn streaming_and_oversized_bodies_pass_through_untouched() {
    let (c, _) = start().await;
    let s = c.get("/stream").await;
    assert_eq!((s.text().as_str(), s.h("etag")), ("ab", None));
    let b = c.get("/big").await;
    assert_eq!((b.body.len(), b.h("etag")), (4096, None));
}

#[tokio::test]
async fn cache_hit_uses_the_stored_etag() {
    let calls = Calls::default();
    let cache = Cache::memory();
    let app = Router::new()
        .route("/doc", get(doc))
        .layer(EtagLayer::new())
        .layer(ResponseCacheLayer::new(cache))
        .with_state(calls.clone());
    let c = Client::new(serve(app).await);
    let first = c.get("/doc").await;
    let etag = first.h("etag").unwrap().to_owned();
    let hit = c.get("/doc").await;
    assert_eq!(
        (hit.h("x-cache"), hit.h("etag")),
        (Some("HIT"), Some(etag.as_str()))
    );
    let nm = c.get_with("/doc", &[("if-none-match", &etag)]).await;
    assert_eq!((nm.status, nm.h("x-cache")), (304, Some("HIT")));
    // The EtagLayer (inside the cache) ran once: on the miss.
    assert_eq!(calls.get(), 1);
}

async fn user(
    Path(id): Path<u64>,
    LayerCache(cache): LayerCache,
    State(calls): State<Calls>,
) -> String {
    calls.bump();
    let key = KeyBuf::new().lit("user:").arg(&id).finish();
    let opts = SetOptions::new().tag("users");
    let name: String = cache
        .get_or_set(&key, opts, || async move { format!("user {id}") })
        .await;
    name
}

#[tokio::test]
async fn validator_mode_answers_304_without_running_the_handler() {
    let calls = Calls::default();
    let cache = Cache::memory();
    let app = Router::new()
        .route("/users/{id}", get(user))
        .layer(EtagLayer::new().validator(cache.clone(), |req| {
            let id = req.uri.path().strip_prefix("/users/")?;
            Some(KeyBuf::new().lit("user:").arg(id).finish())
        }))
        .with_state(calls.clone());
    let c = Client::new(serve(app).await);

    let first = c.get("/users/7").await;
    let etag = first.h("etag").expect("etag").to_owned();
    assert_eq!(first.text(), "user 7");
    let nm = c.get_with("/users/7", &[("if-none-match", &etag)]).await;
    assert_eq!((nm.status, nm.h("etag")), (304, Some(etag.as_str())));
    assert_eq!(calls.get(), 1, "the 304 came from the stamp alone");

    // Invalidating the key's tag changes the ETag: the handler runs and stamps anew.
    cache.invalidate_tags(["users"]).await.unwrap();
    cache
        .set_with(
            "user:7",
            &"user 7 (renamed)",
            SetOptions::new().tag("users"),
        )
        .await
        .unwrap();
    let r = c.get_with("/users/7", &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 200);
    let etag2 = r.h("etag").unwrap().to_owned();
    assert_ne!(etag2, etag);
    assert_eq!(calls.get(), 2);

    // Deleting the key has the same effect.
    cache.delete("user:7").await.unwrap();
    assert_eq!(
        c.get_with("/users/7", &[("if-none-match", &etag2)])
            .await
            .status,
        200
    );
    assert_eq!(calls.get(), 3);
}
