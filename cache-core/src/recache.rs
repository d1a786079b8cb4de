//! Runtime support for `#[cache_invalidate(recache = [..])]`: after an invalidation, the listed
//! calls of `#[cached]` functions run again, so they miss, load and store the fresh value, and the
//! next reader hits. A recache that fails is logged and counted in
//! [`Stats::recache_failures`](crate::Stats::recache_failures); it never fails the write.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

use crate::Cache;

/// One recache call, erased: resolves to whether the call succeeded.
pub type RecacheFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// One recache call with the source text of its expression, for logs.
pub type RecacheCall<'a> = (&'static str, RecacheFuture<'a>);

/// Tells success from failure for a `Result` (`Ok`) or an `Option` (`Some`). Picked before
/// [`RecachePlain`] by method resolution (`(&value).recache_ok()`), as it needs no autoref.
pub trait RecacheOutcome {
    /// Whether the call succeeded.
    fn recache_ok(&self) -> bool;
}

impl<T, E> RecacheOutcome for Result<T, E> {
    fn recache_ok(&self) -> bool {
        self.is_ok()
    }
}

impl<T> RecacheOutcome for Option<T> {
    fn recache_ok(&self) -> bool {
        self.is_some()
    }
}

/// Any other value: the call succeeded if it returned.
pub trait RecachePlain {
    /// Always `true`.
    fn recache_ok(&self) -> bool {
        true
    }
}

impl<T: ?Sized> RecachePlain for &T {}

/// Runs `calls`, at most `concurrency` at once, and waits for all of them. Failures and panics
/// are logged and counted on `cache`.
pub async fn recache(cache: &Cache, concurrency: usize, calls: Vec<RecacheCall<'_>>) {
    // A hand-rolled `buffer_unordered`: its closure would not be general enough over lifetimes
    // for the spawned (`'static`) case.
    let mut calls = calls.into_iter();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < concurrency.max(1) {
            let Some((what, call)) = calls.next() else {
                break;
            };
            running.push(run_one(cache, what, call));
        }
        if running.next().await.is_none() {
            break;
        }
    }
}

async fn run_one(cache: &Cache, what: &'static str, call: RecacheFuture<'_>) {
    let ok = match AssertUnwindSafe(call).catch_unwind().await {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(target: "cache", call = what, "recache failed: the call returned no value");
            false
        }
        Err(_) => {
            tracing::warn!(target: "cache", call = what, "recache failed: the call panicked");
            false
        }
    };
    cache.count_recache(ok);
}

/// As [`recache`], in a task spawned on the current Tokio runtime (inline when there is none).
pub async fn recache_background(
    cache: Cache,
    concurrency: usize,
    calls: Vec<RecacheCall<'static>>,
) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move { recache(&cache, concurrency, calls).await });
        }
        Err(_) => recache(&cache, concurrency, calls).await,
    }
}
