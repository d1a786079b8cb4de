//! Typed reads and writes, and the in-process hit path.
//!
//! A value is framed ([`crate::frame`]) and encoded by the cache's codec. When the store keeps
//! values in this process ([`Store::get_local`](crate::Store::get_local)), the first typed read
//! of an entry decodes it and keeps the value in the entry's slot; later reads of the same type
//! clone it from there without decoding. The slot goes with the entry, so a changed, deleted,
//! invalidated or expired value is never served from it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::tags::WriteTags;
use super::Cache;
use crate::error::{Error, Result};
use crate::frame::has_tag_stamps;
use crate::options::SetOptions;
use crate::store::{LocalEntry, LocalRead, WriteOptions};

/// What a typed read returns: a value the codec can decode, and that can be cloned, so that a
/// decoded copy kept beside the stored bytes in process serves the next reads without decoding.
/// Implemented for every such type.
///
/// ```
/// fn readable<T: cache_core::CacheValue>() {}
/// readable::<Vec<String>>();
/// ```
pub trait CacheValue: DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: DeserializeOwned + Clone + Send + Sync + 'static> CacheValue for T {}

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

/// A decoded value kept in an in-process entry's slot.
struct Decoded<T> {
    /// The [`decoder`](super::Inner::decoder) that decoded it.
    decoder: u64,
    fresh_until_ms: Option<u64>,
    /// Its tag stamps (emulated tags); a value with any is never kept in a slot.
    stamps: Vec<(String, u64)>,
    value: T,
}

impl<T: Clone> Decoded<T> {
    #[inline]
    fn read(&self) -> Read<T> {
        if is_stale(self.fresh_until_ms) {
            Read::Stale(self.value.clone())
        } else {
            Read::Fresh(self.value.clone())
        }
    }
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[inline]
fn is_stale(fresh_until_ms: Option<u64>) -> bool {
    fresh_until_ms.is_some_and(|t| now_ms() >= t)
}

impl Cache {
    /// Frames `value` and works out the store's write options. `None`: a zero TTL, nothing to
    /// write.
    pub(super) fn encode<T: Serialize + ?Sized>(
        &self,
        full: &str,
        value: &T,
        opts: &SetOptions,
        tags: &WriteTags,
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
        let bytes = self.inner.frame.encode(
            full,
            self.inner.codec.id(),
            fresh_until,
            store_ttl,
            &tags.stamps,
            &payload,
        );
        Ok(Some((
            bytes,
            WriteOptions {
                ttl: store_ttl,
                tags: tags.native.clone(),
            },
        )))
    }

    /// Decodes stored bytes into a value, the time it turns stale, and its tag stamps.
    fn decode_frame<T: DeserializeOwned>(&self, full: &str, bytes: &[u8]) -> Result<Decoded<T>> {
        let frame = self.inner.frame.decode(full, bytes)?;
        if frame.codec_id != self.inner.codec.id() {
            return Err(Error::Decode(format!(
                "value written by codec id {}, this cache uses {} (id {})",
                frame.codec_id,
                self.inner.codec.name(),
                self.inner.codec.id()
            )));
        }
        Ok(Decoded {
            decoder: self.inner.decoder,
            value: self.inner.codec.decode(&frame.payload)?,
            fresh_until_ms: frame.fresh_until_ms,
            stamps: frame.tag_stamps,
        })
    }

    /// Decodes stored bytes, quietly; `Ok((value, stale))`. Tag stamps are not checked: for a
    /// value just loaded, whose stamps were read for its write.
    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        full: &str,
        bytes: &[u8],
    ) -> Result<(T, bool)> {
        let d = self.decode_frame(full, bytes)?;
        Ok((d.value, is_stale(d.fresh_until_ms)))
    }

    /// Counts and logs an undecodable value, read as a miss.
    pub(super) fn undecodable(&self, full: &str, e: &Error) {
        self.count(|c| &c.decode_errors, 1);
        tracing::warn!(target: "cache", key = full, error = %e, "undecodable cached value treated as a miss");
    }

