//! The browser dashboard: a router to nest under a path of your app.

mod history;

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cache_core::Cache;
use http::{header, HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use self::history::{now_ms, History, Sample};
use crate::observe::{json_response, render_metrics, reset_stats, HttpStats, StatsReport};

const PAGE: &str = include_str!("dashboard.html");

/// The page's admin controls as written: disabled, with the notice saying how to enable them.
const ADMIN_OFF: &str = " data-admin disabled";
const NOTICE: (&str, &str) = ("<!--no-token-->", "<!--/no-token-->");

/// A browser dashboard for one [`Cache`]: the hit ratio and its chart over the last five
/// minutes, per-route and per-function tables, entries and bytes, recent invalidations (as
/// [changes](crate::observe::Change): the response cache's own folded into the change that
/// caused them), a purge-by-tag form and a "Reset stats" button. Nest its
/// [`router`](Dashboard::router) under any path:
///
/// - `GET /` the page (self-contained HTML, no external assets). The big number is the
///   [`Headline`](crate::observe::Headline) ratio: the share of HTTP requests the response
///   cache answered (`HIT`, `STALE`) out of those it was asked about (`MISS` and `REVALIDATED`
///   too; `BYPASS` reported apart), or the cache's lookup ratio, labelled so, until an HTTP
///   request is counted. Without a token the purge form and the reset button are disabled and
///   say "set `CACHE_DASHBOARD_TOKEN` to enable";
/// - `GET /stats` the [`StatsReport`] JSON, with three more fields: `purge_enabled` (whether a
///   token is set), `now_ms` (the server's clock, ms since the Unix epoch) and `history` (the
///   headline ratio sampled every 2 s over the last 5 minutes, `[{"at_ms", "ratio"}]`, oldest
///   first, ending with the value now); `GET /metrics` Prometheus text;
/// - `POST /purge` purges one tag: a form or JSON body `{"tag": "..", "token": ".."}` (or an
///   `Authorization: Bearer ..` header);
/// - `POST /stats/reset` sets the counts to zero ([`observe::reset_stats`]: the cache's
///   counters, the route counts, the per-function counts): the token in a form or JSON body
///   `{"token": ".."}` or an `Authorization: Bearer ..` header; answers `{"reset": true}`.
///
/// The two `POST`s need the [`token`](Dashboard::token); without one they are disabled (403),
/// with a wrong one refused (403), without one given refused (401).
///
/// [`observe::reset_stats`]: crate::observe::reset_stats
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
    history: Arc<History>,
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
            history: Arc::default(),
        }
    }

    /// The token `POST /purge` and `POST /stats/reset` require (`None` or an empty string:
    /// both disabled; a bare
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
        // Sampling starts now when a runtime runs here, else at the first request.
        self.history.start(&self.cache, &self.http);
        Router::new()
            .route("/", get(page))
            .route("/stats", get(stats))
            .route("/metrics", get(metrics))
            .route("/purge", post(purge))
            .route("/stats/reset", post(reset))
            .with_state(self)
    }

    /// Only the stats: `GET /` the [`StatsReport`] JSON and `POST /reset` (behind the token,
    /// as in [`router`](Dashboard::router)), to nest at the path that serves your stats, so
    /// that `POST /cache/stats/reset` resets what `GET /cache/stats` shows.
    ///
    /// ```
    /// use cache_axum::Dashboard;
    /// let cache = cache_core::Cache::memory();
    /// let app: axum::Router = axum::Router::new().nest(
    ///     "/cache/stats",
    ///     Dashboard::new(cache).token(std::env::var("CACHE_DASHBOARD_TOKEN").ok()).stats_router(),
    /// );
    /// ```
    pub fn stats_router(self) -> Router {
        Router::new()
            .route("/", get(stats))
            .route("/reset", post(reset))
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

/// The page, with its admin controls enabled or not: rendered once per variant.
fn page_html(purge_enabled: bool) -> &'static str {
    static ON: OnceLock<String> = OnceLock::new();
    if !purge_enabled {
        return PAGE;
    }
    ON.get_or_init(|| {
        let mut html = PAGE.replace(ADMIN_OFF, " data-admin");
        if let (Some(start), Some(end)) = (html.find(NOTICE.0), html.find(NOTICE.1)) {
            if start < end {
                html.replace_range(start..end + NOTICE.1.len(), "");
            }
        }
        html
    })
}

