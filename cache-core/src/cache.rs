//! [`Cache`]: the handle users hold, and its builder.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{Codec, CodecImpl};
use crate::error::{Error, Result};
use crate::flight::{self, Flights, Join, Outcome};
use crate::frame::FrameConfig;
use crate::key;
use crate::options::{SetOptions, TtlChoice};
use crate::pattern;
use crate::stamp::ReadStamp;
use crate::stats::{
    Counters, InvalidationEvent, InvalidationKind, InvalidationLog, Stats, StripedCounter,
};
use crate::store::{KeyTtl, MemoryStore, Store, WriteOptions};

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
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
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
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// The same store when it is a `MemoryStore`: reads skip the boxed trait-object future.
    memory: Option<MemoryStore>,
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
    invalidations: InvalidationLog,
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

/// A read from the store, decoded.
pub(crate) enum Read<T> {
    Fresh(T),
    Stale(T),
    Miss,
}

/// What [`Cache::peek`] saw.
pub(crate) enum Peek<T> {
    Fresh(T),
    /// A stale value, and whether a load of its key is in flight.
    Stale(T, bool),
    Other,
}

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

/// Appends the decimal digits of `n` (without the `fmt` machinery: this is on the hit path).
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

    /// The process default cache: the one given to [`Cache::set_global`], or else an in-memory
    /// cache created on first use. Never panics.
    ///
    /// ```
    /// let a = cache_core::Cache::global();
    /// let b = cache_core::Cache::global();
    /// assert!(a.same_as(b));
    /// ```
    pub fn global() -> &'static Cache {
        GLOBAL.get_or_init(Cache::memory)
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
    pub fn version(&self) -> u64 {
        self.inner.version.load(Relaxed)
    }

    /// Bumps the version and returns the new one: every entry written before is invisible from
    /// now on (and expires or is evicted in time). Every clone of this handle sees the bump at
    /// once; on a store shared across processes, the store records it and tells the others.
    ///
    /// The local bump always happens; an error means other processes may not have seen it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("k", &1).await?;
    /// assert_eq!(cache.bump_version().await?, 2);
    /// assert_eq!(cache.get::<i32>("k").await?, None);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn bump_version(&self) -> Result<u64> {
        let new = self.inner.version.fetch_add(1, Relaxed) + 1;
        self.call(
            "bump_version",
            &self.inner.prefix,
            self.inner.store.publish_version(&self.inner.prefix, new),
        )
        .await?;
        self.log_invalidation(InvalidationKind::Version, [new.to_string()], 0);
        Ok(new)
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

    /// The full store key for `key`: `{prefix}:v{version}:{key}`, shortened with a digest when
    /// longer than [`key::MAX_KEY_LEN`].
    ///
    /// ```
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.full_key("user:1").unwrap(), "cache:v1:user:1");
    /// assert!(cache.full_key("").is_err());
    /// ```
    pub fn full_key(&self, key: &str) -> Result<String> {
        key::validate_key(key)?;
        let mut full = self.namespace_with_capacity(key.len());
        full.push_str(key);
        Ok(match key::shorten(&full) {
            std::borrow::Cow::Borrowed(_) => full,
            std::borrow::Cow::Owned(short) => short,
        })
    }

    /// `{prefix}:v{version}:`
    fn namespace(&self) -> String {
        self.namespace_with_capacity(0)
    }

    fn namespace_with_capacity(&self, extra: usize) -> String {
        let mut ns = String::with_capacity(self.inner.prefix.len() + 24 + extra);
        ns.push_str(&self.inner.prefix);
        ns.push_str(":v");
        push_u64(&mut ns, self.version());
        ns.push(':');
        ns
    }

    /// The glob that matches exactly this namespace's keys that match `pattern`.
    fn full_pattern(&self, pattern: &str) -> Result<String> {
        pattern::validate(pattern)?;
        Ok(format!(
            "{}{pattern}",
            pattern::escape_literal(&self.namespace())
        ))
    }

    /// The store name of a tag: `{prefix}:t:{tag}`. Tags are not versioned.
    pub(crate) fn tag_key(&self, tag: &str) -> Result<String> {
        if tag.is_empty() {
            return Err(Error::InvalidKey("tag must not be empty".into()));
        }
        Ok(format!("{}:t:{tag}", self.inner.prefix))
    }

    fn count(&self, pick: impl FnOnce(&Counters) -> &StripedCounter, n: u64) {
        pick(&self.inner.counters).add(n);
    }

    /// Counts a failure that did not come from the store (for the macros' runtime support).
    pub(crate) fn count_error(&self) {
        self.count(|c| &c.errors, 1);
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

    /// Frames `value` and works out the store's write options. `None`: a zero TTL, nothing to
    /// write.
    fn encode<T: Serialize + ?Sized>(
        &self,
        full: &str,
        value: &T,
        opts: &SetOptions,
    ) -> Result<Option<(Bytes, WriteOptions)>> {
        let ttl = self.resolve_ttl(opts.ttl);
        if ttl == Some(Duration::ZERO) {
            return Ok(None);
        }
        let (store_ttl, fresh_until) = match (ttl, opts.stale) {
            (Some(ttl), Some(stale)) => (
                Some(ttl.saturating_add(stale)),
                Some(now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))),
            ),
            (ttl, _) => (ttl, None),
        };
        let payload = self.inner.codec.encode(value)?;
        let bytes = self
            .inner
            .frame
            .encode(full, self.inner.codec.id(), fresh_until, &payload);
        let tags = opts
            .tags
            .iter()
            .map(|t| self.tag_key(t))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((
            bytes,
            WriteOptions {
                ttl: store_ttl,
                tags,
            },
        )))
    }

    /// Decodes stored bytes; `Ok((value, stale))`.
    fn decode<T: DeserializeOwned>(&self, full: &str, bytes: &[u8]) -> Result<(T, bool)> {
        let frame = self.inner.frame.decode(full, bytes)?;
        if frame.codec_id != self.inner.codec.id() {
            return Err(Error::Decode(format!(
                "value written by codec id {}, this cache uses {} (id {})",
                frame.codec_id,
                self.inner.codec.name(),
                self.inner.codec.id()
            )));
        }
        let value = self.inner.codec.decode(&frame.payload)?;
        let stale = frame.fresh_until_ms.is_some_and(|t| now_ms() >= t);
        Ok((value, stale))
    }

    /// Decodes, turning a failure into a counted, logged miss.
    fn decode_or_miss<T: DeserializeOwned>(&self, full: &str, bytes: &[u8]) -> Read<T> {
        match self.decode(full, bytes) {
            Ok((v, false)) => Read::Fresh(v),
            Ok((v, true)) => Read::Stale(v),
            Err(e) => {
                self.count(|c| &c.decode_errors, 1);
                tracing::warn!(target: "cache", key = full, error = %e, "undecodable cached value treated as a miss");
                Read::Miss
            }
        }
    }

    async fn store_set(&self, full: &str, bytes: Bytes, opts: &WriteOptions) -> Result<()> {
        match &self.inner.memory {
            Some(memory) => {
                memory.set_data(full, bytes, opts).await;
                Ok(())
            }
            None => self.inner.store.set(full, bytes, opts).await,
        }
    }

    async fn store_get(&self, full: &str) -> Result<Option<Bytes>> {
        match &self.inner.memory {
            Some(memory) => Ok(memory.get_data(full).await),
            None => self.inner.store.get(full).await,
        }
    }

    async fn read<T: DeserializeOwned>(&self, full: &str) -> Result<Read<T>> {
        match self.store_get(full).await {
            Ok(Some(bytes)) => Ok(self.decode_or_miss(full, &bytes)),
            Ok(None) => Ok(Read::Miss),
            Err(e) => Err(self.backend_error("get", full, e)),
        }
    }

    /// Reads a value. A missing, expired, stale or undecodable value is `None` (an undecodable
    /// one is counted in [`Stats::decode_errors`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.get::<u32>("nope").await?, None);
    /// cache.set("n", &7u32).await?;
    /// assert_eq!(cache.get::<u32>("n").await?, Some(7));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let full = self.full_key(key)?;
        let out = match self.read(&full).await? {
            Read::Fresh(v) => Some(v),
            Read::Stale(_) | Read::Miss => None,
        };
        self.count_read(out.is_some());
        Ok(out)
    }

    /// For the macros' background refresh: one read, telling a fresh or stale value (both
    /// served, so counted as hits; a stale one with whether a load of it is in flight) from
    /// anything else (not counted: the load that follows counts it).
    pub(crate) async fn peek<T: DeserializeOwned>(&self, key: &str) -> Peek<T> {
        let Ok(full) = self.full_key(key) else {
            return Peek::Other;
        };
        match self.read::<T>(&full).await {
            Ok(Read::Fresh(v)) => {
                self.count_read(true);
                Peek::Fresh(v)
            }
            Ok(Read::Stale(v)) => {
                self.count_read(true);
                Peek::Stale(v, self.inner.flights.in_flight(&full))
            }
            Ok(Read::Miss) | Err(_) => Peek::Other,
        }
    }

    fn count_read(&self, hit: bool) {
        if hit {
            self.count(|c| &c.hits, 1);
        } else {
            self.count(|c| &c.misses, 1);
        }
    }

    /// Reads raw bytes written with [`set_bytes`](Cache::set_bytes), bypassing the codec (they
    /// still go through the namespace and the value frame, so foreign, tampered or typed values
    /// are a counted miss). For callers with their own compact binary format, such as the HTTP
    /// response cache.
    ///
    /// ```
    /// use bytes::Bytes;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_bytes("blob", Bytes::from_static(b"\x00\x01"), ()).await?;
    /// assert_eq!(cache.get_bytes("blob").await?.as_deref(), Some(&b"\x00\x01"[..]));
    /// cache.set("typed", &1).await?;
    /// assert_eq!(cache.get_bytes("typed").await?, None);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>> {
        let full = self.full_key(key)?;
        let stored = self
            .store_get(&full)
            .await
            .map_err(|e| self.backend_error("get", &full, e))?;
        let out = stored.and_then(|bytes| self.raw_payload(&full, bytes));
        self.count_read(out.is_some());
        Ok(out)
    }

    /// [`get_bytes`](Cache::get_bytes), with a [`ReadStamp`] when the store is the in-process
    /// [`MemoryStore`] (`None` for others): it tells later, without reading again, whether the
    /// bytes are still the stored ones.
    ///
    /// ```
    /// use bytes::Bytes;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert!(cache.get_bytes_stamped("page").await?.is_none());
    /// cache.set_bytes("page", Bytes::from_static(b"<html>"), ()).await?;
    /// let (bytes, stamp) = cache.get_bytes_stamped("page").await?.unwrap();
    /// assert_eq!(&bytes[..], b"<html>");
    /// assert!(stamp.unwrap().is_current());
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get_bytes_stamped(&self, key: &str) -> Result<Option<(Bytes, Option<ReadStamp>)>> {
        let Some(memory) = &self.inner.memory else {
            return Ok(self.get_bytes(key).await?.map(|b| (b, None)));
        };
        // The version is part of the key read, so it is noted (with the key's counter) first.
        let version = self.version();
        let full = self.full_key(key)?;
        let (seen, stored) = memory.get_seen(&full).await;
        let out = stored.and_then(|(bytes, expires_at)| {
            let payload = self.raw_payload(&full, bytes)?;
            let stamp = ReadStamp::new(
                self.clone(),
                Arc::clone(memory.stamps()),
                seen,
                version,
                expires_at,
            );
            Some((payload, Some(stamp)))
        });
        self.count_read(out.is_some());
        Ok(out)
    }

    /// The payload of a stored value written by [`set_bytes`](Cache::set_bytes); anything else
    /// is a counted, logged miss.
    fn raw_payload(&self, full: &str, bytes: Bytes) -> Option<Bytes> {
        match self.inner.frame.decode(full, &bytes) {
            Ok(frame) if frame.codec_id == crate::codec::RAW_ID => Some(match frame.payload {
                std::borrow::Cow::Borrowed(p) => bytes.slice_ref(p),
                std::borrow::Cow::Owned(p) => Bytes::from(p),
            }),
            Ok(frame) => {
                self.count(|c| &c.decode_errors, 1);
                tracing::warn!(target: "cache", key = full, codec = frame.codec_id, "typed value read as raw bytes; treated as a miss");
                None
            }
            Err(e) => {
                self.count(|c| &c.decode_errors, 1);
                tracing::warn!(target: "cache", key = full, error = %e, "undecodable cached value treated as a miss");
                None
            }
        }
    }

    /// Counts a hit served from a caller's copy (see [`ReadStamp::reuse`]).
    pub(crate) fn count_hit(&self) {
        self.count_read(true);
    }

    /// Writes raw bytes (no codec) with options; read them back with
    /// [`get_bytes`](Cache::get_bytes). A zero TTL writes nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use cache_core::SetOptions;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// let opts = SetOptions::new().ttl(Duration::from_secs(60)).tag("pages");
    /// cache.set_bytes("page:/", Bytes::from_static(b"<html>"), opts).await?;
    /// assert_eq!(cache.invalidate_tags(["pages"]).await?, 1);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn set_bytes(
        &self,
        key: &str,
        value: Bytes,
        opts: impl Into<SetOptions>,
    ) -> Result<()> {
        self.set_raw(key, opts.into(), |frame, full| {
            frame.encode(full, crate::codec::RAW_ID, None, &value)
        })
        .await
    }

    /// [`set_bytes`](Cache::set_bytes) of the bytes `write` appends to a buffer (`len`: how
    /// many it is expected to write), for a caller that would otherwise build them only to
    /// have them copied: they are written straight into the stored value.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// let parts: [&[u8]; 2] = [b"<html>", b"</html>"];
    /// cache
    ///     .set_bytes_with("page:/", 13, |buf| parts.iter().for_each(|p| buf.extend_from_slice(p)), ())
    ///     .await?;
    /// assert_eq!(cache.get_bytes("page:/").await?.as_deref(), Some(&b"<html></html>"[..]));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn set_bytes_with(
        &self,
        key: &str,
        len: usize,
        write: impl FnOnce(&mut Vec<u8>),
        opts: impl Into<SetOptions>,
    ) -> Result<()> {
        self.set_raw(key, opts.into(), |frame, full| {
            frame.encode_with(full, crate::codec::RAW_ID, len, write)
        })
        .await
    }

    /// Frames a raw value with `encode` (given the frame settings and the full key) and writes
    /// it, unless the TTL is zero.
    async fn set_raw(
        &self,
        key: &str,
        opts: SetOptions,
        encode: impl FnOnce(&crate::frame::FrameConfig, &str) -> Bytes,
    ) -> Result<()> {
        let full = self.full_key(key)?;
        let ttl = self.resolve_ttl(opts.ttl);
        if ttl == Some(Duration::ZERO) {
            return Ok(());
        }
        let bytes = encode(&self.inner.frame, &full);
        let tags = opts
            .tags
            .iter()
            .map(|t| self.tag_key(t))
            .collect::<Result<Vec<_>>>()?;
        self.store_set(&full, bytes, &WriteOptions { ttl, tags })
            .await
            .map_err(|e| self.backend_error("set", &full, e))?;
        self.count(|c| &c.sets, 1);
        Ok(())
    }

    /// Writes a value with the default TTL.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("list", &vec!["a", "b"]).await?;
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.set_with(key, value, SetOptions::new()).await
    }

    /// Writes a value with options (a `Duration` is a TTL).
    ///
    /// ```
    /// use std::time::Duration;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_with("k", &1, Duration::from_secs(30)).await?;
    /// assert!(cache.ttl("k").await?.remaining().unwrap() <= Duration::from_secs(30));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn set_with<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        opts: impl Into<SetOptions>,
    ) -> Result<()> {
        let full = self.full_key(key)?;
        let Some((bytes, wopts)) = self.encode(&full, value, &opts.into())? else {
            return Ok(());
        };
        self.store_set(&full, bytes, &wopts)
            .await
            .map_err(|e| self.backend_error("set", &full, e))?;
        self.count(|c| &c.sets, 1);
        Ok(())
    }

    /// Writes a value only if the key is absent; returns whether it was written.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert!(cache.add("lock", &"me", ()).await?);
    /// assert!(!cache.add("lock", &"you", ()).await?);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn add<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        opts: impl Into<SetOptions>,
    ) -> Result<bool> {
        let full = self.full_key(key)?;
        let Some((bytes, wopts)) = self.encode(&full, value, &opts.into())? else {
            return Ok(false);
        };
        let added = self
            .call("add", &full, self.inner.store.add(&full, bytes, &wopts))
            .await?;
        if added {
            self.count(|c| &c.sets, 1);
        }
        Ok(added)
    }

    /// Returns the cached value, or runs `loader`, caches its value and returns it.
    ///
    /// Concurrent callers of one cold key run one loader (unless `opts.lock(false)`); see
    /// [Concurrent calls on the same key](Cache#concurrent-calls-on-the-same-key). With
    /// [`SetOptions::stale`], a value past its TTL is still served to concurrent callers while
    /// one caller refreshes it. Cache failures are logged and counted, never returned: the loader
    /// runs instead.
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
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
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
        T: Serialize + DeserializeOwned,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
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
        T: Serialize + DeserializeOwned,
        S: Sharing<E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let full = match self.full_key(key) {
            Ok(full) => full,
            Err(e) => {
                self.count(|c| &c.errors, 1);
                tracing::warn!(target: "cache", key, error = %e, "uncacheable key; running the loader");
                return loader().await.map_err(|e| S::lead(e).0);
            }
        };
        let mut stale = None;
        loop {
            match self.read::<T>(&full).await {
                Ok(Read::Fresh(v)) => {
                    self.count_read(true);
                    return Ok(v);
                }
                Ok(Read::Stale(v)) => stale = Some(v),
                Ok(Read::Miss) => {}
                // Already counted and logged: fall through to the loader.
                Err(_) => {}
            }
            if !opts.lock {
                self.count_read(false);
                return self
                    .run_loader::<T, E, S, _, _>(&full, opts, loader, store_if, None)
                    .await;
            }
            match self.inner.flights.join(&full) {
                Join::Leader(leader) => {
                    if stale.is_none() {
                        // A load may have finished between our read and our join.
                        if let Ok(Some(bytes)) = self.store_get(&full).await {
                            // Quietly: an undecodable value was already counted by the read above.
                            if let Ok((v, false)) = self.decode::<T>(&full, &bytes) {
                                self.count_read(true);
                                leader.finish(Outcome::Value(bytes));
                                return Ok(v);
                            }
                        }
                    }
                    self.count_read(false);
                    return self
                        .run_loader::<T, E, S, _, _>(&full, opts, loader, store_if, Some(leader))
                        .await;
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
                        .run_loader::<T, E, S, _, _>(&full, opts, loader, store_if, None)
                        .await;
                }
            }
        }
    }

    async fn run_loader<T, E, S, F, Fut>(
        &self,
        full: &str,
        opts: &SetOptions,
        loader: F,
        store_if: impl FnOnce(&T) -> bool,
        leader: Option<flight::Leader<'_>>,
    ) -> Result<T, S::Out>
    where
        T: Serialize + DeserializeOwned,
        S: Sharing<E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match loader().await {
            Ok(value) => {
                let encoded = match self.encode(full, &value, opts) {
                    Ok(e) => e,
                    Err(e) => {
                        self.count(|c| &c.errors, 1);
                        tracing::warn!(target: "cache", key = full, error = %e, "value not cached");
                        None
                    }
                };
                if let Some((bytes, wopts)) = encoded {
                    if store_if(&value) {
                        match self.store_set(full, bytes.clone(), &wopts).await {
                            Ok(()) => self.count(|c| &c.sets, 1),
                            Err(e) => {
                                self.backend_error("set", full, e);
                            }
                        }
                    }
                    if let Some(leader) = leader {
                        leader.finish(Outcome::Value(bytes));
                    }
                }
                Ok(value)
            }
            Err(e) => {
                let (out, shared) = S::lead(e);
                if let Some(leader) = leader {
                    leader.finish(Outcome::Failed(shared));
                }
                Err(out)
            }
        }
    }

    /// Deletes a key; returns whether it existed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("k", &1).await?;
    /// assert!(cache.delete("k").await?);
    /// assert!(!cache.delete("k").await?);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key)?;
        let existed = self
            .call("delete", &full, self.inner.store.delete(&full))
            .await?;
        self.count(|c| &c.deletes, u64::from(existed));
        self.log_invalidation(InvalidationKind::Key, [key], u64::from(existed));
        Ok(existed)
    }

    /// Deletes many keys; returns how many existed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.delete_many(["a", "b"]).await?, 1);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn delete_many<I, K>(&self, keys: I) -> Result<u64>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let keys: Vec<K> = keys.into_iter().collect();
        let full = self.full_keys(&keys)?;
        let n = self
            .call("delete_many", "", self.inner.store.delete_many(&full))
            .await?;
        self.count(|c| &c.deletes, n);
        self.log_invalidation(InvalidationKind::Keys, &keys, n);
        Ok(n)
    }

    fn full_keys<I, K>(&self, keys: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        keys.into_iter()
            .map(|k| self.full_key(k.as_ref()))
            .collect()
    }

    /// Returns whether a key exists.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert!(!cache.exists("k").await?);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn exists(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key)?;
        self.call("exists", &full, self.inner.store.exists(&full))
            .await
    }

    /// Reads and deletes a value atomically.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("once", &"token").await?;
    /// assert_eq!(cache.take::<String>("once").await?.as_deref(), Some("token"));
    /// assert_eq!(cache.take::<String>("once").await?, None);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let full = self.full_key(key)?;
        let bytes = self
            .call("take", &full, self.inner.store.take(&full))
            .await?;
        let out = match bytes {
            Some(b) => {
                self.count(|c| &c.deletes, 1);
                match self.decode_or_miss(&full, &b) {
                    Read::Fresh(v) => Some(v),
                    Read::Stale(_) | Read::Miss => None,
                }
            }
            None => None,
        };
        self.count_read(out.is_some());
        Ok(out)
    }

    /// Reads many values; one slot per key, in order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.get_many::<i32, _, _>(["a", "b"]).await?, vec![Some(1), None]);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get_many<T, I, K>(&self, keys: I) -> Result<Vec<Option<T>>>
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let full = self.full_keys(keys)?;
        let values = self
            .call("get_many", "", self.inner.store.get_many(&full))
            .await?;
        Ok(full
            .iter()
            .zip(values)
            .map(|(k, v)| {
                let out = v.and_then(|b| match self.decode_or_miss(k, &b) {
                    Read::Fresh(v) => Some(v),
                    Read::Stale(_) | Read::Miss => None,
                });
                self.count_read(out.is_some());
                out
            })
            .collect())
    }

    /// Writes many values with the same options.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_many([("a", &1), ("b", &2)], ()).await?;
    /// assert_eq!(cache.get::<i32>("b").await?, Some(2));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn set_many<'v, T, I, K>(&self, entries: I, opts: impl Into<SetOptions>) -> Result<()>
    where
        T: Serialize + ?Sized + 'v,
        I: IntoIterator<Item = (K, &'v T)>,
        K: AsRef<str>,
    {
        let opts = opts.into();
        let mut batch = Vec::new();
        let mut wopts = None;
        for (k, v) in entries {
            let full = self.full_key(k.as_ref())?;
            if let Some((bytes, w)) = self.encode(&full, v, &opts)? {
                batch.push((full, bytes));
                wopts = Some(w);
            }
        }
        let Some(wopts) = wopts else { return Ok(()) };
        self.call("set_many", "", self.inner.store.set_many(&batch, &wopts))
            .await?;
        self.count(|c| &c.sets, batch.len() as u64);
        Ok(())
    }

    /// Lists this namespace's keys matching a glob (`*`, `?`, `[..]`, `\` escapes), without
    /// the namespace.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("user:1", &1).await?;
    /// cache.set("post:1", &1).await?;
    /// assert_eq!(cache.keys("user:*").await?, vec!["user:1".to_string()]);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn keys(&self, pattern: &str) -> Result<Vec<String>> {
        let full = self.full_pattern(pattern)?;
        let ns = self.namespace();
        let mut keys = self
            .call("keys", &full, self.inner.store.scan(&full))
            .await?;
        for k in &mut keys {
            k.drain(..ns.len().min(k.len()));
        }
        keys.sort_unstable();
        Ok(keys)
    }

    /// Deletes this namespace's keys matching a glob; returns how many were deleted.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("user:1", &1).await?;
    /// cache.set("user:2", &2).await?;
    /// assert_eq!(cache.delete_pattern("user:*").await?, 2);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let full = self.full_pattern(pattern)?;
        let n = self
            .call(
                "delete_pattern",
                &full,
                self.inner.store.delete_pattern(&full),
            )
            .await?;
        self.count(|c| &c.deletes, n);
        self.log_invalidation(InvalidationKind::Pattern, [pattern], n);
        Ok(n)
    }

    /// Deletes every entry written with one of `tags`; returns how many were deleted.
    ///
    /// ```
    /// use cache_core::SetOptions;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_with("user:1", &1, SetOptions::new().tag("users")).await?;
    /// assert_eq!(cache.invalidate_tags(["users"]).await?, 1);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn invalidate_tags<I, S>(&self, tags: I) -> Result<u64>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<S> = tags.into_iter().collect();
        let tags = names
            .iter()
            .map(|t| self.tag_key(t.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let n = self
            .call(
                "invalidate_tags",
                "",
                self.inner.store.invalidate_tags(&tags),
            )
            .await?;
        self.count(|c| &c.deletes, n);
        self.log_invalidation(InvalidationKind::Tags, &names, n);
        Ok(n)
    }

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

    /// Deletes every key of this namespace and version (never anything else); returns how many.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.clear().await?, 1);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn clear(&self) -> Result<u64> {
        let full = self.full_pattern("*")?;
        let n = self
            .call("clear", &full, self.inner.store.clear(&full))
            .await?;
        self.count(|c| &c.deletes, n);
        self.log_invalidation(InvalidationKind::Clear, [""; 0], n);
        Ok(n)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot(self.inner.store.stats())
    }

    /// The most recent invalidations through this cache (deletes, patterns, tags, clears and
    /// version bumps that succeeded), oldest first; up to 64 are kept.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("user:1", &1).await?;
    /// cache.delete("user:1").await?;
    /// let events = cache.recent_invalidations();
    /// assert_eq!(events[0].targets, ["user:1"]);
    /// assert_eq!(events[0].deleted, 1);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn recent_invalidations(&self) -> Vec<InvalidationEvent> {
        self.inner.invalidations.snapshot()
    }

    fn log_invalidation<I, S>(&self, kind: InvalidationKind, targets: I, deleted: u64)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.inner.invalidations.record(kind, targets, deleted);
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

    /// Whether a load of `key` is in flight (for tests and diagnostics).
    #[doc(hidden)]
    pub fn __in_flight(&self, key: &str) -> bool {
        self.full_key(key)
            .is_ok_and(|full| self.inner.flights.in_flight(&full))
    }
}

