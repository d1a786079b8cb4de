//! The tables of the SQL store, per backend, and the schema version check.
//!
//! Three tables share a prefix (`?table=cache` by default):
//!
//! | table | columns | notes |
//! |---|---|---|
//! | `{prefix}_entries` | `key` (primary key), `full_key` (NULL unless the key is long), `value` (bytes), `expires_at` (BIGINT unix milliseconds, NULL = never) | index on `expires_at` for the purge |
//! | `{prefix}_tags` | `tag`, `key` | primary key `(tag, key)`, index on `key` |
//! | `{prefix}_meta` | `name`, `value` (BIGINT) | holds `schema_version`, and `version:{namespace}` for each namespace version a cache published |
//!
//! Keys and tags longer than [`MAX_KEY`] bytes are stored under a readable head and a blake3
//! digest ([`key_id`]), so that every key column stays indexable on every backend (MariaDB's
//! index limit is 3072 bytes, PostgreSQL's about 2700); the full key is kept in `full_key`.
//!
//! Tables are created with `CREATE TABLE IF NOT EXISTS` on first use. A `schema_version` newer
//! than [`SCHEMA_VERSION`] is refused, so that a later release can migrate.

use std::borrow::Cow;

use super::url::Backend;

/// The schema version this release creates and reads.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// Keys (and tags) up to this many bytes are stored as they are.
pub(crate) const MAX_KEY: usize = 512;

/// The stored form of a key or tag: the key itself up to [`MAX_KEY`] bytes; a longer one
/// becomes its first bytes (up to `MAX_KEY`, cut on a character boundary), `#` and the blake3
/// digest of the whole key in hex. A stored long key is therefore always longer than `MAX_KEY`
/// bytes (at least 509 + 65), so it can never equal a short key, and at most 577 bytes.
pub(crate) fn key_id(key: &str) -> Cow<'_, str> {
    if key.len() <= MAX_KEY {
        return Cow::Borrowed(key);
    }
    let mut cut = MAX_KEY;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!(
        "{}#{}",
        &key[..cut],
        blake3::hash(key.as_bytes()).to_hex()
    ))
}

/// The full key to store beside the stored form: `None` for a short key.
pub(crate) fn full_key(key: &str) -> Option<&str> {
    (key.len() > MAX_KEY).then_some(key)
}

/// The statements that create the tables of `backend`, as templates for
/// [`dialect::render`](super::dialect::render).
pub(crate) fn create_statements(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Postgres => &[
            // "C" collation: byte order, and `LIKE 'prefix%'` can use the primary key index.
            r#"CREATE TABLE IF NOT EXISTS {E} (key TEXT COLLATE "C" NOT NULL PRIMARY KEY, full_key TEXT NULL, value BYTEA NOT NULL, expires_at BIGINT NULL)"#,
            "CREATE INDEX IF NOT EXISTS {E}_expires ON {E} (expires_at)",
            r#"CREATE TABLE IF NOT EXISTS {T} (tag TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, PRIMARY KEY (tag, key))"#,
            "CREATE INDEX IF NOT EXISTS {T}_key ON {T} (key)",
            r#"CREATE TABLE IF NOT EXISTS {M} (name TEXT COLLATE "C" NOT NULL PRIMARY KEY, value BIGINT NOT NULL)"#,
        ],
        Backend::MySql => &[
            "CREATE TABLE IF NOT EXISTS {E} (key VARBINARY(600) NOT NULL PRIMARY KEY, full_key LONGBLOB NULL, value LONGBLOB NOT NULL, expires_at BIGINT NULL, INDEX {E}_expires (expires_at)) ENGINE=InnoDB",
            "CREATE TABLE IF NOT EXISTS {T} (tag VARBINARY(600) NOT NULL, key VARBINARY(600) NOT NULL, PRIMARY KEY (tag, key), INDEX {T}_key (key)) ENGINE=InnoDB",
            "CREATE TABLE IF NOT EXISTS {M} (name VARBINARY(600) NOT NULL PRIMARY KEY, value BIGINT NOT NULL) ENGINE=InnoDB",
        ],
        Backend::Sqlite => &[
            "CREATE TABLE IF NOT EXISTS {E} (key TEXT NOT NULL PRIMARY KEY, full_key TEXT NULL, value BLOB NOT NULL, expires_at INTEGER NULL)",
            "CREATE INDEX IF NOT EXISTS {E}_expires ON {E} (expires_at)",
            "CREATE TABLE IF NOT EXISTS {T} (tag TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (tag, key)) WITHOUT ROWID",
            "CREATE INDEX IF NOT EXISTS {T}_key ON {T} (key)",
            "CREATE TABLE IF NOT EXISTS {M} (name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL)",
        ],
    }
}

/// Records this release's schema version unless one is already there.
pub(crate) fn insert_version(backend: Backend) -> &'static str {
    match backend {
        Backend::MySql => "INSERT IGNORE INTO {M} (name, value) VALUES ('schema_version', $1)",
        _ => "INSERT INTO {M} (name, value) VALUES ('schema_version', $1) ON CONFLICT DO NOTHING",
    }
}

/// Reads the schema version.
pub(crate) const SELECT_VERSION: &str = "SELECT value FROM {M} WHERE name = 'schema_version'";

/// Checks the version found in the meta table.
pub(crate) fn check_version(found: i64, table: &str) -> crate::Result<()> {
    if found > SCHEMA_VERSION {
        return Err(crate::Error::Config(format!(
            "the cache tables {table}_* have schema version {found}, created by a newer release (this one knows version {SCHEMA_VERSION}); upgrade cache-core or use another ?table="
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_get_a_distinct_bounded_stored_form() {
        assert_eq!(key_id("short"), "short");
        assert_eq!(full_key("short"), None);
        let exact = "k".repeat(MAX_KEY);
        assert_eq!(key_id(&exact), exact.as_str());
        let long = "é".repeat(400); // 800 bytes, two per character
        let id = key_id(&long);
        assert!(
            id.len() > MAX_KEY && id.len() <= MAX_KEY + 65,
            "{}",
            id.len()
        );
        assert!(id.starts_with("éé"));
        assert_ne!(key_id(&format!("{long}x")), id);
        assert_eq!(full_key(&long), Some(long.as_str()));
    }

    #[test]
    fn newer_schemas_are_refused() {
        check_version(1, "cache").unwrap();
        let e = check_version(2, "cache").unwrap_err().to_string();
        assert!(e.contains("newer release"), "{e}");
    }
}
