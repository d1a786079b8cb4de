//! [`TieredStore`]: an ordered stack of stores (L1 … Ln) kept coherent across processes.
//!
//! The last tier is the shared one (Redis, a database): the source of truth. The tiers above it
//! hold this process's copies (memory, a local disk store). Reads go down the stack and promote
//! what a lower tier returns into every tier above it, for no longer than its remaining TTL in
//! that lower tier (and an optional cap). Writes and deletes reach every tier, and every change
//! is published on an [`InvalidationBus`] so that every other process drops its upper copies.
//!
//! Each tier has a [`Breaker`]. When the shared tier fails, its breaker opens after
//! `breaker_threshold` consecutive backend errors (by default the first, so that a dead shared
//! tier costs a call at most one command timeout; see
//! [the worst case](crate::store::Breaker#worst-case-during-an-outage)): reads are then served from the upper tiers where present, misses
//! fall through to the caller's loader, writes are kept above, and nothing is sent down until a
//! single probe succeeds. Invalidations that could not reach it are queued and replayed on
//! recovery, and the upper tiers are dropped whole on recovery (and when the bus reports that
//! its subscription was interrupted), because they may have missed invalidations from other
//! processes. An upper tier that misses a change itself is dropped whole before it serves again.
//!
//! # Write-behind
//!
//! With [`TieredStoreBuilder::write_behind`] (URL option `write_behind=100ms`), `set` and
//! `set_many` write the upper tiers at once and queue the value for the shared tier; a
//! background task writes the queue in batches (`set_many` per group of identical options, at
//! most [`write_behind_batch`](TieredStoreBuilder::write_behind_batch) entries, early when that
//! many wait) at every interval, and then publishes the keys, so other processes drop their
//! old copies as after a plain `set`, only later. A later write of a pending key replaces it.
//! Reads that miss the upper tiers, `exists`, `ttl`, `add` and `scan` see pending writes;
//! `incr` and `expire` write theirs first; deletes (`delete`, `delete_many`, `take`,
//! `delete_pattern`, `clear`, `invalidate_tags`) cancel them, so a deleted write never lands.
//! Pending writes show in the shared tier's row of the stats
//! ([`TierStats::write_behind_pending`]). While the shared tier is down they stay queued (up to
//! [`write_behind_max`](TieredStoreBuilder::write_behind_max); a write of a new key beyond that
//! is written through, as without write-behind) and are written when it is back.
//!
//! **Call [`Cache::flush`](crate::Cache::flush) on shutdown**: it writes every pending write and
//! fails if some could not be. Dropping the store cannot wait: it hands what is still pending
//! to a task on the current Tokio runtime, if there is one, which writes it if the runtime lives
//! long enough; nothing more is guaranteed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::version::VersionCells;
use super::StoreStats;
use super::{
    BoxFuture, BusEvent, Capabilities, Capability, Invalidation, InvalidationBus, KeyTtl,
    LocalRead, Store, WriteOptions,
};
use crate::error::{Error, Result};

mod builder;
pub(crate) mod outage;
mod recent;
mod stats;
mod tier;
mod upper;
mod write_behind;

pub use crate::store::breaker::{Breaker, BreakerState};
pub use builder::TieredStoreBuilder;
pub use stats::TierStats;

use outage::Outage;
use recent::{Applying, Recent, Touched};
use stats::BusCounters;
use tier::{Call, Tier};
use write_behind::WriteBehind;

struct Inner {
    /// The process's tiers, top first.
    uppers: Vec<Tier>,
    /// The shared tier.
    bottom: Tier,
    bus: Option<Arc<dyn InvalidationBus>>,
    ttl_cap: Option<Duration>,
    outage: Outage,
    /// Changes made here and received from others, for reads of lower tiers in progress.
    recent: Recent,
    versions: VersionCells,
    bus_counters: BusCounters,
    /// Writes waiting for the shared tier, when write-behind is on.
    write_behind: Option<WriteBehind>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(wb) = &self.write_behind {
            wb.last_flush(Arc::clone(&self.bottom.store), self.bus.clone());
        }
    }
}

