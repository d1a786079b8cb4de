//! [`ReadStamp`]: proof, checked without reading again, that a value read from the in-process
//! store is still the stored one.
//!
//! The memory store keeps a small table of write counters. Every change to a key (a write, a
//! delete, a tag invalidation, a TTL change, an eviction or expiry) raises the counter its key
//! hashes to, after the change; clearing the store raises an epoch. A read notes the counter and
//! the epoch before it reads, so if either has moved since, the value may have changed. Keys that
//! share a counter only cost each other a spurious "changed", never a missed one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::Cache;

/// The memory store's write counters.
pub(crate) struct Stamps {
    slots: Box<[AtomicU64]>,
    epoch: AtomicU64,
    hasher: ahash::RandomState,
}

/// What a read noted before reading: the key's counter and the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    slot: usize,
    count: u64,
    epoch: u64,
}

impl Default for Stamps {
    fn default() -> Self {
        Self {
            slots: (0..Self::SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            hasher: ahash::RandomState::new(),
        }
    }
}

impl Stamps {
    /// A power of two: 8 KiB of counters per store.
    const SLOTS: usize = 1024;

    fn slot(&self, key: &str) -> usize {
        // The mask keeps the index in range, so the truncation cannot pick a wrong slot.
        (self.hasher.hash_one(key) as usize) & (Self::SLOTS - 1)
    }

    /// Records that `key` changed. Call it after the change.
    pub(crate) fn touch(&self, key: &str) {
        self.slots[self.slot(key)].fetch_add(1, Ordering::Release);
    }

    /// Records that every key may have changed. Call it after the change.
    pub(crate) fn touch_all(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Notes `key`'s counter and the epoch. Call it before reading.
    pub(crate) fn seen(&self, key: &str) -> Seen {
        let slot = self.slot(key);
        Seen {
            slot,
            count: self.slots[slot].load(Ordering::Acquire),
            epoch: self.epoch.load(Ordering::Acquire),
        }
    }

    fn unchanged(&self, seen: &Seen) -> bool {
        self.slots[seen.slot].load(Ordering::Acquire) == seen.count
            && self.epoch.load(Ordering::Acquire) == seen.epoch
    }
}

/// Proof that a value read from the in-process store is still the stored one, checked without
/// reading the store again: from [`Cache::get_bytes_stamped`].
///
/// It lets a caller keep its own decoded copy of a value (the HTTP response cache keeps one per
/// worker thread) and use it for as long as [`is_current`](ReadStamp::is_current) holds: until
/// the key is written, deleted, invalidated by tag or pattern, expires, is evicted, or the
/// cache's version is bumped. A spurious "not current" is possible (keys share the counters
/// that track changes); a wrong "current" is not.
///
/// ```
/// use bytes::Bytes;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::memory();
/// cache.set_bytes("page", Bytes::from_static(b"v1"), ()).await?;
/// let (bytes, stamp) = cache.get_bytes_stamped("page").await?.unwrap();
/// assert_eq!(&bytes[..], b"v1");
/// let stamp = stamp.expect("the memory store stamps its reads");
/// assert!(stamp.is_current());
///
/// cache.set_bytes("page", Bytes::from_static(b"v2"), ()).await?;
/// assert!(!stamp.is_current());
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct ReadStamp {
    cache: Cache,
    stamps: Arc<Stamps>,
    seen: Seen,
    version: u64,
    expires_at: Option<Instant>,
}

impl std::fmt::Debug for ReadStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadStamp")
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .field("current", &self.is_current())
            .finish()
    }
}

impl ReadStamp {
    pub(crate) fn new(
        cache: Cache,
        stamps: Arc<Stamps>,
        seen: Seen,
        version: u64,
        expires_at: Option<Instant>,
    ) -> Self {
        Self {
            cache,
            stamps,
            seen,
            version,
            expires_at,
        }
    }

    /// Whether the value read is still the stored one (see the type's docs).
    ///
    /// ```
    /// use bytes::Bytes;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_bytes("k", Bytes::from_static(b"v"), ()).await?;
    /// let (_, stamp) = cache.get_bytes_stamped("k").await?.unwrap();
    /// let stamp = stamp.unwrap();
    /// cache.bump_version().await?;
    /// assert!(!stamp.is_current());
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn is_current(&self) -> bool {
        self.stamps.unchanged(&self.seen)
            && self.cache.version() == self.version
            && self.expires_at.is_none_or(|at| Instant::now() < at)
    }

    /// Counts a hit in the cache's [`stats`](Cache::stats): for a caller that served its copy
    /// of the value (after checking [`is_current`](ReadStamp::is_current)) instead of reading.
    ///
    /// ```
    /// use bytes::Bytes;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_bytes("k", Bytes::from_static(b"v"), ()).await?;
    /// let (_, stamp) = cache.get_bytes_stamped("k").await?.unwrap();
    /// stamp.unwrap().record_hit();
    /// assert_eq!(cache.stats().hits, 2);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn record_hit(&self) {
        self.cache.count_hit();
    }
}
