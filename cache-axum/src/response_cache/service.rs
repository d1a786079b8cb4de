use std::borrow::Cow;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use cache_core::{Cache, SetOptions};
use futures_util::{StreamExt as _, TryStreamExt};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::Frame;
use http_body_util::{BodyExt as _, BodyStream, StreamBody};
use tower_service::Service;

use super::control::CacheOptions;
use super::entry::{self, Entry, Record, AUTH_OK, EXPLICIT_REVALIDATE, FORBIDS_STALE, NO_CACHE};
use super::flight::{self, Join, Leader};
use super::layer::{Config, ResponseCacheLayer};
use super::policy::{self, CacheControl, FreshnessOptions, Storable};
use crate::conditional;
use crate::extract::LayerCache;
use crate::future::ResponseFuture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Caches `GET`/`HEAD` responses of the inner service; see
/// [`ResponseCacheLayer`](crate::ResponseCacheLayer).
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::ResponseCache;
///
/// let router: Router = Router::new().route("/", get(|| async { "hi" }));
/// let service = ResponseCache::new(router, cache_core::Cache::memory());
/// assert!(service.get_ref().has_routes());
/// ```
#[derive(Clone)]
pub struct ResponseCache<S> {
    inner: S,
    cfg: Arc<Config>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ResponseCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("inner", &self.inner)
            .field("cache", &self.cfg.cache)
            .finish_non_exhaustive()
    }
}

impl<S> ResponseCache<S> {
    /// Wraps `inner` with default options; see [`ResponseCacheLayer::new`].
    pub fn new(inner: S, cache: Cache) -> Self {
        tower_layer::Layer::layer(&ResponseCacheLayer::new(cache), inner)
    }

    pub(crate) fn from_config(inner: S, cfg: Arc<Config>) -> Self {
        Self { inner, cfg }
    }

    /// A layer that wraps services with this one; same as [`ResponseCacheLayer::new`].
    ///
    /// ```
    /// let layer = cache_axum::ResponseCache::<()>::layer(cache_core::Cache::memory());
    /// # let _ = layer;
    /// ```
    pub fn layer(cache: Cache) -> ResponseCacheLayer {
        ResponseCacheLayer::new(cache)
    }

    /// The inner service.
    ///
    /// ```
    /// let svc = cache_axum::ResponseCache::new(7u8, cache_core::Cache::memory());
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// let mut svc = cache_axum::ResponseCache::new(7u8, cache_core::Cache::memory());
    /// *svc.get_mut() = 8;
    /// assert_eq!(svc.into_inner(), 8);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// let svc = cache_axum::ResponseCache::new(7u8, cache_core::Cache::memory());
    /// assert_eq!(svc.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ResBody> Service<Request<Body>> for ResponseCache<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let prep = match prepare(&self.cfg, &mut parts) {
            Prep::Served(res) => return ResponseFuture::ready(res),
            prep => prep,
        };
        // The clone may not be ready: keep the service that was polled ready, leave the clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let ctx = Ctx {
            svc: inner,
            ready: true,
            cfg: Arc::clone(&self.cfg),
        };
        ResponseFuture::new(Box::pin(handle(ctx, parts, body, prep)))
    }
}

/// What [`prepare`] made of a request.
enum Prep {
    /// Answered from the response held in process.
    Served(Response<Body>),
    /// A method other than `GET`/`HEAD`.
    Other,
    /// Not looked up: vetoed by the predicate, a range or a precondition this cache does not
    /// evaluate, or no key.
    Bypass,
    /// To look up under `keys`.
    Lookup(Keys, CacheControl),
}

/// Sorts a request out before `handle` (which it spares the same work), and serves a fresh hit
/// on a response held in process without boxing a future or touching the inner service: the
/// response `handle` would give.
fn prepare(cfg: &Config, parts: &mut Parts) -> Prep {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Prep::Other;
    }
    if [
        header::RANGE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
    ]
    .iter()
    .any(|h| parts.headers.contains_key(h))
        || cfg.predicate.as_ref().is_some_and(|p| !p(parts))
    {
        return Prep::Bypass;
    }
    let req_cc = CacheControl::parse(&parts.headers);
    if parts.headers.contains_key(header::AUTHORIZATION) {
        // Shared only when the stored response allows it: `handle` checks.
        return match keys_for(cfg, parts) {
            Some(keys) => Prep::Lookup(keys, req_cc),
            None => Prep::Bypass,
        };
    }
    let Some(keys) = keys_for(cfg, parts) else {
        return Prep::Bypass;
    };
    let now = now_ms();
    // A fresh hit on a response held in process (decoded once, beside its stored bytes) is
    // answered here, without a future.
    let found = cfg
        .cache
        .get_bytes_as_now(&keys.base, decode_record, |record| {
            let Record::Response(entry) = record else {
                return None;
            };
            if !entry.vary.is_empty() || entry.has(NO_CACHE) {
                return None;
            }
            let status = match decide(entry, &req_cc, now) {
                Use::Fresh => Status::Hit,
                Use::Stale => Status::Stale,
                Use::StaleWhileRevalidate | Use::Revalidate => return None,
            };
            Some((Arc::clone(entry), status))
        });
    match found {
        Some((entry, status)) => {
            let cond = take_conditionals(&mut parts.headers);
            Prep::Served(serve(cfg, entry, now, &parts.method, &cond, status))
        }
        None => Prep::Lookup(keys, req_cc),
    }
}

/// Decodes a stored record (kept beside its bytes by the cache when the store is in process).
fn decode_record(bytes: &Bytes) -> Option<Record> {
    entry::decode(bytes.clone())
}

/// What the status header reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Hit,
    Miss,
    Stale,
    Bypass,
    Revalidated,
}

impl Status {
    fn value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Status::Hit => "HIT",
            Status::Miss => "MISS",
            Status::Stale => "STALE",
            Status::Bypass => "BYPASS",
            Status::Revalidated => "REVALIDATED",
        })
    }
}

