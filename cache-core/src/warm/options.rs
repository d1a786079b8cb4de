//! [`WarmOptions`]: how a preload writes (TTL, tags) and how many loads run at once.

use std::time::Duration;

use crate::options::SetOptions;

/// The default number of loads a preload runs at once.
pub const DEFAULT_WARM_CONCURRENCY: usize = 8;

/// Options of [`Cache::warm`](crate::Cache::warm): the write options of every value stored and
/// how many loader calls run at once (default [`DEFAULT_WARM_CONCURRENCY`]).
///
/// `()`, a `Duration` (a TTL) and [`SetOptions`] convert into it.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{SetOptions, WarmOptions};
///
/// let opts = WarmOptions::new().concurrency(16).ttl(Duration::from_secs(60)).tag("users");
/// assert_eq!(opts.concurrency_value(), 16);
/// let opts: WarmOptions = SetOptions::new().ttl(Duration::from_secs(5)).into();
/// assert_eq!(opts.concurrency_value(), 8);
/// assert_eq!(opts.set_options().ttl_value(), Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct WarmOptions {
    pub(crate) concurrency: usize,
    pub(crate) set: SetOptions,
}

impl Default for WarmOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_WARM_CONCURRENCY,
            set: SetOptions::new(),
        }
    }
}

impl WarmOptions {
    /// Eight loads at once, the cache's default TTL, no tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many loader calls run at once (at least one: `0` counts as `1`).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Stored values expire after `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.set = self.set.ttl(ttl);
        self
    }

    /// Adds a tag to every stored value.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.set = self.set.tag(tag);
        self
    }

    /// Replaces the write options of every stored value.
    pub fn set_with(mut self, set: impl Into<SetOptions>) -> Self {
        self.set = set.into();
        self
    }

    /// How many loader calls run at once.
    pub fn concurrency_value(&self) -> usize {
        self.concurrency
    }

    /// The write options of every stored value.
    pub fn set_options(&self) -> &SetOptions {
        &self.set
    }
}

impl From<SetOptions> for WarmOptions {
    fn from(set: SetOptions) -> Self {
        Self::new().set_with(set)
    }
}

impl From<Duration> for WarmOptions {
    fn from(ttl: Duration) -> Self {
        Self::new().ttl(ttl)
    }
}

impl From<()> for WarmOptions {
    fn from((): ()) -> Self {
        Self::new()
    }
}
