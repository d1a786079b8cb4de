//! [`SetOptions`]: how a value is written (TTL, tags) and loaded (stale window, single-flight).

use std::time::Duration;

/// Which TTL a write uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum TtlChoice {
    /// The cache's default TTL.
    #[default]
    Default,
    /// No expiry.
    Never,
    /// This TTL.
    After(Duration),
}

/// Options for writes ([`Cache::set_with`](crate::Cache::set_with), [`add`](crate::Cache::add),
/// [`set_many`](crate::Cache::set_many)) and loads ([`get_or_set`](crate::Cache::get_or_set)).
///
/// A `Duration` converts into options with that TTL.
///
/// ```
/// use std::time::Duration;
/// use cache_core::SetOptions;
///
/// let opts = SetOptions::new().ttl(Duration::from_secs(300)).tags(["users", "user:7"]);
/// assert_eq!(opts.ttl_value(), Some(Duration::from_secs(300)));
/// let opts: SetOptions = Duration::from_secs(5).into();
/// assert_eq!(opts.ttl_value(), Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SetOptions {
    pub(crate) ttl: TtlChoice,
    pub(crate) tags: Vec<String>,
    pub(crate) stale: Option<Duration>,
    pub(crate) lock: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        Self {
            ttl: TtlChoice::Default,
            tags: Vec::new(),
            stale: None,
            lock: true,
        }
    }
}

impl SetOptions {
    /// The cache's default TTL, no tags, single-flight on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expire after `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = TtlChoice::After(ttl);
        self
    }

    /// Never expire (the entry still goes when evicted or deleted).
    pub fn no_expiry(mut self) -> Self {
        self.ttl = TtlChoice::Never;
        self
    }

    /// Adds tags; [`Cache::invalidate_tags`](crate::Cache::invalidate_tags) deletes every entry
    /// carrying one of them.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Adds one tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// For [`get_or_set`](crate::Cache::get_or_set): after the TTL, keep serving the old value
    /// for up to `stale` to concurrent callers while one caller refreshes it.
    pub fn stale(mut self, stale: Duration) -> Self {
        self.stale = Some(stale);
        self
    }

    /// For [`get_or_set`](crate::Cache::get_or_set): whether concurrent callers of one cold key
    /// share one load (on by default).
    pub fn lock(mut self, lock: bool) -> Self {
        self.lock = lock;
        self
    }

    /// The explicit TTL, if one was set with [`ttl`](Self::ttl).
    pub fn ttl_value(&self) -> Option<Duration> {
        match self.ttl {
            TtlChoice::After(d) => Some(d),
            _ => None,
        }
    }
}

impl From<Duration> for SetOptions {
    fn from(ttl: Duration) -> Self {
        Self::new().ttl(ttl)
    }
}

impl From<()> for SetOptions {
    fn from((): ()) -> Self {
        Self::new()
    }
}
