//! The [`Store`] trait: the object-safe backend interface over bytes, and the built-in stores.
//!
//! A [`Cache`](crate::Cache) does everything typed (keys, namespaces, codecs, single-flight,
//! stats, tags where the store has none) and hands a store only full keys and framed bytes. A
//! store therefore never needs to know about prefixes or versions: it stores what it is given,
//! honours TTLs, and declares in [`Store::capabilities`] what else it does natively.
//!
//! The required core is small: [`get`](Store::get), [`set`](Store::set), [`add`](Store::add),
//! [`delete`](Store::delete) and [`ping`](Store::ping). Every other method has a default that
//! either works for every store (batches as loops, `exists` as a read) or answers
//! [`Error::Unsupported`]; a store overrides those it declares.
//!
//! Every built-in store runs the conformance suite in `cache_core::testing` (the `testing`
//! feature), which reads the capabilities and runs every check that applies; a custom store
//! should run it too.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};

mod breaker;
mod bus;
mod capabilities;
mod front;
mod guarded;
mod local;
#[cfg(feature = "memcached")]
pub mod memcached;
pub mod memory;
pub(crate) mod open;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod sql;
mod stats;
pub mod tiered;
pub(crate) mod version;

pub use breaker::{Breaker, BreakerState, DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_THRESHOLD};
pub use bus::{BusEvent, BusSink, Invalidation, InvalidationBus};
pub use capabilities::{Capabilities, Capability};
pub use guarded::GuardedStore;
pub use local::{LocalEntry, LocalRead};
#[cfg(feature = "memcached")]
pub use memcached::MemcachedStore;
pub use memory::{MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use sql::SqlStore;
pub use stats::StoreStats;
pub use tiered::{TierStats, TieredStore, TieredStoreBuilder};

/// A boxed, `Send` future: the return type of [`Store`] methods, which keeps the trait object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a value is written: its TTL and the tags it carries.
///
/// Tags are full tag names, already namespaced by the [`Cache`](crate::Cache); the cache passes
/// them only to a store that declares [`Capability::NativeTags`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::store::WriteOptions;
///
/// let opts = WriteOptions { ttl: Some(Duration::from_secs(60)), tags: vec!["app:t:users".into()] };
/// assert_eq!(opts.tags.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Time to live; `None` keeps the value until it is evicted or deleted.
    pub ttl: Option<Duration>,
    /// Tags; [`Store::invalidate_tags`] deletes every key written with one of them.
    pub tags: Vec<String>,
}

/// The remaining lifetime of a key, from [`Store::ttl`] and [`Cache::ttl`](crate::Cache::ttl).
///
/// ```
/// use std::time::Duration;
/// use cache_core::KeyTtl;
/// assert_eq!(KeyTtl::Expires(Duration::from_secs(1)).remaining(), Some(Duration::from_secs(1)));
/// assert_eq!(KeyTtl::Missing.remaining(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist.
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key expires after this long.
    Expires(Duration),
}

impl KeyTtl {
    /// The remaining time, if the key exists and expires.
    pub fn remaining(self) -> Option<Duration> {
        match self {
            KeyTtl::Expires(d) => Some(d),
            _ => None,
        }
    }
}

/// The answer of a store to an operation it does not declare.
pub(crate) fn unsupported<'a, T: Send + 'a>(
    store: &'static str,
    operation: &'static str,
) -> BoxFuture<'a, Result<T>> {
    Box::pin(std::future::ready(Err(Error::Unsupported {
        store,
        operation,
    })))
}

