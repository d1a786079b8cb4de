//! `Cache::get::<String>` hits on the SQL store against the raw sqlx `SELECT` the store runs, on
//! the same database, with the same pool type and settings, in the same run (figures are
//! ratios, not absolute times).
//!
//! Run with: `cargo bench -p cache-core --features postgres,sqlite --bench sql_get`
//! (`REQUESTS=N` changes the request count per run; default 20000.)
//!
//! For SQLite (a temporary file) and PostgreSQL (a server started by the benchmark), it
//! measures, from 8 concurrent tasks on a pool of 8 connections, alternating three times and
//! keeping the medians:
//! - `Cache::get::<String>` hits on a `sqlite://`/`postgres://` cache URL,
//! - the same statement through sqlx directly: `SELECT value FROM cache_entries WHERE key = $1
//!   AND (expires_at IS NULL OR expires_at > $2)`, reading the value as bytes.
//!
//! Ends with `SQLROW | what | ours ns/op | raw ns/op` lines that `scripts/bench.d/25-sql.sh`
//! turns into `RESULT` rows.

use std::str::FromStr;
use std::time::{Duration, Instant};

use cache_core::testing::sqlx::{self, Row};
use cache_core::testing::{PostgresServer, SqliteFile};
use cache_core::Cache;

const TASKS: usize = 8;
const POOL: u32 = 8;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The raw side: the store's statement on a pool built like the store's.
#[derive(Clone)]
enum Raw {
    Pg(sqlx::PgPool, String),
    Lite(sqlx::SqlitePool, String),
}

impl Raw {
    async fn connect(url: &str, key: String) -> Raw {
        if url.starts_with("sqlite:") {
            use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
            let opts = SqliteConnectOptions::from_str(url)
                .expect("sqlite url")
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(1));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(POOL)
                .acquire_timeout(Duration::from_secs(2))
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .expect("raw sqlite pool");
            Raw::Lite(pool, key)
        } else {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url).expect("postgres url");
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(POOL)
                .acquire_timeout(Duration::from_secs(2))
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .expect("raw postgres pool");
            Raw::Pg(pool, key)
        }
    }

    async fn get(&self) -> Option<Vec<u8>> {
        const PG: &str = "SELECT value FROM cache_entries WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)";
        const LITE: &str = "SELECT value FROM cache_entries WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
        match self {
            Raw::Pg(pool, key) => sqlx::query(PG)
                .bind(key.as_str())
                .bind(now_ms())
                .fetch_optional(pool)
                .await
                .expect("raw select")
                .map(|r| r.get::<Vec<u8>, _>(0)),
            Raw::Lite(pool, key) => sqlx::query(LITE)
                .bind(key.as_str())
                .bind(now_ms())
                .fetch_optional(pool)
                .await
                .expect("raw select")
                .map(|r| r.get::<Vec<u8>, _>(0)),
        }
    }

    /// The full key the cache stored `bench` under.
    async fn stored_key(url: &str) -> String {
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
            sqlx::query_scalar("SELECT key FROM cache_entries WHERE key LIKE '%bench'")
                .fetch_one(&pool)
                .await
                .expect("stored key")
        } else {
            let pool = sqlx::PgPool::connect(url).await.expect("postgres");
            sqlx::query_scalar("SELECT key FROM cache_entries WHERE key LIKE '%bench'")
                .fetch_one(&pool)
                .await
                .expect("stored key")
        }
    }
}

/// Nanoseconds per operation (wall clock / operations) over `requests` operations from
/// [`TASKS`] tasks.
async fn per_op<F, Fut>(requests: usize, op: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let per_task = requests / TASKS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    assert!(op().await, "benchmark key missing");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed().as_nanos() as f64 / (per_task * TASKS) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn compare(url: &str, requests: usize) -> (f64, f64) {
    let cache = Cache::from_url(url).await.expect("connect");
    cache.set("bench", "hello").await.expect("set");
    let raw = Raw::connect(url, Raw::stored_key(url).await).await;
    let c = cache.clone();
    let cache_op = move || {
        let c = c.clone();
        async move { c.get::<String>("bench").await.expect("get").is_some() }
    };
    let r = raw.clone();
    let raw_op = move || {
        let r = r.clone();
        async move { r.get().await.is_some() }
    };
    // Warm-up: connections opened, statements prepared on each.
    per_op(requests / 4, cache_op.clone()).await;
    per_op(requests / 4, raw_op.clone()).await;
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours.push(per_op(requests, cache_op.clone()).await);
        base.push(per_op(requests, raw_op.clone()).await);
    }
    (median(ours), median(base))
}

fn main() {
    let requests: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let file = SqliteFile::new();
    let server = PostgresServer::start();
    let rows = rt.block_on(async {
        vec![
            ("SQLite", compare(&file.url(), requests).await),
            ("Postgres", compare(&server.url(), requests).await),
        ]
    });
    println!();
    println!(
        "GET hits, wall-clock time per operation, {requests} requests per run, {TASKS} tasks, pool={POOL}"
    );
    println!("| backend | Cache::get::<String> ns/op | raw sqlx select ns/op | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, (ours, raw)) in &rows {
        println!("| {name} | {ours:.0} | {raw:.0} | {:.2}x |", ours / raw);
    }
    for (name, (ours, raw)) in &rows {
        println!("SQLROW | {name} `Cache::get` hit vs raw sqlx select | {ours:.0} | {raw:.0}");
    }
}
