//! Stats JSON, Prometheus text, per-route counts and the dashboard's purge endpoint, over real
//! TCP. Run with: cargo test -p cache-axum --test observe_memory

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_axum::observe::{HttpStats, StatsLayer};
use cache_axum::{Dashboard, ResponseCacheLayer};
use cache_core::{cached, Cache, SetOptions};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let res = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    send(addr, "GET", path, &[], "").await
}

#[cached(key = "observe:item:{id}", cache = cache, tags = ["items"])]
async fn item(cache: &Cache, id: u64) -> String {
    format!("item {id}")
}

/// An app with a cached route, `StatsLayer` outside the response cache, and the dashboard.
fn app(cache: &Cache, http: &HttpStats, token: Option<&str>) -> Router {
    let c = cache.clone();
    Router::new()
        .route(
            "/items/{id}",
            get(move |axum::extract::Path(id): axum::extract::Path<u64>| {
                let c = c.clone();
                async move { ([("cache-control", "max-age=60")], item(&c, id).await) }
            }),
        )
        .layer(ResponseCacheLayer::new(cache.clone()))
        .layer(StatsLayer::with_stats(http.clone()))
        .nest(
            "/cache",
            Dashboard::new(cache.clone())
                .token(token)
                .http_stats(http.clone())
                .router(),
        )
}

