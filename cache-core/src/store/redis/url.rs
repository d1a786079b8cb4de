//! Parsing of `redis://`, `rediss://`, `redis-cluster://` and `redis-sentinel://` URLs.

use std::time::Duration;

use crate::config::{parse_host, parse_ms, redact};
use crate::error::{Error, Result};

/// Default command timeout: fred's own default is none, and a dead server must never hang a
/// request.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default time to establish a connection.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of connections (each one auto-pipelines concurrent commands).
pub(crate) const DEFAULT_POOL: usize = 2;
const MAX_POOL: usize = 256;

/// Which deployment a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    Standalone,
    Cluster,
    Sentinel { service: String },
}

/// Everything a Redis URL says.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    pub(crate) topology: Topology,
    pub(crate) tls: bool,
    pub(crate) hosts: Vec<(String, u16)>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) database: Option<u8>,
    pub(crate) pool: usize,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// The URL with its password hidden, for messages.
    pub(crate) redacted: String,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

fn percent_decode(s: &str, what: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::Config(format!("bad percent-escape in the {what} of a Redis URL"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::Config(format!("the {what} of a Redis URL is not UTF-8")))
}

/// Parses a Redis URL: `scheme://[user[:password]@]host[:port][,host[:port]...][/db][?options]`.
///
/// Options: `pool=N`, `timeout_ms=N` (per command), `connect_timeout_ms=N`, and for sentinel
/// `service_name=NAME`.
pub(crate) fn parse(url: &str) -> Result<RedisUrl> {
    let redacted = redact(url);
    let (scheme, rest) = url
        .trim()
        .split_once("://")
        .ok_or_else(|| Error::Config(format!("{redacted}: not a Redis URL")))?;
    let (topology, tls, default_port) = match scheme {
        "redis" => (Topology::Standalone, false, 6379),
        "rediss" => (Topology::Standalone, true, 6379),
        "redis-cluster" => (Topology::Cluster, false, 6379),
        "rediss-cluster" => (Topology::Cluster, true, 6379),
        "redis-sentinel" => (
            Topology::Sentinel {
                service: String::new(),
            },
            false,
            26379,
        ),
        "rediss-sentinel" => (
            Topology::Sentinel {
                service: String::new(),
            },
            true,
            26379,
        ),
        other => return Err(Error::Config(format!("{other}:// is not a Redis scheme"))),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostlist) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            let u = (!u.is_empty())
                .then(|| percent_decode(u, "user name"))
                .transpose()?;
            let p = p.map(|p| percent_decode(p, "password")).transpose()?;
            // `redis://secret@host` is a password in the redis-cli convention.
            match (u, p) {
                (Some(u), None) => (None, Some(u)),
                (u, p) => (u, p),
            }
        }
    };
    let mut hosts = Vec::new();
    for h in hostlist.split(',').filter(|h| !h.is_empty()) {
        hosts.push(parse_host(h, default_port, &redacted)?);
    }
    if hosts.is_empty() {
        hosts.push(("127.0.0.1".to_owned(), default_port));
    }
    if topology == Topology::Standalone && hosts.len() > 1 {
        return Err(Error::Config(format!(
            "{redacted}: several hosts need redis-cluster:// or redis-sentinel://"
        )));
    }
    let path = path.trim_matches('/');
    let database = if path.is_empty() {
        None
    } else {
        if topology == Topology::Cluster {
            return Err(Error::Config(format!(
                "{redacted}: Redis Cluster has only database 0"
            )));
        }
        Some(path.parse::<u8>().map_err(|_| {
            Error::Config(format!(
                "{redacted}: database {path:?} is not a number from 0 to 255"
            ))
        })?)
    };
    let mut out = RedisUrl {
        topology,
        tls,
        hosts,
        username,
        password,
        database,
        pool: DEFAULT_POOL,
        timeout: DEFAULT_TIMEOUT,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        redacted: redacted.clone(),
    };
    for (k, v) in crate::config::parse_query(query)? {
        match k.as_str() {
            "pool" | "pool_size" => {
                out.pool = v.parse::<usize>().ok().filter(|n| (1..=MAX_POOL).contains(n)).ok_or_else(|| {
                    Error::Config(format!("Redis URL option pool={v:?}: expected 1 to {MAX_POOL}"))
                })?;
            }
            "timeout_ms" => out.timeout = parse_ms(&k, &v)?,
            "connect_timeout_ms" => out.connect_timeout = parse_ms(&k, &v)?,
            "service_name" | "sentinelServiceName" => match &mut out.topology {
                Topology::Sentinel { service } => *service = percent_decode(&v, "service name")?,
                _ => return Err(Error::Config(format!("Redis URL option {k} needs redis-sentinel://"))),
            },
            other => {
                return Err(Error::Config(format!(
                    "unknown Redis URL option {other:?} (expected pool, timeout_ms, connect_timeout_ms, service_name, compress_over or signing_key)"
                )))
            }
        }
    }
    if let Topology::Sentinel { service } = &out.topology {
        if service.is_empty() {
            return Err(Error::Config(format!(
                "{redacted}: redis-sentinel:// needs ?service_name=<primary name>"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_urls() {
        let u =
            parse("redis://127.0.0.1:7000/2?pool=8&timeout_ms=250&connect_timeout_ms=900").unwrap();
        assert_eq!(u.topology, Topology::Standalone);
        assert_eq!(u.hosts, [("127.0.0.1".to_owned(), 7000)]);
        assert_eq!(u.database, Some(2));
        assert_eq!(
            (u.pool, u.timeout, u.connect_timeout),
            (8, Duration::from_millis(250), Duration::from_millis(900))
        );
        let d = parse("redis://localhost").unwrap();
        assert_eq!(d.hosts, [("localhost".to_owned(), 6379)]);
        assert_eq!((d.pool, d.timeout), (DEFAULT_POOL, DEFAULT_TIMEOUT));
        assert!(parse("rediss://h:1").unwrap().tls);
        assert_eq!(
            parse("redis://[::1]:7001").unwrap().hosts,
            [("::1".to_owned(), 7001)]
        );
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let u = parse("redis://ada:p%40ss@h:1").unwrap();
        assert_eq!(
            (u.username.as_deref(), u.password.as_deref()),
            (Some("ada"), Some("p@ss"))
        );
        assert!(!format!("{u:?}").contains("p%40ss"));
        let u = parse("redis://:pw@h").unwrap();
        assert_eq!((u.username, u.password.as_deref()), (None, Some("pw")));
        let e = parse("redis://u:secret@h:1?pool=0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool") && !e.contains("secret"), "{e}");
        let e = parse("redis://u:secret@h:notaport")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn cluster_and_sentinel_urls() {
        let u = parse("redis-cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002").unwrap();
        assert_eq!(u.topology, Topology::Cluster);
        assert_eq!(u.hosts.len(), 3);
        assert!(parse("redis-cluster://h:1/3").is_err());
        let s = parse("redis-sentinel://s1,s2:26380/1?service_name=mymaster").unwrap();
        assert_eq!(
            s.topology,
            Topology::Sentinel {
                service: "mymaster".into()
            }
        );
        assert_eq!(
            s.hosts,
            [("s1".to_owned(), 26379), ("s2".to_owned(), 26380)]
        );
        assert!(parse("redis-sentinel://s1")
            .unwrap_err()
            .to_string()
            .contains("service_name"));
    }

    #[test]
    fn bad_urls_are_named() {
        for (url, needle) in [
            ("redis://a:1,b:2", "several hosts"),
            ("redis://h/x", "database"),
            ("redis://h?timeout_ms=0", "timeout_ms"),
            ("redis://h?timeout_ms=soon", "timeout_ms"),
            ("redis://h?poll=3", "poll"),
            ("redis://h?service_name=x", "sentinel"),
            ("redis://h:0", "bad host"),
            ("redis://:%zz@h", "percent"),
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }
}
