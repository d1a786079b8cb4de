//! [`TierStats`]: what one tier of a tiered store did, returned as data in
//! [`StoreStats::tiers`](crate::StoreStats::tiers).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::counter::StripedCounter;
use crate::store::BreakerState;

/// Counters of one tier of a [`TieredStore`](super::TieredStore), top tier first in
/// [`StoreStats::tiers`](crate::StoreStats::tiers).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use cache_core::{Cache, store::{MemoryStore, TieredStore}};
/// let cache = Cache::builder().store(TieredStore::builder(Arc::new(MemoryStore::new())).build()).build().await?;
/// cache.set("k", &1).await?;
/// let _ = cache.get::<i32>("k").await?;
/// let tiers = cache.store().stats().tiers;
/// assert_eq!((tiers[0].name, tiers[0].hits), ("memory", 1));
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TierStats {
    /// The tier's store ([`Store::name`](crate::Store::name)).
    pub name: &'static str,
    /// Reads this tier answered.
    pub hits: u64,
    /// Values copied into this tier from a lower one.
    pub promotions: u64,
    /// Backend errors of this tier, each absorbed (served by another tier or as a miss).
    pub errors: u64,
    /// The state of the tier's breaker.
    pub breaker: BreakerState,
    /// How many times the tier's breaker has opened.
    pub breaker_opens: u64,
    /// Invalidations waiting to reach this tier (for an upper tier that missed one: 1 until
    /// the tier has been dropped whole).
    pub pending: u64,
    /// Writes waiting to reach this (shared) tier under write-behind
    /// ([`TieredStoreBuilder::write_behind`](super::TieredStoreBuilder::write_behind)); 0 for
    /// the upper tiers and without write-behind.
    pub write_behind_pending: u64,
    /// Writes flushed to this tier by write-behind.
    pub write_behind_flushed: u64,
    /// `set_many` calls those flushes made.
    pub write_behind_batches: u64,
    /// Flushes that found this tier unavailable (their writes stayed pending).
    pub write_behind_failed: u64,
    /// Pending writes this tier refused (not unavailable: refused, such as a value too large);
    /// they were dropped from the upper tiers too.
    pub write_behind_dropped: u64,
    /// Writes made through at once because the pending writes were at their bound.
    pub write_behind_overflows: u64,
}

/// The live counters of one tier.
#[derive(Debug, Default)]
pub(super) struct TierCounters {
    /// Counted on every hit of the top tier, by every thread: striped.
    pub(super) hits: StripedCounter,
    pub(super) promotions: AtomicU64,
    pub(super) errors: AtomicU64,
}

impl TierCounters {
    pub(super) fn reset(&self) {
        self.hits.reset();
        self.promotions.store(0, Relaxed);
        self.errors.store(0, Relaxed);
    }
}

/// Counters of the store as a whole.
#[derive(Debug, Default)]
pub(super) struct BusCounters {
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) resyncs: AtomicU64,
}

impl BusCounters {
    pub(super) fn reset(&self) {
        for c in [&self.sent, &self.received, &self.resyncs] {
            c.store(0, Relaxed);
        }
    }
}

/// Whether a flag is set, for `pending`.
pub(super) fn flag(b: &AtomicBool) -> u64 {
    u64::from(b.load(Relaxed))
}
