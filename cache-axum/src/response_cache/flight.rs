//! Request coalescing: concurrent misses on one key send one request to the inner service.
//!
//! The first caller leads; the others wait until the leader's guard is dropped (after it has
//! stored the response, or failed, or was cancelled) and then look the key up again. A waiter
//! that still misses calls the inner service itself instead of queueing again, so an
//! uncacheable resource never serializes its callers into waves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// The in-flight table, shared by every clone of one layer.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, (u64, watch::Receiver<()>)>>,
    next_id: AtomicU64,
}

/// Dropped by the leader when its work is done (or abandoned): wakes every waiter.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: String,
    id: u64,
    _tx: watch::Sender<()>,
}

pub(crate) enum Join {
    Leader(Leader),
    Follower(watch::Receiver<()>),
}

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, rx)) = map.get(key) {
            // A closed channel is a leader that is going away right now: take over.
            if rx.has_changed().is_ok() {
                return Join::Follower(rx.clone());
            }
        }
        let (tx, rx) = watch::channel(());
        let id = self.next_id.fetch_add(1, Relaxed);
        map.insert(key.to_owned(), (id, rx));
        Join::Leader(Leader {
            flights: Arc::clone(self),
            key: key.to_owned(),
            id,
            _tx: tx,
        })
    }

    /// The flight on `key` right now, to wait on later.
    pub(crate) fn watch(&self, key: &str) -> Option<watch::Receiver<()>> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(key).map(|(_, rx)| rx.clone())
    }

    /// Waits for the flight on `key`, if there is one (an invalidation must not be overtaken
    /// by a response fetched before it and stored after it).
    pub(crate) async fn settled(&self, key: &str) {
        if let Some(rx) = self.watch(key) {
            wait(rx).await;
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

impl Drop for Leader {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
        // Dropping `tx` (after this) closes the channel, which wakes every waiter.
    }
}

/// Waits until the leader is done, however it ends.
pub(crate) async fn wait(mut rx: watch::Receiver<()>) {
    // Nothing is ever sent: `changed` returns when the sender is dropped.
    while rx.changed().await.is_ok() {}
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
