//! [`MemoryStore`]: the in-process store on `moka::sync::Cache`.
//!
//! Bounded by entry count or by bytes, with a TTL per entry. A byte bound counts what entries
//! cost in resident memory: key and value bytes, tags and their index links, and a measured
//! per-entry overhead for moka's bookkeeping and the allocator (see `ENTRY_OVERHEAD` below). Entries are shared [`LocalEntry`]s, so a read is one lookup and a reference count, and
//! the cache can keep a value's decoded form beside its bytes. Tags are kept in a side index
//! (tag → key → entry id); an index link only deletes the entry it was made for, so a key
//! re-written after the link was made is never deleted by a stale link.
//!
//! Every operation completes without waiting on anything but moka's locks, so the trait methods
//! return ready futures, and [`get_local`](Store::get_local) answers without one. Repeated
//! `get_local` reads of a small entry on one thread are answered from that thread's front
//! (`front.rs`) without touching the shared map; any change to the entry reaches the front
//! before the call that made it returns.

use std::collections::HashMap;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;

use super::front::{self, Front};
use super::StoreStats;
use super::{
    BoxFuture, Capabilities, Capability, KeyTtl, LocalEntry, LocalRead, Store, WriteOptions,
};
use crate::error::{Error, Result};

/// Bytes charged per entry on top of its key and value bytes: moka's bookkeeping (the entry's
/// key `Arc`, value entry, entry info, deque and timer-wheel nodes, hash-table bucket, frequency
/// sketch), the shared [`LocalEntry`], the value's `Bytes` header and spare capacity, and the
/// allocator's rounding of each of these.
///
/// Measured, not guessed: `cargo run -p cache-core --example entry_cost -- 200000 0 250` inserts
/// 200,000 entries of 39-byte keys and 250-byte values with a TTL into an unbounded store and
/// compares the growth of VmRSS with the key and value bytes: 885 B resident per entry, so
/// 596 B on top of key and value (x86-64, glibc malloc, moka 0.12).
const ENTRY_OVERHEAD: usize = 596;

/// Bytes charged per tag of an entry on top of the tag's and the key's bytes: the tag's `String`
/// in the entry, and the tag index's link (a copy of the key and a hash-table slot).
///
/// Measured as [`ENTRY_OVERHEAD`] with 2 tags (`entry_cost -- 200000 2 250`): 1,195 B resident
/// per entry, 310 B more than without tags, so 155 B per tag of 12 bytes on a 39-byte key.
const TAG_OVERHEAD: usize = 104;

/// The default bound of [`MemoryStore::new`] and `mem://`: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

type Entry = Arc<LocalEntry>;

/// What an entry costs in memory, as near as the store can tell: its key and value, what the
/// store and moka keep for it, and per tag the tag and its link in the index (which holds a
/// copy of the key). Not counted: a decoded value kept beside the bytes after a typed read.
fn weight(key: &str, e: &LocalEntry) -> u64 {
    let tags: usize = e.tags.as_deref().map_or(0, |t| {
        t.iter().map(|t| t.len() + key.len() + TAG_OVERHEAD).sum()
    });
    (key.len() + e.bytes().len() + tags + ENTRY_OVERHEAD) as u64
}

fn remaining(e: &LocalEntry) -> KeyTtl {
    match e.expires_at() {
        None => KeyTtl::Persistent,
        Some(at) => KeyTtl::Expires(at.saturating_duration_since(Instant::now())),
    }
}

struct EntryExpiry;

impl moka::Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &String, v: &Entry, now: Instant) -> Option<Duration> {
        v.expires_at().map(|at| at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        v: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        v.expires_at().map(|at| at.saturating_duration_since(now))
    }
}

#[derive(Default)]
struct Shared {
    /// tag → (key → id of the entry that carries the tag)
    tags: Mutex<HashMap<String, HashMap<String, u64>>>,
    evictions: AtomicU64,
    expirations: AtomicU64,
    bytes: AtomicU64,
    /// Entries put minus entries removed: moka notifies every entry's removal exactly once
    /// (replaced, deleted, expired, evicted, refused by the admission policy, or dropped by a
    /// clear), and replacements and deletions before the call that made them returns, so this
    /// is exact after every write and delete, where moka's own `entry_count` is only updated by
    /// its maintenance. Counted up before the put, so it never goes below zero.
    live: AtomicU64,
    next_id: AtomicU64,
    /// Bumped when the whole store is cleared (see `front.rs`).
    generation: AtomicU64,
}

