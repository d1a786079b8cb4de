//! What a cache URL says beyond its store: the frame options (`compress_over`,
//! `signing_key`), and the helpers every URL parser shares (scheme, query, redaction).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::frame::FrameConfig;

/// Splits `scheme://rest`, with an error that names the problem.
pub(crate) fn split_scheme(url: &str) -> Result<(&str, &str)> {
    url.trim().split_once("://").ok_or_else(|| {
        Error::Config(format!(
            "cache URL {:?} has no scheme: expected mem://, redis://, rediss://, redis-cluster://, redis-sentinel://, memcached://, postgres://, mysql://, sqlite://, tiered+URL or tiers:URL|URL",
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

/// Parses `host[:port]` or `[ipv6][:port]`, with `default_port` when none is given.
pub(crate) fn parse_host(h: &str, default_port: u16, url: &str) -> Result<(String, u16)> {
    let bad = || Error::Config(format!("bad host {h:?} in {url}"));
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        // [ipv6]:port
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, p)) => (host, Some(p)),
            None => (h, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?,
        None => default_port,
    };
    Ok((host.to_owned(), port))
}

/// Parses a URL option holding a positive number of milliseconds.
pub(crate) fn parse_ms(k: &str, v: &str) -> Result<Duration> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            Error::Config(format!(
                "URL option {k}={v:?}: expected a positive number of milliseconds"
            ))
        })
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
}
