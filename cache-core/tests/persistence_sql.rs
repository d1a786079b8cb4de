//! What the SQL store promises beyond the conformance suite, on real PostgreSQL and MariaDB
//! servers and SQLite files: values and TTLs survive a new cache (and a server restart, and for
//! SQLite another process), expired rows are purged, a corrupt row is a counted miss, counters
//! are exact under concurrency, `%`/`_` in a pattern match only themselves, and a dead server
//! gives errors, not hangs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::testing::sqlx;
use cache_core::testing::{MariadbServer, PostgresServer, SqliteFile};
use cache_core::{Cache, KeyTtl, SetOptions};

/// A database the test started.
enum Db {
    Pg(PostgresServer),
    My(MariadbServer),
    Lite(SqliteFile),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Pg(s) => s.url(),
            Db::My(s) => s.url(),
            Db::Lite(f) => f.url(),
        }
    }

    fn url_with(&self, options: &str) -> String {
        format!("{}?{options}", self.url())
    }

    fn kill(&mut self) {
        match self {
            Db::Pg(s) => s.kill(),
            Db::My(s) => s.kill(),
            Db::Lite(_) => unreachable!("a SQLite file has no server"),
        }
    }

    fn restart(&mut self) {
        match self {
            Db::Pg(s) => s.restart(),
            Db::My(s) => s.restart(),
            Db::Lite(_) => {}
        }
    }

    /// A raw sqlx connection to the same database, for looking at the tables directly.
    async fn raw(&self) -> Raw {
        let url = self.url();
        match self {
            Db::Pg(_) => Raw::Pg(sqlx::PgPool::connect(&url).await.expect("raw connect")),
            Db::My(_) => Raw::My(sqlx::MySqlPool::connect(&url).await.expect("raw connect")),
            Db::Lite(_) => Raw::Lite(sqlx::SqlitePool::connect(&url).await.expect("raw connect")),
        }
    }
}

fn pg() -> Db {
    Db::Pg(PostgresServer::start())
}

fn my() -> Db {
    Db::My(MariadbServer::start())
}

fn lite() -> Db {
    Db::Lite(SqliteFile::new())
}

enum Raw {
    Pg(sqlx::PgPool),
    My(sqlx::MySqlPool),
    Lite(sqlx::SqlitePool),
}

impl Raw {
    /// Rows of `cache_entries` whose key ends with `suffix`.
    async fn count(&self, suffix: &str) -> i64 {
        let like = format!("%{suffix}");
        let r = match self {
            Raw::Pg(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM cache_entries WHERE key LIKE $1")
                    .bind(like)
                    .fetch_one(p)
                    .await
            }
            Raw::My(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM cache_entries WHERE `key` LIKE ?")
                    .bind(like)
                    .fetch_one(p)
                    .await
            }
            Raw::Lite(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM cache_entries WHERE key LIKE ?1")
                    .bind(like)
                    .fetch_one(p)
                    .await
            }
        };
        r.expect("raw count")
    }

    /// Overwrites the value column of the rows whose key ends with `suffix`.
    async fn corrupt(&self, suffix: &str, garbage: &[u8]) -> u64 {
        let like = format!("%{suffix}");
        let r = match self {
            Raw::Pg(p) => sqlx::query("UPDATE cache_entries SET value = $1 WHERE key LIKE $2")
                .bind(garbage)
                .bind(like)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Raw::My(p) => sqlx::query("UPDATE cache_entries SET value = ? WHERE `key` LIKE ?")
                .bind(garbage)
                .bind(like)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Raw::Lite(p) => sqlx::query("UPDATE cache_entries SET value = ?1 WHERE key LIKE ?2")
                .bind(garbage)
                .bind(like)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        };
        r.expect("raw update")
    }
}

async fn cache(url: &str) -> Cache {
    Cache::from_url(url)
        .await
        .unwrap_or_else(|e| panic!("a cache on {url}: {e}"))
}

const HOUR: Duration = Duration::from_secs(3600);

async fn write_values(url: &str) {
    let c = cache(url).await;
    c.set("forever", &1).await.unwrap();
    c.set_with("hour", &2, SetOptions::new().ttl(HOUR))
        .await
        .unwrap();
    c.set_with("text", "é and ü", SetOptions::new().ttl(HOUR))
        .await
        .unwrap();
}

async fn check_values(url: &str) {
    let c = cache(url).await;
    assert_eq!(c.get::<i32>("forever").await.unwrap(), Some(1));
    assert_eq!(c.get::<i32>("hour").await.unwrap(), Some(2));
    assert_eq!(
        c.get::<String>("text").await.unwrap().as_deref(),
        Some("é and ü")
    );
    assert_eq!(c.ttl("forever").await.unwrap(), KeyTtl::Persistent);
    match c.ttl("hour").await.unwrap() {
        KeyTtl::Expires(left) => assert!(
            left <= HOUR && left > HOUR - Duration::from_secs(600),
            "remaining TTL {left:?}"
        ),
        other => panic!("the TTL was lost: {other:?}"),
    }
}

