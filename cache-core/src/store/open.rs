//! Opening the store a cache URL names: `mem://`, the Redis schemes, `memcached://`, the SQL
//! schemes (`postgres://`, `mysql://`, `sqlite://`), `tiered+<URL>` (memory over that store) and
//! `tiers:URL|URL|…` (any stack of stores, top first).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{parse_query, redact, split_scheme};
use crate::error::{Error, Result};
use crate::store::{MemoryStore, MemoryStoreBuilder, Store, TieredStore};

/// Schemes that name a networked store.
const NETWORK_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
    "tiered+redis",
    "tiered+rediss",
    "tiered+redis-cluster",
    "tiered+redis-sentinel",
    "tiered+rediss-cluster",
    "tiered+rediss-sentinel",
    "memcached",
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "sqlite",
];

pub(crate) fn memory_from(rest: &str) -> Result<Arc<dyn Store>> {
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !host.trim_end_matches('/').is_empty() {
        return Err(Error::Config(format!(
            "mem://{host}: the memory store takes no host, only ?max_entries=N or ?max_bytes=N"
        )));
    }
    Ok(Arc::new(MemoryStore::from_query(&parse_query(query)?)?))
}

/// The cargo feature of cache-core that compiles in the store for `scheme`.
fn feature_for(scheme: &str) -> &'static str {
    match scheme.trim_start_matches("tiered+") {
        "memcached" => "memcached",
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        "sqlite" => "sqlite",
        "rediss" | "rediss-cluster" | "rediss-sentinel" => "redis-tls",
        _ => "redis",
    }
}

fn unavailable(scheme: &str) -> Error {
    Error::Config(format!(
        "cache URL scheme {scheme}:// is not available in this build: enable the `{}` feature of cache-core (or `all-stores`)",
        feature_for(scheme)
    ))
}

/// The options a `tiered+` URL (or the last URL of `tiers:`) takes besides its store's own.
const TIER_OPTIONS: &str = "l1_max_entries, l1_max_bytes, l1_ttl, breaker_threshold, breaker_cooldown, write_behind, write_behind_batch or write_behind_max";

/// The prefix of the URL form for a stack of tiers.
pub(crate) const TIERS: &str = "tiers:";

/// Schemes whose store gets a breaker of its own (see [`GuardedStore`]): the plain stores
/// with a remote server. SQLite is a local file; tiers have a breaker each already.
const GUARDED_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
    "memcached",
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
];

/// Takes `breaker_threshold` and `breaker_cooldown` out of `url`'s query; returns the URL
/// with the rest, the two values (defaults where absent) and whether either was given.
fn take_breaker(url: &str) -> Result<(String, u32, Duration, bool)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut threshold = crate::store::DEFAULT_BREAKER_THRESHOLD;
    let mut cooldown = crate::store::DEFAULT_BREAKER_COOLDOWN;
    let mut given = false;
    let mut rest = Vec::new();
    for (k, v) in parse_query(query)? {
        match k.as_str() {
            "breaker_threshold" => {
                threshold = v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Config(format!("{k}={v:?}: expected a positive integer"))
                })?;
                given = true;
            }
            "breaker_cooldown" => {
                cooldown = crate::ttl::parse(&v).map_err(|e| e.within(&k))?;
                given = true;
            }
            _ => rest.push(format!("{k}={v}")),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, threshold, cooldown, given))
}

/// Builds the store a URL names: a plain remote store behind a breaker.
pub(crate) async fn store_from_url(url: &str) -> Result<Arc<dyn Store>> {
    let url = url.trim();
    let scheme = split_scheme(url).map(|(s, _)| s).unwrap_or("");
    if !GUARDED_SCHEMES.contains(&scheme) || url.starts_with(TIERS) {
        return open_one(url).await;
    }
    let (url, threshold, cooldown, given) = take_breaker(url)?;
    let hosts = url.split_once("://").map_or("", |(_, r)| r);
    let hosts = hosts.split(['?', '/']).next().unwrap_or("");
    if scheme == "memcached" && hosts.contains(',') {
        // Each server is passed over on its own for `retry_ms` after it fails.
        if given {
            return Err(Error::Config(
                "memcached:// with several servers takes no breaker_* option: each server is passed over for retry_ms after it fails".into(),
            ));
        }
        return open_one(&url).await;
    }
    let store = open_one(&url).await?;
    Ok(Arc::new(crate::store::GuardedStore::new(
        store, threshold, cooldown,
    )))
}

