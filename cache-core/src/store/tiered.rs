//! [`TieredStore`]: a memory L1 in front of any L2 (Redis), with cross-instance invalidation
//! and a circuit breaker.
//!
//! Reads try L1, then L2, and promote what L2 returns into L1 for no longer than its remaining
//! L2 TTL (and an optional cap). Writes and deletes go to both tiers, and every change is
//! published on an [`InvalidationBus`] so that every other instance drops its L1 copy.
//!
//! When L2 fails, a [`Breaker`] opens after a few consecutive backend errors: reads are then
//! served from L1 where present, misses fall through to the caller's loader, writes are kept in
//! L1, and nothing is sent to L2 until a single probe succeeds. Invalidations that could not
//! reach L2 are queued and replayed on recovery, and L1 is dropped whole on recovery (and when
//! the bus reports that its subscription was interrupted), because it may have missed
//! invalidations from other instances.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{BoxFuture, KeyTtl, MemoryStore, Store, WriteOptions};
use crate::error::{Error, Result};
use crate::stats::{StoreStats, StripedCounter};

/// What one instance tells the others to drop from their L1.
///
/// ```
/// use cache_core::store::Invalidation;
/// let msg = Invalidation::Keys(vec!["app:v1:user:1".into()]);
/// let json = serde_json::to_string(&msg).unwrap();
/// assert_eq!(serde_json::from_str::<Invalidation>(&json).unwrap(), msg);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Invalidation {
    /// These full keys changed or were deleted.
    Keys(Vec<String>),
    /// Every key matching this glob was deleted.
    Pattern(String),
    /// These full tag names were invalidated.
    Tags(Vec<String>),
    /// The namespace `prefix` moved to `version`.
    Version {
        /// The namespace prefix.
        prefix: String,
        /// The new version.
        version: u64,
    },
}

/// What a bus delivers to a subscriber.
///
/// ```
/// use cache_core::store::{BusEvent, Invalidation};
/// let ev = BusEvent::Message(Invalidation::Pattern("app:v1:*".into()));
/// assert!(matches!(ev, BusEvent::Message(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// An invalidation published by another instance.
    Message(Invalidation),
    /// The subscription was interrupted and is back: messages may have been missed.
    Resync,
}

/// Receives bus events; returns a future the bus awaits before the next event.
pub type BusSink = Arc<dyn Fn(BusEvent) -> BoxFuture<'static, ()> + Send + Sync>;

/// A channel over which tiered stores tell each other what to drop from L1 (Redis pub/sub in
/// the built-in Redis store).
///
/// An implementation must not deliver an instance's own messages back to it, and must deliver
/// [`BusEvent::Resync`] after it re-subscribes following a disconnect.
///
/// ```
/// use std::sync::Arc;
/// use cache_core::store::{BoxFuture, BusSink, Invalidation, InvalidationBus};
///
/// /// A bus for a single process: nothing to tell anyone.
/// #[derive(Debug)]
/// struct Alone;
///
/// impl InvalidationBus for Alone {
///     fn publish<'a>(&'a self, _: &'a Invalidation) -> BoxFuture<'a, cache_core::Result<()>> {
///         Box::pin(async { Ok(()) })
///     }
///     fn subscribe(&self, _: BusSink) {}
/// }
/// # let _ = Arc::new(Alone);
/// ```
pub trait InvalidationBus: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `message` to every other instance.
    fn publish<'a>(&'a self, message: &'a Invalidation) -> BoxFuture<'a, Result<()>>;

    /// Starts delivering other instances' messages to `sink`.
    fn subscribe(&self, sink: BusSink);
}

/// The state of a [`Breaker`].
///
/// ```
/// assert_ne!(cache_core::store::BreakerState::Closed, cache_core::store::BreakerState::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BreakerState {
    /// Commands go to L2.
    Closed,
    /// L2 is considered down: no commands are sent until the cool-down has passed.
    Open,
    /// One probe is allowed through; its outcome closes or re-opens the breaker.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker in front of L2: opens after `threshold` consecutive backend errors, lets
