//! Raw values: bytes the caller encodes itself (the HTTP response cache), still framed and
//! namespaced so that foreign, tampered or typed values are a counted miss.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::Cache;
use crate::error::{Error, Result};
use crate::frame::has_tag_stamps;
use crate::options::SetOptions;
use crate::store::{LocalRead, WriteOptions};

/// A caller's decoded form of raw bytes kept in an in-process entry's slot, with the decoder
/// that made it.
struct Raw<T>(u64, T);

impl Cache {
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
            .read_bytes(&full)
            .await
            .map_err(|e| self.backend_error("get", &full, e))?;
        let out = match stored {
            Some(bytes) => self.raw_checked(&full, bytes).await?,
            None => None,
        };
        self.count_read(out.is_some());
        Ok(out)
    }

    /// Reads raw bytes written with [`set_bytes`](Cache::set_bytes) as a `T` made by `decode`,
    /// for a caller with its own binary format. When the store keeps the value in this process,
    /// the `T` is kept beside the stored bytes: the next read of the same entry is one lookup and
    /// a clone, and `decode` runs again only after the value changed. `decode` returning `None`
    /// (bytes it cannot read) is a counted miss.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use bytes::Bytes;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_bytes("page", Bytes::from_static(b"<html>"), ()).await?;
    /// let parse = |b: &Bytes| Some(Arc::new(String::from_utf8(b.to_vec()).ok()?));
    /// let page: Arc<String> = cache.get_bytes_as("page", parse).await?.unwrap();
    /// assert_eq!(page.as_str(), "<html>");
    /// let again: Arc<String> = cache.get_bytes_as("page", |_| unreachable!()).await?.unwrap();
    /// assert!(Arc::ptr_eq(&page, &again), "kept beside the bytes, not decoded again");
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get_bytes_as<T>(
        &self,
        key: &str,
        decode: impl FnOnce(&Bytes) -> Option<T>,
    ) -> Result<Option<T>>
    where
        T: Clone + Send + Sync + 'static,
    {
        let full = self.full_key(key)?;
        let out = match self.inner.store.get_local(&full) {
            LocalRead::Hit(entry) => {
                let kept = entry
                    .decoded()
                    .and_then(|d| d.downcast_ref::<Raw<T>>())
                    .filter(|d| d.0 == self.inner.decoder);
                match kept {
                    Some(Raw(_, v)) => Some(v.clone()),
                    // Tag stamps are checked on every read: nothing is kept for such a value.
                    None if has_tag_stamps(entry.bytes()) => self
                        .raw_checked(&full, entry.bytes().clone())
                        .await?
                        .and_then(|p| self.raw_decoded(&full, &p, decode)),
                    None => self
                        .raw_payload(&full, entry.bytes().clone())
                        .and_then(|p| self.raw_decoded(&full, &p, decode))
                        .inspect(|v| {
                            entry.set_decoded(Arc::new(Raw(self.inner.decoder, v.clone())));
                        }),
                }
            }
            LocalRead::Miss => None,
            LocalRead::Unknown => {
                let stored = self
                    .inner
                    .store
                    .get(&full)
                    .await
                    .map_err(|e| self.backend_error("get", &full, e))?;
                match stored {
                    Some(b) => self
                        .raw_checked(&full, b)
                        .await?
                        .and_then(|p| self.raw_decoded(&full, &p, decode)),
                    None => None,
                }
            }
        };
        self.count_read(out.is_some());
        Ok(out)
    }

    /// [`get_bytes_as`](Cache::get_bytes_as) answered at once, for a caller on a synchronous
    /// path (the HTTP response cache serves fresh hits this way without boxing a future): when
    /// the store holds `key` in this process, its `T` is offered to `serve`, and a `Some` from
    /// `serve` comes back as [`ReadNow::Served`], counted as a hit. A store that holds every value
    /// in process and has none under `key` gives [`ReadNow::Absent`], counted as a miss: reading it
    /// again would find nothing either. Anything else (a value not held in process, one that
    /// cannot be read, or one `serve` declines) is [`ReadNow::Unknown`], and counts nothing, so the
    /// caller's asynchronous read that follows counts once.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use cache_core::ReadNow;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_bytes("page", Bytes::from_static(b"<html>"), ()).await?;
    /// let len = cache.get_bytes_as_now("page", |b| Some(b.len()), |n| Some(*n));
    /// assert_eq!(len, ReadNow::Served(6));
    /// assert_eq!(cache.get_bytes_as_now("page", |b| Some(b.len()), |_| None::<()>), ReadNow::Unknown);
    /// assert_eq!(cache.get_bytes_as_now("none", |b| Some(b.len()), |n| Some(*n)), ReadNow::Absent);
    /// assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn get_bytes_as_now<T, R>(
        &self,
        key: &str,
        decode: impl FnOnce(&Bytes) -> Option<T>,
        serve: impl FnOnce(&T) -> Option<R>,
    ) -> ReadNow<R>
    where
        T: Clone + Send + Sync + 'static,
    {
        let out = self
            .with_full_key(key, |full| {
                let entry = match self.inner.store.get_local(full) {
                    LocalRead::Hit(entry) => entry,
                    LocalRead::Miss => return ReadNow::Absent,
                    LocalRead::Unknown => return ReadNow::Unknown,
                };
                let kept = entry
                    .decoded()
                    .and_then(|d| d.downcast_ref::<Raw<T>>())
                    .filter(|d| d.0 == self.inner.decoder);
                let served = match kept {
                    Some(Raw(_, v)) => serve(v),
                    None if has_tag_stamps(entry.bytes()) => None,
                    None => {
                        let Some(v) = self
                            .raw_payload(full, entry.bytes().clone())
                            .and_then(|p| self.raw_decoded(full, &p, decode))
                        else {
                            return ReadNow::Unknown;
                        };
                        let out = serve(&v);
                        entry.set_decoded(Arc::new(Raw(self.inner.decoder, v)));
                        out
                    }
                };
                served.map_or(ReadNow::Unknown, ReadNow::Served)
            })
            .unwrap_or(ReadNow::Unknown);
        match out {
            ReadNow::Served(_) => self.count_read(true),
            ReadNow::Absent => self.count_read(false),
            ReadNow::Unknown => {}
        }
        out
    }

    fn raw_decoded<T>(
        &self,
        full: &str,
        payload: &Bytes,
        decode: impl FnOnce(&Bytes) -> Option<T>,
    ) -> Option<T> {
        let out = decode(payload);
        if out.is_none() {
            self.undecodable(
                full,
                &Error::Decode("the caller could not read the stored bytes".into()),
            );
        }
        out
    }

    /// [`raw_payload`](Self::raw_payload), and a miss when one of the value's tags was
    /// invalidated since it was written (emulated tags).
    async fn raw_checked(&self, full: &str, bytes: Bytes) -> Result<Option<Bytes>> {
        let Some((payload, stamps)) = self.raw_frame(full, bytes) else {
            return Ok(None);
        };
        Ok(self.stamps_current(&stamps).await?.then_some(payload))
    }

    /// The payload of a stored value written by [`set_bytes`](Cache::set_bytes), its tag
    /// stamps unchecked; anything else is a counted, logged miss.
    pub(super) fn raw_payload(&self, full: &str, bytes: Bytes) -> Option<Bytes> {
        self.raw_frame(full, bytes).map(|(payload, _)| payload)
    }

    fn raw_frame(&self, full: &str, bytes: Bytes) -> Option<(Bytes, Vec<(String, u64)>)> {
        match self.inner.frame.decode(full, &bytes) {
            Ok(frame) if frame.codec_id == crate::codec::RAW_ID => {
                let payload = match frame.payload {
                    std::borrow::Cow::Borrowed(p) => bytes.slice_ref(p),
                    std::borrow::Cow::Owned(p) => Bytes::from(p),
                };
                Some((payload, frame.tag_stamps))
            }
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
        self.set_raw(key, opts.into(), |frame, full, ttl, stamps| {
            frame.encode(full, crate::codec::RAW_ID, None, ttl, stamps, &value)
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
        self.set_raw(key, opts.into(), |frame, full, ttl, stamps| {
            frame.encode_with(full, crate::codec::RAW_ID, ttl, stamps, len, write)
        })
        .await
    }

    /// Frames a raw value with `encode` (given the frame settings, the full key, the TTL and
    /// the tag stamps) and writes it, unless the TTL is zero.
    pub(super) async fn set_raw(
        &self,
        key: &str,
        opts: SetOptions,
        encode: impl FnOnce(
            &crate::frame::FrameConfig,
            &str,
            Option<Duration>,
            &[(String, u64)],
        ) -> Bytes,
    ) -> Result<()> {
        let full = self.full_key(key)?;
        let ttl = self.resolve_ttl(opts.ttl);
        if ttl == Some(Duration::ZERO) {
            return Ok(());
        }
        let tags = self.write_tags(&opts.tags).await?;
        let bytes = encode(&self.inner.frame, &full, ttl, &tags.stamps);
        self.inner
            .store
            .set(
                &full,
                bytes,
                &WriteOptions {
                    ttl,
                    tags: tags.native,
                },
            )
            .await
            .map_err(|e| self.backend_error("set", &full, e))?;
        self.count(|c| &c.sets, 1);
        Ok(())
    }
}

/// What [`Cache::get_bytes_as_now`] found.
///
/// ```
/// let found: cache_core::ReadNow<u8> = cache_core::ReadNow::Absent;
/// assert_eq!(found.served(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadNow<R> {
    /// The value, as the caller's `serve` made it.
    Served(R),
    /// No value under the key, as a store that holds every value in process knows for sure.
    Absent,
    /// Not answered now: read the value the usual way.
    Unknown,
}

impl<R> ReadNow<R> {
    /// The served value, if any.
    ///
    /// ```
    /// assert_eq!(cache_core::ReadNow::Served(3).served(), Some(3));
    /// ```
    pub fn served(self) -> Option<R> {
        match self {
            ReadNow::Served(r) => Some(r),
            ReadNow::Absent | ReadNow::Unknown => None,
        }
    }
}