async fn values_survive(mut db: Db) {
    let url = db.url();
    write_values(&url).await;
    // A new cache (and store, and pool) on the same URL.
    check_values(&url).await;
    // And the server restarted.
    if !matches!(db, Db::Lite(_)) {
        db.restart();
        check_values(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_values_and_ttls_survive_a_new_cache_and_a_restart() {
    values_survive(pg()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_values_and_ttls_survive_a_new_cache_and_a_restart() {
    values_survive(my()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_values_and_ttls_survive_a_new_cache() {
    values_survive(lite()).await;
}

const READ_URL: &str = "CACHE_RS_SQLITE_READ_URL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_values_survive_in_another_process() {
    let file = SqliteFile::new();
    write_values(&file.url()).await;
    // This test binary again, running only the reader below (libtest arguments, which
    // cargo-nextest also uses).
    let exe = std::env::current_exe().expect("current_exe");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "sqlite_reader_in_another_process",
            "--ignored",
            "--nocapture",
        ])
        .env(READ_URL, file.url())
        .output()
        .expect("spawning the reader process");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the reader failed:\n{text}");
    assert!(text.contains("1 passed"), "the reader did not run:\n{text}");
}

/// Run by `sqlite_values_survive_in_another_process` in a process of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by sqlite_values_survive_in_another_process, in another process"]
async fn sqlite_reader_in_another_process() {
    let url = std::env::var(READ_URL).expect("the URL of the file to read");
    check_values(&url).await;
}

async fn expired_rows_are_purged(db: Db) {
    let url = db.url_with("purge_interval=200ms");
    let c = cache(&url).await;
    let raw = db.raw().await;
    c.set_with("gone", &1, SetOptions::new().ttl(Duration::from_secs(1)))
        .await
        .unwrap();
    c.set("kept", &2).await.unwrap();
    assert_eq!(raw.count(":gone").await, 1, "the row was written");
    let before = c.stats().expirations;
    let deadline = Instant::now() + Duration::from_secs(15);
    while raw.count(":gone").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the expired row was never purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(raw.count(":kept").await, 1, "a live row was purged");
    assert!(c.stats().expirations > before, "{:?}", c.stats());
    assert_eq!(c.get::<i32>("kept").await.unwrap(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_expired_rows_are_purged() {
    expired_rows_are_purged(pg()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_expired_rows_are_purged() {
    expired_rows_are_purged(my()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expired_rows_are_purged() {
    expired_rows_are_purged(lite()).await;
}

/// A corrupt row, a concurrent counter and wildcards in user input, on one database.
async fn rows_counters_and_patterns(db: Db) {
    let c = cache(&db.url()).await;
    let raw = db.raw().await;

    // A corrupt row is a counted miss, and get_or_set loads instead.
    c.set("bad", &5).await.unwrap();
    assert_eq!(raw.corrupt(":bad", b"\x00garbage\xff").await, 1);
    let decode_errors = c.stats().decode_errors;
    assert_eq!(c.get::<i32>("bad").await.unwrap(), None);
    assert_eq!(c.stats().decode_errors, decode_errors + 1);
    let ran = AtomicBool::new(false);
    let v: i32 = c
        .get_or_set("bad", (), || async {
            ran.store(true, Ordering::SeqCst);
            7
        })
        .await;
    assert_eq!(v, 7);
    assert!(ran.load(Ordering::SeqCst), "the loader did not run");
    assert_eq!(c.get::<i32>("bad").await.unwrap(), Some(7));

    // 20 tasks × 50 increments.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    c.incr("hits", 1).await.expect("incr");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("incr task");
    }
    assert_eq!(c.get::<i64>("hits").await.unwrap(), Some(1000));
    assert_eq!(c.incr("hits", 1).await.unwrap(), 1001);

    // `%` and `_` from user input match only themselves.
    for k in ["a%b", "axb", "a_c", "ayc", "a!d"] {
        c.set(k, &1).await.unwrap();
    }
    assert_eq!(c.keys("a%b").await.unwrap(), ["a%b"]);
    assert_eq!(c.keys("a_c").await.unwrap(), ["a_c"]);
    assert_eq!(c.keys("a!d").await.unwrap(), ["a!d"]);
    assert_eq!(c.keys("A%B").await.unwrap(), Vec::<String>::new());
    assert_eq!(c.delete_pattern("a%*").await.unwrap(), 1);
    let mut rest = c.keys("a*").await.unwrap();
    rest.sort();
    assert_eq!(rest, ["a!d", "a_c", "axb", "ayc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_counters_and_patterns() {
    rows_counters_and_patterns(pg()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_rows_counters_and_patterns() {
    rows_counters_and_patterns(my()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_counters_and_patterns() {
    rows_counters_and_patterns(lite()).await;
}

async fn a_dead_server_gives_errors_not_hangs(mut db: Db) {
    let c = Arc::new(cache(&db.url_with("timeout_ms=300&connect_timeout_ms=300")).await);
    c.set("k", &1).await.unwrap();
    db.kill();
    let bound = Duration::from_secs(20);
    for _ in 0..3 {
        let r = tokio::time::timeout(bound, c.get::<i32>("k"))
            .await
            .expect("get hung on a dead server");
        let e = r.expect_err("a read from a dead server succeeded");
        assert!(e.is_backend(), "{e}");
        let r = tokio::time::timeout(bound, c.set("k", &2))
            .await
            .expect("set hung on a dead server");
        assert!(r
            .expect_err("a write to a dead server succeeded")
            .is_backend());
    }
    let v: i32 = tokio::time::timeout(bound, c.get_or_set("k", (), || async { 3 }))
        .await
        .expect("get_or_set hung on a dead server");
    assert_eq!(v, 3, "get_or_set did not fall through to its loader");
    // Back again: the pool reconnects. The writes of 2 that failed during the outage were queued
    // as deletes and replayed first, so the server's older 1 is not served again.
    db.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.get::<i32>("k").await {
            Ok(v) => {
                assert_eq!(v, None, "a value older than a failed write was served");
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "never reconnected: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dead_server_gives_errors_not_hangs() {
    a_dead_server_gives_errors_not_hangs(pg()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_dead_server_gives_errors_not_hangs() {
    a_dead_server_gives_errors_not_hangs(my()).await;
}
