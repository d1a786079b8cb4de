//! Counters: hits, misses, writes, evictions, errors, and the store's size.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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

/// What a [`Store`](crate::Store) reports about itself.
///
/// ```
/// let s = cache_core::StoreStats { entries: 3, ..Default::default() };
/// assert_eq!(s.entries, 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries evicted by the size bound since the last reset.
    pub evictions: u64,
    /// Entries expired since the last reset.
    pub expirations: u64,
    /// Entries stored now.
    pub entries: u64,
    /// Bytes stored now.
    pub bytes: u64,
    /// Backend errors the store absorbed itself (a tiered store serving from memory while its
    /// second tier is down).
    pub errors: u64,
}

/// Live counters shared by every clone of a `Cache`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) sets: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self, store: StoreStats) -> Stats {
        Stats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            sets: self.sets.load(Relaxed),
            deletes: self.deletes.load(Relaxed),
            errors: self.errors.load(Relaxed) + store.errors,
            decode_errors: self.decode_errors.load(Relaxed),
            evictions: store.evictions,
            expirations: store.expirations,
            entries: store.entries,
            bytes: store.bytes,
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
        ] {
            c.store(0, Relaxed);
        }
    }
}
