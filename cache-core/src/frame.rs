//! The byte layout of a stored value.
//!
//! ```text
//! 0xCA | format version | codec id | flags | [fresh-until: u64 BE unix ms] | [ttl: u64 BE ms] | [tag stamps] | payload | [blake3 MAC: 32]
//! tag stamps: count u8, then per tag: name length u16 BE | name | stamp u64 BE
//! ```
//!
//! The TTL is the lifetime the value was written with (the store's TTL: a stale window
//! included), present only when it has one; [`Cache::touch`](crate::Cache::touch) re-arms a
//! key to it. Values written before the TTL field existed simply lack it.
//!
//! The header lets a reader detect foreign or corrupt bytes under our keys instead of trusting
//! them. Flags say whether the payload is lz4-compressed, whether a soft expiry (for
//! stale-while-refresh) is present, whether the value carries the stamps of its tags (the cache's
//! emulation of tags on a store without a tag index: the value is current only while each of its
//! tags still has the stamp it was written under), and whether the value is signed with a keyed
//! blake3 MAC that covers the key, the header, the stamps and the payload. A bare ASCII integer (what `INCR` writes) is read
//! as a JSON number so counters can be read with [`Cache::get`](crate::Cache::get).

use std::borrow::Cow;

use bytes::Bytes;

use crate::codec::JSON_ID;
use crate::error::{Error, Result};

const MAGIC: u8 = 0xCA;
const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 4;
const FLAG_LZ4: u8 = 0b001;
const FLAG_SOFT_EXPIRY: u8 = 0b010;
const FLAG_SIGNED: u8 = 0b100;
const FLAG_TAG_STAMPS: u8 = 0b1000;
const FLAG_TTL: u8 = 0b1_0000;
const KNOWN_FLAGS: u8 = FLAG_LZ4 | FLAG_SOFT_EXPIRY | FLAG_SIGNED | FLAG_TAG_STAMPS | FLAG_TTL;
/// A value carries at most this many tag stamps (the count is one byte).
pub(crate) const MAX_TAG_STAMPS: usize = 255;
const MAC_LEN: usize = 32;
/// A compressed payload may not claim to expand beyond this (corrupt sizes must not allocate).
const MAX_DECOMPRESSED: usize = 512 * 1024 * 1024;

/// How values are framed: compression threshold and optional signing key.
#[derive(Clone, Default)]
pub(crate) struct FrameConfig {
    pub(crate) compress_over: Option<usize>,
    pub(crate) signing_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for FrameConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameConfig")
            .field("compress_over", &self.compress_over)
            .field("signing_key", &self.signing_key.map(|_| "<redacted>"))
            .finish()
    }
}

/// A decoded frame.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) codec_id: u8,
    /// Unix milliseconds after which the value is stale (served only while refreshing).
    pub(crate) fresh_until_ms: Option<u64>,
    /// The TTL the value was written with, in milliseconds.
    pub(crate) ttl_ms: Option<u64>,
    /// The stamps of its tags (full tag keys), when the cache emulates tags.
    pub(crate) tag_stamps: Vec<(String, u64)>,
    pub(crate) payload: Cow<'a, [u8]>,
}

fn ttl_ms(ttl: Option<std::time::Duration>) -> Option<u64> {
    ttl.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
}

/// The TTL stored bytes were written with, read from the header alone (no payload decoding,
/// no signature check): `None` when the value was written without one, is not a frame (a
/// counter, foreign bytes) or predates the field.
pub(crate) fn written_ttl(bytes: &[u8]) -> Option<std::time::Duration> {
    if bytes.len() < HEADER_LEN || bytes[0] != MAGIC || bytes[1] != FORMAT_VERSION {
        return None;
    }
    let flags = bytes[3];
    if flags & !KNOWN_FLAGS != 0 || flags & FLAG_TTL == 0 {
        return None;
    }
    let at = HEADER_LEN + if flags & FLAG_SOFT_EXPIRY != 0 { 8 } else { 0 };
    let ms: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(std::time::Duration::from_millis(u64::from_be_bytes(ms))).filter(|d| !d.is_zero())
}

/// Whether stored bytes carry tag stamps (read without decoding the frame).
pub(crate) fn has_tag_stamps(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN && bytes[0] == MAGIC && bytes[3] & FLAG_TAG_STAMPS != 0
}

fn push_stamps(out: &mut Vec<u8>, stamps: &[(String, u64)]) {
    // The count fits a byte: the cache refuses more tags (MAX_TAG_STAMPS), and names are keys.
    out.push(u8::try_from(stamps.len()).unwrap_or(u8::MAX));
    for (tag, stamp) in stamps.iter().take(MAX_TAG_STAMPS) {
        let name = &tag.as_bytes()[..tag.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&stamp.to_be_bytes());
    }
}

