//! Observability: per-route HTTP cache outcomes ([`StatsLayer`]), the stats JSON
//! ([`stats_json`]) and Prometheus text ([`metrics()`]).
//!
//! ```
//! use axum::{routing::get, Router};
//! use cache_axum::observe::{self, StatsLayer};
//! use cache_axum::ResponseCacheLayer;
//! use cache_core::Cache;
//!
//! let cache = Cache::memory();
//! let app: Router = Router::new()
//!     .route("/posts", get(|| async { "posts" }))
//!     // Outside the response cache, so it sees the `x-cache` header the cache sets.
//!     .layer(ResponseCacheLayer::new(cache.clone()))
//!     .layer(StatsLayer::new())
//!     .route("/stats", get(observe::stats_json).with_state(cache.clone()))
//!     .route("/metrics", get(observe::metrics).with_state(cache));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use cache_core::Cache;
use http::{header, HeaderValue, Request};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use pin_project_lite::pin_project;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

mod changes;
mod headline;

pub use changes::{fold_invalidations, Change, FOLD_WINDOW_MS};
pub use headline::{Headline, HeadlineBasis, HttpRatio};

/// The response header [`ResponseCacheLayer`](crate::ResponseCacheLayer) sets.
const X_CACHE: &str = "x-cache";

/// The outcomes counted per route, in the order of [`RouteStats`]' fields.
const OUTCOMES: [&str; 6] = ["HIT", "MISS", "STALE", "BYPASS", "REVALIDATED", "none"];

/// Per-route counts of HTTP cache outcomes, shared by a [`StatsLayer`] and whatever reads them
/// (the [`stats_json`] handler, the [`dashboard`](crate::dashboard)). Cloning shares the counts.
///
/// ```
/// let stats = cache_axum::observe::HttpStats::new();
/// assert!(stats.routes().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct HttpStats {
    routes: Arc<Mutex<HashMap<Arc<str>, [u64; 6]>>>,
}

impl fmt::Debug for HttpStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStats")
            .field("routes", &self.routes().len())
            .finish()
    }
}

