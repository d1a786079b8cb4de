//! [`SqlStore`]: the store on a SQL database through `sqlx`: PostgreSQL, MariaDB/MySQL or a
//! SQLite file.
//!
//! Design notes:
//! - One concrete sqlx pool per backend (`PgPool`, `MySqlPool`, `SqlitePool`), never `AnyPool`:
//!   every statement is written for its backend and rendered once at connect, so the hot path
//!   binds parameters to a prepared statement sqlx caches per connection.
//! - Three tables, created with `CREATE TABLE IF NOT EXISTS` on first use:
//!
//!   | table | columns | notes |
//!   |---|---|---|
//!   | `{table}_entries` | `key`, `full_key` (NULL unless the key is long), `value` (bytes), `expires_at` (BIGINT unix milliseconds, NULL = never) | primary key `key`; index on `expires_at` |
//!   | `{table}_tags` | `tag`, `key` | primary key `(tag, key)`; index on `key` |
//!   | `{table}_meta` | `name`, `value` | `schema_version` = 1 |
//!
//!   Column types: PostgreSQL `TEXT COLLATE "C"`/`BYTEA`/`BIGINT`; MariaDB/MySQL
//!   `VARBINARY(600)`/`LONGBLOB`/`BIGINT` on InnoDB; SQLite `TEXT`/`BLOB`/`INTEGER`. Keys and
//!   tags longer than 512 bytes are stored as their first 512 bytes, `#` and the blake3 digest
//!   of the whole key (so every key column stays indexable on every backend), with the whole
//!   key in `full_key`. Tables whose `schema_version` is newer than this release knows are
//!   refused with [`Error::Config`], so that a later release can migrate them.
//! - Expiry is honoured on every read (`expires_at IS NULL OR expires_at > now`); a background
//!   task deletes expired rows every `purge_interval`. Times are the clock of the
//!   process that writes or reads: keep the clocks of processes sharing a database in sync.
//! - Every write that replaces a row also replaces its tag rows, in one transaction, so a key
//!   re-written without a tag is never deleted by that tag later.
//! - A namespace version bumped by one process ([`Cache::bump_version`](crate::Cache::bump_version))
//!   is stored in the meta table; every store reads the versions of its caches back every
//!   second, so other processes stop serving the old namespace within about a second.
//! - Every call has a timeout (default 1 s): a dead server gives [`Error::Timeout`] or
//!   [`Error::Backend`], never a hung request.
//! - Patterns are translated to an escaped `LIKE` that matches at least what the glob matches,
//!   then filtered exactly in Rust, so user input (`%`, `_`) never widens a match. Nothing ever
//!   truncates a table: `clear` deletes what matches its pattern.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;

use super::version::VersionCells;
use super::{BoxFuture, Capabilities, KeyTtl, Store, StoreStats, WriteOptions};
use crate::error::{Error, Result};
use dialect::{like_pattern, Queries};
use schema::{full_key, key_id};
use url::Backend;

mod dialect;
mod purge;
mod schema;
mod url;

/// Keys (or tags) per `IN (…)` statement.
const CHUNK: usize = 500;
/// How often the namespace versions other processes published are read back.
const VERSION_POLL: Duration = Duration::from_secs(1);

/// The meta row of a namespace version.
fn version_name(prefix: &str) -> String {
    key_id(&format!("version:{prefix}")).into_owned()
}

/// The pool of the backend a URL names.
#[derive(Debug, Clone)]
enum Pool {
    #[cfg(feature = "postgres")]
    Pg(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    My(sqlx::MySqlPool),
    #[cfg(feature = "sqlite")]
    Lite(sqlx::SqlitePool),
}

/// Runs `$body` with `$p` bound to the concrete pool and `$K` to the type a key column decodes
/// to on that backend (`String`, or `Vec<u8>` for MySQL's binary keys).
macro_rules! with_pool {
    ($pool:expr, $p:ident, $K:ident => $body:expr) => {
        match $pool {
            #[cfg(feature = "postgres")]
            Pool::Pg($p) => {
                #[allow(dead_code)]
                type $K = String;
                $body
            }
            #[cfg(feature = "mysql")]
            Pool::My($p) => {
                #[allow(dead_code)]
                type $K = Vec<u8>;
                $body
            }
            #[cfg(feature = "sqlite")]
            Pool::Lite($p) => {
                #[allow(dead_code)]
                type $K = String;
                $body
            }
        }
    };
}

/// A failure inside an operation: from sqlx (mapped with context by [`Inner::run`]) or already
/// one of ours.
#[derive(Debug)]
enum Fail {
    Db(sqlx::Error),
    Cache(Error),
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Cache(e)
    }
}