#[tokio::test]
async fn stats_json_reports_cache_routes_functions_and_invalidations() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(app(&cache, &http, None)).await;

    assert_eq!(get_text(addr, "/items/1").await.0, 200); // MISS
    assert_eq!(get_text(addr, "/items/1").await.0, 200); // HIT
    assert_eq!(get_text(addr, "/nope").await.0, 404); // counted as "other"
    cache.delete("gone").await.unwrap();

    let (status, body) = get_text(addr, "/cache/stats").await;
    assert_eq!(status, 200);
    let s: Value = serde_json::from_str(&body).unwrap();
    // The response cache's own read and write, and the function's.
    assert!(s["cache"]["hits"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["cache"]["entries"].as_u64().is_some(), "{s}");
    assert!(s["hit_ratio"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["tiers"], serde_json::json!([]));
    let routes = s["routes"].as_array().unwrap();
    let items = routes.iter().find(|r| r["route"] == "/items/{id}").unwrap();
    assert_eq!(
        (items["hit"].as_u64(), items["miss"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    let other = routes.iter().find(|r| r["route"] == "other").unwrap();
    assert_eq!(other["total"].as_u64(), Some(1), "{s}");
    // The dashboard's own requests are not counted: it is nested outside the layer.
    assert!(routes
        .iter()
        .all(|r| !r["route"].as_str().unwrap().starts_with("/cache")));
    let f = s["functions"].as_array().unwrap();
    let item_fn = f
        .iter()
        .find(|f| f["name"] == "observe_memory::item")
        .unwrap();
    // Function counts are process-wide: other tests call `item` too.
    assert!(item_fn["misses"].as_u64().unwrap() >= 1, "{s}");
    let inv = s["invalidations"].as_array().unwrap();
    assert_eq!(inv[0]["kind"], "key");
    assert_eq!(inv[0]["targets"][0], "gone");
}

#[tokio::test]
async fn metrics_text_has_cache_counters_and_route_counts() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(app(&cache, &http, None)).await;
    get_text(addr, "/items/7").await;
    get_text(addr, "/items/7").await;

    let (status, text) = get_text(addr, "/cache/metrics").await;
    assert_eq!(status, 200);
    let hits = cache.stats().hits;
    assert!(
        text.lines()
            .any(|l| l == format!("cache_hits_total {hits}")),
        "{text}"
    );
    assert!(text.contains("cache_entries "), "{text}");
    assert!(text.contains("cache_hit_ratio "), "{text}");
    assert!(
        text.contains("cache_http_responses_total{route=\"/items/{id}\",status=\"HIT\"}"),
        "{text}"
    );
    assert!(
        text.contains("cache_function_misses_total{function=\"observe_memory::item\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn purge_needs_the_right_token() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(app(&cache, &http, Some("s3cret"))).await;
    let json = [("content-type", "application/json")];
    cache
        .set_with("a", &1, SetOptions::new().tag("t"))
        .await
        .unwrap();
    cache
        .set_with("b", &2, SetOptions::new().tag("t"))
        .await
        .unwrap();

    let (status, body) = send(addr, "POST", "/cache/purge", &json, r#"{"tag":"t"}"#).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing token"), "{body}");

    let (status, body) = send(
        addr,
        "POST",
        "/cache/purge",
        &json,
        r#"{"tag":"t","token":"nope"}"#,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("wrong token"), "{body}");
    assert!(
        cache.exists("a").await.unwrap(),
        "a refused purge deletes nothing"
    );

    let (status, body) = send(addr, "POST", "/cache/purge", &json, "{not json").await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = send(
        addr,
        "POST",
        "/cache/purge",
        &json,
        r#"{"tag":"t","token":"s3cret"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["deleted"].as_u64(), Some(2));
    assert!(!cache.exists("a").await.unwrap());

    // A form body and a bearer token work too.
    cache
        .set_with("c", &3, SetOptions::new().tag("u"))
        .await
        .unwrap();
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", "Bearer s3cret"),
    ];
    let (status, body) = send(addr, "POST", "/cache/purge", &form, "tag=u").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"deleted\":1"), "{body}");
}

#[tokio::test]
async fn purge_is_disabled_without_a_token() {
    let cache = Cache::memory();
    cache
        .set_with("a", &1, SetOptions::new().tag("t"))
        .await
        .unwrap();
    let addr = serve(app(&cache, &HttpStats::new(), None)).await;
    let (status, body) = send(
        addr,
        "POST",
        "/cache/purge",
        &[("content-type", "application/json")],
        r#"{"tag":"t","token":"anything"}"#,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("purging is disabled"), "{body}");
    assert!(cache.exists("a").await.unwrap());
}

#[tokio::test]
async fn the_page_is_self_contained() {
    let cache = Cache::memory();
    let addr = serve(app(&cache, &HttpStats::new(), None)).await;
    let (status, html) = get_text(addr, "/cache").await;
    assert_eq!(status, 200);
    for id in [
        "hit-ratio",
        "chart",
        "purge-tag",
        "purge-token",
        "purge-submit",
        "purge-result",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    // No external assets.
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
}

/// An app with a route that is never fresh (no `Cache-Control`, an ETag from `EtagLayer`), a
/// fresh one, and a write that invalidates a tag of its own, as the README layers them.
fn ratio_app(cache: &Cache, http: &HttpStats) -> Router {
    let c = cache.clone();
    Router::new()
        .route("/never-fresh", get(|| async { "no freshness" }))
        .route(
            "/fresh",
            get(|| async { ([("cache-control", "max-age=60")], "fresh") }),
        )
        .route(
            "/users/{id}",
            get(|| async { ([("cache-control", "max-age=60")], "a user") }).put(
                move |axum::extract::Path(id): axum::extract::Path<u64>| {
                    let c = c.clone();
                    async move {
                        c.invalidate_tags([format!("users:{id}")]).await.unwrap();
                        "renamed"
                    }
                },
            ),
        )
        .layer(cache_axum::EtagLayer::new())
        .layer(ResponseCacheLayer::new(cache.clone()))
        .layer(StatsLayer::with_stats(http.clone()))
        .nest(
            "/cache",
            Dashboard::new(cache.clone())
                .http_stats(http.clone())
                .router(),
        )
}

async fn stats_of(addr: SocketAddr) -> Value {
    let (status, body) = get_text(addr, "/cache/stats").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn the_headline_is_the_http_ratio_zero_for_a_never_fresh_route() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(ratio_app(&cache, &http)).await;

    let s = stats_of(addr).await;
    assert_eq!(s["headline"]["basis"], "cache_lookups", "{s}");
    assert_eq!(s["headline"]["label"], "no requests yet", "{s}");

    for _ in 0..10 {
        let (status, body) = get_text(addr, "/never-fresh").await;
        assert_eq!((status, body.as_str()), (200, "no freshness"));
    }
    let s = stats_of(addr).await;
    assert_eq!(s["http"]["requests"], 10, "{s}");
    assert_eq!(s["http"]["answered"], 0, "{s}");
    assert_eq!(s["http"]["ratio"], 0.0, "{s}");
    assert_eq!(s["headline"]["basis"], "http", "{s}");
    assert_eq!(s["headline"]["ratio"], 0.0, "{s}");
    assert_eq!(
        s["headline"]["label"], "HTTP: 0 of 10 requests answered from the cache",
        "{s}"
    );
    // The lookup ratio stays in the JSON under its own name.
    assert!(s["hit_ratio"].as_f64().is_some(), "{s}");
}

#[tokio::test]
async fn the_headline_is_ninety_percent_for_a_fresh_route() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(ratio_app(&cache, &http)).await;
    for _ in 0..10 {
        assert_eq!(get_text(addr, "/fresh").await.0, 200);
    }
    // A write passes by the cache: reported, not counted.
    assert_eq!(send(addr, "PUT", "/users/1", &[], "").await.0, 200);
    let s = stats_of(addr).await;
    assert_eq!(
        (s["http"]["hit"].as_u64(), s["http"]["miss"].as_u64()),
        (Some(9), Some(1)),
        "{s}"
    );
    assert_eq!(s["http"]["bypassed"], 1, "{s}");
    assert_eq!(s["headline"]["ratio"], 0.9, "{s}");
    assert_eq!(
        s["headline"]["label"],
        "HTTP: 9 of 10 requests answered from the cache (1 more bypassed it and are not counted)",
        "{s}"
    );
    // The chart's line ends with the value now; the token is not set.
    let history = s["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["ratio"], 0.9, "{s}");
    assert_eq!(s["purge_enabled"], false, "{s}");
    assert!(s["now_ms"].as_u64().unwrap() > 0, "{s}");
}

#[tokio::test]
async fn a_write_lists_as_one_change_with_the_cached_responses_it_dropped() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(ratio_app(&cache, &http)).await;
    assert_eq!(get_text(addr, "/users/7").await.0, 200); // stored
    assert_eq!(send(addr, "PUT", "/users/7", &[], "").await.0, 200);

    let s = stats_of(addr).await;
    // One invalidation per call: the handler's tag, then the response cache's key and tag.
    let raw = s["invalidations"].as_array().unwrap();
    assert!(raw.len() >= 3, "{s}");
    assert!(raw.iter().any(|e| e["targets"][0] == "rc:/users/7"), "{s}");
    // One change: the handler's, with the response cache's folded in.
    let changes = s["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{s}");
    let c = &changes[0];
    assert_eq!(c["kind"], "tags", "{s}");
    assert_eq!(c["targets"], serde_json::json!(["users:7"]), "{s}");
    assert_eq!(c["folded"], 2, "{s}");
    assert_eq!(c["resources"], serde_json::json!(["/users/7"]), "{s}");
    assert_eq!(c["responses_deleted"], 1, "{s}");
    // The stored response went.
    let (_, _) = get_text(addr, "/users/7").await;
    let s = stats_of(addr).await;
    let users = s["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/users/{id}")
        .unwrap()
        .clone();
    assert_eq!(users["miss"], 2, "{s}");
}

#[tokio::test]
async fn without_a_token_the_page_disables_purge_and_reset_and_says_how_to_enable_them() {
    let cache = Cache::memory();
    let addr = serve(app(&cache, &HttpStats::new(), None)).await;
    let (_, html) = get_text(addr, "/cache").await;
    for id in ["purge-tag", "purge-token", "purge-submit", "reset-stats"] {
        let at = html.find(&format!("id=\"{id}\"")).unwrap();
        let tag_end = at + html[at..].find('>').unwrap();
        assert!(
            html[at..tag_end].contains(" disabled"),
            "#{id} is not disabled: {}",
            &html[at..tag_end]
        );
    }
    assert!(html.contains("set <code>CACHE_DASHBOARD_TOKEN</code> to enable"));

    let addr = serve(app(&cache, &HttpStats::new(), Some("s3cret"))).await;
    let (_, html) = get_text(addr, "/cache").await;
    assert!(
        !html.contains(" disabled"),
        "enabled page has disabled controls"
    );
    assert!(!html.contains("CACHE_DASHBOARD_TOKEN"));
    let s = stats_of(addr).await;
    assert_eq!(s["purge_enabled"], true, "{s}");
}