impl HttpStats {
    /// An empty, unshared registry (for tests or several apps in one process).
    ///
    /// ```
    /// let layer = cache_axum::observe::StatsLayer::with_stats(cache_axum::observe::HttpStats::new());
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry that [`StatsLayer::new`] records into and the dashboard reads
    /// by default.
    ///
    /// ```
    /// let a = cache_axum::observe::HttpStats::global();
    /// let b = cache_axum::observe::HttpStats::global();
    /// assert_eq!(a.routes(), b.routes());
    /// ```
    pub fn global() -> Self {
        static GLOBAL: OnceLock<HttpStats> = OnceLock::new();
        GLOBAL.get_or_init(HttpStats::new).clone()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, [u64; 6]>> {
        // Counts stay consistent even if a holder panicked: each update is one increment.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one response of `route` with the given `x-cache` value (`None`: no header).
    ///
    /// ```
    /// let stats = cache_axum::observe::HttpStats::new();
    /// stats.record("/posts", Some("HIT"));
    /// stats.record("/posts", Some("weird"));
    /// let r = &stats.routes()[0];
    /// assert_eq!((r.hit, r.none, r.total), (1, 1, 2));
    /// ```
    pub fn record(&self, route: &str, outcome: Option<&str>) {
        // Unknown values count as "none": the label set stays bounded.
        let i = outcome
            .and_then(|o| OUTCOMES[..5].iter().position(|k| k.eq_ignore_ascii_case(o)))
            .unwrap_or(5);
        {
            let mut map = self.lock();
            match map.get_mut(route) {
                Some(counts) => counts[i] += 1,
                None => {
                    let mut counts = [0; 6];
                    counts[i] = 1;
                    map.insert(Arc::from(route), counts);
                }
            }
        }
        metrics::counter!(
            "cache_http_responses_total",
            "route" => route.to_owned(),
            "status" => OUTCOMES[i],
        )
        .increment(1);
    }

    /// Sets every route's counts to zero; the routes stay listed, at zero. (The
    /// `cache_http_responses_total` counters already exported through `metrics` are not
    /// touched: Prometheus counters only go up, and scrapers expect that.)
    ///
    /// ```
    /// let stats = cache_axum::observe::HttpStats::new();
    /// stats.record("/posts", Some("HIT"));
    /// stats.reset();
    /// let r = &stats.routes()[0];
    /// assert_eq!((r.route.as_str(), r.hit, r.total), ("/posts", 0, 0));
    /// ```
    pub fn reset(&self) {
        for counts in self.lock().values_mut() {
            *counts = [0; 6];
        }
    }

    /// A snapshot of every route's counts, sorted by route.
    ///
    /// ```
    /// let stats = cache_axum::observe::HttpStats::new();
    /// stats.record("/b", None);
    /// stats.record("/a", Some("MISS"));
    /// let routes: Vec<_> = stats.routes().into_iter().map(|r| r.route).collect();
    /// assert_eq!(routes, ["/a", "/b"]);
    /// ```
    pub fn routes(&self) -> Vec<RouteStats> {
        let mut out: Vec<RouteStats> = self
            .lock()
            .iter()
            .map(|(route, c)| RouteStats {
                route: route.to_string(),
                hit: c[0],
                miss: c[1],
                stale: c[2],
                bypass: c[3],
                revalidated: c[4],
                none: c[5],
                total: c.iter().sum(),
            })
            .collect();
        out.sort_by(|a, b| a.route.cmp(&b.route));
        out
    }
}

/// The HTTP cache outcomes of one route, from [`HttpStats::routes`].
///
/// ```
/// let r = cache_axum::observe::RouteStats::default();
/// assert_eq!(r.total, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RouteStats {
    /// The matched route (`/users/{id}`), or `other` for requests no route matched.
    pub route: String,
    /// `x-cache: HIT`.
    pub hit: u64,
    /// `x-cache: MISS`.
    pub miss: u64,
    /// `x-cache: STALE`.
    pub stale: u64,
    /// `x-cache: BYPASS`.
    pub bypass: u64,
    /// `x-cache: REVALIDATED`.
    pub revalidated: u64,
    /// No (or an unknown) `x-cache` header.
    pub none: u64,
    /// Every response.
    pub total: u64,
}

/// A [`Layer`] that counts each response by route and `x-cache` header in an [`HttpStats`]
/// and as the `cache_http_responses_total{route, status}` counter of the `metrics` crate.
///
/// Put it outside [`ResponseCacheLayer`](crate::ResponseCacheLayer) (a later `.layer(..)`), so
/// it sees the header. The route is axum's [`MatchedPath`]: with `Router::layer` it is set for
/// every matched route; unmatched requests count as `other`.
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::observe::StatsLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(StatsLayer::new());
/// ```
#[derive(Debug, Clone)]
pub struct StatsLayer {
    stats: HttpStats,
}

impl StatsLayer {
    /// Records into [`HttpStats::global`]. Also installs the Prometheus recorder (see
    /// [`install_recorder`]) so counts from the first request on are exported.
    ///
    /// ```
    /// let layer = cache_axum::observe::StatsLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self::with_stats(HttpStats::global())
    }

    /// Records into `stats`.
    ///
    /// ```
    /// use cache_axum::observe::{HttpStats, StatsLayer};
    /// let stats = HttpStats::new();
    /// let layer = StatsLayer::with_stats(stats.clone());
    /// # let _ = layer;
    /// ```
    pub fn with_stats(stats: HttpStats) -> Self {
        let _ = install_recorder();
        Self { stats }
    }
}

