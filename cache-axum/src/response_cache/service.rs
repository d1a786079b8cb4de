//! [`ResponseCache`]: the service, and the path of a `GET`/`HEAD` request through it (triage,
//! lookup, hit, miss or revalidation); each stage lives in the file named after it.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use cache_core::Cache;
use http::header::{self};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use tower_service::Service;

use super::config::Config;
use super::context::{BoxError, Ctx};
use super::decide::now_ms;
use super::decide::{decide, Use};
use super::entry::{AUTH_OK, NO_CACHE};
use super::fill::{fetch, Job};
use super::flight::{self, Join};
use super::invalidate::invalidate;
use super::keys::{lookup, Found};
use super::layer::ResponseCacheLayer;
use super::report::{Fwd, Report, Status};
use super::respond::serve;
use super::revalidate::{revalidate, spawn_revalidation};
use super::triage::{is_unsafe, prepare, restore, take_conditionals, Prep};
use crate::future::ResponseFuture;

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
    pub(super) cfg: Arc<Config>,
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
}

crate::inner::inner_accessors!(
    ResponseCache,
    "cache_axum::ResponseCache::new(7u8, cache_core::Cache::memory())"
);

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
    let (keys, req_cc, mut absent) = match prep {
        Prep::Lookup(keys, req_cc, absent) => (keys, req_cc, absent),
        Prep::Other => {
            return Box::pin(other_method(ctx, Request::from_parts(parts, body))).await;
        }
        Prep::Bypass | Prep::Served(_) => {
            let req = Request::from_parts(parts, body);
            return Box::pin(pass(
                ctx,
                req,
                Report::forwarded(Status::Bypass, Fwd::Bypass),
            ))
            .await;
        }
    };
    let method = parts.method.clone();
    let has_auth = parts.headers.contains_key(header::AUTHORIZATION);
    let cond = take_conditionals(&mut parts.headers);
    // Requests that never join a flight (they may not share a response, or must not wait for
    // an inner call) still must not miss a response whose write is in flight: note the flight
    // before looking up, and wait for it on a miss.
    // (A range request never leads one either: on a miss it goes to the inner service as it is.)
    let no_flight = req_cc.only_if_cached
        || has_auth
        || method == Method::HEAD
        || cond.contains_key(header::RANGE);
    let mut waited = false;
    let mut leader = None;
    let mut fwd;
    loop {
        let pending = if no_flight && !waited {
            ctx.cfg.flights.watch(&keys.base)
        } else {
            None
        };
        // `prepare` found nothing stored, for sure (and counted the miss): no need to look
        // again. A flight noted since is waited for, and then looked up.
        let (ended, found) = match absent.take() {
            Some(ended) => (ended, Found::Missing(Fwd::UriMiss)),
            None => {
                let ended = ctx.cfg.flights.ended();
                let Ok(found) = lookup(&ctx.cfg, &keys, &parts.headers).await else {
                    restore(&mut parts.headers, cond);
                    let report =
                        Report::forwarded(Status::Bypass, Fwd::Bypass).detail("store-error");
                    return Box::pin(pass(ctx, Request::from_parts(parts, body), report)).await;
                };
                (ended, found)
            }
        };
        let now = now_ms();
        let mut stale = None;
        let answer = |entry, status| {
            let report = Report::hit(status).key(&keys.base);
            Ok(serve(&ctx.cfg, entry, now, &method, &cond, report))
        };
        fwd = match found {
            Found::Response(entry, _) if has_auth && !entry.has(AUTH_OK) => Fwd::Request,
            Found::Response(entry, key) => match decide(&entry, &req_cc, now) {
                Use::Fresh => return answer(entry, Status::Hit),
                Use::Stale => return answer(entry, Status::Stale),
                Use::StaleWhileRevalidate => {
                    let key = key.unwrap_or_else(|| keys.base.clone());
                    let held = leader.take();
                    spawn_revalidation(&ctx, &parts, &keys, Arc::clone(&entry), key, held, ended);
                    return answer(entry, Status::Stale);
                }
                Use::Revalidate => {
                    // Fresh but not usable for this request, or stale (or `no-cache`).
                    let why = if entry.age_ms(now) < entry.lifetime_ms && !entry.has(NO_CACHE) {
                        Fwd::Request
                    } else {
                        Fwd::Stale
                    };
                    stale = Some((entry, key.unwrap_or_else(|| keys.base.clone())));
                    why
                }
            },
            Found::Missing(why) => why,
        };
        if let Some(rx) = pending {
            flight::wait(rx).await;
            waited = true;
            continue;
        }
        if req_cc.only_if_cached {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::GATEWAY_TIMEOUT;
            ctx.label(&mut res, Report::unanswered("only-if-cached"));
            return Ok(res);
        }
        if cond.contains_key(header::RANGE) {
            // Ranges are answered from complete stored responses only: without one, the inner
            // service answers the range itself, and its partial response is not stored.
            restore(&mut parts.headers, cond);
            let report = Report::forwarded(Status::Bypass, Fwd::Partial);
            return Box::pin(pass(ctx, Request::from_parts(parts, body), report)).await;
        }
        if method == Method::HEAD && stale.is_none() {
            // A HEAD response has no body to store: forward it as it is.
            restore(&mut parts.headers, cond);
            let report = Report::forwarded(Status::Miss, fwd);
            return Box::pin(pass(ctx, Request::from_parts(parts, body), report)).await;
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
            epoch: ctx.cfg.fence.mark(),
            keys,
            req_cc,
            leader,
            fwd,
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
        return pass(ctx, req, Report::forwarded(Status::Bypass, Fwd::Method)).await;
    }
    let (parts, body) = req.into_parts();
    let target = parts.clone();
    let res = ctx.call(Request::from_parts(parts, body)).await?;
    if res.status().is_success() || res.status().is_redirection() {
        invalidate(&ctx.cfg, &target, res.headers()).await;
    }
    let mut res = res.map(Body::new);
    ctx.label(&mut res, Report::forwarded(Status::Bypass, Fwd::Method));
    Ok(res)
}

/// Calls the inner service for a request the cache does not handle, and labels the response
/// with `report`.
pub(super) async fn pass<S, ResBody>(
    mut ctx: Ctx<S>,
    req: Request<Body>,
    report: Report<'static>,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let mut res = ctx.call(req).await?.map(Body::new);
    ctx.label(&mut res, report);
    Ok(res)
}
