//! [`StripedCounter`]: a counter every thread can count at once without contending.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A counter that many threads count at once (every hit counts), striped so that they do not
/// contend for one cache line; reading it sums the stripes.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: Box<[PaddedU64]>,
}

/// One stripe, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedU64(AtomicU64);

impl Default for StripedCounter {
    fn default() -> Self {
        Self {
            stripes: (0..Self::STRIPES).map(|_| PaddedU64::default()).collect(),
        }
    }
}

impl StripedCounter {
    const STRIPES: usize = 8;

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            // Threads take stripes in turn as they first count (usize::MAX: not yet).
            static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
        }
        let stripe = STRIPE
            .try_with(|s| {
                if s.get() == usize::MAX {
                    s.set(NEXT.fetch_add(1, Relaxed) % Self::STRIPES);
                }
                s.get()
            })
            .unwrap_or(0);
        self.stripes[stripe].0.fetch_add(n, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub(crate) fn reset(&self) {
        for s in self.stripes.iter() {
            s.0.store(0, Relaxed);
        }
    }
}