async fn page(State(d): State<Dashboard>) -> Response {
    d.history.start(&d.cache, &d.http);
    let html = page_html(d.token.is_some());
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// What the dashboard's `GET /stats` serves: the report, and what the page needs besides.
#[derive(Serialize)]
struct DashboardReport {
    #[serde(flatten)]
    report: StatsReport,
    purge_enabled: bool,
    now_ms: u64,
    history: Vec<Sample>,
}

async fn stats(State(d): State<Dashboard>) -> Response {
    d.history.start(&d.cache, &d.http);
    let report = StatsReport::collect(&d.cache, &d.http);
    let now = now_ms();
    let mut history = d.history.recent(now);
    // The value now ends the line, so that the chart's last point is the number above it.
    history.push(Sample {
        at_ms: now,
        ratio: report.headline.ratio,
    });
    json_response(&DashboardReport {
        report,
        purge_enabled: d.token.is_some(),
        now_ms: now,
        history,
    })
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

#[derive(Deserialize)]
struct ResetRequest {
    #[serde(default)]
    token: Option<String>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut res = json_response(&serde_json::json!({ "error": message }));
    *res.status_mut() = status;
    res
}

/// Why a request is refused: its status and message, made a response by [`refuse`].
type Refusal = (StatusCode, String);

/// Parses a form or JSON body (an empty one as `{}`).
fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    expected: &str,
) -> Result<T, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let parsed = if json && !body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    } else if json {
        serde_json::from_slice(b"{}").map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("expected a form or JSON body {expected}: {e}"),
        )
    })
}

/// Checks the token of a `POST`: from the body, else an `Authorization: Bearer` header.
fn authorize(
    d: &Dashboard,
    what: &str,
    headers: &HeaderMap,
    token: Option<String>,
) -> Result<(), Refusal> {
    let Some(expected) = d.token else {
        return Err((
            StatusCode::FORBIDDEN,
            format!("{what} is disabled: no token is configured; set CACHE_DASHBOARD_TOKEN to enable (the token the app gives Dashboard::token(..) or dashboard(cache, Some(token)))"),
        ));
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = token.filter(|t| !t.is_empty()).or(bearer) else {
        return Err((StatusCode::UNAUTHORIZED, "missing token".into()));
    };
    // `blake3::Hash` compares in constant time.
    if blake3::hash(token.as_bytes()) != expected {
        return Err((StatusCode::FORBIDDEN, "wrong token".into()));
    }
    Ok(())
}

async fn purge(State(d): State<Dashboard>, headers: HeaderMap, body: Bytes) -> Response {
    if d.token.is_none() {
        // Refused before the body is read.
        if let Err((status, why)) = authorize(&d, "purging", &headers, None) {
            return refuse(status, &why);
        }
    }
    let req: PurgeRequest = match parse_body(&headers, &body, "{tag, token}") {
        Ok(r) => r,
        Err((status, why)) => return refuse(status, &why),
    };
    if let Err((status, why)) = authorize(&d, "purging", &headers, req.token) {
        return refuse(status, &why);
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

async fn reset(State(d): State<Dashboard>, headers: HeaderMap, body: Bytes) -> Response {
    if d.token.is_none() {
        if let Err((status, why)) = authorize(&d, "resetting stats", &headers, None) {
            return refuse(status, &why);
        }
    }
    let req: ResetRequest = match parse_body(&headers, &body, "{token}") {
        Ok(r) => r,
        Err((status, why)) => return refuse(status, &why),
    };
    if let Err((status, why)) = authorize(&d, "resetting stats", &headers, req.token) {
        return refuse(status, &why);
    }
    reset_stats(&d.cache, &d.http);
    json_response(&serde_json::json!({ "reset": true }))
}