/// A stack of stores, kept coherent across processes by an [`InvalidationBus`]. Reach it with
/// `tiered+redis://…` (memory over Redis), `tiers:URL|URL|…` (any stack), or build it here.
///
/// ```
/// use std::sync::Arc;
/// use cache_core::{Cache, store::{MemoryStore, TieredStore}};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let l2 = Arc::new(MemoryStore::new()); // Redis in production
/// let store = TieredStore::builder(l2).build();
/// let cache = Cache::builder().store(store).build().await?;
/// cache.set("k", &1).await?;
/// assert_eq!(cache.get::<i32>("k").await?, Some(1));
/// assert_eq!(cache.store().stats().tiers[0].hits, 1);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TieredStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tiers().map(|t| t.store.name()).collect();
        f.debug_struct("TieredStore")
            .field("tiers", &names)
            .field("bus", &self.inner.bus.is_some())
            .field("breaker", &self.inner.bottom.breaker.state())
            .finish()
    }
}

impl TieredStore {
    fn tiers(&self) -> impl Iterator<Item = &Tier> {
        self.inner
            .uppers
            .iter()
            .chain(std::iter::once(&self.inner.bottom))
    }

    /// How many tiers the store has.
    pub fn tier_count(&self) -> usize {
        self.inner.uppers.len() + 1
    }

    /// The store of tier `i` (0 is the top; the last is the shared tier).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cache_core::store::{MemoryStore, TieredStore};
    /// let store = TieredStore::builder(Arc::new(MemoryStore::new())).build();
    /// assert_eq!(store.tier(1).unwrap().name(), "memory");
    /// assert!(store.tier(2).is_none());
    /// ```
    pub fn tier(&self, i: usize) -> Option<&Arc<dyn Store>> {
        self.tiers().nth(i).map(|t| &t.store)
    }

    /// The breaker in front of tier `i`.
    pub fn breaker(&self, i: usize) -> Option<&Breaker> {
        self.tiers().nth(i).map(|t| &t.breaker)
    }

    /// Runs one call on the shared tier through its breaker; `None` when it is down. A call
    /// that ends an outage recovers; one that reaches it with invalidations still queued
    /// replays them.
    async fn bottom<'a, T>(
        &'a self,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<Option<T>> {
        match self.inner.bottom.call(call).await? {
            Call::Done { value, recovered } => {
                if recovered {
                    self.recover().await;
                } else if self.inner.outage.queued() {
                    self.replay().await;
                }
                Ok(Some(value))
            }
            Call::Down => Ok(None),
        }
    }

    /// Makes a change to the shared tier that other processes must hear of: on success `inv`
    /// is published; when the tier is down it is queued and replayed on recovery, and the
    /// result is `None`. Either way it enters this process's log of invalidations, so reads of
    /// lower tiers in progress do not promote what they read before it; the caller then makes
    /// the change in the upper tiers (after the shared one, so that no such read can put back
    /// what it removes), holding the returned guard until it is done.
    async fn propagate<'a, T>(
        &'a self,
        inv: Invalidation,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<(Option<T>, Applying<'a>)> {
        let outcome = self.bottom(call).await?;
        let applying = self.inner.recent.begin(Touched::by(&inv));
        match outcome {
            Some(v) => {
                self.publish(inv).await;
                Ok((Some(v), applying))
            }
            None => {
                self.inner.outage.defer(inv);
                Ok((None, applying))
            }
        }
    }

    /// What this process changed in the shared tier outside `propagate` (a replay, `incr`,
    /// `expire`, tag members), applied here as a received invalidation is: into the log, then
    /// to the upper tiers.
    async fn changed_here(&self, inv: &Invalidation) {
        let _applying = self.inner.recent.begin(Touched::by(inv));
        self.apply_to_uppers(inv).await;
    }

    async fn publish(&self, inv: Invalidation) {
        if let Some(bus) = &self.inner.bus {
            match bus.publish(&inv).await {
                Ok(()) => {
                    self.inner.bus_counters.sent.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    tracing::warn!(target: "cache", error = %e, "publishing an invalidation failed");
                    self.inner.bottom.counters.errors.fetch_add(1, Relaxed);
                }
            }
        }
    }

    async fn on_event(&self, event: BusEvent) {
        match event {
            BusEvent::Resync => {
                self.resync().await;
                self.reload_versions().await;
            }
            BusEvent::Message(inv) => {
                let _applying = self.inner.recent.begin(Touched::by(&inv));
                self.inner.bus_counters.received.fetch_add(1, Relaxed);
                self.apply_to_uppers(&inv).await;
            }
        }
    }

    async fn apply_to_uppers(&self, inv: &Invalidation) {
        if let Invalidation::Version { prefix, version } = inv {
            self.inner.versions.raise(prefix, *version);
            return;
        }
        for tier in &self.inner.uppers {
            match inv {
                Invalidation::Keys(keys) => {
                    tier.change(|s| s.delete_many(keys)).await;
                }
                Invalidation::Pattern(p) => {
                    tier.change(|s| s.delete_pattern(p)).await;
                }
                // Without a tag index of its own, a tier holds no tags: members come as keys.
                Invalidation::Tags(tags) if has_tags(tier) => {
                    tier.change(|s| s.invalidate_tags(tags)).await;
                }
                Invalidation::Tags(_) | Invalidation::Version { .. } => {}
            }
        }
    }

    /// The shared tier's row of the stats, with the write-behind counters.
    fn bottom_stats(&self) -> TierStats {
        let mut row = self.inner.bottom.stats(self.inner.outage.len());
        if let Some(wb) = self.write_behind() {
            let c = &wb.counters;
            row.write_behind_pending = wb.len();
            row.write_behind_flushed = c.flushed.load(Relaxed);
            row.write_behind_batches = c.batches.load(Relaxed);
            row.write_behind_failed = c.failed.load(Relaxed);
            row.write_behind_dropped = c.dropped.load(Relaxed);
            row.write_behind_overflows = c.overflows.load(Relaxed);
        }
        row
    }

    fn top(&self) -> &Tier {
        &self.inner.uppers[0]
    }
}

