//! Parsing of `postgres://`, `mysql://`/`mariadb://` and `sqlite://` cache URLs: the options of
//! the store are taken out of the query, everything else is left for sqlx.

use std::time::Duration;

use crate::config::redact;
use crate::error::{Error, Result};

/// Default per-call timeout: a dead server must never hang a request.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default time to open a connection.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of pooled connections.
pub(crate) const DEFAULT_POOL: u32 = 8;
/// Default table name prefix.
pub(crate) const DEFAULT_TABLE: &str = "cache";
/// Default interval of the background purge of expired rows.
pub(crate) const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);
const MAX_POOL: u32 = 1024;
/// Longest table prefix (identifiers are at most 63 bytes in PostgreSQL and 64 in MySQL, and
/// the longest suffix is `_entries_expires`).
const MAX_TABLE: usize = 40;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

impl Backend {
    /// The cargo feature that compiles this backend in.
    pub(crate) fn feature(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl Backend {
    /// The URL options sqlx itself understands for this backend, passed through to it.
    fn sqlx_options(self) -> &'static [&'static str] {
        match self {
            Backend::Postgres => &[
                "sslmode",
                "ssl-mode",
                "sslrootcert",
                "ssl-root-cert",
                "sslcert",
                "ssl-cert",
                "sslkey",
                "ssl-key",
                "statement-cache-capacity",
                "host",
                "hostaddr",
                "port",
                "dbname",
                "user",
                "password",
                "application_name",
                "options",
            ],
            Backend::MySql => &[
                "sslmode",
                "ssl-mode",
                "sslca",
                "ssl-ca",
                "charset",
                "collation",
                "sslcert",
                "ssl-cert",
                "sslkey",
                "ssl-key",
                "statement-cache-capacity",
                "socket",
                "timezone",
                "time-zone",
            ],
            Backend::Sqlite => &["mode", "cache", "immutable", "vfs"],
        }
    }
}

/// Everything a SQL cache URL says.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SqlUrl {
    pub(crate) backend: Backend,
    /// The URL handed to sqlx: our options removed, `mariadb://` spelled `mysql://`.
    pub(crate) sqlx_url: String,
    pub(crate) pool: u32,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) table: String,
    pub(crate) purge_interval: Duration,
    /// The URL with its password hidden, for messages.
    pub(crate) redacted: String,
}

impl std::fmt::Debug for SqlUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

fn parse_ms(k: &str, v: &str, redacted: &str) -> Result<Duration> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            Error::Config(format!(
                "{redacted}: option {k}={v:?}: expected a positive number of milliseconds"
            ))
        })
}

/// Checks a table name prefix: `[A-Za-z_][A-Za-z0-9_]*`, at most 40 bytes. Only a prefix that
/// passes is ever put into SQL text.
pub(crate) fn validate_table(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') || name.len() > MAX_TABLE
    {
        return Err(Error::Config(format!(
            "SQL store option table={name:?}: expected a name of letters, digits and '_' (not starting with a digit, at most {MAX_TABLE} bytes)"
        )));
    }
    Ok(())
}

