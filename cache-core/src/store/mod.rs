//! The [`Store`] trait: the object-safe backend interface over bytes, and the built-in stores.
//!
//! A [`Cache`](crate::Cache) does everything typed (keys, namespaces, codecs, single-flight,
//! stats) and hands a store only full keys and framed bytes. A store therefore never needs to
//! know about prefixes or versions: it stores what it is given, honours TTLs and tags, and
//! matches glob patterns with the semantics of Redis `SCAN MATCH`.
//!
//! Every built-in store runs the conformance suite in [`testing`](crate::testing); a custom
//! store should too.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use crate::error::Result;
use crate::stats::StoreStats;

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
pub mod tiered;

pub use memory::{MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use tiered::{
    Breaker, BreakerState, BusEvent, BusSink, Invalidation, InvalidationBus, TierStats,
    TieredStore, TieredStoreBuilder,
};

/// A boxed, `Send` future: the return type of [`Store`] methods, which keeps the trait object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a value is written: its TTL and the tags it carries.
///
/// Tags are full tag names, already namespaced by the [`Cache`](crate::Cache).
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

/// A cache backend over bytes.
///
/// Object-safe: a [`Cache`](crate::Cache) holds an `Arc<dyn Store>`. Keys passed in are full
/// keys (namespaced); patterns follow Redis glob semantics ([`crate::pattern`]). Methods return
/// [`Error::Backend`](crate::Error::Backend) or [`Error::Timeout`](crate::Error::Timeout) when the
/// backend fails; they must never panic or hang past the store's own timeout.
///
/// Implementing a store (here a thin wrapper that delegates to [`MemoryStore`]):
///
/// ```
/// use bytes::Bytes;
/// use std::time::Duration;
/// use cache_core::store::{BoxFuture, KeyTtl, MemoryStore, Store, WriteOptions};
/// use cache_core::{Result, StoreStats};
///
/// #[derive(Debug, Default)]
/// struct Wrapped(MemoryStore);
///
/// impl Store for Wrapped {
///     fn name(&self) -> &'static str { "wrapped" }
///     fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> { self.0.get(key) }
///     fn set<'a>(&'a self, key: &'a str, value: Bytes, opts: &'a WriteOptions) -> BoxFuture<'a, Result<()>> { self.0.set(key, value, opts) }
///     fn add<'a>(&'a self, key: &'a str, value: Bytes, opts: &'a WriteOptions) -> BoxFuture<'a, Result<bool>> { self.0.add(key, value, opts) }
///     fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> { self.0.delete(key) }
///     fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> { self.0.take(key) }
///     fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> { self.0.exists(key) }
///     fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> { self.0.scan(pattern) }
///     fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> { self.0.delete_pattern(pattern) }
///     fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> { self.0.incr(key, delta) }
///     fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> { self.0.expire(key, ttl) }
///     fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> { self.0.ttl(key) }
///     fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<u64>> { self.0.invalidate_tags(tags) }
///     fn ping(&self) -> BoxFuture<'_, Result<()>> { self.0.ping() }
///     fn stats(&self) -> StoreStats { self.0.stats() }
/// }
///
/// let cache = cache_core::Cache::builder().store(Wrapped::default()).build_now().unwrap();
/// # let _ = cache;
/// ```
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and stats (`"memory"`, `"redis"`, …).
    fn name(&self) -> &'static str;

    /// Reads a value.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>>;

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

    /// Reads a value with its remaining lifetime (a tiered store bounds its L1 copy by it).
    /// The default makes two calls; a networked store should answer in one round trip.
    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        Box::pin(async move {
            let Some(value) = self.get(key).await? else {
                return Ok(None);
            };
            Ok(match self.ttl(key).await? {
                KeyTtl::Missing => None,
                ttl => Some((value, ttl)),
            })
        })
    }

    /// Writes a value, replacing any old one (and its TTL and tags).
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>>;

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

    /// Writes a value only if the key is absent; returns whether it was written.
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Deletes a key; returns whether it existed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>>;

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

    /// Reads and deletes a value atomically.
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>>;

    /// Returns whether a key exists.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Lists the keys matching a glob pattern.
    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;

    /// Deletes the keys matching a glob pattern; returns how many were deleted.
    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Adds `delta` to the integer stored at `key` (0 when absent) and returns the new value.
    /// A value that is not an ASCII integer is an [`Error::Decode`](crate::Error::Decode).
    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>>;

    /// Sets (`Some`) or removes (`None`) a key's TTL; returns whether the key exists.
    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>>;

    /// Returns a key's remaining lifetime.
    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>>;

    /// Deletes every key written with one of `tags`; returns how many were deleted.
    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<u64>>;

    /// Like [`invalidate_tags`](Store::invalidate_tags), returning the keys that carried the
    /// tags (a tiered store tells other processes to drop them from memory). The default
    /// returns no keys; stores that can list a tag's members should override it.
    fn invalidate_tags_keys<'a>(
        &'a self,
        tags: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            self.invalidate_tags(tags).await?;
            Ok(Vec::new())
        })
    }

    /// Deletes every key matching `pattern` (a namespace such as `app:v1:*`). The default
    /// delegates to [`delete_pattern`](Store::delete_pattern); a store never flushes more than
    /// the pattern.
    fn clear<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        self.delete_pattern(pattern)
    }

    /// Checks that the backend answers.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;

    /// The store's own counters.
    fn stats(&self) -> StoreStats;

    /// Resets the store's counters (evictions, expirations).
    fn reset_stats(&self) {}

    /// The namespace version shared by every process using this store, if the store keeps one.
    /// A cache built on the store starts at the larger of this and its configured version.
    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        let _ = prefix;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Records a bumped namespace version so that other processes see it (a store shared
    /// across processes stores it and tells the others). The default does nothing: the bump is
    /// local to this process.
    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        let _ = (prefix, version);
        Box::pin(std::future::ready(Ok(())))
    }

    /// Registers the cell holding a cache's current version, which the store raises when
    /// another process publishes a newer one. The default does nothing.
    fn watch_version(&self, prefix: &str, version: std::sync::Weak<std::sync::atomic::AtomicU64>) {
        let _ = (prefix, version);
    }

    /// Per-tier counters, for a tiered store.
    fn tier_stats(&self) -> Option<TierStats> {
        None
    }

    /// This store as a [`TieredStore`], if it is one.
    fn as_tiered(&self) -> Option<&TieredStore> {
        None
    }

    /// This store as a [`MemoryStore`], if it is one (lets the cache take a faster read path).
    fn as_memory(&self) -> Option<&MemoryStore> {
        None
    }
}
