//! [`CacheBuilder`]: how a [`Cache`] is made, from code, a URL or the environment.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use super::{Cache, Inner, DEFAULT_LONG_TTL, DEFAULT_PREFIX, DEFAULT_SHORT_TTL};
use crate::codec::{Codec, CodecImpl};
use crate::error::{Error, Result};
use crate::flight::Flights;
use crate::frame::FrameConfig;
use crate::key;
use crate::stats::{Counters, InvalidationLog};
use crate::store::{MemoryStore, Store};

/// The id of the next cache built.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

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
    /// with another key) are misses, counted in [`Stats::decode_errors`](crate::Stats::decode_errors).
    pub fn signing_key(mut self, key: [u8; 32]) -> Self {
        self.frame.signing_key = Some(key);
        self
    }

    /// Reads `CACHE_URL`, `CACHE_PREFIX`, `CACHE_VERSION` and `CACHE_TTL_*` through `var`; a
    /// variable set to an empty value means the same as an unset one: the default.
    pub(crate) fn with_env_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(url) = var("CACHE_URL") {
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
                .map(|v| crate::ttl::parse(&v).map_err(|e| e.within(name)))
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
            (None, Some(url)) => crate::store::open::store_from_url(url).await?,
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
            (None, Some(url)) => crate::store::open::store_from_url_now(url)?,
            (None, None) => Arc::new(MemoryStore::new()),
        };
        Ok(self.assemble(store))
    }

    pub(super) fn assemble(self, store: Arc<dyn Store>) -> Cache {
        let version = Arc::new(AtomicU64::new(self.version));
        store.watch_version(&self.prefix, Arc::downgrade(&version));
        let decoder = {
            let mut h = blake3::Hasher::new();
            h.update(&[self.codec.id()]);
            if let Some(k) = &self.frame.signing_key {
                h.update(k);
            }
            let d = h.finalize();
            u64::from_le_bytes(d.as_bytes()[..8].try_into().unwrap_or([0; 8]))
        };
        Cache {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                caps: store.capabilities(),
                decoder,
                store,
                prefix: self.prefix,
                version,
                default_ttl: self.default_ttl,
                short_ttl: self.short_ttl,
                long_ttl: self.long_ttl,
                codec: self.codec,
                frame: self.frame,
                counters: Counters::default(),
                flights: Flights::default(),
                leases: Default::default(),
                invalidations: InvalidationLog::default(),
                reads: std::sync::OnceLock::new(),
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
        assert_eq!(e.matches("invalid cache configuration").count(), 1, "{e}");
        let e = CacheBuilder::default()
            .with_env_vars(env(&[("CACHE_VERSION", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CACHE_VERSION"), "{e}");
    }

    #[test]
    fn empty_env_vars_mean_the_defaults() {
        let empty = |k: &str| k.starts_with("CACHE_").then(|| " ".to_string());
        let b = CacheBuilder::default().with_env_vars(empty).unwrap();
        let d = CacheBuilder::default();
        assert_eq!(b.url, d.url);
        assert_eq!(b.prefix, d.prefix);
        assert_eq!(b.version, d.version);
        assert_eq!(b.default_ttl, d.default_ttl);
        assert_eq!((b.short_ttl, b.long_ttl), (d.short_ttl, d.long_ttl));
    }

    #[test]
    fn bad_prefix_is_a_config_error() {
        let e = Cache::builder().prefix("a:b").build_now().unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }
}
