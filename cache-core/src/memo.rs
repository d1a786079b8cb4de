//! The in-process tables behind `#[memoize]`, and [`MemoHandle`], the handle its generated
//! `{fn}_memo()` accessor returns.
//!
//! Each memoized function owns one table (a `static` inside its accessor), a bounded
//! [`quick_cache`] map from the owned arguments to the value: no serialization, no store, no
//! `Cache`. A hit is a hash, a shard read lock and a clone of the value.
//!
//! Why `quick_cache` and not `moka::sync`: on a hit, `quick_cache::sync::Cache::get` takes
//! 0.06x to 0.17x the time of `moka::sync::Cache::get`, on one thread and on two (see
//! `benches/macros.rs`, groups `table_hit_*`); moka's per-read bookkeeping (access-order queues,
//! read buffers) costs more than a `#[cached]`-crate `Mutex<SizedCache>` hit, which
//! `#[memoize]` must beat. Both give bounded, concurrent tables with near-LRU eviction.
//!
//! A free function whose key and value types the macro can name gets a typed `static`
//! pointing at its table; methods (whose types mention `Self`, which a `static` cannot) find
//! their table by `TypeId` on each call, which costs a few nanoseconds more.

use std::any::Any;
use std::hash::Hash;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::counter::StripedCounter;

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
        f.debug_struct("MemoHandle")
            .field("capacity", &self.slot.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// A memo table's counters, from [`MemoHandle::stats`]. Every call of the function counts
/// once: `hits + misses` is the number of calls (sync or async), whatever the concurrency.
///
/// ```
/// let s = cache_core::memo::MemoStats::default();
/// assert_eq!(s.hits + s.misses, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoStats {
    /// Calls answered from the table, without running the function: a value found there, or
    /// (async) the value of a concurrent call for the same key that the call waited for.
    pub hits: u64,
    /// Calls that ran the function (an expired entry found counts here).
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
    ///
    /// ```
    /// use cache_core::memoize;
    ///
    /// #[memoize(capacity = 10)]
    /// async fn double(n: u32) -> u32 {
    ///     n * 2
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// double(1).await; // runs the body: a miss
    /// double(1).await; // from the table: a hit
    /// let s = double_memo().stats();
    /// assert_eq!((s.hits, s.misses, s.entries), (1, 1, 1));
    /// # });
    /// ```
    pub fn stats(&self) -> MemoStats {
        let mut s = MemoStats {
            capacity: self.slot.capacity as u64,
            ..MemoStats::default()
        };
        self.slot.each(|t| {
            let (hits, misses) = t.counts();
            s.hits += hits;
            s.misses += misses;
            s.entries += t.len() as u64;
        });
        s
    }

    /// Sets the hit and miss counts to zero; the entries stay.
    ///
    /// ```
    /// use cache_core::memoize;
    ///
    /// #[memoize(capacity = 10)]
    /// fn triple(n: u32) -> u32 {
    ///     n * 3
    /// }
    ///
    /// triple(2);
    /// triple(2);
    /// triple_memo().reset_stats();
    /// let s = triple_memo().stats();
    /// assert_eq!((s.hits, s.misses, s.entries), (0, 0, 1));
    /// triple(2);
    /// assert_eq!(triple_memo().stats().hits, 1);
    /// ```
    pub fn reset_stats(&self) {
        self.slot.each(|t| t.reset_counts());
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
    first: OnceLock<Table>,
    more: RwLock<Vec<Table>>,
}

/// One leaked table, seen two ways: `any` for the typed hit path (one virtual call),
/// `erased` for the handle's untyped operations.
#[derive(Clone, Copy)]
struct Table {
    any: &'static (dyn Any + Send + Sync),
    erased: &'static dyn ErasedTable,
}

impl MemoSlot {
    #[doc(hidden)]
    pub const fn new(capacity: usize) -> Self {
        Self {
            capacity,
            first: OnceLock::new(),
            more: RwLock::new(Vec::new()),
        }
    }

    fn table<K, V>(&self, ttl: impl Fn() -> Option<Duration>) -> &'static MemoTable<K, V>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let make = || {
            let t: &'static MemoTable<K, V> =
                Box::leak(Box::new(MemoTable::<K, V>::new(self.capacity, ttl())));
            Table { any: t, erased: t }
        };
        if let Some(t) = self.first.get_or_init(make).any.downcast_ref() {
            return t;
        }
        let find = |tables: &[Table]| tables.iter().find_map(|t| t.any.downcast_ref());
        if let Some(t) = find(&self.more.read().unwrap_or_else(PoisonError::into_inner)) {
            return t;
        }
        let mut more = self.more.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = find(&more) {
            return t;
        }
        let t = make();
        more.push(t);
        t.any
            .downcast_ref()
            .unwrap_or_else(|| unreachable!("a table just made has its own type"))
    }

    fn each(&self, mut f: impl FnMut(&dyn ErasedTable)) {
        if let Some(t) = self.first.get() {
            f(t.erased);
        }
        for t in self
            .more
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f(t.erased);
        }
    }
}

