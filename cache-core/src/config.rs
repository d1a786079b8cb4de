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
            _ => Err(Error::Config(format!("query parameter {pair:?} is not name=value"))),
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

/// Builds the store a URL names.
pub(crate) async fn store_from_url(url: &str) -> Result<Arc<dyn Store>> {
    let (scheme, rest) = split_scheme(url)?;
    match scheme {
        "mem" | "memory" => memory_from(rest),
        s if NETWORK_SCHEMES.contains(&s) => Err(unavailable(s)),
        other => Err(unknown(other, url)),
    }
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
    fn memory_urls() {
        assert!(memory_from("").is_ok());
        assert!(memory_from("?max_entries=10").is_ok());
        let e = memory_from("?max_entries=10&max_bytes=5").unwrap_err().to_string();
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
