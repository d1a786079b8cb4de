//! The SQL text of every statement, per backend, rendered once when a store is opened.
//!
//! Templates are written once in a neutral form and rendered for each backend:
//! - `{E}`, `{T}`, `{M}` become the entries, tags and meta tables (from a validated prefix);
//! - `$1`, `$2`, … stay as they are on PostgreSQL, become `?1`, `?2`, … on SQLite and `?` on
//!   MySQL (so every template uses each parameter once, in order);
//! - the column `key` is quoted as `` `key` `` on MySQL, where it is a reserved word.
//!
//! Nothing but a validated table prefix and these fixed templates ever reaches SQL text: keys,
//! values, tags and patterns are always bound as parameters.

use super::url::Backend;

/// Expired rows deleted per statement by the purge, so that no statement runs long on a large
/// table.
pub(crate) const PURGE_BATCH: usize = 1000;

/// The escape character of every `LIKE` pattern the store builds.
pub(crate) const LIKE_ESCAPE: char = '!';

/// Renders a template for `backend` with the tables of `prefix`.
pub(crate) fn render(backend: Backend, prefix: &str, template: &str) -> String {
    let tables = template
        .replace("{E}", &format!("{prefix}_entries"))
        .replace("{T}", &format!("{prefix}_tags"))
        .replace("{M}", &format!("{prefix}_meta"));
    let b = tables.as_bytes();
    let mut out = String::with_capacity(tables.len() + 8);
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let mut j = i + 1;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            match backend {
                Backend::Postgres => out.push_str(&tables[i..j]),
                Backend::Sqlite => {
                    out.push('?');
                    out.push_str(&tables[i + 1..j]);
                }
                Backend::MySql => out.push('?'),
            }
            i = j;
            continue;
        }
        if backend == Backend::MySql
            && tables[i..].starts_with("key")
            && (i == 0 || !word(b[i - 1]))
            && !b.get(i + 3).copied().is_some_and(word)
        {
            out.push_str("`key`");
            i += 3;
            continue;
        }
        // Templates are ASCII apart from nothing; copy char by char to stay on boundaries.
        let c = tables[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// `$from, $from+1, …` for `n` parameters (rendered by [`render`] afterwards).
pub(crate) fn params(from: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(from + i).to_string());
    }
    s
}

/// The condition "the row is live" with the current time as parameter `$n`.
pub(crate) fn live(n: usize) -> String {
    format!("(expires_at IS NULL OR expires_at > ${n})")
}

/// The fixed statements of one store, rendered for its backend and tables.
#[derive(Debug)]
pub(crate) struct Queries {
    pub(crate) backend: Backend,
    pub(crate) prefix: String,
    /// What follows `VALUES (…)` in an upsert of entries.
    upsert_tail: &'static str,
    /// `INSERT INTO`, or `INSERT IGNORE INTO` on MySQL.
    insert_ignore: &'static str,
    /// What follows `VALUES (…)` in an insert that ignores existing rows.
    ignore_tail: &'static str,
    /// The statement that opens a transaction (`BEGIN IMMEDIATE` on SQLite, so that a
    /// transaction takes the write lock up front and never fails to upgrade it).
    pub(crate) begin: &'static str,
    pub(crate) get: String,
    pub(crate) get_ttl: String,
    pub(crate) ttl: String,
    pub(crate) exists: String,
    pub(crate) upsert: String,
    pub(crate) insert_new: String,
    pub(crate) replace_expired: String,
    pub(crate) clear_tags: String,
    pub(crate) add_tag: String,
    pub(crate) delete_live: String,
    pub(crate) drop_orphan_tags: String,
    /// `DELETE … RETURNING` where the backend has it (PostgreSQL, SQLite); `None` on MySQL,
    /// which takes with a locked read and a delete in one transaction.
    pub(crate) take_returning: Option<String>,
    pub(crate) delete_one: String,
    pub(crate) lock_row: String,
    pub(crate) set_value: String,
    pub(crate) reset_value: String,
    pub(crate) expire: String,
    pub(crate) scan: String,
    /// Up to [`PURGE_BATCH`] expired keys (then the time).
    pub(crate) expired_keys: String,
    pub(crate) ping: String,
    pub(crate) load_version: String,
    /// Raises a namespace version (never lowers it).
    pub(crate) raise_version: String,
}

