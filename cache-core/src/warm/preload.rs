//! [`Cache::warm`]: preloads a list of keys through a loader, a bounded number at once.

use std::fmt::Display;
use std::future::Future;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::options::WarmOptions;
use super::report::{Outcome, WarmReport};
use crate::options::SetOptions;
use crate::Cache;

impl Cache {
    /// Preloads `keys`: calls `loader` with each key, at most
    /// [`concurrency`](WarmOptions::concurrency) at once (8 by default), stores every
    /// `Ok(Some(value))` under its key with the options' TTL and tags, and reports what happened.
    ///
    /// `Ok(None)` means the loader has no value for the key (nothing is stored); an `Err`, or a
    /// value the store refused, is reported with its error text. A failure never stops the
    /// other keys, and nothing here panics or returns an error: read the [`WarmReport`].
    ///
    /// Every key is loaded, present or not: use it at start-up, or to replace values you know
    /// are out of date. `opts` is `()`, a `Duration` (a TTL), [`SetOptions`] or
    /// [`WarmOptions`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::WarmOptions;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
    /// struct User { id: u64 }
    ///
    /// async fn fetch_user(id: u64) -> Result<Option<User>, std::io::Error> {
    ///     Ok((id % 10 != 0).then_some(User { id }))
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// let keys = (1..=100).map(|id| format!("user:{id}"));
    /// let opts = WarmOptions::new().concurrency(4).ttl(Duration::from_secs(300));
    /// let report = cache
    ///     .warm(keys, opts, |key: String| async move {
    ///         let id: u64 = key["user:".len()..].parse().expect("our own keys");
    ///         fetch_user(id).await
    ///     })
    ///     .await;
    /// assert_eq!((report.loaded(), report.absent()), (90, 10));
    /// assert_eq!(cache.get::<User>("user:7").await?, Some(User { id: 7 }));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn warm<I, K, T, E, F, Fut>(
        &self,
        keys: I,
        opts: impl Into<WarmOptions>,
        loader: F,
    ) -> WarmReport
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
        T: Serialize,
        E: Display,
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        let opts = opts.into();
        let (loader, set) = (&loader, &opts.set);
        stream::iter(keys)
            .map(|key| async move {
                let key: String = key.into();
                let outcome = self.warm_one(&key, set, loader(key.clone())).await;
                (key, outcome)
            })
            .buffer_unordered(opts.concurrency.max(1))
            .fold(
                WarmReport::default(),
                |mut report, (key, outcome)| async move {
                    report.add(key, outcome);
                    report
                },
            )
            .await
    }

    /// Awaits one load and stores its value.
    pub(crate) async fn warm_one<T, E, Fut>(
        &self,
        key: &str,
        set: &SetOptions,
        load: Fut,
    ) -> Outcome
    where
        T: Serialize,
        E: Display,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        match load.await {
            Ok(Some(value)) => self.store_warmed(key, &value, set).await,
            Ok(None) => Outcome::Absent,
            Err(e) => {
                tracing::warn!(target: "cache", key, error = %e, "warming loader failed");
                Outcome::Failed(e.to_string())
            }
        }
    }

    /// Stores a warmed value; a failure is counted and logged by the write itself.
    pub(crate) async fn store_warmed<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        set: &SetOptions,
    ) -> Outcome {
        match self.set_with(key, value, set.clone()).await {
            Ok(()) => Outcome::Loaded,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
