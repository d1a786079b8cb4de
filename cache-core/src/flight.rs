//! Single-flight: concurrent loads of one key run one loader.
//!
//! The first caller for a key becomes the leader and runs its loader; later callers follow and
//! wait for the leader's outcome. If the leader is dropped (cancelled) or panics, its guard
//! publishes `Abandoned` and removes the flight, so a follower takes over as the next leader:
//! nothing hangs and no key is poisoned.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

/// What the leader of a flight published.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// The loaded value, framed as it was stored.
    Value(Bytes),
    /// The loader failed; the error is shared when the caller asked for it.
    Failed(Option<Arc<dyn Any + Send + Sync>>),
    /// The leader went away without an outcome; a follower must retry.
    Abandoned,
}

type Slot = watch::Sender<Option<Outcome>>;

/// The table of in-flight loads, keyed by full key.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Slot>>>,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").field("in_flight", &self.lock().len()).finish()
    }
}

pub(crate) enum Join<'a> {
    Leader(Leader<'a>),
    Follower(watch::Receiver<Option<Outcome>>),
}

impl Flights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Becomes the leader for `key`, or a follower of the current leader.
    pub(crate) fn join<'a>(&'a self, key: &str) -> Join<'a> {
        let mut map = self.lock();
        if let Some(slot) = map.get(key) {
            return Join::Follower(slot.subscribe());
        }
        let slot = Arc::new(watch::Sender::new(None));
        map.insert(key.to_owned(), Arc::clone(&slot));
        Join::Leader(Leader {
            flights: self,
            key: key.to_owned(),
            slot,
            done: false,
        })
    }

    /// Whether a load of `key` is in flight.
    pub(crate) fn in_flight(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }
}

/// Waits for the leader's outcome; a vanished leader is `Abandoned`.
pub(crate) async fn wait(mut rx: watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone().unwrap_or(Outcome::Abandoned),
        Err(_) => Outcome::Abandoned,
    }
}

/// The leader's guard: publishes the outcome, or `Abandoned` when dropped without one.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    slot: Arc<Slot>,
    done: bool,
}

impl Leader<'_> {
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.publish(outcome);
    }

    fn publish(&mut self, outcome: Outcome) {
        self.done = true;
        {
            let mut map = self.flights.lock();
            if map.get(&self.key).is_some_and(|s| Arc::ptr_eq(s, &self.slot)) {
                map.remove(&self.key);
            }
        }
        self.slot.send_replace(Some(outcome));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.publish(Outcome::Abandoned);
        }
    }
}
