//! Counters: hits, misses, writes, evictions, errors, and the store's size; per-function
//! counts of `#[cached]` functions ([`functions`], reset by [`reset_functions`]); recent
//! invalidations
//! ([`Cache::recent_invalidations`](crate::Cache::recent_invalidations)).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::counter::StripedCounter;

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// Hit and miss counters are kept by the [`Cache`](crate::Cache) handle; evictions,
/// expirations, entries and bytes come from the store (for Redis, entries and bytes are not
/// counted and stay zero).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::memory();
/// cache.set("a", &1).await?;
/// let _: Option<i32> = cache.get("a").await?;
/// let _: Option<i32> = cache.get("b").await?;
/// let s = cache.stats();
/// assert_eq!((s.hits, s.misses, s.sets), (1, 1, 1));
/// assert_eq!(s.hit_ratio(), 0.5);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found a value.
    pub hits: u64,
    /// Reads that found nothing (including values that failed to decode).
    pub misses: u64,
    /// Values written.
    pub sets: u64,
    /// Keys deleted by explicit deletes, patterns, tags or `take`.
    pub deletes: u64,
    /// Entries evicted by the store's size bound.
    pub evictions: u64,
    /// Entries removed because their TTL ran out.
    pub expirations: u64,
    /// Backend errors (unavailable, timed out).
    pub errors: u64,
    /// Stored values that could not be decoded (corrupt, foreign, wrong type); each is a miss.
    pub decode_errors: u64,
    /// Entries currently stored (memory store only).
    pub entries: u64,
    /// Bytes currently stored, keys included (memory store only).
    pub bytes: u64,
    /// Leases taken by loads under a [distributed lock](crate::Lock::Distributed).
    pub leases_acquired: u64,
    /// Loads under a distributed lock that waited for another process's lease.
    pub lease_waits: u64,
    /// Waits that a message from the lease holder ended (the rest ended by polling).
    pub lease_wakeups: u64,
    /// Calls run again by `#[cache_invalidate(recache = [..])]` after an invalidation.
    pub recaches: u64,
    /// Of those, the ones that failed (returned `Err` or `None`, or panicked); the write that
    /// asked for them succeeded all the same.
    pub recache_failures: u64,
}

impl Stats {
    /// `hits / (hits + misses)`, or 0 when nothing was read.
    ///
    /// ```
    /// assert_eq!(cache_core::Stats::default().hit_ratio(), 0.0);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// Live counters shared by every clone of a `Cache`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: StripedCounter,
    pub(crate) misses: StripedCounter,
    pub(crate) sets: StripedCounter,
    pub(crate) deletes: StripedCounter,
    pub(crate) errors: StripedCounter,
    pub(crate) decode_errors: StripedCounter,
    pub(crate) leases_acquired: StripedCounter,
    pub(crate) lease_waits: StripedCounter,
    pub(crate) lease_wakeups: StripedCounter,
    pub(crate) recaches: StripedCounter,
    pub(crate) recache_failures: StripedCounter,
}

impl Counters {
    pub(crate) fn snapshot(&self, store: &crate::store::StoreStats) -> Stats {
        Stats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            sets: self.sets.get(),
            deletes: self.deletes.get(),
            errors: self.errors.get() + store.errors,
            decode_errors: self.decode_errors.get(),
            evictions: store.evictions,
            expirations: store.expirations,
            entries: store.entries,
            bytes: store.bytes,
            leases_acquired: self.leases_acquired.get(),
            lease_waits: self.lease_waits.get(),
            lease_wakeups: self.lease_wakeups.get(),
            recaches: self.recaches.get(),
            recache_failures: self.recache_failures.get(),
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.hits,
            &self.misses,
            &self.sets,
            &self.deletes,
            &self.errors,
            &self.decode_errors,
            &self.leases_acquired,
            &self.lease_waits,
            &self.lease_wakeups,
            &self.recaches,
            &self.recache_failures,
        ] {
            c.reset();
        }
    }
}

/// Hit and miss counts of one `#[cached]` function, from [`functions`].
///
/// ```
/// let f = cache_core::stats::FunctionStats { name: "app::user".into(), hits: 3, misses: 1 };
/// assert_eq!(f.hit_ratio(), 0.75);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionStats {
    /// The function's path: `module::path::name`.
    pub name: String,
    /// Calls served from the cache (a stale value served counts as a hit).
    pub hits: u64,
    /// Calls that ran the function's body.
    pub misses: u64,
}

impl FunctionStats {
    /// `hits / (hits + misses)`, or 0 before the first call.
    ///
    /// ```
    /// assert_eq!(cache_core::stats::FunctionStats::default().hit_ratio(), 0.0);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// The counters of one `#[cached]` function: a `static` at its call site, registered in a
/// global list on its first call. Not a public API: used by the code `#[cached]` generates.
#[doc(hidden)]
#[derive(Debug)]
pub struct FnSite {
    name: &'static str,
    hits: AtomicU64,
    misses: AtomicU64,
    registered: AtomicBool,
}

static SITES: Mutex<Vec<&'static FnSite>> = Mutex::new(Vec::new());

impl FnSite {
    /// A site for the function at `name`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            registered: AtomicBool::new(false),
        }
    }

    /// Counts one call: served from the cache (`hit`) or not.
    pub fn record(&'static self, hit: bool) {
        if !self.registered.load(Relaxed) && !self.registered.swap(true, Relaxed) {
            lock(&SITES).push(self);
        }
        if hit {
            self.hits.fetch_add(1, Relaxed);
        } else {
            self.misses.fetch_add(1, Relaxed);
        }
    }
}