/// The inner service and the shared configuration, for one request.
struct Ctx<S> {
    svc: S,
    /// The first call uses the service `poll_ready` was called on.
    ready: bool,
    cfg: Arc<Config>,
}

impl<S, ResBody> Ctx<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
{
    async fn call(&mut self, mut req: Request<Body>) -> Result<Response<ResBody>, S::Error> {
        req.extensions_mut()
            .insert(LayerCache(self.cfg.cache.clone()));
        if !std::mem::take(&mut self.ready) {
            poll_fn(|cx| self.svc.poll_ready(cx)).await?;
        }
        self.svc.call(req).await
    }

    fn label(&self, res: &mut Response<Body>, status: Status) {
        if let Some(name) = &self.cfg.status_header {
            res.headers_mut().insert(name.clone(), status.value());
        }
    }
}

/// Where a request's responses live.
#[derive(Debug, Clone)]
struct Keys {
    /// The primary key: a response, or the variants record of a URI with `Vary`.
    base: String,
    /// `base[..id_end]` is `rc:` and the escaped resource identity (path and query, or the
    /// key function's result).
    id_end: usize,
}

fn now_ms() -> u64 {
    policy::unix_ms(SystemTime::now())
}

fn resource_id<'a>(cfg: &Config, parts: &'a Parts) -> Option<Cow<'a, str>> {
    match &cfg.key_fn {
        Some(f) => f(parts).map(Cow::Owned),
        None => Some(Cow::Borrowed(
            parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        )),
    }
}

impl Keys {
    /// `rc:` and the escaped resource identity.
    fn resource(&self) -> &str {
        &self.base[..self.id_end]
    }

    /// The tag every stored response of this resource carries, so invalidating the resource
    /// drops all its variants in one call. Computed only when writing or invalidating.
    fn resource_tag(&self) -> String {
        let hash = blake3::hash(self.resource().as_bytes());
        format!("rc-uri:{}", &hash.to_hex()[..32])
    }
}

/// The normalized value of a request field for `Vary` matching: all its lines, comma-joined.
fn field_value(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first.clone());
    };
    let mut joined = BytesMut::from(first.as_bytes());
    for v in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(v.as_bytes());
    }
    HeaderValue::from_maybe_shared(joined.freeze()).ok()
}

/// A digest of field names and values (`None`: the field is absent).
fn hash_fields<'a>(fields: impl Iterator<Item = (&'a HeaderName, Option<HeaderValue>)>) -> String {
    let mut h = blake3::Hasher::new();
    for (name, value) in fields {
        h.update(name.as_str().as_bytes());
        match value {
            Some(v) => {
                h.update(&[1]);
                h.update(&(v.len() as u64).to_be_bytes());
                h.update(v.as_bytes());
            }
            None => {
                h.update(&[0]);
            }
        }
    }
    h.finalize().to_hex()[..32].to_owned()
}

/// `hash_fields` over a request's values for `names`.
fn hash_request_fields<'a>(
    names: impl Iterator<Item = &'a HeaderName>,
    headers: &HeaderMap,
) -> String {
    hash_fields(names.map(|n| (n, field_value(headers, n))))
}

fn keys_for(cfg: &Config, parts: &Parts) -> Option<Keys> {
    let mut base = String::new();
    let id_end = write_key(cfg, parts, &mut base)?;
    Some(Keys { base, id_end })
}

/// Appends a request's base key (see [`Keys`]) to `key`, returning where its resource identity
/// ends; `None` when the key function declines the request.
fn write_key(cfg: &Config, parts: &Parts, key: &mut String) -> Option<usize> {
    let id = resource_id(cfg, parts)?;
    key.reserve(id.len() + 48);
    key.push_str("rc:");
    cache_core::key::escape_into(key, &id);
    let id_end = key.len();
    if !cfg.vary_by.is_empty() {
        key.push_str(":vb:");
        key.push_str(&hash_request_fields(cfg.vary_by.iter(), &parts.headers));
    }
    Some(id_end)
}

fn variant_key(base: &str, names: &[HeaderName], headers: &HeaderMap) -> String {
    format!("{base}:var:{}", hash_request_fields(names.iter(), headers))
}

fn vary_matches(entry: &Entry, headers: &HeaderMap) -> bool {
    entry
        .vary
        .iter()
        .all(|(name, stored)| field_value(headers, name).as_ref() == stored.as_ref())
}

/// Looks the request up: `Ok(Some((entry, variant key)))` on a matching stored response (no
/// variant key: it is under the base key), `Err(())` when the cache failed (already logged and
/// counted by the `Cache`).
async fn lookup(
    cfg: &Arc<Config>,
    keys: &Keys,
    headers: &HeaderMap,
) -> Result<Option<(Arc<Entry>, Option<String>)>, ()> {
    let found = cfg
        .cache
        .get_bytes_as(&keys.base, decode_record)
        .await
        .map_err(drop)?;
    match found {
        Some(Record::Response(e)) => Ok(vary_matches(&e, headers).then_some((e, None))),
        Some(Record::Variants(names)) => {
            let key = variant_key(&keys.base, &names, headers);
            match cfg
                .cache
                .get_bytes_as(&key, decode_record)
                .await
                .map_err(drop)?
            {
                Some(Record::Response(e)) if vary_matches(&e, headers) => Ok(Some((e, Some(key)))),
                _ => Ok(None),
            }
        }
        // Absent, or unreadable (counted and logged by the cache as a miss).
        None => Ok(None),
    }
}

/// How a stored response can be used for a request (RFC 9111 §4.2, §4.2.4, RFC 5861).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Fresh,
    /// Stale, but the client accepts it (`max-stale`).
    Stale,
    /// Stale within `stale-while-revalidate`: serve it and refresh in the background.
    StaleWhileRevalidate,
    Revalidate,
}