impl Queries {
    pub(crate) fn new(backend: Backend, prefix: &str) -> Self {
        let r = |t: &str| render(backend, prefix, t);
        let upsert_tail = match backend {
            Backend::MySql => "ON DUPLICATE KEY UPDATE full_key = VALUES(full_key), value = VALUES(value), expires_at = VALUES(expires_at)",
            _ => "ON CONFLICT (key) DO UPDATE SET full_key = excluded.full_key, value = excluded.value, expires_at = excluded.expires_at",
        };
        let (insert_ignore, ignore_tail) = match backend {
            Backend::MySql => ("INSERT IGNORE INTO", ""),
            _ => ("INSERT INTO", " ON CONFLICT DO NOTHING"),
        };
        let for_update = match backend {
            Backend::Sqlite => "",
            _ => " FOR UPDATE",
        };
        Queries {
            backend,
            prefix: prefix.to_owned(),
            upsert_tail,
            insert_ignore,
            ignore_tail,
            begin: match backend {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                _ => "BEGIN",
            },
            get: r(&format!(
                "SELECT value FROM {{E}} WHERE key = $1 AND {}",
                live(2)
            )),
            get_ttl: r(&format!(
                "SELECT value, expires_at FROM {{E}} WHERE key = $1 AND {}",
                live(2)
            )),
            ttl: r(&format!(
                "SELECT expires_at FROM {{E}} WHERE key = $1 AND {}",
                live(2)
            )),
            exists: r(&format!("SELECT 1 FROM {{E}} WHERE key = $1 AND {}", live(2))),
            upsert: r(&format!(
                "INSERT INTO {{E}} (key, full_key, value, expires_at) VALUES ($1, $2, $3, $4) {upsert_tail}"
            )),
            insert_new: r(&format!(
                "{insert_ignore} {{E}} (key, full_key, value, expires_at) VALUES ($1, $2, $3, $4){ignore_tail}"
            )),
            replace_expired: r("UPDATE {E} SET full_key = $1, value = $2, expires_at = $3 WHERE key = $4 AND expires_at IS NOT NULL AND expires_at <= $5"),
            clear_tags: r("DELETE FROM {T} WHERE key = $1"),
            add_tag: r(&format!(
                "{insert_ignore} {{T}} (tag, key) VALUES ($1, $2){ignore_tail}"
            )),
            delete_live: r(&format!("DELETE FROM {{E}} WHERE key = $1 AND {}", live(2))),
            drop_orphan_tags: r("DELETE FROM {T} WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM {E} e WHERE e.key = {T}.key)"),
            take_returning: (backend != Backend::MySql)
                .then(|| r("DELETE FROM {E} WHERE key = $1 RETURNING value, expires_at")),
            delete_one: r("DELETE FROM {E} WHERE key = $1"),
            lock_row: r(&format!(
                "SELECT value, expires_at FROM {{E}} WHERE key = $1{for_update}"
            )),
            set_value: r("UPDATE {E} SET value = $1 WHERE key = $2"),
            reset_value: r("UPDATE {E} SET value = $1, expires_at = NULL WHERE key = $2"),
            expire: r(&format!(
                "UPDATE {{E}} SET expires_at = $1 WHERE key = $2 AND {}",
                live(3)
            )),
            scan: r(&format!(
                "SELECT key, full_key FROM {{E}} WHERE (key LIKE $1 ESCAPE '{LIKE_ESCAPE}' OR full_key LIKE $2 ESCAPE '{LIKE_ESCAPE}') AND {}",
                live(3)
            )),
            expired_keys: r(&format!(
                "SELECT key FROM {{E}} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT {PURGE_BATCH}"
            )),
            ping: "SELECT 1".to_owned(),
            load_version: r("SELECT value FROM {M} WHERE name = $1"),
            raise_version: r(match backend {
                Backend::Postgres => "INSERT INTO {M} (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = GREATEST({M}.value, excluded.value)",
                Backend::Sqlite => "INSERT INTO {M} (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = MAX({M}.value, excluded.value)",
                Backend::MySql => "INSERT INTO {M} (name, value) VALUES ($1, $2) ON DUPLICATE KEY UPDATE value = GREATEST(value, VALUES(value))",
            }),
        }
    }

    /// Upserts `n` entries: `(key, full_key, value, expires_at)` each.
    pub(crate) fn upsert_many(&self, n: usize) -> String {
        let rows: Vec<String> = (0..n)
            .map(|i| format!("({})", params(4 * i + 1, 4)))
            .collect();
        self.render(&format!(
            "INSERT INTO {{E}} (key, full_key, value, expires_at) VALUES {} {}",
            rows.join(", "),
            self.upsert_tail
        ))
    }

    /// Deletes the tag rows of `n` keys.
    pub(crate) fn clear_tags_many(&self, n: usize) -> String {
        self.render(&format!(
            "DELETE FROM {{T}} WHERE key IN ({})",
            params(1, n)
        ))
    }

    /// Inserts `n` tag rows: `(tag, key)` each.
    pub(crate) fn add_tags_many(&self, n: usize) -> String {
        let rows: Vec<String> = (0..n)
            .map(|i| format!("({})", params(2 * i + 1, 2)))
            .collect();
        self.render(&format!(
            "{} {{T}} (tag, key) VALUES {}{}",
            self.insert_ignore,
            rows.join(", "),
            self.ignore_tail
        ))
    }

    /// `SELECT key, value` of the live rows among `n` keys (then the time).
    pub(crate) fn get_many(&self, n: usize) -> String {
        self.render(&format!(
            "SELECT key, value FROM {{E}} WHERE key IN ({}) AND {}",
            params(1, n),
            live(n + 1)
        ))
    }

