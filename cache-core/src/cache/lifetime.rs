//! Counters and lifetimes: `incr`/`decr`, `expire`, `touch`, `ttl`.

use std::time::Duration;

use super::Cache;
use crate::error::{Error, Result};
use crate::store::KeyTtl;

impl Cache {
    /// Adds `delta` to a counter (created at 0) and returns the new value. Counters are stored
    /// as plain integers, readable with [`get::<i64>`](Cache::get), and have no TTL unless one is
    /// set with [`expire`](Cache::expire).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.incr("visits", 1).await?, 1);
    /// assert_eq!(cache.incr("visits", 5).await?, 6);
    /// assert_eq!(cache.decr("visits", 2).await?, 4);
    /// assert_eq!(cache.get::<i64>("visits").await?, Some(4));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let full = self.full_key(key)?;
        self.inner
            .store
            .incr(&full, delta)
            .await
            .map_err(|e| match e {
                e @ Error::Decode(_) => e,
                e => self.backend_error("incr", &full, e),
            })
    }

    /// Subtracts `delta` from a counter; see [`incr`](Cache::incr).
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        let delta = delta
            .checked_neg()
            .ok_or_else(|| Error::InvalidKey(format!("decr {key:?}: delta {delta} overflows")))?;
        self.incr(key, delta).await
    }

    /// Sets a key's TTL (`None`: never expire); returns whether the key exists.
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("k", &1).await?;
    /// assert!(cache.expire("k", Some(Duration::from_secs(9))).await?);
    /// assert!(!cache.expire("missing", None).await?);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let full = self.full_key(key)?;
        if ttl == Some(Duration::ZERO) {
            return self.delete(key).await;
        }
        self.call("expire", &full, self.inner.store.expire(&full, ttl))
            .await
    }

    /// Re-arms a key to its own TTL, the one it was written with, counted again from now;
    /// returns whether the key exists. `touch` never makes a key permanent:
    ///
    /// - a value written with a TTL (given in [`SetOptions`](crate::SetOptions), or the
    ///   cache's default TTL of that moment; with `stale = ..`, the TTL plus the stale window)
    ///   gets that whole TTL again, whatever the cache's default TTL is now;
    /// - a value written without a TTL keeps its TTL as it is (none, or what
    ///   [`expire`](Cache::expire) set since);
    /// - a key whose own TTL is unknown keeps its TTL as it is: a counter from
    ///   [`incr`](Cache::incr), bytes this toolkit did not frame, and values written before
    ///   frames recorded their TTL. Give those a TTL with [`expire`](Cache::expire).
    ///
    /// The TTL is read from the stored value's header, so `touch` is a read and then, for a
    /// value with a TTL, an [`expire`](Cache::expire): a write landing between the two gets the
    /// TTL of the value it replaced. A stale-marked value is kept longer, not made fresh.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{KeyTtl, SetOptions};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory(); // no default TTL
    /// assert!(!cache.touch("k").await?);
    ///
    /// cache.set_with("session", &1, SetOptions::new().ttl(Duration::from_secs(600))).await?;
    /// cache.expire("session", Some(Duration::from_secs(5))).await?;
    /// assert!(cache.touch("session").await?); // back to its own 600 s
    /// assert!(matches!(cache.ttl("session").await?, KeyTtl::Expires(d) if d > Duration::from_secs(500)));
    ///
    /// cache.set("forever", &1).await?;
    /// cache.expire("forever", Some(Duration::from_secs(60))).await?;
    /// assert!(cache.touch("forever").await?); // no own TTL: left as it is, never made permanent
    /// assert!(matches!(cache.ttl("forever").await?, KeyTtl::Expires(_)));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn touch(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key)?;
        let Some(bytes) = self
            .call("touch", &full, self.inner.store.get(&full))
            .await?
        else {
            return Ok(false);
        };
        match crate::frame::written_ttl(&bytes) {
            Some(ttl) => {
                self.call("touch", &full, self.inner.store.expire(&full, Some(ttl)))
                    .await
            }
            None => Ok(true),
        }
    }

    /// A key's remaining lifetime.
    ///
    /// ```
    /// use cache_core::KeyTtl;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.ttl("k").await?, KeyTtl::Missing);
    /// cache.set("k", &1).await?;
    /// assert_eq!(cache.ttl("k").await?, KeyTtl::Persistent);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let full = self.full_key(key)?;
        self.call("ttl", &full, self.inner.store.ttl(&full)).await
    }
}