impl Shared {
    fn on_removal(&self, key: &str, entry: &LocalEntry, cause: RemovalCause) {
        // Before the write or removal that caused this returns (see `front.rs`).
        entry.retire();
        self.bytes.fetch_sub(weight(key, entry), Relaxed);
        self.live.fetch_sub(1, Relaxed);
        match cause {
            RemovalCause::Size => {
                self.evictions.fetch_add(1, Relaxed);
            }
            RemovalCause::Expired => {
                self.expirations.fetch_add(1, Relaxed);
            }
            RemovalCause::Explicit | RemovalCause::Replaced => {}
        }
        // A replaced entry keeps its key; its links are harmless (they name the old id).
        if cause != RemovalCause::Replaced {
            if let Some(tags) = &entry.tags {
                let mut index = lock(&self.tags);
                for tag in tags.iter() {
                    if let Some(keys) = index.get_mut(tag) {
                        if keys.get(key) == Some(&entry.id) {
                            keys.remove(key);
                        }
                        if keys.is_empty() {
                            index.remove(tag);
                        }
                    }
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The index holds no invariants a panic could break halfway; keep going after a poison.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The in-memory store on `moka::sync::Cache`.
///
/// Cheap to clone: clones share the same entries.
///
/// ```
/// use cache_core::{Cache, store::MemoryStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryStore::builder().max_entries(10_000).build();
/// let cache = Cache::builder().store(store).prefix("app").build().await?;
/// cache.set("greeting", "hello").await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    /// ahash instead of SipHash: keys are namespaced by the cache and hashed on every read.
    cache: moka::sync::Cache<String, Entry, ahash::RandomState>,
    shared: Arc<Shared>,
    bound: Bound,
    /// This store's id in the per-thread fronts (shared by its clones, which share its map).
    id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Entries(u64),
    Bytes(u64),
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("bound", &self.bound)
            .field("entries", &self.shared.live.load(Relaxed))
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`MemoryStore`]; bound it by entries or by bytes (the last call wins).
///
/// ```
/// let store = cache_core::store::MemoryStore::builder().max_bytes(1 << 20).build();
/// # let _ = store;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStoreBuilder {
    bound: Bound,
}

/// When a value written now with `ttl` expires; `None` (never) also for a TTL beyond the
/// clock's range.
fn deadline(ttl: Option<Duration>) -> Option<Instant> {
    ttl.and_then(|ttl| Instant::now().checked_add(ttl))
}

impl MemoryStoreBuilder {
    /// Bounds the store by number of entries.
    pub fn max_entries(mut self, n: u64) -> Self {
        self.bound = Bound::Entries(n);
        self
    }

    /// Bounds the store by what its entries cost in memory, in bytes: each entry counts its key
    /// and value bytes, per tag the tag, a copy of the key and an index link, and a fixed
    /// overhead for the store's and moka's bookkeeping and the allocator's rounding (about 600
    /// bytes, measured by comparing the growth of resident memory with the counted bytes; see
    /// `cache-core/examples/entry_cost.rs`). A cached HTTP response of 250 bytes with two tags
    /// counts about 1.2 KB, so 64 MiB hold about 55,000 of them.
    ///
    /// What the bound does not cover: the rest of the process (binary, runtime, connections'
    /// buffers), the allocator's fragmentation, a decoded value kept beside an entry's bytes
    /// after its first typed read, the per-thread fronts (64 small entries per thread, shared
    /// with the store), and entries written since moka last ran its maintenance (a few hundred
    /// at most). Budget the process's memory as the bound plus a baseline: under 100,000
    /// requests with random query strings, the demo service (64 MiB bound, debug build) peaked at
    /// 73 MiB besides its binary's 19 MiB of file-backed pages (`scripts/cardinality.sh`).
    ///
    /// ```
    /// let store = cache_core::store::MemoryStore::builder().max_bytes(256 << 20).build();
    /// # let _ = store;
    /// ```
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.bound = Bound::Bytes(n);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let shared = Arc::new(Shared::default());
        let listener_shared = Arc::clone(&shared);
        let builder = moka::sync::Cache::builder()
            .expire_after(EntryExpiry)
            .eviction_listener(move |key: Arc<String>, entry: Entry, cause| {
                listener_shared.on_removal(&key, &entry, cause);
            });
        let cache = match self.bound {
            Bound::Entries(n) => builder
                .max_capacity(n)
                .build_with_hasher(ahash::RandomState::new()),
            Bound::Bytes(n) => builder
                .max_capacity(n)
                .weigher(|k: &String, v: &Entry| u32::try_from(weight(k, v)).unwrap_or(u32::MAX))
                .build_with_hasher(ahash::RandomState::new()),
        };
        MemoryStore {
            cache,
            shared,
            bound: self.bound,
            id: front::next_store_id(),
        }
    }
}

impl MemoryStore {
    /// A store bounded to [`DEFAULT_MAX_BYTES`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, bounded to [`DEFAULT_MAX_BYTES`] unless told otherwise.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            bound: Bound::Bytes(DEFAULT_MAX_BYTES),
        }
    }