fn decide(e: &Entry, req: &CacheControl, now_ms: u64) -> Use {
    if e.has(NO_CACHE) || req.no_cache {
        return Use::Revalidate;
    }
    let age = e.age_ms(now_ms);
    let fresh = age < e.lifetime_ms;
    // `max-age=0` is how clients ask for revalidation, whatever the sub-second age.
    let within_max_age = req
        .max_age
        .is_none_or(|m| m > 0 && age <= m.saturating_mul(1000));
    let min_fresh_ok = req
        .min_fresh
        .is_none_or(|m| e.lifetime_ms.saturating_sub(age) >= m.saturating_mul(1000));
    if fresh && within_max_age && min_fresh_ok {
        return Use::Fresh;
    }
    if fresh {
        // Fresh, but not fresh enough for this client.
        return Use::Revalidate;
    }
    let staleness = age - e.lifetime_ms;
    if let Some(max_stale) = req.max_stale {
        if !e.has(FORBIDS_STALE)
            && within_max_age
            && max_stale.is_none_or(|s| staleness <= s.saturating_mul(1000))
        {
            return Use::Stale;
        }
    }
    if e.swr_ms > 0
        && !e.has(EXPLICIT_REVALIDATE)
        && staleness <= e.swr_ms
        && req.max_age.is_none()
        && req.min_fresh.is_none()
    {
        return Use::StaleWhileRevalidate;
    }
    Use::Revalidate
}

/// Whether a stale response may stand in for an error (RFC 5861 §4).
fn stale_if_error_ok(e: &Entry, req: &CacheControl, now_ms: u64) -> bool {
    let window = e
        .sie_ms
        .max(req.stale_if_error.map_or(0, |s| s.saturating_mul(1000)));
    let staleness = e.age_ms(now_ms).saturating_sub(e.lifetime_ms);
    window > 0 && !e.has(EXPLICIT_REVALIDATE) && staleness <= window
}

/// The `Age` value for `secs`: common ages come from a table built once, since formatting
/// a number into a `HeaderValue` allocates.
fn age_value(secs: u64) -> HeaderValue {
    const TABLE: usize = 4096;
    static AGES: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    match usize::try_from(secs) {
        Ok(i) if i < TABLE => {
            AGES.get_or_init(|| (0..TABLE as u64).map(HeaderValue::from).collect())[i].clone()
        }
        _ => HeaderValue::from(secs),
    }
}

/// Turns a stored response into the response for this request.
fn serve(
    cfg: &Config,
    e: Arc<Entry>,
    now_ms: u64,
    method: &Method,
    cond: &HeaderMap,
    status: Status,
) -> Response<Body> {
    let age = age_value(e.age_ms(now_ms) / 1000);
    let res = not_modified(&e, method, cond).unwrap_or_else(|| {
        // A record shared with the store's entry is copied (reference counts, no bytes).
        let (code, headers, body) = match Arc::try_unwrap(e) {
            Ok(e) => (e.status, e.headers, e.body),
            Err(e) => (
                e.status,
                e.served_headers(cfg.status_header.as_ref()),
                e.body.clone(),
            ),
        };
        full(code, headers, body, method)
    });
    labelled(cfg, res, age, status)
}

/// [`serve`] for the response just fetched, from its own fields (`e` is the copy to store).
fn serve_fetched(
    cfg: &Config,
    e: &Entry,
    headers: HeaderMap,
    now_ms: u64,
    method: &Method,
    cond: &HeaderMap,
) -> Response<Body> {
    let age = age_value(e.age_ms(now_ms) / 1000);
    let res = not_modified(e, method, cond)
        .unwrap_or_else(|| full(e.status, headers, e.body.clone(), method));
    labelled(cfg, res, age, Status::Miss)
}

/// The 304 for a conditional request that a stored 200 satisfies (`cond` holds the client's
/// own conditional fields: without any, `None`).
fn not_modified(e: &Entry, method: &Method, cond: &HeaderMap) -> Option<Response<Body>> {
    (e.status == StatusCode::OK
        && !cond.is_empty()
        && conditional::is_not_modified(method, cond, &e.headers))
    .then(|| conditional::not_modified::<Body>(&e.headers))
}

/// A full response; a `HEAD` one without the body, but with its length.
fn full(code: StatusCode, mut headers: HeaderMap, body: Bytes, method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD {
        if !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut res = Response::new(body);
    *res.status_mut() = code;
    *res.headers_mut() = headers;
    res
}

/// Adds `Age` and the status field.
fn labelled(
    cfg: &Config,
    mut res: Response<Body>,
    age: HeaderValue,
    status: Status,
) -> Response<Body> {
    let status = cfg.status_header.as_ref().map(|n| (n, status.value()));
    set_added(res.headers_mut(), age, status);
    res
}

/// Sets `Age` and the status field. `Entry::served_headers` puts placeholders for them first,
/// which are overwritten in place without searching the map; other maps get them inserted.
fn set_added(
    headers: &mut HeaderMap,
    age: HeaderValue,
    status: Option<(&HeaderName, HeaderValue)>,
) {
    let mut age = Some(age);
    let mut status = status;
    let mut fields = headers.iter_mut();
    if let Some((name, slot)) = fields.next() {
        if *name == header::AGE {
            if let Some(age) = age.take() {
                *slot = age;
            }
            if let (Some((want, _)), Some((name, slot))) = (&status, fields.next()) {
                if name == *want {
                    if let Some((_, value)) = status.take() {
                        *slot = value;
                    }
                }
            }
        }
    }
    if let Some(age) = age {
        headers.insert(header::AGE, age);
    }
    if let Some((name, value)) = status {
        headers.insert(name.clone(), value);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    ) || *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
}

/// Whether a response header is kept in the stored response.
fn stored_field(cfg: &Config, name: &HeaderName) -> bool {
    !(is_hop_by_hop(name)
        || *name == header::AGE
        || cfg.status_header.as_ref() == Some(name)
        || cfg.tag_header.as_ref() == Some(name))
}

/// Removes the tag header and returns its tags with those of the typed extension.
fn take_tags(cfg: &Config, headers: &mut HeaderMap, opts: Option<&CacheOptions>) -> Vec<String> {
    let mut tags = Vec::new();
    // `entry` would reserve room in the map even when the field is absent.
    if let Some(name) = cfg.tag_header.as_ref().filter(|n| headers.contains_key(*n)) {
        if let header::Entry::Occupied(e) = headers.entry(name) {
            for v in e.remove_entry_mult().1 {
                if let Ok(s) = v.to_str() {
                    tags.extend(
                        s.split(',')
                            .map(str::trim_ascii)
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned),
                    );
                }
            }
        }
    }
    if let Some(o) = opts {
        tags.extend(o.tags.iter().filter(|t| !t.is_empty()).cloned());
    }
    tags
}

