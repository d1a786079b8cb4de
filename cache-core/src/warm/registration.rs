//! Runtime support for `#[cached(warm = true)]`: while a warmer runs, each key such a function
//! serves gets a refresh that reruns the function with owned clones of its arguments. Not a
//! public API: reached through `cache_core::__private`.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use super::reads::Refresher;
use super::report::Outcome;
use crate::private::{OptionShape, PlainShape, ResultShape, Shape};
use crate::{Cache, SetOptions};

/// Whether a return value that is not stored is a failure (`Err`) or an absence (`None`).
pub trait WarmShape {
    /// `true` for `Result`.
    const FAILS: bool;
}

impl WarmShape for ResultShape {
    const FAILS: bool = true;
}

impl WarmShape for OptionShape {
    const FAILS: bool = false;
}

impl WarmShape for PlainShape {
    const FAILS: bool = false;
}

/// A key a `#[cached(warm = true)]` function may register a refresh for.
#[derive(Debug)]
pub struct WarmSlot<'a> {
    cache: &'a Cache,
    key: String,
}

/// `Some` when a warmer runs on `cache` and `key` has no refresh registered yet: only then are
/// the arguments cloned.
#[inline]
pub fn warm_slot<'a>(cache: &'a Cache, key: Option<&str>) -> Option<WarmSlot<'a>> {
    let log = cache.active_read_log()?;
    let key = key?;
    if log.has_refresher(key) {
        return None;
    }
    Some(WarmSlot {
        cache,
        key: key.to_owned(),
    })
}

impl WarmSlot<'_> {
    /// Registers `make` (the function's body over owned clones of its arguments) as the refresh
    /// of this key: a warmer round runs it and stores what `S` says is storable, unless
    /// `unless` says no, with `opts`.
    pub fn register<S, R, F, Fut, U>(self, make: F, opts: SetOptions, unless: U)
    where
        S: Shape<R> + WarmShape + 'static,
        S::Value: Serialize + Send + Sync + 'static,
        R: Send + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        U: Fn(&S::Value) -> bool + Send + Sync + 'static,
    {
        let Some(log) = self.cache.active_read_log() else {
            return;
        };
        let key = Arc::<str>::from(self.key.as_str());
        let opts = Arc::new(opts);
        let unless = Arc::new(unless);
        let refresh: Refresher = Arc::new(move |cache: Cache| {
            let (key, opts, unless) = (Arc::clone(&key), Arc::clone(&opts), Arc::clone(&unless));
            let run = make();
            Box::pin(async move {
                match S::split(run.await) {
                    Ok(v) if unless(&v) => Outcome::Absent,
                    Ok(v) => cache.store_warmed(&key, &v, &opts).await,
                    Err(_) if S::FAILS => {
                        Outcome::Failed("the function returned an error".to_owned())
                    }
                    Err(_) => Outcome::Absent,
                }
            })
        });
        log.register(self.key, refresh);
    }
}
