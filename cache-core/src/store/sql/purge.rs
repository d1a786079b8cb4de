//! The background tasks of a store: the purge, which deletes expired rows (and their tag rows)
//! at an interval, and the poll that reads back namespace versions other processes published.
//!
//! Each task holds only a [`Weak`] to the store's shared state, so it ends on its own once the
//! store is dropped (the store also aborts it when dropped, so it never outlives the store by a
//! tick). Reads never depend on it: an expired row is invisible whether or not it was purged.

use std::sync::Weak;
use std::time::Duration;

use tokio::task::AbortHandle;

use super::Inner;

/// Starts the purge of the store behind `inner` every `every`.
pub(super) fn spawn(inner: Weak<Inner>, every: Duration) -> Option<AbortHandle> {
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let task = rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once: skip it, the store was just opened.
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                break;
            };
            if let Err(e) = inner.purge().await {
                tracing::warn!(target: "cache", store = %inner.url, error = %e, "purging expired rows failed");
            }
        }
    });
    Some(task.abort_handle())
}

/// Starts reading back, every `every`, the namespace versions other processes published for
/// the caches on this store. Nothing is read while no cache watches a namespace.
pub(super) fn spawn_version_poll(inner: Weak<Inner>, every: Duration) -> Option<AbortHandle> {
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let task = rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                break;
            };
            if let Err(e) = inner.poll_versions().await {
                tracing::debug!(target: "cache", store = %inner.url, error = %e, "reading namespace versions failed");
            }
        }
    });
    Some(task.abort_handle())
}
