//! [`Warmer`]: a background task that refreshes the entries readers keep asking for before they
//! expire, through loaders registered per key template or by `#[cached(warm = true)]`.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::loaders::TemplateLoader;
use super::report::Outcome;
use super::template::WarmArgs;
use crate::options::SetOptions;
use crate::store::{Capability, KeyTtl};
use crate::Cache;

/// What a [`Warmer`] did since it started: a snapshot from [`Warmer::stats`].
///
/// ```
/// let stats = cache_core::WarmerStats::default();
/// assert_eq!(stats.refreshed + stats.failed, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WarmerStats {
    /// Rounds completed.
    pub rounds: u64,
    /// Values loaded and stored again.
    pub refreshed: u64,
    /// Refreshes whose loader had no value (nothing stored).
    pub absent: u64,
    /// Refreshes that failed (loader or store error; logged).
    pub failed: u64,
    /// Keys due for a refresh that no loader covers.
    pub no_loader: u64,
    /// Keys the read log tracks now (bounded by [`WarmerBuilder::track`]).
    pub tracked: u64,
}

#[derive(Default)]
struct Counters {
    rounds: AtomicU64,
    refreshed: AtomicU64,
    absent: AtomicU64,
    failed: AtomicU64,
    no_loader: AtomicU64,
}

/// Configures and starts a [`Warmer`]; from [`Warmer::builder`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, Warmer, WarmArgs};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = Cache::memory();
/// let warmer = Warmer::builder(cache.clone())
///     .interval(Duration::from_secs(1))
///     .refresh_ahead(Duration::from_secs(3))
///     .concurrency(4)
///     .min_reads(2)
///     .track(10_000)
///     .loader("user:{id}", Duration::from_secs(60), |args: WarmArgs| async move {
///         let id: u64 = args.parse("id")?;
///         Ok::<_, cache_core::WarmArgError>(Some(format!("user {id}")))
///     })
///     .start();
/// warmer.stop().await;
/// # });
/// ```
#[must_use]
pub struct WarmerBuilder {
    cache: Cache,
    interval: Duration,
    refresh_ahead: Option<Duration>,
    concurrency: usize,
    min_reads: u32,
    track: u64,
    loaders: Vec<TemplateLoader>,
}

impl std::fmt::Debug for WarmerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmerBuilder")
            .field("interval", &self.interval)
            .field("refresh_ahead", &self.refresh_ahead)
            .field("concurrency", &self.concurrency)
            .field("min_reads", &self.min_reads)
            .field("track", &self.track)
            .field("loaders", &self.loaders)
            .finish()
    }
}

impl WarmerBuilder {
    /// How often a round runs (default 1 s; at least 1 ms).
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every.max(Duration::from_millis(1));
        self
    }

    /// A tracked key is refreshed when its remaining TTL is under this margin, or when it is
    /// gone (default: twice the interval). Keep it above the interval, so a round comes before
    /// the entry expires.
    pub fn refresh_ahead(mut self, margin: Duration) -> Self {
        self.refresh_ahead = Some(margin);
        self
    }

    /// How many refreshes run at once (default 8; at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many reads since about the last round make a key worth refreshing (default 2, at
    /// least 1). Counts are halved every round, so older reads weigh less and less.
    pub fn min_reads(mut self, n: u32) -> Self {
        self.min_reads = n.max(1);
        self
    }

    /// How many keys the read log tracks at most (default 10,000). Only the first warmer
    /// attached to a cache sets it.
    pub fn track(mut self, max_keys: u64) -> Self {
        self.track = max_keys;
        self
    }

    /// Registers a loader for the keys matching `template` (unprefixed, `{name}` parts as in
    /// `#[cached]` keys; see [`WarmArgs`]), whose values are stored with `opts` (`()`, a TTL
    /// `Duration` or [`SetOptions`]). The first matching template wins; a function registered
    /// by `#[cached(warm = true)]` for the exact key comes before any template.
    ///
    /// The loader returns `Ok(Some(value))` to store, `Ok(None)` when there is no value, or an
    /// error (logged and counted in [`WarmerStats::failed`]).
    pub fn loader<T, E, F, Fut>(
        mut self,
        template: &str,
        opts: impl Into<SetOptions>,
        loader: F,
    ) -> Self
    where
        T: Serialize + Send + Sync + 'static,
        E: Display + Send + 'static,
        F: Fn(WarmArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
    {
        self.loaders
            .push(TemplateLoader::new(template, opts.into(), loader));
        self
    }

    /// Starts the warmer on the current Tokio runtime and starts tracking reads of the cache.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as `tokio::spawn` does.
    pub fn start(self) -> Warmer {
        let config = Arc::new(Config {
            refresh_ahead: self.refresh_ahead.unwrap_or(self.interval * 2),
            interval: self.interval,
            concurrency: self.concurrency,
            min_reads: self.min_reads,
            loaders: self.loaders,
            counters: Counters::default(),
        });
        let log = self.cache.read_log(self.track);
        log.set_active(true);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(self.cache.clone(), Arc::clone(&config), stopped));
        Warmer {
            cache: self.cache,
            config,
            stop,
            task: Some(task),
        }
    }
}

struct Config {
    interval: Duration,
    refresh_ahead: Duration,
    concurrency: usize,
    min_reads: u32,
    loaders: Vec<TemplateLoader>,
    counters: Counters,
}

