//! Extractors: the cache a layer was built with.
//!
//! `State<Cache>` works as usual (any `Cache` in state, or a field of your state through
//! [`FromRef`](axum::extract::FromRef)). [`LayerCache`] gives a handler the cache of the
//! [`ResponseCacheLayer`](crate::ResponseCacheLayer) or [`EtagLayer`](crate::EtagLayer) in
//! front of it, with no state needed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use cache_core::Cache;

/// The [`Cache`] of the cache layer in front of the handler.
///
/// ```
/// use axum::{routing::get, Router};
/// use cache_axum::{LayerCache, ResponseCacheLayer};
///
/// async fn visits(LayerCache(cache): LayerCache) -> String {
///     cache.incr("visits", 1).await.unwrap_or(0).to_string()
/// }
///
/// let app: Router = Router::new()
///     .route("/visits", get(visits))
///     .layer(ResponseCacheLayer::new(cache_core::Cache::memory()));
/// ```
///
/// Without such a layer the request is rejected with a 500 that names the mistake.
#[derive(Debug, Clone)]
pub struct LayerCache(pub Cache);

impl<S: Send + Sync> FromRequestParts<S> for LayerCache {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<LayerCache>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "LayerCache needs a ResponseCacheLayer or EtagLayer in front of the handler",
        ))
    }
}
