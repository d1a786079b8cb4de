//! A server for the HTTP load benchmark (`scripts/bench-http.sh`): the same handler with no
//! layer (`bare`) or behind `ResponseCacheLayer` on the in-memory cache (`cached`). One
//! process per variant, so the benchmark can also read each one's CPU time.
//!
//! Run with: cargo run --release -p cache-axum --example bench_server -- cached
//!
//! Prints `addr=ADDR` once it listens. Routes: `GET /item` (cacheable for an hour; a hit after
//! the first request) and `GET /miss/{*rest}` (the same response under unique paths, so every
//! request is a miss that is stored).
//!
//! `bench_server profile bare|hit|miss N` instead runs N requests in-process (no sockets) on
//! one thread, for instruction-counting profilers such as `valgrind --tool=callgrind`.

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

/// Calls the router in-process `n` times: the same work as a request minus hyper and sockets.
async fn profile(kind: &str, n: u64) {
    use tower::ServiceExt as _;
    let app = match kind {
        "bare" => routes(),
        _ => routes().layer(ResponseCacheLayer::new(Cache::memory())),
    };
    for i in 0..n {
        let uri = if kind == "miss" {
            format!("/miss/{i}")
        } else {
            "/item".to_owned()
        };
        let req = http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body.len(), BODY.len());
        // Lets the write a miss spawned run, as a server's runtime would.
        tokio::task::yield_now().await;
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("profile") {
        let kind = args.get(2).map_or("hit", String::as_str);
        let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(profile(kind, n));
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args.get(1).map(String::as_str)))
}

async fn serve(mode: Option<&str>) -> std::io::Result<()> {
    let app = match mode {
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
