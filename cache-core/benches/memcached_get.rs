//! `Cache::get` hit throughput on Memcached against the raw `async-memcached` client's `get`,
//! on the same server in the same run (figures are ratios, not absolute times).
//!
//! Run with: `cargo bench -p cache-core --features memcached,testing --bench memcached_get`
//! (`REQUESTS=N` changes the request count per run; default 100000.)
//!
//! It starts its own `memcached` on a free loopback port. Both sides run 50 concurrent tasks
//! over the same number of connections (`POOL`): the raw side takes a client from a `deadpool`
//! pool and calls `get`, the cache side calls `Cache::get::<String>` on
//! `memcached://…?pool=POOL` (ring lookup, timeouts, deadline check, frame decode and stats
//! included). The two alternate three times; medians are compared.
//!
//! Ends with a `RESULT | …` line that `scripts/bench.sh` collects.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use async_memcached::{AsciiProtocol, Client};
use cache_core::testing::MemcachedServer;
use cache_core::Cache;
use deadpool::managed::{Manager, Metrics, Pool, RecycleResult};

const TASKS: usize = 50;
const POOL: usize = 8;

struct Raw(String);

impl Manager for Raw {
    type Type = Client;
    type Error = async_memcached::Error;
    async fn create(&self) -> Result<Client, Self::Error> {
        Client::new(&self.0).await
    }
    async fn recycle(&self, _: &mut Client, _: &Metrics) -> RecycleResult<Self::Error> {
        Ok(())
    }
}

/// One request, as a boxed future factory shared by the tasks.
type Op = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Requests per second of `op` from [`TASKS`] concurrent tasks.
async fn run(requests: usize, op: &Op) -> f64 {
    let per_task = requests / TASKS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let op = Arc::clone(op);
            tokio::spawn(async move {
                for _ in 0..per_task {
                    op().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    (per_task * TASKS) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let requests: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = MemcachedServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ours, raw) = rt.block_on(async {
        let cache = Cache::from_url(&format!("{}?pool={POOL}", server.url()))
            .await
            .expect("connect");
        cache.set("bench", "hello").await.expect("set");
        let raw_key = cache.full_key("bench").expect("key");
        let pool: Pool<Raw> = Pool::builder(Raw(format!("tcp://{}", server.addr())))
            .max_size(POOL)
            .build()
            .expect("pool");
        let cached: Op = Arc::new(move || {
            let cache = cache.clone();
            Box::pin(async move {
                let v = cache.get::<String>("bench").await.expect("get");
                assert!(v.is_some(), "benchmark key missing");
            })
        });
        let plain: Op = Arc::new(move || {
            let (pool, key) = (pool.clone(), raw_key.clone());
            Box::pin(async move {
                let mut c = pool.get().await.expect("connection");
                let v = c.get(key.as_bytes()).await.expect("get");
                assert!(v.is_some(), "benchmark key missing");
            })
        });
        run(requests / 10, &cached).await; // warm-up
        run(requests / 10, &plain).await;
        let (mut o, mut r) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            o.push(run(requests, &cached).await);
            r.push(run(requests, &plain).await);
        }
        o.sort_by(f64::total_cmp);
        r.sort_by(f64::total_cmp);
        (o[1], r[1])
    });
    println!();
    println!("GET hit throughput, {requests} requests per run, 50 tasks, {POOL} connections, same memcached");
    println!("| run | requests/s |");
    println!("|---|---:|");
    println!("| raw async-memcached get (deadpool, {POOL} connections) | {raw:.0} |");
    println!("| Cache::get::<String>, memcached://?pool={POOL} | {ours:.0} |");
    // Time per request is the inverse of throughput: ours/raw time = raw/ours rate.
    let ratio = raw / ours;
    println!(
        "RESULT | memcached hit: Cache::get vs raw client get, 50 tasks (time per request) | {:.1} us | {:.1} us | {ratio:.2}x | <= 1.20x | {}",
        1e6 / ours,
        1e6 / raw,
        if ratio <= 1.2 { "met" } else { "NOT met" }
    );
}
