//! Write-behind: a tiered store's writes land in the upper tiers at once and reach the shared
//! tier later, in batches, from a background task.
//!
//! A deferred write is kept in a pending map (key → value, options and when it was written; a
//! later write of the key replaces it) until a flush writes it with `set_many` (one call per
//! group of identical options) and publishes the keys on the bus, so other processes drop their
//! old copies then: the same as a plain `set`, later.
//!
//! Every operation that would otherwise see the shared tier's older state first settles with the
//! pending map: reads that miss the upper tiers, `exists`, `ttl`, `add` and `scan` answer from it;
//! `incr` and `expire` flush their key first; `delete`, `delete_many`, `take`, `delete_pattern`,
//! `clear` and `invalidate_tags` cancel the pending writes they cover. A flush of one batch and
//! every cancelling operation hold one gate, so a batch in flight never lands after a delete of
//! one of its keys.
//!
//! The map is bounded (`write_behind_max`): a write of a new key when it is full is written
//! through instead, as without write-behind (counted in `write_behind_overflows`). When the shared
//! tier is down, pending writes stay, are retried at every interval, and are written once it is
//! back, after the invalidations queued during the outage (which they postdate).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Mutex as Gate, MutexGuard as GateGuard, Notify};

use super::recent::Touched;
use super::TieredStore;
use crate::error::{Error, Result};
use crate::store::{Invalidation, InvalidationBus, KeyTtl, Store, WriteOptions};

/// How write-behind is configured.
#[derive(Debug, Clone, Copy)]
pub(super) struct WriteBehindConfig {
    /// How often pending writes are flushed.
    pub(super) interval: Duration,
    /// At most this many entries per flushed batch; a flush starts early when this many wait.
    pub(super) batch: usize,
    /// At most this many pending writes; beyond, writes of new keys are written through.
    pub(super) max: usize,
}

impl WriteBehindConfig {
    pub(super) const DEFAULT_BATCH: usize = 500;
    pub(super) const DEFAULT_MAX: usize = 10_000;
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    value: Bytes,
    opts: WriteOptions,
    at: Instant,
}

/// The remaining lifetime of a write made `at` with `ttl`; `None` once it has expired.
fn remaining(ttl: Option<Duration>, at: Instant) -> Option<KeyTtl> {
    match ttl {
        None => Some(KeyTtl::Persistent),
        Some(t) => t
            .checked_sub(at.elapsed())
            .filter(|d| !d.is_zero())
            .map(KeyTtl::Expires),
    }
}

/// Pending writes, oldest first in `order`.
#[derive(Debug, Default)]
struct Queue {
    entries: HashMap<String, Entry>,
    order: BTreeMap<u64, String>,
    next: u64,
}

impl Queue {
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.entries.remove(key)?;
        self.order.remove(&e.seq);
        Some(e)
    }
}

/// A pending write taken for a flush (it stays pending until written).
#[derive(Debug, Clone)]
struct Taken {
    key: String,
    seq: u64,
    value: Bytes,
    opts: WriteOptions,
    at: Instant,
}

/// A pending write cancelled by a delete: its value, unless it had expired.
#[derive(Debug)]
pub(super) struct Cancelled {
    pub(super) key: String,
    pub(super) value: Option<Bytes>,
}

/// The counters of write-behind.
#[derive(Debug, Default)]
pub(super) struct WriteBehindCounters {
    pub(super) flushed: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) overflows: AtomicU64,
}

impl WriteBehindCounters {
    pub(super) fn reset(&self) {
        for c in [
            &self.flushed,
            &self.batches,
            &self.failed,
            &self.dropped,
            &self.overflows,
        ] {
            c.store(0, Relaxed);
        }
    }
}

/// The pending writes of a tiered store and what flushes them.
#[derive(Debug)]
pub(super) struct WriteBehind {
    config: WriteBehindConfig,
    queue: Mutex<Queue>,
    /// How many writes are pending, read without the lock (0 on most paths).
    len: AtomicUsize,
    /// Held while a batch is written and by every operation that cancels pending writes.
    gate: Gate<()>,
    /// Wakes the flusher early, when a batch is full.
    wake: Arc<Notify>,
    started: AtomicBool,
    pub(super) counters: WriteBehindCounters,
}

/// The outcome of writing pending entries.
enum Flushed {
    /// Nothing was pending.
    Empty,
    /// Some were written (or dropped as refused or expired).
    Some,
    /// The shared tier is unavailable: they stay pending.
    Down,
}