/// A background task that keeps entries readers ask for often from expiring: every
/// [`interval`](WarmerBuilder::interval) it looks at the keys read at least
/// [`min_reads`](WarmerBuilder::min_reads) times lately (typed [`Cache::get`],
/// [`get_or_set`](Cache::get_or_set) and `#[cached]` reads, counted in a bounded log while a
/// warmer runs) and reloads those whose TTL is under
/// [`refresh_ahead`](WarmerBuilder::refresh_ahead) (or that are gone) through their loader, a
/// few at a time. Keys read once are never refreshed.
///
/// Loaders come from [`WarmerBuilder::loader`] (per key template) and from `#[cached(key = ..,
/// warm = true)]` functions, which register a rerun of themselves for every key they serve
/// while a warmer runs.
///
/// Stop it with [`stop`](Warmer::stop) (waits for the round in progress); dropping it aborts
/// the task. Reads are tracked only while a warmer runs; without one they cost a single
/// `OnceLock` check. Run one warmer per cache.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, Warmer, WarmArgs};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let cache = Cache::memory();
/// let warmer = Warmer::builder(cache.clone())
///     .interval(Duration::from_millis(20))
///     .refresh_ahead(Duration::from_secs(60))
///     .loader("greeting:{name}", Duration::from_secs(30), |args: WarmArgs| async move {
///         Ok::<_, std::convert::Infallible>(Some(format!("hello {}", args.get("name").unwrap_or("?"))))
///     })
///     .start();
/// cache.set_with("greeting:ada", "hi", Duration::from_secs(30)).await?;
/// for _ in 0..3 {
///     cache.get::<String>("greeting:ada").await?; // read often: refreshed by the next round
/// }
/// while warmer.stats().refreshed == 0 {
///     tokio::time::sleep(Duration::from_millis(10)).await;
/// }
/// assert_eq!(cache.get::<String>("greeting:ada").await?.as_deref(), Some("hello ada"));
/// warmer.stop().await;
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub struct Warmer {
    cache: Cache,
    config: Arc<Config>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Warmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warmer")
            .field("cache", &self.cache)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Warmer {
    /// A builder for a warmer of `cache`.
    ///
    /// ```
    /// let builder = cache_core::Warmer::builder(cache_core::Cache::memory());
    /// # let _ = builder;
    /// ```
    pub fn builder(cache: Cache) -> WarmerBuilder {
        WarmerBuilder {
            cache,
            interval: Duration::from_secs(1),
            refresh_ahead: None,
            concurrency: 8,
            min_reads: 2,
            track: 10_000,
            loaders: Vec::new(),
        }
    }

    /// What the warmer did so far.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let warmer = cache_core::Warmer::builder(cache_core::Cache::memory()).start();
    /// assert_eq!(warmer.stats().refreshed, 0);
    /// # });
    /// ```
    pub fn stats(&self) -> WarmerStats {
        let c = &self.config.counters;
        WarmerStats {
            rounds: c.rounds.load(Relaxed),
            refreshed: c.refreshed.load(Relaxed),
            absent: c.absent.load(Relaxed),
            failed: c.failed.load(Relaxed),
            no_loader: c.no_loader.load(Relaxed),
            tracked: self.cache.read_log(0).tracked(),
        }
    }

    /// Stops the warmer after the round in progress, and stops tracking reads.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let warmer = cache_core::Warmer::builder(cache_core::Cache::memory()).start();
    /// warmer.stop().await;
    /// # });
    /// ```
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.cache.read_log(0).set_active(false);
    }
}

impl Drop for Warmer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            self.cache.read_log(0).set_active(false);
        }
    }
}

async fn run(cache: Cache, config: Arc<Config>, mut stopped: watch::Receiver<bool>) {
    loop {
        match tokio::time::timeout(config.interval, stopped.changed()).await {
            // Stopped, or the handle is gone.
            Ok(_) => return,
            Err(_elapsed) => {}
        }
        round(&cache, &config).await;
        config.counters.rounds.fetch_add(1, Relaxed);
    }
}

/// One round: the keys read often lately whose TTL runs out soon are reloaded.
async fn round(cache: &Cache, config: &Config) {
    let Some(log) = cache.active_read_log() else {
        return;
    };
    let hot: Vec<String> = log
        .snapshot_and_decay()
        .into_iter()
        .filter(|(_, reads)| *reads >= config.min_reads)
        .map(|(key, _)| key)
        .collect();
    let c = &config.counters;
    stream::iter(hot)
        .map(|key| async move {
            if !due(cache, &key, config.refresh_ahead).await {
                return;
            }
            let Some(refresh) = refresh_of(cache, config, &key) else {
                c.no_loader.fetch_add(1, Relaxed);
                return;
            };
            match refresh.await {
                Outcome::Loaded => c.refreshed.fetch_add(1, Relaxed),
                Outcome::Absent => c.absent.fetch_add(1, Relaxed),
                Outcome::Failed(_) => c.failed.fetch_add(1, Relaxed),
            };
        })
        .buffer_unordered(config.concurrency)
        .for_each(|()| async {})
        .await;
}

/// Whether `key` expires within `margin` or is gone. A store that cannot tell (no TTL
/// read-back) has every hot key refreshed.
async fn due(cache: &Cache, key: &str, margin: Duration) -> bool {
    if !cache.store().capabilities().has(Capability::TtlRead) {
        return true;
    }
    match cache.ttl(key).await {
        Ok(KeyTtl::Expires(left)) => left < margin,
        Ok(KeyTtl::Missing) => true,
        Ok(KeyTtl::Persistent) => false,
        Err(_) => true,
    }
}

fn refresh_of(cache: &Cache, config: &Config, key: &str) -> Option<BoxFuture<'static, Outcome>> {
    if let Some(refresh) = cache.active_read_log().and_then(|l| l.refresher(key)) {
        return Some(refresh(cache.clone()));
    }
    config.loaders.iter().find_map(|l| l.refresh(cache, key))
}
