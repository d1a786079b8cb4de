//! [`TieredStoreBuilder`]: how a [`TieredStore`] is stacked and configured.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::outage::Outage;
use super::recent::Recent;
use super::stats::BusCounters;
use super::tier::Tier;
use super::write_behind::{WriteBehind, WriteBehindConfig};
use super::{Inner, TieredStore};
use crate::error::{Error, Result};
use crate::store::version::VersionCells;
use crate::store::{Capability, InvalidationBus, MemoryStore, Store};

/// Configures a [`TieredStore`].
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use cache_core::store::{MemoryStore, TieredStore};
/// let store = TieredStore::builder(Arc::new(MemoryStore::new()))
///     .l1(MemoryStore::builder().max_entries(10_000).build())
///     .l1_ttl_cap(Duration::from_secs(30))
///     .breaker(3, Duration::from_millis(500))
///     .build();
/// # let _ = store;
/// ```
#[must_use]
pub struct TieredStoreBuilder {
    uppers: Vec<Arc<dyn Store>>,
    bottom: Arc<dyn Store>,
    bus: Option<Arc<dyn InvalidationBus>>,
    ttl_cap: Option<Duration>,
    threshold: u32,
    cooldown: Duration,
    write_behind: Option<Duration>,
    write_behind_batch: usize,
    write_behind_max: usize,
}

impl std::fmt::Debug for TieredStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStoreBuilder")
            .field("tiers", &(self.uppers.len() + 1))
            .field("bottom", &self.bottom.name())
            .finish_non_exhaustive()
    }
}

impl TieredStoreBuilder {
    /// The memory store used as the first tier (default: [`MemoryStore::new`]).
    pub fn l1(mut self, l1: MemoryStore) -> Self {
        self.uppers[0] = Arc::new(l1);
        self
    }

