//! Tags on Redis: a tag is a hash `tag → {key: write id}` whose expiry follows its
//! longest-lived member. A tagged value is stored behind a 17-byte marker holding its write id,
//! so invalidating a tag deletes a key only while it still holds the write that carried the tag
//! (a key re-written since is left alone), checked and deleted atomically by a script.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use fred::prelude::{Expiration, KeysInterface};
use fred::types::Value;
use futures_util::future::try_join_all;

use super::{millis, RedisStore};
use crate::error::Result;
use crate::store::WriteOptions;

/// First byte of a tagged value's marker; framed values start with `0xCA`, counters with a digit.
const TAG_MARK: u8 = 0xCB;
/// Marker length: `0xCB` and a write id as 16 hex digits.
const MARK_LEN: usize = 17;

/// Strips the tag marker of a tagged value.
pub(super) fn unmark(b: Bytes) -> Bytes {
    if b.len() >= MARK_LEN && b[0] == TAG_MARK {
        b.slice(MARK_LEN..)
    } else {
        b
    }
}

impl RedisStore {
    pub(super) fn new_write_id(&self) -> String {
        format!("{:016x}", self.next_id.fetch_add(1, Relaxed))
    }

    /// Writes `value`, behind a tag marker holding `id` when tagged; returns whether it was
    /// written (`nx`: only if absent).
    pub(super) async fn write(
        &self,
        key: &str,
        value: Bytes,
        opts: &WriteOptions,
        nx: bool,
        id: Option<&str>,
    ) -> Result<bool> {
        let value = match id {
            None => value,
            Some(id) => {
                let mut v = Vec::with_capacity(MARK_LEN + value.len());
                v.push(TAG_MARK);
                v.extend_from_slice(id.as_bytes());
                v.extend_from_slice(&value);
                Bytes::from(v)
            }
        };
        let expire = opts.ttl.map(|t| Expiration::PX(millis(t)));
        let nx = nx.then_some(fred::prelude::SetOptions::NX);
        let written: Option<String> = self
            .run(self.client()?.set(key, value, expire, nx, false))
            .await?;
        Ok(written.is_some())
    }

    /// Adds `(key, id)` pairs to each tag of `opts`.
    pub(super) async fn link_tags(
        &self,
        pairs: &[(&str, String)],
        opts: &WriteOptions,
    ) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let ttl = opts.ttl.map_or(0, millis).to_string();
        let mut args = Vec::with_capacity(1 + 2 * pairs.len());
        args.push(ttl);
        for (k, id) in pairs {
            args.push((*k).to_owned());
            args.push(id.clone());
        }
        try_join_all(
            opts.tags.iter().map(|tag| {
                self.eval::<i64>(&self.scripts.tag_add, vec![tag.clone()], args.clone())
            }),
        )
        .await?;
        Ok(())
    }

    /// Deletes every key still written with one of `tags` and returns those keys (each tag is
    /// removed atomically with the listing of its members).
    pub(super) async fn pop_tags(&self, tags: &[String]) -> Result<Vec<String>> {
        let popped =
            try_join_all(tags.iter().map(|t| {
                self.eval::<Vec<Value>>(&self.scripts.tag_pop, vec![t.clone()], Vec::new())
            }))
            .await?;
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        for flat in popped {
            let mut it = flat.into_iter();
            while let (Some(k), Some(id)) = (it.next(), it.next()) {
                // Members that are not text were not written by us.
                if let (Some(k), Some(id)) = (k.into_string(), id.into_string()) {
                    keys.push(k);
                    ids.push(id);
                }
            }
        }
        let groups = self.batches(keys.iter().enumerate());
        let deleted = try_join_all(groups.into_iter().map(|idx| {
            let k: Vec<String> = idx.iter().map(|&i| keys[i].clone()).collect();
            let a: Vec<String> = idx.iter().map(|&i| ids[i].clone()).collect();
            self.eval::<Vec<String>>(&self.scripts.delete_if_write, k, a)
        }))
        .await?;
        Ok(deleted.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stripped_only_when_present() {
        let framed = Bytes::from_static(b"\xCA\x01\x01\x00\"x\"");
        assert_eq!(unmark(framed.clone()), framed);
        let mut marked = vec![TAG_MARK];
        marked.extend_from_slice(b"00000000000000ff");
        marked.extend_from_slice(&framed);
        assert_eq!(unmark(Bytes::from(marked)), framed);
        // Too short to carry a marker: passed on as is (and refused by the frame decoder).
        assert_eq!(
            unmark(Bytes::from_static(b"\xCBab")),
            Bytes::from_static(b"\xCBab")
        );
    }
}
