//! [`ReadLog`]: which keys are read, and how often lately, for the [`Warmer`](super::Warmer).
//!
//! A cache has no log until a warmer is attached, and then keeps it for its whole life (in a
//! `OnceLock`): without one, a read costs one `OnceLock` check. The log is bounded: a moka cache
//! of counters (its TinyLFU admission keeps the keys read most), halved every warmer round so
//! that "read often" means "read often lately".

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::report::Outcome;
use crate::Cache;

/// A refresh registered by a `#[cached(warm = true)]` function for one key: reruns the body and
/// stores its value in the cache given.
pub(crate) type Refresher = Arc<dyn Fn(Cache) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// Read counts per key, and the refreshes `#[cached(warm = true)]` functions registered.
pub(crate) struct ReadLog {
    active: AtomicBool,
    counts: moka::sync::Cache<String, Arc<AtomicU32>>,
    refreshers: moka::sync::Cache<String, Refresher>,
}

impl ReadLog {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            active: AtomicBool::new(true),
            counts: moka::sync::Cache::new(capacity),
            refreshers: moka::sync::Cache::new(capacity),
        }
    }

    /// Whether a warmer is running: reads are recorded only then.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.active.load(Relaxed)
    }

    pub(crate) fn set_active(&self, on: bool) {
        self.active.store(on, Relaxed);
    }

    /// Counts one read of `key` (unprefixed).
    pub(crate) fn record(&self, key: &str) {
        if !self.active() {
            return;
        }
        match self.counts.get(key) {
            Some(c) => {
                c.fetch_add(1, Relaxed);
            }
            None => {
                self.counts
                    .entry_by_ref(key)
                    .or_insert_with(|| Arc::new(AtomicU32::new(0)))
                    .into_value()
                    .fetch_add(1, Relaxed);
            }
        }
    }

    /// Every tracked key with its count, then halves the counts (dropping keys that reach 0).
    pub(crate) fn snapshot_and_decay(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for (key, count) in self.counts.iter() {
            let before = count
                .fetch_update(Relaxed, Relaxed, |c| Some(c / 2))
                .unwrap_or(0);
            if before / 2 == 0 {
                self.counts.invalidate(key.as_str());
            }
            out.push((key.as_str().to_owned(), before));
        }
        out
    }

    /// How many keys are tracked (approximately: moka applies its bookkeeping lazily).
    pub(crate) fn tracked(&self) -> u64 {
        self.counts.run_pending_tasks();
        self.counts.entry_count()
    }

    pub(crate) fn has_refresher(&self, key: &str) -> bool {
        self.refreshers.contains_key(key)
    }

    pub(crate) fn register(&self, key: String, refresh: Refresher) {
        self.refreshers.insert(key, refresh);
    }

    pub(crate) fn refresher(&self, key: &str) -> Option<Refresher> {
        self.refreshers.get(key)
    }
}

impl Cache {
    /// Counts a read of `key` for an attached warmer: one `OnceLock` check when there is none.
    #[inline]
    pub(crate) fn note_read(&self, key: &str) {
        if let Some(log) = self.reads().get() {
            log.record(key);
        }
    }

    /// The read log, created on first use with room for `capacity` keys.
    pub(crate) fn read_log(&self, capacity: u64) -> &ReadLog {
        self.reads().get_or_init(|| ReadLog::new(capacity))
    }

    /// The read log, if a warmer is running.
    pub(crate) fn active_read_log(&self) -> Option<&ReadLog> {
        self.reads().get().filter(|l| l.active())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_halve_each_round_and_cold_keys_go() {
        let log = ReadLog::new(100);
        for _ in 0..4 {
            log.record("hot");
        }
        log.record("once");
        let mut snap = log.snapshot_and_decay();
        snap.sort();
        assert_eq!(snap, [("hot".to_string(), 4), ("once".to_string(), 1)]);
        let snap = log.snapshot_and_decay();
        assert_eq!(snap, [("hot".to_string(), 2)]);
        log.set_active(false);
        log.record("hot");
        assert_eq!(log.snapshot_and_decay(), [("hot".to_string(), 1)]);
    }
}