/// The timing and flags of a storable response, and how long to keep it.
struct Plan {
    lifetime_ms: u64,
    initial_age_ms: u64,
    swr_ms: u64,
    sie_ms: u64,
    flags: u8,
    ttl: Duration,
}

#[allow(clippy::too_many_arguments)]
fn plan(
    cfg: &Config,
    req_headers: &HeaderMap,
    req_cc: &CacheControl,
    status: StatusCode,
    headers: &HeaderMap,
    age_headers: &HeaderMap,
    opts: Option<&CacheOptions>,
    request_time_ms: u64,
    response_time_ms: u64,
) -> Option<Plan> {
    if opts.is_some_and(|o| o.no_store) {
        return None;
    }
    let cc = CacheControl::parse(headers);
    if let Storable::No(reason) = policy::storable(
        req_headers,
        req_cc,
        status,
        headers,
        &cc,
        cfg.store_set_cookie,
    ) {
        tracing::trace!(target: "cache_axum", reason, "response not stored");
        return None;
    }
    let fopts = FreshnessOptions {
        default_ttl: cfg.default_ttl,
        last_modified_heuristic: cfg.heuristic,
    };
    let mut fr = policy::freshness(status, headers, &cc, response_time_ms, fopts);
    if let Some(ttl) = opts.and_then(|o| o.ttl) {
        fr.lifetime_ms = Some(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
    }
    let has_validator =
        headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED);
    let lifetime_ms = match fr.lifetime_ms {
        Some(l) => l,
        // No freshness, but storable (§3) and revalidatable: keep it for conditional requests.
        None if has_validator && (policy::heuristically_cacheable(status) || cc.public) => 0,
        None => return None,
    };
    let keep_ms = if has_validator {
        u64::try_from(cfg.keep_stale.as_millis()).unwrap_or(u64::MAX)
    } else {
        0
    };
    let initial_age_ms = policy::initial_age_ms(age_headers, request_time_ms, response_time_ms);
    let ttl_ms = lifetime_ms
        .saturating_add(fr.swr_ms.max(fr.sie_ms).max(keep_ms))
        .saturating_sub(initial_age_ms);
    if ttl_ms == 0 {
        return None;
    }
    let mut flags = 0;
    if cc.no_cache {
        flags |= NO_CACHE;
    }
    if cc.forbids_stale() {
        flags |= FORBIDS_STALE;
    }
    if cc.must_revalidate || cc.proxy_revalidate || cc.no_cache {
        flags |= EXPLICIT_REVALIDATE;
    }
    if policy::auth_ok(&cc) {
        flags |= AUTH_OK;
    }
    Some(Plan {
        lifetime_ms,
        initial_age_ms,
        swr_ms: fr.swr_ms,
        sie_ms: fr.sie_ms,
        flags,
        ttl: Duration::from_millis(ttl_ms),
    })
}

/// Writes an entry (and the variants record when it varies) behind the response: the client
/// waits neither for the store nor for encoding the entry. The leader guard, if any, is held
/// until the write lands, so requests of this process that miss meanwhile wait for it instead
/// of calling the inner service. A write that an invalidation of its resource overtook (the
/// count `epoch`, taken before the inner service was called, moved) is deleted again. Failures
/// are logged and counted by the `Cache`, never returned.
fn store(
    cfg: &Arc<Config>,
    keys: &Keys,
    entry: Arc<Entry>,
    ttl: Duration,
    tags: Vec<String>,
    leader: Option<Leader>,
    epoch: u64,
) {
    // A request that did not lead a flight (one with `Authorization`, say) opens one for the
    // write, so the next request here waits for it rather than missing.
    let leader = leader.or_else(|| match cfg.flights.join(&keys.base) {
        Join::Leader(l) => Some(l),
        Join::Follower(_) => None,
    });
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        // No runtime to write from: the response is simply not stored.
        tracing::warn!(target: "cache_axum", "no tokio runtime; response not stored");
        return;
    };
    let cfg = Arc::clone(cfg);
    let keys = keys.clone();
    rt.spawn(async move {
        if cfg.flights.epoch(keys.resource()) != epoch {
            // Invalidated since it was fetched: not written at all.
            return;
        }
        let mut opts = SetOptions::new().ttl(ttl).tags(tags);
        if !entry.vary.is_empty() || !cfg.vary_by.is_empty() {
            // A resource stored under several keys is invalidated through its tag; one stored
            // under its base key alone is simply deleted (a tag costs a write to the tag index).
            opts = opts.tag(keys.resource_tag());
        }
        let encode = |b: &mut Vec<u8>| entry.encode_into(b);
        let written = if entry.vary.is_empty() {
            (cfg.cache)
                .set_bytes_with(&keys.base, entry.encoded_len(), encode, opts)
                .await
                .map(|()| keys.base.clone())
        } else {
            let names: Vec<HeaderName> = entry.vary.iter().map(|(n, _)| n.clone()).collect();
            // The same digest `variant_key` takes of a later request's values.
            let variant = format!(
                "{}:var:{}",
                keys.base,
                hash_fields(entry.vary.iter().map(|(n, v)| (n, v.clone())))
            );
            match cfg
                .cache
                .set_bytes(&keys.base, entry::encode_variants(&names), opts.clone())
                .await
            {
                Ok(()) => (cfg.cache)
                    .set_bytes_with(&variant, entry.encoded_len(), encode, opts)
                    .await
                    .map(|()| variant),
                Err(e) => Err(e),
            }
        };
        match written {
            Ok(key) if cfg.flights.epoch(keys.resource()) != epoch => {
                if let Err(e) = cfg.cache.delete(&key).await {
                    tracing::warn!(target: "cache_axum", key, error = %e, "response fetched before an invalidation not dropped");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "cache_axum", key = keys.base, error = %e, "response not stored");
            }
        }
        drop(leader);
    });
}

