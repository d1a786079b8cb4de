//! [`RedisStore`]: the store on Redis (standalone, Cluster or Sentinel) through `fred`.
//!
//! Design notes:
//! - Commands go through a `fred` pool; each connection pipelines the commands issued on it
//!   concurrently, so batches are sent as many concurrent commands (grouped by hash slot in a
//!   cluster, since a multi-key command must stay within one slot).
//! - Every command has a timeout (default 1 s): a hung server gives [`Error::Timeout`],
//!   never a hung request. A refused or reset connection fails at once: a command is sent only
//!   on a connected client, and one in flight when its connection drops is not retried. The
//!   client reconnects on its own (after 1 ms, then backing off to every 500 ms). Opened from a URL, the store is behind
//!   a breaker ([`GuardedStore`](crate::store::GuardedStore)), so a dead server costs one
//!   timeout per cool-down, not one per call.
//! - Pattern operations `SCAN` every primary and `UNLINK` what matched, in slot-grouped batches.
//!   Nothing ever runs `FLUSHDB`.
//! - A tag is a Redis hash `tag → {key: write id}` whose expiry follows its longest-lived
//!   member. A tagged value is stored behind a 17-byte marker holding its write id, so
//!   invalidating a tag deletes a key only while it still holds the write that carried the tag
//!   (a key re-written since is left alone), checked and deleted atomically by a script.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use fred::clients::{Client, WithOptions};
use fred::prelude::Options;
use fred::prelude::{
    ClientLike, Error as FredError, ErrorKind, KeysInterface, Pool, ReconnectPolicy, ServerConfig,
};
use fred::types::scan::Scanner;
use fred::types::scripts::Script;
use fred::types::{Builder, Value};

use scripts::Scripts;
use tags::unmark;

/// Keys per `SCAN` page.
const SCAN_COUNT: u32 = 1000;
/// Keys per `UNLINK`/`MGET`/script call.
const BATCH: usize = 500;
use futures_util::future::try_join_all;
use futures_util::StreamExt;

use super::version::VersionCells;
use super::StoreStats;
use super::{
    BoxFuture, BusEvent, Capabilities, Capability, Invalidation, InvalidationBus, KeyTtl, Store,
    WriteOptions,
};
use crate::error::{Error, Result};

pub(crate) mod bus;
mod connect;
mod scripts;
mod tags;
pub(crate) mod url;

pub use bus::{RedisBus, CHANNEL};

/// The Redis store: standalone, Cluster or Sentinel, chosen by URL.
///
/// Usually built through [`Cache::from_url`](crate::Cache::from_url); the URL query sets the
/// pool size and timeouts:
///
/// | URL | deployment |
/// |---|---|
/// | `redis://[user:pass@]host:port[/db]` | one server |
/// | `rediss://…` | one server over TLS (feature `redis-tls`) |
/// | `redis-cluster://h1:p1,h2:p2,…` | Redis Cluster (any reachable nodes; the rest are discovered) |
/// | `redis-sentinel://s1:p1,s2:p2[/db]?service_name=NAME` | the primary a Sentinel group names |
///
/// | option | default | meaning |
/// |---|---|---|
/// | `pool=N` | 2 | connections; each pipelines concurrent commands |
/// | `timeout_ms=N` | 1000 | per-command timeout ([`Error::Timeout`] after it) |
/// | `connect_timeout_ms=N` | 2000 | time to open a connection |
/// | `breaker_threshold=N` | 1 | consecutive backend errors that open the breaker (URL only) |
/// | `breaker_cooldown=1s` | 1s | time the open breaker answers at once, before one probe |
///
/// ```no_run
/// use cache_core::store::RedisStore;
/// use cache_core::Cache;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = RedisStore::connect("redis://127.0.0.1:6379?pool=8&timeout_ms=500").await?;
/// let cache = Cache::builder().store(store).prefix("shop").build().await?;
/// cache.set("greeting", "hello").await?;
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub struct RedisStore {
    pool: Pool,
    cluster: bool,
    timeout: Duration,
    url: String,
    scripts: Scripts,
    /// Write ids: a random start, so two processes do not hand out the same ids.
    next_id: AtomicU64,
    /// What the invalidation bus is built from, and the bus once started.
    bus: BusCell,
    /// Per-command options: fail at once rather than wait for a reconnection.
    fail_fast: Options,
}

/// The lazily started pub/sub bus of a store, and the version cells it raises.
#[derive(Clone)]
struct BusCell {
    builder: Builder,
    pool: Pool,
    url: String,
    origin: u64,
    cell: Arc<tokio::sync::OnceCell<Arc<RedisBus>>>,
    versions: Arc<VersionCells>,
}

