use std::fmt;
use std::sync::Arc;

use axum::Router;
use cache_core::Cache;
use http::request::Parts;
use tower_layer::Layer;

use super::service::Etag;
use super::unevaluated::Warned;

/// Bodies up to this size get a computed ETag by default: 1 MiB.
///
/// ```
/// assert_eq!(cache_axum::etag::DEFAULT_MAX_ETAG_BODY, 1 << 20);
/// ```
pub const DEFAULT_MAX_ETAG_BODY: usize = 1 << 20;

pub(crate) type KeyFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Validator mode: the ETag is a digest of the value stored under a key.
#[derive(Clone)]
pub(crate) struct Validator {
    pub(crate) cache: Cache,
    pub(crate) key_fn: KeyFn,
}

#[derive(Clone)]
pub(crate) struct EtagConfig {
    pub(crate) max_size: usize,
    pub(crate) validator: Option<Validator>,
    /// Set by [`EtagLayer::wrap`]: the whole router, for the `GET` that finds the current
    /// representation of an unsafe request's target.
    pub(crate) probe: Option<Router>,
    /// The routes a precondition was left unevaluated on, shared by the layer's copies.
    pub(crate) warned: Warned,
}

/// Adds strong ETags and answers conditional requests; see the [module docs](crate::etag).
///
/// Add it to an axum app with [`EtagLayer::wrap`], which also protects writes: a `PUT` whose
/// `If-Match` no longer matches is answered `412` without running the handler.
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::EtagLayer;
///
/// let routes = Router::new().route("/", get(|| async { "hello" }).put(|| async { "saved" }));
/// let app: Router = EtagLayer::new().max_size(64 * 1024).wrap(routes);
/// ```
///
/// As a [`Layer`], it wraps any service: around a whole `Router` (served with
/// `into_make_service`) it evaluates preconditions as `wrap` does. Added with `Router::layer`,
/// it sits behind routing, where it adds ETags and answers `304` but cannot evaluate the
/// preconditions of unsafe requests (except in [validator mode](EtagLayer::validator)): such
/// requests run unconditionally and a warning is logged, once per route.
#[derive(Clone)]
#[must_use]
pub struct EtagLayer {
    cfg: EtagConfig,
}

impl fmt::Debug for EtagLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtagLayer")
            .field("max_size", &self.cfg.max_size)
            .field("validator", &self.cfg.validator.as_ref().map(|v| &v.cache))
            .field("wraps_router", &self.cfg.probe.is_some())
            .finish()
    }
}

impl Default for EtagLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl EtagLayer {
    /// ETags from body digests, for bodies up to [`DEFAULT_MAX_ETAG_BODY`].
    ///
    /// ```
    /// let layer = cache_axum::EtagLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self {
            cfg: EtagConfig {
                max_size: DEFAULT_MAX_ETAG_BODY,
                validator: None,
                probe: None,
                warned: Warned::default(),
            },
        }
    }

    /// Only bodies of a known size up to `bytes` are digested; others pass through untouched.
    ///
    /// ```
    /// let layer = cache_axum::EtagLayer::new().max_size(4096);
    /// # let _ = layer;
    /// ```
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.cfg.max_size = bytes;
        self
    }

    /// Validator mode: the ETag of a request is a digest of the value `cache` holds under
    /// `key_fn(request)` (a plain key, inside the cache's namespace, as `Cache::get` takes it).
    /// While that value is there, a matching `If-None-Match` is answered `304` without running
    /// the handler; deleting the key or invalidating its tags changes the ETag. Requests whose
    /// key function returns `None`, or whose key holds nothing, fall back to body digests.
    ///
    /// ```
    /// use axum::{extract::Path, routing::get, Router};
    /// use cache_axum::EtagLayer;
    /// use cache_core::Cache;
    ///
    /// let cache = Cache::memory();
    /// let routes = Router::new()
    ///     .route("/users/{id}", get(|Path(id): Path<u64>| async move { format!("user {id}") }));
    /// let app: Router = EtagLayer::new()
    ///     .validator(cache, |req| {
    ///         let id = req.uri.path().strip_prefix("/users/")?;
    ///         Some(cache_core::key::KeyBuf::new().lit("user:").arg(id).finish())
    ///     })
    ///     .wrap(routes);
    /// ```
    pub fn validator<F>(mut self, cache: Cache, key_fn: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.cfg.validator = Some(Validator {
            cache,
            key_fn: Arc::new(key_fn),
        });
        self
    }

    /// Adds this layer to `router` so that it also evaluates the preconditions of unsafe
    /// requests (`If-Match`, `If-None-Match`, `If-Unmodified-Since`; RFC 9110 §13.2.2): one
    /// that fails is answered `412 Precondition Failed` without running the handler, which is
    /// what protects a client from overwriting a change it has not seen (a lost update).
    ///
    /// Every route gets the layer as with `router.layer(..)`, so ETags, `304`s, 404s, 405s and
    /// the [`MatchedPath`](axum::extract::MatchedPath) seen by layers added afterwards are
    /// those of the router. What `wrap` adds is the router itself: to learn the current
    /// representation of a `PUT`'s target, the layer sends a `GET` of the same URI, with the
    /// request's other fields, through `router`, and compares its ETag (the handler's own or
    /// the body's digest, as a `GET` would get) and `Last-Modified` with the preconditions.
    /// That `GET` runs only for unsafe requests that carry a precondition.
    ///
    /// Give `wrap` the router with its state (after `with_state`) and with the layers its
    /// handlers need (authentication, `Extension`s): layers added after `wrap` run for the
    /// request but not for that `GET`. Add [`ResponseCacheLayer`](crate::ResponseCacheLayer)
    /// after `wrap`, outside this layer. The result is a plain `Router`: serve it with
    /// `axum::serve`, add layers to it, nest or merge it.
    ///
    /// ```
    /// use axum::{body::Body, http::{Request, StatusCode}, routing::get, Router};
    /// use cache_axum::EtagLayer;
    /// use tower::ServiceExt;
    ///
    /// let routes = Router::new().route("/doc", get(|| async { "v1" }).put(|| async { "saved" }));
    /// let app: Router = EtagLayer::new().wrap(routes);
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let put = Request::put("/doc").header("if-match", "\"stale\"").body(Body::empty()).unwrap();
    /// let res = app.oneshot(put).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    /// # });
    /// ```
    pub fn wrap(self, router: Router) -> Router {
        let mut cfg = self.cfg;
        cfg.probe = Some(router.clone());
        router.layer(EtagLayer { cfg })
    }
}

impl<S> Layer<S> for EtagLayer {
    type Service = Etag<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Etag::from_config(inner, Arc::new(self.cfg.clone()))
    }
}