/// Reads a body into memory up to `limit` bytes. A larger body (or one with trailers, or one
/// that fails) comes back as a body that replays what was read and streams the rest.
async fn buffer<B>(body: B, limit: usize) -> Result<Bytes, Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    if body.size_hint().lower() > limit as u64 {
        return Err(Body::new(body));
    }
    let mut frames: Vec<Frame<Bytes>> = Vec::new();
    let mut total = 0usize;
    while let Some(next) = body.frame().await {
        match next {
            Ok(frame) => {
                let trailers = frame.is_trailers();
                total = total.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                frames.push(frame);
                if total > limit || trailers {
                    let prefix =
                        futures_util::stream::iter(frames.into_iter().map(Ok::<_, BoxError>));
                    let rest = TryStreamExt::map_err(BodyStream::new(body), Into::into);
                    return Err(Body::new(StreamBody::new(prefix.chain(rest))));
                }
            }
            Err(e) => {
                let prefix = futures_util::stream::iter(frames.into_iter().map(Ok::<_, BoxError>));
                let failed =
                    futures_util::stream::once(std::future::ready(Err::<Frame<Bytes>, BoxError>(
                        e.into(),
                    )));
                return Err(Body::new(StreamBody::new(prefix.chain(failed))));
            }
        }
    }
    let mut data = frames.into_iter().filter_map(|f| f.into_data().ok());
    Ok(match (data.next(), data.next()) {
        (None, _) => Bytes::new(),
        (Some(one), None) => one,
        (Some(a), Some(b)) => {
            let mut all = BytesMut::with_capacity(total);
            for chunk in [a, b].into_iter().chain(data) {
                all.extend_from_slice(&chunk);
            }
            all.freeze()
        }
    })
}

/// Moves the conditional fields this cache answers itself out of a request.
fn take_conditionals(headers: &mut HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    // Most requests have neither: `entry` would reserve room in the map each time.
    if !headers.contains_key(header::IF_NONE_MATCH)
        && !headers.contains_key(header::IF_MODIFIED_SINCE)
    {
        return out;
    }
    for name in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
        if let header::Entry::Occupied(e) = headers.entry(&name) {
            for v in e.remove_entry_mult().1 {
                out.append(name.clone(), v);
            }
        }
    }
    out
}

fn restore(headers: &mut HeaderMap, cond: HeaderMap) {
    let mut last = None;
    for (name, value) in cond {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(n) = &last {
            headers.append(n.clone(), value);
        }
    }
}

/// Methods whose success invalidates stored responses (RFC 9111 §4.4).
fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The URI of a `Location`/`Content-Location` value if it names a resource of this origin.
fn same_origin(parts: &Parts, value: &HeaderValue) -> Option<Uri> {
    let s = value.to_str().ok()?.trim();
    let uri: Uri = s.parse().ok()?;
    match uri.authority() {
        None if s.starts_with('/') => Some(uri),
        None => None,
        Some(authority) => {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
            if !authority.as_str().eq_ignore_ascii_case(host) {
                return None;
            }
            Uri::builder()
                .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
                .build()
                .ok()
        }
    }
}

/// Drops every stored response of the request's target and of same-origin `Location` and
/// `Content-Location` (all variants at once, through their resource tags).
async fn invalidate(cfg: &Config, parts: &Parts, res_headers: &HeaderMap) {
    let mut tags = Vec::new();
    let mut bases = Vec::new();
    let mut targets = vec![parts.clone()];
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        if let Some(uri) = res_headers.get(&name).and_then(|v| same_origin(parts, v)) {
            let mut target = parts.clone();
            target.uri = uri;
            targets.push(target);
        }
    }
    for target in &mut targets {
        target.method = Method::GET;
        if let Some(keys) = keys_for(cfg, target) {
            // A fetch of this resource in flight here deletes what it writes; let the one
            // leading land first all the same, then drop it too.
            cfg.flights.invalidating(keys.resource());
            cfg.flights.settled(&keys.base).await;
            tags.push(keys.resource_tag());
            bases.push(keys.base);
        }
    }
    if let Err(e) = drop_resources(cfg, &bases, &tags).await {
        tracing::warn!(target: "cache_axum", error = %e, "invalidation after an unsafe method failed");
    }
}

/// Deletes resources: their base keys, and every key tagged with their resource tags.
async fn drop_resources(cfg: &Config, bases: &[String], tags: &[String]) -> cache_core::Result<()> {
    cfg.cache.delete_many(bases).await?;
    cfg.cache.invalidate_tags(tags).await?;
    Ok(())
}

