//! [`Config`]: what a response cache layer and every clone of its service share, and the
//! defaults of its options.

use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;
use http::header::HeaderName;
use http::request::Parts;

use super::fence::Fence;
use super::flight::Flights;

/// A key function: the identity of a request's resource, or `None` to bypass the cache.
pub(crate) type KeyFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;
/// A predicate: whether a request may use the cache at all.
pub(crate) type Predicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// Default bound on buffered (and stored) bodies: 1 MiB.
///
/// ```
/// assert_eq!(cache_axum::response_cache::DEFAULT_MAX_BODY, 1 << 20);
/// ```
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Default time a stale response with a validator is kept for revalidation: 10 minutes.
///
/// ```
/// assert_eq!(cache_axum::response_cache::DEFAULT_KEEP_STALE.as_secs(), 600);
/// ```
pub const DEFAULT_KEEP_STALE: Duration = Duration::from_secs(600);

/// Everything a [`ResponseCache`](super::ResponseCache) service shares with its clones.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) cache: Cache,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) heuristic: bool,
    pub(crate) vary_by: Vec<HeaderName>,
    pub(crate) key_fn: Option<KeyFn>,
    pub(crate) predicate: Option<Predicate>,
    pub(crate) tag_header: Option<HeaderName>,
    pub(crate) status_header: Option<HeaderName>,
    pub(crate) max_body: usize,
    pub(crate) store_set_cookie: bool,
    pub(crate) keep_stale: Duration,
    pub(crate) flights: Arc<Flights>,
    pub(crate) fence: Arc<Fence>,
    /// The targeted cache-control field obeyed before `Cache-Control` (RFC 9213).
    pub(crate) targeted: Option<HeaderName>,
    /// Whether the targeted field reaches clients (and is stored).
    pub(crate) forward_targeted: bool,
    /// This cache's name in `Cache-Status` (RFC 9211), ready to write; `None`: no field.
    pub(crate) cache_status: Option<String>,
    /// Whether `Cache-Status` shows the key.
    pub(crate) cache_status_key: bool,
}
