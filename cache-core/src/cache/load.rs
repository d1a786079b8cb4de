//! Single-flight loads: [`Cache::get_or_set`], [`Cache::try_get_or_set`] and the engine the
//! `#[cached]` macro runs on.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use super::lease::Turn;
use super::tags::WriteTags;
use super::typed::{CacheValue, Read};
use super::Cache;
use crate::flight::{self, Join, Outcome};
use crate::frame::has_tag_stamps;
use crate::options::{Lock, SetOptions};

/// How a load shares a loader's error with the callers waiting on it.
pub(crate) trait Sharing<E> {
    type Out;
    fn lead(e: E) -> (Self::Out, Option<Arc<dyn Any + Send + Sync>>);
    fn follow(shared: Arc<dyn Any + Send + Sync>) -> Option<Self::Out>;
}

/// Waiters get the leader's error as `Arc<E>`.
pub(crate) struct ShareErrors;

impl<E: Send + Sync + 'static> Sharing<E> for ShareErrors {
    type Out = Arc<E>;
    fn lead(e: E) -> (Arc<E>, Option<Arc<dyn Any + Send + Sync>>) {
        let e = Arc::new(e);
        let shared: Arc<dyn Any + Send + Sync> = e.clone();
        (e, Some(shared))
    }
    fn follow(shared: Arc<dyn Any + Send + Sync>) -> Option<Arc<E>> {
        shared.downcast::<E>().ok()
    }
}

/// Waiters whose leader failed run their own loader, so each caller gets an owned `E`.
pub(crate) struct OwnErrors;

impl<E> Sharing<E> for OwnErrors {
    type Out = E;
    fn lead(e: E) -> (E, Option<Arc<dyn Any + Send + Sync>>) {
        (e, None)
    }
    fn follow(_: Arc<dyn Any + Send + Sync>) -> Option<E> {
        None
    }
}

impl Cache {
    /// Returns the cached value, or runs `loader`, caches its value and returns it.
    ///
    /// Concurrent callers of one cold key run one loader (unless `opts.lock(false)`); see
    /// [Concurrent calls on the same key](Cache#concurrent-calls-on-the-same-key). With
    /// [`SetOptions::stale`], a value past its TTL is still served to concurrent callers while
    /// one caller refreshes it. With [`SetOptions::distributed_lock`] (or
    /// [`lease`](SetOptions::lease)), concurrent callers in every process sharing the store run
    /// one loader (see [`Lock::Distributed`]). Cache failures are logged and counted, never
    /// returned: the loader runs instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// let v: u64 = cache.get_or_set("answer", Duration::from_secs(60), || async { 42 }).await;
    /// assert_eq!(v, 42);
    /// let v: u64 = cache.get_or_set("answer", (), || async { unreachable!() }).await;
    /// assert_eq!(v, 42);
    /// # });
    /// ```
    pub async fn get_or_set<T, F, Fut>(
        &self,
        key: &str,
        opts: impl Into<SetOptions>,
        loader: F,
    ) -> T
    where
        T: Serialize + CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.note_read(key);
        let loader = || async move { Ok::<T, std::convert::Infallible>(loader().await) };
        match self
            .load::<T, _, OwnErrors, _, _>(key, &opts.into(), loader, |_| true)
            .await
        {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_set`](Cache::get_or_set) with a fallible loader: an `Err` is not cached,
    /// and reaches every caller waiting on the same load (as the same `Arc`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// let r = cache.try_get_or_set::<u32, _, _, _>("k", (), || async { Err("db down") }).await;
    /// assert_eq!(*r.unwrap_err(), "db down");
    /// let r = cache.try_get_or_set::<u32, &str, _, _>("k", (), || async { Ok(1) }).await;
    /// assert_eq!(r.unwrap(), 1);
    /// # });
    /// ```
    pub async fn try_get_or_set<T, E, F, Fut>(
        &self,
        key: &str,
        opts: impl Into<SetOptions>,
        loader: F,
    ) -> Result<T, Arc<E>>
    where
        T: Serialize + CacheValue,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.note_read(key);
        self.load::<T, E, ShareErrors, _, _>(key, &opts.into(), loader, |_| true)
            .await
    }

