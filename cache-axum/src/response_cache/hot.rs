//! Per-thread copies of recently hit responses, for caches on the in-process store.
//!
//! A hit through the store costs a lookup in the shared map, a check of the stored bytes
//! against the decoded records, and reference-count traffic on memory every worker thread
//! touches. When the store is the [`MemoryStore`](cache_core::MemoryStore), each worker thread
//! instead keeps its own decoded copy of a response it read, with the
//! [`ReadStamp`] of that read, and serves the copy for as long as the stamp says the stored bytes
//! are unchanged: any write, delete, invalidation, expiry or eviction of the key, or a version
//! bump, ends that at once and the next request reads the store again. Served copies are
//! counted as hits in the cache's stats like any other.
//!
//! A thread keeps at most [`SLOTS`] copies of at most [`MAX_BYTES`] stored bytes each; a copy is
//! dropped when its slot is taken by another response, when found stale, or at the next copy
//! made on the thread after its layer is dropped.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use cache_core::ReadStamp;

use super::entry::{self, Entry, Record};
use super::layer::Config;

/// Copies a thread keeps (direct-mapped by layer and key).
pub(crate) const SLOTS: usize = 64;
/// The largest stored response a thread copies.
pub(crate) const MAX_BYTES: usize = 64 * 1024;

struct Slot {
    /// The layer's configuration: names the layer (the `Weak` keeps the address from being
    /// reused) and tells when it is gone.
    cfg: Weak<Config>,
    key: Box<str>,
    entry: Arc<Entry>,
    stamp: ReadStamp,
}

struct Table {
    slots: Box<[Option<Slot>]>,
    hasher: ahash::RandomState,
    /// Where the fast path builds a request's key, so it allocates none.
    key: String,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        slots: (0..SLOTS).map(|_| None).collect(),
        hasher: ahash::RandomState::new(),
        key: String::new(),
    });
}

/// Runs `f` on this thread's table; `None` while the thread is being torn down or when
/// re-entered (from a key function, say), where the copies are simply not used.
fn with_table<T>(f: impl FnOnce(&mut Table) -> T) -> Option<T> {
    TABLE
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut t| f(&mut t)))
        .ok()
        .flatten()
}

impl Table {
    fn index(&self, layer: *const Config, key: &str) -> usize {
        // The mask keeps the index in range, so the truncation cannot pick a wrong slot.
        (self.hasher.hash_one((layer as usize, key)) as usize) & (SLOTS - 1)
    }
}

impl Slot {
    fn holds(&self, layer: *const Config, key: &str) -> bool {
        std::ptr::eq(self.cfg.as_ptr(), layer) && *self.key == *key
    }
}

/// Whether a stored response can be served from a copy: one under its base key (no `Vary`)
/// that may be used without revalidation.
pub(crate) fn copyable(e: &Entry) -> bool {
    e.vary.is_empty() && !e.has(entry::NO_CACHE)
}

/// What [`serve`] found.
pub(crate) enum Lookup<T> {
    /// A current copy, accepted by the caller (and counted as a hit).
    Served(T),
    /// No copy to serve: the key, and where its resource identity ends.
    Missed(String, usize),
    /// No key (the key function declined the request).
    NoKey,
}

/// Builds a key with `build` into the thread's buffer and offers this thread's copy of the
/// response stored under it, if still current, to `accept`.
pub(crate) fn serve<T>(
    layer: &Config,
    build: impl FnOnce(&mut String) -> Option<usize>,
    accept: impl FnOnce(&Arc<Entry>) -> Option<T>,
) -> Lookup<T> {
    let layer = std::ptr::from_ref(layer);
    let mut build = Some(build);
    let found = with_table(|t| {
        let mut key = std::mem::take(&mut t.key);
        key.clear();
        let out = match build.take().and_then(|b| b(&mut key)) {
            None => Lookup::NoKey,
            Some(id_end) => {
                let i = t.index(layer, &key);
                let served = match &t.slots[i] {
                    Some(s) if s.holds(layer, &key) => {
                        if s.stamp.is_current() {
                            let out = accept(&s.entry);
                            if out.is_some() {
                                s.stamp.record_hit();
                            }
                            out
                        } else {
                            // Stale: free it now rather than when the slot is next taken.
                            t.slots[i] = None;
                            None
                        }
                    }
                    _ => None,
                };
                match served {
                    Some(out) => Lookup::Served(out),
                    None => Lookup::Missed(key.as_str().to_owned(), id_end),
                }
            }
        };
        t.key = key;
        out
    });
    match (found, build) {
        (Some(found), _) => found,
        // No table here: just the key.
        (None, Some(build)) => {
            let mut key = String::new();
            match build(&mut key) {
                Some(id_end) => Lookup::Missed(key, id_end),
                None => Lookup::NoKey,
            }
        }
        (None, None) => Lookup::NoKey,
    }
}

/// Keeps a copy of the response `bytes` (just read from the store under `key`, with `stamp`,
/// and [`copyable`]) for this thread, unless it is too large or already kept.
pub(crate) fn put(cfg: &Arc<Config>, key: &str, bytes: &Bytes, stamp: ReadStamp) {
    if bytes.len() > MAX_BYTES {
        return;
    }
    let layer = Arc::as_ptr(cfg);
    with_table(|t| {
        let i = t.index(layer, key);
        if t.slots[i]
            .as_ref()
            .is_some_and(|s| s.holds(layer, key) && s.stamp.is_current())
        {
            return;
        }
        // Copied, so the bytes this thread's hits hand out (and count references on) are its
        // own, not the store's.
        let Some(Record::Response(entry)) = entry::decode(Bytes::copy_from_slice(bytes)) else {
            return;
        };
        for s in t.slots.iter_mut() {
            if s.as_ref().is_some_and(|s| s.cfg.strong_count() == 0) {
                *s = None;
            }
        }
        t.slots[i] = Some(Slot {
            cfg: Arc::downgrade(cfg),
            key: key.into(),
            entry,
            stamp,
        });
    });
}
