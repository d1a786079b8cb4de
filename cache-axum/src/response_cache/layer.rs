use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;
use http::header::HeaderName;
use http::request::Parts;
use tower_layer::Layer;

use super::config::{Config, DEFAULT_KEEP_STALE, DEFAULT_MAX_BODY};
use super::fence::Fence;
use super::flight::Flights;
use super::report;
use super::service::ResponseCache;

/// A [`Layer`] that caches `GET`/`HEAD` responses in a [`Cache`] as an RFC 9111 shared cache;
/// see the [module docs](crate::response_cache) for what it implements.
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use cache_axum::ResponseCacheLayer;
/// use cache_core::Cache;
///
/// let cache = Cache::memory();
/// let app: Router = Router::new()
///     .route("/", get(|| async { ([("cache-control", "max-age=60")], "hello") }))
///     .layer(
///         ResponseCacheLayer::new(cache)
///             .default_ttl(Duration::from_secs(5))
///             .vary_by(["accept-language"])
///             .max_body(256 * 1024),
///     );
/// ```
///
/// # What is stored
///
/// A `GET` response is stored when RFC 9111 §3 allows it (a final status other than 206, no
/// `no-store` or `private`, no `Vary: *`, and the `Authorization` and `Set-Cookie` rules of the
/// [module docs](crate::response_cache)), and when a stored copy can answer a later request
/// without a full fetch from the inner service:
///
/// | The response has | Stored | Later requests |
/// | --- | --- | --- |
/// | a freshness lifetime: `s-maxage`, `max-age`, an `Expires` after its `Date`, the `Last-Modified` heuristic, [`default_ttl`](Self::default_ttl), a [`CacheOptions`](crate::CacheOptions) TTL | yes | `HIT` while fresh, then revalidated (with a validator, kept [`keep_stale`](Self::keep_stale) for that) |
/// | no freshness (no `Cache-Control`, say: even with the `ETag` of an `EtagLayer`) or a lifetime of 0 (an `Expires` in the past) | no | `MISS`: the inner service answers each time, and the cache still answers the client's `If-None-Match` from that response |
/// | a lifetime of 0 (or none, and a validator) with `stale-while-revalidate` or `stale-if-error`, not overridden by `must-revalidate`, `proxy-revalidate` or `no-cache` | yes | `STALE` while it is refreshed in the background, or when the inner service fails |
/// | `no-cache`, or a governing `max-age=0` or `s-maxage=0`, and a validator (`ETag`, `Last-Modified`) | yes | `REVALIDATED`: a conditional request to the inner service, and its 304 answered with the stored body; written again only when the 304 changes a stored field other than `Date` |
/// | `no-cache` without a validator | no | `MISS` |
///
/// Why: a response that is never fresh can only be used after a revalidation, and a
/// revalidation calls the inner service (behind an [`EtagLayer`](crate::EtagLayer) that digests
/// the body, it runs the handler) anyway. Storing it would cost a store write (a `SET` on Redis)
/// on every request and gain nothing. Where the origin asks for revalidation with a validator,
/// it opted in: a 304 saves sending the body again, and an inner service that answers
/// conditional requests cheaply (an `EtagLayer` in validator mode) skips its handler. A stored
/// copy a 304 leaves as it was is not written again; it expires `keep_stale` after its last
/// write, and the next request stores it afresh. RFC 9111 never requires a cache to store a
/// response, so this is conformant. To cache a route that sends no freshness, give it a
/// lifetime: `Cache-Control: max-age=N` from the handler, a [`CacheOptions`](crate::CacheOptions)
/// TTL, or a [`default_ttl`](Self::default_ttl) for every such route:
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use cache_axum::{EtagLayer, ResponseCacheLayer};
///
/// let app: Router = Router::new()
///     // No Cache-Control: without the default_ttl below, never stored (x-cache: MISS).
///     .route("/report", get(|| async { "figures" }))
///     // Revalidated on every request; stored once, written again only when it changes.
///     .route("/live", get(|| async { ([("cache-control", "no-cache")], "now") }))
///     .layer(EtagLayer::new())
///     .layer(
///         ResponseCacheLayer::new(cache_core::Cache::memory())
///             .default_ttl(Duration::from_secs(10)),
///     );
/// ```
///
/// # Query strings and the cache's size
///
/// The default key is the path and query, so every new query string is a new entry: a client
/// sending random query strings (`/users/1?x=1`, `?x=2`, …) fills the cache with copies of one
/// response and evicts the useful ones. The store's bound still holds (the memory store's
/// `max_bytes` counts what entries cost in memory), but the hit ratio does not. Where a route's
/// response does not depend on its query, or only on some parameters, say so with
/// [`key_fn`](Self::key_fn), and keep requests with unknown parameters out of the cache with
/// [`predicate`](Self::predicate):
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::ResponseCacheLayer;
///
/// let layer = ResponseCacheLayer::new(cache_core::Cache::memory())
///     // The key is the path and the `page` parameter only; other parameters share its entry.
///     .key_fn(|req| {
///         let page = req
///             .uri
///             .query()
///             .into_iter()
///             .flat_map(|q| q.split('&'))
///             .find(|p| p.starts_with("page="));
///         Some(match page {
///             Some(p) => format!("{}?{p}", req.uri.path()),
///             None => req.uri.path().to_owned(),
///         })
///     })
///     // Requests with a long query bypass the cache.
///     .predicate(|req| req.uri.query().is_none_or(|q| q.len() <= 64));
/// let app: Router = Router::new()
///     .route("/users", get(|| async { ([("cache-control", "max-age=60")], "[]") }))
///     .layer(layer);
/// ```
#[derive(Clone)]
#[must_use]
pub struct ResponseCacheLayer {
    // Shared, so applying the layer (axum does it per connection) is an `Arc` clone.
    cfg: Arc<Config>,
}