/// A cache backend over bytes.
///
/// Object-safe: a [`Cache`](crate::Cache) holds an `Arc<dyn Store>`. Keys passed in are full
/// keys (namespaced); patterns follow Redis glob semantics ([`crate::pattern`]). Methods return
/// [`Error::Backend`] or [`Error::Timeout`] when the
/// backend fails, and [`Error::Unsupported`] for what the store does
/// not do; they must never panic or hang past the store's own timeout.
///
/// A minimal store implements five methods (here over a `HashMap`; it has no TTLs, so it
/// refuses writes that ask for one rather than keep them for ever):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use bytes::Bytes;
/// use cache_core::store::{BoxFuture, Store, WriteOptions};
/// use cache_core::{Error, Result};
///
/// #[derive(Debug, Default)]
/// struct Map(Mutex<HashMap<String, Bytes>>);
///
/// impl Map {
///     fn put(&self, key: &str, value: Bytes, opts: &WriteOptions, only_new: bool) -> Result<bool> {
///         if opts.ttl.is_some() {
///             return Err(Error::Unsupported { store: "map", operation: "set with a TTL" });
///         }
///         let mut map = self.0.lock().unwrap();
///         if only_new && map.contains_key(key) {
///             return Ok(false);
///         }
///         map.insert(key.to_owned(), value);
///         Ok(true)
///     }
/// }
///
/// impl Store for Map {
///     fn name(&self) -> &'static str { "map" }
///     fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
///         Box::pin(async move { Ok(self.0.lock().unwrap().get(key).cloned()) })
///     }
///     fn set<'a>(&'a self, key: &'a str, value: Bytes, opts: &'a WriteOptions) -> BoxFuture<'a, Result<()>> {
///         Box::pin(async move { self.put(key, value, opts, false).map(|_| ()) })
///     }
///     fn add<'a>(&'a self, key: &'a str, value: Bytes, opts: &'a WriteOptions) -> BoxFuture<'a, Result<bool>> {
///         Box::pin(async move { self.put(key, value, opts, true) })
///     }
///     fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
///         Box::pin(async move { Ok(self.0.lock().unwrap().remove(key).is_some()) })
///     }
///     fn ping(&self) -> BoxFuture<'_, Result<()>> { Box::pin(async { Ok(()) }) }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::builder().store(Map::default()).build_now()?;
/// cache.set("k", &1).await?;
/// assert_eq!(cache.get::<i32>("k").await?, Some(1));
/// // No pattern scan declared: refused, not pretended.
/// assert!(matches!(cache.keys("*").await, Err(Error::Unsupported { .. })));
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs, errors and stats (`"memory"`, `"redis"`, …).
    fn name(&self) -> &'static str;

    /// What the store does beyond the required core; see [`Capability`].
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Reads a value.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>>;

    /// Writes a value, replacing any old one (and its TTL and tags).
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>>;

    /// Writes a value only if the key is absent; returns whether it was written.
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Deletes a key; returns whether it existed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Checks that the backend answers.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;

    /// Reads a value from this process's memory without a future, for the typed hit path
    /// (see [`LocalEntry`]). The default, for stores with no in-process part, is
    /// [`LocalRead::Unknown`].
    fn get_local(&self, key: &str) -> LocalRead {
        let _ = key;
        LocalRead::Unknown
    }

    /// Reads many values; the result has one slot per key, in order.
    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                out.push(self.get(k).await?);
            }
            Ok(out)
        })
    }

    /// Writes many values with the same options.
    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for (k, v) in entries {
                self.set(k, v.clone(), opts).await?;
            }
            Ok(())
        })
    }

    /// Deletes many keys; returns how many existed.
    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut n = 0;
            for k in keys {
                n += u64::from(self.delete(k).await?);
            }
            Ok(n)
        })
    }

    /// Returns whether a key exists (the default reads it).
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.get(key).await?.is_some()) })
    }

    /// Reads and deletes a value atomically ([`Capability::Take`]).
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        let _ = key;
        unsupported(self.name(), "take")
    }

    /// Lists the keys matching a glob pattern ([`Capability::PatternScan`]).
    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        let _ = pattern;
        unsupported(self.name(), "scan")
    }

    /// Deletes the keys matching a glob pattern; returns how many were deleted
    /// ([`Capability::PatternScan`]).
    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        let _ = pattern;
        unsupported(self.name(), "delete_pattern")
    }

    /// Deletes every key matching `pattern` (a namespace such as `app:v1:*`). The default
    /// delegates to [`delete_pattern`](Store::delete_pattern); a store never flushes more than
    /// the pattern.
    fn clear<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        self.delete_pattern(pattern)
    }

    /// Adds `delta` to the integer stored at `key` (0 when absent) and returns the new value
    /// ([`Capability::AtomicCounters`]). A value that is not an ASCII integer is an
    /// [`Error::Decode`].
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        let _ = (key, delta);
        unsupported(self.name(), "incr")
    }

    /// Sets (`Some`) or removes (`None`) a key's TTL; returns whether the key exists
    /// ([`Capability::Expire`]).
    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        let _ = (key, ttl);
        unsupported(self.name(), "expire")
    }

    /// Returns a key's remaining lifetime ([`Capability::TtlRead`]).
    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        let _ = key;
        unsupported(self.name(), "ttl")
    }

    /// Reads a value with its remaining lifetime ([`Capability::TtlRead`]; a tiered store
    /// bounds its upper copies by it). The default makes two calls; a networked store should
    /// answer in one round trip.
    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        Box::pin(async move {
            let ttl = self.ttl(key).await?;
            if ttl == KeyTtl::Missing {
                return Ok(None);
            }
            Ok(self.get(key).await?.map(|v| (v, ttl)))
        })
    }

    /// Deletes every key written with one of `tags` and returns those keys
    /// ([`Capability::NativeTags`]; a tiered store tells other processes to drop them).
    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        let _ = tags;
        unsupported(self.name(), "invalidate_tags")
    }

    /// The store's own counters, with one row per tier for a tiered store.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Resets the store's counters (evictions, expirations, per-tier counts).
    fn reset_stats(&self) {}

    /// The bus over which processes sharing this store tell each other what changed, if the
    /// store offers one (the Redis store's pub/sub). A tiered store over this store uses it.
    fn invalidation_bus(&self) -> BoxFuture<'_, Result<Option<Arc<dyn InvalidationBus>>>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The namespace version shared by every process using this store, if the store keeps one.
    /// A cache built on the store starts at the larger of this and its configured version.
    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        let _ = prefix;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Records a bumped namespace version so that other processes see it (a store shared
    /// across processes stores it and announces it). The default does nothing: the bump is
    /// local to this process.
    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        let _ = (prefix, version);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Writes out whatever the store holds back: a tiered store with write-behind writes its
    /// pending writes to the shared tier, and fails when some could not be written. Call it
    /// (through [`Cache::flush`](crate::Cache::flush)) on shutdown. The default, for stores
    /// that hold nothing back, does nothing.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use cache_core::store::{MemoryStore, Store};
    /// MemoryStore::new().flush().await?;
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Registers the cell holding a cache's current version, which the store raises when
    /// another process publishes a newer one. The default does nothing.
    fn watch_version(&self, prefix: &str, version: Weak<AtomicU64>) {
        let _ = (prefix, version);
    }
}