impl BusCell {
    async fn get(&self) -> Result<Arc<RedisBus>> {
        self.cell
            .get_or_try_init(|| async {
                let bus = RedisBus::start(
                    &self.builder,
                    self.pool.clone(),
                    self.origin,
                    self.url.clone(),
                )
                .await?;
                let versions = Arc::downgrade(&self.versions);
                bus.subscribe(Arc::new(move |event| {
                    if let (
                        BusEvent::Message(Invalidation::Version { prefix, version }),
                        Some(cells),
                    ) = (&event, versions.upgrade())
                    {
                        cells.raise(prefix, *version);
                    }
                    Box::pin(std::future::ready(()))
                }));
                Ok(Arc::new(bus))
            })
            .await
            .cloned()
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("cluster", &self.cluster)
            .field("pool", &self.pool.size())
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn millis(d: Duration) -> i64 {
    // Round a sub-millisecond TTL up: zero would mean "expire now" (or be refused).
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl RedisStore {
    /// The pub/sub invalidation bus on this server, started on first use (one subscriber
    /// connection per store). A [`TieredStore`](crate::store::TieredStore) over this store uses
    /// it to keep every instance's L1 coherent; the store itself uses it to tell other processes
    /// of a version bump.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let bus = store.bus().await?;
    /// # let _ = bus;
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn bus(&self) -> Result<Arc<RedisBus>> {
        self.bus.get().await
    }

    /// True when connected to a Redis Cluster.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::RedisStore::connect("redis-cluster://127.0.0.1:7000").await?;
    /// assert!(store.is_cluster());
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The per-command timeout.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::RedisStore::connect("redis://127.0.0.1?timeout_ms=250").await?;
    /// assert_eq!(store.timeout(), std::time::Duration::from_millis(250));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn err(&self, e: FredError) -> Error {
        match e.kind() {
            ErrorKind::Timeout => Error::Timeout(self.timeout),
            _ => Error::Backend(format!("{} ({})", e, self.url)),
        }
    }

    async fn run<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, FredError>>,
    ) -> Result<T> {
        // fred applies the command timeout itself; this outer bound is a second line of
        // defence so that no path through the client can hang a caller.
        match tokio::time::timeout(self.guard(), f).await {
            Ok(r) => r.map_err(|e| self.err(e)),
            Err(_) => Err(Error::Timeout(self.timeout)),
        }
    }

    fn guard(&self) -> Duration {
        self.timeout + Duration::from_millis(50)
    }

    /// A connected client of the pool, or an error at once when none is connected (the server
    /// is down and the pool reconnecting): a command sent now would wait in the client's queue
    /// for the whole timeout.
    fn client(&self) -> Result<WithOptions<Client>> {
        Ok(self.raw()?.with_options(&self.fail_fast))
    }

    /// A connected client without the fail-fast option (for scripts, pipelines and scans,
    /// which fred sends without per-command options).
    fn raw(&self) -> Result<&Client> {
        let next = self.pool.next();
        if next.is_connected() {
            return Ok(next);
        }
        self.pool
            .clients()
            .iter()
            .find(|c| c.is_connected())
            .ok_or_else(|| Error::Backend(format!("not connected to {} (reconnecting)", self.url)))
    }

    /// The next page of a scan, bounded by the command timeout (fred's scan streams have none).
    async fn next_page(
        &self,
        pages: &mut futures_util::stream::BoxStream<'static, Result<Vec<String>>>,
    ) -> Result<Option<Vec<String>>> {
        match tokio::time::timeout(self.timeout, pages.next()).await {
            Ok(page) => page.transpose(),
            Err(_) => Err(Error::Timeout(self.timeout)),
        }
    }

    /// Groups keys by hash slot (one group outside a cluster), in batches of at most [`BATCH`].
    fn batches<'k, K: AsRef<str> + 'k>(
        &self,
        keys: impl IntoIterator<Item = (usize, &'k K)>,
    ) -> Vec<Vec<usize>> {
        let mut groups: std::collections::HashMap<u16, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, k) in keys {
            let slot = if self.cluster {
                fred::util::redis_keyslot(k.as_ref().as_bytes())
            } else {
                0
            };
            groups.entry(slot).or_default().push(i);
        }
        groups
            .into_values()
            .flat_map(|idx| idx.chunks(BATCH).map(<[usize]>::to_vec).collect::<Vec<_>>())
            .collect()
    }

    async fn eval<R: fred::types::FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R> {
        self.run(script.evalsha_with_reload(self.raw()?, keys, args))
            .await
    }

    async fn unlink_keys(&self, keys: &[String]) -> Result<u64> {
        let groups = self.batches(keys.iter().enumerate());
        let counts = try_join_all(groups.into_iter().map(|idx| {
            let batch: Vec<String> = idx.into_iter().map(|i| keys[i].clone()).collect();
            async move { self.run(self.client()?.unlink::<u64, _>(batch)).await }
        }))
        .await?;
        Ok(counts.into_iter().sum())
    }

    /// Streams the keys matching `pattern` on every primary, one page at a time.
    fn scan_stream(
        &self,
        pattern: &str,
    ) -> futures_util::stream::BoxStream<'static, Result<Vec<String>>> {
        let client = match self.raw() {
            Ok(c) => c,
            Err(e) => return futures_util::stream::once(std::future::ready(Err(e))).boxed(),
        };
        let pattern = pattern.to_owned();
        // Paged, not buffered: the next page is requested only when this one is dropped, so
        // memory stays bounded by a page or two however large the keyspace.
        let pages = if self.cluster {
            client.scan_cluster(pattern, Some(SCAN_COUNT), None).boxed()
        } else {
            client.scan(pattern, Some(SCAN_COUNT), None).boxed()
        };
        let timeout = self.timeout;
        let url = self.url.clone();
        pages
            .map(move |page| match page {
                Ok(mut page) => Ok(page
                    .take_results()
                    .unwrap_or_default()
                    .into_iter()
                    // Keys that are not UTF-8 are not ours.
                    .filter_map(|k| k.into_string())
                    .collect()),
                Err(e) if *e.kind() == ErrorKind::Timeout => Err(Error::Timeout(timeout)),
                Err(e) => Err(Error::Backend(format!("SCAN failed: {e} ({url})"))),
            })
            .boxed()
    }
}

