//! [`Limited`]: a store that declares and does only part of what another store does, to run
//! the cache and the conformance suite against stores with fewer capabilities.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::Result;
use crate::store::StoreStats;
use crate::store::{BoxFuture, Capabilities, Capability, KeyTtl, LocalRead, Store, WriteOptions};

/// `inner`, with only the required core and the capabilities in `caps` (each one delegated to
/// `inner`); everything else answers as the trait's defaults do (`Unsupported`, or a loop).
///
/// ```
/// use std::sync::Arc;
/// use cache_core::store::{Capabilities, Capability, MemoryStore};
/// use cache_core::testing::{self, Limited};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let only_core = Limited::new(Arc::new(MemoryStore::new()), Capabilities::NONE);
/// let ran = testing::conformance(Arc::new(only_core)).await;
/// assert!(!ran.contains(&"tags"));
/// # });
/// ```
#[derive(Debug)]
pub struct Limited {
    inner: Arc<dyn Store>,
    caps: Capabilities,
}

impl Limited {
    /// `inner` restricted to `caps` (and to what `inner` declares).
    pub fn new(inner: Arc<dyn Store>, caps: Capabilities) -> Self {
        let caps = caps.and(inner.capabilities());
        Self { inner, caps }
    }

    fn has(&self, c: Capability) -> bool {
        self.caps.has(c)
    }
}

impl Store for Limited {
    fn name(&self) -> &'static str {
        "limited"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        self.inner.get(key)
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.set(key, value, opts)
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        self.inner.add(key, value, opts)
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.inner.delete(key)
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.ping()
    }

    fn get_local(&self, key: &str) -> LocalRead {
        self.inner.get_local(key)
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        if self.has(Capability::Take) {
            return self.inner.take(key);
        }
        crate::store::unsupported(self.name(), "take")
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        if self.has(Capability::PatternScan) {
            return self.inner.scan(pattern);
        }
        crate::store::unsupported(self.name(), "scan")
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        if self.has(Capability::PatternScan) {
            return self.inner.delete_pattern(pattern);
        }
        crate::store::unsupported(self.name(), "delete_pattern")
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        if self.has(Capability::AtomicCounters) {
            return self.inner.incr(key, delta);
        }
        crate::store::unsupported(self.name(), "incr")
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        if self.has(Capability::Expire) {
            return self.inner.expire(key, ttl);
        }
        crate::store::unsupported(self.name(), "expire")
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        if self.has(Capability::TtlRead) {
            return self.inner.ttl(key);
        }
        crate::store::unsupported(self.name(), "ttl")
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        if self.has(Capability::NativeTags) {
            return self.inner.invalidate_tags(tags);
        }
        crate::store::unsupported(self.name(), "invalidate_tags")
    }

    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }

    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.flush()
    }
}
