//! The memory store's per-thread front: the entries a thread read last, kept where the thread
//! finds them again without touching the shared map.
//!
//! A read of the shared `moka` map costs a hash table probe, an expiry check against its clock
//! and a record of the read for its eviction policy, all on shared memory; a fresh hit of the
//! HTTP response cache spends a third of its instructions there. The front answers repeated
//! reads of the same entry from a small direct-mapped table owned by the thread.
//!
//! It never answers with what the store no longer holds:
//! - an entry the store replaces or removes (write, delete, take, tag invalidation, expiry or
//!   eviction) is marked retired by the store's removal listener before the call that did it
//!   returns (moka notifies replacements and removals synchronously), and a retired entry is
//!   never served from here;
//! - an entry past its deadline is not served (checked on every read, as the map does);
//! - clearing the whole store (whose removals moka notifies lazily) moves the store to a new
//!   generation, and entries of an older generation are not served.
//!
//! Only small entries are kept (a slot holds a reference, and retired entries are released when
//! their slot is next used), and every [`RECORD_EVERY`]th read of a slot still goes to the map,
//! so its eviction policy keeps seeing which entries are in use.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use super::local::LocalEntry;

/// Slots per thread (a power of two).
const SLOTS: usize = 64;
/// The largest entry kept, in bytes.
pub(crate) const MAX_ENTRY: usize = 16 * 1024;
/// One read in this many of a slot goes to the map all the same.
pub(crate) const RECORD_EVERY: u32 = 32;

/// A unique id for each store, so stores never answer with each other's entries.
pub(crate) fn next_store_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

struct Slot {
    store: u64,
    generation: u64,
    key: Box<str>,
    entry: Arc<LocalEntry>,
    reads: u32,
}

thread_local! {
    static FRONT: RefCell<Vec<Option<Slot>>> = RefCell::new((0..SLOTS).map(|_| None).collect());
}

fn slot_of(key: &str) -> usize {
    // Fixed seeds: the index only spreads keys over a few slots of this thread's table.
    static HASHER: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);
    (HASHER.hash_one(key) as usize) & (SLOTS - 1)
}

/// What the front knows of `key`.
pub(crate) enum Front {
    /// The entry, still current.
    Hit(Arc<LocalEntry>),
    /// Not here (or due for a read of the map): ask the map.
    Ask,
}

/// Looks `key` of store `store` (at `generation`) up in this thread's front.
pub(crate) fn get(store: u64, generation: u64, key: &str) -> Front {
    FRONT
        .try_with(|front| {
            let mut front = front.try_borrow_mut().ok()?;
            let slot = front.get_mut(slot_of(key))?.as_mut()?;
            if slot.store != store || slot.generation != generation || *slot.key != *key {
                return None;
            }
            let entry = &slot.entry;
            let expired = entry.expires_at().is_some_and(|at| at <= Instant::now());
            if entry.is_retired() || expired {
                return None;
            }
            slot.reads = slot.reads.wrapping_add(1);
            (slot.reads % RECORD_EVERY != 0).then(|| Arc::clone(entry))
        })
        .ok()
        .flatten()
        .map_or(Front::Ask, Front::Hit)
}

/// Keeps `entry`, just read from the map, in this thread's front (if it is small enough).
pub(crate) fn put(store: u64, generation: u64, key: &str, entry: &Arc<LocalEntry>) {
    if entry.bytes().len() > MAX_ENTRY {
        return;
    }
    let _ = FRONT.try_with(|front| {
        let Ok(mut front) = front.try_borrow_mut() else {
            return;
        };
        let Some(slot) = front.get_mut(slot_of(key)) else {
            return;
        };
        match slot {
            Some(s) if s.store == store && *s.key == *key => {
                s.generation = generation;
                if !Arc::ptr_eq(&s.entry, entry) {
                    s.entry = Arc::clone(entry);
                }
            }
            _ => {
                *slot = Some(Slot {
                    store,
                    generation,
                    key: key.into(),
                    entry: Arc::clone(entry),
                    reads: 0,
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(expires_at: Option<Instant>) -> Arc<LocalEntry> {
        Arc::new(LocalEntry::new(Bytes::from_static(b"v"), expires_at))
    }

    #[test]
    fn serves_only_current_entries_of_the_same_store_and_generation() {
        let (store, other) = (next_store_id(), next_store_id());
        let e = entry(None);
        put(store, 0, "k", &e);
        assert!(matches!(get(store, 0, "k"), Front::Hit(h) if Arc::ptr_eq(&h, &e)));
        assert!(matches!(get(other, 0, "k"), Front::Ask));
        assert!(matches!(get(store, 1, "k"), Front::Ask));
        assert!(matches!(get(store, 0, "other"), Front::Ask));
        e.retire();
        assert!(matches!(get(store, 0, "k"), Front::Ask));
    }

    #[test]
    fn expired_and_large_entries_are_not_served() {
        let store = next_store_id();
        put(store, 0, "old", &entry(Some(Instant::now())));
        assert!(matches!(get(store, 0, "old"), Front::Ask));
        let big = Arc::new(LocalEntry::new(Bytes::from(vec![0u8; MAX_ENTRY + 1]), None));
        put(store, 0, "big", &big);
        assert!(matches!(get(store, 0, "big"), Front::Ask));
    }

    #[test]
    fn every_so_many_reads_go_to_the_map() {
        let store = next_store_id();
        put(store, 0, "k", &entry(None));
        let asked = (0..RECORD_EVERY * 4)
            .filter(|_| matches!(get(store, 0, "k"), Front::Ask))
            .count();
        assert_eq!(asked, 4);
    }
}
