//! Runtime support for the code `#[cached]`, `#[cache_invalidate]` and `#[memoize]` generate.
//! Not a public API: reached only through `cache_core::__private`.

use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::cache::load::OwnErrors;
use crate::cache::typed::Peek;
use crate::memo::TableSource;
use crate::stats::FnSite;
use crate::CacheValue;
use crate::{Cache, Error, SetOptions};

/// How a return type splits into the part that is stored and the part that is passed through.
pub trait Shape<R> {
    /// What is stored.
    type Value;
    /// `Ok(value)` to store, or the return value to pass through untouched.
    fn split(r: R) -> Result<Self::Value, R>;
    /// The return value for a stored value.
    fn wrap(v: Self::Value) -> R;
    /// Whether `r` holds a value (an `Ok`, a `Some`, anything for plain types).
    fn is_value(r: &R) -> bool;
}

/// `Result<T, E>`: `Ok` is stored.
#[derive(Debug)]
pub struct ResultShape;
/// `Option<T>`: `Some` is stored.
#[derive(Debug)]
pub struct OptionShape;
/// Any other type: every value is stored.
#[derive(Debug)]
pub struct PlainShape;

impl<T, E> Shape<Result<T, E>> for ResultShape {
    type Value = T;
    fn split(r: Result<T, E>) -> Result<T, Result<T, E>> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => Err(Err(e)),
        }
    }
    fn wrap(v: T) -> Result<T, E> {
        Ok(v)
    }
    fn is_value(r: &Result<T, E>) -> bool {
        r.is_ok()
    }
}

impl<T> Shape<Option<T>> for OptionShape {
    type Value = T;
    fn split(r: Option<T>) -> Result<T, Option<T>> {
        r.ok_or(None)
    }
    fn wrap(v: T) -> Option<T> {
        Some(v)
    }
    fn is_value(r: &Option<T>) -> bool {
        r.is_some()
    }
}

impl<T> Shape<T> for PlainShape {
    type Value = T;
    fn split(r: T) -> Result<T, T> {
        Ok(r)
    }
    fn wrap(v: T) -> T {
        v
    }
    fn is_value(_: &T) -> bool {
        true
    }
}

/// The default key of a `#[cached]` function: its path, `:`, and a blake3 digest of its
/// arguments serialized as JSON, one after another.
#[derive(Debug)]
pub struct ArgsDigest {
    key: String,
    hasher: blake3::Hasher,
    args: u32,
    error: Option<String>,
}

impl ArgsDigest {
    /// For a free function at `path`.
    pub fn new(path: &str) -> Self {
        Self {
            key: path.to_owned(),
            hasher: blake3::Hasher::new(),
            args: 0,
            error: None,
        }
    }

    /// For a method `name` of `S`.
    pub fn for_method<S: ?Sized>(name: &str) -> Self {
        let mut d = Self::new(std::any::type_name::<S>());
        d.key.push_str("::");
        d.key.push_str(name);
        d
    }

    /// Adds one argument.
    pub fn arg<T: Serialize + ?Sized>(&mut self, value: &T) {
        if self.args > 0 {
            // Separates values whose JSON would otherwise run together (`1`,`2` vs `12`).
            self.hasher.update(b",");
        }
        self.args += 1;
        if let Err(e) = serde_json::to_writer(&mut self.hasher, value) {
            self.error.get_or_insert_with(|| e.to_string());
        }
    }

    /// The key, or `None` (logged) when an argument failed to serialize.
    pub fn finish(mut self) -> Option<String> {
        if let Some(e) = self.error {
            tracing::warn!(target: "cache", function = %self.key, error = %e, "argument did not serialize; calling without the cache");
            return None;
        }
        if self.args > 0 {
            let digest = self.hasher.finalize();
            self.key.push(':');
            self.key.push_str(&digest.to_hex()[..32]);
        }
        Some(self.key)
    }
}

/// The body of a `#[cached]` function: serve `key` from `cache`, or run `body` and store what
/// `S` says is storable unless `unless` says no. Cache failures fall through to `body`. The call
/// counts at `site` as a hit when `body` did not run, else as a miss.
pub async fn cached<S, R, Fut, U>(
    site: &'static FnSite,
    cache: &Cache,
    key: Option<String>,
    opts: SetOptions,
    body: Fut,
    unless: U,
) -> R
where
    S: Shape<R>,
    S::Value: Serialize + CacheValue,
    Fut: Future<Output = R>,
    U: FnOnce(&S::Value) -> bool,
{
    if let Some(k) = key.as_deref() {
        cache.note_read(k);
    }
    // A hit answered in process returns before the load's future is built.
    if let Some(v) = key
        .as_deref()
        .and_then(|k| cache.fresh_local::<S::Value>(k))
    {
        site.record(true);
        return S::wrap(v);
    }
    cached_at::<S, R, Fut, U>(Some(site), cache, key, opts, body, unless).await
}