/// A key column as read back: UTF-8 or a decode error.
trait StoredKey {
    fn into_key(self) -> Result<String, Fail>;
}

impl StoredKey for String {
    fn into_key(self) -> Result<String, Fail> {
        Ok(self)
    }
}

impl StoredKey for Vec<u8> {
    fn into_key(self) -> Result<String, Fail> {
        String::from_utf8(self)
            .map_err(|_| Fail::Cache(Error::Decode("a key in the table is not UTF-8".into())))
    }
}

/// Whether a failed transaction should simply be run again (a deadlock or serialization
/// failure, which the database resolved by aborting it).
fn retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40001" || c == "40P01")
}

/// Now, in unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The `expires_at` of a write made at `now` with `ttl`; a sub-millisecond TTL rounds up.
fn deadline(now: i64, ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|d| {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1);
        now.saturating_add(ms)
    })
}

fn remaining(now: i64, expires_at: Option<i64>) -> KeyTtl {
    match expires_at {
        None => KeyTtl::Persistent,
        Some(at) => KeyTtl::Expires(Duration::from_millis(
            u64::try_from(at.saturating_sub(now)).unwrap_or(0).max(1),
        )),
    }
}

fn parse_int(key: &str, v: Option<&[u8]>) -> Result<i64> {
    v.and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Error::Decode(format!("incr {key:?}: value is not an integer")))
}

/// What a store and its purge task share.
#[derive(Debug)]
struct Inner {
    pool: Pool,
    q: Queries,
    timeout: Duration,
    /// The URL with its password hidden, for messages.
    url: String,
    /// Rows the purge deleted since the last reset.
    purged: AtomicU64,
    /// The version cells of the caches on this store, raised by the version poll.
    versions: VersionCells,
}

/// The SQL store: PostgreSQL, MariaDB/MySQL or a SQLite file, chosen by URL.
///
/// Usually built through [`Cache::from_url`](crate::Cache::from_url). Each backend is a cargo
/// feature of cache-core:
///
/// | URL | database | feature |
/// |---|---|---|
/// | `postgres://[user[:pass]@]host[:port]/db` (or `postgresql://`) | PostgreSQL | `postgres` |
/// | `mysql://[user[:pass]@]host[:port]/db` (or `mariadb://`) | MariaDB or MySQL | `mysql` |
/// | `sqlite://path/to/cache.db` (`sqlite:///abs/path`) | a SQLite file, created if missing | `sqlite` |
///
/// | option | default | meaning |
/// |---|---|---|
/// | `pool=N` | 8 | connections in the pool |
/// | `timeout_ms=N` | 1000 | per-operation timeout ([`Error::Timeout`] after it) |
/// | `connect_timeout_ms=N` | 2000 | time to open a connection |
/// | `table=NAME` | `cache` | table prefix: `NAME_entries`, `NAME_tags`, `NAME_meta` (`[A-Za-z_][A-Za-z0-9_]*`) |
/// | `purge_interval=D` | `60s` | how often expired rows are deleted (`200ms`, `5m`, …) |
///
/// sqlx's own options (`sslmode`, `sslrootcert`, `application_name`, `charset`, `mode`, …)
/// pass through to sqlx; any other option is an [`Error::Config`] naming it. An in-memory
/// SQLite database is refused (it is neither shared nor persistent: use `mem://`).
///
/// Every backend declares every [`Capability`](super::Capability): pattern scan, native tags,
/// atomic counters, TTL read-back, expire, take, batches, shared (a SQLite file is shared by
/// the processes of one machine) and persistent.
///
/// Stored values are bytes in one row per key; keys and tags longer than 512 bytes are stored
/// under a head and a blake3 digest (see the [module notes](self)). On SQLite the file uses
/// WAL journaling with `synchronous=NORMAL`: a crash of the machine may lose the last writes,
/// never the file.
///
/// [`stats`](Store::stats) reports `expirations` (rows the purge deleted); it does not count
/// entries or bytes, which would cost a table scan.
///
/// ```no_run
/// use cache_core::store::SqlStore;
/// use cache_core::Cache;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqlStore::connect("postgres://app:secret@127.0.0.1/app?pool=4&timeout_ms=500").await?;
/// let cache = Cache::builder().store(store).prefix("shop").build().await?;
/// cache.set("greeting", "hello").await?;
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub struct SqlStore {
    inner: Arc<Inner>,
    purge_interval: Duration,
    purge_task: Option<tokio::task::AbortHandle>,
    version_task: Option<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("url", &self.inner.url)
            .field("table", &self.inner.q.prefix)
            .field("timeout", &self.inner.timeout)
            .field("purge_interval", &self.purge_interval)
            .finish()
    }
}