/// Builds a [`Cache`]; see [`Cache::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheBuilder {
    store: Option<Arc<dyn Store>>,
    url: Option<String>,
    prefix: String,
    version: u64,
    default_ttl: Option<Duration>,
    short_ttl: Duration,
    long_ttl: Duration,
    codec: CodecImpl,
    frame: FrameConfig,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            store: None,
            url: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            version: 1,
            default_ttl: None,
            short_ttl: DEFAULT_SHORT_TTL,
            long_ttl: DEFAULT_LONG_TTL,
            codec: CodecImpl::Json,
            frame: FrameConfig::default(),
        }
    }
}

impl CacheBuilder {
    /// Uses this store (overrides [`url`](Self::url)).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Uses this shared store (overrides [`url`](Self::url)).
    pub fn store_arc(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses the store a URL names; see [`Cache::from_url`].
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The namespace prefix (letters, digits, `_`, `-`, `.`); default `cache`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The starting version; default 1.
    pub fn version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// The TTL of writes that name none; default none (entries live until evicted).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The `short` TTL preset; default one minute.
    pub fn short_ttl(mut self, ttl: Duration) -> Self {
        self.short_ttl = ttl;
        self
    }

    /// The `long` TTL preset; default one hour.
    pub fn long_ttl(mut self, ttl: Duration) -> Self {
        self.long_ttl = ttl;
        self
    }

    /// The codec; default [`Json`](crate::codec::Json).
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = CodecImpl::from_codec(codec);
        self
    }

