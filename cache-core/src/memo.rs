//! The in-process tables behind `#[memoize]`, and [`MemoHandle`], the handle its generated
//! `{fn}_memo()` accessor returns.
//!
//! Each memoized function owns one table (a `static` inside its accessor), a bounded
//! [`quick_cache`] map from the owned arguments to the value: no serialization, no store, no
//! `Cache`. A hit is a hash, a shard read lock and a clone of the value.

use std::any::Any;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// A handle on the memo table of one `#[memoize]` function: clear it, invalidate one entry,
/// read its stats. Get it from the generated accessor, `{fn}_memo()` (or `Self::{fn}_memo()`).
///
/// ```
/// use cache_core::memoize;
///
/// #[memoize(capacity = 100)]
/// fn square(n: u32) -> u64 {
///     u64::from(n) * u64::from(n)
/// }
///
/// square(3);
/// square(3);
/// let memo = square_memo();
/// assert_eq!((memo.stats().hits, memo.stats().misses, memo.len()), (1, 1, 1));
/// assert!(memo.invalidate(&3u32));
/// assert!(!memo.invalidate(&3u32));
/// ```
#[derive(Clone, Copy)]
pub struct MemoHandle {
    slot: &'static MemoSlot,
}

impl std::fmt::Debug for MemoHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoHandle").field("capacity", &self.slot.capacity).field("len", &self.len()).finish()
    }
}

/// A memo table's counters, from [`MemoHandle::stats`].
///
/// ```
/// let s = cache_core::memo::MemoStats::default();
/// assert_eq!(s.hits + s.misses, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoStats {
    /// Calls answered from the table.
    pub hits: u64,
    /// Calls that ran the function (expired entries included).
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
    /// The most entries the table keeps.
    pub capacity: u64,
}

impl MemoHandle {
    #[doc(hidden)]
    pub fn new(slot: &'static MemoSlot) -> Self {
        Self { slot }
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.slot.each(|t| t.clear());
    }

    /// Drops the entry of one key; returns whether there was one.
    ///
    /// The key is the function's single argument, or the tuple of its arguments (the receiver
    /// first for a method), owned (`String` for `&str`), or the value of `key = ..`. It must
    /// be of exactly that type: `&5u64`, not `&5`, for a `u64` argument. A key of another type
    /// matches nothing and returns `false`.
    pub fn invalidate<K: Hash + Eq + Send + Sync + 'static>(&self, key: &K) -> bool {
        let mut removed = false;
        self.slot.each(|t| removed |= t.remove_any(key));
        removed
    }

    /// The number of entries held.
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.slot.each(|t| n += t.len());
        n
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hits, misses, entries and capacity.
    pub fn stats(&self) -> MemoStats {
        let mut s = MemoStats { capacity: self.slot.capacity as u64, ..MemoStats::default() };
        self.slot.each(|t| {
            let (hits, misses) = t.counts();
            s.hits += hits;
            s.misses += misses;
            s.entries += t.len() as u64;
        });
        s
    }

    /// The typed table for keys `K` and values `V`, made on first use.
    pub(crate) fn table<K, V>(&self, ttl: impl Fn() -> Option<Duration>) -> &'static MemoTable<K, V>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.slot.table(ttl)
    }
}

/// The storage of one memoized function. A function in a generic `impl` is one function to the
/// macro but several to the compiler, so a slot holds one table per key and value type.
#[doc(hidden)]
pub struct MemoSlot {
    capacity: usize,
    first: OnceLock<&'static dyn ErasedTable>,
    more: RwLock<Vec<&'static dyn ErasedTable>>,
}

impl MemoSlot {
    #[doc(hidden)]
    pub const fn new(capacity: usize) -> Self {
        Self { capacity, first: OnceLock::new(), more: RwLock::new(Vec::new()) }
    }

    fn table<K, V>(&self, ttl: impl Fn() -> Option<Duration>) -> &'static MemoTable<K, V>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let make = || -> &'static dyn ErasedTable { Box::leak(Box::new(MemoTable::<K, V>::new(self.capacity, ttl()))) };
        let first = *self.first.get_or_init(make);
        if let Some(t) = first.as_any().downcast_ref() {
            return t;
        }
        if let Some(t) = self.more.read().unwrap_or_else(PoisonError::into_inner).iter().find_map(|t| t.as_any().downcast_ref()) {
            return t;
        }
        let mut more = self.more.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = more.iter().find_map(|t| t.as_any().downcast_ref()) {
            return t;
        }
        let t = make();
        more.push(t);
        t.as_any().downcast_ref().unwrap_or_else(|| unreachable!("a table just made has its own type"))
    }

    fn each(&self, mut f: impl FnMut(&dyn ErasedTable)) {
        if let Some(t) = self.first.get() {
            f(*t);
        }
        for t in self.more.read().unwrap_or_else(PoisonError::into_inner).iter() {
            f(*t);
        }
    }
}

trait ErasedTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn clear(&self);
    fn len(&self) -> usize;
    fn counts(&self) -> (u64, u64);
    fn remove_any(&self, key: &dyn Any) -> bool;
}

#[derive(Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    expires: Option<Instant>,
}

/// One typed table.
pub(crate) struct MemoTable<K, V> {
    map: quick_cache::sync::Cache<K, Entry<V>>,
    ttl: Option<Duration>,
    /// Reads that found an expired entry: a hit to `quick_cache`, a miss to us.
    expired: AtomicU64,
}

impl<K, V> MemoTable<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Self { map: quick_cache::sync::Cache::new(capacity.max(1)), ttl, expired: AtomicU64::new(0) }
    }

    pub(crate) fn entry(&self, value: V) -> Entry<V> {
        Entry { value, expires: self.ttl.and_then(|t| Instant::now().checked_add(t)) }
    }

    /// Whether `e` is still fresh; an expired entry is removed and counted.
    pub(crate) fn fresh(&self, key: &K, e: &Entry<V>) -> bool {
        match e.expires {
            Some(at) if Instant::now() >= at => {
                self.expired.fetch_add(1, Relaxed);
                self.map.remove(key);
                false
            }
            _ => true,
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let e = self.map.get(key)?;
        self.fresh(key, &e).then_some(e.value)
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        self.map.insert(key, self.entry(value));
    }

    pub(crate) fn map(&self) -> &quick_cache::sync::Cache<K, Entry<V>> {
        &self.map
    }
}

impl<K, V> ErasedTable for MemoTable<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clear(&self) {
        self.map.clear();
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn counts(&self) -> (u64, u64) {
        let expired = self.expired.load(Relaxed);
        (self.map.hits().saturating_sub(expired), self.map.misses() + expired)
    }
    fn remove_any(&self, key: &dyn Any) -> bool {
        key.downcast_ref::<K>().is_some_and(|k| self.map.remove(k).is_some())
    }
}
