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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;

use super::version::VersionCells;
use super::{BoxFuture, Capabilities, Capability, KeyTtl, Store, StoreStats, WriteOptions};
use crate::error::{Error, Result};
use dialect::{like_pattern, Queries};
use schema::{full_key, key_id};
use url::Backend;

pub(crate) mod dialect;
mod schema;
pub(crate) mod url;

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

// After the macro, which they use.
mod keys;
mod purge;
mod read;
mod versions;
mod write;

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
    /// Whether the last call failed on the backend: the next one first opens one connection of
    /// its own, which fails at once when the server refuses it (the pool would retry a refused
    /// connection until its timeout).
    suspect: AtomicBool,
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
/// | `breaker_threshold=N`, `breaker_cooldown=1s` | 1, 1s | the breaker of a Postgres or MySQL store (see [`GuardedStore`](crate::store::GuardedStore)) |
///
/// A call waits at most `timeout_ms` (taking a connection included). After a call failed on
/// the backend, the next one first opens a connection of its own, so that a refused
/// connection fails at once rather than being retried by the pool until the timeout.
///
/// sqlx's own options (`sslmode`, `sslrootcert`, `application_name`, `charset`, `mode`, …)
/// pass through to sqlx; any other option is an [`Error::Config`] naming it. An in-memory
/// SQLite database is refused (it is neither shared nor persistent: use `mem://`).
///
/// Every backend declares every [`Capability`]: pattern scan, native tags,
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
                suspect: AtomicBool::new(false),
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
            if self.suspect.load(Ordering::Relaxed) {
                self.reachable().await?;
            }
            let mut attempt = 0;
            loop {
                match f().await {
                    Err(Fail::Db(e)) if attempt < 4 && retryable(&e) => attempt += 1,
                    r => return r,
                }
            }
        };
        let r = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r.map_err(|f| self.fail(op, f)),
            Err(_) => Err(Error::Timeout(self.timeout)),
        };
        let failed = r.as_ref().is_err_and(Error::is_backend);
        if failed != self.suspect.load(Ordering::Relaxed) {
            self.suspect.store(failed, Ordering::Relaxed);
        }
        r
    }

    /// Opens (and closes) one connection outside the pool: a refused connection fails at once.
    /// When the server answers, the idle pooled connections are closed: after a failure they
    /// may be broken (a restarted server), and each would fail one call before the pool drops
    /// it.
    async fn reachable(&self) -> Result<(), Fail> {
        use sqlx::{ConnectOptions, Connection};
        with_pool!(&self.pool, p, K => {
            let conn = p.connect_options().connect().await?;
            let _ = conn.close().await;
            let mut idle = Vec::new();
            while let Some(mut c) = p.try_acquire() {
                c.close_on_drop();
                idle.push(c);
            }
            drop(idle);
            Ok(())
        })
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
        // Listed, not `ALL`: a capability added later is declared only once it is done here.
        // A SQLite file is shared by the processes of one machine; an in-memory database,
        // which would be neither shared nor persistent, is refused at connect.
        [
            Capability::PatternScan,
            Capability::NativeTags,
            Capability::AtomicCounters,
            Capability::TtlRead,
            Capability::Expire,
            Capability::Take,
            Capability::Batches,
            Capability::Shared,
            Capability::Persistent,
        ]
        .into_iter()
        .collect()
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
        Box::pin(async move { self.inner.set(key, &value, opts).await })
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
        Box::pin(self.inner.set_many(entries, opts))
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