async fn handle<S, ResBody>(
    ctx: Ctx<S>,
    mut parts: Parts,
    body: Body,
    prep: Prep,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    // Lookups and misses stay inline; the rarer paths that call the inner service are boxed,
    // so this future stays small (it is moved into a box on every request).
    let (keys, req_cc) = match prep {
        Prep::Lookup(keys, req_cc) => (keys, req_cc),
        Prep::Other => {
            return Box::pin(other_method(ctx, Request::from_parts(parts, body))).await;
        }
        Prep::Bypass | Prep::Served(_) => {
            return Box::pin(pass(ctx, Request::from_parts(parts, body))).await;
        }
    };
    let method = parts.method.clone();
    let has_auth = parts.headers.contains_key(header::AUTHORIZATION);
    let cond = take_conditionals(&mut parts.headers);
    // Requests that never join a flight (they may not share a response, or must not wait for
    // an inner call) still must not miss a response whose write is in flight: note the flight
    // before looking up, and wait for it on a miss.
    let no_flight = req_cc.only_if_cached || has_auth || method == Method::HEAD;
    let mut waited = false;
    let mut leader = None;
    loop {
        let pending = if no_flight && !waited {
            ctx.cfg.flights.watch(&keys.base)
        } else {
            None
        };
        let ended = ctx.cfg.flights.ended();
        let Ok(found) = lookup(&ctx.cfg, &keys, &parts.headers).await else {
            restore(&mut parts.headers, cond);
            return Box::pin(pass(ctx, Request::from_parts(parts, body))).await;
        };
        let now = now_ms();
        let mut stale = None;
        if let Some((entry, key)) = found.filter(|(e, _)| !has_auth || e.has(AUTH_OK)) {
            match decide(&entry, &req_cc, now) {
                Use::Fresh => return Ok(serve(&ctx.cfg, entry, now, &method, &cond, Status::Hit)),
                Use::Stale => {
                    return Ok(serve(&ctx.cfg, entry, now, &method, &cond, Status::Stale))
                }
                Use::StaleWhileRevalidate => {
                    let key = key.unwrap_or_else(|| keys.base.clone());
                    let held = leader.take();
                    spawn_revalidation(&ctx, &parts, &keys, Arc::clone(&entry), key, held, ended);
                    return Ok(serve(&ctx.cfg, entry, now, &method, &cond, Status::Stale));
                }
                Use::Revalidate => stale = Some((entry, key.unwrap_or_else(|| keys.base.clone()))),
            }
        }
        if let Some(rx) = pending {
            flight::wait(rx).await;
            waited = true;
            continue;
        }
        if req_cc.only_if_cached {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::GATEWAY_TIMEOUT;
            ctx.label(&mut res, Status::Miss);
            return Ok(res);
        }
        if method == Method::HEAD && stale.is_none() {
            // A HEAD response has no body to store: forward it as it is.
            restore(&mut parts.headers, cond);
            let label = ctx.cfg.status_header.clone();
            let mut res = Box::pin(pass(ctx, Request::from_parts(parts, body))).await?;
            if let Some(name) = label {
                res.headers_mut().insert(name, Status::Miss.value());
            }
            return Ok(res);
        }
        if leader.is_none() && !has_auth && !waited {
            match ctx.cfg.flights.join(&keys.base) {
                Join::Leader(l) => {
                    leader = Some(l);
                    // A write may have landed between our lookup and our join: look again,
                    // unless no flight (every write here holds one) ended meanwhile.
                    if ctx.cfg.flights.ended() != ended {
                        continue;
                    }
                }
                Join::Follower(rx) => {
                    flight::wait(rx).await;
                    waited = true;
                    continue;
                }
            }
        }
        let job = Job {
            parts,
            method,
            cond,
            epoch: ctx.cfg.flights.epoch(keys.resource()),
            keys,
            req_cc,
            leader,
        };
        return match stale {
            Some((entry, key)) => Box::pin(revalidate(ctx, job, body, entry, key)).await,
            // Inline: its state takes the place of the lookup's in this future, where a box of
            // its own would be a second allocation of a few KiB on every miss.
            None => fetch(ctx, job, body).await,
        };
    }
}

/// Methods other than `GET`/`HEAD`: unsafe ones invalidate what they change.
async fn other_method<S, ResBody>(
    mut ctx: Ctx<S>,
    req: Request<Body>,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    if !is_unsafe(req.method()) {
        return pass(ctx, req).await;
    }
    let (parts, body) = req.into_parts();
    let target = parts.clone();
    let res = ctx.call(Request::from_parts(parts, body)).await?;
    if res.status().is_success() || res.status().is_redirection() {
        invalidate(&ctx.cfg, &target, res.headers()).await;
    }
    let mut res = res.map(Body::new);
    ctx.label(&mut res, Status::Bypass);
    Ok(res)
}

/// Calls the inner service for a request the cache does not handle.
async fn pass<S, ResBody>(mut ctx: Ctx<S>, req: Request<Body>) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let mut res = ctx.call(req).await?.map(Body::new);
    ctx.label(&mut res, Status::Bypass);
    Ok(res)
}

/// A request going to the inner service on a miss or for revalidation.
struct Job {
    parts: Parts,
    /// The client's method (`HEAD` is answered from a `GET`).
    method: Method,
    /// The client's own conditional fields, answered by the cache.
    cond: HeaderMap,
    keys: Keys,
    req_cc: CacheControl,
    /// Held until the response is stored: concurrent misses wait on it.
    leader: Option<Leader>,
    /// The resource's invalidation count before the inner service was called (see
    /// `Flights::epoch`).
    epoch: u64,
}

/// Fetches from the inner service, stores what may be stored, and answers.
async fn fetch<S, ResBody>(
    mut ctx: Ctx<S>,
    mut job: Job,
    body: Body,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let req_headers = job.parts.headers.clone();
    // The request goes to the inner service; only its headers are needed afterwards.
    let mut parts = std::mem::replace(&mut job.parts, Request::new(()).into_parts().0);
    parts.method = Method::GET;
    let request_time = now_ms();
    let res = ctx.call(Request::from_parts(parts, body)).await?;
    let response_time = now_ms();
    Ok(take_response(
        &ctx.cfg,
        &mut job,
        &req_headers,
        res,
        request_time,
        response_time,
    )
    .await
    .0)
}

