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

    /// Re-arms a key's TTL to the default TTL; returns whether the key exists.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert!(!cache.touch("k").await?);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn touch(&self, key: &str) -> Result<bool> {
        self.expire(key, self.inner.default_ttl).await
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
