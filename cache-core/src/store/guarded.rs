//! [`GuardedStore`]: a remote store behind a [`Breaker`], with the invalidations it missed
//! replayed when it is back.
//!
//! [`Cache::from_url`](crate::Cache::from_url) puts every plain store with a remote server in
//! one: `redis://` (and `rediss://`, cluster, sentinel), `memcached://` with one server,
//! `postgres://` and `mysql://`. Not SQLite (a local file: a slow disk or a held lock is no
//! outage, and opening a breaker on it would only bypass the cache), not a Memcached URL with
//! several servers (each server is passed over on its own after it fails: one dead server must
//! not turn the others off), and not the tiers of a [`TieredStore`](crate::store::TieredStore),
//! which has a breaker per tier already.
//!
//! While the breaker is open every call fails at once with [`Error::Backend`], so cached
//! functions run their real work without waiting on the server (see
//! [the worst case](crate::store::Breaker#worst-case-during-an-outage)). What a caller changed
//! meanwhile is not lost: a delete, a pattern or tag invalidation, a namespace version bump, and
//! a write (as a delete of the key, since the server's older value must not be served again)
//! that failed or was refused are queued, and replayed in order before the first call that
//! reaches the server again, so that no read after the outage serves a value invalidated
//! during it. A command that a paused server receives before it stopped answering still runs
//! when it wakes, before the replay, which therefore comes last.
//!
//! Options in the URL query: `breaker_threshold=N` (consecutive backend errors that open it,
//! default 1) and `breaker_cooldown=1s` (time before the probe, default 1 s).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use super::tiered::outage::{Outage, Unsent};
use super::{
    BoxFuture, Breaker, Capabilities, Invalidation, InvalidationBus, KeyTtl, LocalRead, Store,
    StoreStats, WriteOptions,
};
use crate::error::{Error, Result};

/// A store behind a circuit breaker: while it is open every call fails at once with
/// [`Error::Backend`], and the deletes, invalidations and failed writes of that time are queued
/// and replayed before the first call that reaches the server again.
///
/// [`Cache::from_url`](crate::Cache::from_url) puts every plain store with a remote server in
/// one (`redis://`, `memcached://` with one server, `postgres://`, `mysql://`); not SQLite, not
/// a Memcached URL with several servers, not the tiers of a
/// [`TieredStore`](crate::store::TieredStore), which has a breaker per tier. URL options:
/// `breaker_threshold=N` (default 1) and `breaker_cooldown=1s` (default 1 s).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use cache_core::store::{GuardedStore, MemoryStore, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A RedisStore in practice; any store can be guarded.
/// let store = GuardedStore::new(Arc::new(MemoryStore::new()), 1, Duration::from_secs(1));
/// let cache = cache_core::Cache::builder().store(store).build().await?;
/// cache.set("k", &1).await?;
/// assert_eq!(cache.get::<i32>("k").await?, Some(1));
/// assert_eq!(cache.store().stats().breaker, Some(cache_core::store::BreakerState::Closed));
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub struct GuardedStore {
    inner: Arc<dyn Store>,
    breaker: Breaker,
    outage: Outage,
    /// One replay at a time: calls that reach the server wait for it, so none reads before it.
    replaying: tokio::sync::Mutex<()>,
    /// Calls answered at once because the breaker was open.
    short_circuited: AtomicU64,
}

impl std::fmt::Debug for GuardedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStore")
            .field("store", &self.inner)
            .field("breaker", &self.breaker.state())
            .field("pending", &self.outage.len())
            .finish()
    }
}

impl GuardedStore {
    /// Puts `inner` behind a breaker that opens after `threshold` consecutive backend errors
    /// and probes after `cooldown`.
    pub fn new(inner: Arc<dyn Store>, threshold: u32, cooldown: Duration) -> Self {
        Self {
            inner,
            breaker: Breaker::new(threshold, cooldown),
            outage: Outage::default(),
            replaying: tokio::sync::Mutex::new(()),
            short_circuited: AtomicU64::new(0),
        }
    }

    /// The guarded store.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use cache_core::store::{GuardedStore, MemoryStore, Store};
    /// let store = GuardedStore::new(Arc::new(MemoryStore::new()), 1, Duration::from_secs(1));
    /// assert_eq!(store.inner().name(), "memory");
    /// ```
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// The breaker in front of the store.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use cache_core::store::{BreakerState, GuardedStore, MemoryStore};
    /// let store = GuardedStore::new(Arc::new(MemoryStore::new()), 1, Duration::from_secs(1));
    /// assert_eq!(store.breaker().state(), BreakerState::Closed);
    /// ```
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn open_error(&self) -> Error {
        Error::Backend(format!(
            "{} store skipped: its circuit breaker is open after a failure (next try within {:?})",
            self.inner.name(),
            self.breaker.cooldown()
        ))
    }

