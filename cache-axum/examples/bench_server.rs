//! A server for the HTTP load benchmark (`scripts/bench-http.sh`): the same handler with no
//! layer (`bare`) or behind `ResponseCacheLayer` on the in-memory cache (`cached`). One
//! process per variant, so the benchmark can also read each one's CPU time.
//!
//! Run with: cargo run --release -p cache-axum --example bench_server -- cached
//!
//! A third variant, `floor`, is the least any cache layer on moka can do on a miss, for
//! reference: look the path up, call the handler, collect the body and insert a copy of the
//! response from a spawned task. No HTTP semantics (no freshness, no coalescing, no `Vary`, no
//! namespacing): what remains of the miss cost once everything this crate adds is taken away.
//!
//! Prints `addr=ADDR` once it listens. Routes: `GET /item` (cacheable for an hour; a hit after
//! the first request) and `GET /miss/{*rest}` (the same response under unique paths, so every
//! request is a miss that is stored).
//!
//! `bench_server profile bare|hit|miss|floor N` (`floor`: misses of the `floor` variant)
//! instead runs N requests in-process (no sockets) on one thread, for instruction-counting
//! profilers such as `valgrind --tool=callgrind` (`scripts/bench.d/55-http-instructions.sh`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_axum::ResponseCacheLayer;
use cache_core::Cache;
use http_body_util::BodyExt as _;

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

/// What the `floor` variant stores: status, fields and body of a response.
type FloorEntry = Arc<(http::StatusCode, http::HeaderMap, Bytes)>;

/// The `floor` variant's layer (see the module docs).
#[derive(Clone)]
struct Floor<S> {
    inner: S,
    cache: moka::sync::Cache<String, FloorEntry, ahash::RandomState>,
}

fn floor(app: Router) -> Router {
    // Bounded by bytes, as `Cache::memory()` is.
    let cache = moka::sync::Cache::builder()
        .max_capacity(cache_core::store::memory::DEFAULT_MAX_BYTES)
        .weigher(|k: &String, v: &FloorEntry| {
            u32::try_from(k.len() + v.2.len() + 64).unwrap_or(u32::MAX)
        })
        .build_with_hasher(ahash::RandomState::new());
    app.layer(tower::layer::layer_fn(move |inner| Floor {
        inner,
        cache: cache.clone(),
    }))
}

impl<S> tower::Service<http::Request<Body>> for Floor<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let cache = self.cache.clone();
        Box::pin(async move {
            let key = req.uri().path().to_owned();
            if let Some(e) = cache.get(&key) {
                let mut res = http::Response::new(Body::from(e.2.clone()));
                *res.status_mut() = e.0;
                *res.headers_mut() = e.1.clone();
                return Ok(res);
            }
            let (head, body) = inner.call(req).await?.into_parts();
            let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
                return Ok(http::Response::from_parts(head, Body::empty()));
            };
            let entry = Arc::new((head.status, head.headers.clone(), body.clone()));
            tokio::spawn(async move { cache.insert(key, entry) });
            Ok(http::Response::from_parts(head, Body::from(body)))
        })
    }
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
        "floor" => floor(routes()),
        _ => routes().layer(ResponseCacheLayer::new(Cache::memory())),
    };
    for i in 0..n {
        let uri = if kind == "miss" || kind == "floor" {
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
        Some("floor") => floor(routes()),
        Some("cached") => routes().layer(ResponseCacheLayer::new(Cache::memory())),
        _ => {
            eprintln!("usage: bench_server bare|floor|cached");
            std::process::exit(2);
        }
    };
    let addr = listen(app).await?;
    println!("addr={addr}");
    std::future::pending::<()>().await;
    Ok(())
}