/// Builds the store a URL names, as it is (a tier's store: no breaker of its own).
async fn open_one(url: &str) -> Result<Arc<dyn Store>> {
    let url = url.trim();
    if let Some(stack) = url.strip_prefix(TIERS) {
        return Box::pin(tiers_from(stack)).await;
    }
    let (scheme, rest) = split_scheme(url)?;
    match scheme {
        "mem" | "memory" => memory_from(rest),
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis-cluster" | "rediss-cluster" | "redis-sentinel"
        | "rediss-sentinel" => Ok(Arc::new(crate::store::RedisStore::connect(url).await?)),
        #[cfg(feature = "memcached")]
        "memcached" => Ok(Arc::new(crate::store::MemcachedStore::connect(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(crate::store::SqlStore::connect(url).await?)),
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => Ok(Arc::new(crate::store::SqlStore::connect(url).await?)),
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(crate::store::SqlStore::connect(url).await?)),
        s if s.starts_with("tiered+") => tiered_from(url).await,
        s if NETWORK_SCHEMES.contains(&s) => Err(unavailable(s)),
        other => Err(unknown(other, url)),
    }
}

/// The options of the tiered store itself, taken out of a tier's query.
pub(crate) struct TierOptions {
    l1: Option<MemoryStoreBuilder>,
    ttl_cap: Option<Duration>,
    threshold: u32,
    cooldown: Duration,
    write_behind: Option<Duration>,
    write_behind_batch: Option<usize>,
    write_behind_max: Option<usize>,
}

impl Default for TierOptions {
    fn default() -> Self {
        Self {
            l1: None,
            ttl_cap: None,
            threshold: crate::store::DEFAULT_BREAKER_THRESHOLD,
            cooldown: crate::store::DEFAULT_BREAKER_COOLDOWN,
            write_behind: None,
            write_behind_batch: None,
            write_behind_max: None,
        }
    }
}

impl TierOptions {
    /// Takes `l1_max_entries`, `l1_max_bytes`, `l1_ttl`, `breaker_threshold`,
    /// `breaker_cooldown`, `write_behind`, `write_behind_batch` and `write_behind_max` out of
    /// `url`'s query; returns the URL with the rest.
    pub(crate) fn take(&mut self, url: &str) -> Result<String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut rest = Vec::new();
        for (k, v) in parse_query(query)? {
            let num = || {
                v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Config(format!("tiered: {k}={v:?}: expected a positive integer"))
                })
            };
            let ttl = || crate::ttl::parse(&v).map_err(|e| e.within(&format!("tiered: {k}")));
            match k.as_str() {
                "l1_max_entries" => self.l1 = Some(MemoryStore::builder().max_entries(num()?)),
                "l1_max_bytes" => self.l1 = Some(MemoryStore::builder().max_bytes(num()?)),
                "l1_ttl" => self.ttl_cap = Some(ttl()?),
                "breaker_threshold" => self.threshold = u32::try_from(num()?).unwrap_or(u32::MAX),
                "breaker_cooldown" => self.cooldown = ttl()?,
                "write_behind" => self.write_behind = Some(ttl()?),
                "write_behind_batch" => {
                    self.write_behind_batch = Some(usize::try_from(num()?).unwrap_or(usize::MAX));
                }
                "write_behind_max" => {
                    self.write_behind_max = Some(usize::try_from(num()?).unwrap_or(usize::MAX));
                }
                _ => rest.push(format!("{k}={v}")),
            }
        }
        Ok(if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        })
    }

    async fn build(
        self,
        builder: crate::store::TieredStoreBuilder,
        bottom: &dyn Store,
    ) -> Result<Arc<dyn Store>> {
        let mut builder = builder.breaker(self.threshold, self.cooldown);
        match self.write_behind {
            Some(interval) => builder = builder.write_behind(interval),
            None if self.write_behind_batch.is_some() || self.write_behind_max.is_some() => {
                return Err(Error::Config(
                    "tiered: write_behind_batch and write_behind_max need write_behind=INTERVAL (such as write_behind=100ms)".into(),
                ));
            }
            None => {}
        }
        if let Some(n) = self.write_behind_batch {
            builder = builder.write_behind_batch(n);
        }
        if let Some(n) = self.write_behind_max {
            builder = builder.write_behind_max(n);
        }
        if let Some(l1) = self.l1 {
            builder = builder.l1(l1.build());
        }
        if let Some(cap) = self.ttl_cap {
            builder = builder.l1_ttl_cap(cap);
        }
        if let Some(bus) = bottom.invalidation_bus().await? {
            builder = builder.bus(bus);
        }
        Ok(Arc::new(builder.build()))
    }
}

