//! Servers for the HTTP load benchmark (`scripts/bench-http.sh`): the same handler with no
//! layer and behind `ResponseCacheLayer` on the in-memory cache.
//!
//! Run with: cargo run --release -p cache-axum --example bench_server
//!
//! Prints `bare=ADDR cached=ADDR` once both listen. Routes on both: `GET /item` (cacheable for
//! an hour; a hit after the first request) and `GET /miss/{*rest}` (the same response under
//! unique paths, so every request is a miss that is stored).

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_axum::ResponseCacheLayer;
use cache_core::Cache;

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

async fn listen(app: Router) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bare = listen(routes()).await?;
    let cached = listen(routes().layer(ResponseCacheLayer::new(Cache::memory()))).await?;
    println!("bare={bare} cached={cached}");
    std::future::pending::<()>().await;
    Ok(())
}