    /// The bus that carries invalidations between processes (default: none, one process).
    pub fn bus(mut self, bus: Arc<dyn InvalidationBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Keeps copies in the upper tiers no longer than `cap`, whatever their lower TTL.
    pub fn l1_ttl_cap(mut self, cap: Duration) -> Self {
        self.ttl_cap = Some(cap);
        self
    }

    /// Each tier's breaker opens after `threshold` consecutive errors and probes after
    /// `cooldown` (default: 1 error, 1 s: a dead shared tier costs one command timeout, then
    /// nothing until the probe).
    pub fn breaker(mut self, threshold: u32, cooldown: Duration) -> Self {
        self.threshold = threshold;
        self.cooldown = cooldown;
        self
    }

    /// Turns write-behind on: writes land in the upper tiers at once and reach the shared tier
    /// in batches, flushed every `interval` (see [the module docs](super#write-behind)). Call
    /// [`Cache::flush`](crate::Cache::flush) on shutdown. Off by default.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use cache_core::{Cache, store::{MemoryStore, Store, TieredStore}};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let shared = Arc::new(MemoryStore::new()); // Redis in production
    /// let store = TieredStore::builder(Arc::clone(&shared) as Arc<dyn Store>)
    ///     .write_behind(Duration::from_secs(60))
    ///     .build();
    /// let cache = Cache::builder().store(store).build().await?;
    /// cache.set("k", &1).await?;
    /// assert_eq!(cache.get::<i32>("k").await?, Some(1)); // from the upper tier
    /// assert!(shared.scan("*").await?.is_empty()); // not yet in the shared tier
    /// assert_eq!(cache.store().stats().tiers[1].write_behind_pending, 1);
    /// cache.flush().await?; // on shutdown: everything pending is written
    /// assert_eq!(shared.scan("*").await?.len(), 1);
    /// assert_eq!(cache.store().stats().tiers[1].write_behind_pending, 0);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn write_behind(mut self, interval: Duration) -> Self {
        self.write_behind = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// With write-behind, at most `n` writes per batch; a flush starts early when `n` are
    /// pending (default 500).
    pub fn write_behind_batch(mut self, n: usize) -> Self {
        self.write_behind_batch = n.max(1);
        self
    }

    /// With write-behind, at most `n` pending writes (default 10,000): a write of another key
    /// beyond that is written through at once (counted in
    /// [`TierStats::write_behind_overflows`](super::TierStats::write_behind_overflows)).
    pub fn write_behind_max(mut self, n: usize) -> Self {
        self.write_behind_max = n.max(1);
        self
    }

    /// Builds the store and subscribes it to the bus.
    pub fn build(self) -> TieredStore {
        let tier = |s: Arc<dyn Store>| Tier::new(s, self.threshold, self.cooldown);
        let uppers: Vec<Tier> = self.uppers.iter().cloned().map(tier).collect();
        for t in &uppers {
            // A persistent tier kept what it held while this process was away, and missed the
            // invalidations of that time: it is dropped before it serves.
            if t.store.capabilities().has(Capability::Persistent) {
                t.dirty.store(true, Relaxed);
            }
        }
        let store = TieredStore {
            inner: Arc::new(Inner {
                uppers,
                bottom: tier(self.bottom),
                bus: self.bus,
                ttl_cap: self.ttl_cap,
                outage: Outage::default(),
                recent: Recent::default(),
                versions: VersionCells::default(),
                bus_counters: BusCounters::default(),
                write_behind: self.write_behind.map(|interval| {
                    WriteBehind::new(WriteBehindConfig {
                        interval,
                        batch: self.write_behind_batch,
                        max: self.write_behind_max,
                    })
                }),
            }),
        };
        if let Some(bus) = &store.inner.bus {
            let weak = Arc::downgrade(&store.inner);
            bus.subscribe(Arc::new(move |event| {
                let weak = weak.clone();
                Box::pin(async move {
                    if let Some(inner) = weak.upgrade() {
                        TieredStore { inner }.on_event(event).await;
                    }
                })
            }));
        }
        store
    }
}

impl TieredStore {
    /// A two-tier builder: a memory first tier (see [`TieredStoreBuilder::l1`]) over `l2`.
    pub fn builder(l2: Arc<dyn Store>) -> TieredStoreBuilder {
        TieredStoreBuilder {
            uppers: vec![Arc::new(MemoryStore::new())],
            bottom: l2,
            bus: None,
            ttl_cap: None,
            threshold: crate::store::DEFAULT_BREAKER_THRESHOLD,
            cooldown: crate::store::DEFAULT_BREAKER_COOLDOWN,
            write_behind: None,
            write_behind_batch: WriteBehindConfig::DEFAULT_BATCH,
            write_behind_max: WriteBehindConfig::DEFAULT_MAX,
        }
    }

    /// A builder over any stack of stores, top first; the last is the shared tier.
    ///
    /// Fails with [`Error::Config`] for fewer than two tiers, or an upper tier that cannot be
    /// kept coherent: one that cannot match patterns (to apply pattern invalidations and to be
    /// dropped whole) or read TTLs (to bound what it promotes).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use cache_core::store::{MemoryStore, Store, TieredStore};
    /// let tiers: Vec<Arc<dyn Store>> =
    ///     vec![Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new())];
    /// let store = TieredStore::stack(tiers)?.build();
    /// assert_eq!(store.tier_count(), 3);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn stack(mut tiers: Vec<Arc<dyn Store>>) -> Result<TieredStoreBuilder> {
        let Some(bottom) = tiers.pop().filter(|_| !tiers.is_empty()) else {
            return Err(Error::Config(
                "a tiered store needs at least two tiers".into(),
            ));
        };
        for t in &tiers {
            let caps = t.capabilities();
            for need in [Capability::PatternScan, Capability::TtlRead] {
                if !caps.has(need) {
                    return Err(Error::Config(format!(
                        "the {} store cannot be an upper tier: it has no {}",
                        t.name(),
                        need.name()
                    )));
                }
            }
        }
        Ok(TieredStoreBuilder {
            uppers: tiers,
            ..Self::builder(bottom)
        })
    }
}