/// one probe through after `cooldown`, and closes when a probe succeeds.
///
/// ```
/// use std::time::Duration;
/// use cache_core::store::{Breaker, BreakerState};
///
/// let b = Breaker::new(2, Duration::from_secs(60));
/// assert!(b.allow());
/// b.failure();
/// b.failure();
/// assert_eq!(b.state(), BreakerState::Open);
/// assert!(!b.allow());
/// ```
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
    opens: AtomicU64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
            opens: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a command may be sent now (in half-open state, to one caller at a time).
    pub fn allow(&self) -> bool {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *s = State::HalfOpen { probing: true };
                true
            }
            State::Open { .. } => false,
            State::HalfOpen { ref mut probing } => !std::mem::replace(probing, true),
        }
    }

    /// Records a command that reached L2. Returns true when this closes an open breaker (L2
    /// is back).
    pub fn success(&self) -> bool {
        let mut s = self.lock();
        let recovered = !matches!(*s, State::Closed { .. });
        *s = State::Closed { failures: 0 };
        recovered
    }

    /// Records a backend error.
    pub fn failure(&self) {
        let mut s = self.lock();
        let open = match *s {
            State::Closed { ref mut failures } => {
                *failures += 1;
                *failures >= self.threshold
            }
            State::HalfOpen { .. } | State::Open { .. } => true,
        };
        if open {
            if !matches!(*s, State::Open { .. }) {
                self.opens.fetch_add(1, Relaxed);
                tracing::warn!(target: "cache", cooldown = ?self.cooldown, "L2 circuit breaker open");
            }
            // A cool-down too long to add to the clock keeps it open for a year.
            let now = Instant::now();
            let until = now
                .checked_add(self.cooldown)
                .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400));
            *s = State::Open { until };
        }
    }

    /// Records a call dropped before L2 answered (its caller gave up): it says nothing of L2,
    /// but were it the half-open probe, the next call must be let through to probe instead.
    fn abandoned(&self) {
        if let State::HalfOpen { probing } = &mut *self.lock() {
            *probing = false;
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// How many times the breaker has opened.
    pub fn opens(&self) -> u64 {
        self.opens.load(Relaxed)
    }
}

/// Per-tier counters of a [`TieredStore`], from [`Store::tier_stats`].
///
/// ```
/// let s = cache_core::store::TierStats::default();
/// assert_eq!(s.l1_hits + s.l2_hits, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TierStats {
    /// Reads answered from memory.
    pub l1_hits: u64,
    /// Reads answered from L2.
    pub l2_hits: u64,
    /// Reads answered by neither tier.
    pub misses: u64,
    /// L2 values copied into L1.
    pub promotions: u64,
    /// Invalidations published to other instances.
    pub invalidations_sent: u64,
    /// Invalidations received from other instances.
    pub invalidations_received: u64,
    /// L1 drops after a recovery or an interrupted subscription.
    pub resyncs: u64,
    /// L2 backend errors (each one absorbed: served from L1 or as a miss).
    pub l2_errors: u64,
    /// Whether the breaker is open (1) or not (0).
    pub breaker_open: u64,
    /// How many times the breaker has opened.
    pub breaker_opens: u64,
    /// Invalidations waiting to be replayed to L2.
    pub pending: u64,
}

#[derive(Debug, Default)]
struct Counters {
    /// Counted on every L1 hit, by every thread: striped.
    l1_hits: StripedCounter,
    l2_hits: AtomicU64,
    misses: AtomicU64,
    promotions: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    resyncs: AtomicU64,
    l2_errors: AtomicU64,
}

