//! Run with: cargo run -p cache-examples --bin demo
//!
//! The demo service: a small JSON API of users and their posts over a data source that is slow
//! on purpose (`SLOW_MS`, default 300 ms per query), cached at every level the toolkit offers:
//!
//! - `#[cached]` on the data-source reads (`user:{id}`, `posts:user:{id}`, tagged),
//! - `Cache::warm` at start: every user is loaded into the cache before the first request,
//! - `#[cache_invalidate]` on the writes, with `recache`: a renamed user is loaded again at once,
//!   so the next read is a hit,
//! - `#[memoize]` on a pure function (`/fib/{n}`),
//! - `ResponseCacheLayer` (shared HTTP cache: `x-cache: MISS|HIT|…`, `Age`) and `EtagLayer`
//!   (strong ETags, `304 Not Modified`),
//! - tags purged from a handler through `State<Cache>`,
//! - `/cache/stats` (JSON; `POST /cache/stats/reset` zeroes the counts), `/metrics`
//!   (Prometheus), `/health` (cache ping), and the browser dashboard at `/cache/dashboard`
//!   (purge-by-tag and "Reset stats" need `CACHE_DASHBOARD_TOKEN`),
//! - `/fn/users/{id}`: the `#[cached]` read alone, outside the HTTP cache layers (for
//!   `scripts/soak.sh`, which times the function through it).
//!
//! In-memory by default; `CACHE_URL=redis://…`, `tiered+redis://…` or
//! `redis-cluster://…` moves it to Redis with no code change. Listens on `BIND`
//! (default `127.0.0.1:3000`) and shuts down gracefully on Ctrl-C, writing out what a
//! write-behind tier (`?write_behind=100ms`) still holds (`Cache::flush`). Also on SIGTERM, what
//! container runtimes send. An empty variable means its default.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cache_axum::observe::{self, StatsLayer};
use cache_axum::{CacheOptions, EtagLayer, ResponseCacheLayer};
use cache_core::{cache_invalidate, cached, memoize, Cache, WarmOptions};
use serde::{Deserialize, Serialize};

/// A user of the demo API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct User {
    id: u64,
    name: String,
    email: String,
}

/// A post of a user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Post {
    id: u64,
    user_id: u64,
    title: String,
}

/// The slow data source: a map behind a lock, with a delay on every query.
#[derive(Debug)]
struct Db {
    users: RwLock<HashMap<u64, User>>,
    posts: RwLock<Vec<Post>>,
    delay: Duration,
}

impl Db {
    fn seeded(delay: Duration) -> Self {
        let names = [
            "Ada Lovelace",
            "Alan Turing",
            "Grace Hopper",
            "Edsger Dijkstra",
        ];
        let users = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let id = i as u64 + 1;
                let email = format!(
                    "{}@example.com",
                    n.split(' ').next().unwrap_or("user").to_lowercase()
                );
                (
                    id,
                    User {
                        id,
                        name: (*n).to_string(),
                        email,
                    },
                )
            })
            .collect();
        let posts = (1..=8)
            .map(|i| Post {
                id: i,
                user_id: (i - 1) % 4 + 1,
                title: format!("Post number {i}"),
            })
            .collect();
        Db {
            users: RwLock::new(users),
            posts: RwLock::new(posts),
            delay,
        }
    }

    async fn slow(&self) {
        tokio::time::sleep(self.delay).await;
    }

    /// One user, read from the slow data source.
    async fn user(&self, id: u64) -> Option<User> {
        self.slow().await;
        self.users.read().ok()?.get(&id).cloned()
    }

    fn user_ids(&self) -> Vec<u64> {
        self.users
            .read()
            .map(|u| u.keys().copied().collect())
            .unwrap_or_default()
    }
}

type AppDb = Arc<Db>;

/// The application state: the cache (for `State<Cache>`) and the data source.
#[derive(Clone)]
struct AppState {
    cache: Cache,
    db: AppDb,
}