    /// Compresses (lz4) values whose encoded size is above `bytes`; default off.
    pub fn compress_over(mut self, bytes: usize) -> Self {
        self.frame.compress_over = Some(bytes);
        self
    }

    /// Signs every value with keyed blake3; values that do not verify (tampered, or written
    /// with another key) are misses, counted in [`Stats::decode_errors`].
    pub fn signing_key(mut self, key: [u8; 32]) -> Self {
        self.frame.signing_key = Some(key);
        self
    }

    /// Reads `CACHE_URL`, `CACHE_PREFIX`, `CACHE_VERSION` and `CACHE_TTL_*` through `var`.
    pub(crate) fn with_env_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        if let Some(url) = var("CACHE_URL").filter(|s| !s.trim().is_empty()) {
            self.url = Some(url.trim().to_owned());
        }
        if let Some(p) = var("CACHE_PREFIX") {
            self.prefix = p.trim().to_owned();
        }
        if let Some(v) = var("CACHE_VERSION") {
            self.version = v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "CACHE_VERSION={v:?}: expected a non-negative integer"
                ))
            })?;
        }
        let ttl = |name: &str| -> Result<Option<Duration>> {
            var(name)
                .map(|v| crate::ttl::parse(&v).map_err(|e| Error::Config(format!("{name}: {e}"))))
                .transpose()
        };
        if let Some(d) = ttl("CACHE_TTL_DEFAULT")? {
            self.default_ttl = Some(d);
        }
        if let Some(d) = ttl("CACHE_TTL_SHORT")? {
            self.short_ttl = d;
        }
        if let Some(d) = ttl("CACHE_TTL_LONG")? {
            self.long_ttl = d;
        }
        Ok(self)
    }

    /// Builds the cache, connecting to the store a URL names.
    pub async fn build(mut self) -> Result<Cache> {
        key::validate_prefix(&self.prefix)?;
        crate::config::take_frame_options(&mut self.url, &mut self.frame)?;
        let store = match (&self.store, &self.url) {
            (Some(store), _) => Arc::clone(store),
            (None, Some(url)) => crate::config::store_from_url(url).await?,
            (None, None) => Arc::new(MemoryStore::new()),
        };
        let shared = store.load_version(&self.prefix).await?;
        let mut builder = self;
        if let Some(v) = shared {
            builder.version = builder.version.max(v);
        }
        Ok(builder.assemble(store))
    }

    /// Builds the cache without connecting: for an explicit [`store`](Self::store), a `mem://`
    /// URL, or neither (in-memory).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().prefix("app").build_now()?;
    /// assert_eq!(cache.prefix(), "app");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn build_now(mut self) -> Result<Cache> {
        key::validate_prefix(&self.prefix)?;
        crate::config::take_frame_options(&mut self.url, &mut self.frame)?;
        let store = match (&self.store, &self.url) {
            (Some(store), _) => Arc::clone(store),
            (None, Some(url)) => crate::config::store_from_url_now(url)?,
            (None, None) => Arc::new(MemoryStore::new()),
        };
        Ok(self.assemble(store))
    }

    fn assemble(self, store: Arc<dyn Store>) -> Cache {
        let memory = store.as_memory().cloned();
        let version = Arc::new(AtomicU64::new(self.version));
        store.watch_version(&self.prefix, Arc::downgrade(&version));
        Cache {
            inner: Arc::new(Inner {
                store,
                memory,
                prefix: self.prefix,
                version,
                default_ttl: self.default_ttl,
                short_ttl: self.short_ttl,
                long_ttl: self.long_ttl,
                codec: self.codec,
                frame: self.frame,
                counters: Counters::default(),
                flights: Flights::default(),
                invalidations: InvalidationLog::default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_vars_are_read_and_bad_ones_named() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let b = CacheBuilder::default()
            .with_env_vars(env(&[
                ("CACHE_PREFIX", "shop"),
                ("CACHE_VERSION", "4"),
                ("CACHE_TTL_DEFAULT", "5m"),
                ("CACHE_TTL_SHORT", "90"),
                ("CACHE_TTL_LONG", "1h30m"),
            ]))
            .unwrap();
        assert_eq!(b.prefix, "shop");
        assert_eq!(b.version, 4);
        assert_eq!(b.default_ttl, Some(Duration::from_secs(300)));
        assert_eq!(b.short_ttl, Duration::from_secs(90));
        assert_eq!(b.long_ttl, Duration::from_secs(5400));

        let e = CacheBuilder::default()
            .with_env_vars(env(&[("CACHE_TTL_SHORT", "5 parsecs")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CACHE_TTL_SHORT") && e.contains("parsecs"),
            "{e}"
        );
        let e = CacheBuilder::default()
            .with_env_vars(env(&[("CACHE_VERSION", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CACHE_VERSION"), "{e}");
    }

    #[test]
    fn bad_prefix_is_a_config_error() {
        let e = Cache::builder().prefix("a:b").build_now().unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }
}
