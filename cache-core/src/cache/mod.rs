//! [`Cache`]: the handle users hold.
//!
//! The handle's operations are spread over files by concept: [`builder`] (construction),
//! `namespace` (full keys and patterns), `typed` (typed reads and writes, and the in-process
//! hit path), `bytes` (raw values), `load` (single-flight loads), `batch` (many keys at once),
//! `invalidate` (deletes, patterns, tags, versions) and `lifetime` (counters and TTLs).

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::codec::CodecImpl;
use crate::counter::StripedCounter;
use crate::error::{Error, Result};
use crate::flight::Flights;
use crate::frame::FrameConfig;
use crate::options::TtlChoice;
use crate::stats::{Counters, InvalidationLog, Stats};
use crate::store::{Capabilities, MemoryStore, Store};

mod batch;
pub(crate) mod builder;
mod bytes;
pub use bytes::ReadNow;
mod invalidate;
pub(crate) mod lease;
mod lifetime;
pub(crate) mod load;
mod namespace;
mod tags;
pub(crate) mod typed;

pub use builder::CacheBuilder;

/// The default namespace prefix.
pub const DEFAULT_PREFIX: &str = "cache";
/// The default `short` TTL preset: one minute.
pub const DEFAULT_SHORT_TTL: Duration = Duration::from_secs(60);
/// The default `long` TTL preset: one hour.
pub const DEFAULT_LONG_TTL: Duration = Duration::from_secs(3600);

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// A cache: a store, a namespace, a codec, stats and single-flight, behind one cheap handle.
///
/// `Cache` is an `Arc` inside: clone it freely (into axum `State`, into tasks); clones share
/// everything. Do not wrap it in `Arc<Mutex<_>>`. It is not generic over its store, so the same
/// type serves the in-memory store and Redis, chosen at run time by URL.
///
/// Every key lives inside the namespace `{prefix}:v{version}:`; patterns, `clear` and tags never
/// reach outside it.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, SetOptions};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
/// struct User { id: u64, name: String }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = Cache::memory();
/// let user = User { id: 1, name: "Ada".into() };
/// cache.set_with("user:1", &user, SetOptions::new().ttl(Duration::from_secs(60)).tag("users")).await?;
/// assert_eq!(cache.get::<User>("user:1").await?, Some(user));
///
/// cache.invalidate_tags(["users"]).await?;
/// assert_eq!(cache.get::<User>("user:1").await?, None);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
///
/// # Concurrent calls on the same key
///
/// [`get_or_set`](Cache::get_or_set) runs one loader for concurrent callers of a cold key; the
/// others wait for its value. If that loader fails, every waiter sees the failure and nothing is
/// cached; if its caller is dropped or panics, a waiter takes over and loads the value itself.
///
/// With [`Lock::Distributed`](crate::Lock::Distributed) (`SetOptions::distributed_lock`,
/// `#[cached(lock = "distributed")]`), concurrent callers in every process sharing the store run
/// one loader: this process's loading caller takes an expiring lease in the store, and the
/// other processes wait for the value (woken by a message where the store has a bus, else by
/// polling) or take over once the lease is gone.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unique in the process (from 1), for the key buffers of `namespace.rs`.
    id: u64,
    store: Arc<dyn Store>,
    /// What the store declares, read once.
    caps: Capabilities,
    /// Which decoded values this cache may take from an in-process entry's slot: those
    /// decoded by the same codec under the same signing key.
    decoder: u64,
    prefix: String,
    /// Shared with the store, which raises it when another process bumps the version.
    version: Arc<AtomicU64>,
    default_ttl: Option<Duration>,
    short_ttl: Duration,
    long_ttl: Duration,
    codec: CodecImpl,
    frame: FrameConfig,
    counters: Counters,
    flights: Flights,
    leases: lease::Leases,
    invalidations: InvalidationLog,
    /// Reads counted for a warmer; unset until one starts (see `crate::warm`).
    reads: OnceLock<crate::warm::ReadLog>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("store", &self.inner.store.name())
            .field("prefix", &self.inner.prefix)
            .field("version", &self.version())
            .field("default_ttl", &self.inner.default_ttl)
            .field("codec", &self.inner.codec.name())
            .finish()
    }
}

impl Default for Cache {
    fn default() -> Self {
        Self::memory()
    }
}

