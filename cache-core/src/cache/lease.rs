//! The lock across processes behind [`Lock::Distributed`](crate::Lock::Distributed): a lease in
//! the shared store, so that concurrent misses of one key in several processes run one loader.
//!
//! Within a process the single flight (`flight.rs`) still decides who loads: only its leader
//! comes here, so many callers in one process make one lease attempt. The lease is an `add`
//! (set if absent, with the lease as TTL) of a random token under the key's lock key,
//! `{prefix}:lock:v{version}:{key}`: outside the namespace's keys (`{prefix}:v{version}:…`),
//! so no user key can forge it and `clear` or a pattern never touches it.
//!
//! The winner reads the key again (another process may just have stored it), else runs the
//! loader, stores the value, releases the lease and announces it on the store's
//! [`InvalidationBus`] (Redis pub/sub), naming the lock key. A loser waits for that message or
//! for its next poll (10 ms doubling to 200 ms; a missed message never hangs anyone), then reads
//! the value, or takes the lease itself if it is gone: released without a value (the loader
//! failed) or expired (its holder died). A waiter that has waited two leases runs the loader
//! anyway.
//!
//! Release compares the token and then deletes: not atomic, since the `Store` trait has no
//! compare-and-delete. It is skipped once three quarters of the lease have passed, so that it
//! cannot delete a lease another process took after this one expired; such a lease simply
//! expires. Cache failures never fail a load: if the lease cannot be taken, the loader runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, OnceCell};

use super::typed::{CacheValue, Read};
use super::Cache;
use crate::options::Lock;
use crate::store::{BusEvent, BusSink, Capability, Invalidation, InvalidationBus, WriteOptions};

/// The first poll interval of a waiter (in ms); it doubles up to [`MAX_POLL`].
static FIRST_POLL: AtomicU64 = AtomicU64::new(10);
/// The longest poll interval of a waiter (in ms).
static MAX_POLL: AtomicU64 = AtomicU64::new(200);

/// Sets the poll intervals of waiters (see `testing::set_lease_poll`).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn set_poll(first: Duration, max: Duration) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
    FIRST_POLL.store(ms(first), Relaxed);
    MAX_POLL.store(ms(max).max(ms(first)), Relaxed);
}

type Waiters = Mutex<HashMap<String, Arc<Notify>>>;

/// A cache's side of the distributed lock: the bus it hears releases on, and who waits here.
#[derive(Default)]
pub(crate) struct Leases {
    /// The store's bus, subscribed on first use; `None` when it has none (then waiters poll).
    bus: OnceCell<Option<Arc<dyn InvalidationBus>>>,
    /// The lock keys this process waits on.
    waiters: Arc<Waiters>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("bus", &self.bus.get().map(Option::is_some))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the local leader of a load does after its turn at the lease.
pub(super) enum Turn<T> {
    /// Run the loader; release the lease afterwards if one is held.
    Load(Option<Held>),
    /// Another process stored the value (its bytes, for this process's followers).
    Loaded(T, Bytes),
    /// Another process holds the lease and the caller asked not to wait.
    Busy,
}

/// A lease this process holds.
pub(super) struct Held {
    key: String,
    token: Bytes,
    since: Instant,
    lease: Duration,
}

/// Registration of a waiter on a lock key, removed when dropped.
struct Waiting<'a> {
    waiters: &'a Waiters,
    key: &'a str,
    notify: Arc<Notify>,
}

impl<'a> Waiting<'a> {
    fn new(waiters: &'a Waiters, key: &'a str) -> Self {
        let notify = Arc::clone(lock(waiters).entry(key.to_owned()).or_default());
        Self {
            waiters,
            key,
            notify,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.waiters);
        // The map's reference and ours: nobody else waits on this key.
        if map
            .get(self.key)
            .is_some_and(|n| Arc::ptr_eq(n, &self.notify) && Arc::strong_count(n) == 2)
        {
            map.remove(self.key);
        }
    }
}

/// A token no other holder has: this process, this instant, a counter.
fn new_token() -> Bytes {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    h.update(&NEXT.fetch_add(1, Relaxed).to_le_bytes());
    Bytes::copy_from_slice(&h.finalize().as_bytes()[..16])
}

/// Wakes the waiters a bus event concerns: those of the keys named, or all of them when the
/// event names no keys (a resync may have lost a release).
fn wake(waiters: &Waiters, event: &BusEvent) {
    let map = lock(waiters);
    match event {
        BusEvent::Message(Invalidation::Keys(keys)) => {
            for k in keys {
                if let Some(n) = map.get(k) {
                    n.notify_waiters();
                }
            }
        }
        _ => map.values().for_each(|n| n.notify_waiters()),
    }
}

impl Cache {
    /// The lease time of a load with these options, if it takes a lease: a distributed lock
    /// on a shared store.
    pub(super) fn lease_of(&self, lock: Lock) -> Option<Duration> {
        match lock {
            Lock::Distributed { lease } if self.inner.caps.has(Capability::Shared) => Some(lease),
            _ => None,
        }
    }