impl axum::extract::FromRef<AppState> for Cache {
    fn from_ref(state: &AppState) -> Cache {
        state.cache.clone()
    }
}

impl axum::extract::FromRef<AppState> for AppDb {
    fn from_ref(state: &AppState) -> AppDb {
        state.db.clone()
    }
}

// The data layer: cached reads, invalidating writes. No `cache = …`: they use the global cache
// that `main` sets from the environment.

#[cached(key = "user:{id}", ttl = USER_TTL, tags = ["users"])]
async fn find_user(db: &Db, id: u64) -> Option<User> {
    tracing::info!(id, "loading user from the slow data source");
    db.user(id).await
}

const USER_TTL: Duration = Duration::from_secs(300);

#[cached(key = "posts:user:{id}", ttl = "5m", tags = ["posts", "user:{id}"])]
async fn posts_of(db: &Db, id: u64) -> Vec<Post> {
    tracing::info!(id, "loading posts from the slow data source");
    db.slow().await;
    db.posts
        .read()
        .map(|p| p.iter().filter(|p| p.user_id == id).cloned().collect())
        .unwrap_or_default()
}

#[cached(key = "users:all", ttl = "1m", tags = ["users"])]
async fn all_users(db: &Db) -> Vec<User> {
    tracing::info!("loading every user from the slow data source");
    db.slow().await;
    let mut users: Vec<User> = db
        .users
        .read()
        .map(|u| u.values().cloned().collect())
        .unwrap_or_default();
    users.sort_by_key(|u| u.id);
    users
}

/// Why a write failed.
#[derive(Debug)]
struct NotFound;

// After the rename, `find_user` runs again (`recache`): the next reader hits the new value.
#[cache_invalidate(keys = ["user:{id}"], tags = ["users", "user:{id}"], recache = [find_user(db, id)])]
async fn rename_user(db: &Db, id: u64, name: String) -> Result<User, NotFound> {
    db.slow().await;
    let mut users = db.users.write().map_err(|_| NotFound)?;
    let user = users.get_mut(&id).ok_or(NotFound)?;
    user.name = name;
    Ok(user.clone())
}

#[memoize(capacity = 1000)]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1).wrapping_add(fib(n - 2))
    }
}

// Handlers.

async fn get_user(State(db): State<AppDb>, Path(id): Path<u64>) -> Response {
    match find_user(&db, id).await {
        Some(user) => (
            [(header::CACHE_CONTROL, "public, max-age=30")],
            CacheOptions::new().tags(["users", &format!("user:{id}")]),
            Json(user),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such user" })),
        )
            .into_response(),
    }
}

/// The `#[cached]` read alone: outside the HTTP cache layers, never stored by a client.
async fn get_user_fn(State(db): State<AppDb>, Path(id): Path<u64>) -> Response {
    match find_user(&db, id).await {
        Some(user) => ([(header::CACHE_CONTROL, "no-store")], Json(user)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such user" })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

async fn put_user(
    State(db): State<AppDb>,
    Path(id): Path<u64>,
    Json(body): Json<Rename>,
) -> Response {
    match rename_user(&db, id, body.name).await {
        Ok(user) => Json(user).into_response(),
        Err(NotFound) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such user" })),
        )
            .into_response(),
    }
}

async fn list_users(State(db): State<AppDb>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=30")],
        CacheOptions::new().tag("users"),
        Json(all_users(&db).await),
    )
}

async fn user_posts(State(db): State<AppDb>, Path(id): Path<u64>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=30")],
        CacheOptions::new().tags(["posts", &format!("user:{id}")]),
        Json(posts_of(&db, id).await),
    )
}

async fn get_fib(Path(n): Path<u64>) -> Response {
    if n > 90 {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": "n must be at most 90" })),
        )
            .into_response();
    }
    let value = fib(n);
    let memo = fib_memo().stats();
    Json(serde_json::json!({ "n": n, "fib": value, "memo_hits": memo.hits, "memo_misses": memo.misses })).into_response()
}

