//! The headline ratio over the last minutes, kept by the dashboard so that its chart has a
//! line the moment the page opens, not one point per second from then on.
//!
//! A task samples the [`Headline`] ratio every [`SAMPLE_EVERY`] into a ring of
//! [`CAPACITY`] samples ([`WINDOW_MS`], five minutes). It holds the ring weakly: it ends at the
//! first tick after the last clone of the dashboard is dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_core::Cache;
use serde::Serialize;

use crate::observe::{Headline, HttpRatio, HttpStats};

/// How often the ratio is sampled.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// How far back the chart reaches, in milliseconds.
pub(crate) const WINDOW_MS: u64 = 5 * 60 * 1000;
/// Samples kept: the window's worth.
const CAPACITY: usize = (WINDOW_MS / 2_000) as usize;

/// One point of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Sample {
    /// When, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
    /// The headline ratio then, 0 to 1.
    pub(crate) ratio: f64,
}

/// The ring of samples, shared by the clones of one dashboard.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: Mutex<VecDeque<Sample>>,
    started: AtomicBool,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The headline ratio of `cache` and `http` now, computed as the [`StatsReport`]'s is.
///
/// [`StatsReport`]: crate::observe::StatsReport
pub(crate) fn sample_now(cache: &Cache, http: &HttpStats) -> Sample {
    let stats = cache.stats();
    let ratio = HttpRatio::from_routes(&http.routes());
    Sample {
        at_ms: now_ms(),
        ratio: Headline::new(&ratio, stats.hits, stats.misses).ratio,
    }
}

impl History {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Sample>> {
        // Each update is one push or pop: consistent even after a panic elsewhere.
        self.samples.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, sample: Sample) {
        let mut ring = self.lock();
        while ring.len() >= CAPACITY {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    /// The samples of the last [`WINDOW_MS`] before `now`, oldest first.
    pub(crate) fn recent(&self, now: u64) -> Vec<Sample> {
        let from = now.saturating_sub(WINDOW_MS);
        self.lock()
            .iter()
            .filter(|s| s.at_ms >= from)
            .copied()
            .collect()
    }

    /// Starts the sampling task, once, if a Tokio runtime is running here (else a later call
    /// from a handler does).
    pub(crate) fn start(self: &Arc<Self>, cache: &Cache, http: &HttpStats) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let ring = Arc::downgrade(self);
        let (cache, http) = (cache.clone(), http.clone());
        rt.spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(ring) = ring.upgrade() else { break };
                ring.push(sample_now(&cache, &http));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_window_only() {
        let h = History::default();
        for i in 0..(CAPACITY as u64 + 10) {
            h.push(Sample {
                at_ms: i * 2_000,
                ratio: 0.5,
            });
        }
        let now = (CAPACITY as u64 + 9) * 2_000;
        let recent = h.recent(now);
        assert_eq!(recent.len(), CAPACITY);
        assert!(recent.iter().all(|s| s.at_ms + WINDOW_MS >= now));
        assert!(h.recent(now + 2 * WINDOW_MS).is_empty());
    }

    #[tokio::test]
    async fn the_task_samples_at_once_and_holds_the_ring_weakly() {
        let cache = Cache::memory();
        let http = HttpStats::new();
        http.record("/x", Some("HIT"));
        let h = Arc::new(History::default());
        h.start(&cache, &http);
        h.start(&cache, &http);
        // The first tick is immediate: a bounded wait for it, not a timing assertion.
        let mut samples = Vec::new();
        for _ in 0..500 {
            samples = h.recent(now_ms());
            if !samples.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!samples.is_empty(), "no sample taken");
        assert!(samples.iter().all(|s| s.ratio == 1.0), "{samples:?}");
        let weak = Arc::downgrade(&h);
        drop(h);
        assert!(weak.upgrade().is_none(), "the task keeps the ring alive");
    }
}