fn has_tags(tier: &Tier) -> bool {
    tier.store.capabilities().has(Capability::NativeTags)
}

impl Store for TieredStore {
    fn name(&self) -> &'static str {
        "tiered"
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.bottom.store.capabilities()
    }

    fn get_local(&self, key: &str) -> LocalRead {
        let top = self.top();
        if top.dirty.load(Relaxed) {
            return LocalRead::Unknown;
        }
        match top.store.get_local(key) {
            LocalRead::Hit(e) => {
                top.counters.hits.add(1);
                LocalRead::Hit(e)
            }
            LocalRead::Miss | LocalRead::Unknown => LocalRead::Unknown,
        }
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move { Ok(self.read_through(key, false).await?.map(|(v, _)| v)) })
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        Box::pin(self.read_through(key, true))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.write_deferred(&[(key, &value)], opts).await {
                return Ok(());
            }
            let _gate = self.gate().await;
            self.cancel(|k, _| k == key);
            // When the shared tier is down the value is kept above only, and the shared tier's
            // older copy is deleted on recovery.
            let since = self.inner.recent.epoch();
            let keys = Invalidation::Keys(vec![key.to_owned()]);
            let (_, applying) = self
                .propagate(keys, |s| s.set(key, value.clone(), opts))
                .await?;
            self.write_uppers(&[(key, &value)], opts, since, applying.number())
                .await;
            Ok(())
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let pairs: Vec<(&str, &Bytes)> = entries.iter().map(|(k, v)| (k.as_str(), v)).collect();
            if self.write_deferred(&pairs, opts).await {
                return Ok(());
            }
            let _gate = self.gate().await;
            self.cancel(|k, _| entries.iter().any(|(e, _)| e == k));
            let since = self.inner.recent.epoch();
            let keys = Invalidation::Keys(entries.iter().map(|(k, _)| k.clone()).collect());
            let (_, applying) = self.propagate(keys, |s| s.set_many(entries, opts)).await?;
            self.write_uppers(&pairs, opts, since, applying.number())
                .await;
            Ok(())
        })
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if let Some(Some(_)) = self.write_behind().and_then(|wb| wb.lookup(key)) {
                return Ok(false);
            }
            let since = self.inner.recent.epoch();
            match self.bottom(|s| s.add(key, value.clone(), opts)).await? {
                Some(true) => {
                    let inv = Invalidation::Keys(vec![key.to_owned()]);
                    let applying = self.inner.recent.begin(Touched::by(&inv));
                    self.publish(inv).await;
                    self.write_uppers(&[(key, &value)], opts, since, applying.number())
                        .await;
                    Ok(true)
                }
                Some(false) => Ok(false),
                None => {
                    let ttl = self
                        .upper_ttl(Some(opts.ttl.map_or(KeyTtl::Persistent, KeyTtl::Expires)))
                        .flatten();
                    let top = self.top();
                    let o = Self::upper_opts(top, ttl, opts);
                    Ok(top.change(|s| s.add(key, value, &o)).await.unwrap_or(false))
                }
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let _gate = self.gate().await;
            let cancelled = self.cancel(|k, _| k == key);
            let keys = Invalidation::Keys(vec![key.to_owned()]);
            let (shared, _applying) = self.propagate(keys, |s| s.delete(key)).await?;
            let local = self.delete_uppers(&[key.to_owned()]).await;
            let pending = cancelled.iter().any(|c| c.value.is_some());
            Ok(shared.unwrap_or(false) || local > 0 || pending)
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let _gate = self.gate().await;
            let cancelled = self.cancel(|k, _| keys.iter().any(|d| d == k));
            let pending = cancelled.iter().filter(|c| c.value.is_some()).count() as u64;
            let inv = Invalidation::Keys(keys.to_vec());
            let (shared, _applying) = self.propagate(inv, |s| s.delete_many(keys)).await?;
            let local = self.delete_uppers(keys).await;
            Ok(shared.unwrap_or(0).max(local).max(pending))
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let _gate = self.gate().await;
            let cancelled = self.cancel(|k, _| k == key).pop();
            let inv = Invalidation::Keys(vec![key.to_owned()]);
            let (shared, _applying) = self.propagate(inv, |s| s.take(key)).await?;
            let local = self.top().change(|s| s.take(key)).await.flatten();
            for tier in &self.inner.uppers[1..] {
                tier.change(|s| s.delete(key)).await;
            }
            // A pending write is the newest value; then the shared tier holds the shared value;
            // a local copy only answers while it is down.
            if let Some(c) = cancelled {
                return Ok(c.value);
            }
            Ok(shared.unwrap_or(local))
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            for tier in &self.inner.uppers {
                if tier.dirty.load(Relaxed) {
                    continue;
                }
                if let Ok(Call::Done { value: true, .. }) = tier.call(|s| s.exists(key)).await {
                    return Ok(true);
                }
            }
            if let Some(pending) = self.write_behind().and_then(|wb| wb.lookup(key)) {
                return Ok(pending.is_some());
            }
            Ok(self.bottom(|s| s.exists(key)).await? == Some(true))
        })
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            // Pending writes first: one flushed meanwhile is in the shared tier by the time
            // it leaves them.
            let pending = self
                .write_behind()
                .map(|wb| wb.keys_matching(pattern))
                .unwrap_or_default();
            let mut keys = match self.bottom(|s| s.scan(pattern)).await? {
                Some(keys) => keys,
                None => self.top().store.scan(pattern).await?,
            };
            if !pending.is_empty() {
                keys.extend(pending);
                keys.sort_unstable();
                keys.dedup();
            }
            Ok(keys)
        })
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            let _gate = self.gate().await;
            let cancelled = self.cancel(|k, _| crate::pattern::matches(pattern, k));
            let pending = cancelled.iter().filter(|c| c.value.is_some()).count() as u64;
            let inv = Invalidation::Pattern(pattern.to_owned());
            let (shared, _applying) = self.propagate(inv, |s| s.delete_pattern(pattern)).await?;
            let mut local = 0;
            for (i, tier) in self.inner.uppers.iter().enumerate() {
                let n = tier
                    .change(|s| s.delete_pattern(pattern))
                    .await
                    .unwrap_or(0);
                if i == 0 {
                    local = n;
                }
            }
            Ok(shared.unwrap_or(0).max(local).max(pending))
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            self.flush_keys(&[key.to_owned()]).await;
            match self.bottom(|s| s.incr(key, delta)).await? {
                Some(n) => {
                    let inv = Invalidation::Keys(vec![key.to_owned()]);
                    self.changed_here(&inv).await;
                    self.publish(inv).await;
                    Ok(n)
                }
                // A counter shared across processes cannot be kept in one process's memory.
                None => Err(Error::Backend(
                    "incr needs the shared tier, which is unavailable".into(),
                )),
            }
        })
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            self.flush_keys(&[key.to_owned()]).await;
            let inv = Invalidation::Keys(vec![key.to_owned()]);
            match self.bottom(|s| s.expire(key, ttl)).await? {
                Some(found) => {
                    self.changed_here(&inv).await;
                    self.publish(inv).await;
                    Ok(found)
                }
                None => {
                    if let Some(wb) = self.write_behind() {
                        wb.retime(key, ttl);
                    }
                    let found = self.top().change(|s| s.expire(key, ttl)).await;
                    for tier in &self.inner.uppers[1..] {
                        tier.change(|s| s.delete(key)).await;
                    }
                    Ok(found.unwrap_or(false))
                }
            }
        })
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(async move {
            if let Some(pending) = self.write_behind().and_then(|wb| wb.lookup(key)) {
                return Ok(pending.map_or(KeyTtl::Missing, |(_, t)| t));
            }
            match self.bottom(|s| s.ttl(key)).await? {
                Some(t) => Ok(t),
                None => self.top().store.ttl(key).await,
            }
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let _gate = self.gate().await;
            let mut local = Vec::new();
            // Pending writes carrying a tag never land; the shared tier's older values of their
            // keys go too, as a written value would have replaced them.
            let cancelled: Vec<String> = self
                .cancel(|_, o| o.tags.iter().any(|t| tags.contains(t)))
                .into_iter()
                .map(|c| c.key)
                .collect();
            if !cancelled.is_empty() {
                let inv = Invalidation::Keys(cancelled.clone());
                let (_, applying) = self.propagate(inv, |s| s.delete_many(&cancelled)).await?;
                self.delete_uppers(&cancelled).await;
                drop(applying);
                local.extend(cancelled);
            }
            for tier in self.inner.uppers.iter().filter(|t| has_tags(t)) {
                local.extend(
                    tier.change(|s| s.invalidate_tags(tags))
                        .await
                        .unwrap_or_default(),
                );
            }
            match self.bottom(|s| s.invalidate_tags(tags)).await? {
                Some(keys) => {
                    // Promoted copies carry no tags above: drop the members by key too.
                    let members = Invalidation::Keys(keys.clone());
                    self.changed_here(&members).await;
                    self.publish(Invalidation::Tags(tags.to_vec())).await;
                    if !keys.is_empty() {
                        self.publish(members).await;
                    }
                    local.extend(keys);
                    local.sort_unstable();
                    local.dedup();
                    Ok(local)
                }
                None => {
                    // Which keys are members only the shared tier knows; copies of them
                    // promoted above carry no tags. Drop the upper tiers rather than serve
                    // them until it is back.
                    self.resync().await;
                    self.inner.outage.defer(Invalidation::Tags(tags.to_vec()));
                    Ok(local)
                }
            }
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.inner.bottom.store.ping().await {
                Ok(()) => {
                    if self.inner.bottom.breaker.success() {
                        self.recover().await;
                    }
                    Ok(())
                }
                Err(e) => {
                    if e.is_backend() {
                        self.inner.bottom.breaker.failure();
                    }
                    Err(e)
                }
            }
        })
    }

    fn stats(&self) -> StoreStats {
        let top = self.top().store.stats();
        let tiers: Vec<TierStats> = self
            .inner
            .uppers
            .iter()
            .map(|t| t.stats(0))
            .chain(std::iter::once(self.bottom_stats()))
            .collect();
        let c = &self.inner.bus_counters;
        StoreStats {
            errors: tiers.iter().map(|t| t.errors).sum(),
            tiers,
            invalidations_sent: c.sent.load(Relaxed),
            invalidations_received: c.received.load(Relaxed),
            resyncs: c.resyncs.load(Relaxed),
            ..top
        }
    }

    fn reset_stats(&self) {
        self.top().store.reset_stats();
        for t in self.tiers() {
            t.counters.reset();
        }
        if let Some(wb) = self.write_behind() {
            wb.counters.reset();
        }
        self.inner.bus_counters.reset();
    }

    fn invalidation_bus(&self) -> BoxFuture<'_, Result<Option<Arc<dyn InvalidationBus>>>> {
        Box::pin(std::future::ready(Ok(self.inner.bus.clone())))
    }

    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move { Ok(self.bottom(|s| s.load_version(prefix)).await?.flatten()) })
    }

    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let inv = Invalidation::Version {
                prefix: prefix.to_owned(),
                version,
            };
            self.propagate(inv, |s| s.publish_version(prefix, version))
                .await?;
            // Other handles on this namespace in this process.
            self.inner.versions.raise(prefix, version);
            Ok(())
        })
    }

    fn watch_version(&self, prefix: &str, version: Weak<AtomicU64>) {
        self.inner.versions.watch(prefix, version);
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.flush_pending())
    }
}
