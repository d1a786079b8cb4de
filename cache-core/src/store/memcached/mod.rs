//! [`MemcachedStore`]: the store on one or several Memcached servers, through `async-memcached`.
//!
//! Design notes:
//! - Keys go to servers by a consistent-hash ring (`ring.rs`), so adding a server moves few keys;
//!   each server has its own connection pool and is passed over for a while after it fails
//!   (`server.rs`). A key is never moved to another server while its own is down: the call fails
//!   and the cache runs the real work, so no process reads a copy another process cannot delete.
//! - Values with a TTL carry their deadline, so expiry is exact to the millisecond although
//!   Memcached counts whole seconds; lifetimes past Memcached's 30-day limit become Unix times
//!   (`entry.rs`). Keys the protocol refuses (spaces, control bytes, over 250 bytes) are sent as
//!   their blake3 digest.
//! - What Memcached does not do in one command (`incr` on signed integers, `expire`, `take`, an
//!   `add` over an expired value) is a compare-and-swap loop on the meta protocol's CAS token:
//!   atomic, never a read-then-write race.
//! - A namespace version bump is stored under `{prefix}:version` and read back by every store
//!   once a second (Memcached has no channel to announce it on), so other processes stop
//!   serving the old namespace within about a second. Memcached may evict that key under
//!   memory pressure, like any other.
//! - Memcached cannot list its keys, so pattern operations answer
//!   [`Error::Unsupported`] and tags are the cache's emulation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_memcached::{AsciiProtocol, MetaProtocol, MetaValue};
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::version::VersionCells;
use super::{BoxFuture, Capabilities, Capability, KeyTtl, Store, WriteOptions};
use crate::error::{Error, Result};
use entry::{now_ms, wire_key, Item, Stored};
use ring::Ring;
use server::{refusal, Server};

pub(crate) mod entry;
mod ring;
mod server;
pub(crate) mod url;

/// Keys per pipelined batch.
const BATCH: usize = 100;
/// Compare-and-swap attempts before a contended update gives up.
const CAS_ATTEMPTS: usize = 64;
/// How often the namespace versions other processes published are read back.
const VERSION_POLL: Duration = Duration::from_secs(1);

/// The Memcached store: one or several servers, chosen per key by consistent hashing.
///
/// Usually built through [`Cache::from_url`](crate::Cache::from_url):
///
/// | URL option | default | meaning |
/// |---|---|---|
/// | `memcached://h1:p1,h2:p2` | `127.0.0.1:11211` | the servers (IPv4 addresses or host names) |
/// | `pool=N` | 4 | connections per server |
/// | `timeout_ms=N` | 1000 | per-command timeout ([`Error::Timeout`] after it) |
/// | `connect_timeout_ms=N` | 1000 | time to open a connection (within the call's `timeout_ms`) |
/// | `retry_ms=N` | 1000 | how long a failed server is passed over before it is tried again |
/// | `breaker_threshold=N`, `breaker_cooldown=1s` | 1, 1s | the store's breaker (one server only; see [`GuardedStore`](crate::store::GuardedStore)) |
///
/// A call waits at most `timeout_ms` on a server, taking or opening a connection included; a
/// refused or reset connection fails at once.
///
/// It declares atomic counters, TTL read-back, expire, take, batches and sharing across
/// processes; not pattern scans (Memcached cannot list keys), native tags (the cache emulates
/// them) or persistence.
///
/// ```no_run
/// use cache_core::{store::MemcachedStore, Cache};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemcachedStore::connect("memcached://10.0.0.1:11211,10.0.0.2:11211?pool=8").await?;
/// let cache = Cache::builder().store(store).build().await?;
/// cache.set("k", &1).await?;
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct MemcachedStore {
    nodes: Arc<Nodes>,
    /// The task that reads back the namespace versions other processes published.
    poll: tokio::task::AbortHandle,
}

