//! What a tiered store does while its shared (bottom) tier is down and when it comes back:
//! invalidations that could not reach it are queued and replayed in order on recovery, and the
//! upper tiers are dropped, because they may have missed other processes' invalidations.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

use super::recent::Touched;
use super::TieredStore;
use crate::store::Invalidation;

/// Invalidations whose bottom-tier part failed, waiting to be replayed.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    pending: Mutex<Vec<Invalidation>>,
    /// Whether `pending` may hold something: read without the lock after every success of the
    /// bottom tier, so a replay that failed is tried again once the tier answers.
    queued: AtomicBool,
}

impl Outage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Invalidation>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn defer(&self, inv: Invalidation) {
        self.lock().push(inv);
        self.queued.store(true, Relaxed);
    }

    pub(crate) fn queued(&self) -> bool {
        self.queued.load(Relaxed)
    }

    pub(crate) fn len(&self) -> u64 {
        self.lock().len() as u64
    }

    fn take(&self) -> VecDeque<Invalidation> {
        let mut queue = self.lock();
        self.queued.store(false, Relaxed);
        std::mem::take(&mut *queue).into()
    }

    /// Puts `items` back at the head of the queue, ahead of anything queued meanwhile.
    fn put_back(&self, items: &mut VecDeque<Invalidation>) {
        let mut queue = self.lock();
        let later = std::mem::take(&mut *queue);
        queue.extend(items.drain(..));
        queue.extend(later);
        self.queued.store(true, Relaxed);
    }
}

/// The invalidations a replay has not sent yet: put back at the head of the queue when the
/// replay stops short, however it stops (its caller's future may be dropped).
pub(crate) struct Unsent<'a> {
    outage: &'a Outage,
    pub(crate) items: VecDeque<Invalidation>,
}

impl<'a> Unsent<'a> {
    /// Takes everything queued, to be sent in order.
    pub(crate) fn take(outage: &'a Outage) -> Self {
        Self {
            outage,
            items: outage.take(),
        }
    }
}

impl Drop for Unsent<'_> {
    fn drop(&mut self) {
        if !self.items.is_empty() {
            self.outage.put_back(&mut self.items);
        }
    }
}

impl TieredStore {
    /// The bottom tier is back: drop the upper tiers and replay queued invalidations.
    pub(super) async fn recover(&self) {
        tracing::info!(target: "cache", "the shared tier is back; dropping the upper tiers and replaying invalidations");
        self.resync().await;
        self.replay().await;
        self.reload_versions().await;
    }

    /// Sends the queued invalidations to the bottom tier, in order, publishing each one that
    /// lands. The first that fails on the backend stays queued with the rest, ahead of
    /// anything queued meanwhile, for the next command that reaches the tier.
    pub(super) async fn replay(&self) {
        let inner = &self.inner;
        let bottom = &inner.bottom.store;
        let mut unsent = Unsent::take(&inner.outage);
        while let Some(inv) = unsent.items.front() {
            let sent = match inv {
                Invalidation::Keys(keys) => bottom.delete_many(keys).await.map(|_| None),
                Invalidation::Pattern(p) => bottom.delete_pattern(p).await.map(|_| None),
                // The members' keys too: copies promoted elsewhere carry no tags.
                Invalidation::Tags(tags) => bottom.invalidate_tags(tags).await.map(Some),
                Invalidation::Version { prefix, version } => bottom
                    .publish_version(prefix, *version)
                    .await
                    .map(|()| None),
            };
            match sent {
                Ok(members) => {
                    let inv = inv.clone();
                    self.changed_here(&inv).await;
                    self.publish(inv).await;
                    if let Some(keys) = members.filter(|k| !k.is_empty()) {
                        let members = Invalidation::Keys(keys);
                        self.changed_here(&members).await;
                        self.publish(members).await;
                    }
                    unsent.items.pop_front();
                }
                Err(e) if e.is_backend() => {
                    tracing::warn!(target: "cache", error = %e, "replaying an invalidation failed; kept for the next try");
                    inner.bottom.breaker.failure();
                    inner.bottom.counters.errors.fetch_add(1, Relaxed);
                    return;
                }
                Err(e) => {
                    tracing::warn!(target: "cache", error = %e, "the shared tier refused a queued invalidation; dropped");
                    unsent.items.pop_front();
                }
            }
        }
    }

    /// Reads the shared namespace versions again: a bump whose message this instance missed
    /// (its subscription was down, or the bottom tier was) still reaches every handle on it.
    pub(super) async fn reload_versions(&self) {
        for prefix in self.inner.versions.prefixes() {
            if let Ok(Some(version)) = self.inner.bottom.store.load_version(&prefix).await {
                self.inner.versions.raise(&prefix, version);
            }
        }
    }

    /// Drops every upper tier (they may have missed invalidations).
    pub(super) async fn resync(&self) {
        let _applying = self.inner.recent.begin(Touched::All);
        for tier in &self.inner.uppers {
            tier.change(|s| s.clear("*")).await;
        }
        self.inner.bus_counters.resyncs.fetch_add(1, Relaxed);
    }
}
