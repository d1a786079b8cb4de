//! Store selection by URL.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::store::{MemoryStore, Store};

/// Schemes that name a networked store.
const NETWORK_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis-cluster",
    "redis-sentinel",
    "tiered+redis",
    "tiered+rediss",
    "tiered+redis-cluster",
    "tiered+redis-sentinel",
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

/// Options of any cache URL that configure the [`Cache`](crate::Cache) rather than its store:
/// `compress_over=BYTES` and `signing_key=<64 hex digits>`.
#[derive(Default)]
pub(crate) struct UrlFrame {
    pub(crate) compress_over: Option<usize>,
    pub(crate) signing_key: Option<[u8; 32]>,
}

impl UrlFrame {
    pub(crate) fn apply(self, frame: &mut crate::frame::FrameConfig) {
        if let Some(n) = self.compress_over {
            frame.compress_over = Some(n);
        }
        if let Some(k) = self.signing_key {
            frame.signing_key = Some(k);
        }
    }
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

/// Takes the cache-level options out of a URL, returning the URL the store sees.
pub(crate) fn split_frame_options(url: &str) -> Result<(String, UrlFrame)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), UrlFrame::default()));
    };
    let mut frame = UrlFrame::default();
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
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, frame))
}

/// Builds the store a URL names.
pub(crate) async fn store_from_url(url: &str) -> Result<(Arc<dyn Store>, UrlFrame)> {
    let (url, frame) = split_frame_options(url)?;
    let (scheme, rest) = split_scheme(&url)?;
    let store: Arc<dyn Store> = match scheme {
        "mem" | "memory" => memory_from(rest)?,
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis-cluster" | "rediss-cluster" | "redis-sentinel"
        | "rediss-sentinel" => Arc::new(crate::store::RedisStore::connect(&url).await?),
        s if NETWORK_SCHEMES.contains(&s) => return Err(unavailable(s)),
        other => return Err(unknown(other, &url)),
    };
    Ok((store, frame))
}

/// Builds a store that needs no connection (`mem://`).
pub(crate) fn store_from_url_now(url: &str) -> Result<(Arc<dyn Store>, UrlFrame)> {
    let (url, frame) = split_frame_options(url)?;
    let (scheme, rest) = split_scheme(&url)?;
    match scheme {
        "mem" | "memory" => Ok((memory_from(rest)?, frame)),
        s if NETWORK_SCHEMES.contains(&s) || s.starts_with("redis") => Err(Error::Config(format!(
            "{s}:// needs a connection: use the async `build()`"
        ))),
        other => Err(unknown(other, &url)),
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
        let key = "00".repeat(31) + "ff";
        let (url, f) = split_frame_options(&format!(
            "redis://h:1?pool=2&compress_over=1024&signing_key={key}"
        ))
        .unwrap();
        assert_eq!(url, "redis://h:1?pool=2");
        assert_eq!(f.compress_over, Some(1024));
        assert_eq!(f.signing_key.unwrap()[31], 0xff);
        let (url, f) = split_frame_options("mem://?compress_over=10").unwrap();
        assert_eq!((url.as_str(), f.signing_key), ("mem://", None));
        assert!(split_frame_options("mem://?signing_key=abc").is_err());
        assert!(split_frame_options(&format!("mem://?signing_key={}", "zz".repeat(32))).is_err());
        assert!(split_frame_options("mem://?compress_over=big").is_err());
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
        let e = store_from_url_now("memcached://x")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("memcached"), "{e}");
        let e = store_from_url_now("nourl")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no scheme"), "{e}");
    }
}