    /// The engine behind `get_or_set` and the `#[cached]` macro.
    pub(crate) async fn load<T, E, S, F, Fut>(
        &self,
        key: &str,
        opts: &SetOptions,
        loader: F,
        store_if: impl FnOnce(&T) -> bool,
    ) -> Result<T, S::Out>
    where
        T: Serialize + CacheValue,
        S: Sharing<E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // The hit path: answered in process without building an owned key. What else it read
        // stands as the first read below (an undecodable value is counted once).
        let mut first = match self.read_local::<T>(key) {
            Ok(Some(Read::Fresh(v))) => {
                self.count_read(true);
                return Ok(v);
            }
            Ok(read) => read,
            Err(_) => None,
        };
        let full = match self.full_key(key) {
            Ok(full) => full,
            Err(e) => {
                self.count(|c| &c.errors, 1);
                tracing::warn!(target: "cache", key, error = %e, "uncacheable key; running the loader");
                return loader().await.map_err(|e| S::lead(e).0);
            }
        };
        let mut stale = None;
        // Whether the store failed in this call: then it is asked nothing more (no second
        // read, no lease, no write), so a dead store costs a call at most one command timeout.
        let mut failed = false;
        loop {
            let read = match first.take() {
                Some(read) => Ok(read),
                None if failed => Ok(Read::Miss),
                None => self.read::<T>(&full).await,
            };
            match read {
                Ok(Read::Fresh(v)) => {
                    self.count_read(true);
                    return Ok(v);
                }
                Ok(Read::Stale(v)) => stale = Some(v),
                Ok(Read::Miss) => {}
                // Already counted and logged: fall through to the loader.
                Err(_) => failed = true,
            }
            if opts.lock == Lock::Off {
                self.count_read(false);
                return self
                    .run_loader::<T, E, S, _, _>(&full, opts, loader, store_if, None, failed)
                    .await
                    .0;
            }
            match self.inner.flights.join(&full) {
                Join::Leader(leader) => {
                    if stale.is_none() && !failed {
                        // A load may have finished between our read and our join.
                        // (Not for a value with tag stamps: only the read above checks those.)
                        match self.read_bytes(&full).await {
                            Ok(Some(bytes)) => {
                                // Quietly: an undecodable value was already counted by the
                                // read above.
                                let decoded = (!has_tag_stamps(&bytes))
                                    .then(|| self.decode::<T>(&full, &bytes));
                                if let Some(Ok((v, false))) = decoded {
                                    self.count_read(true);
                                    leader.finish(Outcome::Value(bytes));
                                    return Ok(v);
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                self.backend_error("get", &full, e);
                                failed = true;
                            }
                        }
                    }
                    let mut held = None;
                    let lease = self.lease_of(opts.lock).filter(|_| !failed);
                    if let Some(lease) = lease {
                        // With a stale value to serve, do not wait for another process.
                        match self.lease_turn::<T>(&full, lease, stale.is_none()).await {
                            Turn::Load(h) => held = h,
                            Turn::Loaded(v, bytes) => {
                                self.count_read(true);
                                leader.finish(Outcome::Value(bytes));
                                return Ok(v);
                            }
                            Turn::Busy => {
                                if let Some(v) = stale.take() {
                                    self.count_read(true);
                                    return Ok(v);
                                }
                            }
                        }
                    }
                    self.count_read(false);
                    let (out, write_failed) = self
                        .run_loader::<T, E, S, _, _>(
                            &full,
                            opts,
                            loader,
                            store_if,
                            Some(leader),
                            failed,
                        )
                        .await;
                    if let Some(held) = held {
                        // After a failed write the store is left alone: the lease expires.
                        if !write_failed {
                            self.release(held).await;
                        }
                    }
                    return out;
                }
                Join::Follower(rx) => {
                    if let Some(v) = stale.take() {
                        // Someone is refreshing: serve the stale value now.
                        self.count_read(true);
                        return Ok(v);
                    }
                    match flight::wait(rx).await {
                        Outcome::Value(bytes) => {
                            if let Read::Fresh(v) | Read::Stale(v) =
                                self.decode_or_miss(&full, &bytes)
                            {
                                self.count_read(true);
                                return Ok(v);
                            }
                        }
                        Outcome::Failed(Some(shared)) => {
                            if let Some(e) = S::follow(shared) {
                                self.count_read(false);
                                return Err(e);
                            }
                        }
                        Outcome::Failed(None) => {}
                        Outcome::Abandoned => continue,
                    }
                    // The leader's result is of no use to us: load for ourselves.
                    self.count_read(false);
                    return self
                        .run_loader::<T, E, S, _, _>(&full, opts, loader, store_if, None, failed)
                        .await
                        .0;
                }
            }
        }
    }

    /// Runs the loader and stores its value, unless the store already `failed` in this call
    /// (then the value is only handed to the waiting callers). Also returns whether the store
    /// failed in this call (before or while writing).
    async fn run_loader<T, E, S, F, Fut>(
        &self,
        full: &str,
        opts: &SetOptions,
        loader: F,
        store_if: impl FnOnce(&T) -> bool,
        leader: Option<flight::Leader<'_>>,
        failed: bool,
    ) -> (Result<T, S::Out>, bool)
    where
        T: Serialize + CacheValue,
        S: Sharing<E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match loader().await {
            Ok(value) => {
                let mut failed = failed;
                // Emulated tags read the store: not after it failed (the value then goes to
                // the waiting callers without tag stamps, and is not stored).
                let tags = if failed {
                    Ok(WriteTags::default())
                } else {
                    self.write_tags(&opts.tags).await
                };
                let encoded = match tags.and_then(|tags| self.encode(full, &value, opts, &tags)) {
                    Ok(e) => e,
                    Err(e) => {
                        self.count(|c| &c.errors, 1);
                        tracing::warn!(target: "cache", key = full, error = %e, "value not cached");
                        failed |= e.is_backend();
                        None
                    }
                };
                if let Some((bytes, wopts)) = encoded {
                    if !failed && store_if(&value) {
                        match self.inner.store.set(full, bytes.clone(), &wopts).await {
                            Ok(()) => self.count(|c| &c.sets, 1),
                            Err(e) => {
                                self.backend_error("set", full, e);
                                failed = true;
                            }
                        }
                    }
                    if let Some(leader) = leader {
                        leader.finish(Outcome::Value(bytes));
                    }
                }
                (Ok(value), failed)
            }
            Err(e) => {
                let (out, shared) = S::lead(e);
                if let Some(leader) = leader {
                    leader.finish(Outcome::Failed(shared));
                }
                (Err(out), failed)
            }
        }
    }
}