fn is_not_integer(e: &FredError) -> bool {
    let d = e.details().to_ascii_lowercase();
    d.contains("not an integer") || d.contains("overflow") || d.contains("wrongtype")
}

impl Store for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> Capabilities {
        // Not `Persistent`: a cache on Redis may be evicted or lost with the server.
        Capabilities::ALL.without(Capability::Persistent)
    }

    fn invalidation_bus(&self) -> BoxFuture<'_, Result<Option<Arc<dyn InvalidationBus>>>> {
        Box::pin(async move {
            let bus: Arc<dyn InvalidationBus> = self.bus.get().await?;
            Ok(Some(bus))
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let v: Option<Bytes> = self.run(self.client()?.get(key)).await?;
            Ok(v.map(unmark))
        })
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(async move {
            let groups = self.batches(keys.iter().enumerate());
            let results = try_join_all(groups.into_iter().map(|idx| async move {
                let batch: Vec<String> = idx.iter().map(|&i| keys[i].clone()).collect();
                let vals: Vec<Option<Bytes>> = self.run(self.client()?.mget(batch)).await?;
                Ok::<_, Error>((idx, vals))
            }))
            .await?;
            let mut out = vec![None; keys.len()];
            for (idx, vals) in results {
                for (i, v) in idx.into_iter().zip(vals) {
                    out[i] = v.map(unmark);
                }
            }
            Ok(out)
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if opts.tags.is_empty() {
                self.write(key, value, opts, false, None).await?;
                return Ok(());
            }
            // Links first, then the value: whoever can read the value can also purge it by tag.
            // (A purge between the two finds a link to a write that has not landed, and is
            // ordered before this write.)
            let id = self.new_write_id();
            self.link_tags(&[(key, id.clone())], opts).await?;
            self.write(key, value, opts, false, Some(&id)).await?;
            Ok(())
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if opts.tags.is_empty() {
                try_join_all(
                    entries
                        .iter()
                        .map(|(k, v)| self.write(k, v.clone(), opts, false, None)),
                )
                .await?;
                return Ok(());
            }
            let pairs: Vec<(&str, String)> = entries
                .iter()
                .map(|(k, _)| (k.as_str(), self.new_write_id()))
                .collect();
            // Links first, then the values (see `set`).
            self.link_tags(&pairs, opts).await?;
            try_join_all(
                entries
                    .iter()
                    .zip(&pairs)
                    .map(|((k, v), (_, id))| self.write(k, v.clone(), opts, false, Some(id))),
            )
            .await?;
            Ok(())
        })
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            // Links first (see `set`); a link to a write that did not happen deletes nothing.
            let id = (!opts.tags.is_empty()).then(|| self.new_write_id());
            if let Some(id) = &id {
                self.link_tags(&[(key, id.clone())], opts).await?;
            }
            self.write(key, value, opts, true, id.as_deref()).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let n: u64 = self.run(self.client()?.unlink(key)).await?;
            Ok(n > 0)
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.unlink_keys(keys))
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let v: Option<Bytes> = self.run(self.client()?.getdel(key)).await?;
            Ok(v.map(unmark))
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let n: u64 = self.run(self.client()?.exists(key)).await?;
            Ok(n > 0)
        })
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            let mut pages = self.scan_stream(pattern);
            let mut out = Vec::new();
            while let Some(page) = self.next_page(&mut pages).await? {
                out.extend(page);
            }
            // SCAN may return a key twice; callers get each once.
            out.sort_unstable();
            out.dedup();
            Ok(out)
        })
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            crate::pattern::validate(pattern)?;
            let mut pages = self.scan_stream(pattern);
            let mut n = 0;
            // Delete page by page while scanning: memory stays bounded by one page.
            while let Some(page) = self.next_page(&mut pages).await? {
                n += self.unlink_keys(&page).await?;
            }
            Ok(n)
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            self.client()?
                .incr_by::<i64, _>(key, delta)
                .await
                .map_err(|e| {
                    if is_not_integer(&e) {
                        Error::Decode(format!("incr {key:?}: {}", e.details()))
                    } else {
                        self.err(e)
                    }
                })
        })
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            match ttl {
                Some(t) => {
                    let n: i64 = self
                        .run(self.client()?.pexpire(key, millis(t), None))
                        .await?;
                    Ok(n == 1)
                }
                None => {
                    let n: i64 = self
                        .eval(&self.scripts.persist, vec![key.to_owned()], Vec::new())
                        .await?;
                    Ok(n == 1)
                }
            }
        })
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(async move {
            let ms: i64 = self.run(self.client()?.pttl(key)).await?;
            Ok(match ms {
                -2 => KeyTtl::Missing,
                ms if ms < 0 => KeyTtl::Persistent,
                ms => KeyTtl::Expires(Duration::from_millis(ms.unsigned_abs())),
            })
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.pop_tags(tags))
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        // GET and PTTL pipelined: one round trip.
        Box::pin(async move {
            let pipe = self.raw()?.pipeline();
            self.run(pipe.get::<(), _>(key)).await?;
            self.run(pipe.pttl::<(), _>(key)).await?;
            let (value, ms): (Option<Bytes>, i64) = self.run(pipe.all()).await?;
            let ttl = match ms {
                -2 => return Ok(None), // expired between the two commands
                ms if ms >= 0 => KeyTtl::Expires(Duration::from_millis(ms.unsigned_abs())),
                _ => KeyTtl::Persistent,
            };
            Ok(value.map(|v| (unmark(v), ttl)))
        })
    }

    /// The namespace version shared by every process on this Redis (key `{prefix}:version`).
    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            let v: Option<String> = self
                .run(self.client()?.get(format!("{prefix}:version")))
                .await?;
            // A foreign value under the key is ignored rather than trusted.
            Ok(v.and_then(|v| v.parse().ok()))
        })
    }

    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Raised in Redis (never lowered), then announced: a process that missed the
            // message still reads it on its next resync.
            let _: Value = self
                .eval(
                    &self.scripts.raise_version,
                    vec![format!("{prefix}:version")],
                    vec![version.to_string()],
                )
                .await?;
            self.bus.versions.raise(prefix, version);
            let bus = self.bus.get().await?;
            let message = Invalidation::Version {
                prefix: prefix.to_owned(),
                version,
            };
            bus.publish(&message).await
        })
    }

    fn watch_version(&self, prefix: &str, version: Weak<AtomicU64>) {
        self.bus.versions.watch(prefix, version);
        // Listen for other processes' bumps; without a runtime (a sync build) the first
        // publish starts the bus instead.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let bus = self.bus.clone();
            rt.spawn(async move {
                if let Err(e) = bus.get().await {
                    tracing::warn!(target: "cache", error = %e, "cannot watch namespace versions");
                }
            });
        }
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let _: Value = self.run(self.client()?.ping(None)).await?;
            Ok(())
        })
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Stop the connection tasks (and their reconnect loops) with the store.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let pool = self.pool.clone();
            rt.spawn(async move {
                let _ = pool.quit().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_a_millisecond() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
    }
}