#[derive(Deserialize)]
struct Purge {
    tag: String,
}

/// Purges a tag: both the `#[cached]` data and the HTTP responses carrying it. While the store
/// is unreachable the invalidation is queued and replayed when it is back: the answer is then
/// `202 Accepted` with the number of invalidations waiting (`queued`), not a bare `deleted: 0`.
async fn purge(State(cache): State<Cache>, Json(body): Json<Purge>) -> Response {
    let result = cache.invalidate_tags([body.tag.as_str()]).await;
    let stats = cache.store().stats();
    let queued = stats.pending + stats.tiers.iter().map(|t| t.pending).sum::<u64>();
    let tag = &body.tag;
    match result {
        Ok(n) if queued == 0 => Json(serde_json::json!({ "tag": tag, "deleted": n })).into_response(),
        Ok(n) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "tag": tag, "deleted": n, "queued": queued,
                "note": "the store is unreachable: the invalidation is queued and replayed when it is back" })),
        )
            .into_response(),
        Err(e) if queued > 0 => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "tag": tag, "queued": queued, "error": e.to_string(),
                "note": "the store is unreachable: the invalidation is queued and replayed when it is back" })),
        )
            .into_response(),
        Err(e) => {
            let status = if e.is_backend() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, Json(serde_json::json!({ "tag": tag, "error": e.to_string() }))).into_response()
        }
    }
}

/// `/`: a page linking the demo's routes.
async fn index() -> axum::response::Html<String> {
    let items: String = ROUTES
        .iter()
        .map(|(method, path, what)| match *method {
            "GET" => format!("<li><a href=\"{path}\"><code>{path}</code></a>: {what}</li>"),
            _ => format!("<li><code>{method} {path}</code>: {what}</li>"),
        })
        .collect();
    axum::response::Html(format!(
        "<!doctype html><title>cache-rs demo</title><h1>cache-rs demo</h1><ul>{items}</ul>"
    ))
}

async fn health(State(cache): State<Cache>) -> Response {
    match cache.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ok", "store": cache.store().name() })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "degraded", "store": cache.store().name(), "error": e.to_string() })),
        )
            .into_response(),
    }
}

fn app(cache: Cache, db: AppDb) -> Router {
    let state = AppState {
        cache: cache.clone(),
        db,
    };
    let api = Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user).put(put_user))
        .route("/users/{id}/posts", get(user_posts))
        .route("/fib/{n}", get(get_fib))
        .with_state(state.clone());
    // `wrap`, not `.layer`: a PUT whose If-Match is stale is answered 412 before it runs.
    let api = EtagLayer::new()
        .wrap(api)
        .layer(ResponseCacheLayer::new(cache.clone()))
        // Outside the response cache, so it sees each response's x-cache status.
        .layer(StatsLayer::new());
    let token = std::env::var("CACHE_DASHBOARD_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    Router::new()
        .route("/", get(index))
        // A nested router answers `/cache/dashboard` only; the slash form redirects to it.
        .route(
            "/cache/dashboard/",
            get(|| async { axum::response::Redirect::permanent("/cache/dashboard") }),
        )
        .route("/fn/users/{id}", get(get_user_fn))
        .route("/admin/purge", post(purge))
        .route("/health", get(health))
        .route("/metrics", get(observe::metrics))
        .with_state(state)
        .merge(api)
        // `GET /cache/stats`, and `POST /cache/stats/reset` behind the dashboard token.
        .nest(
            "/cache/stats",
            cache_axum::Dashboard::new(cache.clone())
                .token(token.clone())
                .stats_router(),
        )
        .nest("/cache/dashboard", cache_axum::dashboard(cache, token))
}