/// Parses a SQL cache URL. Options: `pool`, `timeout_ms`, `connect_timeout_ms`, `table`,
/// `purge_interval`; the options sqlx itself knows (for example `sslmode`) are left in the URL for
/// it, and any other is refused, named.
pub(crate) fn parse(url: &str) -> Result<SqlUrl> {
    let url = url.trim();
    let redacted = redact(url);
    let (scheme, rest) = url
        .split_once("://")
        .or_else(|| url.split_once(':'))
        .ok_or_else(|| Error::Config(format!("{redacted}: not a SQL URL")))?;
    let (backend, sqlx_scheme) = match scheme {
        "postgres" | "postgresql" => (Backend::Postgres, scheme),
        "mysql" | "mariadb" => (Backend::MySql, "mysql"),
        "sqlite" => (Backend::Sqlite, "sqlite"),
        other => return Err(Error::Config(format!("{other}:// is not a SQL scheme"))),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut out = SqlUrl {
        backend,
        sqlx_url: String::new(),
        pool: DEFAULT_POOL,
        timeout: DEFAULT_TIMEOUT,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        table: DEFAULT_TABLE.to_owned(),
        purge_interval: DEFAULT_PURGE_INTERVAL,
        redacted: redacted.clone(),
    };
    let mut passed = Vec::new();
    for (k, v) in crate::config::parse_query(query)? {
        match k.as_str() {
            "pool" | "pool_size" => {
                out.pool = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_POOL).contains(n))
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "{redacted}: option pool={v:?}: expected 1 to {MAX_POOL}"
                        ))
                    })?;
            }
            "timeout_ms" => out.timeout = parse_ms(&k, &v, &redacted)?,
            "connect_timeout_ms" => out.connect_timeout = parse_ms(&k, &v, &redacted)?,
            "table" => {
                validate_table(&v)?;
                out.table = v;
            }
            "purge_interval" => {
                let d = crate::ttl::parse(&v)
                    .map_err(|e| e.within(&format!("{redacted}: option purge_interval")))?;
                if d.is_zero() {
                    return Err(Error::Config(format!(
                        "{redacted}: option purge_interval must be more than zero"
                    )));
                }
                out.purge_interval = d;
            }
            other if backend.sqlx_options().contains(&other) => passed.push(format!("{k}={v}")),
            other => {
                return Err(Error::Config(format!(
                    "{redacted}: unknown SQL store option {other:?} (expected pool, timeout_ms, connect_timeout_ms, table, purge_interval, or one of sqlx's: {})",
                    backend.sqlx_options().join(", ")
                )))
            }
        }
    }
    if backend == Backend::Sqlite {
        let path = base.trim_start_matches("//");
        if path.is_empty() || path == ":memory:" || passed.iter().any(|p| p == "mode=memory") {
            return Err(Error::Config(format!(
                "{redacted}: the SQL store needs a SQLite file (sqlite://path/to/cache.db); an in-memory database is neither shared nor persistent, use mem:// instead"
            )));
        }
    }
    let base = base.trim_start_matches("//");
    out.sqlx_url = if passed.is_empty() {
        format!("{sqlx_scheme}://{base}")
    } else {
        format!("{sqlx_scheme}://{base}?{}", passed.join("&"))
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_options_are_taken_and_the_rest_passed_to_sqlx() {
        let u = parse("postgres://u:secret@h:5/db?sslmode=disable&pool=3&timeout_ms=250&connect_timeout_ms=900&table=c_1&purge_interval=200ms").unwrap();
        assert_eq!(u.backend, Backend::Postgres);
        assert_eq!(u.sqlx_url, "postgres://u:secret@h:5/db?sslmode=disable");
        assert_eq!(
            (u.pool, u.timeout, u.connect_timeout, u.table.as_str()),
            (
                3,
                Duration::from_millis(250),
                Duration::from_millis(900),
                "c_1"
            )
        );
        assert_eq!(u.purge_interval, Duration::from_millis(200));
        assert!(!format!("{u:?}").contains("secret"));
        let m = parse("mariadb://root@127.0.0.1:3306/test").unwrap();
        assert_eq!(m.backend, Backend::MySql);
        assert_eq!(m.sqlx_url, "mysql://root@127.0.0.1:3306/test");
        assert_eq!((m.pool, m.timeout), (DEFAULT_POOL, DEFAULT_TIMEOUT));
        assert_eq!(m.purge_interval, DEFAULT_PURGE_INTERVAL);
        let s = parse("sqlite:///tmp/x.db?table=t").unwrap();
        assert_eq!(s.sqlx_url, "sqlite:///tmp/x.db");
        assert_eq!(s.table, "t");
    }

    #[test]
    fn bad_urls_are_named_without_credentials() {
        for (url, needle) in [
            ("postgres://u:secret@h/db?pool=0", "pool"),
            ("postgres://u:secret@h/db?timeout_ms=soon", "timeout_ms"),
            ("postgres://u:secret@h/db?table=a;drop", "table"),
            ("postgres://u:secret@h/db?table=1a", "table"),
            ("postgres://u:secret@h/db?table=", "table"),
            (
                "postgres://u:secret@h/db?purge_interval=often",
                "purge_interval",
            ),
            (
                "postgres://u:secret@h/db?purge_interval=0",
                "purge_interval",
            ),
            ("sqlite://x.db?poll=3", "poll"),
            ("postgres://u:secret@h/db?poool=3", "poool"),
            ("mysql://u:secret@h/db?sslmode", "sslmode"),
            ("sqlite::memory:", "in-memory"),
            ("sqlite://:memory:", "in-memory"),
            ("sqlite://x.db?mode=memory", "in-memory"),
            ("sqlite://", "in-memory"),
            ("oracle://h", "not a SQL scheme"),
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
            assert!(!e.contains("secret"), "{url}: {e}");
        }
    }

    #[test]
    fn table_names_are_identifiers() {
        for good in ["cache", "_c", "C_2"] {
            validate_table(good).unwrap();
        }
        for bad in ["", "2c", "a-b", "a b", "a\"b", "é", &"x".repeat(41)] {
            assert!(validate_table(bad).is_err(), "{bad}");
        }
    }
}
