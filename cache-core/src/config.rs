//! Store selection by URL.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::frame::FrameConfig;
use crate::store::{MemoryStore, Store};

/// Schemes that name a networked store.
const NETWORK_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
    "tiered+redis",
    "tiered+rediss",
    "tiered+redis-cluster",
    "tiered+redis-sentinel",
    "tiered+rediss-cluster",
    "tiered+rediss-sentinel",
];

/// Splits `scheme://rest`, with an error that names the problem.
pub(crate) fn split_scheme(url: &str) -> Result<(&str, &str)> {
    url.trim().split_once("://").ok_or_else(|| {
        Error::Config(format!(
            "cache URL {:?} has no scheme: expected mem://, redis://, rediss://, redis-cluster://, redis-sentinel:// or tiered+redis://",
            redact(url)
        ))
    })
}

/// The URL with any password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Parses `a=1&b=2` (no percent-decoding: values here are numbers and names).
pub(crate) fn parse_query(q: &str) -> Result<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Error::Config(format!(
                "query parameter {pair:?} is not name=value"
            ))),
        })
        .collect()
}

fn memory_from(rest: &str) -> Result<Arc<dyn Store>> {
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !host.trim_end_matches('/').is_empty() {
        return Err(Error::Config(format!(
            "mem://{host}: the memory store takes no host, only ?max_entries=N or ?max_bytes=N"
        )));
    }
    Ok(Arc::new(MemoryStore::from_query(&parse_query(query)?)?))
}

fn unavailable(scheme: &str) -> Error {
    Error::Config(format!(
        "cache URL scheme {scheme}:// is not available in this build (the store for it is not compiled in)"
    ))
}

/// Takes the options of a cache URL that configure the cache rather than its store
/// (`compress_over=BYTES`, `signing_key=<64 hex digits>`) out of `url` into `frame`.
pub(crate) fn take_frame_options(url: &mut Option<String>, frame: &mut FrameConfig) -> Result<()> {
    let Some((base, query)) = url.as_deref().and_then(|u| u.split_once('?')) else {
        return Ok(());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("compress_over", v)) => {
                frame.compress_over = Some(v.parse().map_err(|_| {
                    Error::Config(format!("compress_over={v:?}: expected a number of bytes"))
                })?);
            }
            Some(("signing_key", v)) => frame.signing_key = Some(parse_hex_key(v)?),
            _ => kept.push(pair),
        }
    }
    let cleaned = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    *url = Some(cleaned);
    Ok(())
}

fn parse_hex_key(v: &str) -> Result<[u8; 32]> {
    let bad = || Error::Config("signing_key: expected 64 hex digits (32 bytes)".into());
    if v.len() != 64 || !v.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&v[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// Builds the store a URL names.
pub(crate) async fn store_from_url(url: &str) -> Result<Arc<dyn Store>> {
    let (scheme, rest) = split_scheme(url)?;
    match scheme {
        "mem" | "memory" => memory_from(rest),
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis-cluster" | "rediss-cluster" | "redis-sentinel"
        | "rediss-sentinel" => Ok(Arc::new(crate::store::RedisStore::connect(url).await?)),
        #[cfg(feature = "redis")]
        s if s.starts_with("tiered+") && NETWORK_SCHEMES.contains(&s) => tiered_from(url).await,
        s if NETWORK_SCHEMES.contains(&s) => Err(unavailable(s)),
        other => Err(unknown(other, url)),
    }
}

/// `tiered+redis…://…?l1_max_entries=N|l1_max_bytes=N&l1_ttl=30s&breaker_threshold=3&breaker_cooldown=1s`:
/// a memory L1 in front of the Redis store the rest of the URL names, kept coherent by pub/sub.
#[cfg(feature = "redis")]
async fn tiered_from(url: &str) -> Result<Arc<dyn Store>> {
    use crate::store::{RedisStore, TieredStore};

    let redis_url = url.trim().trim_start_matches("tiered+");
    let (base, query) = redis_url.split_once('?').unwrap_or((redis_url, ""));
    let mut l1 = MemoryStore::builder();
    let mut l1_ttl = None;
    let mut threshold = 3;
    let mut cooldown = std::time::Duration::from_secs(1);
    let mut rest = Vec::new();
    for (k, v) in parse_query(query)? {
        let num = || {
            v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::Config(format!("tiered: {k}={v:?}: expected a positive integer"))
            })
        };
        let ttl = || crate::ttl::parse(&v).map_err(|e| Error::Config(format!("tiered: {k}: {e}")));
        match k.as_str() {
            "l1_max_entries" => l1 = l1.max_entries(num()?),
            "l1_max_bytes" => l1 = l1.max_bytes(num()?),
            "l1_ttl" => l1_ttl = Some(ttl()?),
            "breaker_threshold" => threshold = u32::try_from(num()?).unwrap_or(u32::MAX),
            "breaker_cooldown" => cooldown = ttl()?,
            _ => rest.push(format!("{k}={v}")),
        }
    }
    let redis_url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let redis = RedisStore::connect(&redis_url).await?;
    let bus = redis.bus().await?;
    let mut builder = TieredStore::builder(Arc::new(redis))
        .l1(l1.build())
        .bus(bus)
        .breaker(threshold, cooldown);
    if let Some(cap) = l1_ttl {
        builder = builder.l1_ttl_cap(cap);
    }
    Ok(Arc::new(builder.build()))
}