impl WriteBehind {
    pub(super) fn new(config: WriteBehindConfig) -> Self {
        Self {
            config,
            queue: Mutex::default(),
            len: AtomicUsize::new(0),
            gate: Gate::new(()),
            wake: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
            counters: WriteBehindCounters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many writes are pending.
    pub(super) fn len(&self) -> u64 {
        self.len.load(Relaxed) as u64
    }

    fn update_len(&self, q: &Queue) {
        self.len.store(q.entries.len(), Relaxed);
    }

    /// Queues `entries`; `false` (nothing queued) when that would pass the bound.
    fn insert(&self, entries: &[(&str, &Bytes)], opts: &WriteOptions) -> bool {
        let mut q = self.lock();
        let new = entries
            .iter()
            .filter(|(k, _)| !q.entries.contains_key(*k))
            .count();
        if q.entries.len() + new > self.config.max {
            return false;
        }
        let at = Instant::now();
        for (k, v) in entries {
            q.remove(k);
            q.next += 1;
            let seq = q.next;
            q.order.insert(seq, (*k).to_owned());
            let e = Entry {
                seq,
                value: (*v).clone(),
                opts: opts.clone(),
                at,
            };
            q.entries.insert((*k).to_owned(), e);
        }
        self.update_len(&q);
        true
    }

    /// The pending write of `key`: `None` when there is none, `Some(None)` when it has expired
    /// (the key is then absent, whatever the shared tier holds).
    pub(super) fn lookup(&self, key: &str) -> Option<Option<(Bytes, KeyTtl)>> {
        if self.len.load(Relaxed) == 0 {
            return None;
        }
        let q = self.lock();
        let e = q.entries.get(key)?;
        Some(remaining(e.opts.ttl, e.at).map(|t| (e.value.clone(), t)))
    }

    /// The keys of live pending writes matching `pattern`.
    pub(super) fn keys_matching(&self, pattern: &str) -> Vec<String> {
        if self.len.load(Relaxed) == 0 {
            return Vec::new();
        }
        let q = self.lock();
        q.entries
            .iter()
            .filter(|(k, e)| {
                crate::pattern::matches(pattern, k) && remaining(e.opts.ttl, e.at).is_some()
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Gives the pending write of `key`, if any, a new TTL from now.
    pub(super) fn retime(&self, key: &str, ttl: Option<Duration>) {
        if let Some(e) = self.lock().entries.get_mut(key) {
            e.opts.ttl = ttl;
            e.at = Instant::now();
        }
    }

    /// Removes the pending writes `pick` selects. Call with the gate held.
    pub(super) fn cancel(&self, pick: impl Fn(&str, &WriteOptions) -> bool) -> Vec<Cancelled> {
        if self.len.load(Relaxed) == 0 {
            return Vec::new();
        }
        let mut q = self.lock();
        let keys: Vec<String> = q
            .entries
            .iter()
            .filter(|(k, e)| pick(k, &e.opts))
            .map(|(k, _)| k.clone())
            .collect();
        let out = keys
            .into_iter()
            .filter_map(|k| {
                let e = q.remove(&k)?;
                let value = remaining(e.opts.ttl, e.at).map(|_| e.value);
                Some(Cancelled { key: k, value })
            })
            .collect();
        self.update_len(&q);
        out
    }

    /// The oldest `batch` pending writes, or those of `keys`.
    fn take(&self, keys: Option<&[String]>) -> Vec<Taken> {
        let q = self.lock();
        let taken = |k: &String| {
            q.entries.get(k).map(|e| Taken {
                key: k.clone(),
                seq: e.seq,
                value: e.value.clone(),
                opts: e.opts.clone(),
                at: e.at,
            })
        };
        match keys {
            Some(keys) => keys.iter().filter_map(taken).collect(),
            None => q
                .order
                .values()
                .take(self.config.batch)
                .filter_map(taken)
                .collect(),
        }
    }

    /// Removes the taken writes that were not replaced meanwhile.
    fn settle(&self, taken: &[&Taken]) {
        let mut q = self.lock();
        for t in taken {
            if q.entries.get(&t.key).is_some_and(|e| e.seq == t.seq) {
                q.remove(&t.key);
            }
        }
        self.update_len(&q);
    }

    /// Every pending write, oldest first, leaving none.
    fn drain(&self) -> Vec<Taken> {
        let mut q = self.lock();
        let order = std::mem::take(&mut q.order);
        let out = order
            .into_values()
            .filter_map(|k| {
                let e = q.entries.remove(&k)?;
                Some(Taken {
                    key: k,
                    seq: e.seq,
                    value: e.value,
                    opts: e.opts,
                    at: e.at,
                })
            })
            .collect();
        self.update_len(&q);
        out
    }

    /// Writes that remain on drop, handed to a last flush on the current runtime if there is
    /// one; otherwise they are lost (logged).
    pub(super) fn last_flush(&self, bottom: Arc<dyn Store>, bus: Option<Arc<dyn InvalidationBus>>) {
        let pending = self.drain();
        if pending.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(target: "cache", lost = pending.len(), "a write-behind store was dropped outside a runtime with writes pending; call Cache::flush before shutdown");
            return;
        };
        rt.spawn(async move {
            let refs: Vec<&Taken> = pending.iter().collect();
            for (opts, group) in groups(&refs) {
                let entries = group
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect::<Vec<_>>();
                match bottom.set_many(&entries, &opts).await {
                    Ok(()) => {
                        if let Some(bus) = &bus {
                            let keys = entries.into_iter().map(|(k, _)| k).collect();
                            let _ = bus.publish(&Invalidation::Keys(keys)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "cache", error = %e, lost = entries.len(), "the last flush of a dropped write-behind store failed");
                    }
                }
            }
        });
    }
}

/// Groups live writes by identical options (expired ones are left out); each group's TTL is
/// counted from its oldest write, so that nothing lives in the shared tier longer than it was
/// asked to.
fn groups<'t>(taken: &[&'t Taken]) -> Vec<(WriteOptions, Vec<&'t Taken>)> {
    let mut out: Vec<(WriteOptions, Instant, Vec<&Taken>)> = Vec::new();
    for t in taken {
        if remaining(t.opts.ttl, t.at).is_none() {
            continue;
        }
        match out.iter_mut().find(|g| g.0 == t.opts) {
            Some(g) => {
                g.1 = g.1.min(t.at);
                g.2.push(t);
            }
            None => out.push((t.opts.clone(), t.at, vec![t])),
        }
    }
    out.into_iter()
        .map(|(mut opts, oldest, group)| {
            if let Some(ttl) = opts.ttl {
                // Never zero: the oldest write was live a moment ago.
                let left = ttl.saturating_sub(oldest.elapsed());
                opts.ttl = Some(left.max(Duration::from_millis(1)));
            }
            (opts, group)
        })
        .collect()
}

impl TieredStore {
    pub(super) fn write_behind(&self) -> Option<&WriteBehind> {
        self.inner.write_behind.as_ref()
    }

    /// Holds the write-behind gate (when write-behind is on) for an operation that cancels
    /// pending writes.
    pub(super) async fn gate(&self) -> Option<GateGuard<'_, ()>> {
        match self.write_behind() {
            Some(wb) => Some(wb.gate.lock().await),
            None => None,
        }
    }

    /// Cancels the pending writes `pick` selects (hold [`gate`](Self::gate)).
    pub(super) fn cancel(&self, pick: impl Fn(&str, &WriteOptions) -> bool) -> Vec<Cancelled> {
        self.write_behind()
            .map(|wb| wb.cancel(pick))
            .unwrap_or_default()
    }

    /// Writes `entries` to the upper tiers and queues them for the shared tier. `false`: not
    /// deferred (write-behind is off, the queue is full, or there is no runtime for the
    /// flusher): the caller writes through, holding the gate.
    pub(super) async fn write_deferred(
        &self,
        entries: &[(&str, &Bytes)],
        opts: &WriteOptions,
    ) -> bool {
        let Some(wb) = self.write_behind() else {
            return false;
        };
        if !self.start_flusher(wb) {
            return false;
        }
        let since = self.inner.recent.epoch();
        // In flight until the upper tiers hold the new value: a read of the shared tier that
        // overlaps it must not promote the old one.
        let keys = entries.iter().map(|(k, _)| (*k).to_owned()).collect();
        let applying = self.inner.recent.begin(Touched::Keys(keys));
        if !wb.insert(entries, opts) {
            wb.counters.overflows.fetch_add(1, Relaxed);
            return false;
        }
        self.write_uppers(entries, opts, since, applying.number())
            .await;
        if wb.len() >= wb.config.batch as u64 {
            wb.wake.notify_one();
        }
        true
    }

    /// Starts the background flusher once; `false` when there is no Tokio runtime.
    fn start_flusher(&self, wb: &WriteBehind) -> bool {
        if wb.started.load(Relaxed) {
            return true;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        if wb.started.swap(true, Relaxed) {
            return true;
        }
        let weak = Arc::downgrade(&self.inner);
        let wake = Arc::clone(&wb.wake);
        let interval = wb.config.interval;
        rt.spawn(async move {
            loop {
                {
                    let sleep = std::pin::pin!(tokio::time::sleep(interval));
                    let woken = std::pin::pin!(wake.notified());
                    futures_util::future::select(sleep, woken).await;
                }
                // The store holds no strong reference to this task, nor it to the store
                // between rounds: the task ends with the store.
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let _ = TieredStore { inner }.flush_pending().await;
            }
        });
        true
    }

    /// Writes every write pending when called to the shared tier, in batches. Fails with
    /// [`Error::Backend`] when the shared tier is unavailable (the writes stay pending).
    pub(super) async fn flush_pending(&self) -> Result<()> {
        let Some(wb) = self.write_behind() else {
            return Ok(());
        };
        // Writes queued meanwhile are left to the next flush, so a steady stream of writes
        // cannot hold a flush for ever.
        let rounds = (wb.len() as usize).div_ceil(wb.config.batch) + 1;
        for _ in 0..rounds {
            let _gate = wb.gate.lock().await;
            match self.write_taken(wb, wb.take(None)).await {
                Flushed::Empty => return Ok(()),
                Flushed::Some => {}
                Flushed::Down => {
                    return Err(Error::Backend(format!(
                        "{} writes are still pending: the shared tier is unavailable",
                        wb.len()
                    )))
                }
            }
        }
        Ok(())
    }

    /// Writes the pending writes of `keys` now (before `incr` or `expire` reads the shared
    /// tier); they stay pending when it is down.
    pub(super) async fn flush_keys(&self, keys: &[String]) {
        let Some(wb) = self.write_behind() else {
            return;
        };
        if wb.len() == 0 {
            return;
        }
        let _gate = wb.gate.lock().await;
        self.write_taken(wb, wb.take(Some(keys))).await;
    }

    /// Writes `taken` (hold the gate), one `set_many` per group of identical options, and
    /// publishes each written group's keys.
    async fn write_taken(&self, wb: &WriteBehind, taken: Vec<Taken>) -> Flushed {
        if taken.is_empty() {
            return Flushed::Empty;
        }
        if self.inner.outage.queued() {
            // Invalidations queued during an outage are older than these writes: they go
            // first (a command that reaches the tier replays them).
            let _ = self.bottom(|s| s.ping()).await;
            if self.inner.outage.queued() {
                wb.counters.failed.fetch_add(1, Relaxed);
                return Flushed::Down;
            }
        }
        let all: Vec<&Taken> = taken.iter().collect();
        // Writes that expired while pending are due nowhere.
        let expired: Vec<&Taken> = taken
            .iter()
            .filter(|t| remaining(t.opts.ttl, t.at).is_none())
            .collect();
        wb.settle(&expired);
        for (opts, group) in groups(&all) {
            let entries: Vec<(String, Bytes)> = group
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect();
            let keys: Vec<String> = group.iter().map(|t| t.key.clone()).collect();
            match self.bottom(|s| s.set_many(&entries, &opts)).await {
                Ok(Some(())) => {
                    wb.settle(&group);
                    wb.counters.batches.fetch_add(1, Relaxed);
                    wb.counters.flushed.fetch_add(group.len() as u64, Relaxed);
                    self.publish(Invalidation::Keys(keys)).await;
                }
                Ok(None) => {
                    wb.counters.failed.fetch_add(1, Relaxed);
                    return Flushed::Down;
                }
                Err(e) => {
                    // Refused, not unavailable: never to be written, so not served either.
                    tracing::warn!(target: "cache", error = %e, dropped = group.len(), "the shared tier refused write-behind writes; dropped here too");
                    wb.settle(&group);
                    wb.counters.dropped.fetch_add(group.len() as u64, Relaxed);
                    let keys = Invalidation::Keys(keys);
                    self.changed_here(&keys).await;
                }
            }
        }
        Flushed::Some
    }
}
