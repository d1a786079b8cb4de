//! `Cache::get` hit throughput on Redis against `redis-benchmark`, on the same server in the
//! same run (figures are ratios, not absolute times).
//!
//! Run with: `cargo bench -p cache-core --bench redis_get`
//! (`REQUESTS=N` changes the request count per run; default 200000.)
//!
//! It starts its own `redis-server` on a free loopback port, then measures:
//! - `Cache::get` hits from 50 concurrent tasks, for several pool sizes,
//! - `redis-benchmark -t get -c 50` (one command in flight per connection),
//! - `redis-benchmark -t get -c 50 -P 16` (16 pipelined per connection: the ceiling),
//! - `Cache::get` hits on `tiered+redis://` (memory L1 in front of the same server) against
//!   `Cache::get` hits on `redis://` with the default pool.
//!
//! Ends with `RESULT | …` lines that `scripts/bench.sh` collects.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use cache_core::testing::RedisServer;
use cache_core::Cache;

const TASKS: usize = 50;

fn redis_benchmark(port: u16, requests: usize, pipeline: usize) -> f64 {
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-c",
            &TASKS.to_string(),
        ])
        .args([
            "-n",
            &requests.to_string(),
            "-P",
            &pipeline.to_string(),
            "--csv",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run redis-benchmark ({e}): install Redis"));
    let text = String::from_utf8_lossy(&out.stdout);
    // "GET","123456.78",...
    text.lines()
        .find(|l| l.starts_with("\"GET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("unexpected redis-benchmark output: {text}"))
}

async fn cache_get(cache: &Cache, requests: usize) -> f64 {
    let per_task = requests / TASKS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let v = cache.get::<String>("bench").await.expect("get");
                    assert!(v.is_some(), "benchmark key missing");
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
        .unwrap_or(200_000);
    let server = RedisServer::start();
    // redis-benchmark GETs the literal key "key:__rand_int__": make its reads hits too.
    server.cli(&["SET", "key:__rand_int__", "hello"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let baseline = redis_benchmark(server.port(), requests, 1);
    let mut rows: Vec<(String, f64)> = Vec::new();
    for pool in [1, 2, 4, 8] {
        let rps = rt.block_on(async {
            let cache = Cache::from_url(&format!("{}?pool={pool}", server.url()))
                .await
                .expect("connect");
            cache.set("bench", "hello").await.expect("set");
            cache_get(&cache, requests / 10).await; // warm-up
            let rps = cache_get(&cache, requests).await;
            drop(Arc::new(cache));
            rps
        });
        rows.push((format!("Cache::get, 50 tasks, pool={pool}"), rps));
    }
    let (tiered, redis_only) = rt.block_on(async {
        let tiered = Cache::from_url(&format!("tiered+{}", server.url()))
            .await
            .expect("connect tiered");
        let redis = Cache::from_url(&server.url()).await.expect("connect");
        tiered.set("bench", "hello").await.expect("set");
        cache_get(&tiered, requests / 10).await; // warm-up
        cache_get(&redis, requests / 10).await;
        // Alternate the two, three times each, and keep the medians.
        let (mut t, mut r) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            t.push(cache_get(&tiered, requests * 5).await);
            r.push(cache_get(&redis, requests).await);
        }
        t.sort_by(f64::total_cmp);
        r.sort_by(f64::total_cmp);
        (t[1], r[1])
    });
    rows.push((
        "Cache::get, 50 tasks, tiered+redis (L1 hits)".into(),
        tiered,
    ));
    let ceiling = redis_benchmark(server.port(), requests * 4, 16);
    // Measure the baseline twice (before and after) to show the noise of the machine.
    let baseline_after = redis_benchmark(server.port(), requests, 1);
    let base = (baseline + baseline_after) / 2.0;

    println!();
    println!(
        "GET hit throughput, {requests} requests per run, same redis-server (port {})",
        server.port()
    );
    println!("| run | requests/s | vs redis-benchmark -c 50 | vs -c 50 -P 16 |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, rps: f64| {
        println!(
            "| {name} | {rps:.0} | {:.2}x | {:.2}x |",
            rps / base,
            rps / ceiling
        );
    };
    row("redis-benchmark -t get -c 50 (mean of before/after)", base);
    row("redis-benchmark -t get -c 50 -P 16", ceiling);
    for (name, rps) in &rows {
        row(name, *rps);
    }
    println!("(baseline before: {baseline:.0}/s, after: {baseline_after:.0}/s)");

    // The default pool (2) is what users get.
    let default_pool = rows
        .iter()
        .find(|(n, _)| n.ends_with("pool=2"))
        .map_or(0.0, |(_, r)| *r);
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let ratio = default_pool / base;
    println!(
        "RESULT | redis hit: Cache::get, 50 tasks vs redis-benchmark -t get -c 50 | {default_pool:.0} req/s | {base:.0} req/s | {ratio:.2}x | >= 1.00x | {}",
        met(ratio >= 1.0)
    );
    println!(
        "RESULT | redis hit: Cache::get, 50 tasks vs redis-benchmark -c 50 -P 16 (ceiling) | {default_pool:.0} req/s | {ceiling:.0} req/s | {:.2}x | reported | -",
        default_pool / ceiling
    );
    let ratio = tiered / redis_only;
    println!(
        "RESULT | tiered hit vs Redis-only hit, Cache::get, 50 tasks | {tiered:.0} req/s | {redis_only:.0} req/s | {ratio:.1}x | >= 10x | {}",
        met(ratio >= 10.0)
    );
}
