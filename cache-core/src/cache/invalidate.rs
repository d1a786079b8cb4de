//! Invalidation: deletes, patterns, tags, clearing the namespace, bumping its version, and
//! the log of recent invalidations.

use std::sync::atomic::Ordering::Relaxed;

use super::Cache;
use crate::error::Result;
use crate::stats::{InvalidationEvent, InvalidationKind};

impl Cache {
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

    /// Lists this namespace's keys matching a glob (`*`, `?`, `[..]`, `\` escapes), without
    /// the namespace. A pattern with user input in it must be a [`Pattern`](crate::Pattern),
    /// which escapes it; a string is for literal patterns only, as for
    /// [`delete_pattern`](Cache::delete_pattern).
    ///
    /// ```
    /// use cache_core::Pattern;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("user:1", &1).await?;
    /// cache.set("post:1", &1).await?;
    /// assert_eq!(cache.keys("user:*").await?, vec!["user:1".to_string()]);
    /// let kind = "post"; // from a request
    /// assert_eq!(cache.keys(Pattern::new("").arg(kind).lit(":").any()).await?, ["post:1"]);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn keys(&self, pattern: impl AsRef<str>) -> Result<Vec<String>> {
        let full = self.full_pattern(pattern.as_ref())?;
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
    /// Build a pattern that holds anything from a user with [`Pattern`](crate::Pattern), which
    /// escapes it. A plain string is taken as a glob as it is: it is for literal patterns
    /// written in the code only (`"user:*"`), never `format!("user:{input}*")`, where an input
    /// of `*` would delete every user.
    ///
    /// ```
    /// use cache_core::Pattern;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("user:1", &1).await?;
    /// cache.set("user:2", &2).await?;
    /// cache.set("user:10", &10).await?;
    /// let id = "1"; // from a request
    /// assert_eq!(cache.delete_pattern(Pattern::new("user:").arg(id)).await?, 1);
    /// assert_eq!(cache.delete_pattern(Pattern::new("user:").arg("*")).await?, 0);
    /// assert_eq!(cache.delete_pattern("user:*").await?, 2); // a literal pattern
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn delete_pattern(&self, pattern: impl AsRef<str>) -> Result<u64> {
        let pattern = pattern.as_ref();
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

    /// Deletes every entry written with one of `tags`; returns how many were deleted. On a
    /// store without a tag index (tags emulated with stamps, see
    /// [`Capability::NativeTags`](crate::store::Capability::NativeTags)) the entries become
    /// misses at once and the count is 0: which entries they were is not known.
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
        let n = if self.emulates_tags() {
            self.invalidate_emulated(&tags).await?
        } else {
            self.call(
                "invalidate_tags",
                "",
                self.inner.store.invalidate_tags(&tags),
            )
            .await?
            .len() as u64
        };
        self.count(|c| &c.deletes, n);
        self.log_invalidation(InvalidationKind::Tags, &names, n);
        Ok(n)
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

    pub(super) fn log_invalidation<I, S>(&self, kind: InvalidationKind, targets: I, deleted: u64)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.inner.invalidations.record(kind, targets, deleted);
    }
}
