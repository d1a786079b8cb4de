//! Parsing of `memcached://host:port[,host:port…][?options]` URLs.

use std::time::Duration;

use crate::config::{parse_host, parse_ms, parse_query};
use crate::error::{Error, Result};

const DEFAULT_PORT: u16 = 11211;
const MAX_POOL: usize = 256;

/// Everything a Memcached URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemcachedUrl {
    /// `host:port` of each server, as listed.
    pub(super) servers: Vec<String>,
    /// Connections per server.
    pub(super) pool: usize,
    /// Per-command timeout.
    pub(super) timeout: Duration,
    /// Time to open a connection.
    pub(super) connect_timeout: Duration,
    /// How long a server that failed is passed over before it is tried again.
    pub(super) retry: Duration,
}

/// Parses a Memcached URL.
pub(crate) fn parse(url: &str) -> Result<MemcachedUrl> {
    let url = url.trim();
    let rest = url.strip_prefix("memcached://").ok_or_else(|| {
        Error::Config(format!(
            "{url:?} is not a Memcached URL (memcached://host:port,…)"
        ))
    })?;
    let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hosts = hosts.trim_end_matches('/');
    if hosts.contains('@') {
        return Err(Error::Config(
            "memcached://: the text protocol has no authentication; put no user or password in the URL"
                .into(),
        ));
    }
    if hosts.contains('/') {
        return Err(Error::Config(format!(
            "memcached://{hosts}: a Memcached URL has no path (servers are host:port,host:port)"
        )));
    }
    let mut servers = Vec::new();
    for h in hosts.split(',').filter(|h| !h.is_empty()) {
        let (host, port) = parse_host(h, DEFAULT_PORT, url)?;
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if servers.contains(&addr) {
            return Err(Error::Config(format!(
                "memcached://: server {addr} is listed twice"
            )));
        }
        servers.push(addr);
    }
    if servers.is_empty() {
        servers.push(format!("127.0.0.1:{DEFAULT_PORT}"));
    }
    let mut out = MemcachedUrl {
        servers,
        pool: 4,
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        retry: Duration::from_secs(1),
    };
    for (k, v) in parse_query(query)? {
        match k.as_str() {
            "pool" => {
                out.pool = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_POOL).contains(n))
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "Memcached URL option pool={v:?}: expected 1 to {MAX_POOL}"
                        ))
                    })?;
            }
            "timeout_ms" => out.timeout = parse_ms(&k, &v)?,
            "connect_timeout_ms" => out.connect_timeout = parse_ms(&k, &v)?,
            "retry_ms" => out.retry = parse_ms(&k, &v)?,
            other => {
                return Err(Error::Config(format!(
                    "unknown Memcached URL option {other:?} (expected pool, timeout_ms, connect_timeout_ms, retry_ms, compress_over or signing_key)"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_options() {
        let u = parse("memcached://10.0.0.1:11212,10.0.0.2,[::1]:7000?pool=8&timeout_ms=250&connect_timeout_ms=300&retry_ms=5000").unwrap();
        assert_eq!(
            u.servers,
            ["10.0.0.1:11212", "10.0.0.2:11211", "[::1]:7000"]
        );
        assert_eq!(u.pool, 8);
        assert_eq!(u.timeout, Duration::from_millis(250));
        assert_eq!(u.connect_timeout, Duration::from_millis(300));
        assert_eq!(u.retry, Duration::from_secs(5));
        assert_eq!(parse("memcached://").unwrap().servers, ["127.0.0.1:11211"]);
    }

    #[test]
    fn bad_urls_are_named() {
        for (bad, says) in [
            ("redis://x", "not a Memcached URL"),
            ("memcached://u:p@h:1", "authentication"),
            ("memcached://h:1/db", "no path"),
            ("memcached://h:notaport", "bad host"),
            ("memcached://h:1,h:1", "twice"),
            ("memcached://h?pool=0", "pool"),
            ("memcached://h?timeout_ms=soon", "timeout_ms"),
            ("memcached://h?poool=2", "poool"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