    /// Decodes, turning a failure into a counted, logged miss (tag stamps unchecked, as for
    /// [`decode`](Self::decode)).
    pub(super) fn decode_or_miss<T: DeserializeOwned>(&self, full: &str, bytes: &[u8]) -> Read<T> {
        match self.decode(full, bytes) {
            Ok((v, false)) => Read::Fresh(v),
            Ok((v, true)) => Read::Stale(v),
            Err(e) => {
                self.undecodable(full, &e);
                Read::Miss
            }
        }
    }

    /// Decodes stored bytes read from the store: a failure is a counted, logged miss, and so is
    /// a value one of whose tags was invalidated since it was written (emulated tags).
    pub(super) async fn decode_checked<T: DeserializeOwned>(
        &self,
        full: &str,
        bytes: &[u8],
    ) -> Result<Read<T>> {
        let d = match self.decode_frame::<T>(full, bytes) {
            Ok(d) => d,
            Err(e) => {
                self.undecodable(full, &e);
                return Ok(Read::Miss);
            }
        };
        if !self.stamps_current(&d.stamps).await? {
            return Ok(Read::Miss);
        }
        Ok(if is_stale(d.fresh_until_ms) {
            Read::Stale(d.value)
        } else {
            Read::Fresh(d.value)
        })
    }