    /// Deletes the live rows among `n` keys (then the time).
    pub(crate) fn delete_many(&self, n: usize) -> String {
        self.render(&format!(
            "DELETE FROM {{E}} WHERE key IN ({}) AND {}",
            params(1, n),
            live(n + 1)
        ))
    }

    /// Deletes the tag rows of `n` keys that no longer have an entry.
    pub(crate) fn drop_orphan_tags_many(&self, n: usize) -> String {
        self.render(&format!(
            "DELETE FROM {{T}} WHERE key IN ({}) AND NOT EXISTS (SELECT 1 FROM {{E}} e WHERE e.key = {{T}}.key)",
            params(1, n)
        ))
    }

    /// Deletes the rows of `n` keys, live or not.
    pub(crate) fn delete_keys(&self, n: usize) -> String {
        self.render(&format!(
            "DELETE FROM {{E}} WHERE key IN ({})",
            params(1, n)
        ))
    }

    /// Deletes the rows of `n` keys that are still expired (then the time): a key written again
    /// since it was listed is kept.
    pub(crate) fn delete_expired(&self, n: usize) -> String {
        self.render(&format!(
            "DELETE FROM {{E}} WHERE key IN ({}) AND expires_at IS NOT NULL AND expires_at <= ${}",
            params(1, n),
            n + 1
        ))
    }

    /// The keys (stored key, full key, expiry) tagged with one of `n` tags.
    pub(crate) fn tagged(&self, n: usize) -> String {
        self.render(&format!(
            "SELECT DISTINCT e.key, e.full_key, e.expires_at FROM {{T}} t JOIN {{E}} e ON e.key = t.key WHERE t.tag IN ({})",
            params(1, n)
        ))
    }

    /// Deletes the rows of `keys` keys that still carry one of `tags` tags.
    pub(crate) fn delete_tagged(&self, keys: usize, tags: usize) -> String {
        self.render(&format!(
            "DELETE FROM {{E}} WHERE key IN ({}) AND key IN (SELECT key FROM {{T}} WHERE tag IN ({}))",
            params(1, keys),
            params(keys + 1, tags)
        ))
    }

    fn render(&self, template: &str) -> String {
        render(self.backend, &self.prefix, template)
    }
}

/// Translates a glob pattern (already validated) into a `LIKE` pattern with escape `!` that
/// matches at least every key the glob matches; the store then filters exactly with
/// [`crate::pattern::matches`].
///
/// `*` becomes `%`. Literal `%`, `_` and `!` are escaped, so user input never widens the match.
/// `?` and `[…]` match one byte in a glob: on MySQL, where keys are binary and `_` is one byte,
/// they become `_`; on PostgreSQL and SQLite, where `_` is one character, they become `%` (a
/// byte of a multi-byte character could otherwise be missed).
pub(crate) fn like_pattern(backend: Backend, glob: &str) -> String {
    let one = if backend == Backend::MySql { '_' } else { '%' };
    let mut out = String::with_capacity(glob.len() + 4);
    let push_wild = |out: &mut String, c: char| {
        if !(c == '%' && out.ends_with('%') && !out.ends_with("!%")) {
            out.push(c);
        }
    };
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => push_wild(&mut out, '%'),
            '?' => push_wild(&mut out, one),
            '[' => {
                // Skip the class, honouring escapes inside it (as `pattern::validate` does).
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        ']' => break,
                        _ => {}
                    }
                }
                push_wild(&mut out, one);
            }
            '\\' => {
                if let Some(lit) = chars.next() {
                    push_literal(&mut out, lit);
                }
            }
            lit => push_literal(&mut out, lit),
        }
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if matches!(c, '%' | '_' | LIKE_ESCAPE) {
        out.push(LIKE_ESCAPE);
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_rendered_per_backend() {
        let t = "SELECT value FROM {E} WHERE key = $1 AND e.key > $2 AND full_key = $3";
        assert_eq!(
            render(Backend::Postgres, "c", t),
            "SELECT value FROM c_entries WHERE key = $1 AND e.key > $2 AND full_key = $3"
        );
        assert_eq!(
            render(Backend::Sqlite, "c", t),
            "SELECT value FROM c_entries WHERE key = ?1 AND e.key > ?2 AND full_key = ?3"
        );
        assert_eq!(
            render(Backend::MySql, "c", t),
            "SELECT value FROM c_entries WHERE `key` = ? AND e.`key` > ? AND full_key = ?"
        );
        assert_eq!(params(3, 3), "$3, $4, $5");
    }

    #[test]
    fn globs_become_escaped_like_patterns() {
        let pg = |g| like_pattern(Backend::Postgres, g);
        let my = |g| like_pattern(Backend::MySql, g);
        assert_eq!(pg("app:*"), "app:%");
        assert_eq!(pg("a%b"), "a!%b");
        assert_eq!(pg("a_b!c"), "a!_b!!c");
        assert_eq!(pg("a\\*b"), "a*b");
        assert_eq!(pg("a**?b"), "a%b");
        assert_eq!(my("a?[^x\\]]b*"), "a__b%");
        assert_eq!(pg("a\\%*"), "a!%%");
    }
}