impl Cache {
    /// A ready in-memory cache bounded to 64 MiB, prefix `cache`, version 1, no default TTL.
    ///
    /// ```
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.prefix(), "cache");
    /// ```
    pub fn memory() -> Self {
        CacheBuilder::default().assemble(Arc::new(MemoryStore::new()))
    }

    /// A builder.
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::builder()
    ///     .url("mem://?max_entries=1000")
    ///     .prefix("shop")
    ///     .version(3)
    ///     .default_ttl(Duration::from_secs(300))
    ///     .build()
    ///     .await?;
    /// assert_eq!(cache.version(), 3);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A cache on the store a URL names: `mem://?max_entries=N` or `mem://?max_bytes=N`, and
    /// (with the `redis` feature) `redis://`, `rediss://`, `redis-cluster://h1:p1,h2:p2`,
    /// `redis-sentinel://…`, `tiered+redis://…`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::from_url("mem://?max_bytes=1048576").await?;
    /// let err = cache_core::Cache::from_url("mem://?max_entries=lots").await.unwrap_err();
    /// assert!(err.to_string().contains("max_entries"));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn from_url(url: &str) -> Result<Self> {
        Self::builder().url(url).build().await
    }

    /// A cache configured from the environment: `CACHE_URL` (default `mem://`), `CACHE_PREFIX`,
    /// `CACHE_VERSION`, `CACHE_TTL_DEFAULT`, `CACHE_TTL_SHORT`, `CACHE_TTL_LONG` (TTLs as
    /// seconds or durations like `90s`, `5m`, `1h30m`).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::from_env().await?;
    /// # let _ = cache;
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn from_env() -> Result<Self> {
        Self::builder()
            .with_env_vars(|name| std::env::var(name).ok())?
            .build()
            .await
    }

    /// Makes `cache` the process default that the macros use when no `cache = …` is given.
    /// Fails with [`Error::Config`] if a global cache is already in place (set before, or
    /// created on first use of [`Cache::global`]).
    ///
    /// ```
    /// use cache_core::Cache;
    /// Cache::set_global(Cache::memory()).unwrap();
    /// assert!(Cache::set_global(Cache::memory()).is_err());
    /// ```
    pub fn set_global(cache: Cache) -> Result<()> {
        GLOBAL
            .set(cache)
            .map_err(|_| Error::Config("a global cache is already set".into()))
    }

    /// The process default cache: the one given to [`Cache::set_global`], or else one built on
    /// first use from the environment, as [`Cache::from_env`] reads it (`CACHE_URL`,
    /// `CACHE_PREFIX`, `CACHE_VERSION`, `CACHE_TTL_*`). A `CACHE_URL` that needs a connection
    /// (Redis, Memcached, SQL, tiers) is opened on first use when that happens on a
    /// multi-threaded tokio runtime (as in an axum service, or `#[tokio::main]`): the calling
    /// worker waits for the connection once, bounded by the store's timeouts. Elsewhere (no
    /// runtime, a current-thread runtime) or when the store cannot be reached then, the default
    /// is in memory with the rest of the configuration, and a warning says so once (on stderr if
    /// no `tracing` subscriber is set). Calling `Cache::set_global(Cache::from_env().await?)` at
    /// start stays the clearest way: the connection happens where you expect it and a failure
    /// stops the start. Never panics.
    ///
    /// ```
    /// let a = cache_core::Cache::global();
    /// let b = cache_core::Cache::global();
    /// assert!(a.same_as(b));
    /// ```
    pub fn global() -> &'static Cache {
        GLOBAL.get_or_init(|| global_from_env(|name| std::env::var(name).ok()))
    }

    /// True if `other` is a clone of this handle.
    ///
    /// ```
    /// let a = cache_core::Cache::memory();
    /// assert!(a.same_as(&a.clone()));
    /// assert!(!a.same_as(&cache_core::Cache::memory()));
    /// ```
    pub fn same_as(&self, other: &Cache) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The namespace prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The current version: part of every key, so a bump hides every older entry.
    #[inline]
    pub fn version(&self) -> u64 {
        self.inner.version.load(Relaxed)
    }

    /// The TTL used when a write names none (`None`: no expiry).
    pub fn default_ttl(&self) -> Option<Duration> {
        self.inner.default_ttl
    }

    /// The `short` TTL preset (`CACHE_TTL_SHORT`, default one minute).
    pub fn short_ttl(&self) -> Duration {
        self.inner.short_ttl
    }

    /// The `long` TTL preset (`CACHE_TTL_LONG`, default one hour).
    pub fn long_ttl(&self) -> Duration {
        self.inner.long_ttl
    }

    /// The store behind this cache.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    #[inline]
    fn count(&self, pick: impl FnOnce(&Counters) -> &StripedCounter, n: u64) {
        pick(&self.inner.counters).add(n);
    }

    /// The read log of a warmer (`crate::warm`): unset until one starts.
    #[inline]
    pub(crate) fn reads(&self) -> &OnceLock<crate::warm::ReadLog> {
        &self.inner.reads
    }

    /// Counts a failure that did not come from the store (for the macros' runtime support).
    pub(crate) fn count_error(&self) {
        self.count(|c| &c.errors, 1);
    }

    /// Counts one recache call and whether it failed (for `#[cache_invalidate(recache = ..)]`).
    pub(crate) fn count_recache(&self, ok: bool) {
        self.count(|c| &c.recaches, 1);
        if !ok {
            self.count(|c| &c.recache_failures, 1);
        }
    }

    /// Awaits a store call, counting and logging its failure.
    async fn call<T>(
        &self,
        op: &'static str,
        key: &str,
        call: crate::store::BoxFuture<'_, Result<T>>,
    ) -> Result<T> {
        call.await.map_err(|e| self.backend_error(op, key, e))
    }

    /// Counts and logs a backend error, passing it on.
    fn backend_error(&self, op: &'static str, key: &str, e: Error) -> Error {
        self.count(|c| &c.errors, 1);
        tracing::warn!(target: "cache", op, key, error = %e, "cache backend error");
        e
    }

    fn resolve_ttl(&self, choice: TtlChoice) -> Option<Duration> {
        match choice {
            TtlChoice::Default => self.inner.default_ttl,
            TtlChoice::Never => None,
            TtlChoice::After(d) => Some(d),
        }
    }

    #[inline]
    fn count_read(&self, hit: bool) {
        if hit {
            self.count(|c| &c.hits, 1);
        } else {
            self.count(|c| &c.misses, 1);
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot(&self.inner.store.stats())
    }

    /// Resets the counters (entries and bytes are not counters and stay).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// let _ = cache.get::<u8>("x").await?;
    /// cache.reset_stats();
    /// assert_eq!(cache.stats().misses, 0);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn reset_stats(&self) {
        self.inner.counters.reset();
        self.inner.store.reset_stats();
    }

    /// Checks that the store answers.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// cache_core::Cache::memory().ping().await?;
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn ping(&self) -> Result<()> {
        self.call("ping", "", self.inner.store.ping()).await
    }

    /// Writes out what the store holds back (a tiered store's write-behind writes; see
    /// [`Store::flush`]). Call it on shutdown, after the last write: a store dropped with
    /// writes pending only makes a best-effort attempt to write them.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("k", &1).await?;
    /// cache.flush().await?; // nothing held back in memory: returns at once
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn flush(&self) -> Result<()> {
        self.call("flush", "", self.inner.store.flush()).await
    }

    /// Whether a load of `key` is in flight (for tests and diagnostics).
    #[doc(hidden)]
    pub fn __in_flight(&self, key: &str) -> bool {
        self.full_key(key)
            .is_ok_and(|full| self.inner.flights.in_flight(&full))
    }
}