/// The servers and the ring that places keys on them.
#[derive(Debug)]
struct Nodes {
    servers: Vec<Server>,
    ring: Ring,
    /// The version cells of the caches on this store, raised by the version poll.
    versions: VersionCells,
}

/// What a compare-and-swap update does with the value it read.
enum Step<T> {
    /// Writes this item (replacing what was read, or adding it if nothing was), then returns.
    Write(Item, T),
    /// Deletes what was read, then returns.
    Delete(T),
    /// Returns without writing.
    Done(T),
}

/// A value read for an update: `None` when the key is absent or expired.
type Current = Option<(Bytes, KeyTtl)>;

fn read_meta(v: MetaValue, now: u64) -> Option<(Bytes, KeyTtl)> {
    match entry::read(v.data.unwrap_or_default(), v.flags.unwrap_or(0), now) {
        Stored::Live(b, t) => Some((b, t)),
        Stored::Expired => None,
    }
}

/// The remaining lifetime to keep when a value is rewritten.
fn keep(ttl: KeyTtl) -> Option<Duration> {
    ttl.remaining()
}

fn parse_counter(v: &[u8]) -> Result<i64> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| Error::Decode("incr: the stored value is not an integer".into()))
}

impl Nodes {
    fn route<'k>(&self, key: &'k str) -> (&Server, Cow<'k, str>) {
        let wk = wire_key(key);
        (&self.servers[self.ring.server(&wk)], wk)
    }

    /// Reads a key with its flags: `None` when absent.
    async fn fetch(&self, key: &str) -> Result<Stored> {
        let (s, wk) = self.route(key);
        let got = s
            .call(|mut c| async move {
                let r = c.get(wk.as_bytes()).await;
                (c, r)
            })
            .await?;
        Ok(match got {
            Some(v) => entry::read(v.data.unwrap_or_default(), v.flags.unwrap_or(0), now_ms()),
            None => Stored::Expired,
        })
    }

    /// The namespace version published under `prefix`, if any.
    async fn load_version(&self, prefix: &str) -> Result<Option<u64>> {
        Ok(match self.fetch(&format!("{prefix}:version")).await? {
            // A foreign value under the key is ignored rather than trusted.
            Stored::Live(v, _) => std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()),
            Stored::Expired => None,
        })
    }
}

/// Reads back, every `every`, the versions of the namespaces watched through `nodes`, until
/// the store is dropped: Memcached has no channel to announce a bump on.
fn spawn_version_poll(nodes: Weak<Nodes>, every: Duration) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(nodes) = nodes.upgrade() else { return };
            for prefix in nodes.versions.prefixes() {
                match nodes.load_version(&prefix).await {
                    Ok(Some(v)) => nodes.versions.raise(&prefix, v),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(target: "cache", error = %e, "reading namespace versions back")
                    }
                }
            }
        }
    })
    .abort_handle()
}

