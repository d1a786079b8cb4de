//! One tier of a tiered store: its store, its breaker and counters, and the guarded call that
//! every command to it goes through.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use super::stats::{flag, TierCounters, TierStats};
use crate::error::Result;
use crate::store::Breaker;
use crate::store::{BoxFuture, Store};

pub(super) struct Tier {
    pub(super) store: Arc<dyn Store>,
    pub(super) breaker: Breaker,
    pub(super) counters: TierCounters,
    /// An upper tier that missed an invalidation (its breaker was open, or the command
    /// failed): it serves nothing until it has been dropped whole.
    pub(super) dirty: AtomicBool,
}

/// The outcome of a guarded call.
pub(super) enum Call<T> {
    /// The tier answered; `recovered` when that closed its open breaker.
    Done { value: T, recovered: bool },
    /// Not sent (breaker open) or failed with a backend error (already counted).
    Down,
}

impl Tier {
    pub(super) fn new(store: Arc<dyn Store>, threshold: u32, cooldown: Duration) -> Self {
        Self {
            store,
            breaker: Breaker::new(threshold, cooldown),
            counters: TierCounters::default(),
            dirty: AtomicBool::new(false),
        }
    }

    /// Runs one call through the breaker. Backend errors are absorbed (`Down`); other errors
    /// (bad pattern, not an integer, unsupported) are the caller's and pass through.
    pub(super) async fn call<'a, T>(
        &'a self,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<Call<T>> {
        if !self.breaker.allow() {
            return Ok(Call::Down);
        }
        let in_flight = self.breaker.in_flight();
        let result = call(&*self.store).await;
        in_flight.answered();
        match result {
            Ok(value) => Ok(Call::Done {
                value,
                recovered: self.breaker.success(),
            }),
            Err(e) if e.is_backend() => {
                self.breaker.failure();
                self.counters.errors.fetch_add(1, Relaxed);
                tracing::debug!(target: "cache", tier = self.store.name(), error = %e, "tier call failed; absorbed");
                Ok(Call::Down)
            }
            Err(e) => {
                // The command reached the tier: it is up.
                self.breaker.success();
                Err(e)
            }
        }
    }

    /// A change that must reach this upper tier, made best-effort: one that cannot be made
    /// marks the tier dirty, so it serves nothing it may hold stale.
    pub(super) async fn change<'a, T>(
        &'a self,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Option<T> {
        match self.call(call).await {
            Ok(Call::Done { value, .. }) => Some(value),
            Ok(Call::Down) | Err(_) => {
                self.dirty.store(true, Relaxed);
                None
            }
        }
    }

    /// Whether this upper tier may serve reads: a dirty one is dropped whole first.
    pub(super) async fn usable(&self) -> bool {
        if !self.dirty.load(Relaxed) {
            return true;
        }
        // Cleared first, then marked clean: a change missed meanwhile marks it dirty again.
        self.dirty.store(false, Relaxed);
        match self.call(|s| s.clear("*")).await {
            Ok(Call::Done { .. }) => true,
            _ => {
                self.dirty.store(true, Relaxed);
                false
            }
        }
    }

    pub(super) fn stats(&self, pending: u64) -> TierStats {
        TierStats {
            name: self.store.name(),
            hits: self.counters.hits.get(),
            promotions: self.counters.promotions.load(Relaxed),
            errors: self.counters.errors.load(Relaxed),
            breaker: self.breaker.state(),
            breaker_opens: self.breaker.opens(),
            pending: pending.max(flag(&self.dirty)),
            write_behind_pending: 0,
            write_behind_flushed: 0,
            write_behind_batches: 0,
            write_behind_failed: 0,
            write_behind_dropped: 0,
            write_behind_overflows: 0,
        }
    }
}