impl fmt::Debug for ResponseCacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCacheLayer")
            .field("cache", &self.cfg.cache)
            .field("default_ttl", &self.cfg.default_ttl)
            .field("vary_by", &self.cfg.vary_by)
            .field("max_body", &self.cfg.max_body)
            .finish_non_exhaustive()
    }
}

impl ResponseCacheLayer {
    /// A response cache storing in `cache`, with strict RFC 9111 defaults: no default TTL, the
    /// `Last-Modified` heuristic on, `x-cache` status header, `cache-tag` tag header, 1 MiB body
    /// bound, `Set-Cookie` responses not stored.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory());
    /// # let _ = layer;
    /// ```
    pub fn new(cache: Cache) -> Self {
        Self {
            cfg: Arc::new(Config {
                cache,
                default_ttl: None,
                heuristic: true,
                vary_by: Vec::new(),
                key_fn: None,
                predicate: None,
                tag_header: Some(HeaderName::from_static("cache-tag")),
                status_header: Some(HeaderName::from_static("x-cache")),
                max_body: DEFAULT_MAX_BODY,
                store_set_cookie: false,
                keep_stale: DEFAULT_KEEP_STALE,
                flights: Arc::new(Flights::default()),
                fence: Arc::new(Fence::default()),
                targeted: Some(HeaderName::from_static("cdn-cache-control")),
                forward_targeted: false,
                cache_status: None,
                cache_status_key: false,
            }),
        }
    }