impl MemcachedStore {
    /// Connects to the servers a `memcached://` URL names (see the table above for options).
    /// Fails when no server answers; a server that is down at start is tried again later.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::MemcachedStore::connect("memcached://127.0.0.1:11211").await?;
    /// assert_eq!(store.servers(), ["127.0.0.1:11211"]);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        let u = url::parse(url)?;
        let ring = Ring::new(&u.servers);
        let servers = u
            .servers
            .into_iter()
            .map(|addr| Server::new(addr, u.pool, u.timeout, u.connect_timeout, u.retry))
            .collect::<Result<Vec<_>>>()?;
        let nodes = Arc::new(Nodes {
            servers,
            ring,
            versions: VersionCells::default(),
        });
        let poll = spawn_version_poll(Arc::downgrade(&nodes), VERSION_POLL);
        let store = Self { nodes, poll };
        let answers =
            futures_util::future::join_all(store.nodes.servers.iter().map(Self::version_of)).await;
        let answered = answers.iter().filter(|r| r.is_ok()).count();
        for e in answers.into_iter().filter_map(Result::err) {
            if answered == 0 {
                return Err(e);
            }
            tracing::warn!(target: "cache", error = %e, "a memcached server does not answer; its keys fall through until it does");
        }
        Ok(store)
    }

    /// The servers, as `host:port`, in the order the URL lists them.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::MemcachedStore::connect("memcached://a:1,b:2").await?;
    /// assert_eq!(store.servers().len(), 2);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn servers(&self) -> Vec<&str> {
        self.nodes.servers.iter().map(|s| s.addr.as_str()).collect()
    }

    /// The server (`host:port`) that holds a full key (as the store sees it, namespace
    /// included).
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::MemcachedStore::connect("memcached://a:1,b:2").await?;
    /// assert!(store.servers().contains(&store.server_for("app:user:1")));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn server_for(&self, key: &str) -> &str {
        &self.nodes.servers[self.nodes.ring.server(&wire_key(key))].addr
    }

    async fn version_of(s: &Server) -> Result<String> {
        s.call(|mut c| async move {
            let r = c.version().await;
            (c, r)
        })
        .await
    }

    async fn fetch(&self, key: &str) -> Result<Stored> {
        self.nodes.fetch(key).await
    }

    fn route<'k>(&self, key: &'k str) -> (&Server, Cow<'k, str>) {
        self.nodes.route(key)
    }

    async fn write(&self, key: &str, item: &Item, only_new: bool) -> Result<bool> {
        let (s, wk) = self.route(key);
        s.call(|mut c| async move {
            let (data, ttl, flags) = (&item.data[..], Some(item.exptime), Some(item.flags));
            let r = if only_new {
                c.add(wk.as_bytes(), data, ttl, flags).await
            } else {
                c.set(wk.as_bytes(), data, ttl, flags).await
            };
            let r = match r {
                Ok(()) => Ok(true),
                Err(e) if refusal(&e).is_some() => Ok(false),
                Err(e) => Err(e),
            };
            (c, r)
        })
        .await
    }

    /// Reads `key` with its CAS token, asks `decide` what to do, and does it only if the key
    /// has not changed since (adding it if it was absent); starts again after a race.
    async fn update<T>(&self, key: &str, mut decide: impl FnMut(Current) -> Step<T>) -> Result<T> {
        let (s, wk) = self.route(key);
        let wk = &*wk;
        for _ in 0..CAS_ATTEMPTS {
            let got = s
                .call(|mut c| async move {
                    let r = c.meta_get(wk, false, None, Some(&["v", "f", "c"])).await;
                    (c, r)
                })
                .await?;
            let now = now_ms();
            let cas = got.as_ref().and_then(|v| v.cas);
            let current = got.and_then(|v| read_meta(v, now));
            let (done, out) = match decide(current) {
                Step::Done(out) => return Ok(out),
                Step::Write(item, out) => {
                    let flags = [
                        format!("F{}", item.flags),
                        format!("T{}", item.exptime),
                        cas.map_or_else(|| "ME".to_owned(), |c| format!("C{c}")),
                    ];
                    let done = s
                        .call(|mut c| async move {
                            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                            let r = c.meta_set(wk, &item.data[..], false, None, Some(&flags));
                            let r = match r.await {
                                Ok(_) => Ok(true),
                                Err(e) if refusal(&e).is_some() => Ok(false),
                                Err(e) => Err(e),
                            };
                            (c, r)
                        })
                        .await?;
                    (done, out)
                }
                Step::Delete(out) => {
                    let Some(cas) = cas else { return Ok(out) };
                    let token = format!("C{cas}");
                    let done = s
                        .call(|mut c| async move {
                            let r = match c.meta_delete(wk, false, None, Some(&[&token])).await {
                                Ok(_) => Ok(true),
                                Err(e) if refusal(&e).is_some() => Ok(false),
                                Err(e) => Err(e),
                            };
                            (c, r)
                        })
                        .await?;
                    (done, out)
                }
            };
            if done {
                return Ok(out);
            }
        }
        Err(Error::Backend(format!(
            "memcached: {key:?} changed under {CAS_ATTEMPTS} attempts to update it"
        )))
    }

    /// Groups key indices by server.
    fn by_server<'k>(&self, keys: &'k [String]) -> Vec<Vec<(usize, Cow<'k, str>)>> {
        let mut groups: Vec<Vec<(usize, Cow<'k, str>)>> =
            vec![Vec::new(); self.nodes.servers.len()];
        for (i, k) in keys.iter().enumerate() {
            let wk = wire_key(k);
            groups[self.nodes.ring.server(&wk)].push((i, wk));
        }
        groups
    }
}

