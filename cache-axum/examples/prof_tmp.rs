use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_axum::ResponseCacheLayer;
use cache_core::Cache;
use std::time::Instant;
use tower::ServiceExt;
static BODY: [u8; 1024] = [b'x'; 1024];
async fn item() -> ([(&'static str, &'static str); 2], Bytes) {
    (
        [
            ("cache-control", "public, max-age=3600"),
            ("content-type", "text/plain"),
        ],
        Bytes::from_static(&BODY),
    )
}
fn routes() -> Router {
    Router::new()
        .route("/item", get(item))
        .route("/miss/{*rest}", get(item))
}
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = 20000;
    for (name, app) in [
        ("bare", routes()),
        (
            "cached",
            routes().layer(ResponseCacheLayer::new(Cache::memory())),
        ),
    ] {
        for path in ["/item", "/miss/"] {
            let t = Instant::now();
            for i in 0..n {
                let uri = if path == "/item" {
                    "/item".to_string()
                } else {
                    format!("/miss/{i}")
                };
                let req = http::Request::get(uri)
                    .body(axum::body::Body::empty())
                    .unwrap();
                let res = app.clone().oneshot(req).await.unwrap();
                let _ = http_body_util::BodyExt::collect(res.into_body())
                    .await
                    .unwrap();
            }
            println!(
                "{name} {path}: {:.2} us/op",
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            );
        }
    }
}