/// `tiered+<url>?l1_max_entries=N|l1_max_bytes=N&l1_ttl=30s&breaker_threshold=3&breaker_cooldown=1s&write_behind=100ms&write_behind_batch=500&write_behind_max=10000`:
/// a memory first tier over the store the rest of the URL names, kept coherent by its bus;
/// with `write_behind`, writes reach that store in batches (see
/// [`TieredStoreBuilder::write_behind`](crate::store::TieredStoreBuilder::write_behind)).
async fn tiered_from(url: &str) -> Result<Arc<dyn Store>> {
    let mut opts = TierOptions::default();
    let lower = tiered_lower(url, &mut opts)?;
    let bottom = Box::pin(open_one(&lower)).await.map_err(|e| match e {
        // The lower store's parser names only its own options; a tiered URL takes more.
        Error::Config(m) if m.contains("unknown") && m.contains("option") => {
            Error::Config(format!("{m}; a tiered+ URL also takes {TIER_OPTIONS}"))
        }
        e => e,
    })?;
    let builder = TieredStore::builder(Arc::clone(&bottom));
    opts.build(builder, &*bottom).await
}

/// The URL of the store under the memory tier of a `tiered+<url>`, its options taken into
/// `opts`. It cannot itself be tiered: `tiered+ tiered+ …` nested without end (found by fuzzing)
/// would recurse once per level.
pub(crate) fn tiered_lower(url: &str, opts: &mut TierOptions) -> Result<String> {
    let lower = opts.take(url.trim_start_matches("tiered+"))?;
    let trimmed = lower.trim();
    if trimmed.starts_with("tiered+") || trimmed.starts_with(TIERS) {
        return Err(Error::Config(format!(
            "tiered+: the store under the memory tier cannot itself be tiered ({})",
            redact(url)
        )));
    }
    Ok(lower)
}

/// `tiers:URL|URL|…`: a stack of any stores, top first; the last is the shared tier. The
/// options of the tiered store itself (`l1_ttl`, `breaker_threshold`, `breaker_cooldown`,
/// `write_behind*`) go in the query of the last URL.
async fn tiers_from(stack: &str) -> Result<Arc<dyn Store>> {
    let parts: Vec<&str> = stack.split('|').map(str::trim).collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::Config(format!(
            "{TIERS}{:?}: expected two or more store URLs separated by '|', top first (for example tiers:mem://|redis://127.0.0.1:6379)",
            redact(stack)
        )));
    }
    let mut opts = TierOptions::default();
    let mut tiers = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let url = if i + 1 == parts.len() {
            opts.take(part)?
        } else {
            (*part).to_owned()
        };
        if url.starts_with(TIERS) || url.starts_with("tiered+") {
            return Err(Error::Config(format!(
                "{TIERS}: a tier cannot itself be tiered ({})",
                redact(part)
            )));
        }
        tiers.push(Box::pin(open_one(&url)).await?);
    }
    let bottom = Arc::clone(
        tiers
            .last()
            .unwrap_or_else(|| unreachable!("two or more parts")),
    );
    if opts.l1.is_some() {
        return Err(Error::Config(format!(
            "{TIERS}: size the first tier in its own URL (mem://?max_entries=N), not with l1_max_*"
        )));
    }
    let builder = TieredStore::stack(tiers)?;
    opts.build(builder, &*bottom).await
}

/// Builds a store that needs no connection (`mem://`).
pub(crate) fn store_from_url_now(url: &str) -> Result<Arc<dyn Store>> {
    if url.trim().starts_with(TIERS) {
        return Err(Error::Config(format!(
            "{TIERS} needs a connection: use the async `build()`"
        )));
    }
    let (scheme, rest) = split_scheme(url)?;
    match scheme {
        "mem" | "memory" => memory_from(rest),
        s if NETWORK_SCHEMES.contains(&s) => Err(Error::Config(format!(
            "{s}:// needs a connection: use the async `build()`"
        ))),
        other => Err(unknown(other, url)),
    }
}