impl Store for MemcachedStore {
    fn name(&self) -> &'static str {
        "memcached"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
            .with(Capability::AtomicCounters)
            .with(Capability::TtlRead)
            .with(Capability::Expire)
            .with(Capability::Take)
            .with(Capability::Batches)
            .with(Capability::Shared)
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            Ok(match self.fetch(key).await? {
                Stored::Live(b, _) => Some(b),
                Stored::Expired => None,
            })
        })
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        Box::pin(async move {
            Ok(match self.fetch(key).await? {
                Stored::Live(b, t) => Some((b, t)),
                Stored::Expired => None,
            })
        })
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(async move {
            Ok(match self.fetch(key).await? {
                Stored::Live(_, t) => t,
                Stored::Expired => KeyTtl::Missing,
            })
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(matches!(self.fetch(key).await?, Stored::Live(..))) })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let item = Item::new(&value, opts.ttl, now_ms());
            self.write(key, &item, false).await.map(|_| ())
        })
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let item = Item::new(&value, opts.ttl, now_ms());
            if self.write(key, &item, true).await? {
                return Ok(true);
            }
            // Memcached keeps an expired value a little past its deadline: replace that one.
            self.update(key, |current| match current {
                Some(_) => Step::Done(false),
                None => Step::Write(Item::new(&value, opts.ttl, now_ms()), true),
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let (s, wk) = self.route(key);
            s.call(|mut c| async move {
                let r = match c.delete(wk.as_bytes()).await {
                    Ok(()) => Ok(true),
                    Err(e) if refusal(&e).is_some() => Ok(false),
                    Err(e) => Err(e),
                };
                (c, r)
            })
            .await
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            self.update(key, |current| match current {
                Some((value, _)) => Step::Delete(Some(value)),
                None => Step::Done(None),
            })
            .await
        })
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            self.update(key, |current| {
                let (next, ttl) = match current {
                    None => (Ok(delta), None),
                    Some((v, ttl)) => (
                        parse_counter(&v).and_then(|n| {
                            n.checked_add(delta).ok_or_else(|| {
                                Error::Decode(format!("incr: {n} + {delta} overflows an i64"))
                            })
                        }),
                        keep(ttl),
                    ),
                };
                match next {
                    Ok(n) => Step::Write(Item::new(n.to_string().as_bytes(), ttl, now_ms()), Ok(n)),
                    Err(e) => Step::Done(Err(e)),
                }
            })
            .await?
        })
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            self.update(key, |current| match current {
                Some((value, _)) => Step::Write(Item::new(&value, ttl, now_ms()), true),
                None => Step::Done(false),
            })
            .await
        })
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(async move {
            let groups = self.by_server(keys);
            let per_server = groups
                .iter()
                .enumerate()
                .filter(|(_, g)| !g.is_empty())
                .map(|(si, group)| async move {
                    let s = &self.nodes.servers[si];
                    let mut found = Vec::new();
                    for chunk in group.chunks(BATCH) {
                        let wks: Vec<&str> = chunk.iter().map(|(_, k)| &**k).collect();
                        let hits = s
                            .call(|mut c| async move {
                                let r = c.meta_get_multi(&wks, Some(&["v", "f"])).await;
                                (c, r)
                            })
                            .await?;
                        found.extend(hits);
                    }
                    Ok::<_, Error>((group, found))
                });
            let now = now_ms();
            let mut out = vec![None; keys.len()];
            for (group, found) in try_join_all(per_server).await? {
                let mut by_key: HashMap<Vec<u8>, MetaValue> = found
                    .into_iter()
                    .filter_map(|v| Some((v.key.clone()?, v)))
                    .collect();
                for (i, wk) in group {
                    // A key asked for twice gets the same value in both slots.
                    let v = by_key.get(wk.as_bytes()).cloned();
                    if let Some(v) = v {
                        out[*i] = read_meta(v, now).map(|(b, _)| b);
                    }
                }
                by_key.clear();
            }
            Ok(out)
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let now = now_ms();
            let mut groups: Vec<Vec<(Cow<'a, str>, Item)>> =
                vec![Vec::new(); self.nodes.servers.len()];
            for (k, v) in entries {
                let wk = wire_key(k);
                groups[self.nodes.ring.server(&wk)].push((wk, Item::new(v, opts.ttl, now)));
            }
            let per_server = groups
                .iter()
                .enumerate()
                .filter(|(_, g)| !g.is_empty())
                .map(|(si, group)| async move {
                    let s = &self.nodes.servers[si];
                    for chunk in group.chunks(BATCH) {
                        // Every item of a batch has the same flags and expiry.
                        let flags = [
                            format!("F{}", chunk[0].1.flags),
                            format!("T{}", chunk[0].1.exptime),
                        ];
                        let items: Vec<(&str, &[u8])> =
                            chunk.iter().map(|(k, it)| (&**k, &it.data[..])).collect();
                        let refused = s
                            .call(|mut c| async move {
                                let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
                                let r = c.meta_set_multi(&items, Some(&flags)).await;
                                (c, r)
                            })
                            .await?;
                        if let Some(v) = refused.first() {
                            return Err(Error::Backend(format!(
                                "memcached {}: {} of {} writes refused ({:?})",
                                s.addr,
                                refused.len(),
                                chunk.len(),
                                v.status
                            )));
                        }
                    }
                    Ok::<_, Error>(())
                });
            try_join_all(per_server).await.map(|_| ())
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let groups = self.by_server(keys);
            let per_server = groups
                .iter()
                .filter(|g| !g.is_empty())
                .map(|group| async move {
                    let mut n = 0;
                    for (i, _) in group {
                        n += u64::from(self.delete(&keys[*i]).await?);
                    }
                    Ok::<_, Error>(n)
                });
            Ok(try_join_all(per_server).await?.into_iter().sum())
        })
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            try_join_all(self.nodes.servers.iter().map(Self::version_of)).await?;
            Ok(())
        })
    }

    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(self.nodes.load_version(prefix))
    }

    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Raised, never lowered; other processes read it back within a second.
            let key = format!("{prefix}:version");
            self.update(&key, |current| {
                let stored =
                    current.and_then(|(v, _)| std::str::from_utf8(&v).ok()?.parse::<u64>().ok());
                if stored.is_some_and(|s| s >= version) {
                    Step::Done(())
                } else {
                    Step::Write(Item::new(version.to_string().as_bytes(), None, 0), ())
                }
            })
            .await?;
            self.nodes.versions.raise(prefix, version);
            Ok(())
        })
    }

    fn watch_version(&self, prefix: &str, version: Weak<AtomicU64>) {
        self.nodes.versions.watch(prefix, version);
    }
}

impl Drop for MemcachedStore {
    fn drop(&mut self) {
        self.poll.abort();
        for s in &self.nodes.servers {
            s.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_signed_integers_only() {
        assert_eq!(parse_counter(b"-12").unwrap(), -12);
        assert!(matches!(parse_counter(b"1.5"), Err(Error::Decode(_))));
        assert!(matches!(parse_counter(b"\xff"), Err(Error::Decode(_))));
    }
}