trait ErasedTable: Send + Sync {
    fn clear(&self);
    fn len(&self) -> usize;
    fn counts(&self) -> (u64, u64);
    fn reset_counts(&self);
    fn remove_any(&self, key: &dyn Any) -> bool;
}

#[derive(Clone)]
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    /// Nanoseconds since [`epoch`] after which the entry is stale; 0: never. A `u64` rather
    /// than an `Option<Instant>` keeps entries small, and a hit copies the entry.
    expires: u64,
}

/// The process's first use of a memo TTL.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One typed table.
#[doc(hidden)]
#[allow(unreachable_pub)]
pub struct MemoTable<K, V> {
    map: quick_cache::sync::Cache<K, Entry<V>>,
    ttl: Option<Duration>,
    /// Calls answered from the table. Counted here, once per call, rather than read from
    /// `quick_cache`, which counts its lookups: an async miss looks up twice (and a waiter
    /// more), and an expired entry is a hit to it.
    hits: StripedCounter,
    /// Calls that ran the body.
    misses: StripedCounter,
}

impl<K, V> MemoTable<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Self {
            map: quick_cache::sync::Cache::new(capacity.max(1)),
            ttl,
            hits: StripedCounter::default(),
            misses: StripedCounter::default(),
        }
    }

    pub(crate) fn entry(&self, value: V) -> Entry<V> {
        let expires = self.ttl.map_or(0, |t| {
            let ttl = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            now_ns().saturating_add(ttl).max(1)
        });
        Entry { value, expires }
    }

    /// Whether `e` is still fresh; an expired entry is removed.
    pub(crate) fn fresh(&self, key: &K, e: &Entry<V>) -> bool {
        if e.expires != 0 && now_ns() >= e.expires {
            self.map.remove(key);
            return false;
        }
        true
    }

    /// The fresh value of `key`, counted as a hit; `None` (counted as a miss): the caller
    /// runs the body.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let found = self.map.get(key).filter(|e| self.fresh(key, e));
        match found {
            Some(e) => {
                self.hit();
                Some(e.value)
            }
            None => {
                self.miss();
                None
            }
        }
    }

    /// Counts a call answered from the table.
    #[inline]
    pub(crate) fn hit(&self) {
        self.hits.add(1);
    }

    /// Counts a call that runs the body.
    pub(crate) fn miss(&self) {
        self.misses.add(1);
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
    fn clear(&self) {
        self.map.clear();
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn counts(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }
    fn reset_counts(&self) {
        self.hits.reset();
        self.misses.reset();
    }
    fn remove_any(&self, key: &dyn Any) -> bool {
        key.downcast_ref::<K>()
            .is_some_and(|k| self.map.remove(k).is_some())
    }
}

/// Where the generated code finds its typed table.
#[doc(hidden)]
pub trait TableSource<K, V> {
    /// The table, made on first use with this TTL.
    fn table(self, ttl: impl Fn() -> Option<Duration>) -> &'static MemoTable<K, V>;
}

impl<K, V> TableSource<K, V> for MemoHandle
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The general path: a lookup by type in the slot (methods, explicit keys, patterns).
    fn table(self, ttl: impl Fn() -> Option<Duration>) -> &'static MemoTable<K, V> {
        MemoHandle::table(&self, ttl)
    }
}

/// A typed shortcut to a free function's table, for functions whose key and value types the
/// macro can name: a hit then skips the lookup by type.
#[doc(hidden)]
pub struct TypedSlot<K: 'static, V: 'static> {
    handle: fn() -> MemoHandle,
    table: OnceLock<&'static MemoTable<K, V>>,
}

impl<K, V> TypedSlot<K, V> {
    #[doc(hidden)]
    pub const fn new(handle: fn() -> MemoHandle) -> Self {
        Self {
            handle,
            table: OnceLock::new(),
        }
    }
}

impl<K, V> TableSource<K, V> for &'static TypedSlot<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn table(self, ttl: impl Fn() -> Option<Duration>) -> &'static MemoTable<K, V> {
        self.table.get_or_init(|| (self.handle)().table(ttl))
    }
}