fn read_stamps(rest: &mut &[u8]) -> Result<Vec<(String, u64)>> {
    let truncated = || Error::Decode("value truncated in its tag stamps".into());
    let (&count, tail) = rest.split_first().ok_or_else(truncated)?;
    *rest = tail;
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len + 8 {
            return Err(truncated());
        }
        let (name, tail) = tail.split_at(len);
        let (stamp, tail) = tail.split_at(8);
        let name = std::str::from_utf8(name)
            .map_err(|_| Error::Decode("a tag stamp's name is not UTF-8".into()))?;
        out.push((
            name.to_owned(),
            u64::from_be_bytes(stamp.try_into().unwrap_or([0; 8])),
        ));
        *rest = tail;
    }
    Ok(out)
}

impl FrameConfig {
    pub(crate) fn encode(
        &self,
        full_key: &str,
        codec_id: u8,
        fresh_until_ms: Option<u64>,
        ttl: Option<std::time::Duration>,
        stamps: &[(String, u64)],
        payload: &[u8],
    ) -> Bytes {
        let ttl = ttl_ms(ttl);
        let mut flags = 0;
        let compressed;
        let body: &[u8] = match self.compress_over {
            Some(limit) if payload.len() > limit => {
                compressed = lz4_flex::compress_prepend_size(payload);
                if compressed.len() < payload.len() {
                    flags |= FLAG_LZ4;
                    &compressed
                } else {
                    payload
                }
            }
            _ => payload,
        };
        if fresh_until_ms.is_some() {
            flags |= FLAG_SOFT_EXPIRY;
        }
        if ttl.is_some() {
            flags |= FLAG_TTL;
        }
        if !stamps.is_empty() {
            flags |= FLAG_TAG_STAMPS;
        }
        if self.signing_key.is_some() {
            flags |= FLAG_SIGNED;
        }
        let mut out = Vec::with_capacity(HEADER_LEN + 16 + body.len() + MAC_LEN);
        out.extend_from_slice(&[MAGIC, FORMAT_VERSION, codec_id, flags]);
        if let Some(ms) = fresh_until_ms {
            out.extend_from_slice(&ms.to_be_bytes());
        }
        if let Some(ms) = ttl {
            out.extend_from_slice(&ms.to_be_bytes());
        }
        if !stamps.is_empty() {
            push_stamps(&mut out, stamps);
        }
        out.extend_from_slice(body);
        if let Some(key) = &self.signing_key {
            let mac = mac(key, full_key, &out);
            out.extend_from_slice(mac.as_bytes());
        }
        Bytes::from(out)
    }

    /// [`encode`](Self::encode) of a payload that `write` appends to a buffer, written straight
    /// into the frame when it needs no compression or signature (`len`: the payload's expected
    /// size, to allocate once).
    pub(crate) fn encode_with(
        &self,
        full_key: &str,
        codec_id: u8,
        ttl: Option<std::time::Duration>,
        stamps: &[(String, u64)],
        len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Bytes {
        let ms = ttl_ms(ttl);
        let start = HEADER_LEN + if ms.is_some() { 8 } else { 0 };
        let mut out = Vec::with_capacity(start + len);
        let flags = if ms.is_some() { FLAG_TTL } else { 0 };
        out.extend_from_slice(&[MAGIC, FORMAT_VERSION, codec_id, flags]);
        if let Some(ms) = ms {
            out.extend_from_slice(&ms.to_be_bytes());
        }
        write(&mut out);
        let plain = self.signing_key.is_none()
            && stamps.is_empty()
            && self
                .compress_over
                .is_none_or(|limit| out.len() - start <= limit);
        if plain {
            Bytes::from(out)
        } else {
            self.encode(full_key, codec_id, None, ttl, stamps, &out[start..])
        }
    }

    pub(crate) fn decode<'a>(&self, full_key: &str, bytes: &'a [u8]) -> Result<Frame<'a>> {
        if bytes.first() != Some(&MAGIC) {
            if is_ascii_integer(bytes) && self.signing_key.is_none() {
                return Ok(Frame {
                    codec_id: JSON_ID,
                    fresh_until_ms: None,
                    ttl_ms: None,
                    tag_stamps: Vec::new(),
                    payload: Cow::Borrowed(bytes),
                });
            }
            return Err(Error::Decode(
                "value was not written by this toolkit (bad magic byte)".into(),
            ));
        }
        if bytes.len() < HEADER_LEN {
            return Err(Error::Decode(format!(
                "value truncated: {} bytes",
                bytes.len()
            )));
        }
        if bytes[1] != FORMAT_VERSION {
            return Err(Error::Decode(format!(
                "unknown value format version {}",
                bytes[1]
            )));
        }
        let codec_id = bytes[2];
        let flags = bytes[3];
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Error::Decode(format!("unknown value flags {flags:#04x}")));
        }
        let mut body = bytes;
        match (&self.signing_key, flags & FLAG_SIGNED != 0) {
            (Some(key), true) => {
                if body.len() < HEADER_LEN + MAC_LEN {
                    return Err(Error::Decode("signed value truncated".into()));
                }
                let (signed, tag) = body.split_at(body.len() - MAC_LEN);
                let expected = mac(key, full_key, signed);
                // blake3::Hash equality is constant-time.
                if blake3::Hash::from_bytes(tag.try_into().unwrap_or([0; 32])) != expected {
                    return Err(Error::Decode("signature does not verify".into()));
                }
                body = signed;
            }
            (Some(_), false) => return Err(Error::Decode("value is not signed".into())),
            (None, true) => {
                return Err(Error::Decode(
                    "value is signed but no signing key is configured".into(),
                ))
            }
            (None, false) => {}
        }
        let mut rest = &body[HEADER_LEN..];
        let fresh_until_ms = if flags & FLAG_SOFT_EXPIRY != 0 {
            if rest.len() < 8 {
                return Err(Error::Decode("value truncated in its soft expiry".into()));
            }
            let (ms, tail) = rest.split_at(8);
            rest = tail;
            Some(u64::from_be_bytes(ms.try_into().unwrap_or([0; 8])))
        } else {
            None
        };
        let ttl_ms = if flags & FLAG_TTL != 0 {
            let (ms, tail) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| Error::Decode("value truncated in its TTL".into()))?;
            rest = tail;
            Some(u64::from_be_bytes(*ms))
        } else {
            None
        };
        let tag_stamps = if flags & FLAG_TAG_STAMPS != 0 {
            read_stamps(&mut rest)?
        } else {
            Vec::new()
        };
        let payload = if flags & FLAG_LZ4 != 0 {
            Cow::Owned(decompress(rest)?)
        } else {
            Cow::Borrowed(rest)
        };
        Ok(Frame {
            codec_id,
            fresh_until_ms,
            ttl_ms,
            tag_stamps,
            payload,
        })
    }
}

