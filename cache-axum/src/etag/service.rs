use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use tower_service::Service;

use super::current::current;
use super::layer::{EtagConfig, EtagLayer, Validator};
use super::precondition::Preconditions;
use super::unevaluated;
use crate::conditional;
use crate::extract::LayerCache;
use crate::future::ResponseFuture;

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds ETags and answers conditional requests; see [`EtagLayer`].
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::Etag;
///
/// let router: Router = Router::new().route("/", get(|| async { "hi" }));
/// let service = Etag::new(router);
/// # let _ = service.into_inner();
/// ```
#[derive(Clone)]
pub struct Etag<S> {
    inner: S,
    cfg: Arc<EtagConfig>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Etag<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etag")
            .field("inner", &self.inner)
            .field("max_size", &self.cfg.max_size)
            .finish_non_exhaustive()
    }
}

impl<S> Etag<S> {
    /// Wraps `inner` with default options; see [`EtagLayer::new`].
    pub fn new(inner: S) -> Self {
        tower_layer::Layer::layer(&EtagLayer::new(), inner)
    }

    pub(crate) fn from_config(inner: S, cfg: Arc<EtagConfig>) -> Self {
        Self { inner, cfg }
    }

    /// A layer that wraps services with this one; same as [`EtagLayer::new`].
    ///
    /// ```
    /// let layer = cache_axum::Etag::<()>::layer();
    /// # let _ = layer;
    /// ```
    pub fn layer() -> EtagLayer {
        EtagLayer::new()
    }
}

crate::inner::inner_accessors!(Etag, "cache_axum::Etag::new(7u8)");

impl<S, ResBody> Service<Request<Body>> for Etag<S>
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
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let ctx = Ctx {
            svc: inner,
            ready: true,
            cfg: Arc::clone(&self.cfg),
        };
        ResponseFuture::new(Box::pin(handle(ctx, req)))
    }
}

pub(super) struct Ctx<S> {
    svc: S,
    ready: bool,
    pub(super) cfg: Arc<EtagConfig>,
}

impl<S, ResBody> Ctx<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
{
    pub(super) async fn call(
        &mut self,
        mut req: Request<Body>,
    ) -> Result<Response<ResBody>, S::Error> {
        if let Some(v) = &self.cfg.validator {
            req.extensions_mut().insert(LayerCache(v.cache.clone()));
        }
        if !std::mem::take(&mut self.ready) {
            poll_fn(|cx| self.svc.poll_ready(cx)).await?;
        }
        self.svc.call(req).await
    }
}

/// A strong ETag from a digest.
pub(super) fn etag_of(prefix: &str, data: &[u8]) -> HeaderValue {
    let hash = blake3::hash(data);
    // Hex digits and quotes are always a valid header value.
    HeaderValue::from_str(&format!("\"{prefix}{}\"", &hash.to_hex()[..32]))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Validator mode: the ETag of the value under the request's key, if there is one.
pub(super) async fn stamp(validator: &Validator, parts: &Parts) -> Option<HeaderValue> {
    let key = (validator.key_fn)(parts)?;
    let cache = &validator.cache;
    let full = match cache.full_key(&key) {
        Ok(full) => full,
        Err(e) => {
            tracing::warn!(target: "cache_axum", key, error = %e, "bad validator key; using body ETags");
            return None;
        }
    };
    match cache.store().get(&full).await {
        Ok(Some(bytes)) => Some(etag_of("k", &bytes)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(target: "cache_axum", key, error = %e, "validator unavailable; using body ETags");
            None
        }
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn status_only(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
}

async fn handle<S, ResBody>(mut ctx: Ctx<S>, req: Request<Body>) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        return get(ctx, req).await;
    }
    let pre = Preconditions::of(req.headers());
    if !is_unsafe(&method) || pre.is_empty() {
        return Ok(ctx.call(req).await?.map(Body::new));
    }
    let (parts, body) = req.into_parts();
    match current(&mut ctx, &parts, &pre).await? {
        Some(cur) if pre.fail(&cur) => return Ok(status_only(StatusCode::PRECONDITION_FAILED)),
        // A validator stamp tells the ETag but not the modification date.
        Some(cur) if pre.needs_date() && !cur.dated => {
            unevaluated::report(&ctx.cfg.warned, &parts, &["If-Unmodified-Since"]);
        }
        Some(_) => {}
        None => unevaluated::report(&ctx.cfg.warned, &parts, &pre.fields()),
    }
    Ok(ctx
        .call(Request::from_parts(parts, body))
        .await?
        .map(Body::new))
}

async fn get<S, ResBody>(mut ctx: Ctx<S>, req: Request<Body>) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let cond = conditional_fields(&parts.headers);
    let validator = ctx.cfg.validator.clone();
    if let (Some(v), false) = (&validator, cond.is_empty()) {
        if let Some(tag) = stamp(v, &parts).await {
            if let Some(Ok(list)) = conditional::parse_list(&cond, &header::IF_NONE_MATCH) {
                if list.none_match_hits(tag.to_str().ok()) {
                    let mut res = status_only(StatusCode::NOT_MODIFIED);
                    res.headers_mut().insert(header::ETAG, tag);
                    return Ok(res);
                }
            }
        }
    }
    let method = parts.method.clone();
    let req = Request::from_parts(parts, body);
    let parts_for_stamp = validator.as_ref().map(|_| {
        let mut p = Request::new(()).into_parts().0;
        p.uri = req.uri().clone();
        p.headers = req.headers().clone();
        p
    });
    let res = ctx.call(req).await?;
    if res.status() != StatusCode::OK {
        return Ok(res.map(Body::new));
    }
    let (mut head, body) = res.into_parts();
    let mut body = Body::new(body);
    if !head.headers.contains_key(header::ETAG) {
        let stamped = match (&validator, &parts_for_stamp) {
            (Some(v), Some(p)) => stamp(v, p).await,
            _ => None,
        };
        if let Some(tag) = stamped {
            head.headers.insert(header::ETAG, tag);
        } else if body
            .size_hint()
            .exact()
            .is_some_and(|n| n <= ctx.cfg.max_size as u64)
        {
            match body.collect().await {
                Ok(collected) => {
                    let bytes = collected.to_bytes();
                    head.headers.insert(header::ETAG, etag_of("", &bytes));
                    body = Body::from(bytes);
                }
                Err(e) => {
                    let failed =
                        futures_util::stream::once(std::future::ready(Err::<
                            http_body::Frame<Bytes>,
                            _,
                        >(e)));
                    body = Body::new(http_body_util::StreamBody::new(failed));
                }
            }
        }
    }
    if conditional::is_not_modified(&method, &cond, &head.headers) {
        // The handler's extensions (its `CacheOptions`: tags, TTL) stay with the 304, so a
        // cache that revalidates through this layer keeps them on the entry it refreshes.
        let mut res = conditional::not_modified(&head.headers);
        *res.extensions_mut() = head.extensions;
        return Ok(res);
    }
    Ok(Response::from_parts(head, body))
}

/// The request's `If-None-Match` and `If-Modified-Since` fields.
fn conditional_fields(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
        for v in headers.get_all(&name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_strong_and_content_addressed() {
        let a = etag_of("", b"hello");
        assert_eq!(a, etag_of("", b"hello"));
        assert_ne!(a, etag_of("", b"hello!"));
        let s = a.to_str().unwrap();
        assert!(
            s.starts_with('"') && s.ends_with('"') && !s.starts_with("W/"),
            "{s}"
        );
        assert_eq!(s.len(), 34);
    }
}