    /// Runs one call through the breaker, after replaying what is queued. `missed` is what the
    /// call changes, queued when it fails on the backend or is not sent.
    async fn call<'a, T>(
        &'a self,
        missed: impl FnOnce() -> Option<Invalidation>,
        call: impl FnOnce(&'a dyn Store) -> BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        if !self.breaker.allow() {
            self.short_circuited.fetch_add(1, Relaxed);
            if let Some(inv) = missed() {
                self.outage.defer(inv);
            }
            return Err(self.open_error());
        }
        let in_flight = self.breaker.in_flight();
        let result = match self.replay().await {
            Ok(()) => call(&*self.inner).await,
            Err(e) => Err(e),
        };
        in_flight.answered();
        match &result {
            Ok(_) => {
                if self.breaker.success() {
                    tracing::info!(target: "cache", store = self.inner.name(), "cache store is back; circuit breaker closed");
                }
            }
            Err(e) if e.is_backend() => {
                self.breaker.failure();
                if let Some(inv) = missed() {
                    self.outage.defer(inv);
                }
            }
            // The server answered (a value that is not an integer, say): it is up.
            Err(Error::Decode(_)) => {
                self.breaker.success();
            }
            // Nothing was sent (bad input, unsupported): says nothing of the server.
            Err(_) => self.breaker.abandoned(),
        }
        result
    }

    /// Sends the queued invalidations, in order; fails on the first that fails on the backend
    /// (it stays queued, with the rest).
    async fn replay(&self) -> Result<()> {
        if !self.outage.queued() {
            return Ok(());
        }
        let _one = self.replaying.lock().await;
        let mut unsent = Unsent::take(&self.outage);
        let n = unsent.items.len();
        while let Some(inv) = unsent.items.front() {
            let inner = &self.inner;
            let sent = match inv {
                Invalidation::Keys(keys) => inner.delete_many(keys).await.map(drop),
                Invalidation::Pattern(p) => inner.delete_pattern(p).await.map(drop),
                Invalidation::Tags(tags) => inner.invalidate_tags(tags).await.map(drop),
                Invalidation::Version { prefix, version } => {
                    inner.publish_version(prefix, *version).await
                }
            };
            match sent {
                Ok(()) => {
                    unsent.items.pop_front();
                }
                Err(e) if e.is_backend() => return Err(e),
                Err(e) => {
                    tracing::warn!(target: "cache", error = %e, "the store refused a queued invalidation; dropped");
                    unsent.items.pop_front();
                }
            }
        }
        if n > 0 {
            tracing::info!(target: "cache", store = self.inner.name(), invalidations = n, "replayed the invalidations queued during the outage");
        }
        Ok(())
    }
}

fn keys(keys: &[&str]) -> Option<Invalidation> {
    Some(Invalidation::Keys(
        keys.iter().map(|k| (*k).to_owned()).collect(),
    ))
}

impl Store for GuardedStore {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(self.call(|| None, |s| s.get(key)))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.call(|| keys(&[key]), move |s| s.set(key, value, opts)))
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.call(|| None, move |s| s.add(key, value, opts)))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.call(|| keys(&[key]), |s| s.delete(key)))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.call(|| None, |s| s.ping()))
    }

    fn get_local(&self, key: &str) -> LocalRead {
        self.inner.get_local(key)
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(self.call(|| None, |s| s.get_many(keys)))
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        let missed = || {
            Some(Invalidation::Keys(
                entries.iter().map(|(k, _)| k.clone()).collect(),
            ))
        };
        Box::pin(self.call(missed, |s| s.set_many(entries, opts)))
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.call(
            || Some(Invalidation::Keys(keys.to_vec())),
            |s| s.delete_many(keys),
        ))
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.call(|| None, |s| s.exists(key)))
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(self.call(|| keys(&[key]), |s| s.take(key)))
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.call(|| None, |s| s.scan(pattern)))
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            self.call(
                || Some(Invalidation::Pattern(pattern.to_owned())),
                |s| s.delete_pattern(pattern),
            )
            .await
        })
    }

    fn clear<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            self.call(
                || Some(Invalidation::Pattern(pattern.to_owned())),
                |s| s.clear(pattern),
            )
            .await
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(self.call(|| None, move |s| s.incr(key, delta)))
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.call(|| None, move |s| s.expire(key, ttl)))
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(self.call(|| None, |s| s.ttl(key)))
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        Box::pin(self.call(|| None, |s| s.get_with_ttl(key)))
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.call(
            || Some(Invalidation::Tags(tags.to_vec())),
            |s| s.invalidate_tags(tags),
        ))
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            breaker: Some(self.breaker.state()),
            breaker_opens: self.breaker.opens(),
            short_circuited: self.short_circuited.load(Relaxed),
            pending: self.outage.len(),
            ..self.inner.stats()
        }
    }

    fn reset_stats(&self) {
        self.short_circuited.store(0, Relaxed);
        self.inner.reset_stats();
    }

    fn invalidation_bus(&self) -> BoxFuture<'_, Result<Option<Arc<dyn InvalidationBus>>>> {
        self.inner.invalidation_bus()
    }

    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(self.call(|| None, |s| s.load_version(prefix)))
    }

    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        let missed = move || {
            Some(Invalidation::Version {
                prefix: prefix.to_owned(),
                version,
            })
        };
        Box::pin(self.call(missed, move |s| s.publish_version(prefix, version)))
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.flush()
    }

    fn watch_version(&self, prefix: &str, version: Weak<AtomicU64>) {
        self.inner.watch_version(prefix, version);
    }
}
