//! The log of recent invalidations a tiered store keeps, so that a read of a lower tier in
//! progress can tell whether an invalidation of its key arrived meanwhile (then it must not
//! promote what it read, which may be the old value).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::store::Invalidation;

/// What an invalidation touched.
#[derive(Debug, Clone)]
pub(super) enum Touched {
    Keys(Vec<String>),
    Pattern(String),
    All,
}

impl Touched {
    /// What `inv` touches, for reads in progress.
    pub(super) fn by(inv: &Invalidation) -> Self {
        match inv {
            Invalidation::Keys(keys) => Touched::Keys(keys.clone()),
            Invalidation::Pattern(p) => Touched::Pattern(p.clone()),
            // Tag members also come as keys; a version bump changes every key.
            Invalidation::Tags(_) => Touched::Keys(Vec::new()),
            Invalidation::Version { .. } => Touched::All,
        }
    }

    fn covers(&self, key: &str) -> bool {
        match self {
            Touched::All => true,
            Touched::Keys(keys) => keys.iter().any(|k| k == key),
            Touched::Pattern(p) => crate::pattern::matches(p, key),
        }
    }
}

/// Numbered invalidations, the last [`Recent::KEPT`] of them.
#[derive(Debug, Default)]
pub(super) struct Recent {
    epoch: AtomicU64,
    log: Mutex<VecDeque<(u64, Touched)>>,
}

impl Recent {
    /// How many invalidations are remembered; a read that began before the oldest of them
    /// assumes the worst.
    pub(super) const KEPT: usize = 256;

    /// The number of the last invalidation: note it before reading.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    /// Records an invalidation; returns its number.
    pub(super) fn record(&self, what: Touched) -> u64 {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let epoch = self.epoch.fetch_add(1, Relaxed) + 1;
        if log.len() == Self::KEPT {
            log.pop_front();
        }
        log.push_back((epoch, what));
        epoch
    }

    /// Whether an invalidation recorded after `since` may concern `key`, not counting the one
    /// numbered `mine` (a caller's own; 0 for none).
    pub(super) fn touched_since(&self, since: u64, key: &str, mine: u64) -> bool {
        let now = self.epoch.load(Relaxed);
        if now == since || (now == since + 1 && now == mine) {
            return false;
        }
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match log.front() {
            // The log no longer reaches back to `since`: assume the worst.
            Some((first, _)) if *first > since + 1 => return true,
            None => return true,
            _ => {}
        }
        log.iter()
            .filter(|(e, _)| *e > since && *e != mine)
            .any(|(_, t)| t.covers(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalidations_after_the_read_began_and_of_its_key_count() {
        let r = Recent::default();
        r.record(Touched::Keys(vec!["a".into()]));
        let since = r.epoch();
        assert!(!r.touched_since(since, "a", 0), "before the read");
        r.record(Touched::Keys(vec!["b".into()]));
        assert!(!r.touched_since(since, "a", 0), "another key");
        r.record(Touched::Pattern("a*".into()));
        assert!(r.touched_since(since, "abc", 0), "a pattern that matches");
        assert!(!r.touched_since(since, "x", 0));
        let since = r.epoch();
        r.record(Touched::All);
        assert!(r.touched_since(since, "anything", 0), "a version bump");
    }

    #[test]
    fn a_callers_own_invalidation_is_not_counted() {
        let r = Recent::default();
        let since = r.epoch();
        let mine = r.record(Touched::Keys(vec!["k".into()]));
        assert!(!r.touched_since(since, "k", mine));
        r.record(Touched::Keys(vec!["k".into()]));
        assert!(r.touched_since(since, "k", mine), "someone else's came too");
    }

    #[test]
    fn a_read_older_than_the_log_assumes_the_worst() {
        let r = Recent::default();
        let since = r.epoch();
        for _ in 0..=Recent::KEPT {
            r.record(Touched::Keys(vec!["other".into()]));
        }
        assert!(r.touched_since(since, "k", 0));
    }
}
