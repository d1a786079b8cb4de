//! Entry points to the parsers and decoders that read untrusted input, for the property tests
//! (`tests/properties_*.rs`) and the `cargo fuzz` targets (`fuzz/`). **Not a public API**: it
//! is hidden from the docs and may change or go away in any release.
//!
//! Each function is a thin call of the crate's own code (no copy of its logic), with plain
//! types in and out so the crate's private types stay private.
//!
//! ```
//! use cache_core::__fuzz;
//! let bytes = __fuzz::frame_encode(&__fuzz::FrameOptions::default(), "k", 1, None, None, &[], b"{}");
//! assert_eq!(__fuzz::frame_decode(&__fuzz::FrameOptions::default(), "k", &bytes).unwrap().payload, b"{}");
//! ```

use std::time::Duration;

use crate::error::Result;
use crate::frame::FrameConfig;
#[cfg(feature = "redis")]
use crate::store::BusEvent;
use crate::store::Invalidation;
#[cfg(feature = "memcached")]
use crate::store::KeyTtl;

/// The frame options of a cache: compression threshold and signing key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameOptions {
    /// Payloads longer than this are lz4-compressed (when that makes them smaller).
    pub compress_over: Option<usize>,
    /// Values are signed with a keyed blake3 MAC.
    pub signing_key: Option<[u8; 32]>,
}

impl FrameOptions {
    fn config(&self) -> FrameConfig {
        FrameConfig {
            compress_over: self.compress_over,
            signing_key: self.signing_key,
        }
    }
}

/// A decoded stored frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFrame {
    /// The codec id of its header.
    pub codec_id: u8,
    /// Its soft expiry (Unix ms), if any.
    pub fresh_until_ms: Option<u64>,
    /// The TTL it was written with (ms), if any.
    pub ttl_ms: Option<u64>,
    /// The stamps of its tags.
    pub tag_stamps: Vec<(String, u64)>,
    /// The payload (decompressed).
    pub payload: Vec<u8>,
}

/// Frames `payload` as a cache stores it under `full_key`.
pub fn frame_encode(
    opts: &FrameOptions,
    full_key: &str,
    codec_id: u8,
    fresh_until_ms: Option<u64>,
    ttl_ms: Option<u64>,
    stamps: &[(String, u64)],
    payload: &[u8],
) -> Vec<u8> {
    let ttl = ttl_ms.map(std::time::Duration::from_millis);
    opts.config()
        .encode(full_key, codec_id, fresh_until_ms, ttl, stamps, payload)
        .to_vec()
}

/// Frames `payload` through the in-place writer (the typed write path).
pub fn frame_encode_with(
    opts: &FrameOptions,
    full_key: &str,
    codec_id: u8,
    ttl_ms: Option<u64>,
    stamps: &[(String, u64)],
    payload: &[u8],
) -> Vec<u8> {
    let ttl = ttl_ms.map(std::time::Duration::from_millis);
    opts.config()
        .encode_with(full_key, codec_id, ttl, stamps, payload.len(), |b| {
            b.extend_from_slice(payload);
        })
        .to_vec()
}

/// Decodes stored bytes read under `full_key`.
pub fn frame_decode(opts: &FrameOptions, full_key: &str, bytes: &[u8]) -> Result<DecodedFrame> {
    let f = opts.config().decode(full_key, bytes)?;
    Ok(DecodedFrame {
        codec_id: f.codec_id,
        fresh_until_ms: f.fresh_until_ms,
        ttl_ms: f.ttl_ms,
        tag_stamps: f.tag_stamps,
        payload: f.payload.into_owned(),
    })
}

/// Whether stored bytes carry tag stamps, read without decoding.
pub fn frame_has_tag_stamps(bytes: &[u8]) -> bool {
    crate::frame::has_tag_stamps(bytes)
}

/// Checks a namespace prefix as the cache builder does.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    crate::key::validate_prefix(prefix)
}

/// A cache URL with any password hidden, as error messages show it.
pub fn redact_url(url: &str) -> String {
    crate::config::redact(url)
}