/// Hit and miss counts of every `#[cached]` function called so far in this process, by name.
/// Counts are process-wide (whatever [`Cache`](crate::Cache) each call used); one function
/// generic over types shares one entry.
///
/// ```
/// use cache_core::cached;
///
/// #[cached(key = "square:{n}")]
/// async fn square(n: u64) -> u64 { n * n }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// square(4).await;
/// square(4).await;
/// let f = cache_core::stats::functions();
/// let f = f.iter().find(|f| f.name.ends_with("::square")).unwrap();
/// assert_eq!((f.hits, f.misses), (1, 1));
/// # });
/// ```
pub fn functions() -> Vec<FunctionStats> {
    let mut out: Vec<FunctionStats> = lock(&SITES)
        .iter()
        .map(|s| FunctionStats {
            name: s.name.to_owned(),
            hits: s.hits.load(Relaxed),
            misses: s.misses.load(Relaxed),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    // Two sites can share a name (a function expanded twice, say in two cfg branches).
    out.dedup_by(|b, a| {
        let same = a.name == b.name;
        if same {
            a.hits += b.hits;
            a.misses += b.misses;
        }
        same
    });
    out
}

/// Sets the hit and miss counts of every `#[cached]` function to zero (process-wide, like
/// [`functions`]); the functions stay listed, at zero. The cache's own counters are reset by
/// [`Cache::reset_stats`](crate::Cache::reset_stats), a `#[memoize]` table's by
/// [`MemoHandle::reset_stats`](crate::memo::MemoHandle::reset_stats).
///
/// ```
/// use cache_core::cached;
///
/// #[cached(key = "cube:{n}")]
/// async fn cube(n: u64) -> u64 { n * n * n }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// cube(2).await;
/// cube(2).await;
/// cache_core::stats::reset_functions();
/// let f = cache_core::stats::functions();
/// let f = f.iter().find(|f| f.name.ends_with("::cube")).unwrap();
/// assert_eq!((f.hits, f.misses), (0, 0));
/// # });
/// ```
pub fn reset_functions() {
    for site in lock(&SITES).iter() {
        site.hits.store(0, Relaxed);
        site.misses.store(0, Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data stays consistent even if a holder panicked: every update is a single push.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What an [`InvalidationEvent`] removed.
///
/// ```
/// use cache_core::stats::InvalidationKind;
/// assert_eq!(serde_json::to_string(&InvalidationKind::Tags).unwrap(), "\"tags\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InvalidationKind {
    /// [`Cache::delete`](crate::Cache::delete) of one key.
    Key,
    /// [`Cache::delete_many`](crate::Cache::delete_many).
    Keys,
    /// [`Cache::delete_pattern`](crate::Cache::delete_pattern).
    Pattern,
    /// [`Cache::invalidate_tags`](crate::Cache::invalidate_tags).
    Tags,
    /// [`Cache::clear`](crate::Cache::clear).
    Clear,
    /// [`Cache::bump_version`](crate::Cache::bump_version).
    Version,
}

/// One recent invalidation, from [`Cache::recent_invalidations`](crate::Cache::recent_invalidations).
///
/// ```
/// use cache_core::stats::InvalidationKind;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::memory();
/// cache.invalidate_tags(["users"]).await?;
/// let last = cache.recent_invalidations().pop().unwrap();
/// assert_eq!(last.kind, InvalidationKind::Tags);
/// assert_eq!(last.targets, ["users"]);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct InvalidationEvent {
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What kind of invalidation it was.
    pub kind: InvalidationKind,
    /// The keys, pattern or tags as the caller gave them (at most
    /// [`MAX_TARGETS`](InvalidationEvent::MAX_TARGETS); empty for `clear`; the new version
    /// for `version`).
    pub targets: Vec<String>,
    /// How many targets the caller gave (may exceed `targets.len()`).
    pub target_count: u64,
    /// Entries removed, as the store reported them (0 for `version`: everything is dropped).
    pub deleted: u64,
}

impl InvalidationEvent {
    /// How many targets an event keeps.
    ///
    /// ```
    /// assert!(cache_core::stats::InvalidationEvent::MAX_TARGETS >= 1);
    /// ```
    pub const MAX_TARGETS: usize = 8;
}

/// A ring of the most recent invalidations of one `Cache`.
#[derive(Debug, Default)]
pub(crate) struct InvalidationLog {
    ring: Mutex<VecDeque<InvalidationEvent>>,
}

impl InvalidationLog {
    const CAPACITY: usize = 64;

    pub(crate) fn record<I, S>(&self, kind: InvalidationKind, targets: I, deleted: u64)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut kept = Vec::new();
        let mut count = 0u64;
        for t in targets {
            if kept.len() < InvalidationEvent::MAX_TARGETS {
                kept.push(t.as_ref().to_owned());
            }
            count += 1;
        }
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let event = InvalidationEvent {
            at_ms,
            kind,
            targets: kept,
            target_count: count,
            deleted,
        };
        let mut ring = lock(&self.ring);
        if ring.len() == Self::CAPACITY {
            ring.pop_front();
        }
        ring.push_back(event);
    }

    pub(crate) fn snapshot(&self) -> Vec<InvalidationEvent> {
        lock(&self.ring).iter().cloned().collect()
    }
}
