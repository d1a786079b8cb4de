//! A server for the HTTP load benchmark (`scripts/bench-http.sh`): the same handler with no
//! layer (`bare`) or behind `ResponseCacheLayer` on the in-memory cache (`cached`). One
//! process per variant, so the benchmark can also read each one's CPU time.
//!
//! Run with: cargo run --release -p cache-axum --example bench_server -- cached
//!
//! Prints `addr=ADDR` once it listens. Routes: `GET /item` (cacheable for an hour; a hit after
//! the first request) and `GET /miss/{*rest}` (the same response under unique paths, so every
//! request is a miss that is stored).

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
    let app = match std::env::args().nth(1).as_deref() {
        Some("bare") => routes(),
        Some("cached") => routes().layer(ResponseCacheLayer::new(Cache::memory())),
        _ => {
            eprintln!("usage: bench_server bare|cached");
            std::process::exit(2);
        }
    };
    let addr = listen(app).await?;
    println!("addr={addr}");
    std::future::pending::<()>().await;
    Ok(())
}
