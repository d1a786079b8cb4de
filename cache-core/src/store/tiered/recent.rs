//! The log of recent invalidations a tiered store keeps, so that a read of a lower tier in
//! progress can tell whether an invalidation of its key arrived meanwhile (then it must not
//! promote what it read, which may be the old value).
//!
//! An invalidation is applied to the upper tiers one after the other, so for a while a lower
//! upper tier still holds the old value when a higher one no longer does. A read that begins
//! in that while counts the invalidation as arriving during it: it is *in flight* until its
//! [`Applying`] guard is dropped, and [`Recent::epoch`] reaches back before it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError};

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
    /// How many invalidations are in flight (checked first, so the hit path takes no lock).
    in_flight: AtomicUsize,
    /// Their numbers.
    applying: Mutex<Vec<u64>>,
}

/// An invalidation being applied to the upper tiers; dropping it marks it done.
#[derive(Debug)]
pub(super) struct Applying<'a> {
    recent: &'a Recent,
    number: u64,
}

impl Applying<'_> {
    /// The invalidation's number in the log.
    pub(super) fn number(&self) -> u64 {
        self.number
    }
}

impl Drop for Applying<'_> {
    fn drop(&mut self) {
        let mut applying = lock(&self.recent.applying);
        if let Some(i) = applying.iter().position(|n| *n == self.number) {
            applying.swap_remove(i);
        }
        self.recent.in_flight.fetch_sub(1, SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recent {
    /// How many invalidations are remembered; a read that began before the oldest of them
    /// assumes the worst.
    pub(super) const KEPT: usize = 256;

    /// The number of the last invalidation done, or just before the oldest one in flight:
    /// note it before reading.
    pub(super) fn epoch(&self) -> u64 {
        // Loaded before `in_flight`: an invalidation that begins after the check is numbered
        // after `epoch`.
        let epoch = self.epoch.load(SeqCst);
        if self.in_flight.load(SeqCst) == 0 {
            return epoch;
        }
        let oldest = lock(&self.applying).iter().min().copied();
        oldest.map_or(epoch, |n| epoch.min(n - 1))
    }

    /// Records an invalidation that is about to be applied to the upper tiers; it is in
    /// flight until the guard is dropped.
    pub(super) fn begin(&self, what: Touched) -> Applying<'_> {
        self.in_flight.fetch_add(1, SeqCst);
        let mut applying = lock(&self.applying);
        let number = {
            let mut log = lock(&self.log);
            let number = self.epoch.fetch_add(1, SeqCst) + 1;
            if log.len() == Self::KEPT {
                log.pop_front();
            }
            log.push_back((number, what));
            number
        };
        applying.push(number);
        Applying {
            recent: self,
            number,
        }
    }

    /// Whether an invalidation recorded after `since` may concern `key`, not counting the one
    /// numbered `mine` (a caller's own; 0 for none).
    pub(super) fn touched_since(&self, since: u64, key: &str, mine: u64) -> bool {
        let now = self.epoch.load(SeqCst);
        if now == since || (now == since + 1 && now == mine) {
            return false;
        }
        let log = lock(&self.log);
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
        drop(r.begin(Touched::Keys(vec!["a".into()])));
        let since = r.epoch();
        assert!(!r.touched_since(since, "a", 0), "before the read");
        drop(r.begin(Touched::Keys(vec!["b".into()])));
        assert!(!r.touched_since(since, "a", 0), "another key");
        drop(r.begin(Touched::Pattern("a*".into())));
        assert!(r.touched_since(since, "abc", 0), "a pattern that matches");
        assert!(!r.touched_since(since, "x", 0));
        let since = r.epoch();
        drop(r.begin(Touched::All));
        assert!(r.touched_since(since, "anything", 0), "a version bump");
    }

    #[test]
    fn a_callers_own_invalidation_is_not_counted() {
        let r = Recent::default();
        let since = r.epoch();
        let mine = r.begin(Touched::Keys(vec!["k".into()])).number();
        assert!(!r.touched_since(since, "k", mine));
        drop(r.begin(Touched::Keys(vec!["k".into()])));
        assert!(r.touched_since(since, "k", mine), "someone else's came too");
    }

    #[test]
    fn a_read_older_than_the_log_assumes_the_worst() {
        let r = Recent::default();
        let since = r.epoch();
        for _ in 0..=Recent::KEPT {
            drop(r.begin(Touched::Keys(vec!["other".into()])));
        }
        assert!(r.touched_since(since, "k", 0));
    }

    #[test]
    fn a_read_that_begins_while_an_invalidation_is_applied_counts_it() {
        let r = Recent::default();
        drop(r.begin(Touched::Keys(vec!["a".into()])));
        let applying = r.begin(Touched::Keys(vec!["k".into()]));
        let since = r.epoch();
        assert!(
            r.touched_since(since, "k", 0),
            "in flight when the read began"
        );
        assert!(!r.touched_since(since, "other", 0));
        drop(applying);
        let since = r.epoch();
        assert!(
            !r.touched_since(since, "k", 0),
            "done before the read began"
        );
    }
}