fn config_or_backend(e: sqlx::Error, url: &str) -> Error {
    match e {
        sqlx::Error::Configuration(e) => Error::Config(format!("{url}: {e}")),
        e => Error::Backend(format!("cannot connect to {url}: {e}")),
    }
}

fn unavailable(u: &url::SqlUrl) -> Error {
    Error::Config(format!(
        "{}: the {} backend of the SQL store is not in this build: enable the `{}` feature of cache-core",
        u.redacted,
        u.backend.feature(),
        u.backend.feature()
    ))
}

impl SqlStore {
    /// Connects to the database a URL names (see the tables above), creates the tables if they
    /// are missing, checks their schema version and starts the background purge.
    ///
    /// Fails with [`Error::Config`] for a malformed URL, an unknown option, a backend not
    /// compiled in or tables created by a newer release, and with [`Error::Backend`] (or
    /// [`Error::Timeout`]) when the database cannot be reached; messages never show a password.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let err = cache_core::store::SqlStore::connect("postgres://u:secret@127.0.0.1:1/db?pool=zero")
    ///     .await
    ///     .unwrap_err();
    /// assert!(matches!(err, cache_core::Error::Config(_)));
    /// assert!(!err.to_string().contains("secret"));
    /// # });
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        let u = url::parse(url)?;
        let connect = async {
            let pool = Self::open_pool(&u).await?;
            let inner = Inner {
                pool,
                q: Queries::new(u.backend, &u.table),
                timeout: u.timeout,
                url: u.redacted.clone(),
                purged: AtomicU64::new(0),
                versions: VersionCells::default(),
            };
            inner.create_schema(&u.table).await?;
            Ok::<_, Error>(inner)
        };
        let bound = u.connect_timeout.saturating_mul(2) + u.timeout;
        let inner = match tokio::time::timeout(bound, connect).await {
            Ok(r) => Arc::new(r?),
            Err(_) => {
                return Err(Error::Backend(format!(
                    "cannot connect to {}: no answer within {bound:?}",
                    u.redacted
                )))
            }
        };
        let purge_task = purge::spawn(Arc::downgrade(&inner), u.purge_interval);
        let version_task = purge::spawn_version_poll(Arc::downgrade(&inner), VERSION_POLL);
        Ok(SqlStore {
            inner,
            purge_interval: u.purge_interval,
            purge_task,
            version_task,
        })
    }

    async fn open_pool(u: &url::SqlUrl) -> Result<Pool> {
        #[allow(unused_imports)]
        use std::str::FromStr;
        match u.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(&u.sqlx_url)
                    .map_err(|e| config_or_backend(e, &u.redacted))?;
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(u.pool)
                    .acquire_timeout(u.connect_timeout)
                    .test_before_acquire(false)
                    .connect_with(opts)
                    .await
                    .map_err(|e| config_or_backend(e, &u.redacted))?;
                Ok(Pool::Pg(pool))
            }
            #[cfg(feature = "mysql")]
            Backend::MySql => {
                let opts = sqlx::mysql::MySqlConnectOptions::from_str(&u.sqlx_url)
                    .map_err(|e| config_or_backend(e, &u.redacted))?;
                let pool = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(u.pool)
                    .acquire_timeout(u.connect_timeout)
                    .test_before_acquire(false)
                    // READ COMMITTED, as on PostgreSQL: no gap locks, so concurrent writes to
                    // different keys do not deadlock each other.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                                .execute(conn)
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .map_err(|e| config_or_backend(e, &u.redacted))?;
                Ok(Pool::My(pool))
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&u.sqlx_url)
                    .map_err(|e| config_or_backend(e, &u.redacted))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(u.timeout);
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(u.pool)
                    .acquire_timeout(u.connect_timeout)
                    .test_before_acquire(false)
                    .connect_with(opts)
                    .await
                    .map_err(|e| config_or_backend(e, &u.redacted))?;
                Ok(Pool::Lite(pool))
            }
            #[allow(unreachable_patterns)]
            _ => Err(unavailable(u)),
        }
    }

    /// Deletes the expired rows (and their tag rows) now, as the background purge does every
    /// `purge_interval`; returns how many entries it deleted.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::SqlStore::connect("sqlite://cache.db").await?;
    /// let deleted = store.purge_expired().await?;
    /// println!("{deleted} expired rows deleted");
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn purge_expired(&self) -> Result<u64> {
        self.inner.purge().await
    }

    /// The per-operation timeout.
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::SqlStore::connect("sqlite://cache.db?timeout_ms=250").await?;
    /// assert_eq!(store.timeout(), std::time::Duration::from_millis(250));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The names of the three tables: entries, tags, meta (`cache_entries`, `cache_tags`,
    /// `cache_meta` by default).
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = cache_core::store::SqlStore::connect("sqlite://cache.db?table=web").await?;
    /// assert_eq!(store.tables()[0], "web_entries");
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub fn tables(&self) -> [String; 3] {
        let p = &self.inner.q.prefix;
        [
            format!("{p}_entries"),
            format!("{p}_tags"),
            format!("{p}_meta"),
        ]
    }
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        for task in [&self.purge_task, &self.version_task].into_iter().flatten() {
            task.abort();
        }
    }
}

