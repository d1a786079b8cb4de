//! Resetting the stats over HTTP: `POST /stats/reset` on the dashboard router and `POST /reset`
//! on `Dashboard::stats_router` (nested at `/cache/stats`), behind the dashboard token, over
//! real TCP. One test: per-function counts are process-wide, so the scenarios run in turn.
//! Run with: cargo test -p cache-axum --test stats_reset_memory

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_axum::observe::{HttpStats, StatsLayer};
use cache_axum::{Dashboard, ResponseCacheLayer};
use cache_core::{cached, Cache};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

const TOKEN: &str = "s3cret";

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

async fn report(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = send(addr, "GET", path, &[], "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[cached(key = "reset:item:{id}", cache = cache)]
async fn item(cache: &Cache, id: u64) -> String {
    format!("item {id}")
}

/// A cached route counted by `StatsLayer`, the dashboard at `/cache/dashboard` and the stats
/// router at `/cache/stats`, all over the same cache and route registry.
fn app(cache: &Cache, http: &HttpStats, token: Option<&str>) -> Router {
    let c = cache.clone();
    let dashboard = Dashboard::new(cache.clone())
        .token(token)
        .http_stats(http.clone());
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
        .nest("/cache/dashboard", dashboard.clone().router())
        .nest("/cache/stats", dashboard.stats_router())
}

fn function<'a>(report: &'a Value, suffix: &str) -> &'a Value {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no function {suffix} in {report}"))
}

/// Makes traffic: one miss and two hits on the route; the function ran once.
async fn traffic(addr: SocketAddr) {
    for _ in 0..3 {
        assert_eq!(send(addr, "GET", "/items/1", &[], "").await.0, 200);
    }
}

#[tokio::test]
async fn reset_zeroes_the_counts_behind_the_token() {
    let cache = Cache::memory();
    let http = HttpStats::new();
    let addr = serve(app(&cache, &http, Some(TOKEN))).await;
    traffic(addr).await;
    let json = [("content-type", "application/json")];

    let r = report(addr, "/cache/stats").await;
    assert_eq!(r["routes"][0]["route"], "/items/{id}");
    assert_eq!(
        (
            r["routes"][0]["hit"].as_u64(),
            r["routes"][0]["miss"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(function(&r, "::item")["misses"].as_u64(), Some(1));
    assert!(r["cache"]["misses"].as_u64().unwrap() >= 1, "{r}");

    // No token, a wrong one, a bad body: refused, and nothing is reset.
    for (path, headers, body, status, says) in [
        (
            "/cache/dashboard/stats/reset",
            &json[..],
            "{}",
            401,
            "missing token",
        ),
        (
            "/cache/dashboard/stats/reset",
            &json[..],
            "",
            401,
            "missing token",
        ),
        ("/cache/stats/reset", &[][..], "", 401, "missing token"),
        (
            "/cache/dashboard/stats/reset",
            &json[..],
            r#"{"token":"nope"}"#,
            403,
            "wrong token",
        ),
        (
            "/cache/stats/reset",
            &[("authorization", "Bearer nope")][..],
            "",
            403,
            "wrong token",
        ),
        (
            "/cache/stats/reset",
            &json[..],
            "{not json",
            400,
            "expected a form or JSON body",
        ),
    ] {
        let (got, text) = send(addr, "POST", path, headers, body).await;
        assert_eq!(got, status, "{path} {body}: {text}");
        assert!(text.contains(says), "{path} {body}: {text}");
    }
    let r = report(addr, "/cache/dashboard/stats").await;
    assert_eq!(r["routes"][0]["total"].as_u64(), Some(3), "{r}");
    assert_eq!(function(&r, "::item")["misses"].as_u64(), Some(1));
    assert!(cache.stats().misses >= 1);

    // The dashboard's reset, with the token in a JSON body.
    let (status, body) = send(
        addr,
        "POST",
        "/cache/dashboard/stats/reset",
        &json,
        &format!(r#"{{"token":"{TOKEN}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["reset"], true);
    let r = report(addr, "/cache/stats").await;
    let route = &r["routes"][0];
    assert_eq!(route["route"], "/items/{id}", "the route stays listed");
    for field in [
        "hit",
        "miss",
        "stale",
        "bypass",
        "revalidated",
        "none",
        "total",
    ] {
        assert_eq!(route[field].as_u64(), Some(0), "{field}: {r}");
    }
    let f = function(&r, "::item");
    assert_eq!(
        (f["hits"].as_u64(), f["misses"].as_u64()),
        (Some(0), Some(0))
    );
    for field in ["hits", "misses", "sets", "deletes", "errors"] {
        assert_eq!(r["cache"][field].as_u64(), Some(0), "{field}: {r}");
    }
    assert_eq!(r["hit_ratio"].as_f64(), Some(0.0));
    assert!(cache.exists("reset:item:1").await.unwrap(), "entries stay");

    // Counting goes on from zero; the stats router's reset takes a bearer token, or a form.
    traffic(addr).await;
    let r = report(addr, "/cache/stats").await;
    assert_eq!(r["routes"][0]["hit"].as_u64(), Some(3), "{r}");
    assert_eq!(function(&r, "::item")["misses"].as_u64(), Some(0));
    let bearer = [("authorization", "Bearer s3cret")];
    let (status, body) = send(addr, "POST", "/cache/stats/reset", &bearer, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        report(addr, "/cache/stats").await["routes"][0]["total"].as_u64(),
        Some(0)
    );
    traffic(addr).await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let (status, body) = send(addr, "POST", "/cache/stats/reset", &form, "token=s3cret").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(http.routes()[0].total, 0);

    // Without a configured token, resetting is disabled.
    let cache = Cache::memory();
    let addr = serve(app(&cache, &HttpStats::new(), None)).await;
    traffic(addr).await;
    let before = cache.stats();
    assert!(before.misses > 0, "{before:?}");
    for path in ["/cache/dashboard/stats/reset", "/cache/stats/reset"] {
        let (status, body) = send(addr, "POST", path, &json, r#"{"token":"anything"}"#).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("resetting stats is disabled"), "{body}");
    }
    assert_eq!(cache.stats(), before, "nothing was reset");
}