    /// The freshness lifetime of responses that carry no freshness information (no
    /// `s-maxage`, `max-age` or `Expires`), applied only where RFC 9111 §4.2.2 allows a
    /// heuristic: heuristically cacheable status codes, or `public`. Off by default: such
    /// responses are then not stored (see [what is stored](Self#what-is-stored)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .default_ttl(Duration::from_secs(30));
    /// # let _ = layer;
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.cfg_mut().default_ttl = Some(ttl);
        self
    }

    /// Whether responses with a `Last-Modified` and no other freshness information get the
    /// usual heuristic lifetime (10 % of their age, at most a day). On by default.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory()).heuristic(false);
    /// # let _ = layer;
    /// ```
    pub fn heuristic(mut self, on: bool) -> Self {
        self.cfg_mut().heuristic = on;
        self
    }

    /// Request headers that always take part in the key, as if every response had them in
    /// `Vary`. Invalid names are ignored.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .vary_by(["accept-language", "x-tenant"]);
    /// # let _ = layer;
    /// ```
    pub fn vary_by<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let vary_by = &mut self.cfg_mut().vary_by;
        vary_by.extend(
            headers
                .into_iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_ref().as_bytes()).ok()),
        );
        vary_by.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        vary_by.dedup();
        self
    }

    /// Replaces the resource identity in the key (by default the path and query). Return
    /// `None` to bypass the cache for a request. The result is escaped, so it cannot forge
    /// another key. The same function names the resources an unsafe method invalidates
    /// (applied to the unsafe request, and to it with the `Location`/`Content-Location` URI).
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .key_fn(|req| {
    ///         let host = req.headers.get("host")?.to_str().ok()?;
    ///         Some(format!("{host}{}", req.uri.path()))
    ///     });
    /// # let _ = layer;
    /// ```
    pub fn key_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.cfg_mut().key_fn = Some(Arc::new(f));
        self
    }

    /// Only requests for which `f` returns true use the cache; others pass through
    /// (`x-cache: BYPASS`).
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .predicate(|req| !req.uri.path().starts_with("/admin"));
    /// # let _ = layer;
    /// ```
    pub fn predicate<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.cfg_mut().predicate = Some(Arc::new(f));
        self
    }

    /// The response header whose comma-separated values tag the stored response (default
    /// `cache-tag`); it is removed before the response reaches the client. `None` turns it off.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .tag_header(Some("x-cache-tags"));
    /// # let _ = layer;
    /// ```
    pub fn tag_header(mut self, name: Option<&str>) -> Self {
        self.cfg_mut().tag_header = name.and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok());
        self
    }

    /// The response header that reports `HIT`, `MISS`, `STALE`, `BYPASS` or `REVALIDATED`
    /// (default `x-cache`). `None` turns it off.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .status_header(Some("x-cache-status"));
    /// # let _ = layer;
    /// ```
    pub fn status_header(mut self, name: Option<&str>) -> Self {
        self.cfg_mut().status_header = name.and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok());
        self
    }

    /// Adds a `Cache-Status` field (RFC 9211) to every response this layer handles, with this
    /// cache as the member `name` (default: no field). Beside the status field, or instead of
    /// it with [`status_header(None)`](Self::status_header). The member says `hit` when the
    /// cache answered, or `fwd` with why the request went to the inner service (`uri-miss`,
    /// `vary-miss`, `stale`, `request` when the request's directives or `Authorization` ruled
    /// out a stored response, `partial` for a range not stored, `bypass`, `method`), with
    /// `fwd-status` when the inner service's status differs from the response's, `stored`
    /// when the response is stored, and `ttl`, its remaining freshness in seconds (negative
    /// when stale). A name that is not a structured-field token is written as a string; one
    /// that cannot be written in a field turns the option off. A `Cache-Status` from the inner
    /// service (a cache behind this one) comes first and is not stored.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .cache_status(Some("my-app"))
    ///     .status_header(None);
    /// // A hit then carries `Cache-Status: my-app; hit; ttl=59`.
    /// # let _ = layer;
    /// ```
    pub fn cache_status(mut self, name: Option<&str>) -> Self {
        self.cfg_mut().cache_status = name.and_then(report::member_name);
        self
    }

    /// Whether `Cache-Status` shows the cache key (its `key` parameter; default `false`). Keys
    /// hold the request's path and query, or what a [`key_fn`](Self::key_fn) makes of the
    /// request (a user or tenant, say), which clients and the caches in front of this one
    /// should not see unless you say so.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .cache_status(Some("my-app"))
    ///     .cache_status_key(true);
    /// # let _ = layer;
    /// ```
    pub fn cache_status_key(mut self, on: bool) -> Self {
        self.cfg_mut().cache_status_key = on;
        self
    }

    /// The targeted cache-control field (RFC 9213) this cache obeys: when a response carries it
    /// with a value, its directives decide storage and freshness here, and the response's
    /// `Cache-Control` and `Expires` are ignored for this cache (they still reach clients and
    /// the caches after this one). Default `CDN-Cache-Control`; `None` obeys `Cache-Control`
    /// alone.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .targeted_field(Some("Acme-Cache-Control"));
    /// # let _ = layer;
    /// ```
    pub fn targeted_field(mut self, name: Option<&str>) -> Self {
        self.cfg_mut().targeted = name.and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok());
        self
    }

    /// Whether the targeted field is passed on to clients and stored (default: no, it is meant
    /// for this cache; pass it on when a CDN in front of the service obeys it too).
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .forward_targeted_field(true);
    /// # let _ = layer;
    /// ```
    pub fn forward_targeted_field(mut self, on: bool) -> Self {
        self.cfg_mut().forward_targeted = on;
        self
    }

    /// The largest body stored (default [`DEFAULT_MAX_BODY`]). Every body streams to the client
    /// as it arrives; the copy kept for the store is dropped once the body outgrows this bound.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory()).max_body(64 * 1024);
    /// # let _ = layer;
    /// ```
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.cfg_mut().max_body = bytes;
        self
    }

    /// Store responses that set cookies (off by default: a shared cache would hand one
    /// client's cookie to every other client).
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory()).store_set_cookie(true);
    /// # let _ = layer;
    /// ```
    pub fn store_set_cookie(mut self, on: bool) -> Self {
        self.cfg_mut().store_set_cookie = on;
        self
    }

    /// How long a response that has a validator (`ETag` or `Last-Modified`) is kept after it
    /// goes stale, so it can be revalidated with a conditional request (default
    /// [`DEFAULT_KEEP_STALE`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory())
    ///     .keep_stale(Duration::from_secs(3600));
    /// # let _ = layer;
    /// ```
    pub fn keep_stale(mut self, keep: Duration) -> Self {
        self.cfg_mut().keep_stale = keep;
        self
    }

    fn cfg_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.cfg)
    }

    /// The cache responses are stored in.
    ///
    /// ```
    /// let cache = cache_core::Cache::memory();
    /// let layer = cache_axum::ResponseCacheLayer::new(cache.clone());
    /// assert!(layer.cache().same_as(&cache));
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.cfg.cache
    }

    /// How many fills (responses fetched on a miss) were not stored, or were deleted again,
    /// because an unsafe method invalidated their resource while they were in flight.
    /// Invalidations of other resources never stop a fill.
    ///
    /// ```
    /// let layer = cache_axum::ResponseCacheLayer::new(cache_core::Cache::memory());
    /// assert_eq!(layer.skipped_fills(), 0);
    /// ```
    pub fn skipped_fills(&self) -> u64 {
        self.cfg.fence.skipped()
    }
}

impl<S> Layer<S> for ResponseCacheLayer {
    type Service = ResponseCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseCache::from_config(inner, Arc::clone(&self.cfg))
    }
}