impl Inner {
    fn fail(&self, op: &str, f: Fail) -> Error {
        match f {
            Fail::Cache(e) => e,
            Fail::Db(sqlx::Error::PoolTimedOut) => Error::Timeout(self.timeout),
            Fail::Db(e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))) => {
                Error::Decode(format!("{op}: {e} ({})", self.url))
            }
            Fail::Db(e) => Error::Backend(format!("{op}: {e} ({})", self.url)),
        }
    }

    /// Runs one operation under the timeout, running it again after a deadlock or
    /// serialization failure (at most four times).
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Fail>>,
    {
        let work = async {
            let mut attempt = 0;
            loop {
                match f().await {
                    Err(Fail::Db(e)) if attempt < 4 && retryable(&e) => attempt += 1,
                    r => return r,
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r.map_err(|f| self.fail(op, f)),
            Err(_) => Err(Error::Timeout(self.timeout)),
        }
    }

    async fn create_schema(&self, table: &str) -> Result<()> {
        let q = &self.q;
        let found: i64 = self
            .run("create tables", move || async move {
                with_pool!(&self.pool, p, K => {
                    let mut tx = p.begin_with(q.begin).await?;
                    if q.backend == Backend::Postgres {
                        // Two processes creating the same tables at once would otherwise race
                        // in the catalog: take a lock held until commit.
                        sqlx::query("SELECT pg_advisory_xact_lock(7206140121)")
                            .execute(&mut *tx)
                            .await?;
                    }
                    for t in schema::create_statements(q.backend) {
                        let sql = dialect::render(q.backend, table, t);
                        sqlx::query(&sql).persistent(false).execute(&mut *tx).await?;
                    }
                    let insert = dialect::render(q.backend, table, schema::insert_version(q.backend));
                    sqlx::query(&insert)
                        .bind(schema::SCHEMA_VERSION)
                        .execute(&mut *tx)
                        .await?;
                    let select = dialect::render(q.backend, table, schema::SELECT_VERSION);
                    let v: i64 = sqlx::query(&select).fetch_one(&mut *tx).await?.try_get(0)?;
                    tx.commit().await?;
                    Ok(v)
                })
            })
            .await?;
        schema::check_version(found, table)
    }

    async fn purge(&self) -> Result<u64> {
        let q = &self.q;
        let n = self
            .run("purge", move || async move {
                let now = now_ms();
                with_pool!(&self.pool, p, K => {
                    sqlx::query(&q.purge_tags).bind(now).execute(p).await?;
                    Ok(sqlx::query(&q.purge).bind(now).execute(p).await?.rows_affected())
                })
            })
            .await?;
        self.purged.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let id = key_id(key);
        let id = &id;
        self.run("get", move || async move {
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.get)
                    .bind(id.as_ref())
                    .bind(now_ms())
                    .fetch_optional(p)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(row.try_get::<Option<Vec<u8>>, _>(0)?.map(Bytes::from)),
                }
            })
        })
        .await
    }

    async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, KeyTtl)>> {
        let id = key_id(key);
        let id = &id;
        self.run("get_with_ttl", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.get_ttl)
                    .bind(id.as_ref())
                    .bind(now)
                    .fetch_optional(p)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let value: Option<Vec<u8>> = row.try_get(0)?;
                let at: Option<i64> = row.try_get(1)?;
                Ok(value.map(|v| (Bytes::from(v), remaining(now, at))))
            })
        })
        .await
    }

    async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let id = key_id(key);
        let id = &id;
        self.run("ttl", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.ttl)
                    .bind(id.as_ref())
                    .bind(now)
                    .fetch_optional(p)
                    .await?;
                match row {
                    None => Ok(KeyTtl::Missing),
                    Some(row) => Ok(remaining(now, row.try_get::<Option<i64>, _>(0)?)),
                }
            })
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let id = key_id(key);
        let id = &id;
        self.run("exists", move || async move {
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.exists)
                    .bind(id.as_ref())
                    .bind(now_ms())
                    .fetch_optional(p)
                    .await?;
                Ok(row.is_some())
            })
        })
        .await
    }

    /// Writes entries with the same options in one transaction, replacing values, TTLs and tags.
    async fn set_many<'e>(
        &self,
        entries: impl Iterator<Item = (&'e str, &'e [u8])> + Clone,
        opts: &WriteOptions,
    ) -> Result<()> {
        let q = &self.q;
        let tags: Vec<_> = opts.tags.iter().map(|t| key_id(t)).collect();
        let tags = &tags;
        self.run("set", move || {
            let entries = entries.clone();
            async move {
                let at = deadline(now_ms(), opts.ttl);
                with_pool!(&self.pool, p, K => {
                    let mut tx = p.begin_with(q.begin).await?;
                    for (key, value) in entries {
                        let id = key_id(key);
        let id = &id;
                        sqlx::query(&q.upsert)
                            .bind(id.as_ref())
                            .bind(full_key(key))
                            .bind(value)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(&q.clear_tags).bind(id.as_ref()).execute(&mut *tx).await?;
                        for tag in tags {
                            sqlx::query(&q.add_tag)
                                .bind(tag.as_ref())
                                .bind(id.as_ref())
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                })
            }
        })
        .await
    }

    /// Writes `value` only if `key` is absent or expired, or (`counter`) makes sure a counter
    /// row exists outside any transaction; returns whether it wrote.
    async fn add(&self, key: &str, value: &[u8], opts: &WriteOptions) -> Result<bool> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        let tags: Vec<_> = opts.tags.iter().map(|t| key_id(t)).collect();
        let tags = &tags;
        self.run("add", move || async move {
            let now = now_ms();
            let at = deadline(now, opts.ttl);
            with_pool!(&self.pool, p, K => {
                let mut tx = p.begin_with(q.begin).await?;
                let inserted = sqlx::query(&q.insert_new)
                    .bind(id.as_ref())
                    .bind(full_key(key))
                    .bind(value)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                let wrote = inserted
                    || sqlx::query(&q.replace_expired)
                        .bind(full_key(key))
                        .bind(value)
                        .bind(at)
                        .bind(id.as_ref())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                if wrote {
                    sqlx::query(&q.clear_tags).bind(id.as_ref()).execute(&mut *tx).await?;
                    for tag in tags {
                        sqlx::query(&q.add_tag)
                            .bind(tag.as_ref())
                            .bind(id.as_ref())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(wrote)
            })
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        self.run("delete", move || async move {
            with_pool!(&self.pool, p, K => {
                let n = sqlx::query(&q.delete_live)
                    .bind(id.as_ref())
                    .bind(now_ms())
                    .execute(p)
                    .await?
                    .rows_affected();
                if n > 0 {
                    // Guarded by "no entry": a concurrent re-write keeps its tags.
                    sqlx::query(&q.drop_orphan_tags).bind(id.as_ref()).execute(p).await?;
                }
                Ok(n > 0)
            })
        })
        .await
    }

    async fn take(&self, key: &str) -> Result<Option<Bytes>> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        self.run("take", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let row = match &q.take_returning {
                    Some(sql) => sqlx::query(sql).bind(id.as_ref()).fetch_optional(p).await?,
                    None => {
                        let mut tx = p.begin_with(q.begin).await?;
                        let row = sqlx::query(&q.lock_row)
                            .bind(id.as_ref())
                            .fetch_optional(&mut *tx)
                            .await?;
                        if row.is_some() {
                            sqlx::query(&q.delete_one).bind(id.as_ref()).execute(&mut *tx).await?;
                        }
                        tx.commit().await?;
                        row
                    }
                };
                let Some(row) = row else { return Ok(None) };
                sqlx::query(&q.drop_orphan_tags).bind(id.as_ref()).execute(p).await?;
                let at: Option<i64> = row.try_get(1)?;
                if at.is_some_and(|at| at <= now) {
                    return Ok(None);
                }
                Ok(row.try_get::<Option<Vec<u8>>, _>(0)?.map(Bytes::from))
            })
        })
        .await
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        self.run("incr", move || async move {
            // A row that vanishes between the two steps (a concurrent delete) is created again.
            loop {
                let now = now_ms();
                with_pool!(&self.pool, p, K => {
                    // Make sure the row exists, outside the transaction: the locked read below
                    // then always finds a row to lock, and never takes a gap lock.
                    sqlx::query(&q.insert_new)
                        .bind(id.as_ref())
                        .bind(full_key(key))
                        .bind(&b"0"[..])
                        .bind(None::<i64>)
                        .execute(p)
                        .await?;
                    let mut tx = p.begin_with(q.begin).await?;
                    let row = sqlx::query(&q.lock_row)
                        .bind(id.as_ref())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { continue };
                    let value: Option<Vec<u8>> = row.try_get(0)?;
                    let at: Option<i64> = row.try_get(1)?;
                    let expired = at.is_some_and(|at| at <= now);
                    let current = if expired { 0 } else { parse_int(key, value.as_deref())? };
                    let new = current.checked_add(delta).ok_or_else(|| {
                        Error::Decode(format!("incr {key:?}: {current} + {delta} overflows"))
                    })?;
                    let text = new.to_string();
                    if expired {
                        sqlx::query(&q.reset_value)
                            .bind(text.as_bytes())
                            .bind(id.as_ref())
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(&q.clear_tags).bind(id.as_ref()).execute(&mut *tx).await?;
                    } else {
                        sqlx::query(&q.set_value)
                            .bind(text.as_bytes())
                            .bind(id.as_ref())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    return Ok(new);
                })
            }
        })
        .await
    }

    async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let id = key_id(key);
        let id = &id;
        self.run("expire", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let n = sqlx::query(&self.q.expire)
                    .bind(deadline(now, ttl))
                    .bind(id.as_ref())
                    .bind(now)
                    .execute(p)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            })
        })
        .await
    }

    /// The live keys matching `pattern`, with their stored form.
    async fn matching(&self, pattern: &str) -> Result<Vec<(String, String)>> {
        crate::pattern::validate(pattern)?;
        let like = like_pattern(self.q.backend, pattern);
        let like = like.as_str();
        self.run("scan", move || async move {
            with_pool!(&self.pool, p, K => {
                let rows = sqlx::query(&self.q.scan)
                    .bind(like)
                    .bind(like)
                    .bind(now_ms())
                    .fetch_all(p)
                    .await?;
                let mut out = Vec::new();
                for row in rows {
                    let id = row.try_get::<K, _>(0)?.into_key()?;
                    let full = row.try_get::<Option<K>, _>(1)?.map(StoredKey::into_key).transpose()?;
                    let key = full.unwrap_or_else(|| id.clone());
                    if crate::pattern::matches(pattern, &key) {
                        out.push((key, id));
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .matching(pattern)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Deletes the rows stored under `ids` (and then their orphaned tag rows); `live_at` counts
    /// only the rows live at that time.
    async fn delete_ids(&self, ids: &[String], live_at: Option<i64>) -> Result<u64> {
        let q = &self.q;
        let mut n = 0;
        for chunk in ids.chunks(CHUNK) {
            n += self
                .run("delete", move || async move {
                    let sql = match live_at {
                        Some(_) => q.delete_many(chunk.len()),
                        None => q.delete_keys(chunk.len()),
                    };
                    let tags = q.drop_orphan_tags_many(chunk.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        if let Some(now) = live_at {
                            query = query.bind(now);
                        }
                        let n = query.execute(p).await?.rows_affected();
                        let mut query = sqlx::query(&tags).persistent(false);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        query.execute(p).await?;
                        Ok(n)
                    })
                })
                .await?;
        }
        Ok(n)
    }

    async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let ids: Vec<String> = self
            .matching(pattern)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        self.delete_ids(&ids, None).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let q = &self.q;
        let ids: Vec<_> = keys.iter().map(|k| key_id(k)).collect();
        let mut found = std::collections::HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = self
                .run("get_many", move || async move {
                    let sql = q.get_many(chunk.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for id in chunk {
                            query = query.bind(id.as_ref());
                        }
                        let rows = query.bind(now_ms()).fetch_all(p).await?;
                        let mut out = Vec::with_capacity(rows.len());
                        for row in rows {
                            let id = row.try_get::<K, _>(0)?.into_key()?;
                            if let Some(v) = row.try_get::<Option<Vec<u8>>, _>(1)? {
                                out.push((id, Bytes::from(v)));
                            }
                        }
                        Ok(out)
                    })
                })
                .await?;
            found.extend(rows);
        }
        Ok(ids
            .iter()
            .map(|id| found.get(id.as_ref()).cloned())
            .collect())
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let ids: Vec<String> = keys.iter().map(|k| key_id(k).into_owned()).collect();
        self.delete_ids(&ids, Some(now_ms())).await
    }

    async fn invalidate_tags(&self, tags: &[String]) -> Result<Vec<String>> {
        let q = &self.q;
        let mut tag_ids: Vec<String> = tags.iter().map(|t| key_id(t).into_owned()).collect();
        tag_ids.sort_unstable();
        tag_ids.dedup();
        let mut out = Vec::new();
        for tags in tag_ids.chunks(CHUNK) {
            let now = now_ms();
            let tagged = self
                .run("invalidate_tags", move || async move {
                    let sql = q.tagged(tags.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for t in tags {
                            query = query.bind(t.as_str());
                        }
                        let mut out = Vec::new();
                        for row in query.fetch_all(p).await? {
                            let id = row.try_get::<K, _>(0)?.into_key()?;
                            let full = row.try_get::<Option<K>, _>(1)?.map(StoredKey::into_key).transpose()?;
                            let at: Option<i64> = row.try_get(2)?;
                            out.push((id, full, at.is_none_or(|at| at > now)));
                        }
                        Ok(out)
                    })
                })
                .await?;
            for ids in tagged.chunks(CHUNK) {
                self.run("invalidate_tags", move || async move {
                    // Only rows that still carry one of the tags: a key re-written without
                    // them since the read above is left alone.
                    let sql = q.delete_tagged(ids.len(), tags.len());
                    let orphans = q.drop_orphan_tags_many(ids.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for (id, _, _) in ids {
                            query = query.bind(id.as_str());
                        }
                        for t in tags {
                            query = query.bind(t.as_str());
                        }
                        query.execute(p).await?;
                        let mut query = sqlx::query(&orphans).persistent(false);
                        for (id, _, _) in ids {
                            query = query.bind(id.as_str());
                        }
                        query.execute(p).await?;
                        Ok(())
                    })
                })
                .await?;
            }
            out.extend(
                tagged
                    .into_iter()
                    .filter(|(_, _, live)| *live)
                    .map(|(id, full, _)| full.unwrap_or(id)),
            );
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn load_version(&self, prefix: &str) -> Result<Option<u64>> {
        let name = version_name(prefix);
        let name = name.as_str();
        self.run("load_version", move || async move {
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.load_version).bind(name).fetch_optional(p).await?;
                match row {
                    None => Ok(None),
                    // A negative value is not ours: ignored rather than trusted.
                    Some(row) => Ok(u64::try_from(row.try_get::<i64, _>(0)?).ok()),
                }
            })
        })
        .await
    }

    async fn publish_version(&self, prefix: &str, version: u64) -> Result<()> {
        let name = version_name(prefix);
        let name = name.as_str();
        let value = i64::try_from(version).unwrap_or(i64::MAX);
        self.run("publish_version", move || async move {
            with_pool!(&self.pool, p, K => {
                sqlx::query(&self.q.raise_version).bind(name).bind(value).execute(p).await?;
                Ok(())
            })
        })
        .await?;
        self.versions.raise(prefix, version);
        Ok(())
    }

    /// Reads the versions of the namespaces watched here and raises their cells.
    async fn poll_versions(&self) -> Result<()> {
        for prefix in self.versions.prefixes() {
            if let Some(v) = self.load_version(&prefix).await? {
                self.versions.raise(&prefix, v);
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.run("ping", move || async move {
            with_pool!(&self.pool, p, K => {
                sqlx::query(&self.q.ping).execute(p).await?;
                Ok(())
            })
        })
        .await
    }
}

impl Store for SqlStore {
    fn name(&self) -> &'static str {
        self.inner.q.backend.feature()
    }

    fn capabilities(&self) -> Capabilities {
        // A SQLite file is shared by the processes of one machine; an in-memory database,
        // which would be neither shared nor persistent, is refused at connect.
        Capabilities::ALL
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(self.inner.get(key))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.inner
                .set_many(std::iter::once((key, value.as_ref())), opts)
                .await
        })
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { self.inner.add(key, &value, opts).await })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.inner.delete(key))
    }

    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.inner.ping())
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<Option<Bytes>>>> {
        Box::pin(self.inner.get_many(keys))
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(String, Bytes)],
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(
            self.inner
                .set_many(entries.iter().map(|(k, v)| (k.as_str(), v.as_ref())), opts),
        )
    }

    fn delete_many<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.inner.delete_many(keys))
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.inner.exists(key))
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(self.inner.take(key))
    }

    fn scan<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.inner.scan(pattern))
    }

    fn delete_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.inner.delete_pattern(pattern))
    }

    fn incr<'a>(&'a self, key: &'a str, delta: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(self.inner.incr(key, delta))
    }

    fn expire<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(self.inner.expire(key, ttl))
    }

    fn ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<KeyTtl>> {
        Box::pin(self.inner.ttl(key))
    }

    fn get_with_ttl<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Bytes, KeyTtl)>>> {
        Box::pin(self.inner.get_with_ttl(key))
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [String]) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(self.inner.invalidate_tags(tags))
    }

    /// `expirations`: rows the purge deleted since the last reset. Entries and bytes are not
    /// counted (that would cost a scan of the table on every call).
    fn stats(&self) -> StoreStats {
        StoreStats {
            expirations: self.inner.purged.load(Ordering::Relaxed),
            ..StoreStats::default()
        }
    }

    fn reset_stats(&self) {
        self.inner.purged.store(0, Ordering::Relaxed);
    }

    /// The namespace version every process on this database shares (meta row
    /// `version:{prefix}`).
    fn load_version<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(self.inner.load_version(prefix))
    }

    /// Raises the shared version (never lowers it); other processes read it back within a
    /// second.
    fn publish_version<'a>(&'a self, prefix: &'a str, version: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.publish_version(prefix, version))
    }

    fn watch_version(&self, prefix: &str, version: Weak<std::sync::atomic::AtomicU64>) {
        self.inner.versions.watch(prefix, version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_and_remaining_lifetimes() {
        assert_eq!(deadline(1000, None), None);
        assert_eq!(deadline(1000, Some(Duration::from_micros(10))), Some(1001));
        assert_eq!(deadline(1000, Some(Duration::MAX)), Some(i64::MAX));
        assert_eq!(remaining(1000, None), KeyTtl::Persistent);
        assert_eq!(
            remaining(1000, Some(3000)),
            KeyTtl::Expires(Duration::from_secs(2))
        );
    }

    #[test]
    fn counters_parse_integers_only() {
        assert_eq!(parse_int("k", Some(b"-12")).unwrap(), -12);
        for bad in [&b"abc"[..], b"", b"1.5", b"\xff"] {
            assert!(matches!(parse_int("k", Some(bad)), Err(Error::Decode(_))));
        }
        assert!(parse_int("k", None).is_err());
    }
}
