use std::time::Duration;

use axum::response::{IntoResponseParts, ResponseParts};

/// Per-response cache instructions a handler attaches to its response (as a response extension):
/// a TTL that overrides the response's own freshness in this cache, tags, or `no_store`. The
/// client still sees the response's own `Cache-Control`.
///
/// Return it as part of the response:
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use cache_axum::{CacheOptions, ResponseCacheLayer};
///
/// async fn user() -> (CacheOptions, &'static str) {
///     (CacheOptions::new().ttl(Duration::from_secs(60)).tag("users"), "Ada")
/// }
///
/// let app: Router = Router::new()
///     .route("/user", get(user))
///     .layer(ResponseCacheLayer::new(cache_core::Cache::memory()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct CacheOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) tags: Vec<String>,
    pub(crate) no_store: bool,
}

impl CacheOptions {
    /// No override, no tags.
    ///
    /// ```
    /// assert_eq!(cache_axum::CacheOptions::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep the response fresh in this cache for `ttl`, whatever its headers say (privacy
    /// rules such as `private`, `no-store` and `Set-Cookie` still apply).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let opts = cache_axum::CacheOptions::new().ttl(Duration::from_secs(5));
    /// # let _ = opts;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Adds a tag; [`Cache::invalidate_tags`](cache_core::Cache::invalidate_tags) purges it.
    ///
    /// ```
    /// let opts = cache_axum::CacheOptions::new().tag("users").tag("user:7");
    /// # let _ = opts;
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds tags.
    ///
    /// ```
    /// let opts = cache_axum::CacheOptions::new().tags(["users", "user:7"]);
    /// # let _ = opts;
    /// ```
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Do not store this response.
    ///
    /// ```
    /// let opts = cache_axum::CacheOptions::new().no_store();
    /// # let _ = opts;
    /// ```
    pub fn no_store(mut self) -> Self {
        self.no_store = true;
        self
    }
}

impl IntoResponseParts for CacheOptions {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}