impl Default for StatsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for StatsLayer {
    type Service = StatsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StatsService {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// The [`Service`] of a [`StatsLayer`].
///
/// ```
/// use cache_axum::observe::{StatsLayer, StatsService};
/// use tower_layer::Layer;
/// let svc: StatsService<()> = StatsLayer::new().layer(());
/// # let _ = svc;
/// ```
#[derive(Debug, Clone)]
pub struct StatsService<S> {
    inner: S,
    stats: HttpStats,
}

impl<S, B, ResBody> Service<Request<B>> for StatsService<S>
where
    S: Service<Request<B>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = StatsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = req.extensions().get::<MatchedPath>().cloned();
        StatsFuture {
            inner: self.inner.call(req),
            route,
            stats: Some(self.stats.clone()),
        }
    }
}

pin_project! {
    /// The response future of a [`StatsService`].
    pub struct StatsFuture<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
        stats: Option<HttpStats>,
    }
}

impl<F> fmt::Debug for StatsFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsFuture")
            .field("route", &self.route.as_ref().map(MatchedPath::as_str))
            .finish()
    }
}

impl<F, ResBody, E> Future for StatsFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let (Ok(res), Some(stats)) = (&out, this.stats.take()) {
            let route = this.route.as_ref().map_or("other", MatchedPath::as_str);
            let outcome = res.headers().get(X_CACHE).and_then(|v| v.to_str().ok());
            stats.record(route, outcome);
        }
        Poll::Ready(out)
    }
}

/// Everything [`stats_json`] serves, for one cache.
///
/// Two ratios: [`headline`](StatsReport::headline) is the one to show (the HTTP ratio once
/// requests went through the response cache, with what it counts in words), and
/// [`hit_ratio`](StatsReport::hit_ratio) the cache's lookup ratio, which also counts the
/// lookups of responses that could not be served (a stored response that must be revalidated
/// is found, yet the request is not answered from the cache).
///
/// ```
/// use cache_axum::observe::{HeadlineBasis, HttpStats, StatsReport};
/// let report = StatsReport::collect(&cache_core::Cache::memory(), &HttpStats::new());
/// assert_eq!(report.hit_ratio, 0.0);
/// assert_eq!(report.headline.basis, HeadlineBasis::CacheLookups);
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StatsReport {
    /// The hit ratio to show first, what it counts and a label saying so.
    pub headline: Headline,
    /// HTTP requests through the response cache, summed over routes, and the share answered
    /// from the cache.
    pub http: HttpRatio,
    /// The cache's counters ([`Cache::stats`]).
    pub cache: cache_core::Stats,
    /// `hits / (hits + misses)` of the cache's lookups (every `get`, the response cache's
    /// included): not the share of HTTP requests answered, see [`http`](StatsReport::http).
    pub hit_ratio: f64,
    /// One row per tier, top first, when the store is tiered (empty otherwise).
    pub tiers: Vec<cache_core::store::TierStats>,
    /// HTTP cache outcomes per route.
    pub routes: Vec<RouteStats>,
    /// Hits and misses per `#[cached]` function (process-wide).
    pub functions: Vec<FunctionReport>,
    /// The cache's most recent invalidations, newest first, one per call (the response
    /// cache's own `rc:`/`rc-uri:` ones included).
    pub invalidations: Vec<cache_core::stats::InvalidationEvent>,
    /// The same as changes, newest first: the response cache's own invalidations folded into
    /// the change they followed ([`fold_invalidations`]). What the dashboard lists.
    pub changes: Vec<Change>,
}

/// One `#[cached]` function in a [`StatsReport`].
///
/// ```
/// let f = cache_axum::observe::FunctionReport::default();
/// assert_eq!(f.hit_ratio, 0.0);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct FunctionReport {
    /// The function's path.
    pub name: String,
    /// Calls served from the cache.
    pub hits: u64,
    /// Calls that ran the body.
    pub misses: u64,
    /// `hits / (hits + misses)`.
    pub hit_ratio: f64,
}