    /// The `T` this cache's decoder kept in an entry's slot.
    #[inline]
    fn kept<'e, T: CacheValue>(&self, entry: &'e LocalEntry) -> Option<&'e Decoded<T>> {
        entry
            .decoded()
            .and_then(|d| d.downcast_ref::<Decoded<T>>())
            .filter(|d| d.decoder == self.inner.decoder)
    }

    /// An in-process entry as a `T`: from its slot when this cache decoded it there before,
    /// else decoded now and kept in the slot.
    /// `None` for a value with tag stamps, which only the asynchronous read can check.
    #[inline]
    fn read_entry<T: CacheValue>(&self, full: &str, entry: &LocalEntry) -> Option<Read<T>> {
        match self.kept::<T>(entry) {
            Some(d) => Some(d.read()),
            None => self.decode_entry(full, entry),
        }
    }

    /// [`read_entry`](Self::read_entry) when only a fresh value is of use.
    #[inline]
    fn fresh_entry<T: CacheValue>(&self, full: &str, entry: &LocalEntry) -> Option<Option<T>> {
        match self.kept::<T>(entry) {
            Some(d) if !is_stale(d.fresh_until_ms) => Some(Some(d.value.clone())),
            Some(_) => Some(None),
            None => match self.decode_entry(full, entry)? {
                Read::Fresh(v) => Some(Some(v)),
                Read::Stale(_) | Read::Miss => Some(None),
            },
        }
    }

    /// The first read of an entry (by this type and decoder): decodes it and keeps the value.
    /// Values with tag stamps are not kept (each read checks the stamps): `None`.
    #[cold]
    #[inline(never)]
    fn decode_entry<T: CacheValue>(&self, full: &str, entry: &LocalEntry) -> Option<Read<T>> {
        if has_tag_stamps(entry.bytes()) {
            return None;
        }
        Some(match self.decode_frame::<T>(full, entry.bytes()) {
            Ok(d) => {
                let out = d.read();
                entry.set_decoded(Arc::new(d));
                out
            }
            Err(e) => {
                self.undecodable(full, &e);
                Read::Miss
            }
        })
    }

    /// A read answered in process, if the store can answer there (`None`: ask it with
    /// [`read`](Self::read)). The full key is built in a reused buffer: no allocation.
    #[inline]
    pub(super) fn read_local<T: CacheValue>(&self, key: &str) -> Result<Option<Read<T>>> {
        self.with_full_key(key, |full| match self.inner.store.get_local(full) {
            LocalRead::Hit(entry) => self.read_entry(full, &entry),
            LocalRead::Miss => Some(Read::Miss),
            LocalRead::Unknown => None,
        })
    }

    /// A fresh value answered in process, counted as a hit; `None` for anything else (not
    /// counted: the read or load that follows counts it).
    #[inline]
    pub(crate) fn fresh_local<T: CacheValue>(&self, key: &str) -> Option<T> {
        let v = self
            .with_full_key(key, |full| match self.inner.store.get_local(full) {
                // Only a value decoded before: decoding (and counting a failure) is the load's.
                LocalRead::Hit(entry) => self
                    .kept::<T>(&entry)
                    .filter(|d| !is_stale(d.fresh_until_ms))
                    .map(|d| d.value.clone()),
                LocalRead::Miss | LocalRead::Unknown => None,
            })
            .ok()
            .flatten()?;
        self.count_read(true);
        Some(v)
    }

    /// Reads and decodes a value: in process when the store can answer there.
    pub(super) async fn read<T: CacheValue>(&self, full: &str) -> Result<Read<T>> {
        let bytes = match self.inner.store.get_local(full) {
            LocalRead::Hit(entry) => match self.read_entry(full, &entry) {
                Some(read) => return Ok(read),
                None => entry.bytes().clone(),
            },
            LocalRead::Miss => return Ok(Read::Miss),
            LocalRead::Unknown => match self.inner.store.get(full).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(Read::Miss),
                Err(e) => return Err(self.backend_error("get", full, e)),
            },
        };
        self.decode_checked(full, &bytes)
            .await
            .map_err(|e| self.backend_error("get", full, e))
    }

    /// Reads a value's stored bytes, in process when the store can answer there.
    pub(super) async fn read_bytes(&self, full: &str) -> Result<Option<Bytes>> {
        match self.inner.store.get_local(full) {
            LocalRead::Hit(entry) => Ok(Some(entry.bytes().clone())),
            LocalRead::Miss => Ok(None),
            LocalRead::Unknown => self.inner.store.get(full).await,
        }
    }

    /// Reads a value. A missing, expired, stale or undecodable value is `None` (an undecodable
    /// one is counted in [`Stats::decode_errors`](crate::Stats::decode_errors)).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.get::<u32>("nope").await?, None);
    /// cache.set("n", &7u32).await?;
    /// assert_eq!(cache.get::<u32>("n").await?, Some(7));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get<T: CacheValue>(&self, key: &str) -> Result<Option<T>> {
        self.note_read(key);
        let local = self.with_full_key(key, |full| match self.inner.store.get_local(full) {
            LocalRead::Hit(entry) => self.fresh_entry::<T>(full, &entry),
            LocalRead::Miss => Some(None),
            LocalRead::Unknown => None,
        })?;
        let out = match local {
            Some(out) => out,
            None => self.get_remote(key).await?,
        };
        self.count_read(out.is_some());
        Ok(out)
    }

    async fn get_remote<T: CacheValue>(&self, key: &str) -> Result<Option<T>> {
        Ok(match self.read(&self.full_key(key)?).await? {
            Read::Fresh(v) => Some(v),
            Read::Stale(_) | Read::Miss => None,
        })
    }

    /// For the macros' background refresh: one read, telling a fresh or stale value (both
    /// served, so counted as hits; a stale one with whether a load of it is in flight) from
    /// anything else (not counted: the load that follows counts it).
    pub(crate) async fn peek<T: CacheValue>(&self, key: &str) -> Peek<T> {
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
        let opts = opts.into();
        let tags = self.write_tags(&opts.tags).await?;
        let Some((bytes, wopts)) = self.encode(&full, value, &opts, &tags)? else {
            return Ok(());
        };
        self.inner
            .store
            .set(&full, bytes, &wopts)
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
        let opts = opts.into();
        let tags = self.write_tags(&opts.tags).await?;
        let Some((bytes, wopts)) = self.encode(&full, value, &opts, &tags)? else {
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
        if self.emulates_tags() {
            // A value one of whose tags was invalidated is gone, though its bytes are not.
            return Ok(match self.read_bytes(&full).await {
                Ok(Some(b)) => !matches!(
                    self.decode_checked::<serde::de::IgnoredAny>(&full, &b)
                        .await?,
                    Read::Miss
                ),
                Ok(None) => false,
                Err(e) => return Err(self.backend_error("exists", &full, e)),
            });
        }
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
                match self.decode_checked(&full, &b).await? {
                    Read::Fresh(v) => Some(v),
                    Read::Stale(_) | Read::Miss => None,
                }
            }
            None => None,
        };
        self.count_read(out.is_some());
        Ok(out)
    }
}
