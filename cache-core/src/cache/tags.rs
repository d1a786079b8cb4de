//! Tags, natively or emulated.
//!
//! A store that keeps a tag index ([`Capability::NativeTags`]) is given each write's tags and
//! deletes their members itself. On any other store the cache emulates tags with **stamps**: each
//! tag has a stamp key (`{prefix}:t:{tag}`) holding a random number; a tagged value is framed
//! with the stamps its tags had when it was written, and a read serves it only while every one
//! of those tags still has that stamp. Invalidating a tag writes it a new random stamp, so every
//! value written before is a miss from then on, in every process, and is replaced or expires in
//! time. A stamp key that is evicted or lost counts as a change of stamp (its values are misses,
//! never served wrongly). This needs only the required core of a store (`get`, `add`, `set`).
//!
//! The cost: a read of a tagged value on such a store also reads its tags' stamps (one batch),
//! and an emulated invalidation cannot count the values it hid (it returns 0).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use super::Cache;
use crate::error::{Error, Result};
use crate::frame::MAX_TAG_STAMPS;
use crate::store::{Capability, WriteOptions};

/// How a write's tags are kept.
#[derive(Debug, Default)]
pub(super) struct WriteTags {
    /// Full tag names for a store with a tag index.
    pub(super) native: Vec<String>,
    /// Stamps to frame the value with, on any other store.
    pub(super) stamps: Vec<(String, u64)>,
}

/// A fresh random stamp.
fn new_stamp() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn parse_stamp(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

impl Cache {
    fn native_tags(&self) -> bool {
        self.inner.caps.has(Capability::NativeTags)
    }

    /// Whether values on this store may carry tag stamps (the store keeps no tag index).
    pub(super) fn emulates_tags(&self) -> bool {
        !self.native_tags()
    }

    /// The tags of a write: their full names for a store with a tag index, or their current
    /// stamps (created on first use) for the frame.
    pub(super) async fn write_tags(&self, tags: &[String]) -> Result<WriteTags> {
        if tags.is_empty() {
            return Ok(WriteTags::default());
        }
        let keys = tags
            .iter()
            .map(|t| self.tag_key(t))
            .collect::<Result<Vec<_>>>()?;
        if self.native_tags() {
            return Ok(WriteTags {
                native: keys,
                stamps: Vec::new(),
            });
        }
        if keys.len() > MAX_TAG_STAMPS {
            return Err(Error::InvalidKey(format!(
                "{} tags on one value: at most {MAX_TAG_STAMPS} where tags are emulated",
                keys.len()
            )));
        }
        let stored = self
            .call("get_many", "", self.inner.store.get_many(&keys))
            .await?;
        let mut stamps = Vec::with_capacity(keys.len());
        for (key, stored) in keys.into_iter().zip(stored) {
            let stamp = match stored.as_deref().and_then(parse_stamp) {
                Some(s) => s,
                None => self.create_stamp(&key).await?,
            };
            stamps.push((key, stamp));
        }
        Ok(WriteTags {
            native: Vec::new(),
            stamps,
        })
    }

    /// A tag's first stamp: added unless another writer got there first (then theirs).
    async fn create_stamp(&self, key: &str) -> Result<u64> {
        let stamp = new_stamp();
        let value = Bytes::from(stamp.to_string());
        let opts = WriteOptions::default();
        if self
            .call("add", key, self.inner.store.add(key, value.clone(), &opts))
            .await?
        {
            return Ok(stamp);
        }
        match self.call("get", key, self.inner.store.get(key)).await? {
            Some(b) if parse_stamp(&b).is_some() => Ok(parse_stamp(&b).unwrap_or(stamp)),
            // Gone again, or not a stamp: a new one (values under the old are misses).
            _ => {
                self.call("set", key, self.inner.store.set(key, value, &opts))
                    .await?;
                Ok(stamp)
            }
        }
    }

    /// Whether every tag of a value still has the stamp the value was written under.
    pub(super) async fn stamps_current(&self, stamps: &[(String, u64)]) -> Result<bool> {
        if stamps.is_empty() {
            return Ok(true);
        }
        let keys: Vec<String> = stamps.iter().map(|(k, _)| k.clone()).collect();
        let now = self
            .call("get_many", "", self.inner.store.get_many(&keys))
            .await?;
        Ok(stamps
            .iter()
            .zip(now)
            .all(|((_, s), now)| now.as_deref().and_then(parse_stamp) == Some(*s)))
    }

    /// Invalidates tags by giving each a new stamp; the number of values this hides is not
    /// known, so it returns 0.
    pub(super) async fn invalidate_emulated(&self, keys: &[String]) -> Result<u64> {
        let entries: Vec<(String, Bytes)> = keys
            .iter()
            .map(|k| (k.clone(), Bytes::from(new_stamp().to_string())))
            .collect();
        self.call(
            "invalidate_tags",
            "",
            self.inner
                .store
                .set_many(&entries, &WriteOptions::default()),
        )
        .await?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_differ_and_parse_back() {
        let (a, b) = (new_stamp(), new_stamp());
        assert_ne!(a, b);
        assert_eq!(parse_stamp(a.to_string().as_bytes()), Some(a));
        assert_eq!(parse_stamp(b"not a stamp"), None);
    }
}