    /// `{prefix}:lock:v{version}:{key}` for the full key `{prefix}:v{version}:{key}`.
    fn lock_key(&self, full: &str) -> String {
        let rest = full
            .strip_prefix(self.inner.prefix.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or(full);
        let key = format!("{}:lock:{rest}", self.inner.prefix);
        crate::key::shorten(&key).into_owned()
    }

    /// The store's bus, subscribed once so that releases wake this process's waiters.
    async fn lease_bus(&self) -> Option<&Arc<dyn InvalidationBus>> {
        let leases = &self.inner.leases;
        leases
            .bus
            .get_or_init(|| async {
                match self.inner.store.invalidation_bus().await {
                    Ok(Some(bus)) => {
                        let waiters: Weak<Waiters> = Arc::downgrade(&leases.waiters);
                        let sink: BusSink = Arc::new(move |event| {
                            if let Some(w) = waiters.upgrade() {
                                wake(&w, &event);
                            }
                            Box::pin(async {})
                        });
                        bus.subscribe(sink);
                        Some(bus)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        self.count(|c| &c.errors, 1);
                        tracing::warn!(target: "cache", error = %e, "no bus for lease releases; waiters poll");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    /// The value of `full` if the store holds a fresh one.
    async fn fresh<T: CacheValue>(&self, full: &str) -> Option<(T, Bytes)> {
        let bytes = self.read_bytes(full).await.ok()??;
        match self.decode_checked::<T>(full, &bytes).await {
            Ok(Read::Fresh(v)) => Some((v, bytes)),
            _ => None,
        }
    }

    /// Takes the lease on `full`, or waits (unless `wait` is false) until its holder stored
    /// the value or the lease is gone.
    pub(super) async fn lease_turn<T: CacheValue>(
        &self,
        full: &str,
        lease: Duration,
        wait: bool,
    ) -> Turn<T> {
        let key = self.lock_key(full);
        let waiters = &self.inner.leases.waiters;
        // Registered before the first attempt, so a release right after it is not missed.
        let waiting = wait.then(|| Waiting::new(waiters, &key));
        if wait {
            self.lease_bus().await;
        }
        let opts = WriteOptions {
            ttl: Some(lease),
            tags: Vec::new(),
        };
        let started = Instant::now();
        let mut poll = Duration::from_millis(FIRST_POLL.load(Relaxed));
        let max_poll = Duration::from_millis(MAX_POLL.load(Relaxed));
        let mut waited = false;
        loop {
            let mut notified = std::pin::pin!(waiting.as_ref().map(|w| w.notify.notified()));
            if let Some(n) = notified.as_mut().as_pin_mut() {
                n.enable();
            }
            let token = new_token();
            match self.inner.store.add(&key, token.clone(), &opts).await {
                Ok(true) => {
                    self.count(|c| &c.leases_acquired, 1);
                    let held = Held {
                        key: key.clone(),
                        token,
                        since: Instant::now(),
                        lease,
                    };
                    // The holder before us may have stored the value just now.
                    if let Some((v, bytes)) = self.fresh::<T>(full).await {
                        self.release(held).await;
                        return Turn::Loaded(v, bytes);
                    }
                    return Turn::Load(Some(held));
                }
                Ok(false) => {}
                Err(e) => {
                    self.backend_error("lease", &key, e);
                    return Turn::Load(None);
                }
            }
            let Some(notified) = notified.as_mut().as_pin_mut() else {
                return Turn::Busy;
            };
            if !std::mem::replace(&mut waited, true) {
                self.count(|c| &c.lease_waits, 1);
            }
            if tokio::time::timeout(poll, notified).await.is_ok() {
                self.count(|c| &c.lease_wakeups, 1);
            } else {
                poll = (poll * 2).min(max_poll);
            }
            if let Some((v, bytes)) = self.fresh::<T>(full).await {
                return Turn::Loaded(v, bytes);
            }
            if started.elapsed() > lease * 2 {
                tracing::warn!(target: "cache", key = full, "the lease was not released or expired in time; loading");
                return Turn::Load(None);
            }
        }
    }

    /// Releases a lease (if it is still surely ours) and tells waiting processes.
    pub(super) async fn release(&self, held: Held) {
        if held.since.elapsed() < held.lease * 3 / 4 {
            match self.inner.store.get(&held.key).await {
                Ok(Some(token)) if token == held.token => {
                    if let Err(e) = self.inner.store.delete(&held.key).await {
                        self.backend_error("lease release", &held.key, e);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.backend_error("lease release", &held.key, e);
                }
            }
        }
        if let Some(bus) = self.lease_bus().await {
            if let Err(e) = bus.publish(&Invalidation::Keys(vec![held.key])).await {
                self.count(|c| &c.errors, 1);
                tracing::warn!(target: "cache", error = %e, "announcing a lease release failed");
            }
        }
    }
}
