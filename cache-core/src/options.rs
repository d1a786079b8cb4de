//! [`SetOptions`]: how a value is written (TTL, tags) and loaded (stale window, single-flight,
//! the [`Lock`] across processes).

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
    pub(crate) lock: Lock,
}

/// The lease time of a [`Lock::Distributed`] when none is given: 10 seconds.
///
/// ```
/// assert_eq!(cache_core::DEFAULT_LEASE, std::time::Duration::from_secs(10));
/// ```
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How concurrent loads of one cold key share a loader, for
/// [`get_or_set`](crate::Cache::get_or_set) and `#[cached]`.
///
/// A `bool` converts into a lock: `true` is [`Lock::Local`], `false` is [`Lock::Off`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Lock, SetOptions};
///
/// assert_eq!(Lock::from(false), Lock::Off);
/// assert_eq!(SetOptions::new().lock_value(), Lock::Local);
/// let opts = SetOptions::new().lease(Duration::from_secs(30));
/// assert_eq!(opts.lock_value(), Lock::Distributed { lease: Duration::from_secs(30) });
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // On Redis (`redis://…`, `tiered+redis://…`) one process in all runs the loader; on the
/// // memory store, one caller in this process.
/// let cache = cache_core::Cache::memory();
/// let total: u64 = cache.get_or_set("report:total", opts, || async { 42 }).await;
/// assert_eq!(total, 42);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Lock {
    /// Every caller runs its own loader.
    Off,
    /// Concurrent callers in this process run one loader (the default).
    #[default]
    Local,
    /// Concurrent callers in every process sharing the store run one loader: within a process
    /// as with [`Local`](Lock::Local), and across processes through a lease in the shared store
    /// that expires after `lease`, so a holder that dies does not block the others for longer.
    /// Choose a lease longer than the loader takes: when it runs out, a waiting process loads
    /// too. On a store that is not [shared](crate::store::Capability::Shared) (the memory
    /// store) this is [`Local`](Lock::Local).
    Distributed {
        /// How long the lease lasts if its holder neither stores a value nor releases it.
        lease: Duration,
    },
}

impl Lock {
    /// A distributed lock with the [`DEFAULT_LEASE`].
    ///
    /// ```
    /// use cache_core::{Lock, DEFAULT_LEASE};
    /// assert_eq!(Lock::distributed(), Lock::Distributed { lease: DEFAULT_LEASE });
    /// ```
    pub const fn distributed() -> Self {
        Lock::Distributed {
            lease: DEFAULT_LEASE,
        }
    }
}

impl From<bool> for Lock {
    fn from(on: bool) -> Self {
        if on {
            Lock::Local
        } else {
            Lock::Off
        }
    }
}

impl Default for SetOptions {
    fn default() -> Self {
        Self {
            ttl: TtlChoice::Default,
            tags: Vec::new(),
            stale: None,
            lock: Lock::Local,
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

    /// For [`get_or_set`](crate::Cache::get_or_set): how concurrent callers of one cold key
    /// share one load (in this process by default; `false` turns it off; see [`Lock`]).
    ///
    /// ```
    /// use cache_core::{Lock, SetOptions};
    /// assert_eq!(SetOptions::new().lock(false).lock_value(), Lock::Off);
    /// assert_eq!(SetOptions::new().lock(Lock::distributed()).lock_value(), Lock::distributed());
    /// ```
    pub fn lock(mut self, lock: impl Into<Lock>) -> Self {
        self.lock = lock.into();
        self
    }

    /// For [`get_or_set`](crate::Cache::get_or_set): concurrent callers of one cold key in every
    /// process sharing the store run one loader, with the [`DEFAULT_LEASE`] (see
    /// [`Lock::Distributed`]).
    ///
    /// ```
    /// use cache_core::{Lock, SetOptions};
    /// assert_eq!(SetOptions::new().distributed_lock().lock_value(), Lock::distributed());
    /// ```
    pub fn distributed_lock(self) -> Self {
        self.lock(Lock::distributed())
    }

    /// A distributed lock whose lease lasts `lease` (see [`Lock::Distributed`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Lock, SetOptions};
    /// let opts = SetOptions::new().lease(Duration::from_secs(2));
    /// assert_eq!(opts.lock_value(), Lock::Distributed { lease: Duration::from_secs(2) });
    /// ```
    pub fn lease(self, lease: Duration) -> Self {
        self.lock(Lock::Distributed { lease })
    }

    /// How concurrent loads share a loader (see [`lock`](Self::lock)).
    pub fn lock_value(&self) -> Lock {
        self.lock
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
