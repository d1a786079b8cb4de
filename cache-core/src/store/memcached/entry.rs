//! How the Memcached store lays out what it sends: keys made safe for the protocol, values that
//! carry their own deadline, and Memcached's expiry times.
//!
//! Memcached counts expiry in whole seconds on a clock that ticks once a second, so a one-second
//! item lives anywhere from zero to one second. A value written with a TTL therefore carries its
//! deadline (Unix milliseconds, 8 bytes big-endian) in front of its bytes, marked by the item's
//! client flags ([`DEADLINE_FLAG`]); reads honour that deadline to the millisecond, and
//! Memcached's own expiry, a second or more later, only frees the memory. A value without a TTL
//! is stored as it is, with flags 0, readable by any client.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::store::KeyTtl;

/// Client flags of a value that starts with its deadline.
pub(super) const DEADLINE_FLAG: u32 = 0x00c4_0001;
const DEADLINE_LEN: usize = 8;
/// Memcached reads an expiry time above 30 days as a Unix time, not as seconds from now.
const RELATIVE_LIMIT: u64 = 30 * 24 * 3600;
/// The longest key Memcached accepts.
const MAX_KEY: usize = 250;
/// The first byte of a key replaced by its digest (and of no key sent as it is).
const DIGEST_MARK: u8 = b'#';

/// The key sent to Memcached: the key itself when the protocol allows it (at most 250 bytes of
/// printable ASCII without spaces), otherwise `#` and the hex blake3 digest of the key. A key
/// that itself starts with `#` is always digested, so no key can pose as another's digest.
pub(crate) fn wire_key(key: &str) -> Cow<'_, str> {
    let b = key.as_bytes();
    let plain = !b.is_empty()
        && b.len() <= MAX_KEY
        && b[0] != DIGEST_MARK
        && b.iter().all(|c| (0x21..=0x7e).contains(c));
    if plain {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("#{}", blake3::hash(b).to_hex()))
    }
}

/// Now, in Unix milliseconds.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a stored item holds once its deadline is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A live value and its lifetime.
    Live(Bytes, KeyTtl),
    /// The item is there but its deadline has passed.
    Expired,
}

/// Reads an item's bytes and flags.
pub(crate) fn read(data: Vec<u8>, flags: u32, now: u64) -> Stored {
    if flags != DEADLINE_FLAG || data.len() < DEADLINE_LEN {
        return Stored::Live(Bytes::from(data), KeyTtl::Persistent);
    }
    let mut head = [0u8; DEADLINE_LEN];
    head.copy_from_slice(&data[..DEADLINE_LEN]);
    let deadline = u64::from_be_bytes(head);
    if deadline <= now {
        return Stored::Expired;
    }
    let mut bytes = Bytes::from(data);
    let value = bytes.split_off(DEADLINE_LEN);
    Stored::Live(
        value,
        KeyTtl::Expires(Duration::from_millis(deadline - now)),
    )
}

/// An item to write: its bytes (behind a deadline when it expires), flags and Memcached expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) data: Vec<u8>,
    pub(crate) flags: u32,
    /// Memcached's expiry time: 0 for never, seconds from now up to 30 days, a Unix time beyond.
    pub(crate) exptime: i64,
}

impl Item {
    /// The item for `value` living `ttl` from `now` (Unix milliseconds), or for ever.
    pub(crate) fn new(value: &[u8], ttl: Option<Duration>, now: u64) -> Self {
        let Some(ttl) = ttl else {
            return Self {
                data: value.to_vec(),
                flags: 0,
                exptime: 0,
            };
        };
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let deadline = now.saturating_add(ms);
        let mut data = Vec::with_capacity(DEADLINE_LEN + value.len());
        data.extend_from_slice(&deadline.to_be_bytes());
        data.extend_from_slice(value);
        Self {
            data,
            flags: DEADLINE_FLAG,
            exptime: exptime(deadline, now),
        }
    }
}

/// Memcached's expiry time for a deadline: whole seconds, rounded up, plus one for its clock's
/// tick; beyond 30 days an absolute Unix time, as Memcached requires.
fn exptime(deadline: u64, now: u64) -> i64 {
    let secs = deadline.saturating_sub(now).div_ceil(1000) + 1;
    let t = if secs > RELATIVE_LIMIT {
        (deadline / 1000).saturating_add(1)
    } else {
        secs
    };
    i64::try_from(t).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_the_protocol_allows_are_sent_as_they_are_and_others_digested() {
        assert_eq!(wire_key("app:v1:user:1"), "app:v1:user:1");
        for odd in [
            "has space",
            "tab\t",
            "new\nline",
            "é",
            "",
            "#app",
            &"k".repeat(251),
        ] {
            let w = wire_key(odd);
            assert!(w.starts_with('#') && w.len() == 65, "{odd:?} -> {w}");
        }
        assert_eq!(wire_key(&"k".repeat(250)).len(), 250);
        // A digest sent as a key is itself digested: it cannot pose as the key it came from.
        let d = wire_key("a b").into_owned();
        assert_ne!(wire_key(&d), d);
    }

    #[test]
    fn values_carry_their_deadline_and_expire_to_the_millisecond() {
        let now = 1_700_000_000_000;
        let it = Item::new(b"v", Some(Duration::from_millis(150)), now);
        assert_eq!((it.flags, it.exptime), (DEADLINE_FLAG, 2));
        assert_eq!(
            read(it.data.clone(), it.flags, now + 100),
            Stored::Live(
                Bytes::from_static(b"v"),
                KeyTtl::Expires(Duration::from_millis(50))
            )
        );
        assert_eq!(read(it.data, it.flags, now + 150), Stored::Expired);
        let plain = Item::new(b"v", None, now);
        assert_eq!((plain.flags, plain.exptime), (0, 0));
        assert_eq!(
            read(plain.data, 0, now),
            Stored::Live(Bytes::from_static(b"v"), KeyTtl::Persistent)
        );
        // Another client's value (other flags, or too short) is read as it is.
        assert_eq!(
            read(b"abc".to_vec(), DEADLINE_FLAG, now),
            Stored::Live(Bytes::from_static(b"abc"), KeyTtl::Persistent)
        );
    }

    #[test]
    fn lifetimes_past_thirty_days_become_unix_times() {
        let now = 1_700_000_000_000;
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(
            Item::new(b"", Some(day * 29), now).exptime,
            29 * 24 * 3600 + 1
        );
        // 30 days and a second of grace is past the limit: an absolute time.
        let edge = Item::new(b"", Some(day * 30), now).exptime;
        assert_eq!(edge, 1_700_000_000 + 30 * 24 * 3600 + 1);
        let far = Item::new(b"", Some(day * 31), now);
        assert_eq!(far.exptime, 1_700_000_000 + 31 * 24 * 3600 + 1);
        assert!(Item::new(b"", Some(Duration::MAX), now).exptime > 0);
    }
}
