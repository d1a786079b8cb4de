//! [`MemoryStore`]: the in-process store on `moka::future::Cache`.
//!
//! Bounded by entry count or by bytes (a weigher counts key, value and tag bytes), with a TTL per
//! entry. Tags are kept in a side index (tag → key → entry id); an index link only deletes the
//! entry it was made for, so a key re-written after the link was made is never deleted by a
//! stale link.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;

use super::{BoxFuture, KeyTtl, Store, WriteOptions};
use crate::error::{Error, Result};
use crate::stamp::{Seen, Stamps};
use crate::stats::StoreStats;

/// Fixed bytes charged per entry on top of key, value and tags (moka's own bookkeeping).
const ENTRY_OVERHEAD: usize = 64;

/// The default bound of [`MemoryStore::new`] and `mem://`: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct Entry {
    data: Bytes,
    expires_at: Option<Instant>,
    tags: Option<Arc<[String]>>,
    id: u64,
}

impl Entry {
    fn weight(&self, key: &str) -> u64 {
        let tags: usize = self
            .tags
            .as_deref()
            .map_or(0, |t| t.iter().map(|t| t.len() + 16).sum());
        (key.len() + self.data.len() + tags + ENTRY_OVERHEAD) as u64
    }

    fn remaining(&self) -> KeyTtl {
        match self.expires_at {
            None => KeyTtl::Persistent,
            Some(at) => KeyTtl::Expires(at.saturating_duration_since(Instant::now())),
        }
    }
}

struct EntryExpiry;

impl moka::Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &String, v: &Entry, now: Instant) -> Option<Duration> {
        v.expires_at.map(|at| at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        v: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        v.expires_at.map(|at| at.saturating_duration_since(now))
    }
}

#[derive(Default)]
struct Shared {
    /// tag → (key → id of the entry that carries the tag)
    tags: Mutex<HashMap<String, HashMap<String, u64>>>,
    evictions: AtomicU64,
    expirations: AtomicU64,
    bytes: AtomicU64,
    next_id: AtomicU64,
    /// Raised after every change, for [`ReadStamp`](crate::ReadStamp)s.
    stamps: Arc<Stamps>,
}