struct Inner {
    l1: MemoryStore,
    l2: Arc<dyn Store>,
    bus: Option<Arc<dyn InvalidationBus>>,
    l1_ttl_cap: Option<Duration>,
    breaker: Breaker,
    /// Invalidations whose L2 part failed, replayed on recovery.
    pending: Mutex<Vec<Invalidation>>,
    /// Whether `pending` may hold something: read without the lock after every L2 success, so
    /// a replay that failed is tried again once L2 answers.
    queued: AtomicBool,
    /// Bumped by every received invalidation; with `recent`, tells a read whether an
    /// invalidation of its key arrived while it was reading from L2 (then it must not promote).
    epoch: AtomicU64,
    recent: Mutex<std::collections::VecDeque<(u64, Touched)>>,
    versions: Mutex<HashMap<String, Vec<Weak<AtomicU64>>>>,
    counters: Counters,
}

/// A memory L1 in front of an L2 store, kept coherent across instances by an
/// [`InvalidationBus`]. Reach it with `tiered+redis://…` or build it by hand.
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
/// assert_eq!(cache.store().tier_stats().unwrap().l1_hits, 1);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct TieredStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStore")
            .field("l2", &self.inner.l2.name())
            .field("bus", &self.inner.bus.is_some())
            .field("breaker", &self.inner.breaker.state())
            .finish()
    }
}

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
    l1: Option<MemoryStore>,
    l2: Arc<dyn Store>,
    bus: Option<Arc<dyn InvalidationBus>>,
    l1_ttl_cap: Option<Duration>,
    threshold: u32,
    cooldown: Duration,
}

impl std::fmt::Debug for TieredStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStoreBuilder")
            .field("l2", &self.l2.name())
            .finish_non_exhaustive()
    }
}

impl TieredStoreBuilder {
    /// The memory store used as L1 (default: [`MemoryStore::new`]).
    pub fn l1(mut self, l1: MemoryStore) -> Self {
        self.l1 = Some(l1);
        self
    }