/// Parses a cache URL as far as it can be without connecting to anything: the frame options,
/// then the scheme's own parser (`mem://` builds its store; `tiered+` and `tiers:` take their
/// options out and parse each tier). The Redis, Memcached and SQL parsers are reached when
/// their cargo features are on; otherwise those schemes are an error naming the feature.
pub fn parse_cache_url(url: &str) -> Result<()> {
    let mut url = Some(url.to_owned());
    crate::config::take_frame_options(&mut url, &mut FrameConfig::default())?;
    let url = url.unwrap_or_default();
    let url = url.trim();
    if let Some(stack) = url.strip_prefix(crate::store::open::TIERS) {
        let parts: Vec<&str> = stack.split('|').map(str::trim).collect();
        let mut opts = crate::store::open::TierOptions::default();
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                parse_store_url(&opts.take(part)?)?;
            } else {
                parse_store_url(part)?;
            }
        }
        return Ok(());
    }
    parse_store_url(url)
}

fn parse_store_url(url: &str) -> Result<()> {
    let (scheme, rest) = crate::config::split_scheme(url)?;
    match scheme {
        "mem" | "memory" => crate::store::open::memory_from(rest).map(drop),
        s if s.starts_with("tiered+") => {
            let mut opts = crate::store::open::TierOptions::default();
            parse_store_url(&crate::store::open::tiered_lower(url, &mut opts)?)
        }
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis-cluster" | "rediss-cluster" | "redis-sentinel"
        | "rediss-sentinel" => crate::store::redis::url::parse(url).map(drop),
        #[cfg(feature = "memcached")]
        "memcached" => crate::store::memcached::url::parse(url).map(drop),
        #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
        "postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite" => {
            crate::store::sql::url::parse(url).map(drop)
        }
        // Unknown schemes and stores compiled out: the builder's own error.
        _ => crate::store::open::store_from_url_now(url).map(drop),
    }
}

/// Parses a TTL string (`CACHE_TTL_*`, macro `ttl = "…"`, URL options).
pub fn parse_ttl(s: &str) -> Result<Duration> {
    crate::ttl::parse(s)
}

/// The payload the Redis invalidation bus publishes for `message` from instance `origin`.
#[cfg(feature = "redis")]
pub fn bus_encode(origin: u64, message: &Invalidation) -> Result<String> {
    crate::store::redis::bus::encode(origin, message)
}

/// What instance `origin` makes of a payload received on the Redis invalidation bus.
#[cfg(feature = "redis")]
pub fn bus_decode(payload: &[u8], origin: u64) -> Option<BusEvent> {
    crate::store::redis::bus::decode(payload, origin)
}

/// An invalidation message as JSON (the bus' message body), and back.
pub fn invalidation_from_json(payload: &[u8]) -> Option<Invalidation> {
    serde_json::from_slice(payload).ok()
}

/// The key the Memcached store sends for `key`.
#[cfg(feature = "memcached")]
pub fn memcached_wire_key(key: &str) -> String {
    crate::store::memcached::entry::wire_key(key).into_owned()
}

/// A Memcached item as the store writes it: data, client flags, Memcached expiry time.
#[cfg(feature = "memcached")]
pub fn memcached_item(value: &[u8], ttl: Option<Duration>, now_ms: u64) -> (Vec<u8>, u32, i64) {
    let it = crate::store::memcached::entry::Item::new(value, ttl, now_ms);
    (it.data, it.flags, it.exptime)
}

/// What the Memcached store reads from an item's data and flags at `now_ms`: the value and its
/// lifetime, or `None` when its deadline has passed.
#[cfg(feature = "memcached")]
pub fn memcached_read(data: &[u8], flags: u32, now_ms: u64) -> Option<(Vec<u8>, KeyTtl)> {
    match crate::store::memcached::entry::read(data.to_vec(), flags, now_ms) {
        crate::store::memcached::entry::Stored::Live(v, ttl) => Some((v.to_vec(), ttl)),
        crate::store::memcached::entry::Stored::Expired => None,
    }
}

/// The SQL `LIKE` pattern the SQL store scans with for a glob (`backend`: `postgres`, `mysql`
/// or `sqlite`).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub fn sql_like_pattern(backend: &str, glob: &str) -> String {
    use crate::store::sql::url::Backend;
    let backend = match backend {
        "mysql" => Backend::MySql,
        "sqlite" => Backend::Sqlite,
        _ => Backend::Postgres,
    };
    crate::store::sql::dialect::like_pattern(backend, glob)
}