async fn cached_at<S, R, Fut, U>(
    site: Option<&'static FnSite>,
    cache: &Cache,
    key: Option<String>,
    opts: SetOptions,
    body: Fut,
    unless: U,
) -> R
where
    S: Shape<R>,
    S::Value: Serialize + CacheValue,
    Fut: Future<Output = R>,
    U: FnOnce(&S::Value) -> bool,
{
    let Some(key) = key else {
        cache.count_error();
        if let Some(site) = site {
            site.record(false);
        }
        return body.await;
    };
    // An atomic rather than a `Cell`, so the caller's future stays `Send`.
    let ran = AtomicBool::new(false);
    let loader = || {
        ran.store(true, Relaxed);
        async move { S::split(body.await) }
    };
    let out = cache
        .load::<S::Value, R, OwnErrors, _, _>(&key, &opts, loader, |v| !unless(v))
        .await;
    if let Some(site) = site {
        site.record(!ran.load(Relaxed));
    }
    match out {
        Ok(v) => S::wrap(v),
        Err(r) => r,
    }
}

/// The body of a `#[cached(stale = .., background = true)]` function: a caller that finds a
/// stale value gets it at once, and the refresh runs in a spawned task (one per key: a caller
/// that finds a refresh in flight spawns none). Outside a Tokio runtime it runs as [`cached`].
pub async fn cached_background<S, R, Fut, U>(
    site: &'static FnSite,
    cache: Cache,
    key: Option<String>,
    opts: SetOptions,
    body: Fut,
    unless: U,
) -> R
where
    S: Shape<R> + 'static,
    R: Send + 'static,
    S::Value: Serialize + CacheValue,
    Fut: Future<Output = R> + Send + 'static,
    U: FnOnce(&S::Value) -> bool + Send + 'static,
{
    let Some(key) = key else {
        cache.count_error();
        site.record(false);
        return body.await;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return cached::<S, R, _, _>(site, &cache, Some(key), opts, body, unless).await;
    };
    match cache.peek::<S::Value>(&key).await {
        Peek::Fresh(v) => {
            cache.note_read(&key);
            site.record(true);
            S::wrap(v)
        }
        Peek::Stale(v, in_flight) => {
            cache.note_read(&key);
            site.record(true);
            if !in_flight {
                let task_cache = cache.clone();
                // The task's load finds the stale value, leads the refresh and stores the result;
                // callers meanwhile get the stale value from the engine's follower path.
                runtime.spawn(async move {
                    // Not counted at the site: no caller waited for this run.
                    let _ =
                        cached_at::<S, R, _, _>(None, &task_cache, Some(key), opts, body, unless)
                            .await;
                });
            }
            S::wrap(v)
        }
        Peek::Other => cached::<S, R, _, _>(site, &cache, Some(key), opts, body, unless).await,
    }
}

/// The end of a `#[cache_invalidate]` function: deletes keys, tags and patterns. Failures are
/// logged and counted, never returned.
pub async fn invalidate(cache: &Cache, keys: &[String], tags: &[String], patterns: &[String]) {
    let report = |what: &str, e: Error| {
        if !matches!(e, Error::Backend(_) | Error::Timeout(_)) {
            // Backend errors are counted by the cache itself.
            cache.count_error();
        }
        tracing::warn!(target: "cache", what, error = %e, "cache invalidation failed");
    };
    if !keys.is_empty() {
        if let Err(e) = cache.delete_many(keys).await {
            report("keys", e);
        }
    }
    if !tags.is_empty() {
        if let Err(e) = cache.invalidate_tags(tags).await {
            report("tags", e);
        }
    }
    for p in patterns {
        if let Err(e) = cache.delete_pattern(p).await {
            report("pattern", e);
        }
    }
}

/// One part of a `#[memoize]` key, spanned at its argument so a missing bound points there.
#[inline(always)]
pub fn memo_key<K: Hash + Eq + Clone + Send + Sync + 'static>(part: K) -> K {
    part
}

/// The body of a sync `#[memoize]` function.
pub fn memo_sync<S, K, R>(
    memo: impl TableSource<K, S::Value>,
    key: K,
    ttl: impl Fn() -> Option<Duration>,
    body: impl FnOnce() -> R,
) -> R
where
    S: Shape<R>,
    S::Value: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    let table = memo.table(ttl);
    if let Some(v) = table.get(&key) {
        return S::wrap(v);
    }
    match S::split(body()) {
        Ok(v) => {
            table.insert(key, v.clone());
            S::wrap(v)
        }
        Err(r) => r,
    }
}

/// The body of an async `#[memoize]` function: single-flight per key.
pub async fn memo_async<S, K, R, Fut>(
    memo: impl TableSource<K, S::Value>,
    key: K,
    ttl: impl Fn() -> Option<Duration>,
    body: Fut,
) -> R
where
    S: Shape<R>,
    S::Value: Clone + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    Fut: Future<Output = R>,
{
    let table = memo.table(ttl);
    // Counted once per call: a hit when a fresh value comes back (found, or filled by the
    // call this one waited for), a miss when this call gets the guard and runs the body.
    let guard = loop {
        match table.map().get_value_or_guard_async(&key).await {
            Ok(e) if table.fresh(&key, &e) => {
                table.hit();
                return S::wrap(e.value);
            }
            Ok(_) => continue,
            Err(guard) => break guard,
        }
    };
    table.miss();
    match S::split(body.await) {
        Ok(v) => {
            // Err only if the entry was replaced meanwhile; the value is still ours to return.
            let _ = guard.insert(table.entry(v.clone()));
            S::wrap(v)
        }
        // Dropping the guard lets a waiter run its own body.
        Err(r) => r,
    }
}