    /// Parses the query of a `mem://` URL: `max_entries=N` or `max_bytes=N`.
    pub(crate) fn from_query(query: &[(String, String)]) -> Result<Self> {
        let mut b = Self::builder();
        let mut seen = None;
        for (k, v) in query {
            let n = || {
                v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Config(format!("mem:// {k}={v:?}: expected a positive integer"))
                })
            };
            match k.as_str() {
                "max_entries" => b = b.max_entries(n()?),
                "max_bytes" => b = b.max_bytes(n()?),
                other => {
                    return Err(Error::Config(format!(
                        "mem://: unknown option {other:?} (expected max_entries or max_bytes)"
                    )))
                }
            }
            if let Some(prev) = seen.replace(k.as_str()) {
                return Err(Error::Config(format!(
                    "mem://: give one of max_entries or max_bytes, not {prev} and {k}"
                )));
            }
        }
        Ok(b.build())
    }

    /// Runs moka's pending maintenance (evictions, expirations, counters) now. Stats such as
    /// entries and bytes are exact after this.
    ///
    /// ```
    /// let store = cache_core::store::MemoryStore::new();
    /// store.run_pending_tasks();
    /// ```
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }

    fn make_entry(&self, value: Bytes, opts: &WriteOptions) -> Entry {
        Arc::new(LocalEntry::with_tags(
            value,
            deadline(opts.ttl),
            (!opts.tags.is_empty()).then(|| opts.tags.clone().into_boxed_slice()),
            self.shared.next_id.fetch_add(1, Relaxed),
        ))
    }

    /// Records the tag links of a new entry, under its key's lock as it is put.
    fn link_tags(&self, key: &str, entry: &LocalEntry) {
        if let Some(tags) = &entry.tags {
            let mut index = lock(&self.shared.tags);
            for tag in tags.iter() {
                index
                    .entry(tag.clone())
                    .or_default()
                    .insert(key.to_owned(), entry.id);
            }
        }
    }

    /// Counts an entry about to be put (its removal is counted by the listener).
    fn count_put(&self, key: &str, entry: &LocalEntry) {
        self.shared.bytes.fetch_add(weight(key, entry), Relaxed);
        self.shared.live.fetch_add(1, Relaxed);
    }

    fn insert(&self, key: &str, entry: Entry) {
        self.count_put(key, &entry);
        if entry.tags.is_some() {
            // Linked and put under the key's lock, as one step: a tag invalidation running
            // meanwhile sees both or neither, so it cannot take the link away from an entry
            // that lands after it (which no later invalidation of the tag would then find).
            self.cache.entry_by_ref(key).and_compute_with(|_| {
                self.link_tags(key, &entry);
                Op::Put(entry)
            });
        } else {
            self.cache.insert(key.to_owned(), entry);
        }
    }

    /// Removes `key` only while it still holds the entry with `id`.
    fn remove_if_id(&self, key: &str, id: u64) -> bool {
        let mut removed = false;
        self.cache
            .entry_by_ref(key)
            .and_compute_with(|cur| match cur {
                Some(e) if e.value().id == id => {
                    removed = true;
                    Op::Remove
                }
                _ => Op::Nop,
            });
        removed
    }

    fn matching_keys(&self, pattern: &str) -> Vec<String> {
        self.cache
            .iter()
            .filter(|(k, _)| crate::pattern::matches(pattern, k))
            .map(|(k, _)| k.as_ref().clone())
            .collect()
    }

    fn add_now(&self, key: &str, value: Bytes, opts: &WriteOptions) -> bool {
        let entry = self.make_entry(value, opts);
        let mut added = false;
        self.cache
            .entry_by_ref(key)
            .and_compute_with(|cur| match cur {
                Some(_) => Op::Nop,
                None => {
                    added = true;
                    self.link_tags(key, &entry);
                    self.count_put(key, &entry);
                    Op::Put(entry)
                }
            });
        added
    }

    fn incr_now(&self, key: &str, delta: i64) -> Result<i64> {
        let mut outcome: Result<i64> = Ok(0);
        self.cache.entry_by_ref(key).and_compute_with(|cur| {
            let (old, base) = match cur {
                None => (0, None),
                Some(e) => {
                    let e = e.into_value();
                    match parse_int(e.bytes()) {
                        Some(n) => (n, Some(e)),
                        None => {
                            outcome = Err(Error::Decode(format!(
                                "incr {key:?}: value is not an integer"
                            )));
                            return Op::Nop;
                        }
                    }
                }
            };
            let Some(new) = old.checked_add(delta) else {
                outcome = Err(Error::Decode(format!("incr {key:?}: overflow")));
                return Op::Nop;
            };
            outcome = Ok(new);
            let data = Bytes::from(new.to_string());
            let entry = Arc::new(match base {
                Some(e) => LocalEntry::with_tags(data, e.expires_at(), e.tags.clone(), e.id),
                None => LocalEntry::with_tags(
                    data,
                    None,
                    None,
                    self.shared.next_id.fetch_add(1, Relaxed),
                ),
            });
            self.count_put(key, &entry);
            Op::Put(entry)
        });
        outcome
    }

    fn expire_now(&self, key: &str, ttl: Option<Duration>) -> bool {
        let mut found = false;
        self.cache
            .entry_by_ref(key)
            .and_compute_with(|cur| match cur {
                None => Op::Nop,
                Some(e) => {
                    found = true;
                    let e = e.into_value();
                    let e = Arc::new(LocalEntry::with_tags(
                        e.bytes().clone(),
                        deadline(ttl),
                        e.tags.clone(),
                        e.id,
                    ));
                    // The replaced copy is subtracted by the listener.
                    self.count_put(key, &e);
                    Op::Put(e)
                }
            });
        found
    }

    fn invalidate_tags_now(&self, tags: &[String]) -> Vec<String> {
        let links: Vec<(String, u64)> = {
            let mut index = lock(&self.shared.tags);
            tags.iter()
                .filter_map(|t| index.remove(t))
                .flat_map(|keys| keys.into_iter())
                .collect()
        };
        links
            .into_iter()
            .filter(|(key, id)| self.remove_if_id(key, *id))
            .map(|(key, _)| key)
            .collect()
    }
}