impl Shared {
    fn on_removal(&self, key: &str, entry: &Entry, cause: RemovalCause) {
        // Evictions and expiries reach the stamps only here; explicit changes also raise them
        // as they return.
        self.stamps.touch(key);
        self.bytes.fetch_sub(entry.weight(key), Relaxed);
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

/// The in-memory store on `moka::future::Cache`.
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
    cache: moka::future::Cache<String, Entry, ahash::RandomState>,
    shared: Arc<Shared>,
    bound: Bound,
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
            .field("entries", &self.cache.entry_count())
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

    /// Bounds the store by bytes (keys, values and tags, plus a fixed overhead per entry).
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.bound = Bound::Bytes(n);
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let shared = Arc::new(Shared::default());
        let listener_shared = Arc::clone(&shared);
        let builder = moka::future::Cache::builder()
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
                .weigher(|k: &String, v: &Entry| u32::try_from(v.weight(k)).unwrap_or(u32::MAX))
                .build_with_hasher(ahash::RandomState::new()),
        };
        MemoryStore {
            cache,
            shared,
            bound: self.bound,
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
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::MemoryStore::new();
    /// store.run_pending_tasks().await;
    /// # });
    /// ```
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// Drops every entry (used by a tiered store whose L1 may have missed invalidations).
    pub fn clear_all(&self) {
        self.cache.invalidate_all();
        self.shared.stamps.touch_all();
    }

    /// Reads a value's bytes (the `Store::get` of this store without the boxed future).
    pub(crate) async fn get_data(&self, key: &str) -> Option<Bytes> {
        self.cache.get(key).await.map(|e| e.data)
    }

    /// Reads a value's bytes and expiry, noting first what a [`ReadStamp`](crate::ReadStamp)
    /// checks later.
    pub(crate) async fn get_seen(&self, key: &str) -> (Seen, Option<(Bytes, Option<Instant>)>) {
        let seen = self.shared.stamps.seen(key);
        let entry = self.cache.get(key).await;
        (seen, entry.map(|e| (e.data, e.expires_at)))
    }

    pub(crate) fn stamps(&self) -> &Arc<Stamps> {
        &self.shared.stamps
    }

    /// Records a change to `key`, after making it.
    fn changed(&self, key: &str) {
        self.shared.stamps.touch(key);
    }

    /// Writes a value (the `Store::set` of this store without the boxed future).
    pub(crate) async fn set_data(&self, key: &str, value: Bytes, opts: &WriteOptions) {
        let entry = self.make_entry(value, opts);
        self.insert(key, entry).await;
    }

    fn make_entry(&self, value: Bytes, opts: &WriteOptions) -> Entry {
        Entry {
            data: value,
            expires_at: deadline(opts.ttl),
            tags: (!opts.tags.is_empty()).then(|| Arc::from(opts.tags.clone())),
            id: self.shared.next_id.fetch_add(1, Relaxed),
        }
    }

    /// Records the tag links of a new entry, under its key's lock as it is put.
    fn link_tags(&self, key: &str, entry: &Entry) {
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

    async fn insert(&self, key: &str, entry: Entry) {
        self.shared.bytes.fetch_add(entry.weight(key), Relaxed);
        if entry.tags.is_some() {
            // Linked and put under the key's lock, as one step: a tag invalidation running
            // meanwhile sees both or neither, so it cannot take the link away from an entry
            // that lands after it (which no later invalidation of the tag would then find).
            self.cache
                .entry_by_ref(key)
                .and_compute_with(|_| {
                    self.link_tags(key, &entry);
                    std::future::ready(Op::Put(entry))
                })
                .await;
        } else {
            self.cache.insert(key.to_owned(), entry).await;
        }
        self.changed(key);
    }

    /// Removes `key` only while it still holds the entry with `id`.
    async fn remove_if_id(&self, key: &str, id: u64) -> bool {
        let mut removed = false;
        self.cache
            .entry_by_ref(key)
            .and_compute_with(|cur| {
                let op = match cur {
                    Some(e) if e.value().id == id => {
                        removed = true;
                        Op::Remove
                    }
                    _ => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
        if removed {
            self.changed(key);
        }
        removed
    }

    fn matching_keys(&self, pattern: &str) -> Vec<String> {
        self.cache
            .iter()
            .filter(|(k, _)| crate::pattern::matches(pattern, k))
            .map(|(k, _)| k.as_ref().clone())
            .collect()
    }
}

impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move { Ok(self.get_data(key).await) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.set_data(key, value, opts).await;
            Ok(())
        })
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let entry = self.make_entry(value, opts);
            let weight = entry.weight(key);
            let mut added = false;
            self.cache
                .entry_by_ref(key)
                .and_compute_with(|cur| {
                    let op = match cur {
                        Some(_) => Op::Nop,
                        None => {
                            added = true;
                            self.link_tags(key, &entry);
                            self.shared.bytes.fetch_add(weight, Relaxed);
                            Op::Put(entry)
                        }
                    };
                    std::future::ready(op)
                })
                .await;
            if added {
                self.changed(key);
            }
            Ok(added)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let removed = self.cache.remove(key).await.is_some();
            self.changed(key);
            Ok(removed)
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let taken = self.cache.remove(key).await.map(|e| e.data);
            self.changed(key);
            Ok(taken)
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.cache.contains_key(key)) })
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            Ok(self.matching_keys(pattern))
        })
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            let mut n = 0;
            for key in self.matching_keys(pattern) {
                n += u64::from(self.cache.remove(&key).await.is_some());
                self.changed(&key);
            }
            Ok(n)
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            let mut outcome: Result<i64> = Ok(0);
            let mut added_weight = 0;
            self.cache
                .entry_by_ref(key)
                .and_compute_with(|cur| {
                    let (old, base) = match cur {
                        None => (0, None),
                        Some(e) => {
                            let e = e.into_value();
                            match parse_int(&e.data) {
                                Some(n) => (n, Some(e)),
                                None => {
                                    outcome = Err(Error::Decode(format!(
                                        "incr {key:?}: value is not an integer"
                                    )));
                                    return std::future::ready(Op::Nop);
                                }
                            }
                        }
                    };
                    let Some(new) = old.checked_add(delta) else {
                        outcome = Err(Error::Decode(format!("incr {key:?}: overflow")));
                        return std::future::ready(Op::Nop);
                    };
                    outcome = Ok(new);
                    let data = Bytes::from(new.to_string());
                    let entry = match base {
                        Some(e) => Entry { data, ..e },
                        None => Entry {
                            data,
                            expires_at: None,
                            tags: None,
                            id: self.shared.next_id.fetch_add(1, Relaxed),
                        },
                    };
                    added_weight = entry.weight(key);
                    std::future::ready(Op::Put(entry))
                })
                .await;
            if outcome.is_ok() {
                self.shared.bytes.fetch_add(added_weight, Relaxed);
                self.changed(key);
            }
            outcome
        })
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut found = false;
            let mut weight = 0;
            self.cache
                .entry_by_ref(key)
                .and_compute_with(|cur| {
                    let op = match cur {
                        None => Op::Nop,
                        Some(e) => {
                            found = true;
                            let e = Entry {
                                expires_at: deadline(ttl),
                                ..e.into_value()
                            };
                            weight = e.weight(key);
                            Op::Put(e)
                        }
                    };
                    std::future::ready(op)
                })
                .await;
            // The replaced copy is subtracted by the listener; add the new one.
            self.shared.bytes.fetch_add(weight, Relaxed);
            if found {
                self.changed(key);
            }
            Ok(found)
        })
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(async move {
            Ok(self
                .cache
                .get(key)
                .await
                .map_or(KeyTtl::Missing, |e| e.remaining()))
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { Ok(self.invalidate_tags_keys(tags).await?.len() as u64) })
    }

    fn invalidate_tags_keys<'a>(
        &'a self,
        tags: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let links: Vec<(String, u64)> = {
                let mut index = lock(&self.shared.tags);
                tags.iter()
                    .filter_map(|t| index.remove(t))
                    .flat_map(|keys| keys.into_iter())
                    .collect()
            };
            let mut removed = Vec::new();
            for (key, id) in links {
                if self.remove_if_id(&key, id).await {
                    removed.push(key);
                }
            }
            Ok(removed)
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            evictions: self.shared.evictions.load(Relaxed),
            expirations: self.shared.expirations.load(Relaxed),
            entries: self.cache.entry_count(),
            bytes: self.shared.bytes.load(Relaxed),
            errors: 0,
        }
    }

    fn reset_stats(&self) {
        self.shared.evictions.store(0, Relaxed);
        self.shared.expirations.store(0, Relaxed);
    }

    fn as_memory(&self) -> Option<&MemoryStore> {
        Some(self)
    }
}

fn parse_int(b: &[u8]) -> Option<i64> {
    if !crate::frame::is_ascii_integer(b) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}