fn unknown(scheme: &str, url: &str) -> Error {
    Error::Config(format!(
        "unknown cache URL scheme {scheme:?} in {:?}: expected mem://, redis://, rediss://, redis-cluster://, redis-sentinel://, memcached://, postgres://, mysql://, mariadb://, sqlite://, tiered+URL or tiers:URL|URL",
        redact(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls() {
        assert!(memory_from("").is_ok());
        assert!(memory_from("?max_entries=10").is_ok());
        let e = memory_from("?max_entries=10&max_bytes=5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_bytes"), "{e}");
        let e = memory_from("?max_entires=10").unwrap_err().to_string();
        assert!(e.contains("max_entires"), "{e}");
        let e = memory_from("?max_entries=0").unwrap_err().to_string();
        assert!(e.contains("positive"), "{e}");
        let e = memory_from("host?").unwrap_err().to_string();
        assert!(e.contains("no host"), "{e}");
        let e = store_from_url_now("memcached://x").unwrap_err().to_string();
        assert!(e.contains("memcached"), "{e}");
        let e = store_from_url_now("nourl").unwrap_err().to_string();
        assert!(e.contains("no scheme"), "{e}");
    }

    #[test]
    fn sql_schemes_need_a_connection_and_name_their_feature() {
        for url in [
            "postgres://h/db",
            "mysql://h/db",
            "mariadb://h/db",
            "sqlite://x.db",
        ] {
            let e = store_from_url_now(url).unwrap_err().to_string();
            assert!(e.contains("needs a connection"), "{url}: {e}");
        }
        assert_eq!(feature_for("postgresql"), "postgres");
        assert_eq!(feature_for("mariadb"), "mysql");
        assert_eq!(feature_for("tiered+sqlite"), "sqlite");
        assert_eq!(feature_for("rediss"), "redis-tls");
        assert!(unavailable("sqlite")
            .to_string()
            .contains("`sqlite` feature"));
        let e = unknown("oracle", "oracle://h").to_string();
        assert!(e.contains("postgres://") && e.contains("sqlite://"), "{e}");
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn an_unknown_option_on_a_tiered_url_lists_the_tier_options_too() {
        let e = store_from_url("tiered+redis://127.0.0.1:1?bogus=1")
            .await
            .map(|_| ())
            .expect_err("an unknown option is refused")
            .to_string();
        assert!(e.contains("\"bogus\"") && e.contains("timeout_ms"), "{e}");
        assert!(e.contains("l1_ttl") && e.contains("write_behind"), "{e}");
        let e = store_from_url("tiered+mem://?l1_ttl=5parsecs")
            .await
            .map(|_| ())
            .expect_err("a bad TTL is refused")
            .to_string();
        assert_eq!(e.matches("invalid cache configuration").count(), 1, "{e}");
        assert!(e.contains("l1_ttl") && e.contains("parsecs"), "{e}");
    }

    #[tokio::test]
    async fn tier_stacks_are_built_top_first_and_bad_ones_named() {
        let s =
            store_from_url("tiers:mem://?max_entries=10|mem://|mem://?max_bytes=100000&l1_ttl=5s")
                .await
                .unwrap();
        assert_eq!(s.name(), "tiered");
        assert_eq!(s.stats().tiers.len(), 3);
        for (bad, says) in [
            ("tiers:mem://", "two or more"),
            ("tiers:mem://||mem://", "two or more"),
            (
                "tiers:mem://|tiers:mem://|mem://",
                "cannot itself be tiered",
            ),
            ("tiers:mem://|mem://?l1_max_entries=5", "first tier"),
            ("tiers:mem://|mem://?l1_ttl=soon", "l1_ttl"),
            ("tiers:mem://|mem://?write_behind=soon", "write_behind"),
            (
                "tiers:mem://|mem://?write_behind_batch=0&write_behind=1s",
                "positive",
            ),
            (
                "tiers:mem://|mem://?write_behind_max=10",
                "need write_behind",
            ),
            ("tiers:nope://|mem://", "nope"),
            ("tiered+ tiered+mem://", "cannot itself be tiered"),
            ("tiered+\rtiers:mem://|mem://", "cannot itself be tiered"),
        ] {
            let e = store_from_url(bad)
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(store_from_url_now("tiers:mem://|mem://").is_err());
    }
}
