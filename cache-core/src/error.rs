//! The one error type of the toolkit.

use std::time::Duration;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the cache.
///
/// Cache failures never fail a cached function or an HTTP request: the macros and layers
/// log these errors, count them in [`Stats::errors`](crate::Stats::errors) and fall through to
/// the real work. The direct [`Cache`](crate::Cache) API returns them so callers can decide.
///
/// ```
/// use cache_core::{Cache, Error};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let err = Cache::from_url("mem://?max_entires=10").await.unwrap_err();
/// assert!(matches!(err, Error::Config(_)));
/// assert!(err.to_string().contains("max_entires"));
/// # });
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend could not be reached or refused the command.
    #[error("cache backend unavailable: {0}")]
    Backend(String),
    /// The backend did not answer within the configured timeout.
    #[error("cache backend timed out after {0:?}")]
    Timeout(Duration),
    /// Stored bytes could not be decoded into the requested type (or are not ours).
    #[error("cached value could not be decoded: {0}")]
    Decode(String),
    /// A value could not be encoded by the codec.
    #[error("value could not be encoded: {0}")]
    Encode(String),
    /// The configuration (URL, environment variable, builder option, TTL string) is invalid.
    #[error("invalid cache configuration: {0}")]
    Config(String),
    /// A key is invalid (for example empty) or a template could not be filled.
    #[error("invalid cache key: {0}")]
    InvalidKey(String),
    /// A glob pattern is malformed.
    #[error("invalid key pattern: {0}")]
    InvalidPattern(String),
    /// The store cannot do this operation (it does not declare the
    /// [`Capability`](crate::store::Capability) it needs, and the cache cannot emulate it
    /// soundly).
    #[error("the {store} store does not support {operation}")]
    Unsupported {
        /// The store's [`name`](crate::Store::name).
        store: &'static str,
        /// What was asked of it.
        operation: &'static str,
    },
}

impl Error {
    /// The same error with `what` (the variable or option it came from) in front of its message;
    /// a configuration error keeps a single "invalid cache configuration:".
    pub(crate) fn within(self, what: &str) -> Error {
        match self {
            Error::Config(m) => Error::Config(format!("{what}: {m}")),
            other => Error::Config(format!("{what}: {other}")),
        }
    }

    /// True for errors that come from the backend (unavailable or timed out), as opposed to
    /// errors in the caller's input or data.
    ///
    /// ```
    /// use cache_core::Error;
    /// assert!(Error::Backend("connection refused".into()).is_backend());
    /// assert!(!Error::InvalidKey("empty".into()).is_backend());
    /// ```
    pub fn is_backend(&self) -> bool {
        matches!(self, Error::Backend(_) | Error::Timeout(_))
    }
}
