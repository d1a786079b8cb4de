//! Request coalescing: concurrent misses on one key send one request to the inner service.
//!
//! The first caller leads; the others wait until the leader's guard is dropped (after it has
//! stored the response, or failed, or was cancelled) and then look the key up again. A waiter
//! that still misses calls the inner service itself instead of queueing again, so an
//! uncacheable resource never serializes its callers into waves.

use std::collections::HashMap;
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Acquire, Release, SeqCst},
};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The in-flight table, shared by every clone of one layer.
#[derive(Default)]
pub(crate) struct Flights {
    // One allocation for the key (shared by the table and the leader) and one for the flight;
    // ahash, since every miss hashes its key here twice.
    map: Mutex<HashMap<Arc<str>, Arc<Flight>, ahash::RandomState>>,
    /// How many flights have ended: a caller that saw the same count before its lookup and
    /// after joining knows no write through a flight landed in between.
    ended: AtomicU64,
}

/// One flight: done once its leader is dropped.
#[derive(Default)]
pub(crate) struct Flight {
    done: AtomicBool,
    /// The leader is writing its response to the store (it may have streamed for a while).
    writing: AtomicBool,
    notify: Notify,
}

/// Dropped by the leader when its work is done (or abandoned): wakes every waiter.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: Arc<str>,
    flight: Arc<Flight>,
}

pub(crate) enum Join {
    Leader(Leader),
    Follower(Arc<Flight>),
}

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = map.get(key) {
            // A finished flight is a leader that is going away right now: take over.
            if !flight.done.load(Acquire) {
                return Join::Follower(Arc::clone(flight));
            }
        }
        let key: Arc<str> = Arc::from(key);
        let flight = Arc::new(Flight::default());
        map.insert(Arc::clone(&key), Arc::clone(&flight));
        Join::Leader(Leader {
            flights: Arc::clone(self),
            key,
            flight,
        })
    }

    /// The number of flights ended so far (see `ended`).
    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Acquire)
    }

    /// The flight on `key` right now, to wait on later.
    pub(crate) fn watch(&self, key: &str) -> Option<Arc<Flight>> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).map(Arc::clone)
    }

    /// Waits for the write of the flight on `key`, if one is under way: an invalidation must
    /// not be overtaken by a response fetched before it and stored after it. A flight that has
    /// not begun writing (its response still streaming) checks the invalidation log before it
    /// writes (see `Leader::writing`), so there is nothing to wait for.
    pub(crate) async fn settled(&self, key: &str) {
        if let Some(flight) = self.watch(key) {
            // SeqCst, paired with `Leader::writing`: the caller logged its invalidation
            // (SeqCst) before this load, and the writer checks that log after its store.
            if flight.writing.load(SeqCst) {
                wait(flight).await;
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Leader {
    /// Marks the flight as writing; call before checking the invalidation log for the last
    /// time before the write (see `Flights::settled`).
    pub(crate) fn writing(&self) {
        self.flight.writing.store(true, SeqCst);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // Before leaving the table: whoever joins after the removal sees the new count.
        self.flights.ended.fetch_add(1, Release);
        {
            let mut map = self
                .flights
                .map
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if map
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                map.remove(&self.key);
            }
        }
        self.flight.done.store(true, Release);
        self.flight.notify.notify_waiters();
    }
}

/// Waits until the leader is done, however it ends.
pub(crate) async fn wait(flight: Arc<Flight>) {
    loop {
        let notified = flight.notify.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the check, so a `notify_waiters` after it cannot be missed.
        notified.as_mut().enable();
        if flight.done.load(Acquire) {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_wake_when_the_leader_is_dropped_and_the_table_empties() {
        let flights = Arc::new(Flights::default());
        let Join::Leader(leader) = flights.join("k") else {
            panic!("first caller must lead")
        };
        let Join::Follower(rx) = flights.join("k") else {
            panic!("second caller must follow")
        };
        let waiter = tokio::spawn(wait(rx));
        drop(leader);
        waiter.await.unwrap();
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Join::Leader(_)));
    }
}