/// The global cache when none was set: the environment's configuration, as
/// [`Cache::from_env`] reads it. One that needs a connection is opened here when the caller runs
/// on a multi-threaded tokio runtime (the worker waits for the connection, once, with the store's
/// own timeouts); otherwise, or when opening fails, the same configuration without its
/// `CACHE_URL`, in memory, with a warning.
fn global_from_env(var: impl Fn(&str) -> Option<String>) -> Cache {
    let built = Cache::builder()
        .with_env_vars(&var)
        .and_then(|b| b.build_now());
    let needs_connection = match built {
        Ok(cache) => return cache,
        Err(e) => e,
    };
    let connected = match connect_in_place(&var) {
        Ok(cache) => {
            tracing::info!(
                target: "cache",
                store = cache.store().name(),
                "Cache::global() connected to the store CACHE_URL names (Cache::set_global was \
                 not called): the macros share it with every cache built by Cache::from_env"
            );
            return cache;
        }
        Err(e) => e,
    };
    let why = connected.unwrap_or(needs_connection);
    let message = format!(
        "Cache::global() was used (by a #[cached] function without `cache = …`?) before \
         Cache::set_global, and the store CACHE_URL names could not be opened here ({why}): it \
         is an in-memory cache, apart from any cache your handlers build with Cache::from_env. \
         Call Cache::set_global(Cache::from_env().await?) at start."
    );
    tracing::warn!(target: "cache", "{message}");
    if !tracing::dispatcher::has_been_set() {
        // Nobody would see the warning: a forgotten set_global must not split caches silently.
        eprintln!("warning: {message}");
    }
    Cache::builder()
        .with_env_vars(|name| if name == "CACHE_URL" { None } else { var(name) })
        .and_then(|b| b.build_now())
        .unwrap_or_else(|_| Cache::memory())
}

/// Opens the environment's cache on the caller's multi-threaded runtime, blocking this worker
/// (handed over to another thread meanwhile) until it is connected. `Err(None)` when there is no
/// such runtime to open it on.
fn connect_in_place(
    var: &impl Fn(&str) -> Option<String>,
) -> std::result::Result<Cache, Option<Error>> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = Handle::try_current().map_err(|_| None)?;
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        return Err(None);
    }
    let builder = Cache::builder().with_env_vars(var).map_err(Some)?;
    tokio::task::block_in_place(|| handle.block_on(builder.build())).map_err(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_global_default_reads_the_environment() {
        let c = global_from_env(env(&[
            ("CACHE_URL", "mem://?max_entries=5"),
            ("CACHE_PREFIX", "shop"),
        ]));
        assert_eq!((c.prefix(), c.store().name()), ("shop", "memory"));
    }

    #[test]
    fn a_cache_url_that_needs_a_connection_falls_back_to_memory_with_the_rest_kept() {
        let c = global_from_env(env(&[
            ("CACHE_URL", "redis://127.0.0.1:1"),
            ("CACHE_PREFIX", "shop"),
        ]));
        assert_eq!((c.prefix(), c.store().name()), ("shop", "memory"));
        let c = global_from_env(env(&[("CACHE_URL", "nonsense")]));
        assert_eq!(c.store().name(), "memory");
    }
}