    /// The bus that carries invalidations between instances (default: none, one instance).
    pub fn bus(mut self, bus: Arc<dyn InvalidationBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Keeps L1 copies no longer than `cap`, whatever their L2 TTL.
    pub fn l1_ttl_cap(mut self, cap: Duration) -> Self {
        self.l1_ttl_cap = Some(cap);
        self
    }

    /// The breaker opens after `threshold` consecutive L2 errors and probes after `cooldown`
    /// (default: 3 errors, 1 s).
    pub fn breaker(mut self, threshold: u32, cooldown: Duration) -> Self {
        self.threshold = threshold;
        self.cooldown = cooldown;
        self
    }

    /// Builds the store and subscribes it to the bus.
    pub fn build(self) -> TieredStore {
        let store = TieredStore {
            inner: Arc::new(Inner {
                l1: self.l1.unwrap_or_default(),
                l2: self.l2,
                bus: self.bus,
                l1_ttl_cap: self.l1_ttl_cap,
                breaker: Breaker::new(self.threshold, self.cooldown),
                pending: Mutex::new(Vec::new()),
                queued: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                recent: Mutex::new(std::collections::VecDeque::new()),
                versions: Mutex::new(HashMap::new()),
                counters: Counters::default(),
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

/// What a received invalidation touched, for the promotion check.
#[derive(Debug)]
enum Touched {
    Keys(Vec<String>),
    Pattern(String),
    All,
}

/// What an invalidation touches, for reads in progress.
fn touched_by(inv: &Invalidation) -> Touched {
    match inv {
        Invalidation::Keys(keys) => Touched::Keys(keys.clone()),
        Invalidation::Pattern(p) => Touched::Pattern(p.clone()),
        // Tag members also come as keys; a version bump changes every key.
        Invalidation::Tags(_) => Touched::Keys(Vec::new()),
        Invalidation::Version { .. } => Touched::All,
    }
}

/// How many recent invalidations the promotion check remembers; older ones count as `All`.
const RECENT: usize = 256;

/// The invalidations a replay has not sent yet: put back at the head of the queue when the
/// replay stops short, however it stops.
struct Unsent<'a> {
    store: &'a TieredStore,
    items: std::collections::VecDeque<Invalidation>,
}

impl Drop for Unsent<'_> {
    fn drop(&mut self) {
        if self.items.is_empty() {
            return;
        }
        let mut queue = lock(&self.store.inner.pending);
        let later = std::mem::take(&mut *queue);
        queue.extend(self.items.drain(..));
        queue.extend(later);
        self.store.inner.queued.store(true, Relaxed);
    }
}

/// A guarded L2 call under way: dropped before L2 answered (the caller's future was dropped),
/// it tells the breaker so.
struct InFlight<'a> {
    breaker: &'a Breaker,
    answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.breaker.abandoned();
        }
    }
}

/// The outcome of a guarded L2 call.
enum L2<T> {
    Done(T),
    /// Not sent (breaker open) or failed with a backend error (already counted).
    Down,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TieredStore {
    /// A builder over `l2`.
    pub fn builder(l2: Arc<dyn Store>) -> TieredStoreBuilder {
        TieredStoreBuilder {
            l1: None,
            l2,
            bus: None,
            l1_ttl_cap: None,
            threshold: 3,
            cooldown: Duration::from_secs(1),
        }
    }

    /// The L1 memory store.
    pub fn l1(&self) -> &MemoryStore {
        &self.inner.l1
    }

    /// The L2 store.
    pub fn l2(&self) -> &Arc<dyn Store> {
        &self.inner.l2
    }

    /// The breaker in front of L2.
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// Runs one L2 call through the breaker. Backend errors are absorbed (`Down`); other
    /// errors (bad pattern, not an integer) are the caller's and pass through.
    async fn guarded<'a, T>(
        &'a self,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<L2<T>> {
        if !self.inner.breaker.allow() {
            return Ok(L2::Down);
        }
        let mut in_flight = InFlight {
            breaker: &self.inner.breaker,
            answered: false,
        };
        let result = call(&*self.inner.l2).await;
        in_flight.answered = true;
        match result {
            Ok(v) => {
                self.succeeded().await;
                Ok(L2::Done(v))
            }
            Err(e) if e.is_backend() => {
                self.inner.breaker.failure();
                self.inner.counters.l2_errors.fetch_add(1, Relaxed);
                tracing::debug!(target: "cache", error = %e, "L2 call failed; served by L1");
                Ok(L2::Down)
            }
            Err(e) => {
                // The command reached L2: it is up.
                self.succeeded().await;
                Err(e)
            }
        }
    }

    /// A command reached L2: if that ends an outage, recover; if invalidations are still
    /// queued (a replay failed), send them now.
    async fn succeeded(&self) {
        if self.inner.breaker.success() {
            self.recover().await;
        } else if self.inner.queued.load(Relaxed) {
            self.replay().await;
        }
    }

    /// L2 is back: drop L1 (it may have missed invalidations) and replay queued ones.
    async fn recover(&self) {
        tracing::info!(target: "cache", "L2 is back; dropping L1 and replaying invalidations");
        self.resync();
        self.replay().await;
        self.reload_versions().await;
    }

    /// Sends the queued invalidations to L2, in order, publishing each one that lands. The
    /// first that fails on the backend stays queued with the rest, ahead of anything queued
    /// meanwhile, for the next command that reaches L2; so does what is left when the caller
    /// gives up on the replay (its future is dropped).
    async fn replay(&self) {
        let mut unsent = Unsent {
            store: self,
            items: {
                let mut queue = lock(&self.inner.pending);
                self.inner.queued.store(false, Relaxed);
                std::mem::take(&mut *queue).into()
            },
        };
        while let Some(inv) = unsent.items.front() {
            let sent = match inv {
                Invalidation::Keys(keys) => self.inner.l2.delete_many(keys).await.map(|_| None),
                Invalidation::Pattern(p) => self.inner.l2.delete_pattern(p).await.map(|_| None),
                // The members' keys too: copies promoted elsewhere carry no tags.
                Invalidation::Tags(tags) => {
                    self.inner.l2.invalidate_tags_keys(tags).await.map(Some)
                }
                Invalidation::Version { prefix, version } => self
                    .inner
                    .l2
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
                    self.inner.breaker.failure();
                    self.inner.counters.l2_errors.fetch_add(1, Relaxed);
                    return;
                }
                Err(e) => {
                    tracing::warn!(target: "cache", error = %e, "L2 refused a queued invalidation; dropped");
                    unsent.items.pop_front();
                }
            }
        }
    }

