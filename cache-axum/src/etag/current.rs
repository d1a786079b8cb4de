//! The current representation of an unsafe request's target, which its preconditions are
//! checked against: the validator stamp, or what a `GET` of the same URI answers.
//!
//! Where that `GET` may go depends on where the layer sits:
//!
//! - added with [`EtagLayer::wrap`](super::EtagLayer::wrap): each copy of the layer (axum
//!   makes one per method of each route) holds the whole router it was added to, and sends the
//!   `GET` through that router, so it reaches the route's `GET` handler. Layers added to the
//!   router after `wrap` are not part of it and do not run for this `GET`;
//! - wrapping a whole service with `tower::Layer` (the request carries no `OriginalUri`, which
//!   axum sets while routing): the `GET` goes through the wrapped service;
//! - behind routing otherwise (`Router::layer`): the inner service is a single method's
//!   endpoint, and a "GET" sent into it would run the unsafe handler. Nothing is sent; only a
//!   validator stamp can tell the current ETag.

use std::future::poll_fn;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, NestedPath, OriginalUri};
use axum::Router;
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Extensions, Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use tower_service::Service;

use super::precondition::{Current, Preconditions};
use super::service::{etag_of, stamp, BoxError, Ctx};
use super::unevaluated;
use crate::extract::LayerCache;

/// The request fields a `GET` of the target does not carry: its own preconditions and the
/// description of the unsafe request's content.
const NOT_PROBED: [header::HeaderName; 8] = [
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::TRANSFER_ENCODING,
    header::EXPECT,
];

/// What is known of the target's current representation, or `None` when nothing can be known
/// from where the layer sits (behind routing, without a validator stamp).
pub(super) async fn current<S, ResBody>(
    ctx: &mut Ctx<S>,
    parts: &Parts,
    pre: &Preconditions,
) -> Result<Option<Current>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let stamped = match &ctx.cfg.validator {
        Some(v) if pre.needs_tag() => stamp(v, parts).await,
        _ => None,
    };
    if stamped.is_some() && !pre.needs_date() {
        return Ok(Some(Current {
            exists: true,
            etag: stamped,
            ..Current::default()
        }));
    }
    let max_size = ctx.cfg.max_size;
    let probed = if let Some(router) = ctx.cfg.probe.clone() {
        let mut extensions = routing_free(&parts.extensions);
        if let Some(v) = &ctx.cfg.validator {
            extensions.insert(LayerCache(v.cache.clone()));
        }
        let res = call_router(router, probe(parts, extensions)).await;
        if !is_answer(res.status()) {
            unevaluated::probe_failed(&ctx.cfg.warned, parts, res.status());
        }
        Some(read(res, max_size).await)
    } else if parts.extensions.get::<OriginalUri>().is_none() {
        let res = ctx.call(probe(parts, parts.extensions.clone())).await?;
        Some(read(res, max_size).await)
    } else {
        None
    };
    Ok(match (probed, stamped) {
        // The stamp is the validator-mode ETag a `GET` answers with; the date is the handler's.
        (Some(cur), Some(tag)) => Some(Current {
            exists: true,
            etag: Some(tag),
            ..cur
        }),
        (Some(cur), None) => Some(cur),
        (None, Some(tag)) => Some(Current {
            exists: true,
            etag: Some(tag),
            ..Current::default()
        }),
        (None, None) => None,
    })
}

/// A `GET` of the request's target, with the request's other fields.
fn probe(parts: &Parts, extensions: Extensions) -> Request<Body> {
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        if !NOT_PROBED.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let mut req = Request::new(Body::empty());
    *req.method_mut() = Method::GET;
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = headers;
    *req.extensions_mut() = extensions;
    req
}

/// The extensions of a routed request that a second pass through the router can carry.
///
/// Routing adds the path parameters it matched, in an extension of axum's own that a second
/// pass would add to again (so `Path` would see each twice); they cannot be removed by type.
/// So the probe starts afresh and keeps what axum and this crate put there before routing.
fn routing_free(routed: &Extensions) -> Extensions {
    let mut out = Extensions::new();
    if let Some(v) = routed.get::<OriginalUri>() {
        out.insert(v.clone());
    }
    if let Some(v) = routed.get::<NestedPath>() {
        out.insert(v.clone());
    }
    if let Some(v) = routed.get::<ConnectInfo<SocketAddr>>() {
        out.insert(*v);
    }
    if let Some(v) = routed.get::<LayerCache>() {
        out.insert(v.clone());
    }
    out
}

/// A status a `GET` answers about the resource itself, rather than about the request.
fn is_answer(status: StatusCode) -> bool {
    status.is_success()
        || status.is_redirection()
        || matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::GONE
        )
}

async fn call_router(mut router: Router, req: Request<Body>) -> Response<Body> {
    // A Router is always ready and never fails: its errors are `Infallible`.
    match poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut router, cx)).await {
        Ok(()) => {}
        Err(never) => match never {},
    }
    match router.call(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// What a `GET` answer says of the representation: the ETag a `GET` through the layer would
/// carry (the handler's own, else the digest of a `200` body of known size up to `max_size`)
/// and the `Last-Modified` date.
async fn read<B>(res: Response<B>, max_size: usize) -> Current
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let exists = res.status().is_success();
    let last_modified = res
        .headers()
        .get(header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::date::parse);
    let mut cur = Current {
        exists,
        etag: None,
        last_modified,
        dated: true,
    };
    if !exists {
        cur.last_modified = None;
        return cur;
    }
    if let Some(tag) = res.headers().get(header::ETAG) {
        cur.etag = Some(tag.clone());
        return cur;
    }
    let digestible = res.status() == StatusCode::OK
        && res
            .body()
            .size_hint()
            .exact()
            .is_some_and(|n| n <= max_size as u64);
    if digestible {
        if let Ok(body) = res.into_body().collect().await {
            cur.etag = Some(etag_of("", &body.to_bytes()));
        }
    }
    cur
}