fn mac(key: &[u8; 32], full_key: &str, data: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(&(full_key.len() as u64).to_le_bytes());
    h.update(full_key.as_bytes());
    h.update(data);
    h.finalize()
}

fn decompress(data: &[u8]) -> Result<Vec<u8>> {
    let (size, rest) = data
        .split_first_chunk::<4>()
        .ok_or_else(|| Error::Decode("compressed value truncated".into()))?;
    let size = u32::from_le_bytes(*size) as usize;
    if size > MAX_DECOMPRESSED {
        return Err(Error::Decode(format!(
            "compressed value claims {size} bytes"
        )));
    }
    lz4_flex::decompress(rest, size).map_err(|e| Error::Decode(format!("lz4: {e}")))
}

pub(crate) fn is_ascii_integer(bytes: &[u8]) -> bool {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    !digits.is_empty() && digits.len() <= 20 && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(cfg: &FrameConfig, payload: &[u8], soft: Option<u64>) {
        let enc = cfg.encode("k", 1, soft, None, &[], payload);
        let dec = cfg.decode("k", &enc).unwrap();
        assert_eq!(&*dec.payload, payload);
        assert_eq!(dec.fresh_until_ms, soft);
    }

    #[test]
    fn plain_compressed_and_signed_roundtrip() {
        let big = vec![b'a'; 10_000];
        roundtrip(&FrameConfig::default(), b"{}", None);
        let cfg = FrameConfig {
            compress_over: Some(100),
            signing_key: Some([7; 32]),
        };
        roundtrip(&cfg, &big, Some(123));
        let enc = cfg.encode("k", 1, None, None, &[], &big);
        assert!(enc.len() < 1000, "compressed: {}", enc.len());
    }

    #[test]
    fn written_in_place_is_the_same_frame() {
        let big = vec![b'a'; 10_000];
        let configs = [
            FrameConfig::default(),
            FrameConfig {
                compress_over: Some(100),
                signing_key: None,
            },
            FrameConfig {
                compress_over: None,
                signing_key: Some([7; 32]),
            },
        ];
        for cfg in &configs {
            for payload in [&b"{}"[..], &big] {
                // A short length hint only costs a reallocation.
                let with = cfg.encode_with("k", 1, None, &[], 1, |b| b.extend_from_slice(payload));
                assert_eq!(
                    with,
                    cfg.encode("k", 1, None, None, &[], payload),
                    "{cfg:?}"
                );
                assert_eq!(&*cfg.decode("k", &with).unwrap().payload, payload);
            }
        }
    }

    #[test]
    fn corrupt_foreign_and_tampered_bytes_are_errors() {
        let cfg = FrameConfig::default();
        for bad in [
            &b""[..],
            b"hello",
            b"\xCA",
            b"\xCA\x09\x01\x00",
            b"\xCA\x01\x01\x80",
        ] {
            assert!(cfg.decode("k", bad).is_err(), "{bad:?}");
        }
        let lz = FrameConfig {
            compress_over: Some(1),
            signing_key: None,
        };
        let mut enc = lz.encode("k", 1, None, None, &[], &[b'x'; 1000]).to_vec();
        enc[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(lz.decode("k", &enc).is_err());

        let signed = FrameConfig {
            compress_over: None,
            signing_key: Some([1; 32]),
        };
        let mut enc = signed
            .encode("k", 1, None, None, &[], b"{\"a\":1}")
            .to_vec();
        assert!(signed.decode("other-key", &enc).is_err());
        enc[5] ^= 1;
        assert!(signed.decode("k", &enc).is_err());
        let other = FrameConfig {
            compress_over: None,
            signing_key: Some([2; 32]),
        };
        let enc = signed.encode("k", 1, None, None, &[], b"1");
        assert!(other.decode("k", &enc).is_err());
        assert!(cfg.decode("k", &enc).is_err());
        assert!(
            signed.decode("k", b"42").is_err(),
            "unsigned counters are refused when signing"
        );
    }

    #[test]
    fn tag_stamps_roundtrip_and_truncated_ones_are_errors() {
        let stamps = vec![
            ("app:t:users".to_owned(), 7),
            ("app:t:ü".to_owned(), u64::MAX),
        ];
        for cfg in [
            FrameConfig::default(),
            FrameConfig {
                compress_over: Some(1),
                signing_key: Some([3; 32]),
            },
        ] {
            let enc = cfg.encode("k", 1, Some(9), None, &stamps, &[b'x'; 100]);
            assert!(has_tag_stamps(&enc));
            let dec = cfg.decode("k", &enc).unwrap();
            assert_eq!(dec.tag_stamps, stamps);
            assert_eq!(
                (dec.fresh_until_ms, &*dec.payload),
                (Some(9), &[b'x'; 100][..])
            );
            let with = cfg.encode_with("k", 1, None, &stamps, 3, |b| b.extend_from_slice(b"abc"));
            assert_eq!(cfg.decode("k", &with).unwrap().tag_stamps, stamps);
        }
        let plain = FrameConfig::default();
        let enc = plain.encode("k", 1, None, None, &stamps, b"{}");
        for cut in 5..enc.len() - 2 {
            assert!(
                plain.decode("k", &enc[..cut]).is_err() || cut >= enc.len() - 2,
                "{cut}"
            );
        }
        assert!(!has_tag_stamps(&plain.encode(
            "k",
            1,
            None,
            None,
            &[],
            b"{}"
        )));
    }

    #[test]
    fn the_written_ttl_is_read_from_the_header() {
        use std::time::Duration;
        let ttl = Some(Duration::from_millis(90_061));
        let stamps = vec![("app:t:users".to_owned(), 7)];
        for cfg in [
            FrameConfig::default(),
            FrameConfig {
                compress_over: Some(1),
                signing_key: Some([3; 32]),
            },
        ] {
            for soft in [None, Some(5)] {
                let enc = cfg.encode("k", 1, soft, ttl, &stamps, &[b'x'; 100]);
                assert_eq!(written_ttl(&enc), ttl, "{cfg:?} {soft:?}");
                let dec = cfg.decode("k", &enc).unwrap();
                assert_eq!((dec.ttl_ms, dec.fresh_until_ms), (Some(90_061), soft));
                assert_eq!((&*dec.payload, dec.tag_stamps.len()), (&[b'x'; 100][..], 1));
            }
            let with = cfg.encode_with("k", 1, ttl, &[], 3, |b| b.extend_from_slice(b"abc"));
            assert_eq!(written_ttl(&with), ttl);
            assert_eq!(&*cfg.decode("k", &with).unwrap().payload, b"abc");
            assert_eq!(with, cfg.encode("k", 1, None, ttl, &[], b"abc"));
            let none = cfg.encode("k", 1, None, None, &[], b"abc");
            assert_eq!(written_ttl(&none), None);
        }
        for other in [
            &b"42"[..],
            b"",
            b"\xCA\x01\x01\x10\x00",
            b"\xCA\x09\x01\x10",
        ] {
            assert_eq!(written_ttl(other), None, "{other:?}");
        }
        let cut = FrameConfig::default().encode("k", 1, None, ttl, &[], b"");
        assert!(FrameConfig::default().decode("k", &cut[..8]).is_err());
    }

    #[test]
    fn bare_integers_read_as_json() {
        let f = FrameConfig::default().decode("k", b"-42").unwrap();
        assert_eq!(&*f.payload, b"-42");
    }
}