    /// Reads the shared namespace versions again: a bump whose message this instance missed
    /// (its subscription was down, or L2 was) still reaches every handle on it.
    async fn reload_versions(&self) {
        let prefixes: Vec<String> = lock(&self.inner.versions).keys().cloned().collect();
        for prefix in prefixes {
            if let Ok(Some(version)) = self.inner.l2.load_version(&prefix).await {
                self.apply_to_l1(&Invalidation::Version { prefix, version })
                    .await;
            }
        }
    }

    fn resync(&self) {
        self.inner.l1.clear_all();
        self.touched(Touched::All);
        self.inner.counters.resyncs.fetch_add(1, Relaxed);
    }

    /// Records a received invalidation for reads in progress.
    fn touched(&self, what: Touched) -> u64 {
        let mut recent = lock(&self.inner.recent);
        let epoch = self.inner.epoch.fetch_add(1, Relaxed) + 1;
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((epoch, what));
        epoch
    }

    /// Whether an invalidation received after `since` may concern `key`.
    fn touched_since(&self, since: u64, key: &str) -> bool {
        self.touched_since_except(since, key, 0)
    }

    /// [`touched_since`](Self::touched_since), not counting the invalidation numbered `mine`
    /// (a caller's own).
    fn touched_since_except(&self, since: u64, key: &str, mine: u64) -> bool {
        let now = self.inner.epoch.load(Relaxed);
        if now == since || (now == since + 1 && now == mine) {
            return false;
        }
        let recent = lock(&self.inner.recent);
        match recent.front() {
            // The log no longer reaches back to `since`: assume the worst.
            Some((first, _)) if *first > since + 1 => return true,
            None => return true,
            _ => {}
        }
        recent
            .iter()
            .filter(|(e, _)| *e > since && *e != mine)
            .any(|(_, t)| match t {
                Touched::All => true,
                Touched::Keys(keys) => keys.iter().any(|k| k == key),
                Touched::Pattern(p) => crate::pattern::matches(p, key),
            })
    }

    fn defer(&self, inv: Invalidation) {
        lock(&self.inner.pending).push(inv);
        self.inner.queued.store(true, Relaxed);
    }

    /// Makes an L2 change that other instances must hear of: on success `inv` is published; when
    /// L2 is down it is queued and replayed on recovery, and the result is `None`. Either way it
    /// enters this process's log of invalidations, so reads of L2 in progress do not promote what
    /// they read before it; the caller then makes the change in L1 (after L2, so that no such
    /// read can put back what it removes).
    async fn propagate<'a, T>(
        &'a self,
        inv: Invalidation,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<Option<T>> {
        Ok(self.propagate_marked(inv, call).await?.0)
    }

    /// [`propagate`](Self::propagate), also returning the change's number in the log of
    /// invalidations.
    async fn propagate_marked<'a, T>(
        &'a self,
        inv: Invalidation,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<(Option<T>, u64)> {
        let outcome = self.guarded(call).await?;
        let mine = self.touched(touched_by(&inv));
        match outcome {
            L2::Done(v) => {
                self.publish(inv).await;
                Ok((Some(v), mine))
            }
            L2::Down => {
                self.defer(inv);
                Ok((None, mine))
            }
        }
    }

