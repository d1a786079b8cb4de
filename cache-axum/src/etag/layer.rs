use std::fmt;
use std::sync::Arc;

use cache_core::Cache;
use http::request::Parts;
use tower_layer::Layer;

use super::service::Etag;

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
}

/// A [`Layer`] that adds strong ETags and answers conditional requests; see the
/// [module docs](crate::etag).
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::EtagLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(EtagLayer::new().max_size(64 * 1024));
/// ```
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
    /// let app: Router = Router::new()
    ///     .route("/users/{id}", get(|Path(id): Path<u64>| async move { format!("user {id}") }))
    ///     .layer(EtagLayer::new().validator(cache, |req| {
    ///         let id = req.uri.path().strip_prefix("/users/")?;
    ///         Some(cache_core::key::KeyBuf::new().lit("user:").arg(id).finish())
    ///     }));
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
}

impl<S> Layer<S> for EtagLayer {
    type Service = Etag<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Etag::from_config(inner, Arc::new(self.cfg.clone()))
    }
}
