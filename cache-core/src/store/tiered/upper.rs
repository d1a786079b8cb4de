//! The copies a tiered store keeps in its upper tiers: reads down the stack, promotion of what a
//! lower tier returns (unless an invalidation of the key overlapped the read, see `recent.rs`),
//! writes after the shared tier, and deletes.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;

use super::recent::Touched;
use super::tier::{Call, Tier};
use super::{has_tags, TieredStore};
use crate::error::Result;
use crate::store::{Capability, KeyTtl, WriteOptions};

impl TieredStore {
    /// The options of a copy in the upper tiers of a value with `ttl` left below (`None`:
    /// unknown). `None`: not to be copied (its lifetime below is unknown and nothing caps it).
    pub(super) fn upper_ttl(&self, ttl: Option<KeyTtl>) -> Option<Option<Duration>> {
        let cap = self.inner.ttl_cap;
        match (ttl.and_then(KeyTtl::remaining), ttl, cap) {
            (Some(d), _, Some(c)) => Some(Some(d.min(c))),
            (Some(d), _, None) => Some(Some(d)),
            (None, Some(_), c) => Some(c),
            (None, None, Some(c)) => Some(Some(c)),
            (None, None, None) => None,
        }
    }

    /// The write options of a copy in `tier`.
    pub(super) fn upper_opts(
        tier: &Tier,
        ttl: Option<Duration>,
        opts: &WriteOptions,
    ) -> WriteOptions {
        WriteOptions {
            ttl,
            tags: if has_tags(tier) {
                opts.tags.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Copies a value read from a lower tier into `tiers`, unless an invalidation of its key
    /// arrived since the read began (noted as `since`): it may be the old value.
    pub(super) async fn promote(
        &self,
        tiers: &[Tier],
        key: &str,
        value: &Bytes,
        ttl: Option<KeyTtl>,
        since: u64,
    ) {
        let Some(ttl) = self.upper_ttl(ttl) else {
            return;
        };
        if self.inner.recent.touched_since(since, key, 0) {
            return;
        }
        let opts = WriteOptions {
            ttl,
            tags: Vec::new(),
        };
        for tier in tiers {
            if tier
                .change(|s| s.set(key, value.clone(), &opts))
                .await
                .is_some()
            {
                tier.counters.promotions.fetch_add(1, Relaxed);
            }
        }
        if self.inner.recent.touched_since(since, key, 0) {
            // Undoing the copy is an invalidation too: a read that found it in a lower tier
            // meanwhile must not promote it in turn.
            let _applying = self.inner.recent.begin(Touched::Keys(vec![key.to_owned()]));
            for tier in tiers {
                tier.change(|s| s.delete(key)).await;
            }
        }
    }

    /// Reads down the stack, promoting what a lower tier returns. The top tier's TTL is read
    /// only when `with_ttl`.
    pub(super) async fn read_through(
        &self,
        key: &str,
        with_ttl: bool,
    ) -> Result<Option<(Bytes, KeyTtl)>> {
        let since = self.inner.recent.epoch();
        for (i, tier) in self.inner.uppers.iter().enumerate() {
            if !tier.usable().await {
                continue;
            }
            let read = if with_ttl || i > 0 {
                tier.call(|s| s.get_with_ttl(key)).await
            } else {
                // The hit path: the TTL is not asked for.
                tier.call(|s| {
                    Box::pin(async move { Ok(s.get(key).await?.map(|v| (v, KeyTtl::Persistent))) })
                })
                .await
            };
            if let Ok(Call::Done {
                value: Some((value, ttl)),
                ..
            }) = read
            {
                tier.counters.hits.add(1);
                self.promote(&self.inner.uppers[..i], key, &value, Some(ttl), since)
                    .await;
                return Ok(Some((value, ttl)));
            }
        }
        // A write not yet in the shared tier (its upper copies may have been evicted).
        if let Some(pending) = self.write_behind().and_then(|wb| wb.lookup(key)) {
            return Ok(pending);
        }
        let bottom_ttl = self
            .inner
            .bottom
            .store
            .capabilities()
            .has(Capability::TtlRead);
        let read = if bottom_ttl {
            self.bottom(|s| s.get_with_ttl(key))
                .await?
                .map(|v| v.map(|(v, t)| (v, Some(t))))
        } else {
            self.bottom(|s| s.get(key))
                .await?
                .map(|v| v.map(|v| (v, None)))
        };
        match read.flatten() {
            Some((value, ttl)) => {
                self.inner.bottom.counters.hits.add(1);
                self.promote(&self.inner.uppers, key, &value, ttl, since)
                    .await;
                Ok(Some((value, ttl.unwrap_or(KeyTtl::Persistent))))
            }
            None => Ok(None),
        }
    }

    /// Writes `entries` to the upper tiers after the shared one, unless another process's write
    /// of a key came in meanwhile (then that key's copies are dropped: the shared tier may hold
    /// the other write).
    pub(super) async fn write_uppers(
        &self,
        entries: &[(&str, &Bytes)],
        opts: &WriteOptions,
        since: u64,
        mine: u64,
    ) {
        let ttl = self.upper_ttl(Some(opts.ttl.map_or(KeyTtl::Persistent, KeyTtl::Expires)));
        let ttl = ttl.flatten();
        for tier in &self.inner.uppers {
            let o = Self::upper_opts(tier, ttl, opts);
            for (k, v) in entries {
                tier.change(|s| s.set(k, (*v).clone(), &o)).await;
            }
        }
        let overtaken: Vec<String> = entries
            .iter()
            .filter(|(k, _)| self.inner.recent.touched_since(since, k, mine))
            .map(|(k, _)| (*k).to_owned())
            .collect();
        if !overtaken.is_empty() {
            let _applying = self.inner.recent.begin(Touched::Keys(overtaken.clone()));
            for tier in &self.inner.uppers {
                tier.change(|s| s.delete_many(&overtaken)).await;
            }
        }
    }

    /// Deletes in every upper tier; returns how many the top tier held.
    pub(super) async fn delete_uppers(&self, keys: &[String]) -> u64 {
        let mut top = 0;
        for (i, tier) in self.inner.uppers.iter().enumerate() {
            let n = tier.change(|s| s.delete_many(keys)).await.unwrap_or(0);
            if i == 0 {
                top = n;
            }
        }
        top
    }
}