    /// What this process changed in L2 outside `propagate` (a replay, `incr`, `expire`, tag
    /// members), applied here as a received invalidation is: into the log that reads of L2 in
    /// progress check before promoting, then to L1.
    async fn changed_here(&self, inv: &Invalidation) {
        self.touched(touched_by(inv));
        self.apply_to_l1(inv).await;
    }

    async fn publish(&self, inv: Invalidation) {
        if let Some(bus) = &self.inner.bus {
            match bus.publish(&inv).await {
                Ok(()) => {
                    self.inner.counters.sent.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    tracing::warn!(target: "cache", error = %e, "publishing an invalidation failed");
                    self.inner.counters.l2_errors.fetch_add(1, Relaxed);
                }
            }
        }
    }

    async fn on_event(&self, event: BusEvent) {
        match event {
            BusEvent::Resync => {
                self.resync();
                self.reload_versions().await;
            }
            BusEvent::Message(inv) => {
                self.touched(touched_by(&inv));
                self.inner.counters.received.fetch_add(1, Relaxed);
                self.apply_to_l1(&inv).await;
            }
        }
    }

    async fn apply_to_l1(&self, inv: &Invalidation) {
        let l1 = &self.inner.l1;
        // L1 operations cannot fail.
        match inv {
            Invalidation::Keys(keys) => {
                let _ = l1.delete_many(keys).await;
            }
            Invalidation::Pattern(p) => {
                let _ = l1.delete_pattern(p).await;
            }
            Invalidation::Tags(tags) => {
                let _ = l1.invalidate_tags(tags).await;
            }
            Invalidation::Version { prefix, version } => {
                if let Some(cells) = lock(&self.inner.versions).get_mut(prefix) {
                    cells.retain(|c| match c.upgrade() {
                        Some(cell) => {
                            cell.fetch_max(*version, Relaxed);
                            true
                        }
                        None => false,
                    });
                }
            }
        }
    }

    /// The L1 TTL for a value with `l2` remaining in L2.
    fn l1_ttl(&self, l2: KeyTtl) -> Option<Duration> {
        let cap = self.inner.l1_ttl_cap;
        match (l2.remaining(), cap) {
            (Some(d), Some(c)) => Some(d.min(c)),
            (Some(d), None) => Some(d),
            (None, c) => c,
        }
    }

    fn l1_opts(&self, opts: &WriteOptions) -> WriteOptions {
        WriteOptions {
            ttl: self.l1_ttl(opts.ttl.map_or(KeyTtl::Persistent, KeyTtl::Expires)),
            tags: opts.tags.clone(),
        }
    }

    /// Reads L1, then L2 (promoting). The L1 TTL is looked up only when `with_ttl`.
    async fn read_through(&self, key: &str, with_ttl: bool) -> Result<Option<(Bytes, KeyTtl)>> {
        let hit = if with_ttl {
            self.inner.l1.get_with_ttl(key).await?
        } else {
            // The hit path: one lookup; the TTL is not asked for.
            self.inner
                .l1
                .get_data(key)
                .await
                .map(|v| (v, KeyTtl::Persistent))
        };
        if let Some(hit) = hit {
            self.inner.counters.l1_hits.add(1);
            return Ok(Some(hit));
        }
        let epoch = self.inner.epoch.load(Relaxed);
        match self.guarded(|s| s.get_with_ttl(key)).await? {
            L2::Done(Some((value, ttl))) => {
                self.inner.counters.l2_hits.fetch_add(1, Relaxed);
                // An invalidation of this key received during the read: don't promote.
                if !self.touched_since(epoch, key) {
                    let opts = WriteOptions {
                        ttl: self.l1_ttl(ttl),
                        tags: Vec::new(),
                    };
                    self.inner.l1.set(key, value.clone(), &opts).await?;
                    self.inner.counters.promotions.fetch_add(1, Relaxed);
                    if self.touched_since(epoch, key) {
                        self.inner.l1.delete(key).await?;
                    }
                }
                Ok(Some((value, ttl)))
            }
            L2::Done(None) | L2::Down => {
                self.inner.counters.misses.fetch_add(1, Relaxed);
                Ok(None)
            }
        }
    }
}