fn ready<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        // Everything but being shared by processes or outliving this one.
        Capabilities::ALL
            .without(Capability::Shared)
            .without(Capability::Persistent)
    }

    fn get_local(&self, key: &str) -> LocalRead {
        // Read before the map: an entry read after a clear is kept under the new generation.
        let generation = self.shared.generation.load(Acquire);
        if let Front::Hit(e) = front::get(self.id, generation, key) {
            return LocalRead::Hit(e);
        }
        match self.cache.get(key) {
            Some(e) => {
                front::put(self.id, generation, key, &e);
                LocalRead::Hit(e)
            }
            None => LocalRead::Miss,
        }
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        ready(Ok(self.cache.get(key).map(|e| e.bytes().clone())))
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        ready(Ok(self
            .cache
            .get(key)
            .map(|e| (e.bytes().clone(), remaining(&e)))))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        self.insert(key, self.make_entry(value, opts));
        ready(Ok(()))
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(self.add_now(key, value, opts)))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(self.cache.remove(key).is_some()))
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        ready(Ok(self.cache.remove(key).map(|e| e.bytes().clone())))
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(self.cache.contains_key(key)))
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        ready(crate::pattern::validate(pattern).map(|()| self.matching_keys(pattern)))
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        ready(crate::pattern::validate(pattern).map(|()| {
            self.matching_keys(pattern)
                .into_iter()
                .filter(|key| self.cache.remove(key).is_some())
                .count() as u64
        }))
    }

    fn clear<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        if pattern == "*" {
            // The whole store (a tiered store dropping a tier that may have missed changes).
            // Removed one by one rather than with moka's `invalidate_all`, whose removals are
            // only applied (and counted) by later maintenance: `entries` is exact on return.
            let n = self
                .cache
                .iter()
                .filter(|(key, _)| self.cache.remove(key.as_str()).is_some())
                .count() as u64;
            // Entries the fronts kept before are not served.
            self.shared.generation.fetch_add(1, Release);
            return ready(Ok(n));
        }
        self.delete_pattern(pattern)
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        ready(self.incr_now(key, delta))
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(self.expire_now(key, ttl)))
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        ready(Ok(self
            .cache
            .get(key)
            .map_or(KeyTtl::Missing, |e| remaining(&e))))
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        ready(Ok(self.invalidate_tags_now(tags)))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        ready(Ok(()))
    }

    fn stats(&self) -> StoreStats {
        // Expired and evicted entries (and those of a clear) are removed, and counted, by
        // moka's maintenance: run what is pending so they are counted too. Not on a read path.
        self.cache.run_pending_tasks();
        StoreStats {
            evictions: self.shared.evictions.load(Relaxed),
            expirations: self.shared.expirations.load(Relaxed),
            entries: self.shared.live.load(Relaxed),
            bytes: self.shared.bytes.load(Relaxed),
            ..StoreStats::default()
        }
    }

    fn reset_stats(&self) {
        self.shared.evictions.store(0, Relaxed);
        self.shared.expirations.store(0, Relaxed);
    }
}

fn parse_int(b: &[u8]) -> Option<i64> {
    if !crate::frame::is_ascii_integer(b) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}