/// Stores a response from the inner service if it may be, and answers the client. Also returns
/// whether it was stored.
async fn take_response<ResBody>(
    cfg: &Arc<Config>,
    job: &mut Job,
    req_headers: &HeaderMap,
    res: Response<ResBody>,
    request_time: u64,
    response_time: u64,
) -> (Response<Body>, bool)
where
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (mut head, body) = res.into_parts();
    let opts = head.extensions.get::<CacheOptions>();
    let tags = take_tags(cfg, &mut head.headers, opts);
    let plan = plan(
        cfg,
        req_headers,
        &job.req_cc,
        head.status,
        &head.headers,
        &head.headers,
        opts,
        request_time,
        response_time,
    );
    let label = |res: &mut Response<Body>| {
        if let Some(name) = &cfg.status_header {
            res.headers_mut().insert(name.clone(), Status::Miss.value());
        }
    };
    let unstored = |head: http::response::Parts, body: Body| {
        let mut res = if head.status == StatusCode::OK
            && !job.cond.is_empty()
            && conditional::is_not_modified(&job.method, &job.cond, &head.headers)
        {
            conditional::not_modified::<Body>(&head.headers)
        } else {
            Response::from_parts(head, body)
        };
        label(&mut res);
        res
    };
    let Some(plan) = plan else {
        return (unstored(head, Body::new(body)), false);
    };
    let bytes = match buffer(body, cfg.max_body).await {
        Ok(bytes) => bytes,
        Err(streamed) => return (unstored(head, streamed), false),
    };
    let vary = policy::vary_names(&head.headers)
        .into_iter()
        .map(|name| {
            let value = field_value(req_headers, &name);
            (name, value)
        })
        .collect();
    let mut headers = head.headers;
    headers.retain_fields(|n| stored_field(cfg, n));
    let entry = Entry {
        status: head.status,
        // The client gets the map as it came (it has room for the fields added when serving);
        // the stored copy has just the stored fields.
        headers: headers.clone(),
        body: bytes,
        response_time_ms: response_time,
        initial_age_ms: plan.initial_age_ms,
        lifetime_ms: plan.lifetime_ms,
        swr_ms: plan.swr_ms,
        sie_ms: plan.sie_ms,
        flags: plan.flags,
        vary,
        served: std::sync::OnceLock::new(),
    };
    let res = serve_fetched(cfg, &entry, headers, now_ms(), &job.method, &job.cond);
    store(
        cfg,
        &job.keys,
        Arc::new(entry),
        plan.ttl,
        tags,
        job.leader.take(),
        job.epoch,
    );
    (res, true)
}

/// `HeaderMap::retain` for field names.
trait RetainFields {
    fn retain_fields(&mut self, keep: impl Fn(&HeaderName) -> bool);
}

impl RetainFields for HeaderMap {
    fn retain_fields(&mut self, keep: impl Fn(&HeaderName) -> bool) {
        let drop: Vec<HeaderName> = self.keys().filter(|n| !keep(n)).cloned().collect();
        for name in drop {
            self.remove(&name);
        }
    }
}

/// Revalidates a stored response with a conditional request (RFC 9111 §4.3).
async fn revalidate<S, ResBody>(
    mut ctx: Ctx<S>,
    mut job: Job,
    body: Body,
    entry: Arc<Entry>,
    key: String,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let etag = entry.headers.get(header::ETAG).cloned();
    let last_modified = entry.headers.get(header::LAST_MODIFIED).cloned();
    // Without a validator this is a plain refetch, which still honours stale-if-error.
    let req_headers = job.parts.headers.clone();
    let mut parts = job.parts.clone();
    parts.method = Method::GET;
    if let Some(v) = &etag {
        parts.headers.insert(header::IF_NONE_MATCH, v.clone());
    }
    if let Some(v) = &last_modified {
        parts.headers.insert(header::IF_MODIFIED_SINCE, v.clone());
    }
    let request_time = now_ms();
    let res = match ctx.call(Request::from_parts(parts, body)).await {
        Ok(res) => res,
        Err(e) => {
            let now = now_ms();
            if stale_if_error_ok(&entry, &job.req_cc, now) {
                return Ok(serve(
                    &ctx.cfg,
                    entry,
                    now,
                    &job.method,
                    &job.cond,
                    Status::Stale,
                ));
            }
            return Err(e);
        }
    };
    let response_time = now_ms();
    let status = res.status();
    if status == StatusCode::NOT_MODIFIED {
        let new_etag = res.headers().get(header::ETAG);
        let same = match (
            new_etag.and_then(|v| v.to_str().ok()),
            etag.as_ref().and_then(|v| v.to_str().ok()),
        ) {
            (Some(a), Some(b)) => conditional::weak_eq(a, b),
            _ => true,
        };
        if !same {
            // The 304 is for another representation than ours: ask again, unconditionally.
            return fetch(ctx, job, Body::empty()).await;
        }
        let updated = refresh(
            &ctx.cfg,
            &mut job,
            &req_headers,
            Arc::unwrap_or_clone(entry),
            res,
            request_time,
            response_time,
        )
        .await;
        return Ok(serve(
            &ctx.cfg,
            updated,
            now_ms(),
            &job.method,
            &job.cond,
            Status::Revalidated,
        ));
    }
    if status.is_server_error() && stale_if_error_ok(&entry, &job.req_cc, response_time) {
        return Ok(serve(
            &ctx.cfg,
            entry,
            response_time,
            &job.method,
            &job.cond,
            Status::Stale,
        ));
    }
    let (res, stored) = take_response(
        &ctx.cfg,
        &mut job,
        &req_headers,
        res,
        request_time,
        response_time,
    )
    .await;
    if !stored && !status.is_server_error() {
        // The new response replaces the old one, which must not be served again.
        if let Err(e) = ctx.cfg.cache.delete(&key).await {
            tracing::warn!(target: "cache_axum", key, error = %e, "stale response not dropped");
        }
    }
    Ok(res)
}