impl Store for TieredStore {
    fn name(&self) -> &'static str {
        "tiered"
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
            // When L2 is down the value is kept in L1 only, and L2's older copy is deleted on
            // recovery.
            let since = self.inner.epoch.load(Relaxed);
            let keys = Invalidation::Keys(vec![key.to_owned()]);
            let (_, mine) = self
                .propagate_marked(keys, |s| s.set(key, value.clone(), opts))
                .await?;
            self.inner.l1.set(key, value, &self.l1_opts(opts)).await?;
            // Another instance's write of the key may have landed in L2 after this one, its
            // message arriving before this copy reached L1: then L1 must not keep it.
            if self.touched_since_except(since, key, mine) {
                self.inner.l1.delete(key).await?;
            }
            Ok(())
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let since = self.inner.epoch.load(Relaxed);
            let keys = Invalidation::Keys(entries.iter().map(|(k, _)| k.clone()).collect());
            let (_, mine) = self
                .propagate_marked(keys, |s| s.set_many(entries, opts))
                .await?;
            self.inner.l1.set_many(entries, &self.l1_opts(opts)).await?;
            // As in `set`: no overtaken copies in L1.
            let overtaken: Vec<String> = entries
                .iter()
                .filter(|(k, _)| self.touched_since_except(since, k, mine))
                .map(|(k, _)| k.clone())
                .collect();
            if !overtaken.is_empty() {
                self.inner.l1.delete_many(&overtaken).await?;
            }
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
            match self.guarded(|s| s.add(key, value.clone(), opts)).await? {
                L2::Done(true) => {
                    self.inner.l1.set(key, value, &self.l1_opts(opts)).await?;
                    self.publish(Invalidation::Keys(vec![key.to_owned()])).await;
                    Ok(true)
                }
                L2::Done(false) => Ok(false),
                L2::Down => self.inner.l1.add(key, value, &self.l1_opts(opts)).await,
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let keys = Invalidation::Keys(vec![key.to_owned()]);
            let l2 = self.propagate(keys, |s| s.delete(key)).await?;
            let local = self.inner.l1.delete(key).await?;
            Ok(l2.unwrap_or(false) || local)
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let inv = Invalidation::Keys(keys.to_vec());
            let l2 = self.propagate(inv, |s| s.delete_many(keys)).await?;
            let local = self.inner.l1.delete_many(keys).await?;
            Ok(l2.unwrap_or(0).max(local))
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let inv = Invalidation::Keys(vec![key.to_owned()]);
            let l2 = self.propagate(inv, |s| s.take(key)).await?;
            let local = self.inner.l1.take(key).await?;
            // L2 holds the shared value; L1's copy only answers while L2 is down.
            Ok(l2.unwrap_or(local))
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if self.inner.l1.exists(key).await? {
                return Ok(true);
            }
            Ok(matches!(
                self.guarded(|s| s.exists(key)).await?,
                L2::Done(true)
            ))
        })
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            match self.guarded(|s| s.scan(pattern)).await? {
                L2::Done(keys) => Ok(keys),
                L2::Down => self.inner.l1.scan(pattern).await,
            }
        })
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let inv = Invalidation::Pattern(pattern.to_owned());
            let l2 = self.propagate(inv, |s| s.delete_pattern(pattern)).await?;
            let local = self.inner.l1.delete_pattern(pattern).await?;
            Ok(l2.unwrap_or(0).max(local))
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            match self.guarded(|s| s.incr(key, delta)).await? {
                L2::Done(n) => {
                    let inv = Invalidation::Keys(vec![key.to_owned()]);
                    self.changed_here(&inv).await;
                    self.publish(inv).await;
                    Ok(n)
                }
                // A counter shared across instances cannot be kept in one process's memory.
                L2::Down => Err(Error::Backend(
                    "incr needs the second tier, which is unavailable".into(),
                )),
            }
        })
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            match self.guarded(|s| s.expire(key, ttl)).await? {
                L2::Done(found) => {
                    let inv = Invalidation::Keys(vec![key.to_owned()]);
                    self.changed_here(&inv).await;
                    self.publish(inv).await;
                    Ok(found)
                }
                L2::Down => self.inner.l1.expire(key, ttl).await,
            }
        })
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(async move {
            match self.guarded(|s| s.ttl(key)).await? {
                L2::Done(t) => Ok(t),
                L2::Down => self.inner.l1.ttl(key).await,
            }
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { Ok(self.invalidate_tags_keys(tags).await?.len() as u64) })
    }

    fn invalidate_tags_keys<'a>(
        &'a self,
        tags: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let mut local = self.inner.l1.invalidate_tags_keys(tags).await?;
            match self.guarded(|s| s.invalidate_tags_keys(tags)).await? {
                L2::Done(keys) => {
                    // Promoted copies carry no tags in L1: drop the members by key too.
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
                L2::Down => {
                    // Which keys are members only L2 knows; copies of them promoted into L1
                    // carry no tags. Drop L1 rather than serve them until L2 is back.
                    self.resync();
                    self.defer(Invalidation::Tags(tags.to_vec()));
                    Ok(local)
                }
            }
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.inner.l2.ping().await {
                Ok(()) => {
                    if self.inner.breaker.success() {
                        self.recover().await;
                    }
                    Ok(())
                }
                Err(e) => {
                    if e.is_backend() {
                        self.inner.breaker.failure();
                    }
                    Err(e)
                }
            }
        })
    }

    fn stats(&self) -> StoreStats {
        let l1 = self.inner.l1.stats();
        StoreStats {
            errors: self.inner.counters.l2_errors.load(Relaxed),
            ..l1
        }
    }

    fn reset_stats(&self) {
        self.inner.l1.reset_stats();
        let c = &self.inner.counters;
        c.l1_hits.reset();
        for n in [
            &c.l2_hits,
            &c.misses,
            &c.promotions,
            &c.sent,
            &c.received,
            &c.resyncs,
            &c.l2_errors,
        ] {
            n.store(0, Relaxed);
        }
    }

    fn as_tiered(&self) -> Option<&TieredStore> {
        Some(self)
    }

    fn tier_stats(&self) -> Option<TierStats> {
        let c = &self.inner.counters;
        Some(TierStats {
            l1_hits: c.l1_hits.get(),
            l2_hits: c.l2_hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            promotions: c.promotions.load(Relaxed),
            invalidations_sent: c.sent.load(Relaxed),
            invalidations_received: c.received.load(Relaxed),
            resyncs: c.resyncs.load(Relaxed),
            l2_errors: c.l2_errors.load(Relaxed),
            breaker_open: u64::from(self.inner.breaker.state() == BreakerState::Open),
            breaker_opens: self.inner.breaker.opens(),
            pending: lock(&self.inner.pending).len() as u64,
        })
    }

    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            match self.guarded(|s| s.load_version(prefix)).await? {
                L2::Done(v) => Ok(v),
                L2::Down => Ok(None),
            }
        })
    }

    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let inv = || Invalidation::Version {
                prefix: prefix.to_owned(),
                version,
            };
            self.propagate(inv(), |s| s.publish_version(prefix, version))
                .await?;
            // Other handles on this namespace in this process.
            self.apply_to_l1(&inv()).await;
            Ok(())
        })
    }

    fn watch_version(&self, prefix: &str, version: Weak<AtomicU64>) {
        lock(&self.inner.versions)
            .entry(prefix.to_owned())
            .or_default()
            .push(version);
    }
}
