//! [`Breaker`]: a circuit breaker in front of a remote store (or one tier of a tiered store).
//!
//! Every store with a remote server has one: a plain `redis://`, `memcached://`, `postgres://`
//! or `mysql://` store opened from a URL is wrapped in a [`GuardedStore`](crate::store::GuardedStore),
//! and each tier of a [`TieredStore`](crate::store::TieredStore) has its own. It opens after
//! `breaker_threshold` consecutive backend errors (default 1), answers every call at once with
//! [`Error::Backend`](crate::Error::Backend) while open, lets one probe through after
//! `breaker_cooldown` (default 1 s), and closes when the probe succeeds.
//!
//! # Worst case during an outage
//!
//! With the defaults, a caller of a cached function or of `get_or_set` waits on the store:
//!
//! - at most **one command timeout** (`timeout_ms`) for the first call after the server dies or
//!   hangs (the call that opens the breaker), and for the one probe per `breaker_cooldown`;
//!   a refused or reset connection fails at once instead;
//! - **nothing** for every other call while the breaker is open: the loader runs at once.
//!
//! So a caller sees at most `timeout_ms` of store time in a call (with `breaker_threshold=N`,
//! up to N calls each pay it before the breaker opens), and the server
//! costs the application at most one `timeout_ms` per `breaker_cooldown`. After the server is
//! back, hits resume at the next probe: within `breaker_cooldown` plus the client's reconnect
//! delay (Redis: at most 500 ms).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The state of a [`Breaker`].
///
/// ```
/// assert_ne!(cache_core::store::BreakerState::Closed, cache_core::store::BreakerState::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum BreakerState {
    /// Commands go to the tier.
    Closed,
    /// The tier is considered down: no commands are sent until the cool-down has passed.
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

/// The default number of consecutive backend errors that open a breaker: the first failure,
/// so that a dead server costs one command timeout, not several.
pub const DEFAULT_BREAKER_THRESHOLD: u32 = 1;

/// The default time an open breaker waits before it lets a probe through.
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(1);

/// A circuit breaker in front of a store or a tier: opens after `threshold` consecutive backend errors,
/// lets one probe through after `cooldown`, and closes when a probe succeeds.
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

    /// Records a command that reached the store. Returns true when this closes an open
    /// breaker (the tier is back).
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
                tracing::warn!(target: "cache", cooldown = ?self.cooldown, "cache store circuit breaker open");
            }
            // A cool-down too long to add to the clock keeps it open for a year.
            let now = Instant::now();
            let until = now
                .checked_add(self.cooldown)
                .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400));
            *s = State::Open { until };
        }
    }

    /// Marks a call let through as under way, until [`InFlight::answered`]: dropped before
    /// that (its caller gave up), it counts as [`abandoned`](Self::abandoned).
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        InFlight {
            breaker: self,
            answered: false,
        }
    }

    /// Records a call dropped before the tier answered (its caller gave up): it says nothing of
    /// the tier, but were it the half-open probe, the next call must be let through to probe.
    pub(crate) fn abandoned(&self) {
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

    /// How long it stays open before it lets a probe through.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = cache_core::store::Breaker::new(1, Duration::from_millis(500));
    /// assert_eq!(b.cooldown(), Duration::from_millis(500));
    /// ```
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }
}

/// A call a [`Breaker`] let through, under way; see [`Breaker::in_flight`].
pub(crate) struct InFlight<'a> {
    breaker: &'a Breaker,
    answered: bool,
}

impl InFlight<'_> {
    /// The store answered (with a value or an error, which the caller reports).
    pub(crate) fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.breaker.abandoned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures_only() {
        let b = Breaker::new(3, Duration::from_secs(60));
        b.failure();
        b.failure();
        assert!(!b.success(), "closing a closed breaker is no recovery");
        b.failure();
        b.failure();
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "the success reset the count"
        );
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.opens(), 1);
        assert!(!b.allow());
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_through_and_its_outcome_decides() {
        let b = Breaker::new(1, Duration::ZERO);
        b.failure();
        assert!(b.allow(), "the probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(), "one probe at a time");
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.opens(), 2);
        assert!(b.allow());
        assert!(b.success(), "a successful probe is a recovery");
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let b = Breaker::new(1, Duration::ZERO);
        b.failure();
        assert!(b.allow());
        b.abandoned();
        assert!(b.allow(), "the probe's caller gave up: the next one probes");
    }

    #[test]
    fn a_cooldown_beyond_the_clock_keeps_it_open_without_a_panic() {
        let b = Breaker::new(1, Duration::MAX);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
    }
}
