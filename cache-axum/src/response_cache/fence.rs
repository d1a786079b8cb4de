//! [`Fence`]: which invalidations a fill in flight must not outlive.
//!
//! A fill (a response fetched on a miss, written behind it) notes the fence's number before it
//! calls the inner service. An unsafe method that invalidates a resource is numbered and logged
//! with the resource before it deletes anything. Before the fill writes, and again after its
//! write has landed, it asks whether an invalidation of its own resource came after its number:
//! if so it does not write, or deletes what it wrote. Invalidations of other resources never
//! stop it. The log keeps the last [`Fence::KEPT`] invalidations; a fill older than that assumes
//! the worst and does not write (it costs a later miss, never a stale hit).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, PoisonError};

/// Numbered invalidations by resource (by a 64-bit hash of its identity).
#[derive(Default)]
pub(crate) struct Fence {
    last: AtomicU64,
    log: Mutex<VecDeque<(u64, u64)>>,
    hasher: ahash::RandomState,
    /// Fills that did not write, or deleted their write, because their resource was invalidated.
    skipped: AtomicU64,
}

impl Fence {
    /// How many invalidations the log remembers.
    pub(crate) const KEPT: usize = 4096;

    /// The number a fill notes before it calls the inner service.
    pub(crate) fn mark(&self) -> u64 {
        self.last.load(SeqCst)
    }

    /// Logs an invalidation of `resource`, before its stored responses are deleted.
    pub(crate) fn invalidating(&self, resource: &str) {
        let h = self.hasher.hash_one(resource);
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let n = self.last.fetch_add(1, SeqCst) + 1;
        if log.len() == Self::KEPT {
            log.pop_front();
        }
        log.push_back((n, h));
    }

    /// Whether an invalidation of `resource` came after `mark`; counted as a skipped fill when
    /// so.
    pub(crate) fn overtaken(&self, mark: u64, resource: &str) -> bool {
        if self.last.load(SeqCst) == mark {
            return false;
        }
        let h = self.hasher.hash_one(resource);
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let overtaken = match log.front() {
            // The log no longer reaches back to `mark`: assume the worst.
            Some((first, _)) if *first > mark + 1 => true,
            _ => log.iter().any(|(n, r)| *n > mark && *r == h),
        };
        drop(log);
        if overtaken {
            self.skipped.fetch_add(1, SeqCst);
        }
        overtaken
    }

    /// Fills skipped so far (see [`overtaken`](Self::overtaken)).
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_invalidation_of_the_same_resource_after_the_mark_stops_a_fill() {
        let f = Fence::default();
        f.invalidating("/a");
        let mark = f.mark();
        assert!(!f.overtaken(mark, "/a"), "before the mark");
        f.invalidating("/b");
        assert!(!f.overtaken(mark, "/a"), "another resource");
        f.invalidating("/a");
        assert!(f.overtaken(mark, "/a"));
        assert_eq!(f.skipped(), 1);
    }

    #[test]
    fn a_fill_older_than_the_log_does_not_write() {
        let f = Fence::default();
        let mark = f.mark();
        for i in 0..=Fence::KEPT {
            f.invalidating(&format!("/other/{i}"));
        }
        assert!(f.overtaken(mark, "/a"));
    }
}