/// Applies a 304 to a stored response: its fields replace the stored ones (RFC 9111 §3.2) and
/// the freshness starts over. Stores the result and returns it.
async fn refresh<B>(
    cfg: &Arc<Config>,
    job: &mut Job,
    req_headers: &HeaderMap,
    mut entry: Entry,
    res: Response<B>,
    request_time: u64,
    response_time: u64,
) -> Arc<Entry> {
    let (mut head, _) = res.into_parts();
    let opts = head.extensions.get::<CacheOptions>();
    let tags = take_tags(cfg, &mut head.headers, opts);
    let names: Vec<HeaderName> = head.headers.keys().cloned().collect();
    for name in names {
        if name == header::CONTENT_LENGTH || !stored_field(cfg, &name) {
            continue;
        }
        entry.headers.remove(&name);
        for v in head.headers.get_all(&name) {
            entry.headers.append(name.clone(), v.clone());
        }
    }
    entry.response_time_ms = response_time;
    // The fields changed: the copy kept for serving is out of date.
    entry.served = std::sync::OnceLock::new();
    match plan(
        cfg,
        req_headers,
        &job.req_cc,
        entry.status,
        &entry.headers,
        &head.headers,
        opts,
        request_time,
        response_time,
    ) {
        Some(p) => {
            entry.lifetime_ms = p.lifetime_ms;
            entry.initial_age_ms = p.initial_age_ms;
            entry.swr_ms = p.swr_ms;
            entry.sie_ms = p.sie_ms;
            entry.flags = p.flags;
            let entry = Arc::new(entry);
            store(
                cfg,
                &job.keys,
                Arc::clone(&entry),
                p.ttl,
                tags,
                job.leader.take(),
                job.epoch,
            );
            return entry;
        }
        None => {
            // The origin no longer lets us keep it.
            entry.lifetime_ms = 0;
            entry.initial_age_ms = 0;
            let (bases, tags) = ([job.keys.base.clone()], [job.keys.resource_tag()]);
            if let Err(e) = drop_resources(cfg, &bases, &tags).await {
                tracing::warn!(target: "cache_axum", error = %e, "unstorable response not dropped");
            }
        }
    }
    Arc::new(entry)
}

/// Refreshes a stale response in the background (`stale-while-revalidate`), once per key.
/// `seen` is the count of ended flights taken before the lookup that found the entry stale.
fn spawn_revalidation<S, ResBody>(
    ctx: &Ctx<S>,
    parts: &Parts,
    keys: &Keys,
    entry: Arc<Entry>,
    key: String,
    held: Option<Leader>,
    seen: u64,
) where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let ctx = Ctx {
        svc: ctx.svc.clone(),
        ready: false,
        cfg: Arc::clone(&ctx.cfg),
    };
    let parts = parts.clone();
    let keys = keys.clone();
    runtime.spawn(async move {
        // This request may already lead the key's flight (it looked again after joining).
        let leader = match held {
            Some(leader) => leader,
            None => loop {
                match ctx.cfg.flights.join(&keys.base) {
                    Join::Leader(leader) => {
                        // Every write here holds the key's flight. If one ended since our
                        // lookup (a refresh, or the write that stored it, finishing while we
                        // looked), the entry may be fresh now: look again before calling the
                        // inner service a second time.
                        if ctx.cfg.flights.ended() != seen {
                            let fresh = matches!(
                                lookup(&ctx.cfg, &keys, &parts.headers).await,
                                Ok(Some((e, _))) if decide(&e, &CacheControl::default(), now_ms()) == Use::Fresh
                            );
                            if fresh {
                                return;
                            }
                        }
                        break leader;
                    }
                    // Someone is refreshing or writing it already: wait for them.
                    Join::Follower(rx) => flight::wait(rx).await,
                }
            },
        };
        let job = Job {
            parts,
            method: Method::GET,
            cond: HeaderMap::new(),
            epoch: ctx.cfg.flights.epoch(keys.resource()),
            keys,
            req_cc: CacheControl::default(),
            leader: Some(leader),
        };
        let _ = revalidate(ctx, job, Body::empty(), entry, key).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(lifetime_ms: u64, age_ms: u64, flags: u8, swr_ms: u64) -> Entry {
        Entry {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            response_time_ms: 1_000_000,
            initial_age_ms: age_ms,
            lifetime_ms,
            swr_ms,
            sie_ms: 0,
            flags,
            vary: Vec::new(),
            served: std::sync::OnceLock::new(),
        }
    }

    fn cc(s: &'static str) -> CacheControl {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(s));
        CacheControl::parse(&h)
    }

    #[test]
    fn decide_follows_request_and_response_directives() {
        let now = 1_000_000;
        let none = CacheControl::default();
        assert_eq!(decide(&entry(60_000, 0, 0, 0), &none, now), Use::Fresh);
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &none, now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 0, NO_CACHE, 0), &none, now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 0, 0, 0), &cc("no-cache"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 30_000, 0, 0), &cc("max-age=10"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 30_000, 0, 0), &cc("min-fresh=40"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &cc("max-stale=20"), now),
            Use::Stale
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &cc("max-stale=5"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &cc("max-stale"), now),
            Use::Stale
        );
        assert_eq!(
            decide(
                &entry(60_000, 70_000, FORBIDS_STALE, 0),
                &cc("max-stale"),
                now
            ),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 20_000), &none, now),
            Use::StaleWhileRevalidate
        );
        assert_eq!(
            decide(&entry(60_000, 90_000, 0, 20_000), &none, now),
            Use::Revalidate
        );
        assert_eq!(
            decide(
                &entry(60_000, 70_000, EXPLICIT_REVALIDATE, 20_000),
                &none,
                now
            ),
            Use::Revalidate
        );
    }

    #[test]
    fn same_origin_accepts_paths_and_own_host_only() {
        let req = Request::builder()
            .uri("/items")
            .header("host", "example.com")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            same_origin(&parts, &v("/items/1?x=1")).unwrap(),
            "/items/1?x=1"
        );
        assert_eq!(
            same_origin(&parts, &v("http://EXAMPLE.com/a")).unwrap(),
            "/a"
        );
        assert!(same_origin(&parts, &v("http://evil.com/a")).is_none());
        assert!(same_origin(&parts, &v("relative")).is_none());
        assert!(same_origin(&parts, &v("::::")).is_none());
    }

    #[test]
    fn keys_escape_the_uri_so_it_cannot_forge_another_key() {
        let cfg = tower_layer::Layer::layer(&ResponseCacheLayer::new(Cache::memory()), ()).cfg;
        let parts =
            |uri: &'static str| Request::builder().uri(uri).body(()).unwrap().into_parts().0;
        let a = keys_for(&cfg, &parts("/a:vb:x")).unwrap();
        assert!(a.base.starts_with("rc:/a%3Avb%3Ax"), "{}", a.base);
        assert_ne!(
            keys_for(&cfg, &parts("/a?x=1")).unwrap().base,
            keys_for(&cfg, &parts("/a?x=2")).unwrap().base
        );
    }
}