impl StatsReport {
    /// Collects a report for `cache` with the routes of `http`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use cache_axum::observe::{HttpStats, StatsReport};
    /// let cache = cache_core::Cache::memory();
    /// cache.delete("gone").await?;
    /// let report = StatsReport::collect(&cache, &HttpStats::new());
    /// assert_eq!(report.invalidations[0].targets, ["gone"]);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn collect(cache: &Cache, http: &HttpStats) -> Self {
        let stats = cache.stats();
        let mut invalidations = cache.recent_invalidations();
        let changes = fold_invalidations(&invalidations);
        invalidations.reverse();
        let routes = http.routes();
        let http = HttpRatio::from_routes(&routes);
        Self {
            headline: Headline::new(&http, stats.hits, stats.misses),
            http,
            cache: stats,
            hit_ratio: stats.hit_ratio(),
            tiers: cache.store().stats().tiers,
            routes,
            functions: cache_core::stats::functions()
                .into_iter()
                .map(|f| FunctionReport {
                    hit_ratio: f.hit_ratio(),
                    name: f.name,
                    hits: f.hits,
                    misses: f.misses,
                })
                .collect(),
            invalidations,
            changes,
        }
    }
}

/// Resets everything a [`StatsReport`] counts: the cache's counters
/// ([`Cache::reset_stats`]), the route counts of `http` ([`HttpStats::reset`]) and the
/// per-function counts of `#[cached]` functions ([`cache_core::stats::reset_functions`], which
/// are process-wide). Entries, bytes and the recent-invalidation log are not counts and stay.
/// Over HTTP: `POST /stats/reset` on the [`Dashboard`](crate::Dashboard) router, behind its
/// token.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use cache_axum::observe::{reset_stats, HttpStats, StatsReport};
/// let cache = cache_core::Cache::memory();
/// let http = HttpStats::new();
/// let _ = cache.get::<u8>("missing").await?;
/// http.record("/posts", Some("MISS"));
/// reset_stats(&cache, &http);
/// let report = StatsReport::collect(&cache, &http);
/// assert_eq!((report.cache.misses, report.routes[0].total), (0, 0));
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub fn reset_stats(cache: &Cache, http: &HttpStats) {
    cache.reset_stats();
    http.reset();
    cache_core::stats::reset_functions();
}

/// `GET` handler: the [`StatsReport`] of the cache in the state (routes from
/// [`HttpStats::global`]) as JSON.
///
/// ```
/// use axum::{routing::get, Router};
/// let app: Router = Router::new()
///     .route("/stats", get(cache_axum::observe::stats_json))
///     .with_state(cache_core::Cache::memory());
/// ```
pub async fn stats_json(State(cache): State<Cache>) -> Response {
    json_response(&StatsReport::collect(&cache, &HttpStats::global()))
}

pub(crate) fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response(),
        Err(e) => (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("stats did not serialize: {e}"),
        )
            .into_response(),
    }
}

enum Exporter {
    /// Ours is the process's global recorder: it sees the `metrics` calls of the whole app.
    Global(PrometheusHandle),
    /// Another recorder is global; this one only holds the cache gauges set at scrape time.
    Local(PrometheusRecorder),
}

fn exporter() -> &'static Exporter {
    static EXPORTER: OnceLock<Exporter> = OnceLock::new();
    EXPORTER.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Exporter::Global(handle),
        Err(e) => {
            tracing::info!(target: "cache", error = %e, "a metrics recorder is already installed; /metrics exports the cache gauges only");
            Exporter::Local(PrometheusBuilder::new().build_recorder())
        }
    })
}

/// Installs a Prometheus recorder as the global `metrics` recorder, once per process, and
/// returns its handle; `None` if the application installed another recorder first (then
/// [`metrics()`] still renders the cache's own gauges). Calling it again is cheap.
///
/// ```
/// let first = cache_axum::observe::install_recorder().is_some();
/// assert_eq!(cache_axum::observe::install_recorder().is_some(), first);
/// ```
pub fn install_recorder() -> Option<PrometheusHandle> {
    match exporter() {
        Exporter::Global(h) => Some(h.clone()),
        Exporter::Local(_) => None,
    }
}