#[tokio::main]
async fn main() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log written to a file or a pipe carries no escape codes.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // `info` includes the cache's own: a breaker opening (warn), closing and the
                // invalidations it replays (info).
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run().await {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}

/// The routes the demo serves, as its start message and its index page list them.
const ROUTES: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/users/1",
        "a user: #[cached], the HTTP response cache, ETags (PUT renames)",
    ),
    ("GET", "/users", "every user"),
    ("GET", "/users/1/posts", "a user's posts"),
    (
        "GET",
        "/fn/users/1",
        "a user through #[cached] alone, no HTTP cache",
    ),
    ("GET", "/fib/40", "#[memoize]"),
    (
        "GET",
        "/cache/dashboard/",
        "the dashboard (purge needs CACHE_DASHBOARD_TOKEN)",
    ),
    ("GET", "/cache/stats", "stats as JSON"),
    ("GET", "/metrics", "Prometheus metrics"),
    ("GET", "/health", "a ping of the store"),
    ("POST", "/admin/purge", r#"purge a tag: {"tag":"users"}"#),
];

/// An environment variable, with an empty value meaning the same as an unset one: the default.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A configuration mistake, named with the variable, its value and an example of a good one.
fn bad_env(name: &str, value: &str, expected: &str, example: &str) -> String {
    format!("{name}={value:?} is not valid: expected {expected}, for example {name}={example}")
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let delay = match env_var("SLOW_MS") {
        None => Duration::from_millis(300),
        Some(v) => Duration::from_millis(v.trim().parse().map_err(|_| {
            bad_env(
                "SLOW_MS",
                &v,
                "a whole number of milliseconds per query",
                "300",
            )
        })?),
    };
    let bind = env_var("BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
    let addr = tokio::net::lookup_host(bind.as_str())
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            bad_env(
                "BIND",
                &bind,
                "an address to listen on as host:port",
                "127.0.0.1:3000",
            )
        })?;
    let cache = Cache::from_env().await?;
    Cache::set_global(cache.clone())?;
    let db = Arc::new(Db::seeded(delay));
    warm_users(&cache, &db).await;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on BIND={bind}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, store = cache.store().name(), "demo listening");
    // The tests read this first line to find the port when BIND ends in :0.
    println!("listening on http://{local}");
    // Written without `println!`, which panics when stdout is closed (a reader that took the
    // first line and went away).
    let mut out = std::io::stdout().lock();
    for (method, path, what) in ROUTES {
        let _ = writeln!(out, "  {method:<4} http://{local}{path:<18}  {what}");
    }
    drop(out);
    axum::serve(listener, app(cache.clone(), db))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Writes a write-behind tier still holds reach the shared store before the process ends.
    if let Err(e) = cache.flush().await {
        tracing::warn!("writes still pending at shutdown: {e}");
    }
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM, what container runtimes and process managers send: either one
/// stops accepting connections, lets requests in flight finish, then `run` flushes the cache.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
        "SIGTERM"
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<&str>();
    let which = tokio::select! {
        w = ctrl_c => w,
        w = term => w,
    };
    tracing::info!("{which}: shutting down");
}

/// Loads every user into the cache before the first request, under the keys and tags
/// `find_user` reads (`user:{id}`, `users`), at most 8 queries at once.
async fn warm_users(cache: &Cache, db: &AppDb) {
    let keys = db.user_ids().into_iter().map(|id| format!("user:{id}"));
    let opts = WarmOptions::new().ttl(USER_TTL).tag("users");
    let report = cache
        .warm(keys, opts, |key| {
            let db = Arc::clone(db);
            async move {
                let id: u64 = key["user:".len()..].parse().map_err(|_| "not a user key")?;
                Ok::<_, &str>(db.user(id).await)
            }
        })
        .await;
    tracing::info!(
        loaded = report.loaded(),
        absent = report.absent(),
        failed = report.failed().len(),
        "users warmed"
    );
}
