//! The browser dashboard: a router to nest under a path of your app.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cache_core::Cache;
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;

use crate::observe::{json_response, render_metrics, HttpStats, StatsReport};

const PAGE: &str = include_str!("dashboard.html");

/// A browser dashboard for one [`Cache`]: live hit ratio, per-route and per-function tables,
/// entries and bytes, recent invalidations and a purge-by-tag form. Nest its
/// [`router`](Dashboard::router) under any path:
///
/// - `GET /` the page (self-contained HTML, no external assets);
/// - `GET /stats` the [`StatsReport`] JSON; `GET /metrics` Prometheus text;
/// - `POST /purge` purges one tag: a form or JSON body `{"tag": "..", "token": ".."}` (or an
///   `Authorization: Bearer ..` header). Needs the [`token`](Dashboard::token); without one
///   purging is disabled (403).
///
/// ```
/// use axum::Router;
/// use cache_axum::Dashboard;
///
/// let cache = cache_core::Cache::memory();
/// let app: Router = Router::new().nest(
///     "/cache",
///     Dashboard::new(cache).token(std::env::var("CACHE_DASHBOARD_TOKEN").ok()).router(),
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Dashboard {
    cache: Cache,
    token: Option<blake3::Hash>,
    http: HttpStats,
}

impl Dashboard {
    /// A dashboard for `cache`, with purging disabled and routes from [`HttpStats::global`].
    ///
    /// ```
    /// let router = cache_axum::Dashboard::new(cache_core::Cache::memory()).router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn new(cache: Cache) -> Self {
        crate::observe::install_recorder();
        Self {
            cache,
            token: None,
            http: HttpStats::global(),
        }
    }

    /// The token `POST /purge` requires (`None` or an empty string: purging disabled; a bare
    /// `None` needs a type: `None::<&str>`). Only its blake3 hash is kept, and tokens are
    /// compared by hash in constant time.
    ///
    /// ```
    /// let d = cache_axum::Dashboard::new(cache_core::Cache::memory()).token(Some("s3cret"));
    /// # let _ = d;
    /// ```
    pub fn token(mut self, token: Option<impl AsRef<str>>) -> Self {
        self.token = token
            .filter(|t| !t.as_ref().is_empty())
            .map(|t| blake3::hash(t.as_ref().as_bytes()));
        self
    }

    /// Reads route counts from `http` (the registry your [`StatsLayer`](crate::observe::StatsLayer)
    /// records into) instead of the global one.
    ///
    /// ```
    /// use cache_axum::observe::HttpStats;
    /// let d = cache_axum::Dashboard::new(cache_core::Cache::memory()).http_stats(HttpStats::new());
    /// # let _ = d;
    /// ```
    pub fn http_stats(mut self, http: HttpStats) -> Self {
        self.http = http;
        self
    }

    /// The router to nest.
    ///
    /// ```
    /// let app: axum::Router =
    ///     axum::Router::new().nest("/cache", cache_axum::Dashboard::new(cache_core::Cache::memory()).router());
    /// ```
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/stats", get(stats))
            .route("/metrics", get(metrics))
            .route("/purge", post(purge))
            .with_state(self)
    }
}

/// Shorthand for `Dashboard::new(cache).token(token).router()`.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .nest("/cache", cache_axum::dashboard(cache_core::Cache::memory(), Some("s3cret".into())));
/// ```
pub fn dashboard(cache: Cache, token: Option<String>) -> Router {
    Dashboard::new(cache).token(token).router()
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

async fn stats(State(d): State<Dashboard>) -> Response {
    json_response(&StatsReport::collect(&d.cache, &d.http))
}

async fn metrics(State(d): State<Dashboard>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render_metrics(&d.cache),
    )
        .into_response()
}

#[derive(Deserialize)]
struct PurgeRequest {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    token: Option<String>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut res = json_response(&serde_json::json!({ "error": message }));
    *res.status_mut() = status;
    res
}

async fn purge(State(d): State<Dashboard>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(expected) = d.token else {
        return refuse(
            StatusCode::FORBIDDEN,
            "purging is disabled: configure a token with Dashboard::token(..) (or dashboard(cache, Some(token)))",
        );
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let parsed: Result<PurgeRequest, String> = if json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let req = match parsed {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("expected a form or JSON body {{tag, token}}: {e}"),
            )
        }
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = req.token.filter(|t| !t.is_empty()).or(bearer) else {
        return refuse(StatusCode::UNAUTHORIZED, "missing token");
    };
    // `blake3::Hash` compares in constant time.
    if blake3::hash(token.as_bytes()) != expected {
        return refuse(StatusCode::FORBIDDEN, "wrong token");
    }
    let tag = req.tag.trim();
    if tag.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "missing tag");
    }
    match d.cache.invalidate_tags([tag]).await {
        Ok(deleted) => json_response(&serde_json::json!({ "tag": tag, "deleted": deleted })),
        Err(e) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("purge failed: {e}"),
        ),
    }
}
