//! [`StoreStats`]: what a store reports about itself, per tier for a tiered store.

/// What a [`Store`](crate::Store) reports about itself.
///
/// ```
/// let s = cache_core::StoreStats { entries: 3, ..Default::default() };
/// assert_eq!(s.entries, 3);
/// assert!(s.tiers.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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
    /// shared tier is down).
    pub errors: u64,
    /// One row per tier, top first, for a [`TieredStore`](crate::store::TieredStore); empty
    /// for a store of one tier.
    pub tiers: Vec<crate::store::TierStats>,
    /// Invalidations a tiered store published to other processes.
    pub invalidations_sent: u64,
    /// Invalidations a tiered store received from other processes.
    pub invalidations_received: u64,
    /// Times a tiered store dropped its upper tiers (after an outage or an interrupted
    /// subscription).
    pub resyncs: u64,
    /// The state of the breaker of a [`GuardedStore`](crate::store::GuardedStore) (every
    /// remote store opened from a URL); `None` for a store without one (a tiered store reports
    /// its breakers per tier).
    pub breaker: Option<crate::store::BreakerState>,
    /// Times that breaker opened.
    pub breaker_opens: u64,
    /// Calls answered at once (without the server) while that breaker was open.
    pub short_circuited: u64,
    /// Invalidations waiting for the server, replayed when it is back.
    pub pending: u64,
}