/// Builds a store that needs no connection (`mem://`).
pub(crate) fn store_from_url_now(url: &str) -> Result<Arc<dyn Store>> {
    let (scheme, rest) = split_scheme(url)?;
    match scheme {
        "mem" | "memory" => memory_from(rest),
        s if NETWORK_SCHEMES.contains(&s) => Err(Error::Config(format!(
            "{s}:// needs a connection: use the async `build()`"
        ))),
        other => Err(unknown(other, url)),
    }
}

fn unknown(scheme: &str, url: &str) -> Error {
    Error::Config(format!(
        "unknown cache URL scheme {scheme:?} in {:?}: expected mem://, redis://, rediss://, redis-cluster://, redis-sentinel:// or tiered+redis://",
        redact(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:secret@h"), "redis://:***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn frame_options_are_taken_out_of_any_url() {
        let take = |u: &str| {
            let mut url = Some(u.to_owned());
            let mut frame = FrameConfig::default();
            take_frame_options(&mut url, &mut frame).map(|()| (url.unwrap_or_default(), frame))
        };
        let key = "00".repeat(31) + "ff";
        let (url, f) = take(&format!(
            "redis://h:1?pool=2&compress_over=1024&signing_key={key}"
        ))
        .unwrap();
        assert_eq!(url, "redis://h:1?pool=2");
        assert_eq!(f.compress_over, Some(1024));
        assert_eq!(f.signing_key.unwrap()[31], 0xff);
        let (url, f) = take("mem://?compress_over=10").unwrap();
        assert_eq!((url.as_str(), f.signing_key), ("mem://", None));
        assert!(take("mem://?signing_key=abc").is_err());
        assert!(take(&format!("mem://?signing_key={}", "zz".repeat(32))).is_err());
        assert!(take("mem://?compress_over=big").is_err());
    }

    #[test]
    fn memory_urls() {
        assert!(memory_from("").is_ok());
        assert!(memory_from("?max_entries=10").is_ok());
        let e = memory_from("?max_entries=10&max_bytes=5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_bytes"), "{e}");
        let e = memory_from("?max_entires=10").unwrap_err().to_string();
        assert!(e.contains("max_entires"), "{e}");
        let e = memory_from("?max_entries=0").unwrap_err().to_string();
        assert!(e.contains("positive"), "{e}");
        let e = memory_from("host?").unwrap_err().to_string();
        assert!(e.contains("no host"), "{e}");
        let e = store_from_url_now("memcached://x").unwrap_err().to_string();
        assert!(e.contains("memcached"), "{e}");
        let e = store_from_url_now("nourl").unwrap_err().to_string();
        assert!(e.contains("no scheme"), "{e}");
    }
}