/// Sets the cache gauges through the current `metrics` recorder.
fn set_gauges(cache: &Cache) {
    let s = cache.stats();
    for (name, v) in [
        ("cache_hits_total", s.hits),
        ("cache_misses_total", s.misses),
        ("cache_sets_total", s.sets),
        ("cache_deletes_total", s.deletes),
        ("cache_evictions_total", s.evictions),
        ("cache_expirations_total", s.expirations),
        ("cache_errors_total", s.errors),
        ("cache_decode_errors_total", s.decode_errors),
    ] {
        metrics::counter!(name).absolute(v);
    }
    metrics::gauge!("cache_entries").set(s.entries as f64);
    metrics::gauge!("cache_bytes").set(s.bytes as f64);
    metrics::gauge!("cache_hit_ratio").set(s.hit_ratio());
    let store = cache.store().stats();
    for (i, t) in store.tiers.iter().enumerate() {
        let tier = i.to_string();
        let labels = [("tier", tier), ("store", t.name.to_owned())];
        for (name, v) in [
            ("cache_tier_hits_total", t.hits),
            ("cache_tier_promotions_total", t.promotions),
            ("cache_tier_errors_total", t.errors),
            ("cache_tier_breaker_opens_total", t.breaker_opens),
            (
                "cache_tier_write_behind_flushed_total",
                t.write_behind_flushed,
            ),
            (
                "cache_tier_write_behind_failed_total",
                t.write_behind_failed,
            ),
        ] {
            metrics::counter!(name, &labels).absolute(v);
        }
        let open = t.breaker == cache_core::store::BreakerState::Open;
        metrics::gauge!("cache_tier_breaker_open", &labels).set(f64::from(u8::from(open)));
        metrics::gauge!("cache_tier_pending", &labels).set(t.pending as f64);
        metrics::gauge!("cache_tier_write_behind_pending", &labels)
            .set(t.write_behind_pending as f64);
    }
    if !store.tiers.is_empty() {
        for (name, v) in [
            (
                "cache_tier_invalidations_sent_total",
                store.invalidations_sent,
            ),
            (
                "cache_tier_invalidations_received_total",
                store.invalidations_received,
            ),
            ("cache_tier_resyncs_total", store.resyncs),
        ] {
            metrics::counter!(name).absolute(v);
        }
    }
    for f in cache_core::stats::functions() {
        metrics::counter!("cache_function_hits_total", "function" => f.name.clone())
            .absolute(f.hits);
        metrics::counter!("cache_function_misses_total", "function" => f.name).absolute(f.misses);
    }
}

/// The Prometheus text exposition for `cache`: its counters and gauges (`cache_hits_total`,
/// `cache_misses_total`, `cache_entries`, `cache_bytes`, `cache_hit_ratio`, ..., tier counters
/// when tiered, `cache_function_{hits,misses}_total{function}`), set at each call, plus
/// everything else recorded through `metrics` (such as [`StatsLayer`]'s
/// `cache_http_responses_total`) when our recorder is the global one.
///
/// ```
/// let text = cache_axum::observe::render_metrics(&cache_core::Cache::memory());
/// assert!(text.contains("cache_hits_total"));
/// ```
pub fn render_metrics(cache: &Cache) -> String {
    match exporter() {
        Exporter::Global(handle) => {
            set_gauges(cache);
            handle.run_upkeep();
            handle.render()
        }
        Exporter::Local(recorder) => {
            metrics::with_local_recorder(recorder, || set_gauges(cache));
            let mut text = String::from(
                "# Another metrics recorder is installed globally: only the cache gauges are here; \
                 per-route counters go to that recorder.\n",
            );
            text.push_str(&recorder.handle().render());
            text
        }
    }
}

/// `GET` handler: [`render_metrics`] for the cache in the state, as
/// `text/plain; version=0.0.4`.
///
/// ```
/// use axum::{routing::get, Router};
/// let app: Router = Router::new()
///     .route("/metrics", get(cache_axum::observe::metrics))
///     .with_state(cache_core::Cache::memory());
/// ```
pub async fn metrics(State(cache): State<Cache>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        render_metrics(&cache),
    )
        .into_response()
}
